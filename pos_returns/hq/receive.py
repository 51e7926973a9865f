"""The HQ side of a push (:func:`receive_document`), of the reservation before a
refund (:func:`reserve`, :func:`release`), of the online check
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
    found: str = "offline"  # a conflict: the till committed "online" or "offline"
    earlier: tuple[dict[str, Any], ...] = ()  # what took the lines, where and when

    def as_json(self) -> str:
        body: dict[str, Any] = {"result": self.result, "problems": list(self.problems)}
        if self.result == "conflict":
            body["found"] = self.found
            body["earlier"] = list(self.earlier)
        return json.dumps(body, sort_keys=True)


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
    """``{sale_line_id: (sold quantity, already returned or reserved chain-wide)}``.

    With ``lock`` the sale lines are locked ``FOR UPDATE`` (in id order, so two
    pushes never deadlock) until the caller's transaction ends.
    """
    ids = sorted({int(i) for i in sale_line_ids})
    if not ids:
        return {}
    state = _line_state(conn, ids, lock=lock)
    return {i: (st.sold, st.returned + st.reserved) for i, st in state.items()}


@dataclass
class _LineState:
    sale_id: int
    sold: int
    unit_price: int
    returned: int = 0  # quantity in pushed return tickets
    refunded: int = 0  # money (cents) of those lines
    reserved: int = 0  # quantity held by other open reservations
    reserved_amount: int = 0


def _line_state(conn: psycopg.Connection, ids: list[int], *, lock: bool,
                exclude_uuid: str = "") -> dict[int, _LineState]:
    """The sale lines (locked FOR UPDATE in id order with ``lock``) with what was
    returned (pushed tickets) and what other open reservations hold: ONE statement."""
    rows = conn.execute(
        "SELECT l.id, l.sale_id, l.quantity, l.unit_price, "
        "COALESCE((SELECT sum(r.quantity) FROM return_lines r WHERE r.sale_line_id = l.id "
        "  AND r.direction = 'return'), 0), "
        "COALESCE((SELECT -sum(r.amount) FROM return_lines r WHERE r.sale_line_id = l.id "
        "  AND r.direction = 'return'), 0), "
        "COALESCE((SELECT sum(v.quantity) FROM reservation_lines v WHERE v.sale_line_id = l.id "
        "  AND v.uuid <> %s), 0), "
        "COALESCE((SELECT sum(v.amount) FROM reservation_lines v WHERE v.sale_line_id = l.id "
        "  AND v.uuid <> %s), 0) "
        "FROM sale_lines l WHERE l.id = ANY(%s) ORDER BY l.id"
        + (" FOR UPDATE OF l" if lock else ""),
        [exclude_uuid, exclude_uuid, ids],
    ).fetchall()
    return {int(r[0]): _LineState(int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]),
                                  int(r[6]), int(r[7])) for r in rows}


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


def _settle(conn: psycopg.Connection, uuid: str, status: str, by: str) -> bool:
    """Close an open reservation (``confirmed`` or ``released``) and drop its holds
    (one statement)."""
    row = conn.execute(_SETTLE_SQL, [status, by, uuid]).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Reservation:
    """HQ's answer to a reservation: ``reserved`` or ``conflict`` (problems, and
    what was returned or reserved where and when); ``found`` is always ``online``."""

    result: str  # "reserved" | "conflict"
    uuid: str
    duplicate: bool = False
    problems: tuple[dict[str, Any], ...] = ()
    earlier: tuple[dict[str, Any], ...] = ()
    found: str = "online"

    @property
    def status(self) -> str:
        return self.result

    def as_json(self) -> str:
        return json.dumps(
            {"result": self.result, "found": self.found, "problems": list(self.problems),
             "earlier": list(self.earlier)}, sort_keys=True)


def _as_lines(lines: Iterable[Sequence[Any]]) -> tuple[dict[int, int], dict[int, int]]:
    qty: dict[int, int] = {}
    amount: dict[int, int] = {}
    for item in lines:
        sid, q, a = int(item[0]), int(item[1]), int(item[2]) if len(item) > 2 else 0
        if q <= 0 or a < 0:
            raise ValueError(f"bad reservation line {item!r}")
        qty[sid] = qty.get(sid, 0) + q
        amount[sid] = amount.get(sid, 0) + a
    return qty, amount


def _as_tenders(tenders: Iterable[Sequence[Any]]) -> list[tuple[int, int, bool]]:
    out = []
    for item in tenders:
        tid, amount = int(item[0]), int(item[1])
        beyond = bool(item[2]) if len(item) > 2 else False
        if amount <= 0:
            raise ValueError(f"bad reservation tender {item!r}")
        out.append((tid, amount, beyond))
    return out


def reserve(
    conn: psycopg.Connection,
    ticket_uuid: str,
    store_id: int,
    till_no: int,
    lines: Sequence[Sequence[Any]],
    tenders: Sequence[Sequence[Any]] = (),
) -> Reservation:
    """Hold a till's draft return at HQ before any money moves.

    ``lines``: ``(sale_line_id, quantity, amount refunded in cents)``; ``tenders``:
    ``(tender_id, amount[, beyond_original])``. In ONE transaction: the sale lines
    and the sale's tenders are locked ``FOR UPDATE`` (id order), the draft is
    checked against every pushed return and every other open reservation of the
    chain, then held (``reservations`` + its ``reservation_lines`` /
    ``reservation_tenders``) or answered ``conflict`` with what was returned or
    reserved where and when. Idempotent by ``ticket_uuid``: asking again gets
    ``reserved`` (duplicate) while the reservation is open or confirmed.
    """
    from psycopg.types.json import Jsonb

    uuid = str(ticket_uuid)
    wanted, wanted_amount = _as_lines(lines)
    asked_tenders = _as_tenders(tenders)
    merged: dict[tuple[int, int], int] = {}
    for tid, amount, beyond in asked_tenders:
        merged[(tid, int(beyond))] = merged.get((tid, int(beyond)), 0) + amount
    keys = sorted(wanted)
    tkeys = sorted(merged)
    # ONE statement, one round trip: the checks under the row locks, the uuid looked
    # up again, the hold written (hq_reserve in hq/schema.py; docs/sync.md).
    sql = ("SELECT hq_reserve(%s, %s, %s, %s::bigint[], %s::bigint[], %s::bigint[], "
           "%s::bigint[], %s::bigint[], %s::int[], %s::bigint[], %s::bigint[], %s::int[], "
           "%s, %s)")
    params = [uuid, int(store_id), int(till_no),
              keys, [wanted[k] for k in keys], [wanted_amount[k] for k in keys],
              [t[0] for t in asked_tenders], [t[1] for t in asked_tenders],
              [int(t[2]) for t in asked_tenders],
              [k[0] for k in tkeys], [merged[k] for k in tkeys], [k[1] for k in tkeys],
              Jsonb([[k, wanted[k], wanted_amount[k]] for k in keys]),
              Jsonb([list(t) for t in asked_tenders])]
    if conn.autocommit:  # the statement is its own transaction
        got = conn.execute(sql, params).fetchone()[0]
    else:
        with conn.transaction():
            got = conn.execute(sql, params).fetchone()[0]
    return Reservation(str(got["result"]), uuid, duplicate=bool(got.get("duplicate")),
                       problems=tuple(got.get("problems") or ()),
                       earlier=tuple(got.get("earlier") or ()))


def release(conn: psycopg.Connection, store_id: int, till_no: int,
            uuids: Sequence[str]) -> list[str]:
    """The till never committed these reservations (it died, or the commit failed):
    free their holds. Only the till's own open reservations; returns those freed.
    A reservation already confirmed (its ticket was pushed) stays confirmed."""
    freed: list[str] = []
    if not uuids:
        return freed
    with conn.transaction():
        own = conn.execute(
            "SELECT uuid FROM reservations WHERE uuid = ANY(%s) AND store_id = %s "
            "AND till_no = %s AND status = 'reserved' ORDER BY uuid FOR UPDATE",
            [list(uuids), int(store_id), int(till_no)],
        ).fetchall()
        for (uuid,) in own:
            if _settle(conn, str(uuid), "released", "till"):
                freed.append(str(uuid))
    return freed


def settled(conn: psycopg.Connection, uuids: Sequence[str]) -> dict[str, str]:
    """The state HQ knows of each reservation uuid: ``reserved`` / ``confirmed`` /
    ``released``, or ``unknown`` (never reserved: HQ did not answer in time)."""
    found = dict(conn.execute(
        "SELECT uuid, status FROM reservations WHERE uuid = ANY(%s)", [list(uuids)]
    ).fetchall())
    return {u: str(found.get(u, "unknown")) for u in uuids}


def open_reservations(conn: psycopg.Connection, *, older_than_seconds: float = 0
                      ) -> list[dict[str, Any]]:
    """HQ's open reservations older than the given age (never confirmed, never
    released: a till that died and has not come back)."""
    rows = conn.execute(
        "SELECT uuid, store_id, till_no, created_at, lines FROM reservations "
        "WHERE status = 'reserved' AND created_at < now() - make_interval(secs => %s) "
        "ORDER BY created_at",
        [float(older_than_seconds)],
    ).fetchall()
    return [{"uuid": r[0], "store_id": r[1], "till_no": r[2], "created_at": r[3],
             "lines": r[4]} for r in rows]


def receive_return(
    conn: psycopg.Connection, payload: dict[str, Any], *, store_id: int, till_no: int
) -> Answer:
    """Insert a pushed return ticket idempotently, or answer ``conflict``.

    In one transaction: lock the sale lines and tenders it returns (FOR UPDATE,
    id order), then look the uuid up (a replay gets HQ's first answer again),
    then check that nothing is returned beyond what was sold, nor refunded to a
    tender beyond what it paid (R05 as the till counts it), against every other
    pushed return and open reservation. The ticket's own reservation (same uuid)
    is confirmed: its holds give way to the ticket's lines.
    """
    uuid = str(payload["uuid"])
    lines = list(payload.get("lines") or [])
    refunds = list(payload.get("refunds") or [])
    wanted: dict[int, int] = {}
    wanted_amount: dict[int, int] = {}
    for line in lines:
        if line.get("direction", "return") == "return" and line.get("sale_line_id"):
            sid = int(line["sale_line_id"])
            wanted[sid] = wanted.get(sid, 0) + int(line["quantity"])
            wanted_amount[sid] = wanted_amount.get(sid, 0) - int(line.get("amount", 0))
    wanted_tender = [
        (int(r["sale_tender_id"]), int(r.get("amount", 0)), bool(r.get("beyond_original")))
        for r in refunds if r.get("sale_tender_id") and int(r.get("amount", 0)) > 0
    ]
    found = "offline" if payload.get("offline") else "online"
    from psycopg.types.json import Jsonb

    line_ids = sorted(wanted)
    check_params = [uuid, line_ids, [wanted[k] for k in line_ids],
                    [wanted_amount[k] for k in line_ids], [t[0] for t in wanted_tender],
                    [t[1] for t in wanted_tender], [int(t[2]) for t in wanted_tender]]
    # Round trip 1 (pipelined): BEGIN, the checks under the row locks
    # (hq_check_return), then the uuid looked up again in a statement that starts
    # once the locks are held (a concurrent replay may just have committed).
    # Round trip 2: the ticket and all its rows in ONE statement, the reservation
    # confirmed, COMMIT.
    with _pipeline(conn), conn.transaction():
        checked_cur = conn.execute(_CHECK_SQL, check_params)
        seen_cur = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM return_tickets WHERE uuid = %s), "
            "(SELECT answer FROM return_conflicts WHERE uuid = %s)", [uuid, uuid])
        checked = checked_cur.fetchone()[0]
        seen = seen_cur.fetchone()
        if seen and seen[0]:
            return Answer("ok", duplicate=True)
        if seen and seen[1] is not None:
            return Answer("conflict", duplicate=True,
                          problems=tuple(seen[1].get("problems", [])),
                          found=str(seen[1].get("found", "offline")))
        problems = list(checked["problems"])
        if problems:
            answer = Answer("conflict", problems=tuple(problems), found=found,
                            earlier=tuple(checked["earlier"]))
            conn.execute(_SETTLE_SQL, ["released", "push", uuid])
            conn.execute(
                "INSERT INTO return_conflicts (uuid, store_id, till_no, payload, answer, found) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
                [uuid, int(payload.get("store_id", store_id)),
                 int(payload.get("till_no", till_no)), Jsonb(payload),
                 Jsonb(json.loads(answer.as_json())), found],
            )
            return answer
        ticket = {**(payload.get("totals") or {}), **payload}  # the writer nests the totals
        ticket.setdefault("store_id", store_id)
        ticket.setdefault("till_no", till_no)
        ticket.setdefault("created_at", _now())
        sql, params = _ticket_statement(uuid, ticket, lines, refunds, payload)
        inserted = conn.execute(sql, params)
    if inserted.fetchone() is None:  # a concurrent push of the same uuid won the insert
        return Answer("ok", duplicate=True)
    return Answer("ok")


_CHECK_SQL = ("SELECT hq_check_return(%s, %s::bigint[], %s::bigint[], %s::bigint[], "
              "%s::bigint[], %s::bigint[], %s::int[])")
_SETTLE_SQL = (
    "WITH s AS (UPDATE reservations SET status = %s, settled_at = now(), settled_by = %s "
    "  WHERE uuid = %s AND status = 'reserved' RETURNING uuid), "
    "l AS (DELETE FROM reservation_lines WHERE uuid IN (SELECT uuid FROM s)), "
    "t AS (DELETE FROM reservation_tenders WHERE uuid IN (SELECT uuid FROM s)) "
    "SELECT count(*) FROM s")

#: The types of the columns a pushed ticket's rows fill (hq/schema.py): the rows are
#: inserted with ``SELECT t.id, %s::type, ... FROM t`` (t: the ticket just inserted).
_COL_TYPES = {
    "return_lines": {"line_no": "integer", "direction": "text", "sale_line_id": "bigint",
                     "sku": "text", "quantity": "integer", "unit_amount": "bigint",
                     "amount": "bigint", "vat_rate_bp": "integer", "condition": "text",
                     "reason": "text", "rule_codes": "text", "restocking_fee": "bigint",
                     "serial_number": "text"},
    "refunds": {"kind": "text", "amount": "bigint", "sale_tender_id": "bigint",
                "card_last4": "text", "gift_card_number": "text", "beyond_original": "integer"},
    "approvals": {"line_no": "integer", "rule": "text", "manager_id": "integer",
                  "decision": "text", "reason": "text", "decided_at": "text"},
    "gift_cards": {"number": "text", "security_hash": "text", "initial_amount": "bigint",
                   "issued_at": "text", "store_id": "integer", "till_no": "integer"},
}


def _pipeline(conn: psycopg.Connection) -> Any:
    """psycopg's pipeline mode (statements sent together, one round trip per sync)
    when libpq supports it; otherwise nothing changes but the round trips."""
    import contextlib

    import psycopg

    return conn.pipeline() if psycopg.Pipeline.is_supported() else contextlib.nullcontext()


def _ticket_statement(uuid: str, ticket: dict[str, Any], lines: list[dict[str, Any]],
                      refunds: list[dict[str, Any]], payload: dict[str, Any]
                      ) -> tuple[str, list[Any]]:
    """ONE statement inserting the ticket (``ON CONFLICT (uuid) DO NOTHING``), then,
    only when it was inserted, its lines, refunds, approvals and gift cards, and
    confirming its reservation (holds deleted). It returns the ticket's id, or no
    row when a concurrent push of the same uuid won the insert."""
    names = [c for c in _TICKET_COLS if c in ticket]
    params: list[Any] = [_plain(ticket[c]) for c in names]
    parts = [f"t AS (INSERT INTO return_tickets ({', '.join(names)}) "
             f"VALUES ({', '.join(['%s'] * len(names))}) "
             "ON CONFLICT (uuid) DO NOTHING RETURNING id)"]

    def rows(table: str, key: str, items: list[dict[str, Any]], suffix: str = "") -> None:
        types = _COL_TYPES[table]
        for item in items:
            cols = [c for c in types if c in item]
            parts.append(
                f"{table[:2]}{len(parts)} AS (INSERT INTO {table} ({key}, {', '.join(cols)}) "
                f"SELECT t.id, {', '.join(f'%s::{types[c]}' for c in cols)} FROM t{suffix})")
            params.extend(_plain(item[c]) for c in cols)

    rows("return_lines", "ticket_id", [{"line_no": n, **line} for n, line in enumerate(lines, 1)])
    rows("refunds", "ticket_id", refunds)
    rows("approvals", "ticket_id",
         [{"decided_at": ticket["created_at"], **a} for a in payload.get("approvals") or []])
    cards = []
    for g in payload.get("gift_cards") or []:
        card = {"store_id": ticket["store_id"], "till_no": ticket["till_no"],
                "issued_at": ticket["created_at"], **g}
        card.setdefault("initial_amount", card.get("amount", 0))
        cards.append(card)
    rows("gift_cards", "issued_ticket_id", cards, " ON CONFLICT (number) DO NOTHING")
    parts.append(
        "s AS (UPDATE reservations SET status = 'confirmed', settled_at = now(), "
        "settled_by = 'push' WHERE uuid = %s AND status = 'reserved' AND EXISTS "
        "(SELECT 1 FROM t) RETURNING uuid), "
        "sl AS (DELETE FROM reservation_lines WHERE uuid IN (SELECT uuid FROM s)), "
        "st AS (DELETE FROM reservation_tenders WHERE uuid IN (SELECT uuid FROM s))")
    params.append(uuid)
    return "WITH " + ", ".join(parts) + " SELECT id FROM t", params


_STAFF_COLS = ("id", "code", "name", "role", "store_id", "pin_hash", "active", "seal")
PIN_EVENT_KINDS = ("failed", "lockout", "ok", "unlock")


def _pin_event_trusted(conn: psycopg.Connection, uuid: str, payload: dict[str, Any], *,
                      store_id: int, till_no: int) -> bool:
    """A PIN event signed by the journal key HQ last anchored for this till."""
    import hashlib
    import json

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = bytes.fromhex(str(payload.get("public_key", "")))
        signature = bytes.fromhex(str(payload.get("signature", "")))
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return False
    anchored = conn.execute(
        "SELECT fingerprint FROM journal_anchors WHERE store_id = %s AND till_no = %s "
        "ORDER BY id DESC LIMIT 1", [store_id, till_no]).fetchone()
    if anchored is None or anchored[0] != hashlib.sha256(raw).hexdigest():
        return False
    body = json.dumps({"uuid": uuid, **{k: payload.get(k) for k in ("staff_id", "kind", "at")}},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        key.verify(signature, body.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


def receive_pin_event(conn: psycopg.Connection, uuid: str, payload: dict[str, Any], *,
                      store_id: int, till_no: int) -> Answer:
    """A till's wrong PIN, lockout, reset of the count or unlock: counted once per
    staff member across the chain (``hq_pin_event``), pulled back by every till. What
    only restricts (a wrong PIN, a lockout) is taken from any till; what lifts (a reset
    of the count, an unlock) only signed by a till HQ anchored — else kept, refused."""
    kind = str(payload.get("kind", ""))
    staff_id = int(payload["staff_id"])
    if kind not in PIN_EVENT_KINDS:
        raise ValueError(f"unknown PIN event {kind!r}")
    trusted = kind in ("failed", "lockout") or _pin_event_trusted(
        conn, uuid, payload, store_id=store_id, till_no=till_no)
    with conn.transaction():
        if not trusted:
            conn.execute(
                "INSERT INTO staff_pin_events (uuid, staff_id, store_id, till_no, kind, at, "
                "refused) VALUES (%s, %s, %s, %s, %s, %s, 'unsigned') "
                "ON CONFLICT (uuid) DO NOTHING",
                [uuid, staff_id, store_id, till_no, kind, str(payload.get("at", ""))])
            return Answer("conflict")  # flagged in the till's review
        conn.execute(
            "SELECT hq_pin_event(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [uuid, staff_id, store_id, till_no, kind, str(payload.get("at", "")), "",
             int(payload.get("max", 5)), int(payload.get("lock_minutes", 15))],
        )
    return Answer("ok")
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
    if kind == "pin_event":  # pos_returns.usecases.auth: a wrong PIN, a lockout, an unlock
        return receive_pin_event(conn, uuid, payload, store_id=store_id, till_no=till_no)
    if kind == "staff_change":  # pos_returns.usecases.staff: an account changed at a till
        staff = dict(payload.get("staff") or {})
        if staff.get("id") and staff.get("code"):
            with conn.transaction():
                _insert_dict(
                    conn, "staff", _STAFF_COLS, staff,
                    on_conflict="ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, "
                    "name = EXCLUDED.name, role = EXCLUDED.role, store_id = EXCLUDED.store_id, "
                    "pin_hash = EXCLUDED.pin_hash, active = EXCLUDED.active, "
                    "seal = EXCLUDED.seal",
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


# -- chain heads anchored at HQ (issue 12) ------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """The last head HQ anchored for a till: (seq, record hash, key fingerprint)."""

    seq: int
    record_hash: str
    fingerprint: str


@dataclass(frozen=True)
class AnchorAnswer:
    """``ok`` (anchored, or nothing new), or the alert raised: ``rollback`` (the till
    reports a head behind the anchor), ``fork`` (its record at the anchored number is
    not the anchored one), ``key`` (another key signs its chain)."""

    status: str
    anchor: Anchor | None = None
    alert_id: int | None = None


def last_anchor(conn: psycopg.Connection, store_id: int, till_no: int) -> Anchor | None:
    """The head HQ last anchored for the till (None: none yet)."""
    row = conn.execute(
        "SELECT seq, record_hash, fingerprint FROM journal_anchors "
        "WHERE store_id = %s AND till_no = %s ORDER BY id DESC LIMIT 1",
        [store_id, till_no],
    ).fetchone()
    return Anchor(int(row[0]), str(row[1]), str(row[2])) if row else None


def open_alerts(conn: psycopg.Connection, store_id: int | None = None,
                till_no: int | None = None) -> list[dict[str, Any]]:
    """The anchoring alerts no manager has resolved yet."""
    where, params = "resolved_at IS NULL", []
    if store_id is not None:
        where += " AND store_id = %s"
        params.append(store_id)
    if till_no is not None:
        where += " AND till_no = %s"
        params.append(till_no)
    cur = conn.execute(
        "SELECT id, store_id, till_no, kind, anchored_seq, anchored_hash, reported_seq, "
        f"reported_hash, reported_fingerprint FROM journal_anchor_alerts WHERE {where} "
        "ORDER BY id", params,
    )
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def anchor_head(
    conn: psycopg.Connection, *, store_id: int, till_no: int, seq: int, record_hash: str,
    signature: str, fingerprint: str, at_seq: int, at_hash: str,
) -> AnchorAnswer:
    """Anchor a till's chain head, if it extends the last one anchored.

    ``at_seq``/``at_hash``: the number HQ last anchored (as the till read it from
    :func:`last_anchor`) and the hash of the till's own record at that number. The
    new head extends the anchor when the till still holds the anchored record
    unchanged and is not behind it, with the same key. Otherwise an alert is raised
    (once per kind and reported head) and stays until a manager resolves it
    (:func:`resolve_alert`); the head is not anchored.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [store_id * 1000 + till_no])
        last = last_anchor(conn, store_id, till_no)
        kind = ""
        if last is not None:
            if fingerprint != last.fingerprint:
                kind = "key"
            elif seq < last.seq:
                kind = "rollback"
            elif at_seq != last.seq or at_hash != last.record_hash:
                kind = "fork"
            elif seq == last.seq:
                return AnchorAnswer("ok", last)  # nothing new
        if kind:
            assert last is not None
            prior = conn.execute(
                "SELECT id FROM journal_anchor_alerts WHERE store_id = %s AND till_no = %s "
                "AND resolved_at IS NULL AND kind = %s AND reported_seq = %s "
                "AND reported_hash = %s",
                [store_id, till_no, kind, seq, record_hash],
            ).fetchone()
            alert_id = int(prior[0]) if prior else int(conn.execute(
                "INSERT INTO journal_anchor_alerts (store_id, till_no, kind, anchored_seq, "
                "anchored_hash, reported_seq, reported_hash, reported_fingerprint) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [store_id, till_no, kind, last.seq, last.record_hash, seq, record_hash,
                 fingerprint],
            ).fetchone()[0])
            return AnchorAnswer(kind, last, alert_id)
        conn.execute(
            "INSERT INTO journal_anchors (store_id, till_no, seq, record_hash, signature, "
            "fingerprint) VALUES (%s, %s, %s, %s, %s, %s)",
            [store_id, till_no, seq, record_hash, signature, fingerprint],
        )
    return AnchorAnswer("ok", Anchor(seq, record_hash, fingerprint))


def resolve_alert(conn: psycopg.Connection, alert_id: int, *, manager_id: int, note: str,
                  rebase: bool = False) -> None:
    """A manager resolves an anchoring alert (with a written note). With ``rebase``
    the head the till reported becomes the new anchor (e.g. after a restore whose
    tickets were pulled back): later heads must extend it."""
    if not (note or "").strip():
        raise ValueError("a resolution needs a note")
    with conn.transaction():
        row = conn.execute(
            "UPDATE journal_anchor_alerts SET resolved_at = now(), resolved_by = %s, "
            "resolution = %s WHERE id = %s AND resolved_at IS NULL "
            "RETURNING store_id, till_no, reported_seq, reported_hash, reported_fingerprint",
            [manager_id, note.strip(), alert_id],
        ).fetchone()
        if row is not None and rebase:
            conn.execute(
                "INSERT INTO journal_anchors (store_id, till_no, seq, record_hash, signature, "
                "fingerprint, rebased) VALUES (%s, %s, %s, %s, '', %s, true)",
                list(row),
            )
