"""The ticket writer: commits a :class:`~pos_returns.engine.plan.ReturnPlan` as a return
ticket, all or nothing, with its journal record.

One ``BEGIN IMMEDIATE`` transaction (:func:`pos_returns.cache.db.atomic`) holds:

* the plan decided again by the engine from the cache (with the manager decisions
  it carries): any difference in a verdict, an amount, a fee, a refund's route or a
  gift card refuses the ticket — the writer records only what the engine decides;
* a re-check against the quantities *derived* from the cache, under the write
  lock: no sale line gets back more than was sold (nor more money than it was
  paid), no tender more than it paid minus earlier refunds — except the card of
  R05, whose refund says so (``beyond_original``) and which is bounded by what
  the whole sale was paid. Two processes committing against the same cache
  serialise on the lock, so the second one sees the first one's lines and is
  refused (:class:`~pos_returns.errors.Conflict`) instead of over-returning;
* the next ticket number of the till (max + 1: gap-free, since a rolled-back
  transaction takes its number with it);
* the ticket, its lines, approvals, refunds and the gift cards issued;
* the signed journal record of the ticket (and one ``override`` record per
  manager decision);
* the outbox document for HQ (with the sale line and tender ids, so HQ can
  refuse an over-return made from two tills offline).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache import giftcards, outbox
from pos_returns.cache import jewelry as jewelry_records
from pos_returns.cache.db import atomic
from pos_returns.cache.guards import guard_block
from pos_returns.engine import jewelry, vat
from pos_returns.engine.domain import Role, Staff, StaffId, Store, StoreId
from pos_returns.engine.plan import CommittedTicket, ReturnPlan
from pos_returns.engine.refunds import gift_card_total
from pos_returns.errors import (
    Conflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PolicyRefused,
)
from pos_returns.failures import french_failures
from pos_returns.i18n import _, format_date, format_money, to_local
from pos_returns.journal import digest
from pos_returns.journal.anchor import integrity_block
from pos_returns.journal.chain import Journal
from pos_returns.journal.records import TICKET, JournalRecord
from pos_returns.usecases import auth, card_payments, idcheck, jewelry_mode, planning

if TYPE_CHECKING:
    from pos_returns.config import TillConfig


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- checks


def _validate(plan: ReturnPlan) -> None:
    """Checks that need no database: a plan that could only be a programming error."""
    if not plan.lines:
        raise InvalidInput(_("A return ticket needs at least one line."), code="empty")
    line_nos = [line.line_no for line in plan.lines]
    if len(set(line_nos)) != len(line_nos):
        raise InvalidInput(_("Two lines of this return have the same number."), code="line_no")
    for line in plan.lines:
        if line.quantity <= 0 or line.unit_amount < 0:
            raise InvalidInput(
                _("Line {line}: the quantity and the amount must be positive.").format(
                    line=line.line_no
                ),
                code="quantity",
            )
        if line.direction == "return":
            if line.amount > 0:
                raise InvalidInput(
                    _("Line {line}: a returned line is credited (negative amount).").format(
                        line=line.line_no
                    ),
                    code="amount",
                )
            if plan.request.sale_id is not None and line.sale_line_id is None:
                raise InvalidInput(
                    _("Line {line} does not name the sale line it returns.").format(
                        line=line.line_no
                    ),
                    code="sale_line",
                )
        elif line.direction == "sale":
            if line.amount < 0 or line.sale_line_id is not None:
                raise InvalidInput(
                    _("Line {line}: a new item of an exchange is charged.").format(
                        line=line.line_no
                    ),
                    code="amount",
                )
        else:
            raise InvalidInput(
                _("Line {line}: unknown direction.").format(line=line.line_no), code="direction"
            )
    total = sum(r.amount for r in plan.refunds)
    if total != plan.net:
        raise InvalidInput(
            _("The refunds ({refunds}) do not add up to the ticket's net amount ({net}).").format(
                refunds=format_money(total), net=format_money(plan.net)
            ),
            code="refund_total",
        )
    for r in plan.refunds:
        if r.sale_tender_id is not None and r.amount <= 0:
            raise InvalidInput(
                _("A refund onto a payment of the sale must be positive."), code="refund"
            )
        if r.new_gift_card and r.amount <= 0:
            raise InvalidInput(_("A gift card is issued for a positive amount."), code="refund")
        if r.sale_tender_id is not None and plan.request.sale_id is None:
            raise InvalidInput(
                _("A return without a record of sale cannot go back to a payment."),
                code="refund",
            )
    for a in plan.approvals:
        if a.decision not in ("approved", "refused") or not (a.reason or "").strip():
            raise InvalidInput(
                _("A manager's decision needs a written reason (R01)."), code="approval"
            )


def _check_approvers(db: Database, plan: ReturnPlan) -> None:
    ids = sorted({a.manager_id for a in plan.approvals})
    if not ids:
        return
    rows = dict(
        db.execute(
            f"SELECT id, role FROM staff WHERE active = 1 AND id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
    )
    for manager_id in ids:
        if rows.get(manager_id) != Role.MANAGER.value:
            raise PermissionDenied(
                _("Only a manager can approve or refuse a return."), code="approval"
            )


def _recheck(db: Database, plan: ReturnPlan) -> None:
    """Under the write lock: nothing comes back more than it was sold or paid, counted
    on rows the signature still covers."""
    _check_earlier_tickets(db, plan.request.sale_id)
    _recheck_lines(db.conn, plan)
    _recheck_tenders(db.conn, plan)


def _check_earlier_tickets(db: Database, sale_id: int | None) -> None:
    """This till's earlier tickets of the same sale hold the rows their signed records
    describe (issue 12, audit round 3): a returned line freed or an amount lowered in
    the file, behind the guards, would let the same line be refunded again."""
    if sale_id is None:
        return
    conn = db.conn
    tickets = conn.execute(  # two index lookups (an OR would scan every return line)
        "SELECT t.id, t.uuid FROM return_tickets t WHERE t.sale_id = ? AND t.origin = 'local' "
        "UNION SELECT t.id, t.uuid FROM sale_lines l JOIN return_lines r "
        "ON r.sale_line_id = l.id JOIN return_tickets t ON t.id = r.ticket_id "
        "WHERE l.sale_id = ? AND t.origin = 'local'", [sale_id, sale_id]).fetchall()
    for ticket_id, uuid in tickets:
        record = conn.execute(  # "!= ''" lets SQLite use the partial index journal_ticket
            "SELECT payload FROM journal WHERE ticket_uuid = ? AND ticket_uuid != '' "
            "AND kind = ? ORDER BY seq LIMIT 1", [uuid, TICKET]).fetchone()
        signed = json.loads(record[0]).get("rows") if record else None
        if record is None or (isinstance(signed, dict) and any(
                signed.get(part) != value for part, value in digest.ticket_rows(
                    db, ticket_id, signed.get("v")).items()
                if part in signed and part not in digest.ID_PARTS)):  # ID rows: RGPD purge
            raise IntegrityFailure(
                _("An earlier return of this sale no longer holds what its signed record "
                  "says (the till's file was changed): nothing is refunded on this sale. "
                  "A manager must run pos-returns journal verify and call support."),
                code="rows",
            )


def _recheck_lines(conn: Any, plan: ReturnPlan) -> None:
    """No sale line comes back more than it was sold, nor is refunded more than paid."""
    sale_id = plan.request.sale_id
    wanted_qty: dict[int, int] = defaultdict(int)
    wanted_amount: dict[int, int] = defaultdict(int)
    for line in plan.lines:
        if line.direction == "return" and line.sale_line_id is not None:
            wanted_qty[line.sale_line_id] += line.quantity
            wanted_amount[line.sale_line_id] += -line.amount
    if wanted_qty:
        ids = sorted(wanted_qty)
        rows = conn.execute(
            "SELECT l.id, l.sale_id, l.line_no, l.sku, l.quantity, l.unit_price, "
            "(SELECT COALESCE(SUM(r.quantity), 0) FROM return_lines r "
            "  WHERE r.sale_line_id = l.id AND r.direction = 'return'), "
            "(SELECT COALESCE(-SUM(r.amount), 0) FROM return_lines r "
            "  WHERE r.sale_line_id = l.id AND r.direction = 'return') "
            f"FROM sale_lines l WHERE l.id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
        found = {r[0]: r for r in rows}
        for line_id in ids:
            row = found.get(line_id)
            if row is None or row[1] != sale_id:
                raise InvalidInput(
                    _("A line of this return is not a line of the sale."), code="sale_line"
                )
            _id, _sale, line_no, sku, sold, unit_price, returned, refunded = row
            if returned + wanted_qty[line_id] > sold:
                raise Conflict(
                    _(
                        "Line {line} ({sku}) was already returned: {returned} of {sold} "
                        "sold, perhaps at another till. Look the sale up again."
                    ).format(line=line_no, sku=sku, returned=returned, sold=sold),
                    code="over_return",
                )
            if refunded + wanted_amount[line_id] > sold * unit_price:
                raise Conflict(
                    _(
                        "Line {line} ({sku}) would be refunded more than it was paid "
                        "({paid}). Look the sale up again."
                    ).format(line=line_no, sku=sku, paid=format_money(sold * unit_price)),
                    code="over_refund",
                )


def _recheck_tenders(conn: Any, plan: ReturnPlan) -> None:
    """No payment takes back more than it paid (R05's card credit aside), nor the sale
    more than all its payments."""
    sale_id = plan.request.sale_id
    to_tenders = [r for r in plan.refunds if r.sale_tender_id is not None]
    if not to_tenders:
        return
    tenders = {
        r[0]: r
        for r in conn.execute(
            "SELECT t.id, t.kind, t.amount, "
            "(SELECT COALESCE(SUM(f.amount), 0) FROM refunds f WHERE f.sale_tender_id = t.id) "
            "FROM tenders t WHERE t.sale_id = ?",
            [sale_id],
        )
    }
    kinds = {row[1] for row in tenders.values()}
    r05_sale = "card" in kinds and bool(kinds & {"gift_card", "notes"})
    wanted: dict[int, int] = defaultdict(int)
    beyond: set[int] = set()
    for r in to_tenders:
        assert r.sale_tender_id is not None
        tender = tenders.get(r.sale_tender_id)
        if tender is None:
            raise InvalidInput(
                _("A refund names a payment that is not one of this sale's."), code="tender"
            )
        wanted[r.sale_tender_id] += r.amount
        if r.beyond_original:
            if not (r05_sale and tender[1] == "card"):
                raise InvalidInput(
                    _(
                        "Only the card of a sale paid with a card and a gift card or Notes "
                        "may be credited beyond its charge (R05)."
                    ),
                    code="beyond_original",
                )
            beyond.add(r.sale_tender_id)
    for tender_id, amount in wanted.items():
        _tid, kind, paid, refunded = tenders[tender_id]
        if tender_id not in beyond and refunded + amount > paid:
            raise Conflict(
                _(
                    "This payment ({kind}) cannot take back {amount}: it paid {paid} and "
                    "{refunded} were already refunded, perhaps at another till. "
                    "Look the sale up again."
                ).format(
                    kind=kind, amount=format_money(amount), paid=format_money(paid),
                    refunded=format_money(refunded),
                ),
                code="over_refund",
            )
    paid_total = sum(row[2] for row in tenders.values())
    refunded_total = sum(row[3] for row in tenders.values())
    if refunded_total + sum(wanted.values()) > paid_total:
        raise Conflict(
            _(
                "This sale's payments cannot take back {amount}: {paid} were paid and "
                "{refunded} already refunded. Look the sale up again."
            ).format(
                amount=format_money(sum(wanted.values())), paid=format_money(paid_total),
                refunded=format_money(refunded_total),
            ),
            code="over_refund",
        )


# --------------------------------------------------------------------------- commit


def vat_breakdown(lines: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per VAT rate (basis points, as text): TTC, HT and VAT of the ticket, exactly as
    the printed ticket shows them (:func:`pos_returns.engine.vat.vat_by_rate`: restocking fees
    at their line's rate, each rate summed then split once)."""
    return vat.as_record(vat.vat_by_rate(vat.line_amounts(lines)))


def _sale_reference(conn: Any, sale_id: int | None) -> tuple[str, str, str]:
    """(receipt number, order number, sold at) of the sale returned; blanks without one."""
    if sale_id is None:
        return ("", "", "")
    row = conn.execute(
        "SELECT COALESCE(receipt_number, ''), COALESCE(order_number, ''), sold_at "
        "FROM sales WHERE id = ?",
        [sale_id],
    ).fetchone()
    if row is None:
        raise NotFound(_("This sale is not in the local cache."), code="sale")
    return (row[0], row[1], row[2])


def _next_number(conn: Any, store_id: int, till_no: int) -> int:
    """The till's next ticket number: gap-free, taken under the write lock."""
    return int(
        conn.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM return_tickets "
            "WHERE store_id = ? AND till_no = ?",
            [store_id, till_no],
        ).fetchone()[0]
    )


