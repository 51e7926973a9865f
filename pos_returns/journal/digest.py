"""Every fiscal row under the signature: the digest of a ticket's rows (issue 12).

A ticket's journal record carries ``rows``: per table, the SHA-256 of the canonical
JSON of the ticket's rows in that table, as they were written in the ticket's
transaction — the ticket itself, its lines, refunds, approvals, the gift cards it
issued, the customer's signature (fine jewelry) and, from format v3, the identity
check of a no-receipt return and its line in the R19 history. ``journal verify``
recomputes them from the tables, so a row changed, added or deleted behind the
triggers' back (triggers dropped, file edited) is named by its ticket.

Formats (``rows["v"]``): v2 (issue 12) left out the refund's card-terminal columns
(what the terminal said: status, transaction, authorisation…) and the ID tables;
v3 covers them. A v2 record still verifies as v2 — the journal is append-only,
nothing is re-signed — and every new ticket is written v3.

Local row ids are left out (a restore may renumber them); references to other
tables (sale line, sale tender) are in. The order of rows is fixed (line number,
then insertion order), so the same rows always give the same digest.

:data:`COVERAGE` says, for every column of every guarded table, what puts it under
the signature or why it is left out; a test fails when a column is added to a
guarded table without an entry there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

ROWS_VERSION = 3  # the ticket payload's format of ``rows`` (v1: none; v2; v3)

TICKET_COLS = (
    "uuid", "store_id", "till_no", "number", "created_at", "staff_id", "sale_id", "kind",
    "gift", "offline", "refund_total", "charge_total", "net", "restocking_fees", "origin",
)
LINE_COLS = (
    "line_no", "direction", "sale_line_id", "sku", "quantity", "unit_amount", "amount",
    "vat_rate_bp", "condition", "reason", "rule_codes", "restocking_fee", "serial_number",
)
REFUND_COLS_V2 = (
    "kind", "amount", "sale_tender_id", "card_last4", "gift_card_number", "beyond_original",
)
# v3: what the payment terminal said about a card refund (issue 14), printed on reprints
TERMINAL_COLS = (
    "terminal_status", "card_application", "read_mode", "transaction_id", "auth_number",
    "terminal_operation",
)
REFUND_COLS = REFUND_COLS_V2 + TERMINAL_COLS
APPROVAL_COLS = ("line_no", "rule", "manager_id", "decision", "reason", "decided_at")
GIFT_CARD_COLS = (
    "number", "security_hash", "initial_amount", "issued_at", "store_id", "till_no",
)
SIGNATURE_COLS = ("sha256", "inspections", "created_at")  # + the SHA-256 of the PNG
# v3: the no-receipt identity check (R07) the ticket used and its line in the R19 history
ID_CHECK_COLS = (
    "uuid", "id_hash", "status", "ticket_uuid", "amount", "store_id", "till_no", "staff_id",
    "created_at", "decided_at",
)
ID_LEDGER_COLS = ("uuid", "id_hash", "amount", "store_id", "till_no", "created_at", "origin")

PARTS_V2 = ("ticket", "lines", "refunds", "approvals", "gift_cards", "signatures")
PARTS = (*PARTS_V2, "id_check", "id_ledger")
ID_PARTS = ("id_check", "id_ledger")


def parts_of(version: Any) -> tuple[str, ...]:
    return PARTS if version == 3 else PARTS_V2


def _digest(rows: Iterable[Sequence[Any]]) -> str:
    data = json.dumps([list(r) for r in rows], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


EMPTY = _digest([])


def _sig_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    # (png, sha256, inspections, created_at) -> the PNG's SHA-256 instead of its bytes
    return [[hashlib.sha256(_bytes(r[0])).hexdigest(), *r[1:]] for r in rows]


def _bytes(value: Any) -> bytes:
    """A BLOB's bytes; a value of another type (a file edited by hand) digests as its
    text, so that verify names the ticket instead of failing."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return f"{type(value).__name__}:{value}".encode()


def _cols(cols: Sequence[str], alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in cols)


@dataclass(slots=True)
class TicketRows:
    """One ticket's rows as the tables hold them, digested per format on demand."""

    ticket: list[Sequence[Any]] = field(default_factory=list)
    lines: list[Sequence[Any]] = field(default_factory=list)
    refunds: list[Sequence[Any]] = field(default_factory=list)  # REFUND_COLS (v3)
    approvals: list[Sequence[Any]] = field(default_factory=list)
    gift_cards: list[Sequence[Any]] = field(default_factory=list)
    signatures: list[Sequence[Any]] = field(default_factory=list)
    id_check: list[Sequence[Any]] = field(default_factory=list)
    id_ledger: list[Sequence[Any]] = field(default_factory=list)

    def part(self, name: str, version: Any = ROWS_VERSION) -> str:
        rows: list[Sequence[Any]] = getattr(self, name)
        if not rows:
            return EMPTY
        if name == "signatures":
            return _digest(_sig_rows(rows))
        if name == "refunds" and version != 3:
            return _digest(r[: len(REFUND_COLS_V2)] for r in rows)
        return _digest(rows)

    def digests(self, version: Any = ROWS_VERSION) -> dict[str, str]:
        return {p: self.part(p, version) for p in parts_of(version)}


