"""Issue 16 (points 5 and 6): the fine-jewelry checks dialog and the manager's review
panel fit a 1366 × 768 screen with the till's style sheet: nothing cut off, no
scroll bar on the review's figures and charts. Both are rendered to PNG for a look."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea

from tests.helpers.review import DAY
from tests.helpers.ui import log_in, open_sale
from tests.ui.test_jewelry_ui import enter_mode, necklace_sale, open_checks
from tests.ui.test_review_screen import day_data, make_screen  # noqa: F401 (fixture)

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SHOTS = Path(os.environ.get("POS_RETURNS_SCREENSHOTS")
             or Path(tempfile.gettempdir()) / "alamara-fit-screenshots")
SCREEN_W, SCREEN_H = 1366, 768


def test_jewelry_checks_dialog_fits_a_768_px_screen(qtbot, db, window):
    sale_id = necklace_sale(db)
    log_in(qtbot, window, "B001", "2222")
    open_sale(qtbot, db, window, sale_id, login=False)
    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: window.jewelry.on and window.sale.is_settled())
    dialog = open_checks(qtbot, window)
    hint = dialog.sizeHint()
    assert hint.height() <= 740, hint
    assert dialog.minimumSizeHint().width() <= SCREEN_W
    assert dialog.width() <= SCREEN_W and dialog.height() <= 740
    qtbot.wait(20)
    # one piece shows whole: its part scrolls only when the sale has several
    bar = dialog.pieces_scroll.verticalScrollBar()
    assert not bar.isVisible() or bar.maximum() == 0
    # the actions are outside the scrolling part: always on screen
    for button in (dialog.save_button, dialog.cancel_button):
        bottom = button.mapTo(dialog, button.rect().bottomLeft()).y()
        assert button.isVisible() and bottom <= dialog.height()
    # the drop-downs show their longest choice whole
    combo = dialog.pieces[0].items["condition"]
    widest = max(combo.fontMetrics().horizontalAdvance(combo.itemText(i))
                 for i in range(combo.count()))
    assert combo.width() >= widest + 24
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(SHOTS / "jewelry-checks-768.png"))


def test_review_panel_needs_no_scroll_bar_at_1366_by_768(qtbot, db, till_cfg, styled_app,
                                                         day_data):  # noqa: F811
    screen = make_screen(qtbot, db, till_cfg)
    screen.resize(SCREEN_W, SCREEN_H)
    screen.show()
    qtbot.wait_exposed(screen)
    with qtbot.wait_signal(screen.loaded):
        screen.set_day(DAY)
    qtbot.wait(50)
    scroll = screen.findChild(QScrollArea, "reviewPanel")
    assert scroll is not None
    bar = scroll.verticalScrollBar()
    assert scroll.widget().sizeHint().height() <= scroll.viewport().height()
    assert not bar.isVisible() or bar.maximum() == 0
    assert scroll.widget().width() <= scroll.viewport().width()  # no side scroll either
    # every breakdown is one choice away, at the same fixed place and size
    assert screen.chart_box.count() == 5
    screen.chart_box.setCurrentIndex(1)
    assert screen.chart_stack.currentWidget() is screen.tender_chart
    assert scroll.widget().sizeHint().height() <= scroll.viewport().height()
    assert scroll.verticalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOn
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert screen.grab().save(str(SHOTS / "review-1366x768.png"))


def test_review_panel_needs_no_scroll_bar_in_the_till_window_at_1366_by_768(
        qtbot, db, till_cfg, window, day_data):  # noqa: F811
    """The same in the till's window: the header takes its height from the screen (the
    test above gives the review the whole 768 px)."""
    window.resize(SCREEN_W, SCREEN_H)
    window.show()
    qtbot.wait_exposed(window)
    log_in(qtbot, window, "M001", "9999")
    window.toggle_review()
    review = window.review
    assert review is not None and window.current == "review"
    with qtbot.wait_signal(review.loaded):
        review.set_day(DAY)
    qtbot.wait(50)
    scroll = review.findChild(QScrollArea, "reviewPanel")
    assert scroll.widget().sizeHint().height() <= scroll.viewport().height()
    assert not scroll.verticalScrollBar().isVisible() \
        or scroll.verticalScrollBar().maximum() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "review-window-1366x768.png"))