def _insert_ticket(conn: Any, plan: ReturnPlan, ticket_uuid: str, number: int,
                   created_at: str) -> int:
    req = plan.request
    cur = conn.execute(
        "INSERT INTO return_tickets(uuid, store_id, till_no, number, created_at, staff_id, "
        "sale_id, kind, gift, offline, refund_total, charge_total, net, restocking_fees, "
        "origin) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'local')",
        [
            ticket_uuid, req.store_id, req.till_no, number, created_at, req.staff_id,
            req.sale_id, plan.kind.value, int(req.gift), int(req.offline),
            plan.refund_total, plan.charge_total, plan.net, plan.restocking_fees,
        ],
    )
    return int(cur.lastrowid or 0)


def _insert_lines(conn: Any, ticket_id: int, plan: ReturnPlan) -> list[dict[str, Any]]:
    """The ticket's lines (returned and, for an exchange, new), as also journaled."""
    lines = [
        {
            "line_no": line.line_no,
            "direction": line.direction,
            "sale_line_id": line.sale_line_id,
            "sku": line.sku,
            "name": line.name,
            "department": line.department,
            "quantity": line.quantity,
            "unit_amount": line.unit_amount,
            "amount": line.amount,
            "vat_rate_bp": line.vat_rate_bp,
            "condition": str(line.condition),
            "reason": line.reason,
            "rule_codes": line.rule_codes,
            "restocking_fee": line.restocking_fee,
            "serial_number": line.serial_number,
        }
        for line in plan.lines
    ]
    conn.executemany(
        "INSERT INTO return_lines(ticket_id, line_no, direction, sale_line_id, sku, "
        "quantity, unit_amount, amount, vat_rate_bp, condition, reason, rule_codes, "
        "restocking_fee, serial_number) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                ticket_id, x["line_no"], x["direction"], x["sale_line_id"], x["sku"],
                x["quantity"], x["unit_amount"], x["amount"], x["vat_rate_bp"],
                x["condition"], x["reason"], x["rule_codes"], x["restocking_fee"],
                x["serial_number"],
            )
            for x in lines
        ],
    )
    return lines


