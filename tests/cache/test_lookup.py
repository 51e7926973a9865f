from datetime import date

import pytest

from pos_returns.cache import lookup
from pos_returns.engine.codes import ReceiptNumber
from pos_returns.errors import InvalidInput, NotFound
from tests.helpers import L, T, add_sale


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
    with pytest.raises(NotFound, match=r"Aucune vente|No sale"):
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
    found = lookup.search_by_card(db, "1234", date(2025, 1, 1), date(2025, 12, 31))
    assert [s.id for s in found] == [b]
    with pytest.raises(InvalidInput):
        lookup.search_by_card(db, "12a4")


# -- every lookup path, on factories data ---------------------------------------------


def _at(db, sale_id: int, sold_at: str) -> None:
    """Move a test sale to a precise UTC instant (sale and its lines' copy)."""
    db.conn.execute("UPDATE sales SET sold_at = ? WHERE id = ?", [sold_at, sale_id])
    db.conn.execute("UPDATE sale_lines SET sold_at = ? WHERE sale_id = ?", [sold_at, sale_id])


def _customer(db, cid: int, first: str, last: str, phone: str, email: str) -> int:
    from pos_returns.engine.normalize import name_key

    db["customers"].insert({"id": cid, "account_number": f"AL{cid:08d}", "first_name": first,
                            "last_name": last, "name_key": name_key(first, last),
                            "phone": phone, "email": email})
    return cid


def test_lines_copy_the_sale_date_for_sku_search(db):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 100)], sold_on=date(2025, 2, 1))
    assert db.conn.execute("SELECT sold_at FROM sale_lines WHERE sale_id = ?",
                           [sale_id]).fetchone() == ("2025-02-01T10:30:00Z",)


def test_refundable_quantities_and_refunded_tenders_are_derived(db):
    sale_id = add_sale(db, [L("SKU-PARF-01", 3, 9500), L("SKU-CHEM-01", 1, 7900)])
    sale = lookup.get_sale(db, sale_id)
    line = sale.lines[0]
    conn = db.conn
    conn.execute("INSERT INTO return_tickets(id, uuid, store_id, till_no, number, created_at, "
                 "staff_id, sale_id, kind, refund_total, net) VALUES "
                 "(1, 'u1', 1, 2, 1, '2025-03-20T10:00:00Z', 1, ?, 'receipt', 19000, 19000)",
                 [sale_id])
    conn.execute("INSERT INTO return_lines(ticket_id, line_no, direction, sale_line_id, sku, "
                 "quantity, unit_amount, amount, vat_rate_bp) VALUES "
                 "(1, 1, 'return', ?, 'SKU-PARF-01', 2, 9500, -19000, 2000)", [line.id])
    conn.execute("INSERT INTO refunds(ticket_id, kind, amount, sale_tender_id, card_last4) "
                 "VALUES (1, 'card', 19000, ?, '4242')", [sale.tenders[0].id])
    again = lookup.find_by_code(db, sale.receipt_number)
    assert [(li.returned_qty, li.refundable_qty, li.refunded_amount) for li in again.lines] == [
        (2, 1, 19000), (0, 1, 0)]
    assert again.tenders[0].refunded == 19000
    assert not again.fully_returned


def test_search_dates_are_local_calendar_days(db):
    # 23:30 UTC on 15 March is 00:30 on 16 March in Paris; 22:59 UTC on 15 June is 00:59
    # on 16 June (summer time): both belong to the 16th at the till.
    late = add_sale(db, [L("SKU-ROBE-01", 1, 100)], [T("card", 100, "5555", "fpx")])
    _at(db, late, "2025-03-15T23:30:00Z")
    summer = add_sale(db, [L("SKU-ROBE-01", 1, 100)], [T("card", 100, "5555", "fpx")])
    _at(db, summer, "2025-06-15T22:59:00Z")
    just_before = add_sale(db, [L("SKU-ROBE-01", 1, 100)], [T("card", 100, "5555", "fpx")])
    _at(db, just_before, "2025-03-15T22:59:59Z")  # 23:59:59 on the 15th in Paris

    def card(d1, d2):
        return [s.id for s in lookup.search_by_card(db, "5555", d1, d2)]

    def sku(d1, d2):
        return [s.id for s in lookup.search_by_sku(db, "SKU-ROBE-01", d1, d2)]

    for search in (card, sku):
        assert search(date(2025, 3, 15), date(2025, 3, 15)) == [just_before]
        assert search(date(2025, 3, 16), date(2025, 3, 16)) == [late]
        assert search(date(2025, 6, 16), date(2025, 6, 16)) == [summer]
        assert search(date(2025, 6, 15), date(2025, 6, 15)) == []
        assert search(None, None) == [summer, late, just_before]
        assert search(date(2025, 3, 16), None) == [summer, late]
        assert search(None, date(2025, 3, 15)) == [just_before]


