"""The HQ side of a push (:func:`receive_document`), of the online check
(:func:`returned_quantities`) and of the journal head (:func:`raise_journal_head`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

# -- the HQ side of a push --------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """HQ's answer to one pushed document: ``ok`` or ``conflict`` (with details)."""

    result: str  # "ok" | "conflict"
    duplicate: bool = False  # HQ already had this uuid (a replay)
    problems: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> str:
        return json.dumps(
            {"result": self.result, "problems": list(self.problems)}, sort_keys=True
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _insert_dict(
    conn: psycopg.Connection, table: str, cols: Iterable[str], row: dict[str, Any],
    *, returning: str = "", on_conflict: str = "",
) -> Any:
    names = [c for c in cols if c in row]
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
        f" {on_conflict} {('RETURNING ' + returning) if returning else ''}"
    )
    cur = conn.execute(sql, [_plain(row[c]) for c in names])
    return cur.fetchone() if returning else None


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


_TICKET_COLS = (
    "uuid", "store_id", "till_no", "number", "created_at", "staff_id", "sale_id", "kind",
    "gift", "offline", "refund_total", "charge_total", "net", "restocking_fees",
)
_LINE_COLS = (
    "line_no", "direction", "sale_line_id", "sku", "quantity", "unit_amount", "amount",
    "vat_rate_bp", "condition", "reason", "rule_codes", "restocking_fee", "serial_number",
)
_REFUND_COLS = (
    "kind", "amount", "sale_tender_id", "card_last4", "gift_card_number", "beyond_original",
)
_APPROVAL_COLS = ("line_no", "rule", "manager_id", "decision", "reason", "decided_at")
_GIFT_CARD_COLS = (
    "number", "security_hash", "initial_amount", "issued_at", "store_id", "till_no",
)


def returned_quantities(
    conn: psycopg.Connection, sale_line_ids: Sequence[int], *, lock: bool = False
) -> dict[int, tuple[int, int]]:
    """``{sale_line_id: (sold quantity, already returned chain-wide)}`` as HQ sees it.

    With ``lock`` the sale lines are locked ``FOR UPDATE`` (in id order, so two
    pushes never deadlock) until the caller's transaction ends.
    """
    ids = sorted({int(i) for i in sale_line_ids})
    if not ids:
        return {}
    sold = conn.execute(
        "SELECT id, quantity FROM sale_lines WHERE id = ANY(%s) ORDER BY id"
        + (" FOR UPDATE" if lock else ""),
        [ids],
    ).fetchall()
    back: dict[Any, Any] = dict(
        conn.execute(
            "SELECT sale_line_id, sum(quantity) FROM return_lines "
            "WHERE sale_line_id = ANY(%s) AND direction = 'return' GROUP BY sale_line_id",
            [ids],
        ).fetchall()
    )
    return {int(i): (int(q), int(back.get(i, 0))) for i, q in sold}


def _tender_refunded(
    conn: psycopg.Connection, tender_ids: Sequence[int]
) -> dict[int, tuple[int, int]]:
    ids = sorted({int(i) for i in tender_ids})
    if not ids:
        return {}
    paid = conn.execute(
        "SELECT id, amount FROM tenders WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
    ).fetchall()
    back: dict[Any, Any] = dict(
        conn.execute(
            "SELECT sale_tender_id, sum(amount) FROM refunds WHERE sale_tender_id = ANY(%s) "
            "AND amount > 0 AND beyond_original = 0 GROUP BY sale_tender_id",
            [ids],
        ).fetchall()
    )
    return {int(i): (int(a), int(back.get(i, 0))) for i, a in paid}


def over_return_problems(
    wanted: dict[int, int], seen: dict[int, tuple[int, int]]
) -> list[dict[str, Any]]:
    """The lines where ``wanted`` quantities exceed what is left to return."""
    problems = []
    for line_id, qty in sorted(wanted.items()):
        if line_id not in seen:
            problems.append(
                {"sale_line_id": line_id, "reason": "unknown_sale_line", "requested": qty}
            )
            continue
        sold, returned = seen[line_id]
        if returned + qty > sold:
            problems.append(
                {"sale_line_id": line_id, "reason": "over_return", "sold": sold,
                 "returned": returned, "requested": qty}
            )
    return problems