def _insert_approvals(conn: Any, ticket_id: int, plan: ReturnPlan,
                      created_at: str) -> list[dict[str, Any]]:
    approvals = [
        {
            "line_no": a.line_no,
            "rule": a.rule,
            "manager_id": a.manager_id,
            "decision": a.decision,
            "reason": a.reason.strip(),
        }
        for a in plan.approvals
    ]
    conn.executemany(
        "INSERT INTO approvals(ticket_id, line_no, rule, manager_id, decision, reason, "
        "decided_at) VALUES (?,?,?,?,?,?,?)",
        [
            (ticket_id, a["line_no"], a["rule"], a["manager_id"], a["decision"],
             a["reason"], created_at)
            for a in approvals
        ],
    )
    return approvals


def _insert_refunds(
    db: Database, ticket_id: int, plan: ReturnPlan, secret: bytes, created_at: str,
    card_operations: Mapping[int, card_payments.CardOperation],
) -> tuple[list[dict[str, Any]], list[giftcards.IssuedGiftCard]]:
    """The refunds, tender by tender, and the one new gift card they load (R04); a card
    amount carries what the payment terminal confirmed (``card_operations``, by index)."""
    req = plan.request
    issued: list[giftcards.IssuedGiftCard] = []
    refunds: list[dict[str, Any]] = []
    # One new gift card per ticket (R04), however many tenders' legs it takes
    # back: each leg keeps its tender (for the chain's accounting) and names it.
    total_card = gift_card_total(plan.refunds)
    if total_card > 0:
        issued.append(giftcards.issue(
            db, secret=secret, amount=total_card, ticket_id=ticket_id,
            store_id=req.store_id, till_no=req.till_no, issued_at=created_at,
        ))
    for index, r in enumerate(plan.refunds):
        card_number = issued[0].number if r.new_gift_card and issued else ""
        refunds.append(
            {
                "kind": r.kind.value,
                "amount": r.amount,
                "sale_tender_id": r.sale_tender_id,
                "card_last4": r.card_last4,
                "gift_card_number": card_number,
                "new_gift_card": r.new_gift_card,
                "beyond_original": r.beyond_original,
                "rule_codes": ",".join(dict.fromkeys(x.rule for x in r.reasons)),
            }
        )
        op = card_operations.get(index)
        if op is not None:  # what the payment terminal said, under the signature
            refunds[-1].update(card_payments.refund_columns(op))
    empty = card_payments.refund_columns(None)
    db.conn.executemany(
        "INSERT INTO refunds(ticket_id, kind, amount, sale_tender_id, card_last4, "
        "gift_card_number, beyond_original, terminal_status, card_application, read_mode, "
        "transaction_id, auth_number, terminal_operation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (ticket_id, x["kind"], x["amount"], x["sale_tender_id"], x["card_last4"],
             x["gift_card_number"], int(x["beyond_original"]),
             *(x.get(k, v) for k, v in empty.items()))
            for x in refunds
        ],
    )
    return refunds, issued


