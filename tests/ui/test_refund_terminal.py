"""The whole refund flow against the payment terminal simulator (issue 14).

The simulator is a real Caisse-AP server in another process on 127.0.0.1; the till
calls it on its I/O pool (real threads), its database work runs inline."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from tests.helpers import L, T, add_sale, ean_of, tpe_simulator
from tests.helpers.ui import open_sale, press, scan, take_back, to_refund
from ui.ops import InlineExecutor, IoExecutor, Ops
from ui.services import Services
from ui.window import MainWindow


def present_card(qtbot, window, last4: str) -> None:
    field = window.refund.card_field
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, last4)
    qtbot.wait_until(window.refund.is_settled)


def tickets(db) -> list[dict]:
    return list(db.query("SELECT * FROM return_tickets ORDER BY id"))


@pytest.fixture
def terminal_window(qtbot, db, till_cfg, styled_app, tmp_path):
    """The till pointed at a simulator; ``start(steps)`` opens both."""
    made = {}

    def start(steps):
        sim_cm = tpe_simulator(tmp_path, steps)
        sim = sim_cm.__enter__()
        made["sim"] = (sim_cm, sim)
        cfg = replace(till_cfg, terminal_host="127.0.0.1", terminal_port=sim.port,
                      terminal_timeout_seconds=5)
        window = MainWindow(Services(cfg, Ops(InlineExecutor(db), IoExecutor())))
        qtbot.add_widget(window)
        window.resize(1366, 860)
        window.show()
        window.activateWindow()
        qtbot.wait_until(window.isActiveWindow)
        made["window"] = window
        return window, sim

    try:
        yield start
    finally:
        try:
            if "window" in made:
                made["window"].services.ops.shutdown()
        finally:
            if "sim" in made:
                made["sim"][0].__exit__(None, None, None)


def _to_the_card(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 4940)], [T("card", 4940, "4242", "fp")])
    open_sale(qtbot, db, window, sale_id)
    take_back(qtbot, window, 0, 1)
    to_refund(qtbot, window)
    present_card(qtbot, window, "4242")


def _done(qtbot, window) -> None:
    """The done screen, and its ticket saved or printed (on the I/O pool: the test waits
    for it rather than leave its answer to a later test)."""
    qtbot.wait_until(lambda: window.current == "done", timeout=15_000)
    qtbot.wait_until(lambda: getattr(window.done, "last_result", None) is not None,
                     timeout=20_000)


def _refund_row(db):
    return db.execute("SELECT kind, amount, terminal_status, card_application, "
                      "transaction_id FROM refunds").fetchone()


def test_R03_the_card_is_refunded_by_the_terminal_then_the_ticket_committed(
        qtbot, db, terminal_window):
    window, _sim = terminal_window([{"outcome": "approve", "card": "00B", "read_mode": "2"}])
    _to_the_card(qtbot, db, window)
    assert window.refund.terminal is not None
    press(qtbot, Qt.Key.Key_F10)
    _done(qtbot, window)
    [ticket] = tickets(db)
    kind, amount, status, app, txn = _refund_row(db)
    assert (kind, amount, status, app) == ("card", 4940, "terminal", "00B")
    assert txn.startswith("AA-")
    assert db.execute("SELECT ticket_uuid FROM terminal_operations").fetchone()[0] == \
        ticket["uuid"]


def test_R03_a_decline_shows_the_reason_and_the_choices_then_a_retry_works(
        qtbot, db, terminal_window):
    window, _sim = terminal_window([{"outcome": "decline", "af": "05"}, {"outcome": "approve"}])
    _to_the_card(qtbot, db, window)
    press(qtbot, Qt.Key.Key_F10)
    refund = window.refund
    qtbot.wait_until(lambda: refund.banner.isVisible() and "interdite" in refund.banner.text(),
                     timeout=15_000)
    text = refund.banner.text()
    assert "Réessayez" in text and "autre carte" in text and "carte cadeau" in text
    assert tickets(db) == []  # nothing committed: the money did not move
    assert "interdite" in refund.rows[0].status.text()
    press(qtbot, Qt.Key.Key_F10)  # try again: the customer presents the card again
    _done(qtbot, window)
    assert len(tickets(db)) == 1 and _refund_row(db)[2] == "terminal"


def test_an_unknown_outcome_waits_for_the_manager_and_is_never_sent_twice(
        qtbot, db, terminal_window):
    window, _sim = terminal_window([{"outcome": "disconnect"}])
    _to_the_card(qtbot, db, window)
    refund = window.refund
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: refund.check_button.isVisible(), timeout=15_000)
    assert "vérifier" in refund.terminal_text.text()
    assert "à vérifier" in refund.rows[0].status.text()
    assert tickets(db) == []
    press(qtbot, Qt.Key.Key_F10)  # a second attempt is refused until the manager confirms
    qtbot.wait_until(lambda: "responsable doit confirmer" in refund.banner.text(),
                     timeout=15_000)
    refund.ask_terminal_check()
    dialog = refund.terminal_check_dialog
    qtbot.keyClicks(dialog.code, "M001")
    qtbot.keyClicks(dialog.pin, "9999")
    qtbot.keyClicks(dialog.auth, "778899")
    qtbot.keyClicks(dialog.reason, "ticket du TPE lu")
    dialog.decide(True)
    qtbot.wait_until(lambda: not dialog.isVisible(), timeout=10_000)
    assert "F10" in refund.banner.text()
    press(qtbot, Qt.Key.Key_F10)
    _done(qtbot, window)
    row = db.execute("SELECT terminal_status, auth_number FROM refunds").fetchone()
    assert tuple(row) == ("checked", "778899")
    assert db.execute("SELECT COUNT(*) FROM terminal_operations").fetchone()[0] == 1


def test_no_terminal_the_salesperson_does_it_on_the_terminal_and_types_the_authorisation(
        qtbot, db, window):
    _to_the_card(qtbot, db, window)
    refund = window.refund
    assert refund.terminal is None  # the demo's default: no terminal configured
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(refund.auth_field.isVisible)
    assert ("Effectuez le remboursement de 49,40 € sur le TPE, puis confirmez"
            in refund.terminal_text.text().replace("\u00a0", " ").replace("\u202f", " "))
    press(qtbot, Qt.Key.Key_F10)  # no number yet: nothing is committed
    assert window.current == "refund" and tickets(db) == []
    refund.auth_field.setFocus()
    qtbot.keyClicks(refund.auth_field, "A1B2C3")
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.current == "done")
    row = db.execute("SELECT terminal_status, auth_number FROM refunds").fetchone()
    assert tuple(row) == ("manual", "A1B2C3")
    assert "49,40" in window.done.hand_over.text()


def test_R16_the_exchange_difference_is_taken_on_the_terminal(qtbot, db, terminal_window):
    window, _sim = terminal_window([{"outcome": "approve"}])
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")])
    open_sale(qtbot, db, window, sale_id)
    take_back(qtbot, window, 0, 1)
    window.sale.exchange_scan.setFocus()
    scan(qtbot, window.sale.exchange_scan, ean_of(db, "SKU-PARF-01"))  # 95 €
    qtbot.wait_until(window.sale.is_settled)
    to_refund(qtbot, window)
    assert [(r.kind, r.amount) for r in window.refund.plan.refunds] == [("card", -1600)]
    press(qtbot, Qt.Key.Key_F10)
    _done(qtbot, window)
    assert db.execute("SELECT amount, terminal_status FROM refunds").fetchone() == (
        -1600, "terminal")
    assert "payés par carte sur le TPE" in window.done.hand_over.text()
