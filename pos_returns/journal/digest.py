"""Every fiscal row under the signature: the digest of a ticket's rows (issue 12).

A ticket's journal record (format v2) carries ``rows``: per table, the SHA-256 of
the canonical JSON of the ticket's rows in that table, as they were written in
the ticket's transaction — the ticket itself, its lines, refunds, approvals, the
gift cards it issued and the customer's signature (fine jewelry). ``journal
verify`` recomputes them from the tables, so a row changed, added or deleted
behind the triggers' back (triggers dropped, file edited) is named by its ticket.

Local row ids are left out (a restore may renumber them); references to other
tables (sale line, sale tender) are in. The order of rows is fixed (line number,
then insertion order), so the same rows always give the same digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

ROWS_VERSION = 2  # the ticket payload's format with ``rows`` (v1: none)

TICKET_COLS = (
    "uuid", "store_id", "till_no", "number", "created_at", "staff_id", "sale_id", "kind",
    "gift", "offline", "refund_total", "charge_total", "net", "restocking_fees", "origin",
)
LINE_COLS = (
    "line_no", "direction", "sale_line_id", "sku", "quantity", "unit_amount", "amount",
    "vat_rate_bp", "condition", "reason", "rule_codes", "restocking_fee", "serial_number",
)
REFUND_COLS = (
    "kind", "amount", "sale_tender_id", "card_last4", "gift_card_number", "beyond_original",
)
APPROVAL_COLS = ("line_no", "rule", "manager_id", "decision", "reason", "decided_at")
GIFT_CARD_COLS = (
    "number", "security_hash", "initial_amount", "issued_at", "store_id", "till_no",
)
SIGNATURE_COLS = ("sha256", "inspections", "created_at")  # + the SHA-256 of the PNG

PARTS = ("ticket", "lines", "refunds", "approvals", "gift_cards", "signatures")


def _digest(rows: Iterable[Sequence[Any]]) -> str:
    data = json.dumps([list(r) for r in rows], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _sig_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    # (png, sha256, inspections, created_at) -> the PNG's SHA-256 instead of its bytes
    return [[hashlib.sha256(bytes(r[0])).hexdigest(), *r[1:]] for r in rows]


def _cols(cols: Sequence[str], alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in cols)


def ticket_rows(db: Database, ticket_id: int) -> dict[str, str]:
    """The ``rows`` digests of one ticket, read from the tables (the commit calls it
    after writing the rows, inside its transaction)."""
    conn = db.conn
    ticket = conn.execute(
        f"SELECT {_cols(TICKET_COLS, 't')} FROM return_tickets t WHERE t.id = ?", [ticket_id]
    ).fetchall()
    uuid = ticket[0][0] if ticket else ""
    parts = {
        "ticket": _digest(ticket),
        "lines": _digest(conn.execute(
            f"SELECT {_cols(LINE_COLS, 'l')} FROM return_lines l WHERE l.ticket_id = ? "
            "ORDER BY l.line_no, l.id", [ticket_id])),
        "refunds": _digest(conn.execute(
            f"SELECT {_cols(REFUND_COLS, 'f')} FROM refunds f WHERE f.ticket_id = ? "
            "ORDER BY f.id", [ticket_id])),
        "approvals": _digest(conn.execute(
            f"SELECT {_cols(APPROVAL_COLS, 'a')} FROM approvals a WHERE a.ticket_id = ? "
            "ORDER BY a.id", [ticket_id])),
        "gift_cards": _digest(conn.execute(
            f"SELECT {_cols(GIFT_CARD_COLS, 'g')} FROM gift_cards g "
            "WHERE g.issued_ticket_id = ? ORDER BY g.number", [ticket_id])),
        "signatures": _digest(_sig_rows(_signature_rows(db, "WHERE s.ticket_uuid = ?",
                                                        [uuid]))),
    }
    return parts


def _signature_rows(db: Database, where: str, params: list[Any]) -> list[Sequence[Any]]:
    if not db["ticket_signatures"].exists():
        return []
    return db.conn.execute(
        f"SELECT s.png, {_cols(SIGNATURE_COLS, 's')} FROM ticket_signatures s {where} "
        "ORDER BY s.rowid", params
    ).fetchall()


def all_ticket_rows(db: Database, store_id: int, till_no: int) -> dict[str, dict[str, str]]:
    """``{ticket uuid: rows digests}`` for every local ticket of one till, in one pass
    over each table (what ``journal verify`` compares with the signed records)."""
    conn = db.conn
    where = "t.store_id = ? AND t.till_no = ? AND t.origin = 'local'"
    params = [store_id, till_no]
    tickets: dict[int, list[Any]] = {}
    uuids: dict[int, str] = {}
    for row in conn.execute(
        f"SELECT t.id, {_cols(TICKET_COLS, 't')} FROM return_tickets t WHERE {where} "
        "ORDER BY t.id", params,
    ):
        tickets[int(row[0])] = [row[1:]]
        uuids[int(row[0])] = str(row[1])
    grouped: dict[str, dict[int, list[Sequence[Any]]]] = {p: {} for p in PARTS[1:]}
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
        bucket = grouped[part]
        for row in conn.execute(sql, params):
            bucket.setdefault(int(row[0]), []).append(row[1:])
    by_uuid: dict[str, list[Sequence[Any]]] = {}
    if uuids and db["ticket_signatures"].exists():
        for row in conn.execute(
            f"SELECT s.ticket_uuid, s.png, {_cols(SIGNATURE_COLS, 's')} FROM ticket_signatures s "
            f"JOIN return_tickets t ON t.uuid = s.ticket_uuid WHERE {where} ORDER BY s.rowid",
            params,
        ):
            by_uuid.setdefault(str(row[0]), []).append(row[1:])
    empty = _digest([])
    out: dict[str, dict[str, str]] = {}
    for tid, ticket in tickets.items():
        uuid = uuids[tid]
        parts = {"ticket": _digest(ticket)}
        for part in PARTS[1:-1]:
            rows = grouped[part].get(tid)
            parts[part] = _digest(rows) if rows else empty
        sig = by_uuid.get(uuid)
        parts["signatures"] = _digest(_sig_rows(sig)) if sig else empty
        out[uuid] = parts
    return out


def differing_parts(signed: dict[str, Any], actual: dict[str, str] | None) -> list[str]:
    """The tables whose rows differ from what was signed (all of them when the ticket
    is gone)."""
    if actual is None:
        return [p for p in PARTS if p in signed]
    return [p for p in PARTS if signed.get(p) != actual.get(p)]