def _ticket_payload(
    plan: ReturnPlan, ticket_uuid: str, number: int, created_at: str,
    sale_ref: tuple[str, str, str], lines: list[dict[str, Any]],
    refunds: list[dict[str, Any]], approvals: list[dict[str, Any]],
    issued: list[giftcards.IssuedGiftCard],
) -> dict[str, Any]:
    """The ticket as the journal signs it and HQ receives it."""
    req = plan.request
    return {
        "uuid": ticket_uuid,
        "number": number,
        "store_id": req.store_id,
        "till_no": req.till_no,
        "created_at": created_at,
        "staff_id": req.staff_id,
        "kind": plan.kind.value,
        "gift": bool(req.gift),
        "offline": bool(req.offline),
        "sale_id": req.sale_id,
        "sale_receipt_number": sale_ref[0],
        "sale_order_number": sale_ref[1],
        "sale_sold_at": sale_ref[2],
        "lines": lines,
        "refunds": refunds,
        "approvals": approvals,
        "gift_cards": [{"number": c.number, "amount": c.amount} for c in issued],
        "totals": {
            "refund_total": plan.refund_total,
            "charge_total": plan.charge_total,
            "restocking_fees": plan.restocking_fees,
            "net": plan.net,
            "vat_by_rate": vat_breakdown(lines),
        },
    }


