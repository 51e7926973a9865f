"""RGPD requests at the till: a person's no-receipt records found from their ID
(through its keyed hash, never stored in clear), exported (PDF and CSV) for an
access request, and erased where the fiscal record does not require them.

What is kept and why (``docs/privacy.md``): the return tickets themselves are
fiscal (NF525, six years) and hold no ID data — no name, no document number;
they stay. The ID tables (``id_checks``: type, last 4, hash, name; ``id_ledger``:
hash, amount) are not fiscal: an erasure deletes them (``secure_delete``, then the
WAL is folded back), tells HQ through the outbox (``privacy_erasure``, the hash
only) so that its copy of the ledger goes too, and is journaled with counts and the
random uuids of the rows it deleted (``privacy_request``; never the hash, which
would outlive the erasure): the guards let only those rows go (issue 12). The
routine purge of data past retention runs at each closure
(:func:`pos_returns.usecases.review.after_closure`).
"""

from __future__ import annotations

import csv
import io
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.cache import outbox
from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.documents.fonts import fonts, printable
from pos_returns.engine.domain import Role, Staff
from pos_returns.engine.text import clean_text
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _, format_datetime, format_money
from pos_returns.journal.chain import Journal
from pos_returns.journal.records import _utc_text
from pos_returns.usecases import idcheck
from pos_returns.usecases.auth import require_role


@dataclass(frozen=True)
class PersonRecord:
    created_at: str
    doc_type: str
    last4: str
    name: str
    store_id: int
    till_no: int
    status: str
    amount: int
    ticket: str  # "store-till-number" of the return ticket, or ""


@dataclass(frozen=True)
class PersonRecords:
    id_hash: str
    checks: tuple[PersonRecord, ...]
    ledger: tuple[tuple[str, int, int, int, str], ...]  # created_at, amount, store, till, origin

    @property
    def empty(self) -> bool:
        return not self.checks and not self.ledger


def _hash(cfg: TillConfig, number: Any) -> str:
    text = clean_text(number, field=_("The document number"), max_length=40, strict=True)
    normalised = idcheck.normalise_number(text)
    if not normalised:
        raise InvalidInput(_("Type the number of the identity document."), code="id_number")
    return idcheck.id_hash(idcheck.load_secret(cfg), normalised)


def find_records(db: Database, cfg: TillConfig, manager: Staff, number: Any, *,
                 now: datetime | None = None) -> PersonRecords:
    """Everything the till holds about the holder of the ID ``number`` (access
    request); journaled with the counts."""
    require_role(manager, Role.MANAGER)
    digest = _hash(cfg, number)
    checks = tuple(
        PersonRecord(r[0], idcheck.doc_type_label(r[1]), r[2], r[3], r[4], r[5], r[6], r[7],
                     f"{r[8]:03d}-{r[9]}-{r[10]}" if r[10] is not None else "")
        for r in db.execute(
            "SELECT c.created_at, c.doc_type, c.last4, c.name, c.store_id, c.till_no, "
            "c.status, c.amount, t.store_id, t.till_no, t.number FROM id_checks c "
            "LEFT JOIN return_tickets t ON t.uuid = c.ticket_uuid WHERE c.id_hash = ? "
            "ORDER BY c.created_at", [digest]).fetchall())
    ledger = tuple(
        (r[0], int(r[1]), int(r[2]), int(r[3]), r[4])
        for r in db.execute("SELECT created_at, amount, store_id, till_no, origin FROM "
                            "id_ledger WHERE id_hash = ? ORDER BY created_at", [digest]))
    Journal.for_config(db, cfg).event("privacy_request", {
        "action": "access", "id_checks": len(checks), "id_ledger": len(ledger),
        "staff_id": manager.id}, now=now)
    return PersonRecords(digest, checks, ledger)


