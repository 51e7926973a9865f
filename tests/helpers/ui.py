"""Shared UI test helpers: the window, logging in, scanning, pressing keys, and the
steps of a return as a salesperson takes them."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt

from pos_returns.cache.lookup import get_sale
from pos_returns.config import TillConfig
from pos_returns.engine.codes import ReceiptNumber
from pos_returns.engine.domain import Condition
from ui.ops import Ops
from ui.services import Services
from ui.window import MainWindow


def make_window(qtbot, cfg: TillConfig, executor) -> MainWindow:
    window = MainWindow(Services(cfg, Ops(executor)))
    qtbot.add_widget(window)
    window.resize(1366, 860)
    window.show()
    window.activateWindow()
    qtbot.wait_until(window.isActiveWindow)
    return window


def log_in(qtbot, window: MainWindow, code: str = "V001", pin: str = "1111") -> None:
    qtbot.keyClicks(window.login.code, code)
    qtbot.keyClick(window.login.code, Qt.Key.Key_Return)
    qtbot.keyClicks(window.login.pin, pin)
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)


def scan(qtbot, field, code: str) -> None:
    """A scanner burst: every character as a key press, then Enter."""
    qtbot.keyClicks(field, code)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A shortcut key pressed wherever the focus is (button shortcuts click a moment
    later, Qt's animateClick: wait for their effect with ``qtbot.wait_until``)."""
    from PySide6.QtWidgets import QApplication

    target = QApplication.focusWidget() or QApplication.activeWindow()
    assert target is not None, "no window has the keyboard"
    qtbot.keyClick(target, key, modifier)


def open_sale(qtbot, db, window, sale_id: int, *, login: bool = True) -> None:
    if login:
        log_in(qtbot, window)
    sale = get_sale(db, sale_id)
    code = receipt_of(db, sale_id).barcode_content if sale.receipt_number else sale.order_number
    window.lookup.scan.selectAll()
    scan(qtbot, window.lookup.scan, code)
    assert window.current == "sale"


def take_back(qtbot, window, index: int, qty: int, *, condition: Condition | None = None,
              reason: str = "size") -> None:
    card = window.sale.cards[index]
    card.qty.setFocus()
    card.qty.selectAll()
    qtbot.keyClicks(card.qty, str(qty))
    if condition is not None:
        pick(qtbot, card.condition, str(condition))
    pick(qtbot, card.reason, reason)
    qtbot.wait_until(window.sale.is_settled)


def verdict(window, index: int) -> str:
    return window.sale.cards[index].verdict.text()


def to_refund(qtbot, window) -> None:
    assert window.sale.continue_button.isEnabled()
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.current == "refund")


def confirm(qtbot, window) -> None:
    assert window.refund.confirm_button.isEnabled()
    press(qtbot, Qt.Key.Key_F10)
    confirm_on_terminal(qtbot, window)
    qtbot.wait_until(lambda: window.current == "done")


def confirm_on_terminal(qtbot, window, auth_number: str = "A12345", *,
                        wait: bool = False) -> None:
    """No terminal configured: each card amount is done on the terminal by hand and
    confirmed with the authorisation number it printed (issue 14)."""
    refund = window.refund
    if wait:
        qtbot.wait_until(lambda: window.current != "refund" or refund.auth_field.isVisible(),
                         timeout=10_000)
    for _amount in range(4):
        if window.current != "refund" or not refund.auth_field.isVisible():
            return
        assert "sur le TPE" in refund.terminal_text.text()
        refund.auth_field.setFocus()
        qtbot.keyClicks(refund.auth_field, auth_number)
        press(qtbot, Qt.Key.Key_F10)
        qtbot.wait_until(lambda: window.current != "refund" or not refund.auth_field.text()
                         or refund.banner.isVisible(), timeout=10_000)
        if refund.banner.isVisible():
            return


def receipt_of(db, sale_id: int) -> ReceiptNumber:
    sale = get_sale(db, sale_id)
    d = sale.receipt_number
    return ReceiptNumber(int(d[0:3]), int(d[3:5]), date(2000 + int(d[5:7]), int(d[7:9]),
                                                        int(d[9:11])), int(d[11:15]))


def pick(qtbot, combo, data: str) -> None:
    """Choose an entry of a list with the arrow keys."""
    combo.setFocus()
    target = combo.findData(data)
    assert target >= 0
    while combo.currentIndex() < target:
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    while combo.currentIndex() > target:
        qtbot.keyClick(combo, Qt.Key.Key_Up)