def _journal_and_send(db: Database, journal: Journal, payload: dict[str, Any],
                      approvals: list[dict[str, Any]], moment: datetime,
                      token_ids: list[str]) -> JournalRecord:
    """Sign the ticket (and each override, with the token that proved it, now used)
    into the journal; queue it for HQ."""
    ticket_uuid = payload["uuid"]
    record = journal.append(TICKET, payload, ticket_uuid=ticket_uuid, now=moment)
    for a, token_id in zip(approvals, token_ids, strict=True):
        db.execute(
            "INSERT INTO approval_tokens(token_id, ticket_uuid, manager_id, rule, used_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [token_id, ticket_uuid, a["manager_id"], a["rule"], payload["created_at"]],
        )
        journal.append(
            "override",
            {"ticket_uuid": ticket_uuid, "ticket_number": payload["number"], **a,
             "token_id": token_id},
            ticket_uuid=ticket_uuid,
            now=moment,
        )
    head = journal.last()
    assert head is not None
    document = dict(payload)
    document["journal"] = {
        "seq": record.seq,
        "signature": record.signature,
        "key_id": record.key_id,
        "head_seq": head.seq,
        "head_signature": head.signature,
    }
    outbox.enqueue(db, kind="return_ticket", uuid=ticket_uuid, payload=document)
    return record


