"""The manager's review screen (pytest-qt): the day's list, filters, totals, ticket,
DUPLICATA, report export and the Z closure, on real tickets from the ticket writer."""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from pos_returns.i18n import _, format_money, ngettext
from pos_returns.usecases.auth import get_staff
from pos_returns.usecases.review import FLAG_JEWELRY, FLAG_NO_RECEIPT, day_closure, day_review
from pos_returns.usecases.till import load_context
from tests.helpers.review import DAY, RL, Ticket, add_return, commit_day, sync_issue_rows
from ui.ops import InlineExecutor, Ops, ThreadExecutor
from ui.screens.review import ReviewScreen, TicketDialog, open_review
from ui.services import Services

# the offscreen platform warns once when a top-level window (the ticket dialog) is shown
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def day_data(db, till_cfg):
    ids = commit_day(db, till_cfg, DAY)
    # a fine-jewelry return on till 2, above the manager threshold
    jewel, _uuid = add_return(db, Ticket([RL("SKU-BAGU-01", 640000, "changed_mind")],
                                         {"card": 640000}, staff_id=2, till_no=2,
                                         at="2025-03-15T17:00:00Z"))
    return [*ids, jewel]


def make_screen(qtbot, db, cfg, staff_id=3, executor=None, **kw):
    services = Services(cfg, Ops(executor or InlineExecutor(db)))
    services.set_context(load_context(db, cfg.store_id, cfg.till_no))
    services.set_staff(get_staff(db, staff_id))
    answers = kw.pop("answers", [])
    screen = ReviewScreen(services, confirm=lambda title, text: answers.pop(0), **kw)
    qtbot.add_widget(screen)
    screen.resize(1500, 900)
    return screen


def choose(box, data) -> None:
    index = box.findData(data)
    assert index >= 0, f"{data!r} is not offered"
    box.setCurrentIndex(index)


def test_the_day_is_listed_with_its_totals(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg)
    with qtbot.wait_signal(screen.loaded):
        screen.set_day(DAY)
    totals = day_review(db, get_staff(db, 3), DAY).totals
    assert screen.model.rowCount() == len(day_data) == 7
    assert screen.figure_labels["net"].text() == format_money(totals.net)
    assert screen.figure_labels["tickets"].text() == "7"
    assert "Alamara Paris Haussmann" in screen.subtitle.text()
    tender_items = dict(screen.tender_chart.items)
    assert tender_items[_("Cash out of the drawer")] == totals.by_tender["cash"]
    assert tender_items[_("Card credits")] == totals.by_tender["card"]
    assert screen.dept_chart.items[0][0] == "Joaillerie"  # biggest first
    # the flags column says why a ticket is to be checked
    flags = [screen.model.index(r, screen.model.FLAGS_COLUMN).data() for r in range(7)]
    assert any(_("No receipt") in f for f in flags)
    assert any(_("High-value jewelry") in f for f in flags)


def test_filters_change_the_table(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg)
    screen.set_day(DAY)
    assert screen.model.rowCount() == 7
    with qtbot.wait_signal(screen.loaded):
        choose(screen.staff_box, 2)  # Inès Laurent
    assert screen.model.rowCount() == 2
    assert {r.staff_name for r in screen.model.rows} == {"Inès Laurent"}
    choose(screen.staff_box, None)
    choose(screen.flag_box, FLAG_NO_RECEIPT)
    assert [r.kind for r in screen.model.rows] == ["no_receipt"]
    assert screen.figure_labels["tickets"].text() == "1"
    choose(screen.flag_box, FLAG_JEWELRY)
    assert [r.ticket_id for r in screen.model.rows] == [day_data[-1]]
    choose(screen.flag_box, None)
    choose(screen.tender_box, "gift_card")
    assert screen.model.rowCount() == 2  # the gift return (R06) and the no-receipt one (R07)
    choose(screen.dept_box, "beauty")
    assert screen.model.rowCount() == 1
    shown = ngettext("{shown} of {count} ticket (filtered)",
                     "{shown} of {count} tickets (filtered)", 7).format(shown=1, count=7)
    assert shown in screen.subtitle.text()
    screen.reset_button.click()
    assert screen.model.rowCount() == 7
    assert screen.tender_box.currentData() is None


def test_another_day_is_picked_and_filters_reset(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg)
    screen.set_day(DAY)
    choose(screen.staff_box, 2)
    with qtbot.wait_signal(screen.loaded):
        screen.prev_button.click()
    assert screen.day.isoformat() == "2025-03-14"
    assert screen.model.rowCount() == 0
    assert screen.staff_box.currentData() is None
    assert screen.figure_labels["net"].text() == format_money(0)
    screen.next_button.click()
    assert screen.model.rowCount() == 7


