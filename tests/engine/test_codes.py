"""Receipt numbers, order numbers, EANs and gift cards: formats, check digits, barcodes."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pos_returns.engine.codes import (
    MAX_CODE_LENGTH,
    CodeKind,
    ReceiptNumber,
    classify,
    code128_png,
    code128_svg,
    ean13_check_digit,
    luhn_check_digit,
    luhn_valid,
    mod97_check,
    mod97_valid,
    parse_order_number,
    parse_receipt,
)
from pos_returns.errors import InvalidInput

RECEIPT = ReceiptNumber(12, 3, date(2025, 3, 15), 42)


def decode_png(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png))
    return [r.text for r in zxingcpp.read_barcodes(image)
            if r.format == zxingcpp.BarcodeFormat.Code128]


def test_receipt_number_format():
    assert RECEIPT.body == "012" "03" "250315" "0042"
    assert RECEIPT.digits == RECEIPT.body + mod97_check(RECEIPT.body)
    assert len(RECEIPT.digits) == 17 and mod97_valid(RECEIPT.digits)
    assert RECEIPT.barcode_content == "R" + RECEIPT.digits
    assert RECEIPT.display == f"012-03-250315-0042-{RECEIPT.digits[-2:]}"
    assert str(RECEIPT) == RECEIPT.display


@pytest.mark.parametrize("text", [
    RECEIPT.barcode_content, RECEIPT.digits, RECEIPT.display, f"  {RECEIPT.display}  ",
    RECEIPT.display.replace("-", " "), RECEIPT.display.replace("-", "."),
    "r" + RECEIPT.digits,
])
def test_receipt_parses_from_scan_or_typing(text):
    assert parse_receipt(text) == RECEIPT
    assert classify(text) == (CodeKind.RECEIPT, RECEIPT.digits)


def test_receipt_barcode_round_trip_with_zxing():
    png = code128_png(RECEIPT.barcode_content)
    assert decode_png(png) == [RECEIPT.barcode_content]
    assert parse_receipt(decode_png(png)[0]) == RECEIPT


@pytest.mark.parametrize("receipt", [
    ReceiptNumber(1, 1, date(2021, 1, 1), 1),
    ReceiptNumber(999, 99, date(2024, 2, 29), 9999),
    ReceiptNumber(8, 6, date(2025, 12, 31), 1234),
])
def test_barcode_round_trip_edges(receipt):
    decoded = decode_png(code128_png(receipt.barcode_content, text=False))
    assert [parse_receipt(d) for d in decoded] == [receipt]


def test_order_number_barcode_round_trip():
    decoded = decode_png(code128_png("W204815162"))
    assert decoded == ["W204815162"]
    assert classify(decoded[0]) == (CodeKind.ORDER, "W204815162")


def test_svg_barcode_is_drawn():
    svg = code128_svg(RECEIPT.barcode_content)
    assert svg.startswith(b"<?xml") and b"<svg" in svg and RECEIPT.digits.encode() in svg


@given(st.integers(1, 999), st.integers(1, 99),
       st.dates(date(2000, 1, 1), date(2025, 12, 31)), st.integers(1, 9999))
def test_every_valid_receipt_round_trips(store, till, day, seq):
    r = ReceiptNumber(store, till, day, seq)
    assert parse_receipt(r.barcode_content) == r
    assert parse_receipt(r.display) == r


def test_every_single_digit_error_is_caught():
    digits = RECEIPT.digits
    for pos in range(17):
        for d in "0123456789":
            if d == digits[pos]:
                continue
            forged = digits[:pos] + d + digits[pos + 1:]
            with pytest.raises(InvalidInput):
                parse_receipt(forged)


def test_every_adjacent_swap_is_caught():
    digits = ReceiptNumber(123, 45, date(2024, 7, 18), 6789).digits
    swaps = 0
    for pos in range(16):
        if digits[pos] == digits[pos + 1]:
            continue
        forged = digits[:pos] + digits[pos + 1] + digits[pos] + digits[pos + 2:]
        with pytest.raises(InvalidInput) as err:
            parse_receipt(forged)
        assert err.value.code in ("check_digit", "date")
        swaps += 1
    assert swaps >= 12


def _with_check(body: str) -> str:
    return body + mod97_check(body)


@pytest.mark.parametrize(("text", "code"), [
    ("", "empty"),
    ("   ", "empty"),
    (" - . / ", "empty"),
    ("1" * (MAX_CODE_LENGTH + 1), "too_long"),
    ("R" + "9" * 5000, "too_long"),
    ("'; DROP TABLE sales; --", "not_digits"),
    ("R0010125031500%4", "not_digits"),
    ("1 OR 1=1", "not_digits"),
    ("R1234", "length"),
    ("R" + "1" * 18, "length"),
    ("R" + RECEIPT.digits[:-1] + str((int(RECEIPT.digits[-1]) + 1) % 10), "check_digit"),
    ("R" + _with_check("000012503150001"), "store"),   # store 000
    ("R" + _with_check("001002503150001"), "store"),   # till 00
    ("R" + _with_check("001012502300001"), "date"),    # 30 February
    ("R" + _with_check("001012513010001"), "date"),    # month 13
    ("R" + _with_check("001012503150000"), "sequence"),
])
def test_bad_receipts_are_refused_with_a_reason(text, code):
    with pytest.raises(InvalidInput) as err:
        parse_receipt(text)
    assert err.value.code == code
    assert str(err.value)  # a message for the person at the till


def test_future_receipt_is_refused():
    tomorrow = date.today() + timedelta(days=1)
    future = ReceiptNumber(1, 1, tomorrow, 1)
    with pytest.raises(InvalidInput) as err:
        parse_receipt(future.digits)
    assert err.value.code == "date"
    assert parse_receipt(future.digits, today=tomorrow) == future


def test_messages_are_french_by_default():
    with pytest.raises(InvalidInput, match=r"chiffres"):
        parse_receipt("R1234")


def test_none_is_refused():
    with pytest.raises(InvalidInput):
        parse_receipt(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["W204815162", "w204815162", " W 204-815-162 "])
def test_order_numbers(text):
    assert parse_order_number(text) == "W204815162"


@pytest.mark.parametrize("text", ["W12345678", "W1234567890", "WABCDEFGHI", "X204815162", ""])
def test_bad_order_numbers(text):
    with pytest.raises(InvalidInput):
        parse_order_number(text)


def test_ean_and_gift_card_classification():
    ean = "376000100001" + ean13_check_digit("376000100001")
    assert classify(ean) == (CodeKind.EAN, ean)
    with pytest.raises(InvalidInput) as err:
        classify(ean[:12] + str((int(ean[12]) + 1) % 10))
    assert err.value.code == "check_digit"
    body = "630000000000001234"
    card = body + luhn_check_digit(body)
    assert luhn_valid(card) and classify(card) == (CodeKind.GIFT_CARD, card)
    with pytest.raises(InvalidInput) as err:
        classify(body + str((int(card[-1]) + 1) % 10))
    assert err.value.code == "check_digit"


@pytest.mark.parametrize("text", ["hello", "12345", "ABC-123", "€€€", "R", "W"])
def test_unknown_codes_are_refused(text):
    with pytest.raises(InvalidInput):
        classify(text)


def test_luhn_known_values():
    assert luhn_valid("79927398713")  # the textbook example
    assert not luhn_valid("79927398710")
    assert luhn_check_digit("7992739871") == "3"
    assert not luhn_valid("") and not luhn_valid("1")


@pytest.mark.parametrize(
    "text",
    ["R" + "²" * 17, "²" * 17, "6" + "²" * 18, "²" * 13, "W" + "١" * 9, "R" + "١" * 17],
)
def test_non_ascii_digits_are_refused_not_crashing(text):
    """"²" or "١" pass str.isdigit(): the parsers refuse them in French (InvalidInput),
    never a ValueError, and never read them as another number."""
    with pytest.raises(InvalidInput):
        classify(text)
    assert not luhn_valid("4" + "²" * 15)
