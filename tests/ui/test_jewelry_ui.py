"""The fine-jewelry mode at the till (R14), driven with keys and the mouse: Ctrl+J,
the banner, F4 checks (proof, serial, inspection, signature), a wrong card, a wrong
serial, a store without the department, the manager above the threshold, the
signature drawn on the ticket PDF, and the mode left when the till locks."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from pos_returns.cache import jewelry as jewelry_records
from pos_returns.config import TillConfig
from pos_returns.journal import chain as journal
from tests.helpers import L, T, add_sale
from tests.helpers.ui import (
    confirm,
    log_in,
    make_window,
    open_sale,
    press,
    take_back,
    to_refund,
    verdict,
)
from ui.ops import InlineExecutor
from ui.widgets.signature_pad import SignaturePad

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

# The jewelry screens are rendered while the flow runs; to refresh the ones in
# docs/: POS_RETURNS_SCREENSHOTS=docs/screenshots pytest tests/ui/test_jewelry_ui.py
SHOTS = Path(os.environ.get("POS_RETURNS_SCREENSHOTS")
             or Path(tempfile.gettempdir()) / "alamara-jewelry-screenshots")


# -- helpers ---------------------------------------------------------------------------------

def necklace_sale(db, **kw) -> int:
    return add_sale(db, [L("SKU-COLL-01", 1, 65000, serial="PRL-0042"),
                         L("SKU-CHEM-01", 1, 7900)],
                    [T("card", 72900, "4242", "fp-necklace")], **kw)


def mode_records(db, store_id=1, till_no=1) -> list[tuple[str, dict]]:
    return [(r.kind, r.payload) for r in journal.iter_records(db, store_id, till_no)
            if r.kind.startswith("jewelry_mode")]


def sign(qtbot, canvas) -> None:
    """The customer's finger: press, a few moves with the button held, release."""
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(30, 120))
    for x, y in [(60, 60), (100, 130), (150, 50), (200, 120), (260, 70), (320, 110)]:
        event = QMouseEvent(QEvent.Type.MouseMove, QPointF(x, y),
                            QPointF(canvas.mapToGlobal(QPoint(x, y))), Qt.MouseButton.NoButton,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, event)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(340, 100))


def enter_mode(qtbot, window) -> None:
    press(qtbot, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)


def open_checks(qtbot, window):
    press(qtbot, Qt.Key.Key_F4)
    qtbot.wait_until(lambda: getattr(window, "jewelry_dialog", None) is not None)
    dialog = window.jewelry_dialog
    dialog.activateWindow()
    qtbot.wait_until(dialog.isActiveWindow)
    return dialog


def type_into(qtbot, field, text: str) -> None:
    field.setFocus()
    field.selectAll()
    qtbot.keyClick(field, Qt.Key.Key_Delete)
    qtbot.keyClicks(field, text)