def test_customer_search_by_name_phone_and_email(db):
    marie = _customer(db, 1, "Marie", "Dupont", "0612345678", "marie.dupont@orange.fr")
    helene = _customer(db, 2, "Hélène", "Dupé", "0798765432", "helene.dupe@gmail.com")
    old = add_sale(db, [L("SKU-ROBE-01", 1, 100)], customer_id=marie, sold_on=date(2024, 5, 1))
    new = add_sale(db, [L("SKU-CHEM-01", 1, 200)], customer_id=marie, sold_on=date(2025, 5, 1))
    other = add_sale(db, [L("SKU-CHEM-01", 1, 300)], customer_id=helene)

    for query in ("Dupont Marie", "Marie Dupont", "dupont", "DUPONT  marie", "  dupont marie "):
        assert [s.id for s in lookup.search_by_customer(db, query)] == [new, old], query
    for query in ("06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "06.12.34.56.78"):
        assert [s.id for s in lookup.search_by_customer(db, query)] == [new, old], query
    for query in ("Marie.Dupont@Orange.FR", " marie.dupont@orange.fr "):
        assert [s.id for s in lookup.search_by_customer(db, query)] == [new, old], query
    # accents are folded both ways
    assert [s.id for s in lookup.search_by_customer(db, "helene dupe")] == [other]
    assert [s.id for s in lookup.search_by_customer(db, "Dupé Hélène")] == [other]
    # with dates
    assert [s.id for s in lookup.search_by_customer(
        db, "dupont", date(2025, 1, 1), date(2025, 12, 31))] == [new]
    found = lookup.search_by_customer(db, "dupont marie")[0]
    assert found.customer is not None and found.customer.email == "marie.dupont@orange.fr"
    assert lookup.search_by_customer(db, "Durand") == []
    assert lookup.search_by_customer(db, "0600000000") == []


def test_sku_search_by_sku_or_scanned_ean(db):
    a = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], sold_on=date(2025, 1, 5))
    b = add_sale(db, [L("SKU-ESCA-01", 1, 22000), L("SKU-ESCA-01", 1, 20000)],
                 sold_on=date(2025, 2, 5))
    add_sale(db, [L("SKU-ROBE-01", 1, 100)], sold_on=date(2025, 2, 5))
    ean = db.conn.execute("SELECT ean FROM products WHERE sku = 'SKU-ESCA-01'").fetchone()[0]
    for code in ("SKU-ESCA-01", "sku-esca-01", ean, f" {ean} "):
        assert [s.id for s in lookup.search_by_sku(db, code)] == [b, a]  # b only once
    assert [s.id for s in lookup.search_by_sku(db, ean, date(2025, 2, 1),
                                               date(2025, 2, 28))] == [b]
    with pytest.raises(NotFound):
        lookup.search_by_sku(db, "3000000000994")


def test_searches_stop_at_the_limit_newest_first(db):
    ids = [add_sale(db, [L("SKU-CHEM-01", 1, 100 + i)], [T("card", 100 + i, "7777", "fp7")],
                    sold_on=date(2024, 1, 1 + i)) for i in range(8)]
    found = lookup.search_by_card(db, "7777", limit=5)
    assert [s.id for s in found] == ids[::-1][:5]
    found = lookup.search_by_sku(db, "SKU-CHEM-01", limit=3)
    assert [s.id for s in found] == ids[::-1][:3]


@pytest.mark.parametrize("last4", ["", "123", "12345", "12a4", "'; --", "1' OR '1'='1", "٣٤٥٦"])
def test_card_search_refuses_what_is_not_four_digits(db, last4):
    with pytest.raises(InvalidInput):
        lookup.search_by_card(db, last4)


@pytest.mark.parametrize("query", ["'; DROP TABLE customers; --", "%%", "_ _", "dupont' OR 1=1 --",
                                   "a\x00b", "\"; DELETE FROM sales; --@x"])
def test_customer_search_takes_sql_metacharacters_as_text(db, query):
    _customer(db, 1, "Marie", "Dupont", "0612345678", "marie.dupont@orange.fr")
    add_sale(db, [L("SKU-ROBE-01", 1, 100)], customer_id=1)
    assert lookup.search_by_customer(db, query) == []
    assert db["customers"].count == 1 and db["sales"].count == 1


@pytest.mark.parametrize("query", ["", " ", "a", "x" * 121])
def test_customer_search_refuses_empty_or_huge(db, query):
    with pytest.raises(InvalidInput):
        lookup.search_by_customer(db, query)


@pytest.mark.parametrize("code", ["", "   ", "x" * 33, "'; DROP TABLE products; --"])
def test_sku_search_refuses_bad_input(db, code):
    with pytest.raises((InvalidInput, NotFound)):
        lookup.search_by_sku(db, code)
    assert db["products"].count == 10


def test_date_range_checks(db):
    with pytest.raises(InvalidInput):
        lookup.search_by_card(db, "1234", date(2025, 2, 1), date(2025, 1, 1))
    with pytest.raises(InvalidInput):
        lookup.search_by_sku(db, "SKU-ROBE-01", date(2000, 1, 1), date(2025, 1, 1))


