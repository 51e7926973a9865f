"""The till journals its start (after verifying the chain), logins and wrong PINs."""

from __future__ import annotations

from PySide6.QtCore import Qt

from pos_returns.journal import chain as journal
from tests.helpers.ui import log_in


def _kinds(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]


def test_opening_the_till_verifies_and_records_start(qtbot, window, db):
    kinds = _kinds(db)
    assert "start" in kinds
    assert journal.verify(db).ok
    assert "ne se vérifie pas" not in window.banner.text()


def test_login_and_wrong_pin_are_journaled_without_the_pin(qtbot, window, db):
    log_in(qtbot, window, "V001", "0000")
    assert window.login.code.text() == "V001"  # the code is kept: only the PIN again
    qtbot.keyClicks(window.login.pin, "1111")
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)
    assert window.services.staff is not None
    kinds = _kinds(db)
    assert kinds.index("login_failed") < kinds.index("login")
    payloads = " ".join(r[0] for r in db.execute(
        "SELECT payload FROM journal WHERE kind IN ('login', 'login_failed')"))
    assert '"staff_id":1' in payloads
    assert "0000" not in payloads and "1111" not in payloads and "pin" not in payloads
    assert journal.verify(db).ok
