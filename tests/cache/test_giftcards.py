"""Alamara Gift Cards issued by the till: numbers, security codes."""

from __future__ import annotations

import pytest

from pos_returns.cache import giftcards
from pos_returns.cache.db import atomic
from pos_returns.engine.codes import CodeKind, classify, luhn_valid
from pos_returns.errors import InvalidInput
from tests.helpers import add_ticket

SECRET = b"s" * 32


def test_R04_gift_card_numbers_pass_luhn_start_with_6_and_are_unique(db):
    ticket = add_ticket(db)
    with atomic(db):
        cards = [
            giftcards.issue(db, secret=SECRET, amount=1000 + i, ticket_id=ticket, store_id=1,
                            till_no=1, issued_at="2026-03-02T10:00:00Z")
            for i in range(2000)
        ]
    numbers = [c.number for c in cards]
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 19 and n.isdigit() and n.startswith("6") for n in numbers)
    assert all(luhn_valid(n) for n in numbers)
    # the scanner recognises them as gift cards
    assert {classify(n)[0] for n in numbers[:50]} == {CodeKind.GIFT_CARD}
    assert db.execute("SELECT COUNT(DISTINCT number) FROM gift_cards").fetchone()[0] == 2000


def test_a_mistyped_digit_is_caught_by_the_check_digit():
    number = giftcards.new_number()
    wrong = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
    assert not luhn_valid(wrong)
    with pytest.raises(InvalidInput):
        classify(wrong)


def test_the_security_code_is_stored_only_as_a_keyed_hash(db):
    with atomic(db):
        card = giftcards.issue(db, secret=SECRET, amount=5000, ticket_id=add_ticket(db), store_id=1,
                               till_no=1, issued_at="2026-03-02T10:00:00Z")
    stored = db.execute("SELECT security_hash FROM gift_cards WHERE number = ?",
                        [card.number]).fetchone()[0]
    assert len(card.security_code) == 4 and card.security_code.isdigit()
    assert stored.startswith("hmac-sha256$") and card.security_code not in stored[12:]
    assert stored == giftcards.hash_security_code(SECRET, card.number, card.security_code)
    assert stored != giftcards.hash_security_code(b"t" * 32, card.number, card.security_code)
    assert giftcards.check_security_code(db, SECRET, card.number, card.security_code)
    others = [f"{c:04d}" for c in range(10_000) if f"{c:04d}" != card.security_code][:50]
    assert not any(giftcards.check_security_code(db, SECRET, card.number, c) for c in others)


def test_a_gift_card_is_issued_only_for_a_positive_amount(db):
    with pytest.raises(InvalidInput), atomic(db):
        giftcards.issue(db, secret=SECRET, amount=0, ticket_id=add_ticket(db), store_id=1,
                        till_no=1, issued_at="2026-03-02T10:00:00Z")


def test_numbers_are_printed_in_groups_of_four():
    assert giftcards.format_number("6123456789012345678") == "6123 4567 8901 2345 678"


def test_R17_a_security_code_typed_with_non_ascii_digits_is_simply_wrong(db):
    """"²²²²" passes str.isdigit(): it is a wrong code (False), never a UnicodeEncodeError."""
    with atomic(db):
        card = giftcards.issue(db, secret=SECRET, amount=5000, ticket_id=add_ticket(db), store_id=1,
                               till_no=1, issued_at="2026-03-02T10:00:00Z")
    assert giftcards.check_security_code(db, SECRET, card.number, "²²²²") is False
    assert giftcards.check_security_code(db, SECRET, card.number, "١٢٣٤") is False