def test_R01_a_salesperson_gets_the_cores_refusal(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg, staff_id=1)
    screen.set_day(DAY)
    assert screen.model.rowCount() == 0
    assert screen.banner.isVisibleTo(screen)
    assert "Camille Martin" in screen.banner.text()  # PermissionDenied names the person
    assert screen.figure_labels["net"].text() == ""


def test_open_a_ticket_shows_its_lines_refunds_and_override(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg)
    screen.set_day(DAY)
    choose(screen.flag_box, FLAG_NO_RECEIPT)
    with qtbot.wait_signal(screen.ticket_shown) as blocker:
        screen.open_button.click()
    dialog = blocker.args[0]  # a child of the screen (deleted on close)
    assert isinstance(dialog, TicketDialog)
    texts = " ".join(w.text() for w in dialog.findChildren(type(screen.subtitle)))
    assert "Livre de mode" in texts
    assert "Livre neuf, client connu" in texts  # the manager's written reason (R01)
    assert "R07" in texts
    dialog.close()


def test_reprint_prints_a_journaled_duplicata(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg)
    screen.set_day(DAY)
    screen.table.selectRow(0)
    with qtbot.wait_signal(screen.reprinted) as blocker:
        screen.reprint_button.click()
    path = blocker.args[0]
    assert "DUPLICATA" in "".join(p.extract_text() for p in PdfReader(str(path)).pages)
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'duplicate'").fetchone()[0] == 1
    # no printer at this till: saved, journaled, never « imprimé » (issue 15)
    assert screen.banner.level == "error" and "Aucune imprimante" in screen.banner.text()


def test_export_writes_the_pdf_and_csv(qtbot, db, till_cfg, day_data, tmp_path):
    screen = make_screen(qtbot, db, till_cfg, reports_dir=tmp_path / "rapports")
    screen.set_day(DAY)
    with qtbot.wait_signal(screen.exported) as blocker:
        screen.export_button.click()
    files = blocker.args[0]
    assert files.pdf.exists() and files.csv.exists()
    assert files.pdf.parent == tmp_path / "rapports"


def test_close_the_day_asks_first_and_only_once(qtbot, db, till_cfg, day_data):
    screen = make_screen(qtbot, db, till_cfg, answers=[False, True, True])
    screen.set_day(DAY)
    # DAY is in the past: closing it "now" is a manager closing late, which the journal allows
    with qtbot.assert_not_emitted(screen.day_closed):
        screen.close_button.click()  # answered "no"
    assert db.execute("SELECT COUNT(*) FROM closures").fetchone()[0] == 0
    with qtbot.wait_signal(screen.day_closed) as blocker:
        screen.close_button.click()  # answered "yes"
    closure = blocker.args[0]
    assert closure.period == "2025-03-15"
    till1 = day_review(db, get_staff(db, 3), DAY).rows
    assert closure.net == sum(r.net for r in till1 if r.till_no == 1)
    assert not screen.close_button.isEnabled()
    state = day_closure(db, DAY, till_cfg)
    assert state.closed and screen.closure_label.text() == state.text
    assert format_money(closure.grand_total) in state.text
    screen.close_day()  # a second time, from the keyboard shortcut: refused by the journal
    assert screen.banner.level == "error"
    assert "2025-03-15" in screen.banner.text()
    assert db.execute("SELECT COUNT(*) FROM closures").fetchone()[0] == 1


def test_the_real_worker_thread_loads_the_day(qtbot, db, till_cfg, day_data):
    executor = ThreadExecutor(till_cfg.cache_path)
    screen = make_screen(qtbot, db, till_cfg, executor=executor)
    try:
        with qtbot.wait_signal(screen.loaded, timeout=10000):
            screen.set_day(DAY)
        assert screen.model.rowCount() == 7
    finally:
        executor.shutdown()


def test_open_review_entry_point(qtbot, db, till_cfg, day_data):
    services = Services(till_cfg, Ops(InlineExecutor(db)))
    services.set_staff(get_staff(db, 3))
    screen = open_review(None, services, day=DAY)
    qtbot.add_widget(screen)
    assert screen.isVisible()
    assert screen.model.rowCount() == 7
    assert screen.windowTitle() == _("Daily review of returns")


