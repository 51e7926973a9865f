"""The manager's screens of issue 17: settings, staff accounts, RGPD; and the new
PIN at the login after a reset."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit

from pos_returns.usecases import idcheck
from pos_returns.usecases.auth import get_staff
from pos_returns.usecases.staff import reset_pin
from tests.helpers.ui import log_in


def test_settings_screen_saves_validates_and_shows_hq_values_read_only(qtbot, db, window):
    from pos_returns.usecases.settings import set_from_hq

    set_from_hq(db, {"policy.no_receipt_window_days": 180})
    log_in(qtbot, window, "M001", "9999")
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    screen = window.manager_windows["settings"]
    qtbot.wait_until(lambda: bool(screen.views))
    assert not screen.fields["policy.no_receipt_window_days"].isEnabled()
    field = screen.fields["policy.cash_refund_ceiling"]
    assert isinstance(field, QLineEdit) and field.text() == "1000,00"
    field.setText("abc")
    screen.save_button.click()
    assert screen.banner.level == "error" and "abc" in screen.banner.text()
    field.setText("1500")
    combo = screen.fields["ticket_default"]
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData("email"))
    with qtbot.wait_signal(screen.saved):
        screen.save_button.click()
    assert window.services.cfg.policy.cash_refund_ceiling == 150_000
    changes = [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM journal WHERE kind = 'setting_change' ORDER BY seq")]
    assert [(c["key"], c["after"]) for c in changes] == [
        ("policy.cash_refund_ceiling", 150_000), ("ticket_default", "email")]


def test_staff_screen_adds_resets_and_unlocks(qtbot, db, window):
    log_in(qtbot, window, "M001", "9999")
    screen = window.open_manager_screen("staff")
    qtbot.wait_until(lambda: bool(screen.accounts))
    screen.new_code.setText("V321")
    screen.new_name.setText("Jules Petit")
    screen.new_pin.setText("4826")
    with qtbot.wait_signal(screen.changed):
        screen.add_button.click()
    assert any(a.code == "V321" for a in screen.accounts)
    screen.select("V001")
    with qtbot.wait_signal(screen.changed):
        screen.reset_button.click()
    account = next(a for a in screen.accounts if a.code == "V001")
    assert account.must_change_pin
    texts = [screen.table.item(r, 3).text() for r in range(screen.table.rowCount())]
    assert any("nouveau PIN" in t for t in texts)


def test_a_salesperson_gets_the_refusal_on_a_manager_screen(qtbot, window):
    log_in(qtbot, window, "V001", "1111")
    screen = window.open_manager_screen("staff")
    qtbot.wait_until(lambda: screen.banner.level == "error")
    assert "autorisation" in screen.banner.text()  # no « autorisé(e) » (glossaire)


def test_login_after_a_reset_asks_the_new_pin_twice(qtbot, db, window, till_cfg):
    reset_pin(db, till_cfg, get_staff(db, 3), 1)
    log_in(qtbot, window, "V001", "1111")
    assert window.current == "login" and window.login.new_pin_mode
    assert window.login.pin_again.isVisible()
    window.login.pin.setText("5937")
    window.login.pin_again.setText("5937")
    window.login.submit()
    assert window.current == "lookup" and window.services.staff.code == "V001"


def test_privacy_screen_finds_exports_and_erases(qtbot, db, window, till_cfg, tmp_path):
    from ui.screens.privacy import PrivacyScreen

    check = idcheck.capture(db, till_cfg, doc_type="cni", number="X4RTBPFW4",
                            name="Zoé N’Diaye", staff_id=1)
    idcheck.link_ticket(db, check.uuid, ticket_uuid="t-1", amount=4500)
    log_in(qtbot, window, "M001", "9999")
    screen = PrivacyScreen(window.services, confirm=lambda title, text: True,
                           out_dir=tmp_path / "rgpd")
    qtbot.add_widget(screen)
    screen.number.setText("X4RTBPFW4")
    with qtbot.wait_signal(screen.found):
        screen.find_button.click()
    assert screen.table.rowCount() == 1 and screen.table.item(0, 2).text() == "Zoé N’Diaye"
    with qtbot.wait_signal(screen.exported, timeout=20_000) as blocker:
        screen.export_button.click()
    pdf, csv_path = blocker.args[0]
    assert pdf.exists() and csv_path.exists()
    with qtbot.wait_signal(screen.erased):
        screen.erase_button.click()
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0
    assert screen.table.rowCount() == 0


def test_the_header_offers_the_managers_screens_to_a_manager_only(qtbot, window):
    log_in(qtbot, window, "V001", "1111")
    assert not window.header.manage_button.isVisible()
    window.lock()
    window.login.switch_user()
    log_in(qtbot, window, "M001", "9999")
    assert window.header.manage_button.isVisible()
    actions = window.header.manage_button.menu().actions()
    assert [a.text().split("\t")[0] for a in actions] == [
        "Paramètres du magasin", "Comptes du personnel",
        "Demandes sur les données personnelles (RGPD)"]
    actions[2].trigger()
    assert "privacy" in window.manager_windows