@french_failures
def commit_plan(
    db: Database,
    cfg: TillConfig,
    plan: ReturnPlan,
    *,
    journal: Journal | None = None,
    now: datetime | None = None,
    signature_png: bytes | None = None,
    card_operations: Mapping[int, card_payments.CardOperation] | None = None,
    ticket_uuid: str | None = None,
) -> CommittedTicket:
    """Commit ``plan`` as a return ticket, all or nothing; return what was written.

    A ticket that returns fine jewelry needs the customer's signature (PNG bytes,
    ``signature_png`` or else ``plan.request.signature_png``): it is kept in
    ``ticket_signatures`` with each piece's inspection, and its SHA-256 and the
    inspections go into the ticket's signed journal record (R14, pos_returns.engine.jewelry).
    ``ticket_uuid``: the uuid HQ reserved the lines under (else a new one).

    Raises :class:`PolicyRefused` for a plan still waiting for a manager, refused, or
    not what the engine decides for its request (decided again in the transaction:
    :func:`pos_returns.usecases.planning.require_decided`), :class:`Conflict` when the
    cache (e.g. another till's return, or a second process) already took back what
    the plan wants, :class:`InvalidInput` for an inconsistent plan.
    """
    if plan.blocked:
        raise PolicyRefused(
            _(
                "This return still waits for a manager's decision, or is refused: "
                "it cannot be committed."
            ),
            code="blocked",
        )
    _validate(plan)
    req = plan.request
    # a cache behind the head HQ anchored (a restored backup) refunds nothing until the
    # till has pulled its own tickets back; nor one behind the till's own head kept
    # beside its keys (a copy restored between two syncs, a tail deleted), nor when
    # one of those files is gone (issue 12, journal/anchor.py and journal/head.py)
    block = integrity_block(db, cfg.key_path, req.store_id, req.till_no)
    if block is not None:
        raise IntegrityFailure(block.message, code=block.code)

    jewel = jewelry.ticket_record(
        plan, signature_png if signature_png is not None else req.signature_png
    )
    if journal is None:
        journal = Journal.for_config(db, cfg, store_id=req.store_id, till_no=req.till_no)
    if (journal.store_id, journal.till_no) != (req.store_id, req.till_no):
        raise InvalidInput(_("This return is not for this till."), code="till")
    secret = b""
    if any(r.new_gift_card for r in plan.refunds):
        secret = journal.signer.derive_secret(giftcards.SECRET_LABEL)
    moment = now or datetime.now(UTC)
    created_at = _utc_text(moment)
    # The uuid HQ reserved the lines under, when it was asked (usecases/returns.py).
    ticket_uuid = str(ticket_uuid) if ticket_uuid else str(uuidlib.uuid4())
    card_operations = dict(card_operations or {})
    conn = db.conn
    with atomic(db):
        _check_guards(db)
        _refuse_closed_day(journal, moment)
        if conn.execute("SELECT 1 FROM staff WHERE id = ?", [req.staff_id]).fetchone() is None:
            raise NotFound(_("Unknown member of staff."), code="staff")
        _check_approvers(db, plan)
        # each approval's proof: this draft's, unexpired, unused; marked used (issue 12)
        token_ids = auth.check_approval_tokens(db, cfg, req, plan.approvals, now=moment)
        _recheck(db, plan)
        planning.require_decided(db, cfg, plan)  # only the engine's plan (issue 12)
        sale_ref = _sale_reference(conn, req.sale_id)
        number = _next_number(conn, req.store_id, req.till_no)
        ticket_id = _insert_ticket(conn, plan, ticket_uuid, number, created_at)
        lines = _insert_lines(conn, ticket_id, plan)
        approvals = _insert_approvals(conn, ticket_id, plan, created_at)
        refunds, issued = _insert_refunds(db, ticket_id, plan, secret, created_at,
                                          card_operations)
        if card_operations:  # now on this ticket (refused if another already carries one)
            card_payments.attach_to_ticket(db, cfg, card_operations, ticket_uuid)
        payload = _ticket_payload(plan, ticket_uuid, number, created_at, sale_ref, lines,
                                  refunds, approvals, issued)
        if jewel is not None:
            jewelry_mode.require_mode(db, plan)
            payload["jewelry"] = jewel.journal_payload()
            jewelry_records.store_ticket_record(db, ticket_uuid, jewel, created_at)
        _link_id_check(db, req, payload, plan.refund_total, moment)
        # every row just written, under the signature (format v3, journal/digest.py)
        payload["rows"] = {"v": digest.ROWS_VERSION, **digest.ticket_rows(db, ticket_id)}
        record = _journal_and_send(db, journal, payload, approvals, moment, token_ids)
        committed = CommittedTicket(
            ticket_id=ticket_id,
            uuid=ticket_uuid,
            number=number,
            store_id=req.store_id,
            till_no=req.till_no,
            created_at=created_at,
            plan=plan,
            gift_cards=tuple((c.number, c.security_code, c.amount) for c in issued),
            signature=record.signature,
        )
    return committed