def erase_records(db: Database, cfg: TillConfig, manager: Staff, number: Any, *,
                  now: datetime | None = None) -> tuple[int, int]:
    """Erase the ID data of the holder of ``number`` (the fiscal tickets stay: they
    hold no ID data). Returns (id_checks, id_ledger) rows deleted."""
    require_role(manager, Role.MANAGER)
    digest = _hash(cfg, number)
    db.execute("PRAGMA secure_delete = ON")
    journal = Journal.for_config(db, cfg)
    moment = now or datetime.now(UTC)
    purge_id = str(uuidlib.uuid4())
    with atomic(db):
        # the guards delete identity data only where a signed erasure names it (issue 12):
        # the random uuids of the rows, never the hash (it would outlive the erasure)
        uuids = sorted({str(r[0]) for r in db.execute(
            "SELECT uuid FROM id_checks WHERE id_hash = ? UNION "
            "SELECT uuid FROM id_ledger WHERE id_hash = ?", [digest, digest])})
        at = _utc_text(moment)
        db.conn.executemany(
            "INSERT INTO id_deletions(purge_id, kind, row_uuid, created_at) "
            "VALUES (?, 'erasure', ?, ?)", [(purge_id, u, at) for u in uuids],
        )
        checks = db.execute("DELETE FROM id_checks WHERE id_hash = ?", [digest]).rowcount
        ledger = db.execute("DELETE FROM id_ledger WHERE id_hash = ?", [digest]).rowcount
        outbox.enqueue(db, kind="privacy_erasure", uuid=str(uuidlib.uuid4()),
                       payload={"id_hash": digest})
        journal.append("privacy_request", {
            "action": "erase", "id_checks": checks, "id_ledger": ledger,
            "staff_id": manager.id, "purge_id": purge_id, "uuids": uuids}, now=moment)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return checks, ledger


# --------------------------------------------------------------------------- export

CSV_HEADER = ("date", "document", "4 derniers", "nom", "magasin", "caisse", "statut",
              "montant", "ticket")


def _rows(records: PersonRecords) -> list[list[str]]:
    return [[format_datetime(r.created_at, fmt="short"), r.doc_type, r.last4, r.name,
             f"{r.store_id:03d}", str(r.till_no), r.status, format_money(r.amount), r.ticket]
            for r in records.checks]


def export_records(records: PersonRecords, out_dir: Path | str, *,
                   now: datetime | None = None) -> tuple[Path, Path]:
    """Write the person's records as ``rgpd-<date>.pdf`` and ``.csv`` (for French
    Excel: ``;``, UTF-8 with BOM) in ``out_dir``; the files appear whole."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    base = out / f"rgpd-{records.id_hash[:8]}-{stamp}"
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(_rows(records))
    for created, amount, store, till, origin in records.ledger:
        writer.writerow([format_datetime(created, fmt="short"), "registre R19", "", "",
                         f"{store:03d}", str(till), origin, format_money(amount), ""])
    csv_path = base.with_suffix(".csv")
    tmp = csv_path.with_suffix(".csv.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8-sig")
    tmp.replace(csv_path)
    pdf_path = base.with_suffix(".pdf")
    tmp = pdf_path.with_suffix(".pdf.tmp")
    tmp.write_bytes(_pdf(records))
    tmp.replace(pdf_path)
    return pdf_path, csv_path


def _pdf(records: PersonRecords) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    fs = fonts()
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4)
    height = A4[1]
    y = height - 20 * mm
    pdf.setFont(fs.bold, 13)
    pdf.drawString(20 * mm, y, printable(_("Your data kept for returns without receipt")))
    y -= 8 * mm
    pdf.setFont(fs.regular, 8.5)
    for line in (_("Alamara keeps, for returns without receipt, the type of document, its "
                   "last 4 characters, a coded fingerprint of its number and your name, "
                   "to prevent abuse (legitimate interest, RGPD art. 6(1)(f))."),
                 _("{count} identity checks, {ledger} entries in the repeat-return register.")
                 .format(count=len(records.checks), ledger=len(records.ledger))):
        pdf.drawString(20 * mm, y, printable(line)[:140])
        y -= 5 * mm
    y -= 3 * mm
    pdf.setFont(fs.bold, 8)
    headers = (_("Date"), _("Document"), _("Last 4"), _("Name"), _("Status"), _("Amount"),
               _("Ticket"))
    xs = (20, 50, 85, 105, 140, 160, 182)
    for x, text in zip(xs, headers, strict=True):
        pdf.drawString(x * mm, y, printable(text))
    pdf.setFont(fs.regular, 8)
    for row in _rows(records):
        y -= 5 * mm
        if y < 20 * mm:
            pdf.showPage()
            pdf.setFont(fs.regular, 8)
            y = height - 20 * mm
        values = (row[0], row[1], row[2], row[3], row[6], row[7], row[8])
        for x, text in zip(xs, values, strict=True):
            pdf.drawString(x * mm, y, printable(text)[:32])
    pdf.showPage()
    pdf.save()
    return buf.getvalue()
