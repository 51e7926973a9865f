"""Idle lock, resuming, switching user without closing the app."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt

from tests.helpers import L, add_sale
from tests.helpers.ui import log_in, make_window, press, receipt_of, scan
from ui.ops import InlineExecutor


def test_idle_lock_after_the_configured_delay_then_same_user_resumes(
    qtbot, db, till_cfg, styled_app
):
    window = make_window(qtbot, replace(till_cfg, idle_lock_seconds=1), InlineExecutor(db))
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 15000)])
    log_in(qtbot, window)
    scan(qtbot, window.lookup.scan, receipt_of(db, sale_id).barcode_content)
    window.sale.cards[0].qty.setValue(1)
    with qtbot.wait_signal(window.locked, timeout=10_000) as locked:
        pass  # nobody touches the till
    assert locked.args[0].code == "V001"
    assert window.current == "login"
    assert window.login.title.text() == "Caisse verrouillée"
    assert window.login.code.text() == "V001" and window.login.pin.hasFocus()
    # The header still says who holds the session.
    assert window.header.user_label.text() == "Camille Martin"
    qtbot.keyClicks(window.login.pin, "1111")
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert window.current == "sale"
    assert window.sale.sale.id == sale_id
    assert window.sale.cards[0].qty.value() == 1  # nothing of the return was lost


def test_lock_shortcut_and_switch_user(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 15000)])
    log_in(qtbot, window)
    scan(qtbot, window.lookup.scan, receipt_of(db, sale_id).barcode_content)
    press(qtbot, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait_until(lambda: window.current == "login")
    # Another person: F11 clears the code, they scan their badge and type their PIN.
    press(qtbot, Qt.Key.Key_F11)
    qtbot.wait_until(lambda: window.login.code.text() == "")
    log_in(qtbot, window, "B001", "2222")
    assert window.services.staff.code == "B001"
    assert window.header.user_label.text() == "Inès Laurent"
    # The previous person's unfinished return is not handed over.
    assert window.current == "lookup" and window.lookup.scan.text() == ""


def test_wrong_pin_on_the_lock_screen_stays_locked(qtbot, db, window):
    log_in(qtbot, window)
    window.lock()
    qtbot.keyClicks(window.login.pin, "0000")
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert window.current == "login"
    assert "code PIN erroné" in window.login.banner.text()