def _refuse_closed_day(journal: Journal, moment: datetime) -> None:
    """No ticket dated in a day already closed, before its Z: a caller's ``now`` cannot
    slip a return into signed, closed figures (issue 12, forged requests). The last Z
    is read from its signed journal record. A ticket after the Z on the same calendar
    day belongs to the next day, as always."""
    last = journal.last_day_closure()
    day = to_local(moment).date()
    if last is not None and day.isoformat() <= last[0] and _utc_text(moment) < last[1]:
        raise PolicyRefused(
            _("The day {day} is closed (its Z closure is signed): no return can be dated "
              "in it.").format(day=format_date(day)),
            code="day_closed",
        )


def _check_guards(db: Database) -> None:
    """The guards of the fiscal tables as the migrations made them, read under the write
    lock (issue 12): a trigger dropped or a UNIQUE index added blocks every return."""
    guarded = guard_block(db)
    if guarded:
        raise IntegrityFailure(guarded, code="schema")


def _link_id_check(db: Database, req: Any, payload: dict[str, Any], amount: int,
                   moment: datetime) -> None:
    """The no-receipt return's identity check, tied to the ticket and counted for R19
    before the ticket's rows are digested (so the signature covers both); the record
    names the check and when it was made, so that a purge or an erasure explains it
    once it is gone."""
    check_uuid = getattr(req, "id_check_uuid", "")
    if not check_uuid:
        return
    check = idcheck.link_ticket(db, check_uuid, ticket_uuid=payload["uuid"], amount=amount,
                                now=moment)
    payload["id_check"] = {"uuid": check.uuid, "created_at": check.created_at}


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class TicketView:
    """Everything a printer (or a screen) needs about one committed ticket."""

    ticket: dict[str, Any]
    lines: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    gift_cards: list[dict[str, Any]]  # number, initial_amount (never the security code)
    staff: Staff | None
    store: Store | None
    sale: dict[str, Any] | None  # receipt_number, order_number, sold_at
    journal_seq: int | None = None
    signature: str = ""
    duplicates: int = 0  # DUPLICATA prints recorded so far
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        return str(self.ticket["uuid"])

    @property
    def number(self) -> int:
        return int(self.ticket["number"])


