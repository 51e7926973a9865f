"""The payment terminal's operations as the journal signed them (issue 12).

``terminal_operations`` is a working table (not fiscal: its rows move pending ->
approved / declined / unknown), but every move of a row is journaled — technical
records ``terminal`` and ``terminal_check`` carrying the row's fields
(:data:`SIGNED_FIELDS`) — and so is the ticket that carries it (``terminal``,
``event: "ticket"``, with ``ticket_uuid``). **The last record of an operation is the
truth**: a row that differs from it (its status set from approved to declined to
refund a second way, from declined to approved to show a card refund the terminal
refused, its ticket cleared so that another return adopts it), a row no record
signed, or a signed operation whose row was deleted, is an integrity failure —
refused by the use cases (``usecases.card_payments``), named by ``journal verify``.

Operations are found by what the journal says too (their uuid, draft or sale card,
through partial indexes on the terminal records, cache migration
``pos_returns.terminal`` m002), so a row edited or deleted cannot hide one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlite_utils import Database

from pos_returns.i18n import _, format_money
from pos_returns.journal.keys import verify_signature
from pos_returns.journal.records import _ROW_COLUMNS, _row_bytes

TERMINAL_KINDS = ("terminal", "terminal_check")
_KINDS_SQL = "kind IN ('terminal', 'terminal_check')"  # as the partial indexes say it
# the row's fields every terminal record carries (CardOperation.journal_payload)
SIGNED_FIELDS = (
    "uuid", "draft_uuid", "tender_key", "sale_tender_id", "action", "amount", "mode",
    "status", "reason_code", "card_application", "read_mode", "transaction_id",
    "auth_number", "staff_id", "checked_by",
)
TICKET_EVENT = "ticket"
FORMAT = 2  # records that say which ticket carries the operation (v1: the refund row did)
_COLUMNS = ", ".join((*SIGNED_FIELDS, "store_id", "till_no", "ticket_uuid"))


class Appender(Protocol):
    """What this module needs of a journal (``journal.chain.Journal``)."""

    store_id: int
    till_no: int

    def append(self, kind: str, payload: dict[str, Any], **kw: Any) -> Any: ...


@dataclass(frozen=True)
class SignedOperation:
    """The last record the journal holds about one operation."""

    uuid: str
    seq: int
    fields: dict[str, Any]  # SIGNED_FIELDS, as signed
    ticket_uuid: str | None  # the ticket that carries it, as signed (None: no ticket yet)
    event_ticket: bool  # the record is the one that put the operation on a ticket
    version: int  # FORMAT; 1: written before tickets were journaled for operations
    record: tuple[Any, ...]  # the journal row, for its signature

    @property
    def status(self) -> str:
        return str(self.fields.get("status", ""))

    def signature_holds(self, public_raw: bytes) -> bool:
        return verify_signature(public_raw, _row_bytes(self.record), self.record[-1])


def _signed(row: Sequence[Any]) -> SignedOperation:
    payload = json.loads(row[8])
    event_ticket = payload.get("event") == TICKET_EVENT
    return SignedOperation(
        uuid=str(payload.get("uuid", "")), seq=int(row[3]),
        fields={k: payload.get(k) for k in SIGNED_FIELDS},
        ticket_uuid=payload.get("ticket_uuid") if event_ticket else None,
        event_ticket=event_ticket, version=int(payload.get("v", 1)), record=tuple(row))


def last_records(db: Database, store_id: int, till_no: int,
                 uuids: Iterable[str]) -> dict[str, SignedOperation]:
    """The last terminal record of each of ``uuids`` in chain (store_id, till_no)."""
    out = {}
    for op_uuid in set(uuids):
        row = db.execute(
            f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? AND "
            f"{_KINDS_SQL} AND json_extract(payload, '$.uuid') = ? ORDER BY seq DESC LIMIT 1",
            [store_id, till_no, op_uuid]).fetchone()
        if row is not None:
            out[op_uuid] = _signed(row)
    return out


def all_last_records(db: Database, store_id: int, till_no: int) -> dict[str, SignedOperation]:
    """The last terminal record of every operation of the chain (verify, the review)."""
    rows = db.execute(
        f"SELECT {', '.join('j.' + c.strip() for c in _ROW_COLUMNS.split(','))} FROM "
        "(SELECT MAX(seq) AS seq FROM journal WHERE store_id = ? AND till_no = ? AND "
        f"{_KINDS_SQL} GROUP BY json_extract(payload, '$.uuid')) AS last "
        "JOIN journal j ON j.store_id = ? AND j.till_no = ? AND j.seq = last.seq",
        [store_id, till_no, store_id, till_no]).fetchall()
    return {op.uuid: op for op in map(_signed, rows)}


def uuids_about(db: Database, store_id: int, till_no: int, *, draft_uuid: str = "",
                sale_tender_ids: Iterable[int] = ()) -> set[str]:
    """Every operation of a draft or of sale cards, by the rows AND by the journal: an
    edited or deleted row hides nothing."""
    found: set[str] = set()
    wheres: list[tuple[str, str, Any]] = []
    if draft_uuid:
        wheres.append(("draft_uuid", "$.draft_uuid", draft_uuid))
    wheres += [("sale_tender_id", "$.sale_tender_id", int(t)) for t in set(sale_tender_ids)]
    for column, path, value in wheres:
        found.update(r[0] for r in db.execute(
            f"SELECT uuid FROM terminal_operations WHERE {column} = ?", [value]))
        found.update(r[0] for r in db.execute(
            f"SELECT json_extract(payload, '$.uuid') FROM journal WHERE store_id = ? AND "
            f"till_no = ? AND {_KINDS_SQL} AND json_extract(payload, '{path}') = ?",
            [store_id, till_no, value]))
    return found


def open_uuids(db: Database, store_id: int, till_no: int) -> set[str]:
    """Operations the journal or the rows say are open: unknown or pending, or approved
    and on no ticket (the review lists them)."""
    found = {r[0] for r in db.execute(
        "SELECT uuid FROM terminal_operations WHERE store_id = ? AND till_no = ? AND "
        "(status IN ('pending', 'unknown') OR (status = 'approved' AND ticket_uuid IS NULL))",
        [store_id, till_no])}
    for op in all_last_records(db, store_id, till_no).values():
        if op.status in ("pending", "unknown") or (op.status == "approved"
                                                   and attached(db, op) is None):
            found.add(op.uuid)
    return found


def rows_of(db: Database, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for op_uuid in set(uuids):
        row = db.execute(f"SELECT {_COLUMNS} FROM terminal_operations WHERE uuid = ?",
                         [op_uuid]).fetchone()
        if row is not None:
            out[op_uuid] = dict(zip([c.strip() for c in _COLUMNS.split(",")], row, strict=True))
    return out


def attached(db: Database, signed: SignedOperation) -> str | None:
    """The ticket that carries the operation, as signed: the ticket event's; for an
    operation journaled before those events (v1), the ticket whose refund row names it."""
    if signed.event_ticket or signed.version >= FORMAT or signed.status != "approved":
        return signed.ticket_uuid
    row = db.execute(
        "SELECT t.uuid FROM refunds f JOIN return_tickets t ON t.id = f.ticket_id "
        "WHERE f.terminal_operation = ? AND f.terminal_operation != '' LIMIT 1",
        [signed.uuid]).fetchone()
    return str(row[0]) if row else None


def differences(db: Database, row: Mapping[str, Any] | None,
                signed: SignedOperation | None) -> tuple[str, ...]:
    """The fields where the row says otherwise than the journal ('' on both: none).
    ``("row",)``: a signed operation without its row; ``("record",)``: a row no record
    signed."""
    if signed is None:
        return ("record",) if row is not None else ()
    if row is None:
        return ("row",)
    out = [k for k in SIGNED_FIELDS if row.get(k) != signed.fields.get(k)]
    if row.get("ticket_uuid") != attached(db, signed):
        out.append("ticket_uuid")
    return tuple(out)


def mismatch_message(row: Mapping[str, Any] | None, signed: SignedOperation | None,
                     fields: Sequence[str]) -> str:
    """A French sentence naming the operation and what differs from its signed record."""
    source: Mapping[str, Any] = row or (signed.fields if signed else {})
    amount = format_money(int(source.get("amount") or 0))
    if fields == ("row",):
        return _("The payment terminal operation of {amount} ({uuid}) was deleted from the "
                 "till's cache, although the journal signed it.").format(
                     amount=amount, uuid=source.get("uuid", ""))
    if fields == ("record",):
        return _("The payment terminal operation of {amount} ({uuid}) is in the till's cache "
                 "without any signed journal record (added behind the journal).").format(
                     amount=amount, uuid=source.get("uuid", ""))
    return _("The payment terminal operation of {amount} ({uuid}) differs from what the "
             "journal signed (changed: {fields}).").format(
                 amount=amount, uuid=source.get("uuid", ""), fields=", ".join(fields))


def first_mismatch(db: Database, store_id: int, till_no: int) -> tuple[int, str] | None:
    """verify: every operation of the chain against its last record — (the record's seq,
    or 0 for a row without one, and the French sentence) for the first that differs."""
    signed = all_last_records(db, store_id, till_no)
    rows = {r[0]: dict(zip([c.strip() for c in _COLUMNS.split(",")], r, strict=True))
            for r in db.execute(f"SELECT {_COLUMNS} FROM terminal_operations WHERE "
                                "store_id = ? AND till_no = ?", [store_id, till_no])}
    found: list[tuple[int, str]] = []
    for op_uuid in set(signed) | set(rows):
        op, row = signed.get(op_uuid), rows.get(op_uuid)
        fields = differences(db, row, op)
        if fields:
            found.append((op.seq if op else 0, mismatch_message(row, op, fields)))
    return min(found) if found else None


def journal_attachment(db: Database, journal: Appender, op_uuid: str, ticket_uuid: str,
                       **extra: Any) -> None:
    """Inside the ticket's transaction: the operation is on ``ticket_uuid`` — its row,
    and the signed record that says so (the truth, see the module)."""
    db.execute("UPDATE terminal_operations SET ticket_uuid = ? WHERE uuid = ?",
               [ticket_uuid, op_uuid])
    row = rows_of(db, [op_uuid])[op_uuid]
    journal.append("terminal", {**{k: row[k] for k in SIGNED_FIELDS},
                                "event": TICKET_EVENT, "ticket_uuid": ticket_uuid, **extra})