def test_future_receipt_and_wrong_check_digit_are_refused(db):
    from datetime import timedelta

    future = ReceiptNumber(1, 1, date.today() + timedelta(days=2), 1)
    with pytest.raises(InvalidInput) as err:
        lookup.find_by_code(db, future.barcode_content)
    assert err.value.code == "date"
    good = ReceiptNumber(1, 1, date(2025, 3, 15), 12).digits
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as err:
        lookup.find_by_code(db, bad)
    assert err.value.code == "check_digit"


def test_product_and_gift_card_barcodes_are_not_receipts(db):
    from pos_returns.engine.codes import ean13_check_digit, luhn_check_digit

    with pytest.raises(InvalidInput) as err:
        lookup.find_by_code(db, "300000000001" + ean13_check_digit("300000000001"))
    assert err.value.code == "ean"

    body = "6" + "0" * 10 + "1234567"
    with pytest.raises(InvalidInput) as err:
        lookup.find_by_code(db, body + luhn_check_digit(body))
    assert err.value.code == "R09"


def test_unknown_order_number(db):
    with pytest.raises(NotFound) as err:
        lookup.find_by_code(db, "W999999999")
    assert err.value.code == "order"


# -- every lookup path, on the demo chain -------------------------------------------------


DEMO_TODAY = date(2026, 1, 15)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from pos_returns.cache.db import open_cache
    from pos_returns.demo.chain import build_demo

    database = open_cache(tmp_path_factory.mktemp("lookup") / "demo.sqlite")
    build_demo(database, sales=3000, seed=11, today=DEMO_TODAY)
    yield database
    database.close()


def _rows(db, sql, params=()):
    return db.conn.execute(sql, params).fetchall()


def test_demo_every_receipt_and_order_is_found(demo_db):
    rows = _rows(demo_db, "SELECT id, receipt_number, order_number FROM sales "
                          "WHERE id % 37 = 0")
    for sale_id, receipt, order in rows:
        code = ReceiptNumber(*_split(receipt)).display if receipt else order
        sale = lookup.find_by_code(demo_db, code)
        assert sale.id == sale_id
        assert sale.lines and sale.tenders
        assert all(li.refundable_qty == li.quantity for li in sale.lines)
        assert sum(t.amount for t in sale.tenders) == sale.total
        assert sale.merchandise_total + sale.shipping + sale.duties == sale.total


def _split(digits: str):
    from pos_returns.engine.codes import parse_receipt

    r = parse_receipt(digits, today=DEMO_TODAY)
    return r.store_id, r.till_no, r.sale_date, r.sequence


def test_demo_card_search(demo_db):
    from pos_returns.i18n import to_local

    rows = _rows(demo_db, "SELECT t.card_last4, s.id, s.sold_at FROM tenders t "
                          "JOIN sales s ON s.id = t.sale_id "
                          "WHERE t.kind = 'card' AND t.id % 53 = 0")
    assert len(rows) > 20
    for last4, sale_id, sold_at in rows:
        day = to_local(sold_at).date()
        from datetime import timedelta

        found = lookup.search_by_card(demo_db, last4, day - timedelta(days=180),
                                      day + timedelta(days=180))
        assert sale_id in [s.id for s in found]
        stamps = [s.sold_at for s in found]
        assert stamps == sorted(stamps, reverse=True) and len(found) <= lookup.DEFAULT_LIMIT
        for s in found:
            assert any(t.kind == "card" and t.card_last4 == last4 for t in s.tenders)
            assert abs((to_local(s.sold_at).date() - day).days) <= 180


def test_demo_customer_search_every_way(demo_db):
    rows = _rows(demo_db, "SELECT c.id, c.first_name, c.last_name, c.phone, c.email "
                          "FROM customers c WHERE c.id % 17 = 0 AND EXISTS (SELECT 1 FROM sales s "
                          "WHERE s.customer_id = c.id)")
    assert len(rows) > 5
    for cid, first, last, phone, email in rows:
        queries = [f"{last} {first}", f"{first} {last}"]
        if phone:
            queries.append(" ".join(phone[i:i + 2] for i in range(0, 10, 2)))
            queries.append("+33" + phone[1:])
        if email:
            queries.append(email.upper())
        for query in queries:
            found = lookup.search_by_customer(demo_db, query)
            assert found, query
            assert cid in {s.customer_id for s in found} or len(found) == lookup.DEFAULT_LIMIT
            stamps = [s.sold_at for s in found]
            assert stamps == sorted(stamps, reverse=True)


def test_demo_sku_search_by_sku_and_ean(demo_db):
    from datetime import timedelta

    from pos_returns.i18n import to_local

    rows = _rows(demo_db, "SELECT l.sku, p.ean, l.sale_id, l.sold_at FROM sale_lines l "
                          "JOIN products p ON p.sku = l.sku WHERE l.id % 97 = 0")
    for sku, ean, sale_id, sold_at in rows:
        day = to_local(sold_at).date()
        for code in (sku, ean):
            found = lookup.search_by_sku(demo_db, code, day - timedelta(days=45),
                                         day + timedelta(days=45))
            ids = [s.id for s in found]
            assert sale_id in ids or len(ids) == lookup.DEFAULT_LIMIT
            assert len(ids) == len(set(ids))
            assert all(any(li.sku == sku for li in s.lines) for s in found)