def get_ticket(db: Database, ticket: int | str) -> TicketView:
    """A committed ticket by id or uuid, with what a printer needs."""
    if isinstance(ticket, str) and not ticket.isdigit():
        rows = list(db.query("SELECT * FROM return_tickets WHERE uuid = ?", [ticket]))
    else:
        rows = list(db.query("SELECT * FROM return_tickets WHERE id = ?", [int(ticket)]))
    if not rows:
        raise NotFound(_("This return ticket does not exist."), code="ticket")
    t = rows[0]
    tid = t["id"]
    lines = list(
        db.query(
            "SELECT l.*, COALESCE(p.name, l.sku) AS name, COALESCE(p.department, '') AS "
            "department FROM return_lines l LEFT JOIN products p ON p.sku = l.sku "
            "WHERE l.ticket_id = ? ORDER BY l.line_no",
            [tid],
        )
    )
    refunds = list(db.query("SELECT * FROM refunds WHERE ticket_id = ? ORDER BY id", [tid]))
    approvals = list(
        db.query(
            "SELECT a.*, COALESCE(s.name, '') AS manager_name FROM approvals a "
            "LEFT JOIN staff s ON s.id = a.manager_id WHERE a.ticket_id = ? ORDER BY a.id",
            [tid],
        )
    )
    cards = list(
        db.query(
            "SELECT number, initial_amount, issued_at FROM gift_cards "
            "WHERE issued_ticket_id = ? ORDER BY rowid",
            [tid],
        )
    )
    staff = None
    srow = db.execute(
        "SELECT id, code, name, role, store_id FROM staff WHERE id = ?", [t["staff_id"]]
    ).fetchone()
    if srow:
        staff = Staff(StaffId(srow[0]), srow[1], srow[2], Role(srow[3]), StoreId(srow[4]))
    store = None
    st = db.execute(
        "SELECT id, code, name, address, postcode, city, siret, vat_number, has_fine_jewelry, "
        "latitude, longitude FROM stores WHERE id = ?",
        [t["store_id"]],
    ).fetchone()
    if st:
        store = Store(StoreId(st[0]), st[1], st[2], st[3], st[4], st[5], st[6], st[7],
                      bool(st[8]), st[9], st[10])
    sale = None
    if t["sale_id"] is not None:
        srow2 = db.execute(
            "SELECT COALESCE(receipt_number, ''), COALESCE(order_number, ''), sold_at "
            "FROM sales WHERE id = ?",
            [t["sale_id"]],
        ).fetchone()
        if srow2:
            sale = {"receipt_number": srow2[0], "order_number": srow2[1], "sold_at": srow2[2]}
    journal_seq, signature, duplicates = None, "", 0
    if db["journal"].exists():
        jrow = db.execute(
            "SELECT seq, signature FROM journal WHERE ticket_uuid = ? AND ticket_uuid != '' "
            "AND kind = 'ticket' ORDER BY seq LIMIT 1",  # != '': the partial index
            [t["uuid"]],
        ).fetchone()
        if jrow:
            journal_seq, signature = int(jrow[0]), str(jrow[1])
        duplicates = int(
            db.execute(
                "SELECT COUNT(*) FROM journal WHERE ticket_uuid = ? AND ticket_uuid != '' "
                "AND kind = 'duplicate'",
                [t["uuid"]],
            ).fetchone()[0]
        )
    return TicketView(
        ticket=t, lines=lines, refunds=refunds, approvals=approvals, gift_cards=cards,
        staff=staff, store=store, sale=sale, journal_seq=journal_seq, signature=signature,
        duplicates=duplicates,
    )


load_ticket = get_ticket


def reprint(
    db: Database,
    cfg: TillConfig,
    ticket_id: int,
    staff_id: int,
    *,
    journal: Journal | None = None,
) -> JournalRecord:
    """Record a reprint of ticket ``ticket_id``: a DUPLICATA journal record
    (its ``payload['copy']`` numbers the copies). Print the copy marked DUPLICATA."""
    view = get_ticket(db, ticket_id)
    if journal is None:
        journal = Journal.for_config(db, cfg)  # the till that reprints records it
    return journal.record_duplicate(int(view.ticket["id"]), staff_id)
