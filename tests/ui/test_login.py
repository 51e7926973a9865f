"""Login by staff code or badge + PIN; the header shows who, where, which till."""

from __future__ import annotations

from PySide6.QtCore import Qt

from pos_returns.usecases.auth import MAX_FAILED_ATTEMPTS
from tests.helpers.ui import log_in


def test_good_pin_opens_lookup_and_header_shows_user_store_and_till(qtbot, window):
    assert window.current == "login"
    log_in(qtbot, window, "V001", "1111")
    assert window.current == "lookup"
    assert window.services.staff.code == "V001"
    assert window.header.user_label.text() == "Camille Martin"
    assert "V001" in window.header.role_label.text()
    assert window.header.store_label.text() == "Alamara Paris Haussmann"
    assert window.header.till_label.text().startswith("Caisse 1")
    assert window.lookup.scan.hasFocus()


def test_badge_scan_is_a_code_plus_enter_then_pin(qtbot, window):
    # A badge reader types the code and Enter: the focus moves to the PIN field.
    qtbot.keyClicks(window.login.code, "m001")
    qtbot.keyClick(window.login.code, Qt.Key.Key_Return)
    assert window.login.pin.hasFocus()
    qtbot.keyClicks(window.login.pin, "9999")
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert window.services.staff.code == "M001"
    assert window.header.role_label.text().startswith("Responsable de magasin")


def test_wrong_pin_says_so_in_french_and_keeps_the_code(qtbot, window):
    log_in(qtbot, window, "V001", "0000")
    assert window.current == "login"
    assert window.services.staff is None
    text = window.login.banner.text()
    assert "code PIN erroné" in text  # the same answer as an unknown code (issue 12)
    assert window.login.code.text() == "V001"
    assert window.login.pin.text() == "" and window.login.pin.hasFocus()


def test_lockout_message_after_too_many_wrong_pins(qtbot, window):
    qtbot.keyClicks(window.login.code, "V001")
    for _ in range(MAX_FAILED_ATTEMPTS):
        window.login.pin.setFocus()
        qtbot.keyClicks(window.login.pin, "0000")
        qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert "verrouillé" in window.login.banner.text()
    # Even the right PIN is refused while locked out.
    window.login.pin.setFocus()
    qtbot.keyClicks(window.login.pin, "1111")
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert window.current == "login" and window.services.staff is None
    assert "verrouillé" in window.login.banner.text()


def test_unknown_staff_code_gets_the_same_answer_as_a_wrong_pin(qtbot, window):
    log_in(qtbot, window, "V001", "0000")
    wrong_pin = window.login.banner.text()
    window.login.code.clear()
    log_in(qtbot, window, "Z999", "1234")
    assert window.current == "login"
    assert window.login.banner.text() == wrong_pin  # staff codes cannot be listed
    assert window.login.code.text() == "Z999"


def test_empty_fields_ask_for_what_is_missing(qtbot, window):
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert "code vendeur" in window.login.banner.text()
    assert window.login.code.hasFocus()