def receive_return(
    conn: psycopg.Connection, payload: dict[str, Any], *, store_id: int, till_no: int
) -> Answer:
    """Insert a pushed return ticket idempotently, or answer ``conflict``.

    In one transaction: lock the sale lines and tenders it returns (FOR UPDATE,
    id order), then look the uuid up (a replay gets HQ's first answer again),
    then check that nothing is returned beyond what was sold, nor refunded to a
    tender beyond what it paid (except a card credited beyond it, R05).
    """
    uuid = str(payload["uuid"])
    lines = list(payload.get("lines") or [])
    refunds = list(payload.get("refunds") or [])
    wanted: dict[int, int] = {}
    for line in lines:
        if line.get("direction", "return") == "return" and line.get("sale_line_id"):
            sid = int(line["sale_line_id"])
            wanted[sid] = wanted.get(sid, 0) + int(line["quantity"])
    wanted_tender: dict[int, int] = {}
    for r in refunds:
        if r.get("sale_tender_id") and int(r.get("amount", 0)) > 0 and not r.get(
            "beyond_original"
        ):
            tid = int(r["sale_tender_id"])
            wanted_tender[tid] = wanted_tender.get(tid, 0) + int(r["amount"])
    with conn.transaction():
        seen = returned_quantities(conn, list(wanted), lock=True)
        tenders = _tender_refunded(conn, list(wanted_tender))
        if conn.execute("SELECT 1 FROM return_tickets WHERE uuid = %s", [uuid]).fetchone():
            return Answer("ok", duplicate=True)
        prior = conn.execute(
            "SELECT answer FROM return_conflicts WHERE uuid = %s", [uuid]
        ).fetchone()
        if prior:
            return Answer("conflict", duplicate=True, problems=tuple(prior[0].get("problems", [])))
        problems = over_return_problems(wanted, seen)
        for tid, amount in sorted(wanted_tender.items()):
            paid, refunded = tenders.get(tid, (0, 0))
            if tid not in tenders:
                problems.append({"sale_tender_id": tid, "reason": "unknown_tender"})
            elif refunded + amount > paid:
                problems.append(
                    {"sale_tender_id": tid, "reason": "over_refund", "paid": paid,
                     "refunded": refunded, "requested": amount}
                )
        if problems:
            answer = Answer("conflict", problems=tuple(problems))
            from psycopg.types.json import Jsonb

            conn.execute(
                "INSERT INTO return_conflicts (uuid, store_id, till_no, payload, answer) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
                [uuid, int(payload.get("store_id", store_id)),
                 int(payload.get("till_no", till_no)), Jsonb(payload),
                 Jsonb({"result": "conflict", "problems": problems})],
            )
            return answer
        ticket = {**(payload.get("totals") or {}), **payload}  # the writer nests the totals
        ticket.setdefault("store_id", store_id)
        ticket.setdefault("till_no", till_no)
        ticket.setdefault("created_at", _now())
        row = _insert_dict(
            conn, "return_tickets", _TICKET_COLS, ticket, returning="id",
            on_conflict="ON CONFLICT (uuid) DO NOTHING",
        )
        if row is None:  # a concurrent push of the same uuid won the insert
            return Answer("ok", duplicate=True)
        ticket_id = int(row[0])
        for n, line in enumerate(lines, 1):
            line = {"line_no": n, **line, "ticket_id": ticket_id}
            _insert_dict(conn, "return_lines", ("ticket_id", *_LINE_COLS), line)
        for r in refunds:
            refund = {**r, "ticket_id": ticket_id}
            _insert_dict(conn, "refunds", ("ticket_id", *_REFUND_COLS), refund)
        for a in payload.get("approvals") or []:
            approval = {"decided_at": ticket["created_at"], **a, "ticket_id": ticket_id}
            _insert_dict(conn, "approvals", ("ticket_id", *_APPROVAL_COLS), approval)
        for g in payload.get("gift_cards") or []:
            card = {"store_id": ticket["store_id"], "till_no": ticket["till_no"],
                    "issued_at": ticket["created_at"], **g, "issued_ticket_id": ticket_id}
            card.setdefault("initial_amount", card.get("amount", 0))
            _insert_dict(
                conn, "gift_cards", ("issued_ticket_id", *_GIFT_CARD_COLS), card,
                on_conflict="ON CONFLICT (number) DO NOTHING",
            )
    return Answer("ok")


