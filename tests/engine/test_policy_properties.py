"""Hypothesis properties of the policy engine and the refund routing.

For any sale (lines, tender mix, shipping) and any sequence of partial returns and
exchanges, each step is decided by :func:`pos_returns.engine.policy.decide` and then
"committed" by updating the Sale the way the cache derives it (returned_qty and
refunded_amount per line, refunded per tender). After every step:

* the refunds add up to the plan's net;
* returned quantity never exceeds what was sold, merchandise refunded never
  exceeds merchandise paid (per line and in total);
* a tender never gets back more than it paid, except the card of R05;
* cash never gets back more than was paid in cash (R17), and R05's credit beyond
  the original charge only ever happens on a card + gift card / Notes sale.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_returns.config import PolicyConfig
from pos_returns.engine.domain import (
    Channel,
    Department,
    Product,
    Role,
    Sale,
    SaleId,
    SaleLine,
    SaleLineId,
    Staff,
    StaffId,
    Store,
    StoreId,
    Tender,
    TenderId,
    TenderKind,
)
from pos_returns.engine.money import apportion
from pos_returns.engine.plan import Approval, LineRequest, NewItem, ReturnRequest
from pos_returns.engine.policy import decide
from pos_returns.engine.refunds import is_r05_sale
from pos_returns.errors import InvalidInput

STORE = Store(StoreId(1), "PAR", "Alamara Paris", "", "75009", "Paris", "", "", True, 0.0, 0.0)
CLERK = Staff(StaffId(1), "V001", "Camille Martin", Role.SALESPERSON, StoreId(1))
BOSS = Staff(StaffId(3), "M001", "Sophie Bernard", Role.MANAGER, StoreId(1))
DEPTS = [Department.WOMEN, Department.MEN, Department.SHOES, Department.BEAUTY]
PRODUCTS = {
    f"SKU-{i}": Product(f"SKU-{i}", f"30000000000{i}", f"Article {i}", DEPTS[i % 4], 2000,
                        price, False, False, False)
    for i, price in enumerate([990, 4590, 12900, 35000, 100])
}
# Everything a manager could be asked is approved up front: the properties are
# about money, and every plan must still add up.
BLANKET = (Approval("R01", BOSS.id, "approved", "Contrôle automatique des montants"),)
CONFIG = PolicyConfig(restocking_fee_bp={"shoes": 1000}, cash_refund_ceiling=50000)
KINDS = [TenderKind.CASH, TenderKind.CARD, TenderKind.GIFT_CARD, TenderKind.NOTES]


@st.composite
def sales(draw) -> Sale:
    n_lines = draw(st.integers(1, 4))
    lines = []
    for i in range(n_lines):
        sku = draw(st.sampled_from(sorted(PRODUCTS)))
        lines.append(SaleLine(
            id=SaleLineId(10 + i), sale_id=SaleId(1), line_no=i + 1, sku=sku,
            name=PRODUCTS[sku].name, department=PRODUCTS[sku].department,
            quantity=draw(st.integers(1, 5)), unit_price=draw(st.integers(1, 60000)),
            list_price=70000, vat_rate_bp=2000,
        ))
    shipping = draw(st.sampled_from([0, 0, 490, 1290]))
    total = sum(line.line_total for line in lines) + shipping
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    weights = draw(st.lists(st.integers(1, 100), min_size=len(kinds), max_size=len(kinds)))
    amounts = apportion(total, weights)
    tenders = tuple(
        Tender(id=TenderId(100 + i), sale_id=SaleId(1), kind=kind, amount=amount,
               card_last4=f"{4242 + i}" if kind == TenderKind.CARD else "")
        for i, (kind, amount) in enumerate(zip(kinds, amounts, strict=True)) if amount > 0
    )
    return Sale(
        id=SaleId(1), receipt_number="12345678901234567", order_number="",
        channel=Channel.STORE, store_id=StoreId(1), till_no=1, sold_at="2024-05-02T09:00:00Z",
        customer_id=None, international=False, gift_receipt=False, shipping=shipping, duties=0,
        total=total, lines=tuple(lines), tenders=tenders,
    )


def commit(sale: Sale, plan) -> Sale:
    """Update the sale the way the cache derives it from a committed ticket."""
    lines = {line.id: line for line in sale.lines}
    for pl in plan.lines:
        if pl.direction == "return":
            line = lines[pl.sale_line_id]
            lines[line.id] = replace(line, returned_qty=line.returned_qty + pl.quantity,
                                     refunded_amount=line.refunded_amount - pl.amount)
    tenders = {t.id: t for t in sale.tenders}
    for r in plan.refunds:
        if r.sale_tender_id is not None:
            t = tenders[r.sale_tender_id]
            tenders[t.id] = replace(t, refunded=t.refunded + r.amount)
    return replace(sale, lines=tuple(lines[line.id] for line in sale.lines),
                   tenders=tuple(tenders[t.id] for t in sale.tenders))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sale=sales(), data=st.data())
def test_R02_R03_R05_R16_R17_refunds_stay_within_what_was_paid(sale: Sale, data) -> None:
    original = sale
    beyond: set[int] = set()
    merchandise_credited = 0
    money_out = 0
    for _step in range(data.draw(st.integers(1, 6), label="steps")):
        open_lines = [line for line in sale.lines if line.refundable_qty > 0]
        if not open_lines:
            break
        chosen = data.draw(st.lists(st.sampled_from(open_lines), min_size=1, max_size=3,
                                    unique_by=lambda line: line.id), label="lines")
        requests = tuple(
            LineRequest(quantity=data.draw(st.integers(1, line.refundable_qty), label="qty"),
                        sale_line_id=line.id)
            for line in chosen
        )
        new_items = tuple(
            NewItem(sku, qty) for sku, qty in data.draw(st.lists(
                st.tuples(st.sampled_from(sorted(PRODUCTS)), st.integers(1, 2)), max_size=2
            ), label="new items")
        )
        main_last4 = next((t.card_last4 for t in sale.tenders if t.kind == TenderKind.CARD), "")
        request = ReturnRequest(
            store_id=1, till_no=1, staff_id=CLERK.id, sale_id=sale.id, lines=requests,
            new_items=new_items, approvals=BLANKET, presented_card_last4=main_last4,
            gift=data.draw(st.booleans(), label="gift"),
            prefer_gift_card=data.draw(st.booleans(), label="prefer gift card"),
        )
        plan = decide(request, sale=sale, store=STORE, staff=CLERK, products=PRODUCTS,
                      config=CONFIG, today=date(2026, 11, 26),
                      approvers={CLERK.id: CLERK, BOSS.id: BOSS})
        assert not plan.blocked
        assert sum(r.amount for r in plan.refunds) == plan.net
        assert all(r.amount > 0 for r in plan.refunds) or plan.net < 0
        beyond |= {r.sale_tender_id for r in plan.refunds if r.beyond_original}
        merchandise_credited += plan.refund_total
        money_out += sum(r.amount for r in plan.refunds if r.amount > 0)
        sale = commit(sale, plan)

        for line in sale.lines:
            assert 0 <= line.returned_qty <= line.quantity
            assert 0 <= line.refunded_amount <= line.line_total
        assert sum(line.refunded_amount for line in sale.lines) <= original.merchandise_total
        assert money_out <= merchandise_credited
        for t in sale.tenders:
            assert t.refunded >= 0
            if t.id not in beyond:
                assert t.refunded <= t.amount, (t, plan.refunds)
        assert not beyond or is_r05_sale(sale)
        cash_paid = sum(t.amount for t in sale.tenders if t.kind == TenderKind.CASH)
        cash_back = sum(t.refunded for t in sale.tenders if t.kind == TenderKind.CASH)
        assert cash_back <= cash_paid


@settings(max_examples=100, deadline=None)
@given(sale=sales(), extra=st.integers(1, 5), data=st.data())
def test_R02_never_more_than_is_left_to_return(sale: Sale, extra: int, data) -> None:
    line = data.draw(st.sampled_from(sale.lines))
    returned = data.draw(st.integers(0, line.quantity))
    sale = replace(sale, lines=tuple(
        replace(x, returned_qty=returned, refunded_amount=returned * x.unit_price)
        if x.id == line.id else x for x in sale.lines
    ))
    request = ReturnRequest(
        store_id=1, till_no=1, staff_id=CLERK.id, sale_id=sale.id,
        lines=(LineRequest(quantity=line.quantity - returned + extra, sale_line_id=line.id),),
    )
    with pytest.raises(InvalidInput):
        decide(request, sale=sale, store=STORE, staff=CLERK, products=PRODUCTS, config=CONFIG)
