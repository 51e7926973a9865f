"""What a manager is asked to decide (R01), read from the engine's plan.

The manager's dialog shows these items and sends back one decision per item; the
UI never works out on its own which rules need a manager.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass

from pos_returns.engine.domain import Sale, TenderKind
from pos_returns.engine.plan import Approval, ReturnPlan, ReturnRequest, Verdict
from pos_returns.i18n import format_money

_DECISIVE = ("manager", "refused")


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """One point of the plan a manager decides: a line (``line_no``) or a refund (None)."""

    line_no: int | None
    rule: str
    what: str  # French: the article or the amount, and why


def pending_approvals(plan: ReturnPlan, scope: str = "lines") -> list[PendingApproval]:
    """Every point the engine wants a manager on: the lines (sale screen, ``scope``
    ``"lines"``), the refunds (``"refunds"``) or both (refund screen, ``"all"``: a
    decision made before the refund changed waits again there)."""
    items: list[PendingApproval] = []
    for pl in plan.lines if scope in ("lines", "all") else ():
        if pl.direction != "return" or pl.verdict == Verdict.ACCEPTED or not pl.overridable:
            continue  # accepted, or refused with no override possible (R14 elsewhere)
        # only what blocks: never an informational reason (R02, R03…) beside it
        decisive = [r for r in pl.reasons if r.level in _DECISIVE]
        rules = list(dict.fromkeys(r.rule for r in decisive)) or ["R01"]
        for rule in rules:
            messages = [r.message for r in decisive if r.rule == rule]
            what = f"{pl.name} — {messages[0]}" if messages else pl.name
            items.append(PendingApproval(pl.line_no, rule, what))
    for refund in plan.refunds if scope in ("refunds", "all") else ():
        if refund.needs_manager:
            rules = list(dict.fromkeys(r.rule for r in refund.reasons
                                       if r.level == "manager")) or ["R01"]
            for rule in rules:
                msg = next((r.message for r in refund.reasons
                            if r.rule == rule and r.level == "manager"), "")
                items.append(PendingApproval(
                    None, rule, f"{format_money(refund.amount)} — {msg}".strip(" —")))
    return items


def refusable_lines(plan: ReturnPlan) -> list[PendingApproval]:
    """R01: a manager may refuse a return the engine accepts: one item per returned line."""
    return [PendingApproval(pl.line_no, "R01", pl.name) for pl in plan.lines
            if pl.direction == "return"]


def must_print(plan_or_ticket: object) -> bool:
    """True when the ticket refunds money to a card: such tickets always print (the
    customer leaves with proof that the card was credited). Takes a
    :class:`~pos_returns.engine.plan.ReturnPlan`, a committed ticket (``.plan``) or
    anything with ``refunds``."""
    plan = getattr(plan_or_ticket, "plan", plan_or_ticket)
    refunds = getattr(plan, "refunds", ())
    return any(str(r.kind) == TenderKind.CARD and r.amount > 0 for r in refunds)


def manager_can_act(plan: ReturnPlan | None) -> bool:
    """Whether the manager key (F6) is offered: something a manager may approve, or a
    returned line they may still refuse (R01). A line nobody may override (a serial
    number that is not the piece sold, a jewel at a store without the department)
    offers nothing."""
    if plan is None:
        return False
    return bool(pending_approvals(plan, "lines")) or any(
        pl.direction == "return" and pl.verdict == Verdict.ACCEPTED for pl in plan.lines
    )


def sale_cards(sale: Sale | None) -> tuple[str, ...]:
    """The last four digits of every card that paid ``sale`` ("" for a card read without
    them): what :func:`draft_digest` needs to tell a card presented from the sale's own."""
    if sale is None:
        return ()
    return tuple(t.card_last4 or "" for t in sale.tenders if t.kind == TenderKind.CARD)


def _card_presented(request: ReturnRequest, cards: Collection[str]) -> str:
    """The card presented, as far as it decides where the money goes: presenting the one
    card that paid the sale sends it where no card presented sends it (that card, after
    a manager's R03 decision), so both count as the sale's own card (""). Any other card,
    or one among several, counts as itself."""
    card = request.presented_card_last4.strip()
    if card and set(cards) == {card}:
        return ""
    return card


def draft_digest(request: ReturnRequest, cards: Collection[str] = ()) -> str:
    """What a manager's approval is bound to (issue 12): everything in the request that
    changes the outcome or where the money goes — the till, the salesperson, the sale,
    the gift flag, every line asked back (sale line or SKU, quantity, condition, reason,
    serial, the fine-jewelry checklist), the new items and how the customer pays for
    them, a gift card asked for, the card presented (``cards``: :func:`sale_cards` of
    the sale; the sale's own card counts as none presented), the fine-jewelry mode and
    proof (packing slip, card fingerprint), the ID check and the search of a return
    without a record of sale. Left out: the approvals themselves, ``offline`` (set once
    HQ answered), the R19 history (read again from the ID check at commit) and the
    customer's signature (collected after the decision; it changes no verdict). A token
    granted for one draft is worthless for another."""
    draft = {
        "v": 2,
        "store": request.store_id, "till": request.till_no, "staff": request.staff_id,
        "sale": request.sale_id, "gift": bool(request.gift),
        "lines": [[lr.sale_line_id, lr.sku, lr.quantity, str(lr.condition), lr.reason,
                   lr.serial_number.strip(),
                   lr.inspection.as_record() if lr.inspection is not None else None]
                  for lr in request.lines],
        "new": [[i.sku, i.quantity] for i in request.new_items],
        "pays": str(request.exchange_payment_kind),
        "gift_card": bool(request.prefer_gift_card),
        "card": _card_presented(request, cards),
        "jewelry": [bool(request.jewelry_mode), request.packing_slip.strip(),
                    request.presented_card_fingerprint],
        "no_receipt": [request.id_check_uuid, bool(request.id_checked),
                       bool(request.other_ways_searched)],
    }
    data = json.dumps(draft, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def bound_approvals(request: ReturnRequest, cards: Collection[str] = ()) -> tuple[Approval, ...]:
    """The request's manager decisions granted for this very draft. A decision made
    before the return changed (a line, a gift card asked for, another card presented…)
    is dropped: the plan then shows what waits for a manager again, and the manager
    decides on what the customer now gets. The commit checks the tokens themselves."""
    digest = draft_digest(request, cards)
    return tuple(a for a in request.approvals if a.draft == digest)
