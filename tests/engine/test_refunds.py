"""Refund routing (pos_returns.engine.refunds), pure: sales built as domain objects."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pos_returns.engine.domain import (
    Channel,
    Department,
    Sale,
    SaleId,
    SaleLine,
    SaleLineId,
    StoreId,
    Tender,
    TenderId,
    TenderKind,
)
from pos_returns.engine.refunds import is_r05_sale, main_card, route_refund, tender_capacity


def sale_with(*tenders: tuple[str, int, int], merchandise: int | None = None) -> Sale:
    """tenders: (kind, amount, already refunded); card last4 is 4242, 4343, ..."""
    built = tuple(
        Tender(id=TenderId(i), sale_id=SaleId(1), kind=TenderKind(kind), amount=amount,
               card_last4=f"42{40 + i:02d}" if kind == "card" else "", refunded=refunded)
        for i, (kind, amount, refunded) in enumerate(tenders, 2)
    )
    total = sum(t.amount for t in built)
    line = SaleLine(id=SaleLineId(1), sale_id=SaleId(1), line_no=1, sku="SKU", name="Article",
                    department=Department.WOMEN, quantity=1, unit_price=merchandise or total,
                    list_price=merchandise or total, vat_rate_bp=2000)
    return Sale(id=SaleId(1), receipt_number="1", order_number="", channel=Channel.STORE,
                store_id=StoreId(1), till_no=1, sold_at="2025-03-15T10:30:00Z", customer_id=None,
                international=False, gift_receipt=False, shipping=0, duties=0, total=total,
                lines=(line,), tenders=built)


def summary(refunds) -> list[tuple[str, int, int | None]]:
    return [(str(r.kind), r.amount, r.sale_tender_id) for r in refunds]


def test_R03_split_card_and_cash_is_proportional_to_what_each_paid():
    sale = sale_with(("card", 30000, 0), ("cash", 10000, 0))
    refunds = route_refund(20000, sale=sale, presented_card_last4="4242")
    assert summary(refunds) == [("card", 15000, 2), ("cash", 5000, 3)]


def test_R03_proportional_split_loses_no_cent_and_is_deterministic():
    sale = sale_with(("card", 10000, 0), ("cash", 10000, 0), ("card", 10000, 0))
    refunds = route_refund(100, sale=sale, presented_card_last4="4242")
    assert [r.amount for r in refunds] == [34, 33, 33]
    assert route_refund(100, sale=sale, presented_card_last4="4242") == refunds


def test_R03_split_follows_what_each_tender_can_still_take_back():
    # Card 300 € of which 250 € already refunded, cash 100 € untouched: 100 € back.
    sale = sale_with(("card", 30000, 25000), ("cash", 10000, 0))
    refunds = route_refund(10000, sale=sale, presented_card_last4="4242")
    assert summary(refunds) == [("card", 3333, 2), ("cash", 6667, 3)]  # 33,33 | 66,67
    assert all(r.amount <= tender_capacity(t) for r, t in zip(refunds, sale.tenders, strict=True))


def test_R03_the_last_return_empties_every_tender_exactly():
    sale = sale_with(("card", 12345, 6000), ("cash", 5555, 2222))
    refunds = route_refund(12345 - 6000 + 5555 - 2222, sale=sale, presented_card_last4="4242")
    assert summary(refunds) == [("card", 6345, 2), ("cash", 3333, 3)]


def test_R03_each_card_is_checked_against_the_card_presented():
    sale = sale_with(("card", 10000, 0), ("card", 10000, 0))
    refunds = route_refund(20000, sale=sale, presented_card_last4="4242")
    assert [r.needs_manager for r in refunds] == [False, True]


def test_R04_gift_card_and_notes_shares_become_new_gift_cards_per_tender():
    sale = sale_with(("gift_card", 6000, 0), ("notes", 4000, 0))
    refunds = route_refund(5000, sale=sale)
    assert summary(refunds) == [("gift_card", 3000, 2), ("gift_card", 2000, 3)]
    assert all(r.new_gift_card and not r.needs_manager for r in refunds)


def test_R05_detection_and_main_card():
    sale = sale_with(("card", 1000, 0), ("card", 3000, 0), ("notes", 500, 0))
    assert is_r05_sale(sale)
    assert main_card(sale).id == 3
    assert not is_r05_sale(sale_with(("card", 1000, 0), ("cash", 500, 0)))


def test_R05_stored_value_share_goes_to_the_card_that_paid_most():
    sale = sale_with(("card", 1000, 0), ("card", 3000, 0), ("notes", 4000, 0))
    refunds = route_refund(8000, sale=sale, presented_card_last4="4243")
    assert summary(refunds) == [("card", 1000, 2), ("card", 7000, 3)]
    assert [r.beyond_original for r in refunds] == [False, True]


def test_R05_cash_of_a_card_and_gift_card_sale_stays_cash():
    sale = sale_with(("card", 5000, 0), ("gift_card", 3000, 0), ("cash", 2000, 0))
    refunds = route_refund(10000, sale=sale, presented_card_last4="4242")
    assert summary(refunds) == [("card", 8000, 2), ("cash", 2000, 4)]
    assert refunds[0].beyond_original and not refunds[1].beyond_original


def test_R05_card_exhausted_still_takes_the_merchandise_beyond_its_charge():
    sale = sale_with(("card", 5000, 5000), ("gift_card", 5000, 0))
    (refund,) = route_refund(5000, sale=sale, presented_card_last4="4242")
    assert (refund.kind, refund.amount, refund.beyond_original) == ("card", 5000, True)


def test_R06_R07_and_customer_choice_give_one_new_gift_card_and_touch_no_tender():
    sale = sale_with(("card", 5000, 0), ("cash", 5000, 0))
    for kwargs in ({"sale": sale, "gift": True}, {"sale": None},
                   {"sale": sale, "prefer_gift_card": True}):
        refunds = route_refund(7000, **kwargs)
        assert summary(refunds) == [("gift_card", 7000, None)]
        assert refunds[0].new_gift_card


def test_R16_negative_net_is_one_payment_of_the_kind_asked():
    sale = sale_with(("gift_card", 5000, 0))
    assert summary(route_refund(-1200, sale=sale)) == [("card", -1200, None)]
    assert summary(route_refund(-1200, sale=sale, payment_kind=TenderKind.CASH)) == [
        ("cash", -1200, None)]


def test_R16_zero_net_moves_no_money():
    assert route_refund(0, sale=sale_with(("cash", 100, 0))) == ()


def test_R17_cash_never_receives_a_gift_card_share():
    sale = sale_with(("cash", 1000, 0), ("gift_card", 9000, 0))
    refunds = route_refund(10000, sale=sale)
    cash = sum(r.amount for r in refunds if r.kind == TenderKind.CASH)
    assert cash == 1000


def test_overflow_beyond_every_tender_goes_to_a_new_gift_card():
    # Inconsistent history (tenders already fully refunded): never more cash or card.
    sale = sale_with(("card", 5000, 4000), ("cash", 5000, 5000))
    refunds = route_refund(3000, sale=sale, presented_card_last4="4242")
    assert summary(refunds) == [("card", 1000, 2), ("gift_card", 2000, None)]


@pytest.mark.parametrize(("cash", "blocked"), [(100000, False), (100001, True)])
def test_cash_ceiling_is_inclusive(cash, blocked):
    sale = sale_with(("cash", cash, 0))
    (refund,) = route_refund(cash, sale=sale, cash_ceiling=100000)
    assert refund.needs_manager is blocked
    assert ("CASH" in {r.rule for r in refund.reasons}) is blocked


def test_cash_ceiling_counts_every_cash_tender_of_the_ticket():
    sale = sale_with(("cash", 60000, 0), ("cash", 60000, 0))
    refunds = route_refund(120000, sale=sale, cash_ceiling=100000)
    assert all(r.needs_manager for r in refunds)


def test_R05_cash_gets_exactly_its_share_over_successive_returns():
    # Card 100 €, gift card 150 €, cash 50 €; three returns of 100 €: cash gets back its
    # 50 € in cash, the card the other 250 € (150 € beyond its charge, R05).
    sale = sale_with(("card", 10000, 0), ("gift_card", 15000, 0), ("cash", 5000, 0))
    got: dict[str, int] = {"card": 0, "cash": 0}
    for _step in range(3):
        refunds = route_refund(10000, sale=sale, presented_card_last4="4242")
        assert sum(r.amount for r in refunds) == 10000
        paid = {r.sale_tender_id: r.amount for r in refunds}
        for r in refunds:
            got[str(r.kind)] += r.amount
        sale = replace(sale, tenders=tuple(
            replace(t, refunded=t.refunded + paid.get(t.id, 0)) for t in sale.tenders
        ))
    assert got == {"card": 25000, "cash": 5000}
