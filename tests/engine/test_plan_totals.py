"""The plan's totals the till announces (issue 16): a line that waits for a manager or
is refused is never in the amount shown as « À rembourser »."""

from __future__ import annotations

from pos_returns.engine.plan import (
    PlannedLine,
    ReturnPlan,
    ReturnRequest,
    TicketKind,
    Verdict,
)

REQUEST = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=1, lines=())


def line(n: int, amount: int, verdict: Verdict, *, direction: str = "return",
         fee: int = 0) -> PlannedLine:
    return PlannedLine(line_no=n, direction=direction, sku=f"SKU-{n}", name=f"item {n}",
                       department="women", quantity=1, unit_amount=abs(amount),
                       amount=amount, vat_rate_bp=2000, verdict=verdict, restocking_fee=fee)


def plan(*lines: PlannedLine) -> ReturnPlan:
    return ReturnPlan(request=REQUEST, kind=TicketKind.RECEIPT, lines=lines, refunds=())


def test_R13_a_refused_line_is_not_in_the_accepted_net():
    p = plan(line(1, -7900, Verdict.ACCEPTED), line(2, -170000, Verdict.REFUSED))
    assert p.net == 177900  # what the whole request would be
    assert p.accepted_net == 7900  # what the till announces
    assert p.waiting_total == 170000
    assert [pl.line_no for pl in p.waiting_lines] == [2]


def test_R01_a_line_waiting_for_a_manager_is_not_counted_with_its_fee():
    p = plan(line(1, -10000, Verdict.ACCEPTED, fee=1000),
             line(2, -5000, Verdict.NEEDS_MANAGER, fee=500))
    assert p.net == 15000 - 1500
    assert p.accepted_net == 10000 - 1000


def test_R16_new_items_are_always_charged_in_the_accepted_net():
    p = plan(line(1, -7900, Verdict.ACCEPTED), line(2, -5000, Verdict.REFUSED),
             line(3, 9900, Verdict.ACCEPTED, direction="sale"))
    assert p.accepted_net == 7900 - 9900  # the customer pays the difference
    assert p.waiting_total == 5000


def test_all_accepted_the_two_nets_agree():
    p = plan(line(1, -7900, Verdict.ACCEPTED), line(2, -4500, Verdict.ACCEPTED, fee=450))
    assert p.accepted_net == p.net and p.waiting_lines == () and p.waiting_total == 0
