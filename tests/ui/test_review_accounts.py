"""The review names the store's accounts to check (issue 12): seen at the till's size."""

from __future__ import annotations

import pytest

from pos_returns.errors import PermissionDenied
from pos_returns.usecases import auth, till
from tests.helpers.review import DAY, commit_day
from tests.ui.test_review_screen import make_screen

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def test_issue12_the_review_shows_locked_and_edited_accounts(qtbot, db, till_cfg):
    commit_day(db, till_cfg, DAY)
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            till.login(db, till_cfg, "V001", "0000")
    db.execute("UPDATE staff SET role = 'manager' WHERE code = 'B001'")
    screen = make_screen(qtbot, db, till_cfg)
    screen.resize(1366, 768)
    with qtbot.wait_signal(screen.loaded):
        screen.set_day(DAY)
    screen.show()
    qtbot.wait_until(lambda: screen.sync_label.isVisible())
    text = screen.sync_label.text()
    assert "B001" in text and "V001" in text and "verrouillé" in text
    assert screen.sync_label.height() <= screen.height()  # readable at 1366 x 768
