"""The lookup screen: one field that always has focus and takes a whole scanner
burst + Enter; the "other ways" of R08; results newest first, Enter opens."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt

from pos_returns.engine.codes import ReceiptNumber
from tests.helpers import L, T, add_sale, ean_of
from tests.helpers.ui import log_in, press, receipt_of, scan


def test_scanner_burst_opens_the_sale(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 15000), L("SKU-CHEM-01", 2, 7900)])
    log_in(qtbot, window)
    assert window.lookup.scan.hasFocus()
    scan(qtbot, window.lookup.scan, receipt_of(db, sale_id).barcode_content)
    assert window.current == "sale"
    assert window.sale.sale.id == sale_id
    assert [c.line.sku for c in window.sale.cards] == ["SKU-ROBE-01", "SKU-CHEM-01"]
    assert "Ticket 001-01-250315-" in window.sale.title.text()


def test_scanner_burst_through_the_real_worker_thread(qtbot, db, threaded_window):
    window = threaded_window
    sale_id = add_sale(db, [L("SKU-PARF-01", 1, 9500)])
    with qtbot.wait_signal(window.services.staff_changed, timeout=10_000):
        log_in(qtbot, window)
    with qtbot.wait_signal(window.lookup.sale_opened, timeout=10_000) as opened:
        scan(qtbot, window.lookup.scan, receipt_of(db, sale_id).barcode_content)
    assert opened.args[0].id == sale_id
    assert window.current == "sale"


def test_typed_receipt_number_with_dashes_and_order_number(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 15000)])
    web_id = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], channel="online",
                      order_number="W204815162", shipping=590)
    log_in(qtbot, window)
    scan(qtbot, window.lookup.scan, receipt_of(db, sale_id).display)
    assert window.sale.sale.id == sale_id
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.wait_until(lambda: window.current == "lookup")
    assert window.lookup.scan.hasFocus()
    window.lookup.scan.clear()
    scan(qtbot, window.lookup.scan, "w204815162")
    assert window.sale.sale.id == web_id
    assert window.sale.title.text() == "Commande W204815162"


def test_unknown_code_gives_a_french_message_and_keeps_the_input(qtbot, db, window):
    log_in(qtbot, window)
    code = ReceiptNumber(1, 1, date(2025, 3, 15), 9998).barcode_content
    scan(qtbot, window.lookup.scan, code)
    assert window.current == "lookup"
    assert window.lookup.banner.text().startswith("Aucune vente")
    assert window.lookup.scan.text() == code
    assert window.lookup.scan.hasFocus()


def test_malformed_barcode_gives_a_french_message_and_keeps_the_input(qtbot, db, window):
    log_in(qtbot, window)
    good = ReceiptNumber(1, 1, date(2025, 3, 15), 12).barcode_content
    forged = good[:-1] + str((int(good[-1]) + 1) % 10)  # wrong check digit
    scan(qtbot, window.lookup.scan, forged)
    assert window.current == "lookup"
    assert "chiffres de contrôle" in window.lookup.banner.text().lower() or \
        "contrôle" in window.lookup.banner.text()
    assert window.lookup.scan.text() == forged
    # The next scan replaces the kept input (it is selected).
    assert window.lookup.scan.selectedText() == forged


def test_a_product_barcode_is_not_a_receipt(qtbot, db, window):
    log_in(qtbot, window)
    scan(qtbot, window.lookup.scan, ean_of(db, "SKU-ROBE-01"))
    assert window.current == "lookup"
    assert "article" in window.lookup.banner.text()


def test_R08_card_last4_and_dates_list_results_newest_first_and_enter_opens(qtbot, db, window):
    old = add_sale(db, [L("SKU-ROBE-01", 1, 100)], [T("card", 100, "1234", "fp1")],
                   sold_on=date(2024, 1, 10))
    new = add_sale(db, [L("SKU-ROBE-01", 1, 200)], [T("card", 200, "1234", "fp1")],
                   sold_on=date(2025, 1, 10))
    add_sale(db, [L("SKU-ROBE-01", 1, 300)], [T("card", 300, "9999", "fp2")],
             sold_on=date(2025, 1, 10))
    log_in(qtbot, window)
    lookup = window.lookup
    qtbot.keyClick(lookup.scan, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert lookup.tabs.currentIndex() == 0 and lookup.card_last4.hasFocus()
    lookup.card_dates.set_bounds(date(2023, 1, 1), date(2025, 12, 31))
    with qtbot.wait_signal(lookup.results_shown) as shown:
        scan(qtbot, lookup.card_last4, "1234")
    assert shown.args == [2]
    assert [s.id for s in lookup.results.sales] == [new, old]
    assert lookup.results.hasFocus()
    qtbot.keyClick(lookup.results, Qt.Key.Key_Down)
    qtbot.keyClick(lookup.results, Qt.Key.Key_Return)
    assert window.current == "sale" and window.sale.sale.id == old


def test_R08_customer_search(qtbot, db, window):
    db["customers"].insert({"id": 7, "account_number": "AL0007", "first_name": "Marie",
                            "last_name": "Dupont", "name_key": "dupont marie",
                            "phone": "0612345678", "email": "marie@example.fr"})
    sale_id = add_sale(db, [L("SKU-PARF-01", 1, 9500)], customer_id=7)
    log_in(qtbot, window)
    lookup = window.lookup
    lookup.choose_tab(1)
    scan(qtbot, lookup.customer_query, "Marie Dupont")
    assert [s.id for s in lookup.results.sales] == [sale_id]
    assert lookup.results.item(0, 3).text() == "Marie Dupont"
    qtbot.keyClick(lookup.results, Qt.Key.Key_Return)
    assert window.sale.sale.id == sale_id


def test_R08_article_search_and_no_result_message(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], sold_on=date(2025, 6, 1))
    log_in(qtbot, window)
    lookup = window.lookup
    lookup.choose_tab(2)
    lookup.sku_dates.set_bounds(date(2025, 1, 1), date(2025, 12, 31))
    scan(qtbot, lookup.sku, ean_of(db, "SKU-ESCA-01"))  # the EAN scanned off the shoe
    assert [s.id for s in lookup.results.sales] == [sale_id]
    lookup.sku_dates.set_bounds(date(2020, 1, 1), date(2020, 12, 31))
    scan(qtbot, lookup.sku, "")
    assert lookup.results.sales == []
    assert "Aucune vente ne correspond" in lookup.banner.text()


def test_other_ways_bad_input_is_explained(qtbot, db, window):
    log_in(qtbot, window)
    window.lookup.choose_tab(0)
    scan(qtbot, window.lookup.card_last4, "12a")
    assert window.lookup.banner.text() == "Saisissez les 4 derniers chiffres de la carte."
    assert window.lookup.card_last4.text() == "12a"


def test_a_scan_while_the_results_have_the_focus_still_opens_the_sale(qtbot, db, window):
    from PySide6.QtWidgets import QApplication

    add_sale(db, [L("SKU-ROBE-01", 1, 15000)], [T("card", 15000, "1234", "fp")])
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("cash", 7900)])
    log_in(qtbot, window)
    lookup = window.lookup
    lookup.choose_tab(0)
    lookup.card_dates.set_bounds(date(2020, 1, 1), date(2025, 12, 31))
    scan(qtbot, lookup.card_last4, "1234")
    assert lookup.results.hasFocus() and len(lookup.results.sales) == 1
    # The customer finds another receipt after all: the scanner types into whatever
    # has the focus, here the results list.
    for char in receipt_of(db, sale_id).barcode_content:
        qtbot.keyClicks(QApplication.focusWidget(), char)
    assert lookup.scan.hasFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert window.current == "sale" and window.sale.sale.id == sale_id


def test_R08_receipt_scanned_into_the_customer_or_article_field_opens_the_sale(
    qtbot, db, window
):
    """The salesperson was on a search tab when the customer found the receipt after
    all: the scan lands in that field, and opens the sale instead of searching for it."""
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 15000)])
    log_in(qtbot, window)
    lookup = window.lookup
    for tab, field in ((1, lookup.customer_query), (2, lookup.sku)):
        lookup.choose_tab(tab)
        scan(qtbot, field, receipt_of(db, sale_id).barcode_content)
        assert window.current == "sale" and window.sale.sale.id == sale_id
        assert field.text() == ""
        press(qtbot, Qt.Key.Key_Escape)
        qtbot.wait_until(lambda: window.current == "lookup")
    # a name is still searched as a name, and W… that is no order number too
    lookup.choose_tab(1)
    scan(qtbot, lookup.customer_query, "Wagner")
    assert window.current == "lookup" and lookup.results.isVisible()