def test_keyboard_only_open_a_ticket_and_change_day(qtbot, db, till_cfg, day_data):
    from PySide6.QtCore import Qt

    screen = make_screen(qtbot, db, till_cfg)
    screen.show()
    qtbot.wait_exposed(screen)
    screen.set_day(DAY)
    screen.table.setFocus()
    screen.table.selectRow(2)
    with qtbot.wait_signal(screen.ticket_shown) as blocker:
        qtbot.keyClick(screen.table, Qt.Key.Key_Return)
    dialog = blocker.args[0]  # a child of the screen (deleted on close)
    assert dialog.row.ticket_id == screen.model.rows[2].ticket_id
    dialog.close()
    screen.activateWindow()
    qtbot.wait_until(screen.isActiveWindow)
    with qtbot.wait_signal(screen.loaded):
        qtbot.keyClick(screen.table, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert screen.day.isoformat() == "2025-03-14"


def test_a_double_click_opens_the_ticket_once(qtbot, db, till_cfg, day_data):
    from PySide6.QtCore import Qt

    screen = make_screen(qtbot, db, till_cfg)
    screen.show()
    qtbot.wait_exposed(screen)
    screen.set_day(DAY)
    opened = []
    screen.ticket_shown.connect(opened.append)
    rect = screen.table.visualRect(screen.model.index(1, 0))
    viewport = screen.table.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.wait_until(lambda: len(opened) >= 1)
    assert len(opened) == 1
    opened[0].close()  # deleted on close; its parent, the screen, is qtbot's


@pytest.mark.parametrize("size", [(1366, 860), (1280, 800)])
def test_nothing_is_clipped_on_a_till_screen(qtbot, db, till_cfg, day_data, size):
    """Filters, 'Clear filters' and the four action buttons fit the till's screen
    at their full size, and the net amount shows without scrolling the table."""
    screen = make_screen(qtbot, db, till_cfg)
    screen.resize(*size)
    screen.show()
    screen.set_day(DAY)
    assert screen.minimumSizeHint().width() <= size[0]
    assert screen.width() == size[0]
    widgets = (screen.staff_box, screen.dept_box, screen.reason_box, screen.tender_box,
               screen.flag_box, screen.reset_button, screen.open_button,
               screen.reprint_button, screen.export_button, screen.close_button)
    for widget in widgets:
        right = widget.mapTo(screen, widget.rect().topRight()).x()
        assert right < size[0], widget
        assert widget.width() >= widget.sizeHint().width(), widget
    head = screen.table.horizontalHeader()
    net_right = head.sectionPosition(screen.model.NET_COLUMN) + head.sectionSize(
        screen.model.NET_COLUMN)
    assert net_right <= screen.table.viewport().width()


def test_keyboard_today_and_clear_filters(qtbot, db, till_cfg, day_data):
    from datetime import date

    from PySide6.QtCore import Qt

    screen = make_screen(qtbot, db, till_cfg)
    screen.show()
    qtbot.wait_exposed(screen)
    screen.activateWindow()
    qtbot.wait_until(screen.isActiveWindow)
    screen.set_day(DAY)
    choose(screen.staff_box, 2)
    assert screen.model.rowCount() < 7
    screen.table.setFocus()
    with qtbot.wait_signal(screen.loaded):
        qtbot.keyClick(screen.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert screen.staff_box.currentData() is None and screen.model.rowCount() == 7
    with qtbot.wait_signal(screen.loaded):
        qtbot.keyClick(screen.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert screen.day == date.today()
    assert "Ctrl+D" in screen.today_button.toolTip().replace(" ", "")


def test_closing_saves_the_Z_report_as_a_PDF(qtbot, db, till_cfg, day_data, tmp_path):
    """Issue 17: after F10 the Z is rendered (database worker) then saved, and
    printed when a queue is configured (I/O pool)."""
    from dataclasses import replace

    cfg = replace(till_cfg, documents_dir=tmp_path / "docs", printer_queue="")
    screen = make_screen(qtbot, db, cfg, answers=[True])
    screen.set_day(DAY)
    with qtbot.wait_signal(screen.z_printed, timeout=20_000) as blocker:
        screen.close_button.click()
    path = blocker.args[0]
    assert path.exists() and path.read_bytes().startswith(b"%PDF")
    assert path.name.startswith("z-2025-03-15-caisse1")
    assert "Z" in screen.banner.text() and str(path) in screen.banner.text()


def test_the_review_shows_unconfirmed_reservations_and_quarantined_rows(qtbot, db, till_cfg,
                                                                        day_data):
    screen = make_screen(qtbot, db, till_cfg)
    screen.set_day(DAY)
    assert screen.sync_label.isHidden()
    sync_issue_rows(db)
    with qtbot.wait_signal(screen.loaded):
        screen.reload()
    assert not screen.sync_label.isHidden()
    assert "sale_lines.unit_price:bounds" in screen.sync_label.text()
    assert "jamais validée" in screen.sync_label.text()