def _id_rows(db: Database, where: str, params: list[Any]) -> list[Sequence[Any]]:
    """(ticket_uuid, check columns…, ledger columns… or NULLs) of the identity checks
    used by tickets (the ledger row has the check's uuid)."""
    if not db["id_checks"].exists():
        return []
    return db.conn.execute(
        f"SELECT c.ticket_uuid, {_cols(ID_CHECK_COLS, 'c')}, {_cols(ID_LEDGER_COLS, 'l')} "
        "FROM id_checks c LEFT JOIN id_ledger l ON l.uuid = c.uuid AND l.origin = 'local' "
        f"WHERE c.ticket_uuid IS NOT NULL {where} ORDER BY c.rowid", params,
    ).fetchall()


def _add_id_rows(rows: TicketRows, row: Sequence[Any]) -> None:
    n = len(ID_CHECK_COLS)
    rows.id_check.append(row[1: 1 + n])
    if row[1 + n] is not None:
        rows.id_ledger.append(row[1 + n:])


def ticket_rows(db: Database, ticket_id: int, version: int = ROWS_VERSION) -> dict[str, str]:
    """The ``rows`` digests of one ticket (in ``version``'s format: the current one
    unless a test writes an older record), read from the tables (the commit calls it
    after writing the rows, inside its transaction)."""
    conn = db.conn
    rows = TicketRows(conn.execute(
        f"SELECT {_cols(TICKET_COLS, 't')} FROM return_tickets t WHERE t.id = ?", [ticket_id]
    ).fetchall())
    uuid = rows.ticket[0][0] if rows.ticket else ""
    rows.lines = conn.execute(
        f"SELECT {_cols(LINE_COLS, 'l')} FROM return_lines l WHERE l.ticket_id = ? "
        "ORDER BY l.line_no, l.id", [ticket_id]).fetchall()
    rows.refunds = conn.execute(
        f"SELECT {_cols(REFUND_COLS, 'f')} FROM refunds f WHERE f.ticket_id = ? "
        "ORDER BY f.id", [ticket_id]).fetchall()
    rows.approvals = conn.execute(
        f"SELECT {_cols(APPROVAL_COLS, 'a')} FROM approvals a WHERE a.ticket_id = ? "
        "ORDER BY a.id", [ticket_id]).fetchall()
    rows.gift_cards = conn.execute(
        f"SELECT {_cols(GIFT_CARD_COLS, 'g')} FROM gift_cards g "
        "WHERE g.issued_ticket_id = ? ORDER BY g.number", [ticket_id]).fetchall()
    rows.signatures = _signature_rows(db, "WHERE s.ticket_uuid = ?", [uuid])
    for row in _id_rows(db, "AND c.ticket_uuid = ?", [uuid]):
        _add_id_rows(rows, row)
    return rows.digests(version)


def _signature_rows(db: Database, where: str, params: list[Any]) -> list[Sequence[Any]]:
    if not db["ticket_signatures"].exists():
        return []
    return db.conn.execute(
        f"SELECT s.png, {_cols(SIGNATURE_COLS, 's')} FROM ticket_signatures s {where} "
        "ORDER BY s.rowid", params
    ).fetchall()


def all_ticket_rows(db: Database, store_id: int, till_no: int) -> dict[str, TicketRows]:
    """``{ticket uuid: its rows}`` for every local ticket of one till, in one pass over
    each table (what ``journal verify`` compares with the signed records)."""
    conn = db.conn
    where = "t.store_id = ? AND t.till_no = ? AND t.origin = 'local'"
    params = [store_id, till_no]
    by_id: dict[int, TicketRows] = {}
    out: dict[str, TicketRows] = {}
    for row in conn.execute(
        f"SELECT t.id, {_cols(TICKET_COLS, 't')} FROM return_tickets t WHERE {where} "
        "ORDER BY t.id", params,
    ):
        rows = TicketRows([row[1:]])
        by_id[int(row[0])] = rows
        out[str(row[1])] = rows
    queries = (
        ("lines", f"SELECT l.ticket_id, {_cols(LINE_COLS, 'l')} FROM return_lines l "
                  "JOIN return_tickets t ON t.id = l.ticket_id WHERE " + where
                  + " ORDER BY l.ticket_id, l.line_no, l.id"),
        ("refunds", f"SELECT f.ticket_id, {_cols(REFUND_COLS, 'f')} FROM refunds f "
                    "JOIN return_tickets t ON t.id = f.ticket_id WHERE " + where
                    + " ORDER BY f.ticket_id, f.id"),
        ("approvals", f"SELECT a.ticket_id, {_cols(APPROVAL_COLS, 'a')} FROM approvals a "
                      "JOIN return_tickets t ON t.id = a.ticket_id WHERE " + where
                      + " ORDER BY a.ticket_id, a.id"),
        ("gift_cards", f"SELECT g.issued_ticket_id, {_cols(GIFT_CARD_COLS, 'g')} "
                       "FROM gift_cards g JOIN return_tickets t ON t.id = g.issued_ticket_id "
                       "WHERE " + where + " ORDER BY g.issued_ticket_id, g.number"),
    )
    for part, sql in queries:
        for row in conn.execute(sql, params):
            getattr(by_id[int(row[0])], part).append(row[1:])
    if out and db["ticket_signatures"].exists():
        for row in conn.execute(
            f"SELECT s.ticket_uuid, s.png, {_cols(SIGNATURE_COLS, 's')} FROM ticket_signatures s "
            f"JOIN return_tickets t ON t.uuid = s.ticket_uuid WHERE {where} ORDER BY s.rowid",
            params,
        ):
            out[str(row[0])].signatures.append(row[1:])
    if out:
        for row in _id_rows(db, "", []):
            found = out.get(str(row[0]))
            if found is not None:
                _add_id_rows(found, row)
    return out


