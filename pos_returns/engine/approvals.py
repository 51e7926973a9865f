"""What a manager is asked to decide (R01), read from the engine's plan.

The manager's dialog shows these items and sends back one decision per item; the
UI never works out on its own which rules need a manager.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pos_returns.engine.domain import TenderKind
from pos_returns.engine.plan import ReturnPlan, ReturnRequest, Verdict
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
    ``"lines"``) or the refunds (refund screen, ``"refunds"``)."""
    items: list[PendingApproval] = []
    for pl in plan.lines if scope == "lines" else ():
        if pl.direction != "return" or pl.verdict == Verdict.ACCEPTED or not pl.overridable:
            continue  # accepted, or refused with no override possible (R14 elsewhere)
        # only what blocks: never an informational reason (R02, R03…) beside it
        decisive = [r for r in pl.reasons if r.level in _DECISIVE]
        rules = list(dict.fromkeys(r.rule for r in decisive)) or ["R01"]
        for rule in rules:
            messages = [r.message for r in decisive if r.rule == rule]
            what = f"{pl.name} — {messages[0]}" if messages else pl.name
            items.append(PendingApproval(pl.line_no, rule, what))
    for refund in plan.refunds if scope == "refunds" else ():
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


def draft_digest(request: ReturnRequest) -> str:
    """What a manager's approval is bound to (issue 12): the till, the salesperson, the
    sale, every line asked back (sale line or SKU, quantity, condition, reason, serial)
    and the new items — the amounts follow from them and the sale. A token granted
    for one draft is worthless for another."""
    draft = {
        "store": request.store_id, "till": request.till_no, "staff": request.staff_id,
        "sale": request.sale_id, "gift": bool(request.gift),
        "lines": [[lr.sale_line_id, lr.sku, lr.quantity, str(lr.condition), lr.reason,
                   lr.serial_number] for lr in request.lines],
        "new": [[i.sku, i.quantity] for i in request.new_items],
    }
    data = json.dumps(draft, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
