"""``pos-returns screenshots``: every screen and dialog rendered offscreen to PNG.

Runs the real window on a demo cache (a small one built in a temporary folder
unless ``--db`` names one), drives it like a salesperson would, and grabs each
step with ``QWidget.grab()``. Ops run inline so each picture shows a settled
screen.

Any cache works, the one ``make run`` builds too: ``--db`` is copied, and so is its
key folder (the journal of the copy is signed by the cache's own key; nothing is
written next to the real one). Every picture is checked: a screen that shows an
error it was not meant to show makes the command fail (exit 1, in French), so a
broken set of pictures is never taken for a good one. The main screens are also
taken at 1920 x 1080 (``*-1920.png``).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from pos_returns.config import TillConfig
from pos_returns.demo import chain as demo
from pos_returns.engine.domain import Condition
from pos_returns.errors import AlamaraError
from pos_returns.i18n import _
from pos_returns.usecases.till import open_or_create_cache, open_worker_cache

from .app import build_window, create_application, process_events
from .ops import InlineExecutor

SIZE = (1366, 768)
LARGE = (1920, 1080)


class ScreensShowErrors(AlamaraError):
    """Some screens showed an error while they were rendered."""


def _settle(_app: QApplication | None = None) -> None:
    for _round in range(5):
        process_events()


def _demo_cache(folder: Path) -> Path:

    path = folder / "demo.sqlite"
    db = open_or_create_cache(path)
    demo.build_demo(db, sales=3000, seed=7)
    db.close()
    return path


def _one(db, sql: str, args: tuple = ()) -> int | None:
    row = db.conn.execute(sql, args).fetchone()
    return int(row[0]) if row else None


def _receipt_sale(db, store_id: int, extra: str = "", args: tuple = ()) -> int | None:
    return _one(
        db,
        "SELECT s.id FROM sales s WHERE s.store_id = ? AND s.channel = 'store' "
        "AND s.gift_receipt = 0 AND (SELECT COUNT(*) FROM sale_lines l WHERE l.sale_id = s.id "
        "AND l.sku NOT IN (SELECT sku FROM products WHERE gift_card = 1 OR fine_jewelry = 1)) "
        ">= 2 AND NOT EXISTS (SELECT 1 FROM return_lines r JOIN sale_lines l "
        "ON l.id = r.sale_line_id WHERE l.sale_id = s.id) " + extra
        + " ORDER BY s.sold_at DESC LIMIT 1",
        (store_id, *args),
    )


def render_all(cfg: TillConfig, out: Path, *, use_db: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="alamara-shots-"))
    try:
        if not use_db:
            cfg = cfg.with_cache(_demo_cache(tmp))
            key_path = tmp / "keys" / "journal.pem"
        else:  # never write into the real cache: work on a copy
            copy = tmp / "cache.sqlite"
            src = open_worker_cache(cfg.cache_path)
            src.conn.execute("VACUUM INTO ?", [str(copy)])
            src.close()
            # ... signed by its own key: a copy of the key folder (read, never changed)
            key_path = tmp / "keys" / Path(cfg.key_path).name
            if Path(cfg.key_path).parent.is_dir():
                shutil.copytree(Path(cfg.key_path).parent, key_path.parent)
            cfg = cfg.with_cache(copy)
        cfg = replace(cfg, documents_dir=tmp / "documents", printer_queue="",
                      key_path=key_path, idle_lock_seconds=0)
        paths, problems = _render(cfg, out)
        if problems:
            raise ScreensShowErrors(
                _("Screens that show an error: {details}").format(details=" | ".join(problems)))
        return paths
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _errors_shown(widget: QWidget) -> list[str]:
    from .widgets.common import Banner

    return [b.text() for b in widget.findChildren(Banner)
            if b.isVisible() and b.level == "error" and b.text()]


def _render(cfg: TillConfig, out: Path) -> tuple[list[Path], list[str]]:
    app = create_application(cfg)
    db = open_or_create_cache(cfg.cache_path)
    window = build_window(cfg, executor=InlineExecutor(db))
    window.resize(*SIZE)
    window.show()
    paths: list[Path] = []
    problems: list[str] = []

    def shot(name: str, widget: QWidget | None = None, *, expect_error: bool = False,
             large: bool = False) -> None:
        _settle(app)
        target = widget or window
        path = out / f"till-{name}.png"
        target.grab().save(str(path))
        paths.append(path)
        shown = _errors_shown(target)
        if shown and not expect_error:
            problems.append(f"{name}: {shown[0]}")
        if large and widget is None:
            window.resize(*LARGE)
            _settle(app)
            big = out / f"till-{name}-1920.png"
            window.grab().save(str(big))
            paths.append(big)
            window.resize(*SIZE)
            _settle(app)

    def type_in(widget: QWidget, text: str, enter: bool = True) -> None:
        widget.setFocus()
        QTest.keyClicks(widget, text)
        if enter:
            QTest.keyClick(widget, Qt.Key.Key_Return)
        _settle(app)

    # -- login -------------------------------------------------------------------------------
    shot("01-login")
    type_in(window.login.code, "V001")
    type_in(window.login.pin, "0000")
    shot("02-login-wrong-pin", expect_error=True)
    window.login.pin.clear()
    type_in(window.login.pin, "1111")
    # -- lookup ------------------------------------------------------------------------------
    shot("03-lookup", large=True)
    type_in(window.lookup.scan, "R00101250315000199")
    shot("04-lookup-malformed-barcode", expect_error=True)
    window.lookup.scan.clear()

    sale_id = _receipt_sale(db, cfg.store_id, "AND EXISTS (SELECT 1 FROM tenders t WHERE "
                            "t.sale_id = s.id AND t.kind = 'card') AND (SELECT COUNT(*) FROM "
                            "tenders t WHERE t.sale_id = s.id) = 1")
    if sale_id is not None:
        last4 = db.conn.execute(
            "SELECT card_last4 FROM tenders WHERE sale_id = ? AND kind = 'card'", [sale_id]
        ).fetchone()[0]
        window.lookup.choose_tab(0)
        window.lookup.card_last4.setText(last4)
        window.lookup.card_dates.start.setDate(window.lookup.card_dates.start.date().addYears(-4))
        window.lookup.search_other()
        shot("05-lookup-other-ways-card")
        window.lookup.choose_tab(1)
        window.lookup.customer_query.setText("Zzyzx")
        window.lookup.search_other()
        shot("06-lookup-nothing-found-no-receipt")

        from pos_returns.usecases.till import get_sale

        sale = get_sale(db, sale_id)
        window.lookup.scan.setText(sale.receipt_number)
        window.lookup.submit_code()
        _settle(app)
        shot("07-sale")
        plain = next(
            (c for c in window.sale.cards if db.conn.execute(
                "SELECT gift_card = 0 AND fine_jewelry = 0 AND return_tag_required = 0 "
                "FROM products WHERE sku = ?", [c.line.sku]).fetchone()[0]),
            window.sale.cards[0])
        plain.qty.setValue(1)
        plain.set_reason("size")
        _settle(app)
        shot("08-sale-line-accepted", large=True)
        # -- exchange ---------------------------------------------------------------------
        ean = db.conn.execute(
            "SELECT ean FROM products WHERE gift_card = 0 AND fine_jewelry = 0 "
            "AND current_price > ? ORDER BY current_price LIMIT 1",
            [plain.line.unit_price],
        ).fetchone()
        if ean:
            type_in(window.sale.exchange_scan, ean[0])
            shot("09-sale-exchange-to-pay")
            if window.sale.continue_button.isEnabled():
                window.sale.go_on()
                shot("09b-refund-exchange-customer-pays")
                window.refund.back_requested.emit()
                _settle(app)
            window.sale.remove_new_item()
            _settle(app)
        if window.sale.continue_button.isEnabled():
            window.sale.go_on()
            _settle(app)
            shot("10-refund-card")
            type_in(window.refund.card_field, "0000", enter=False)
            shot("11-refund-card-mismatch", expect_error=True)
            window.refund.card_field.clear()
            type_in(window.refund.card_field, last4, enter=False)
            window.refund.print_box.setChecked(True)
            if window.refund.confirm_button.isEnabled():
                window.refund.confirm()
                _settle(app)
                auth = getattr(window.refund, "auth_field", None)
                if window.current == "refund" and auth is not None and auth.isVisible():
                    # no terminal at the screenshots' till: the amount is done on the
                    # terminal by hand, confirmed with its authorisation number (issue 14)
                    shot("11b-refund-terminal-by-hand")
                    auth.setText("A12345")
                    window.refund.confirm()
                    _settle(app)
                if window.current != "done":
                    problems.append(_("The return could not be completed for the pictures."))
                # the screenshots' till has no printer: the done screen says so (issue 15)
                shot("12-done", expect_error=True)
                _render_ticket(window, out / "till-12b-ticket.png", paths)
                window.done.new_return.emit()
                _settle(app)

    # -- a tag removed (R13): blocked, manager --------------------------------------------------
    tagged = _receipt_sale(db, cfg.store_id, "AND EXISTS (SELECT 1 FROM sale_lines l JOIN "
                           "products p ON p.sku = l.sku WHERE l.sale_id = s.id AND "
                           "p.return_tag_required = 1)")
    if tagged is not None:
        from pos_returns.usecases.till import get_sale

        sale = get_sale(db, tagged)
        window.open_sale(sale)
        _settle(app)
        for line_card in window.sale.cards:
            prod = db.conn.execute("SELECT return_tag_required FROM products WHERE sku = ?",
                                   [line_card.line.sku]).fetchone()
            if prod and prod[0]:
                line_card.qty.setValue(1)
                line_card.set_condition(Condition.TAG_REMOVED)
                line_card.set_reason("changed_mind")
                break
        _settle(app)
        shot("13-sale-blocked-tag-removed", large=True, expect_error=True)  # blocked: red
        if window.sale.plan is not None:
            window.sale.ask_manager()
            _settle(app)
            dialog = window.manager_dialog
            if dialog is not None:
                dialog.code.setText("M001")
                dialog.reason.setText("Étiquette retrouvée dans le sac, article jamais porté")
                shot("14-manager-dialog", dialog)
                dialog.pin.setText("9999")
                dialog.decide("approved")
                _settle(app)
                shot("15-sale-approved-by-manager")

    # -- gift receipt (R06) and an international order (R15) ----------------------------------
    gift = _one(db, "SELECT id FROM sales WHERE gift_receipt = 1 AND channel = 'store' "
                "ORDER BY sold_at DESC LIMIT 1")
    if gift is not None:
        from pos_returns.usecases.till import get_sale

        window.open_sale(get_sale(db, gift))
        _settle(app)
        window.sale.return_everything()
        for line_card in window.sale.cards:
            line_card.set_reason("gift")
        _settle(app)
        shot("16-sale-gift-receipt")
        if window.sale.continue_button.isEnabled():
            window.sale.go_on()
            shot("17-refund-gift-card")
    intl = _one(db, "SELECT id FROM sales WHERE international = 1 ORDER BY sold_at DESC LIMIT 1")
    if intl is not None:
        from pos_returns.usecases.till import get_sale

        window.open_sale(get_sale(db, intl))
        _settle(app)
        window.sale.return_everything()
        for line_card in window.sale.cards:
            line_card.set_reason("size")
        shot("18-sale-international-order")

    # -- manager's header and daily review ----------------------------------------------------
    window.back_to_lookup_fresh()
    window.lock()
    shot("19-locked")
    window.login.switch_user()
    window.login.code.setText("M001")
    window.login.pin.setText("9999")
    window.login.submit()
    _settle(app)
    window.toggle_review()
    shot("20-manager-daily-review", large=True)
    review = window.review
    if review is not None and getattr(review, "open_ticket", None) is not None:
        shown: list[QWidget] = []
        review.ticket_shown.connect(shown.append)
        review.open_ticket()
        _settle(app)
        if shown:
            shown[0].adjustSize()
            shot("21-review-ticket-details", shown[0])
            shown[0].close()
    window.toggle_review()
    _settle(app)

    # -- fine-jewelry mode (R14): a specialist, Ctrl+J, a jewel, F4 -----------------------------
    jeweller = db.conn.execute("SELECT code FROM staff WHERE role = 'jewelry' AND store_id = ? "
                               "ORDER BY code LIMIT 1", [cfg.store_id]).fetchone()
    jewel = _one(db, "SELECT s.id FROM sales s WHERE s.store_id = ? AND EXISTS (SELECT 1 FROM "
                 "sale_lines l JOIN products p ON p.sku = l.sku WHERE l.sale_id = s.id AND "
                 "p.fine_jewelry = 1) ORDER BY s.sold_at DESC LIMIT 1", (cfg.store_id,))
    if jeweller is not None and jewel is not None:
        from pos_returns.usecases.till import get_sale

        window.lock()
        window.login.switch_user()
        window.login.code.setText(jeweller[0])
        window.login.pin.setText("2222")  # the demo specialists' PIN
        window.login.submit()
        _settle(app)
        window.toggle_jewelry_mode()
        _settle(app)
        window.open_sale(get_sale(db, jewel))
        _settle(app)
        for line_card in window.sale.cards:
            if line_card.qty.isEnabled():
                line_card.qty.setValue(1)
                line_card.set_reason("changed_mind")
                break
        shot("22-jewelry-mode-checks-to-do")
        window.open_jewelry_checks()
        _settle(app)
        dialog = getattr(window, "jewelry_dialog", None)
        if dialog is not None:
            shot("23-jewelry-checks-dialog", dialog)
            dialog.reject()
            _settle(app)
        window.toggle_jewelry_mode()
    window.close()

    # -- the other modules' dialogs (no-receipt flow), when they offer their pictures -------
    try:
        from .dialogs.no_receipt import save_screenshots
    except ImportError:
        save_screenshots = None
    if save_screenshots is not None:
        from pos_returns.usecases.auth import find_staff

        from .ops import Ops
        from .services import Services

        services = Services(cfg, Ops(InlineExecutor(db)))
        services.set_staff(find_staff(db, "V001"))
        paths.extend(save_screenshots(out, services, db))
    db.close()
    return paths, problems


def _render_ticket(window, target: Path, paths: list[Path]) -> None:
    """The return ticket as printed (poppler's pdftoppm, when the machine has it)."""
    import subprocess

    result = getattr(window.done, "last_result", None)
    pdf = getattr(result, "ticket_pdf", None)
    if pdf is None or shutil.which("pdftoppm") is None:
        return
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf),
                    str(target.with_suffix(""))], check=True, timeout=60)
    paths.append(target)