_STAFF_COLS = ("id", "code", "name", "role", "store_id", "pin_hash", "active")
_ID_LEDGER_COLS = (
    "uuid", "id_hash", "type", "last4", "name", "amount", "created_at", "store_id", "till_no",
)


def receive_document(
    conn: psycopg.Connection, kind: str, uuid: str, payload: dict[str, Any],
    *, store_id: int, till_no: int,
) -> Answer:
    """HQ's reception of one outbox document, idempotent by uuid."""
    if kind == "return_ticket":
        return receive_return(conn, {"uuid": uuid, **payload}, store_id=store_id, till_no=till_no)
    if kind == "journal_head":  # pos_returns.journal.chain.Journal.enqueue_head()
        raise_journal_head(
            conn, store_id=int(payload.get("store_id", store_id)),
            till_no=int(payload.get("till_no", till_no)), seq=int(payload.get("seq", 0)),
            signature=str(payload.get("signature", "")), key_id=str(payload.get("key_id", "")),
            public_key=str(payload.get("public_key", "")),
        )
        return Answer("ok")
    if kind == "staff_change":  # pos_returns.usecases.staff: an account changed at a till
        staff = dict(payload.get("staff") or {})
        if staff.get("id") and staff.get("code"):
            with conn.transaction():
                _insert_dict(
                    conn, "staff", _STAFF_COLS, staff,
                    on_conflict="ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, "
                    "name = EXCLUDED.name, role = EXCLUDED.role, store_id = EXCLUDED.store_id, "
                    "pin_hash = EXCLUDED.pin_hash, active = EXCLUDED.active",
                )
    if kind == "privacy_erasure":  # pos_returns.usecases.privacy: an RGPD erasure at a till
        digest = str(payload.get("id_hash", ""))
        if digest:
            with conn.transaction():
                conn.execute("DELETE FROM id_ledger WHERE id_hash = %s", [digest])
    if kind in ("id_check", "id_ledger"):
        row = {"store_id": store_id, "till_no": till_no, "created_at": _now(), **payload,
               "uuid": uuid}
        if "type" not in row and "id_type" in row:
            row["type"] = row["id_type"]
        if "id_hash" in row:
            with conn.transaction():
                _insert_dict(conn, "id_ledger", _ID_LEDGER_COLS, row,
                             on_conflict="ON CONFLICT (uuid) DO NOTHING")
            return Answer("ok")
    from psycopg.types.json import Jsonb

    with conn.transaction():
        conn.execute(
            "INSERT INTO documents (uuid, kind, store_id, till_no, payload) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
            [uuid, kind, store_id, till_no, Jsonb(payload)],
        )
    return Answer("ok")


def raise_journal_head(
    conn: psycopg.Connection, *, store_id: int, till_no: int, seq: int, signature: str,
    key_id: str = "", public_key: str = "",
) -> bool:
    """Record the till's journal chain head; False (and an alert at HQ) when the
    till reports a head below the one HQ already knows (a truncated cache)."""
    with conn.transaction():
        known = conn.execute(
            "SELECT seq FROM journal_heads WHERE store_id = %s AND till_no = %s FOR UPDATE",
            [store_id, till_no],
        ).fetchone()
        if known and int(known[0]) > seq:
            conn.execute(
                "INSERT INTO journal_alerts (store_id, till_no, reported_seq, known_seq, "
                "signature) VALUES (%s, %s, %s, %s, %s)",
                [store_id, till_no, seq, int(known[0]), signature],
            )
            return False
        conn.execute(
            "INSERT INTO journal_heads (store_id, till_no, seq, signature, key_id, public_key) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (store_id, till_no) DO UPDATE "
            "SET seq = excluded.seq, signature = excluded.signature, "
            "key_id = CASE WHEN excluded.key_id = '' THEN journal_heads.key_id "
            "ELSE excluded.key_id END, "
            "public_key = CASE WHEN excluded.public_key = '' THEN journal_heads.public_key "
            "ELSE excluded.public_key END, updated_at = now()",
            [store_id, till_no, seq, signature, key_id, public_key],
        )
    return True
