"""The main window's doors to the other modules' screens: the no-receipt flow (R07,
only after R08's search) and the manager's daily review."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.helpers.ui import log_in, press, scan

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def test_R08_return_without_receipt_only_after_searching_another_way(qtbot, db, window):
    log_in(qtbot, window)
    lookup = window.lookup
    assert not lookup.no_receipt_button.isEnabled()
    press(qtbot, Qt.Key.Key_F8)  # nothing happens before a search
    assert window.no_receipt_flow is None
    lookup.choose_tab(0)
    scan(qtbot, lookup.card_last4, "9876")
    assert lookup.results.sales == [] and lookup.no_receipt_button.isEnabled()
    lookup.no_receipt_button.click()
    qtbot.wait_until(lambda: window.no_receipt_flow is not None
                     and window.no_receipt_flow.step == "capture")
    notice = window.no_receipt_flow.capture  # the ID capture at once (notice on F1)
    assert notice.isVisible()
    # Locking the till closes what was open over it; the flow is cancelled.
    window.lock()
    assert not notice.isVisible() and window.current == "login"


def test_daily_review_is_for_managers_only(qtbot, db, window):
    log_in(qtbot, window, "V001", "1111")
    assert not window.header.review_button.isVisible()
    window.toggle_review()
    assert window.current == "lookup"
    window.lock()
    press(qtbot, Qt.Key.Key_F11)
    qtbot.wait_until(lambda: window.login.code.text() == "")
    log_in(qtbot, window, "M001", "9999")
    assert window.header.review_button.isVisible()
    press(qtbot, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait_until(lambda: window.current == "review")
    assert window.header.review_button.text() == "Caisse"
    press(qtbot, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait_until(lambda: window.current == "lookup")


def test_escape_leaves_the_daily_review_for_the_till(qtbot, db, window):
    log_in(qtbot, window, "M001", "9999")
    window.toggle_review()
    qtbot.wait_until(lambda: window.current == "review")
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.wait_until(lambda: window.current == "lookup")
    qtbot.wait_until(window.lookup.scan.hasFocus)
    # on the lookup screen Escape stays there (the review's shortcut is hidden with it)
    press(qtbot, Qt.Key.Key_Escape)
    assert window.current == "lookup"