def differing_parts(signed: dict[str, Any], actual: TicketRows | None) -> list[str]:
    """The tables whose rows differ from what was signed, in the signed format (all of
    them when the ticket is gone)."""
    parts = parts_of(signed.get("v"))
    if actual is None:
        return [p for p in parts if p in signed]
    return [p for p in parts if signed.get(p) != actual.part(p, signed.get("v"))]


# --------------------------------------------------------------------------- coverage

# table -> column -> how its value is under the signature ("covered: …") or why it is
# left out ("excluded: …"). tests/usecases/test_integrity_guards.py checks that every
# column of every guarded table is here, and changes each covered one to see verify fail.
COVERAGE: dict[str, dict[str, str]] = {
    "return_tickets": {
        **{c: "covered: ticket digest" for c in TICKET_COLS},
        "id": "excluded: local row id (a restore may renumber it); the uuid is covered",
    },
    "return_lines": {
        **{c: "covered: lines digest" for c in LINE_COLS},
        "id": "excluded: local row id",
        "ticket_id": "covered: the rows are digested under their ticket",
    },
    "refunds": {
        **{c: "covered: refunds digest" for c in REFUND_COLS_V2},
        **{c: "covered: refunds digest from v3" for c in TERMINAL_COLS},
        "id": "excluded: local row id",
        "ticket_id": "covered: the rows are digested under their ticket",
    },
    "approvals": {
        **{c: "covered: approvals digest" for c in APPROVAL_COLS},
        "id": "excluded: local row id",
        "ticket_id": "covered: the rows are digested under their ticket",
    },
    "gift_cards": {
        **{c: "covered: gift_cards digest" for c in GIFT_CARD_COLS},
        "issued_ticket_id": "covered: digested under its ticket; a card on no signed ticket "
                            "is reported (unsigned_gift_card)",
    },
    "ticket_signatures": {
        **{c: "covered: signatures digest" for c in SIGNATURE_COLS},
        "png": "covered: its SHA-256 in the signatures digest",
        "ticket_uuid": "covered: the rows are digested under their ticket",
    },
    "id_checks": {
        **{c: "covered: id_check digest of the ticket that used it (v3)" for c in ID_CHECK_COLS},
        "doc_type": "excluded: for staff to recognise the document; R19 counts by id_hash",
        "last4": "excluded: personal data, kept out of a signature that outlives the "
                 "RGPD retention; R19 counts by id_hash",
        "name": "excluded: personal data, kept out of a signature that outlives the RGPD "
                "retention; R19 counts by id_hash",
    },
    "id_ledger": {
        **{c: "covered: id_ledger digest of the ticket that made it (v3; rows from HQ are "
              "other tills' and HQ's)" for c in ID_LEDGER_COLS},
        "seq": "excluded: local push cursor",
    },
    "id_deletions": {
        **{c: "covered: compared with the signed privacy_purge / privacy_request record"
           for c in ("purge_id", "kind", "cutoff", "row_uuid", "created_at")},
        "id": "excluded: local row id",
    },
    "approval_tokens": {
        c: "covered: compared with the signed override record"
        for c in ("token_id", "ticket_uuid", "manager_id", "rule", "used_at")
    },
    "closures": {
        **{c: "covered: compared with the signed closure record"
           for c in ("period_kind", "period", "staff_id", "first_number", "last_number",
                     "ticket_count", "net", "grand_total", "grand_total_abs", "totals",
                     "created_at", "journal_seq", "store_id", "till_no")},
        "id": "excluded: local row id",
    },
    "journal": {
        **{c: "covered: the record's signed bytes and links"
           for c in ("store_id", "till_no", "seq", "kind", "created_at", "ticket_uuid",
                     "key_id", "payload", "prev_hash", "prev_signature", "signature")},
        "id": "excluded: local row id; records are found by seq",
    },
    "journal_keys": {
        **{c: "covered: compared with the key pinned outside the cache"
           for c in ("store_id", "till_no", "key_id", "public_key", "public_pem")},
        "created_at": "excluded: when the key was first registered; verify trusts only the pin",
    },
    "journal_heads": {
        c: "covered: compared with the chain's last record"
        for c in ("store_id", "till_no", "seq", "signature")
    },
}
