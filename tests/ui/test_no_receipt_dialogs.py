"""The no-receipt dialogs in pytest-qt: notice -> ID capture -> items -> manager (R07, R19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.engine.plan import TicketKind
from pos_returns.usecases import idcheck
from pos_returns.usecases.auth import find_staff
from pos_returns.usecases.idcheck import DocType, HistoryLevel
from tests.helpers import ean_of
from ui.dialogs.id_capture import IdCaptureDialog
from ui.dialogs.id_notice import IdNoticeDialog
from ui.dialogs.no_receipt import NoReceiptDialog, NoReceiptFlow, history_message
from ui.ops import InlineExecutor, Ops
from ui.services import Services

NUMBER = "X7Q9ZK4L2"
STYLE = Path(__file__).resolve().parents[2] / "resources" / "style.qss"


# The offscreen platform cannot resize a shown window to new size hints (the manager's
# dialog sets only a minimum width); that warning says nothing about our dialogs.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def styled(qapp):
    """The till's style sheet, for the screenshots."""
    from ui.app import style_sheet

    qapp.setStyleSheet(style_sheet())  # with the "alamara:" search path of its images
    yield qapp
    qapp.setStyleSheet("")


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(store_id=1, till_no=1, cache_path=tmp_cache,
                      key_path=tmp_path / "keys" / "journal_ed25519.pem",
                      documents_dir=tmp_path / "documents")


@pytest.fixture
def services(db, cfg) -> Services:
    svc = Services(cfg, Ops(InlineExecutor(db)))
    svc.set_staff(find_staff(db, "V001"))
    return svc


def _activate(qtbot, widget: QWidget) -> None:
    """Show and activate a dialog so that its keyboard shortcuts work."""
    widget.show()
    widget.activateWindow()
    qtbot.wait_until(widget.isActiveWindow)


def _all_texts(widget: QWidget) -> str:
    texts = [w.text() for w in widget.findChildren(QLabel)]
    texts += [w.text() for w in widget.findChildren(QLineEdit)]
    texts.append(widget.windowTitle())
    return "\n".join(texts)


