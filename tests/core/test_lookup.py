from datetime import date

import pytest

from pos_returns import lookup
from pos_returns.codes import ReceiptNumber
from pos_returns.errors import InvalidInput, NotFound
from tests.factories import L, T, add_sale


def test_receipt_lookup_by_barcode_and_typed_number(db):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 15000), L("SKU-CHEM-01", 2, 7900)])
    sale = lookup.get_sale(db, sale_id)
    receipt = ReceiptNumber(1, 1, date(2025, 3, 15), int(sale.receipt_number[11:15]))
    by_scan = lookup.find_by_code(db, receipt.barcode_content)
    by_typing = lookup.find_by_code(db, receipt.display)
    assert by_scan == by_typing == sale
    assert [line.refundable_qty for line in sale.lines] == [1, 2]
    assert sale.tenders[0].amount == 15000 + 2 * 7900


def test_unknown_receipt_says_so_in_french(db):
    code = ReceiptNumber(1, 1, date(2025, 3, 15), 9998).barcode_content
    with pytest.raises(NotFound, match="Aucune vente|No sale"):
        lookup.find_by_code(db, code)


def test_unknown_store_in_receipt(db):
    code = ReceiptNumber(77, 1, date(2025, 3, 15), 1).barcode_content
    with pytest.raises(NotFound) as err:
        lookup.find_by_code(db, code)
    assert err.value.code == "store"


@pytest.mark.parametrize("bad", ["", "   ", "R" + "1" * 17, "x" * 500, "'; DROP TABLE sales; --"])
def test_bad_codes_are_refused(db, bad):
    with pytest.raises(InvalidInput):
        lookup.find_by_code(db, bad)
    assert db["sales"].count == 0 or db["sales"].exists()


def test_order_number_lookup(db):
    sale_id = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], channel="online",
                       order_number="W204815162", shipping=590)
    sale = lookup.find_by_code(db, "w204815162")
    assert sale.id == sale_id and sale.shipping == 590 and sale.receipt_number == ""


def test_card_search_with_dates(db):
    a = add_sale(db, [L("SKU-ROBE-01", 1, 100)], [T("card", 100, "1234", "fp1")],
                 sold_on=date(2024, 1, 10))
    b = add_sale(db, [L("SKU-ROBE-01", 1, 200)], [T("card", 200, "1234", "fp1")],
                 sold_on=date(2025, 1, 10))
    add_sale(db, [L("SKU-ROBE-01", 1, 300)], [T("card", 300, "9999", "fp2")],
             sold_on=date(2025, 1, 10))
    assert [s.id for s in lookup.search_by_card(db, "1234")] == [b, a]
    assert [s.id for s in lookup.search_by_card(db, "1234", date(2025, 1, 1), date(2025, 12, 31))] == [b]
    with pytest.raises(InvalidInput):
        lookup.search_by_card(db, "12a4")
