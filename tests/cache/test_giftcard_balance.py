"""A gift card scanned at the returns till shows its balance, and is not taken back
(R09) nor paid out in cash (R17)."""

from __future__ import annotations

import pytest

from pos_returns.cache import giftcards, lookup
from pos_returns.cache.db import atomic
from pos_returns.errors import InvalidInput
from pos_returns.i18n import format_money
from tests.helpers import L, T, add_sale, add_ticket


def _issue(db, amount):
    with atomic(db):
        return giftcards.issue(db, secret=b"k" * 32, amount=amount, ticket_id=add_ticket(db),
                               store_id=1, till_no=1, issued_at="2025-05-01T10:00:00Z")


def test_R09_R17_scanned_gift_card_shows_balance_and_is_refused(db):
    card = _issue(db, 15000)
    add_sale(db, [L("SKU-CHEM-01", 1, 7900)],
             [T("gift_card", 4000, gift_card_number=card.number), T("card", 3900, "4242", "fp")])
    with pytest.raises(InvalidInput) as err:
        lookup.find_by_code(db, card.number)
    text = str(err.value)
    assert err.value.code == "R09"
    assert format_money(11000) in text and format_money(15000) in text
    assert giftcards.format_number(card.number) in text
    assert "espèces" in text


def test_R09_unknown_gift_card_says_so(db):
    body = "6" + "1" * 17
    number = body + giftcards.luhn_check_digit(body)
    with pytest.raises(InvalidInput) as err:
        lookup.find_by_code(db, number)
    assert "inconnue" in str(err.value)


def test_balance_never_negative_and_counts_only_that_card(db):
    card = _issue(db, 5000)
    other = _issue(db, 5000)
    add_sale(db, [L("SKU-PARF-01", 1, 9500)],
             [T("gift_card", 5000, gift_card_number=card.number), T("cash", 4500)])
    assert giftcards.balance(db, card.number).balance == 0
    assert giftcards.balance(db, other.number).balance == 5000