def _seed_history(db, cfg, count: int, amount_each: int) -> str:
    key = idcheck.load_secret(cfg)
    h = idcheck.id_hash(key, NUMBER)
    now = datetime.now(UTC)
    idcheck.insert_ledger_rows(db, [
        {"uuid": f"hq-{i}", "id_hash": h, "amount": amount_each, "store_id": 2, "till_no": 1,
         "created_at": (now - timedelta(days=10 + i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for i in range(count)
    ])
    return h


# ------------------------------------------------------------------ notice


def test_R07_notice_must_be_acknowledged_before_capture(qtbot, cfg):
    dialog = IdNoticeDialog(cfg)
    qtbot.add_widget(dialog)
    _activate(qtbot, dialog)
    text = _all_texts(dialog)
    for words in ("abus", "intérêt légitime", "6(1)(f)", "13 mois", "CNIL", "rectification"):
        assert words in text, words
    assert not dialog.continue_button.isEnabled()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Enter does not skip the notice
    assert dialog.result() == 0 and dialog.isVisible()
    qtbot.keyClick(dialog, Qt.Key.Key_Space)
    assert dialog.acknowledged.isChecked() and dialog.continue_button.isEnabled()
    with qtbot.wait_signal(dialog.accepted):
        qtbot.keyClick(dialog, Qt.Key.Key_F10)


def test_R07_customer_declining_the_id_ends_the_flow(qtbot, services, db):
    flow = NoReceiptFlow(services)
    flow.start()
    qtbot.add_widget(flow.capture)
    assert flow.step == "capture"  # one dialog fewer: the notice is on request (F1)
    with qtbot.wait_signal(flow.ended) as ended:
        flow.capture.decline_button.click()
    assert ended.args == ["declined"]
    assert flow.panel is None
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0


def test_R07_capture_tells_the_staff_what_to_say_and_shows_the_full_notice_on_request(
        qtbot, services):
    dialog = IdCaptureDialog(services)
    qtbot.add_widget(dialog)
    _activate(qtbot, dialog)
    # a short staff-facing summary, not the customer's notice addressed as "vous"
    assert "Dites au client" in dialog.summary.text()
    assert "13" in dialog.summary.text() and "vous" not in dialog.summary.text()
    assert dialog.doc_type() == "cni"  # the usual document, chosen already
    qtbot.keyClick(dialog, Qt.Key.Key_F1)
    qtbot.wait_until(lambda: dialog.findChild(IdNoticeDialog) is not None)
    notice = dialog.findChild(IdNoticeDialog)
    assert notice.isVisible() and not notice.continue_button.isVisible()
    notice.reject()


# ------------------------------------------------------------------ capture


def test_R07_capture_shows_the_number_typed_and_keeps_only_last4_and_hash(qtbot, services, db):
    dialog = IdCaptureDialog(services)
    qtbot.add_widget(dialog)
    _activate(qtbot, dialog)
    # Shown while typed (a typo must be seen, or R19's count misses it); never kept.
    assert dialog.number.echoMode() == QLineEdit.EchoMode.Normal
    qtbot.keyClick(dialog, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert dialog.doc_type() == "passport"
    qtbot.keyClick(dialog, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert dialog.doc_type() == "cni"
    qtbot.keyClicks(dialog.number, "X7Q 9ZK 4L2")
    qtbot.keyClicks(dialog.name, "Marie Dupont")
    with qtbot.wait_signal(dialog.captured) as sig:
        qtbot.keyClick(dialog, Qt.Key.Key_F10)
    check, history = sig.args
    assert check.last4 == "K4L2" and check.doc_type == DocType.CNI
    assert history.count == 0 and history.level == HistoryLevel.OK
    assert dialog.number.text() == ""  # never shown again
    assert NUMBER not in _all_texts(dialog)
    row = db.execute("SELECT doc_type, last4, name, status FROM id_checks").fetchone()
    assert row == ("cni", "K4L2", "Marie Dupont", "pending")


@pytest.mark.parametrize(
    ("doc", "number", "name", "words"),
    [
        ("passport", "12", "Marie Dupont", "passeport"),
        ("cni", "12", "Marie Dupont", "9 à 12"),
        ("cni", NUMBER, "", "nom"),
    ],
)
def test_R07_capture_bad_input_shows_french_and_writes_nothing(
    qtbot, services, db, doc, number, name, words
):
    dialog = IdCaptureDialog(services)
    qtbot.add_widget(dialog)
    dialog.show()
    if doc:
        dialog.choose(doc)
    qtbot.keyClicks(dialog.number, number)
    qtbot.keyClicks(dialog.name, name)
    dialog.save_button.click()
    assert dialog.isVisible() and dialog.check is None
    assert dialog.banner.isVisible() and words in dialog.banner.text()
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0
    assert dialog.save_button.isEnabled()


# ------------------------------------------------------------------ the no-receipt panel


def _panel(qtbot, services, db, cfg, *, number=NUMBER):
    check = idcheck.capture(db, cfg, doc_type="cni", number=number, name="Marie Dupont",
                            staff_id=1)
    history = idcheck.history_for(db, check, cfg.policy)
    panel = NoReceiptDialog(services, check, history)
    qtbot.add_widget(panel)
    _activate(qtbot, panel)
    panel.reason.setCurrentIndex(panel.reason.findData("size"))  # the return reason
    return panel


def _scan(qtbot, panel, code):
    with qtbot.wait_signal(panel.plan_changed):
        panel.scan.setText(code)
        qtbot.keyClick(panel.scan, Qt.Key.Key_Return)


def _manager(qtbot, panel, decision: str, *, code="M001", pin="9999", reason="Cliente connue"):
    qtbot.keyClick(panel, Qt.Key.Key_F6)
    dialog = panel.manager_dialog
    assert dialog is not None and dialog.isVisible()
    rules = {rule for _n, rule, _w in dialog.items}
    dialog.code.setText(code)
    dialog.pin.setText(pin)
    dialog.reason.setText(reason)
    button = dialog.approve_button if decision == "approved" else dialog.refuse_button
    button.click()
    return rules


def test_R07_items_show_their_current_price_and_need_a_manager(qtbot, services, db, cfg):
    panel = _panel(qtbot, services, db, cfg)
    _scan(qtbot, panel, ean_of(db, "SKU-ROBE-01"))  # robe, 189,00 € today
    _scan(qtbot, panel, "SKU-CHEM-01")
    _scan(qtbot, panel, ean_of(db, "SKU-CHEM-01"))  # the same shirt again: quantity 2
    assert panel.table.rowCount() == 2
    assert panel.table.item(0, 0).text() == "Robe portefeuille en soie"
    assert panel.table.item(0, 2).text() == panel.table.item(0, 3).text()
    assert "189,00" in panel.table.item(0, 2).text()
    assert panel.table.item(1, 1).text() == "2"
    assert "158,00" in panel.table.item(1, 3).text()
    assert "347,00" in panel.total_amount.text()
    assert panel.plan.kind == TicketKind.NO_RECEIPT
    assert panel.plan.blocked
    assert "responsable" in panel.table.item(0, 4).text().lower()
    assert not panel.continue_button.isEnabled()  # R07: a manager decides
    assert panel.manager_button.isEnabled()


def test_R07_unknown_item_is_explained(qtbot, services, db, cfg):
    panel = _panel(qtbot, services, db, cfg)
    panel.scan.setText("NOPE-404")
    qtbot.keyClick(panel.scan, Qt.Key.Key_Return)
    assert panel.banner.isVisible() and "NOPE-404" in panel.banner.text()
    assert panel.table.rowCount() == 0
    # the code is kept, selected, so that the next scan replaces it
    assert panel.scan.text() == "NOPE-404" and panel.scan.selectedText() == "NOPE-404"


def test_R07_manager_approval_refunds_on_a_new_gift_card_at_current_price(
    qtbot, services, db, cfg
):
    panel = _panel(qtbot, services, db, cfg)
    _scan(qtbot, panel, ean_of(db, "SKU-ROBE-01"))
    with qtbot.wait_signal(panel.plan_changed):
        rules = _manager(qtbot, panel, "approved")
    assert "R07" in rules
    assert not panel.plan.blocked
    assert panel.continue_button.isEnabled()
    _activate(qtbot, panel)  # back from the manager's dialog
    with qtbot.wait_signal(panel.proceed) as sig:
        qtbot.keyClick(panel, Qt.Key.Key_F10)
    plan = sig.args[0]
    assert plan.request.id_check_uuid == panel.check.uuid
    assert plan.request.sale_id is None and plan.request.id_checked
    assert [(r.kind, r.amount, r.new_gift_card) for r in plan.refunds] == [
        ("gift_card", 18900, True)
    ]
    assert all(a.decision == "approved" and a.manager_id == 3 for a in plan.approvals)


def test_R07_manager_refusal_records_it_and_refunds_nothing(qtbot, services, db, cfg):
    panel = _panel(qtbot, services, db, cfg)
    _scan(qtbot, panel, ean_of(db, "SKU-ROBE-01"))
    with qtbot.wait_signal(panel.refused):
        _manager(qtbot, panel, "refused", reason="Article porté")
    assert "refusé" in panel.banner.text() and "Article porté" in panel.banner.text()
    assert not panel.continue_button.isEnabled()
    assert not panel.scan.isEnabled() and not panel.manager_button.isEnabled()
    status = db.execute("SELECT status FROM id_checks WHERE uuid = ?",
                        [panel.check.uuid]).fetchone()[0]
    assert status == "refused"
    assert idcheck.history(db, panel.check.id_hash) == (0, 0)  # not counted as a refund
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0


def test_R07_wrong_manager_pin_keeps_the_decision_open(qtbot, services, db, cfg):
    panel = _panel(qtbot, services, db, cfg)
    _scan(qtbot, panel, ean_of(db, "SKU-ROBE-01"))
    _manager(qtbot, panel, "approved", pin="0000")
    dialog = panel.manager_dialog
    assert dialog.isVisible() and "PIN" in dialog.banner.text()
    assert panel.plan.blocked and not panel.continue_button.isEnabled()


@pytest.mark.parametrize(
    ("count", "level", "banner_level", "words"),
    [
        (0, HistoryLevel.OK, "info", "Aucun retour"),
        (1, HistoryLevel.OK, "info", "1 retour"),
        (2, HistoryLevel.WARN, "warning", "vigilant"),
        (3, HistoryLevel.MANAGER, "warning", "responsable"),
        (5, HistoryLevel.REFUSE, "error", "limite"),
    ],
)
def test_R19_history_warning_at_each_threshold(
    qtbot, services, db, cfg, count, level, banner_level, words
):
    _seed_history(db, cfg, count, 1000)
    panel = _panel(qtbot, services, db, cfg)
    assert panel.history.count == count and panel.history.level == level
    assert panel.history_banner.isVisible()
    assert panel.history_banner.level == banner_level
    assert words in panel.history_banner.text()


def test_R19_refused_history_is_refused_by_the_engine_too(qtbot, services, db, cfg):
    _seed_history(db, cfg, 5, 1000)
    panel = _panel(qtbot, services, db, cfg)
    _scan(qtbot, panel, ean_of(db, "SKU-ROBE-01"))
    line = panel.plan.lines[0]
    assert line.verdict == "refused" and "R19" in line.rule_codes
    assert idcheck.classify_history(5, 5000, cfg.policy) == HistoryLevel.REFUSE


def test_R19_ui_level_agrees_with_the_engine(qtbot, services, db, cfg):
    strict = TillConfig(**{**cfg.__dict__, "policy": PolicyConfig(
        no_receipt_warn_count=1, no_receipt_manager_count=2, no_receipt_refuse_count=3,
        no_receipt_refuse_amount=30_000)})
    services.cfg = strict
    _seed_history(db, strict, 1, 12_000)  # 120 € before + 189 € now >= 300 €: refused
    panel = _panel(qtbot, services, db, strict)
    _scan(qtbot, panel, ean_of(db, "SKU-ROBE-01"))
    engine_refuses = any(r.rule == "R19" and r.level == "refused"
                         for r in panel.plan.lines[0].reasons)
    ui_level = idcheck.classify_history(panel.history.count, panel.history.amount,
                                        strict.policy, current_amount=panel.plan.refund_total)
    assert engine_refuses and ui_level == HistoryLevel.REFUSE


def test_history_message_names_count_and_amount(cfg):
    text = history_message(idcheck.History(3, 45_600, HistoryLevel.MANAGER), cfg)
    assert "3 retours" in text and "456,00" in text and "365 derniers jours" in text


# ------------------------------------------------------------------ the whole flow


def _walk_to_panel(qtbot, services):
    flow = NoReceiptFlow(services)
    flow.start()
    assert flow.step == "capture"
    qtbot.add_widget(flow.capture)
    flow.capture.choose("passport")
    flow.capture.number.setText("19AB12345")
    flow.capture.name.setText("Jean Martin")
    flow.capture.save_button.click()
    assert flow.step == "items"
    qtbot.add_widget(flow.panel)
    return flow


def test_R07_whole_no_receipt_flow_to_the_refund(qtbot, services, db, cfg):
    flow = _walk_to_panel(qtbot, services)
    panel = flow.panel
    assert "•••• 2345" in _all_texts(panel) and "19AB12345" not in _all_texts(panel)
    _scan(qtbot, panel, ean_of(db, "SKU-ESCA-01"))  # escarpins, 220,00 €
    assert panel.reason.hasFocus()  # the item is in: its reason, one digit
    with qtbot.wait_signal(panel.plan_changed):
        qtbot.keyClick(panel.reason, Qt.Key.Key_4)
    assert panel.scan.hasFocus()  # back to the scan field for the next item
    with qtbot.wait_signal(panel.plan_changed):
        _manager(qtbot, panel, "approved")
    with qtbot.wait_signal(flow.proceed) as sig:
        panel.continue_button.click()
    plan = sig.args[0]
    assert plan.refund_total == 22000
    assert [line.reason for line in plan.request.lines] == ["changed_mind"]  # recorded
    from pos_returns.usecases import tickets
    ticket = tickets.commit_plan(db, cfg, plan)
    idcheck.link_committed(db, ticket)  # idempotent if the writer already linked it
    row = db.execute("SELECT status, ticket_uuid, amount FROM id_checks WHERE uuid = ?",
                     [plan.request.id_check_uuid]).fetchone()
    assert row == ("refunded", ticket.uuid, 22000)
    check = idcheck.get_check(db, plan.request.id_check_uuid)
    assert idcheck.history(db, check.id_hash) == (1, 22000)


def test_R07_whole_flow_refusal(qtbot, services, db, cfg):
    flow = _walk_to_panel(qtbot, services)
    _scan(qtbot, flow.panel, ean_of(db, "SKU-ESCA-01"))
    with qtbot.wait_signal(flow.ended) as ended:
        _manager(qtbot, flow.panel, "refused", reason="Trop de retours")
    assert ended.args == ["refused"]
    flow.panel.reject()  # closing after a refusal keeps the record of the refusal
    assert db.execute("SELECT status FROM id_checks").fetchone()[0] == "refused"


def test_cancelling_the_panel_forgets_the_id(qtbot, services, db):
    flow = _walk_to_panel(qtbot, services)
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 1
    with qtbot.wait_signal(flow.ended) as ended:
        qtbot.keyClick(flow.panel, Qt.Key.Key_Escape)
    assert ended.args == ["cancelled"]
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0


# ------------------------------------------------------------------ screenshots


def test_screenshots_of_the_no_receipt_dialogs(qtbot, styled, services, db, cfg, tmp_path):
    from ui.dialogs.no_receipt import save_screenshots

    paths = save_screenshots(tmp_path, services, db)
    assert [p.name for p in paths] == [
        "no-receipt-1-notice.png", "no-receipt-2-id.png", "no-receipt-3-items.png",
        "no-receipt-4-refused.png",
    ]
    for path in paths:
        image = path.read_bytes()
        assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 10_000


def test_screenshot_items_exist_in_the_demo_catalogue(tmp_path):
    """`pos-returns screenshots` renders on the demo chain, whose catalogue has no
    SKU-ROBE-01: the items picture must still show two real articles, not « Article
    inconnu »."""
    from pos_returns.cache import db as store
    from pos_returns.demo import chain as demo
    from ui.dialogs.no_receipt import _two_plain_products

    demo_db = store.open_cache(tmp_path / "demo.sqlite")
    try:
        demo.build_demo(demo_db, sales=5, seed=7, parallel=False)
        first, second = _two_plain_products(demo_db)
        assert first != second
        for code in (first, second):
            row = demo_db.execute("SELECT gift_card, fine_jewelry FROM products WHERE ean = ?",
                                  [code]).fetchone()
            assert row is not None and tuple(row) == (0, 0)
    finally:
        demo_db.close()


def test_screenshot_items_use_the_test_catalogue_dress_and_shirt(db):
    from ui.dialogs.no_receipt import _two_plain_products

    assert _two_plain_products(db) == (ean_of(db, "SKU-ROBE-01"), ean_of(db, "SKU-CHEM-01"))