def fill_checks(qtbot, dialog, *, last4="4242", fingerprint="fp-necklace", serial="PRL-0042",
                signed=True) -> None:
    type_into(qtbot, dialog.card_last4, last4)
    type_into(qtbot, dialog.fingerprint, fingerprint)
    type_into(qtbot, dialog.pieces[0].serial, serial)
    qtbot.keyClick(dialog.pieces[0].serial, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    if signed and dialog.pad.is_empty() and not dialog.had_signature:
        sign(qtbot, dialog.pad.canvas)


def save_checks(qtbot, window, dialog) -> None:
    qtbot.keyClick(dialog.pieces[0].serial, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: getattr(window, "jewelry_dialog", None) is None)
    qtbot.wait_until(window.sale.is_settled)


def flat(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def render_page(pdf: Path, target: Path) -> None:
    """The ticket as printed, for docs/ (poppler's pdftoppm, as the documents tests)."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: run tools/system-deps.sh (poppler-utils)")
    stem = target.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf), str(stem)],
                   check=True, timeout=60)
    assert target.exists()


def shoot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / name))


# -- the signature pad ----------------------------------------------------------------------

def test_R14_signature_pad_exports_a_png_only_once_signed(qtbot, styled_app):
    pad = SignaturePad()
    qtbot.add_widget(pad)
    pad.resize(600, 260)
    pad.show()
    qtbot.wait_exposed(pad)
    assert pad.is_empty() and pad.to_png() == b""
    with qtbot.wait_signal(pad.changed):
        sign(qtbot, pad.canvas)
    png = pad.to_png()
    image = Image.open(BytesIO(png))
    assert image.format == "PNG" and image.size == (600, 200)
    ink = [p for p in image.convert("L").tobytes() if p < 128]
    assert len(ink) > 200  # strokes, not a blank page
    qtbot.mouseClick(pad.clear_button, Qt.MouseButton.LeftButton)
    assert pad.is_empty() and pad.to_png() == b""


# -- the mode -------------------------------------------------------------------------------

def test_R14_specialist_enters_the_mode_banner_shows_it_lock_leaves_it(qtbot, db, window):
    log_in(qtbot, window, "B001", "2222")
    assert not window.jewelry_banner.isVisible()
    enter_mode(qtbot, window)
    qtbot.wait_until(window.jewelry_banner.isVisible)
    assert window.jewelry_banner.title.text() == "Mode joaillerie · Inès Laurent"
    assert [k for k, _p in mode_records(db)] == ["jewelry_mode_on"]
    shoot(window, "jewelry-mode.png")
    # Ctrl+L locks the till: the mode is left, and the journal says why.
    press(qtbot, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait_until(lambda: window.current == "login")
    assert not window.jewelry.on and not window.jewelry_banner.isVisible()
    assert mode_records(db)[-1] == ("jewelry_mode_off", mode_records(db)[-1][1])
    assert mode_records(db)[-1][1]["reason"] == "lock"
    assert journal.verify(db).ok


def test_R14_a_salesperson_cannot_enter_the_mode(qtbot, db, window):
    log_in(qtbot, window, "V001", "1111")
    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: window.lookup.banner.isVisible() or window.banner.isVisible())
    shown = window.lookup.banner.text() + window.banner.text()
    assert "Seuls les spécialistes joaillerie" in shown
    assert not window.jewelry.on and mode_records(db) == []


# -- the flow -------------------------------------------------------------------------------

def test_R14_flow_wrong_card_then_wrong_serial_then_signed_ticket(qtbot, db, window):
    sale_id = necklace_sale(db)
    log_in(qtbot, window, "B001", "2222")
    open_sale(qtbot, db, window, sale_id, login=False)
    # Outside the mode the till says what to do, and the engine refuses the line.
    assert "mode joaillerie" in window.sale.jewelry_notice.text()
    assert not window.sale.jewelry_button.isVisible()
    take_back(qtbot, window, 0, 1)
    assert verdict(window, 0).startswith("Bloqué")
    assert "mode joaillerie" in verdict(window, 0)

    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: window.jewelry.on and window.sale.is_settled())
    assert window.sale.jewelry_button.isVisible()
    assert "contrôle de la pièce" in verdict(window, 0)  # nothing checked yet

    # 1. a wrong card: the right last 4 digits, but the terminal reads another card
    dialog = open_checks(qtbot, window)
    fill_checks(qtbot, dialog, fingerprint="fp-someone-else")
    shoot(dialog, "jewelry-checks.png")
    save_checks(qtbot, window, dialog)
    assert "carte présentée n’est pas celle utilisée" in verdict(window, 0)
    assert not window.sale.continue_button.isEnabled()

    # 2. the right card, a wrong serial
    dialog = open_checks(qtbot, window)
    assert dialog.had_signature and dialog.card_last4.text() == "4242"  # kept
    fill_checks(qtbot, dialog, serial="PRL-0043")
    save_checks(qtbot, window, dialog)
    # issue 12: a serial number that is not the piece sold is its own rule, never
    # overridden (no R14 approval covers it): refused, and F6 is not offered
    assert "PRL-0043" in verdict(window, 0) and verdict(window, 0).startswith("Refusé")
    assert not window.sale.manager_button.isEnabled()
    shoot(window, "jewelry-refused.png")

    # 3. everything right: accepted; on to the refund and the ticket
    dialog = open_checks(qtbot, window)
    fill_checks(qtbot, dialog)
    save_checks(qtbot, window, dialog)
    assert verdict(window, 0).startswith("Accepté")
    shoot(window, "jewelry-accepted.png")
    to_refund(qtbot, window)
    assert window.refund.card_field.text() == "4242"  # the card of the proof
    qtbot.wait_until(window.refund.is_settled)
    confirm(qtbot, window)
    [ticket] = list(db.query("SELECT * FROM return_tickets"))
    record = jewelry_records.load_ticket_record(db, ticket["uuid"])
    assert record is not None and record.inspections[0]["serial_number"] == "PRL-0042"
    assert all(record.inspections[0][k] is True for k in ("condition", "hallmark", "clasp",
                                                          "stones"))
    [rec] = list(journal.iter_records(db, 1, 1, kind="ticket"))
    assert rec.payload["jewelry"]["signature_sha256"] == record.sha256
    qtbot.wait_until(lambda: window.done.deliveries == 1)
    reader = PdfReader(str(window.done.last_result.ticket_pdf))
    text = flat(" ".join(page.extract_text() for page in reader.pages))
    assert "Signature du client" in text and "Poinçon conforme" in text
    sizes = [img.image.size for page in reader.pages for img in page.images]
    assert (600, 200) in sizes  # the signature drawn on the ticket
    render_page(window.done.last_result.ticket_pdf, SHOTS / "jewelry-ticket.png")


def test_R14_R12_failed_inspection_and_high_value_go_to_the_manager(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-BAGU-01", 1, 640000, serial="BG-2025-000417")],
                       [T("card", 640000, "4242", "fp-ring")])
    log_in(qtbot, window, "B001", "2222")
    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: window.jewelry.on)
    open_sale(qtbot, db, window, sale_id, login=False)
    take_back(qtbot, window, 0, 1)
    dialog = open_checks(qtbot, window)
    fill_checks(qtbot, dialog, fingerprint="fp-ring", serial="bg 2025 000417")
    clasp = dialog.pieces[0].items["clasp"]
    clasp.setFocus()
    qtbot.keyClick(clasp, Qt.Key.Key_Down)  # OK -> Not OK
    type_into(qtbot, dialog.pieces[0].notes, "fermoir un peu lache")
    save_checks(qtbot, window, dialog)
    text = verdict(window, 0)
    assert text.startswith("Accord du responsable") and "Fermoir" in text and "1 000" in flat(text)
    press(qtbot, Qt.Key.Key_F6)
    qtbot.wait_until(lambda: window.manager_dialog is not None)
    manager = window.manager_dialog
    manager.activateWindow()
    qtbot.wait_until(manager.isActiveWindow)
    qtbot.keyClicks(manager.code, "M001")
    qtbot.keyClicks(manager.pin, "9999")
    qtbot.keyClicks(manager.reason, "Fermoir a resserrer, cliente connue")
    qtbot.keyClick(manager.reason, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.manager_dialog is None)
    qtbot.wait_until(window.sale.is_settled)
    assert verdict(window, 0).startswith("Accepté par un responsable")


def test_R14_store_without_the_department_names_the_nearest_one(qtbot, db, tmp_path,
                                                                tmp_cache, styled_app):
    cfg = TillConfig(store_id=2, till_no=1, cache_path=tmp_cache,
                     key_path=tmp_path / "keys" / "lyon.pem",
                     documents_dir=tmp_path / "documents", idle_lock_seconds=0)
    window = make_window(qtbot, cfg, InlineExecutor(db))
    sale_id = necklace_sale(db)  # sold in Paris, brought back in Lyon
    log_in(qtbot, window, "M201", "8888")
    open_sale(qtbot, db, window, sale_id, login=False)
    notice = window.sale.jewelry_notice.text()
    assert "aucun rayon Joaillerie" in notice and "Alamara Paris Haussmann (Paris)" in notice
    take_back(qtbot, window, 0, 1)
    assert verdict(window, 0).startswith("Refusé — aucune dérogation")
    assert "Alamara Paris Haussmann (Paris)" in verdict(window, 0)
    # Not even a manager can switch a store without the department to the mode.
    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: "rayon Joaillerie" in window.sale.banner.text())
    assert not window.jewelry.on and mode_records(db, 2, 1) == []
    shoot(window, "jewelry-no-department.png")


def test_R14_till_says_when_the_checks_are_signed(qtbot, db, window):
    sale_id = necklace_sale(db)
    log_in(qtbot, window, "B001", "2222")
    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: window.jewelry.on)
    open_sale(qtbot, db, window, sale_id, login=False)
    take_back(qtbot, window, 0, 1)
    dialog = open_checks(qtbot, window)
    fill_checks(qtbot, dialog, signed=False)
    save_checks(qtbot, window, dialog)
    assert "pas encore signé" in window.sale.jewelry_notice.text()
    assert "signera" in verdict(window, 0)  # accepted, with the signature still to come
    dialog = open_checks(qtbot, window)
    sign(qtbot, dialog.pad.canvas)
    save_checks(qtbot, window, dialog)
    assert "signés par le client" in window.sale.jewelry_notice.text()
    assert window.sale.continue_button.isEnabled()


def test_R14_online_order_proven_by_its_packing_slip(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-COLL-01", 1, 65000, serial="PRL-0099")],
                       [T("card", 65000, "5555", "fp-web")], channel="online",
                       order_number="W100000001", packing_slip="PS-778812")
    log_in(qtbot, window, "B001", "2222")
    enter_mode(qtbot, window)
    qtbot.wait_until(lambda: window.jewelry.on)
    open_sale(qtbot, db, window, sale_id, login=False)
    take_back(qtbot, window, 0, 1)
    dialog = open_checks(qtbot, window)
    assert dialog.slip.hasFocus()  # an online order: the packing slip first
    type_into(qtbot, dialog.slip, "PS-778813")
    fill_checks(qtbot, dialog, last4="", fingerprint="", serial="PRL-0099")
    save_checks(qtbot, window, dialog)
    assert "bordereau" in verdict(window, 0) and verdict(window, 0).startswith("Bloqué")
    dialog = open_checks(qtbot, window)
    type_into(qtbot, dialog.slip, "ps 778812")  # as read off the slip
    save_checks(qtbot, window, dialog)
    assert verdict(window, 0).startswith("Accepté")


def test_R14_mode_on_and_off_through_the_real_worker_thread(qtbot, db, threaded_window):
    window = threaded_window
    log_in(qtbot, window, "M001", "9999")
    qtbot.wait_until(lambda: window.current == "lookup")
    enter_mode(qtbot, window)
    qtbot.wait_until(window.jewelry_banner.isVisible)
    assert "Sophie Bernard" in window.jewelry_banner.title.text()
    qtbot.mouseClick(window.jewelry_banner.leave_button, Qt.MouseButton.LeftButton)
    assert not window.jewelry_banner.isVisible()
    qtbot.wait_until(lambda: len(mode_records(db)) == 2)
    assert [(k, p["staff_code"]) for k, p in mode_records(db)] == [
        ("jewelry_mode_on", "M001"), ("jewelry_mode_off", "M001")]


def test_R14_demo_card_reader_is_off_on_a_till_with_an_hq(qtbot, db, till_cfg):
    """F3 "reads" the sale's own card only on a demo till; with an HQ configured the
    button is hidden and the key must not fill the fingerprint from the sale either."""
    from dataclasses import replace

    from pos_returns.cache.lookup import get_sale
    from ui.dialogs.jewelry_proof import JewelryChecksDialog
    from ui.ops import Ops
    from ui.screens.jewelry_banner import JewelryMode
    from ui.services import Services

    sale = get_sale(db, necklace_sale(db))
    for hq, expected in (("", "fp-necklace"), ("postgresql://hq.invalid/alamara", "")):
        services = Services(replace(till_cfg, hq_dsn=hq), Ops(InlineExecutor(db)))
        dialog = JewelryChecksDialog(services, JewelryMode(services), sale)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.activateWindow()
        qtbot.wait_until(dialog.isActiveWindow)
        assert dialog.read_button.isVisible() == (not hq)
        qtbot.keyClick(dialog, Qt.Key.Key_F3)
        assert dialog.fingerprint.text() == expected
        dialog.close()
