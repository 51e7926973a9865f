"""Demo returns: a history of realistic return tickets for the manager's screens.

:func:`add_demo_returns` picks sales from the demo cache and commits returns
through the real engine (:func:`pos_returns.policy.plan_return`) and the real
ticket writer (:func:`pos_returns.tickets.commit_plan`): receipt returns, gift
receipts, split tenders, a partial return then the rest, exchanges, and a few
manager overrides (with a PIN-checked manager and a written reason), spread
over the last days.

:func:`direct_plan` builds a plan without the policy engine (every line
accepted, refunds onto the sale's tenders in order): for tests of the writer
and the reliability test's child process.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlite_utils import Database

from .domain import TenderKind
from .errors import AlamaraError
from .lookup import get_sale
from .plan import (
    Approval,
    LineRequest,
    NewItem,
    PlannedLine,
    PlannedRefund,
    ReturnPlan,
    ReturnRequest,
    TicketKind,
    Verdict,
)

if TYPE_CHECKING:
    from .config import TillConfig


def direct_plan(
    db: Database,
    *,
    sale_id: int | None,
    picks: Sequence[tuple[int, int]] = (),
    store_id: int = 1,
    till_no: int = 1,
    staff_id: int = 1,
    refunds: Sequence[PlannedRefund] | None = None,
    gift: bool = False,
    new_items: Sequence[tuple[str, int]] = (),
    approvals: Sequence[Approval] = (),
    no_receipt_skus: Sequence[tuple[str, int]] = (),
) -> ReturnPlan:
    """A plan built by hand (no policy): ``picks`` are (sale line id, quantity).

    Returned lines are credited the price paid; new items (exchange) are charged
    their current price; when ``refunds`` is None the net goes onto the sale's
    tenders in their order, up to what each can still take back, and any rest
    (or a gift, or no sale) onto a new gift card; a negative net is paid by card.
    """
    sale = get_sale(db, sale_id) if sale_id is not None else None
    lines: list[PlannedLine] = []
    requests: list[LineRequest] = []
    n = 0
    for line_id, qty in picks:
        assert sale is not None
        sl = sale.line(line_id)
        n += 1
        lines.append(
            PlannedLine(
                line_no=n, direction="return", sku=sl.sku, name=sl.name,
                department=str(sl.department), quantity=qty, unit_amount=sl.unit_price,
                amount=-qty * sl.unit_price, vat_rate_bp=sl.vat_rate_bp,
                verdict=Verdict.ACCEPTED, sale_line_id=sl.id, reason="changed_mind",
                condition="new_with_tags",
            )
        )
        requests.append(LineRequest(quantity=qty, sale_line_id=sl.id, reason="changed_mind"))
    for sku, qty in no_receipt_skus:
        row = db.execute(
            "SELECT name, department, vat_rate_bp, current_price FROM products WHERE sku = ?",
            [sku],
        ).fetchone()
        n += 1
        lines.append(
            PlannedLine(
                line_no=n, direction="return", sku=sku, name=row[0], department=row[1],
                quantity=qty, unit_amount=row[3], amount=-qty * row[3], vat_rate_bp=row[2],
                verdict=Verdict.ACCEPTED,
            )
        )
        requests.append(LineRequest(quantity=qty, sku=sku))
    for sku, qty in new_items:
        row = db.execute(
            "SELECT name, department, vat_rate_bp, current_price FROM products WHERE sku = ?",
            [sku],
        ).fetchone()
        n += 1
        lines.append(
            PlannedLine(
                line_no=n, direction="sale", sku=sku, name=row[0], department=row[1],
                quantity=qty, unit_amount=row[3], amount=qty * row[3], vat_rate_bp=row[2],
                verdict=Verdict.ACCEPTED,
            )
        )
    request = ReturnRequest(
        store_id=store_id, till_no=till_no, staff_id=staff_id, sale_id=sale_id,
        lines=tuple(requests), new_items=tuple(NewItem(s, q) for s, q in new_items),
        gift=gift, approvals=tuple(approvals),
    )
    kind = (
        TicketKind.EXCHANGE if new_items
        else TicketKind.NO_RECEIPT if sale is None else TicketKind.RECEIPT
    )
    plan = ReturnPlan(request=request, kind=kind, lines=tuple(lines), refunds=(),
                      approvals=tuple(approvals))
    if refunds is None:
        refunds = _route(plan.net, sale, gift)
    return replace(plan, refunds=tuple(refunds))


def _route(net: int, sale, gift: bool) -> list[PlannedRefund]:  # type: ignore[no-untyped-def]
    if net == 0:
        return []
    if net < 0:
        return [PlannedRefund(kind=TenderKind.CARD, amount=net, card_last4="4242")]
    if sale is None or gift:
        return [PlannedRefund(kind=TenderKind.GIFT_CARD, amount=net, new_gift_card=True)]
    out: list[PlannedRefund] = []
    left = net
    for t in sale.tenders:
        room = max(0, t.amount - t.refunded)
        take = min(room, left)
        if take <= 0:
            continue
        stored = t.kind in (TenderKind.GIFT_CARD, TenderKind.NOTES)
        out.append(
            PlannedRefund(
                kind=TenderKind.GIFT_CARD if stored else t.kind, amount=take,
                sale_tender_id=t.id, card_last4=t.card_last4, new_gift_card=stored,
            )
        )
        left -= take
        if left == 0:
            break
    if left:
        out.append(PlannedRefund(kind=TenderKind.GIFT_CARD, amount=left, new_gift_card=True))
    return out
