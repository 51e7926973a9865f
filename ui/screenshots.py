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
import subprocess
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
from pos_returns.usecases.auth import find_staff, pepper_of
from pos_returns.usecases.till import get_sale, open_or_create_cache, open_worker_cache

from .app import build_window, create_application, process_events
from .dialogs.no_receipt import save_screenshots
from .ops import InlineExecutor, Ops
from .services import Services

SIZE = (1366, 768)
LARGE = (1920, 1080)


class ScreensShowErrors(AlamaraError):
    """Some screens showed an error while they were rendered."""


def _settle(_app: QApplication | None = None) -> None:
    for _round in range(5):
        process_events()


def _demo_cache(folder: Path, cfg: TillConfig) -> Path:
    """A demo chain whose staff log in with the demo PINs at the till of ``cfg``'s keys."""
    path = folder / "demo.sqlite"
    db = open_or_create_cache(path)
    demo.build_demo(db, sales=3000, seed=7, pepper=pepper_of(cfg))
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
            key_path = tmp / "keys" / "journal.pem"
            cfg = cfg.with_cache(_demo_cache(tmp, replace(cfg, key_path=key_path)))
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


class _Shots:
    """The window driven for the pictures, and what they gave: the files, the problems."""

    def __init__(self, cfg: TillConfig, out: Path) -> None:
        self.cfg = cfg
        self.out = out
        self.app = create_application(cfg)
        self.db = open_or_create_cache(cfg.cache_path)
        self.window = build_window(cfg, executor=InlineExecutor(self.db))
        self.window.resize(*SIZE)
        self.window.show()
        self.paths: list[Path] = []
        self.problems: list[str] = []

    def settle(self) -> None:
        _settle(self.app)

    def shot(self, name: str, widget: QWidget | None = None, *, expect_error: bool = False,
             large: bool = False) -> None:
        self.settle()
        window = self.window
        target = widget or window
        path = self.out / f"till-{name}.png"
        target.grab().save(str(path))
        self.paths.append(path)
        shown = _errors_shown(target)
        if shown and not expect_error:
            self.problems.append(f"{name}: {shown[0]}")
        if large and widget is None:
            window.resize(*LARGE)
            self.settle()
            big = self.out / f"till-{name}-1920.png"
            window.grab().save(str(big))
            self.paths.append(big)
            window.resize(*SIZE)
            self.settle()

    def type_in(self, widget: QWidget, text: str, enter: bool = True) -> None:
        widget.setFocus()
        QTest.keyClicks(widget, text)
        if enter:
            QTest.keyClick(widget, Qt.Key.Key_Return)
        self.settle()


def _render(cfg: TillConfig, out: Path) -> tuple[list[Path], list[str]]:
    s = _Shots(cfg, out)
    _shoot_login_and_lookup(s)
    _shoot_receipt_return(s)
    _shoot_tag_removed(s)
    _shoot_gift_and_international(s)
    _shoot_manager_review(s)
    _shoot_jewelry(s)
    s.window.close()
    _shoot_no_receipt(s)
    s.db.close()
    return s.paths, s.problems


def _shoot_login_and_lookup(s: _Shots) -> None:
    window = s.window
    # -- login -------------------------------------------------------------------------------
    s.shot("01-login")
    s.type_in(window.login.code, "V001")
    s.type_in(window.login.pin, "0000")
    s.shot("02-login-wrong-pin", expect_error=True)
    window.login.pin.clear()
    s.type_in(window.login.pin, "1111")
    # -- lookup ------------------------------------------------------------------------------
    s.shot("03-lookup", large=True)
    s.type_in(window.lookup.scan, "R00101250315000199")
    s.shot("04-lookup-malformed-barcode", expect_error=True)
    window.lookup.scan.clear()


def _shoot_receipt_return(s: _Shots) -> None:
    """A sale paid by card: other ways to find it, the sale, an exchange, the refund."""
    window, db = s.window, s.db
    sale_id = _receipt_sale(db, s.cfg.store_id, "AND EXISTS (SELECT 1 FROM tenders t WHERE "
                            "t.sale_id = s.id AND t.kind = 'card') AND (SELECT COUNT(*) FROM "
                            "tenders t WHERE t.sale_id = s.id) = 1")
    if sale_id is None:
        return
    last4 = db.conn.execute(
        "SELECT card_last4 FROM tenders WHERE sale_id = ? AND kind = 'card'", [sale_id]
    ).fetchone()[0]
    window.lookup.choose_tab(0)
    window.lookup.card_last4.setText(last4)
    window.lookup.card_dates.start.setDate(window.lookup.card_dates.start.date().addYears(-4))
    window.lookup.search_other()
    s.shot("05-lookup-other-ways-card")
    window.lookup.choose_tab(1)
    window.lookup.customer_query.setText("Zzyzx")
    window.lookup.search_other()
    s.shot("06-lookup-nothing-found-no-receipt")

    sale = get_sale(db, sale_id)
    window.lookup.scan.setText(sale.receipt_number)
    window.lookup.submit_code()
    s.settle()
    s.shot("07-sale")
    plain = next(
        (c for c in window.sale.cards if db.conn.execute(
            "SELECT gift_card = 0 AND fine_jewelry = 0 AND return_tag_required = 0 "
            "FROM products WHERE sku = ?", [c.line.sku]).fetchone()[0]),
        window.sale.cards[0])
    plain.qty.setValue(1)
    plain.set_reason("size")
    s.settle()
    s.shot("08-sale-line-accepted", large=True)
    _shoot_exchange(s, plain)
    if window.sale.continue_button.isEnabled():
        window.sale.go_on()
        s.settle()
        _shoot_card_refund(s, last4)


def _shoot_exchange(s: _Shots, plain) -> None:
    """An exchange for a dearer item: the customer pays the difference."""
    window = s.window
    ean = s.db.conn.execute(
        "SELECT ean FROM products WHERE gift_card = 0 AND fine_jewelry = 0 "
        "AND current_price > ? ORDER BY current_price LIMIT 1",
        [plain.line.unit_price],
    ).fetchone()
    if ean:
        s.type_in(window.sale.exchange_scan, ean[0])
        s.shot("09-sale-exchange-to-pay")
        if window.sale.continue_button.isEnabled():
            window.sale.go_on()
            s.shot("09b-refund-exchange-customer-pays")
            window.refund.back_requested.emit()
            s.settle()
        window.sale.remove_new_item()
        s.settle()


def _shoot_card_refund(s: _Shots, last4: str) -> None:
    """The refund to the card, the wrong card first, then the done screen and ticket."""
    window = s.window
    s.shot("10-refund-card")
    s.type_in(window.refund.card_field, "0000", enter=False)
    s.shot("11-refund-card-mismatch", expect_error=True)
    window.refund.card_field.clear()
    s.type_in(window.refund.card_field, last4, enter=False)
    window.refund.print_box.setChecked(True)
    if not window.refund.confirm_button.isEnabled():
        return
    window.refund.confirm()
    s.settle()
    auth = getattr(window.refund, "auth_field", None)
    if window.current == "refund" and auth is not None and auth.isVisible():
        # no terminal at the screenshots' till: the amount is done on the
        # terminal by hand, confirmed with its authorisation number (issue 14)
        s.shot("11b-refund-terminal-by-hand")
        auth.setText("A12345")
        window.refund.confirm()
        s.settle()
    if window.current != "done":
        s.problems.append(_("The return could not be completed for the pictures."))
    # the screenshots' till has no printer: the done screen says so (issue 15)
    s.shot("12-done", expect_error=True)
    _render_ticket(window, s.out / "till-12b-ticket.png", s.paths)
    window.done.new_return.emit()
    s.settle()


def _shoot_tag_removed(s: _Shots) -> None:
    """A tag removed (R13): blocked, a manager approves."""
    window, db = s.window, s.db
    tagged = _receipt_sale(db, s.cfg.store_id, "AND EXISTS (SELECT 1 FROM sale_lines l JOIN "
                           "products p ON p.sku = l.sku WHERE l.sale_id = s.id AND "
                           "p.return_tag_required = 1)")
    if tagged is None:
        return
    sale = get_sale(db, tagged)
    window.open_sale(sale)
    s.settle()
    for line_card in window.sale.cards:
        prod = db.conn.execute("SELECT return_tag_required FROM products WHERE sku = ?",
                               [line_card.line.sku]).fetchone()
        if prod and prod[0]:
            line_card.qty.setValue(1)
            line_card.set_condition(Condition.TAG_REMOVED)
            line_card.set_reason("changed_mind")
            break
    s.settle()
    s.shot("13-sale-blocked-tag-removed", large=True, expect_error=True)  # blocked: red
    if window.sale.plan is not None:
        window.sale.ask_manager()
        s.settle()
        dialog = window.manager_dialog
        if dialog is not None:
            dialog.code.setText("M001")
            dialog.reason.setText("Étiquette retrouvée dans le sac, article jamais porté")
            s.shot("14-manager-dialog", dialog)
            dialog.pin.setText("9999")
            dialog.decide("approved")
            s.settle()
            s.shot("15-sale-approved-by-manager")


def _shoot_gift_and_international(s: _Shots) -> None:
    """A gift receipt (R06) and an international order (R15)."""
    window, db = s.window, s.db
    gift = _one(db, "SELECT id FROM sales WHERE gift_receipt = 1 AND channel = 'store' "
                "ORDER BY sold_at DESC LIMIT 1")
    if gift is not None:
        window.open_sale(get_sale(db, gift))
        s.settle()
        window.sale.return_everything()
        for line_card in window.sale.cards:
            line_card.set_reason("gift")
        s.settle()
        s.shot("16-sale-gift-receipt")
        if window.sale.continue_button.isEnabled():
            window.sale.go_on()
            s.shot("17-refund-gift-card")
    intl = _one(db, "SELECT id FROM sales WHERE international = 1 ORDER BY sold_at DESC LIMIT 1")
    if intl is not None:
        window.open_sale(get_sale(db, intl))
        s.settle()
        window.sale.return_everything()
        for line_card in window.sale.cards:
            line_card.set_reason("size")
        s.shot("18-sale-international-order")


def _shoot_manager_review(s: _Shots) -> None:
    """The locked till, then the manager's header and daily review."""
    window = s.window
    window.back_to_lookup_fresh()
    window.lock()
    s.shot("19-locked")
    window.login.switch_user()
    window.login.code.setText("M001")
    window.login.pin.setText("9999")
    window.login.submit()
    s.settle()
    window.toggle_review()
    s.shot("20-manager-daily-review", large=True)
    review = window.review
    if review is not None and getattr(review, "open_ticket", None) is not None:
        shown: list[QWidget] = []
        review.ticket_shown.connect(shown.append)
        review.open_ticket()
        s.settle()
        if shown:
            shown[0].adjustSize()
            s.shot("21-review-ticket-details", shown[0])
            shown[0].close()
    window.toggle_review()
    s.settle()


def _shoot_jewelry(s: _Shots) -> None:
    """Fine-jewelry mode (R14): a specialist, Ctrl+J, a jewel, F4."""
    window, db = s.window, s.db
    jeweller = db.conn.execute("SELECT code FROM staff WHERE role = 'jewelry' AND store_id = ? "
                               "ORDER BY code LIMIT 1", [s.cfg.store_id]).fetchone()
    jewel = _one(db, "SELECT s.id FROM sales s WHERE s.store_id = ? AND EXISTS (SELECT 1 FROM "
                 "sale_lines l JOIN products p ON p.sku = l.sku WHERE l.sale_id = s.id AND "
                 "p.fine_jewelry = 1) ORDER BY s.sold_at DESC LIMIT 1", (s.cfg.store_id,))
    if jeweller is None or jewel is None:
        return
    window.lock()
    window.login.switch_user()
    window.login.code.setText(jeweller[0])
    window.login.pin.setText("2222")  # the demo specialists' PIN
    window.login.submit()
    s.settle()
    window.toggle_jewelry_mode()
    s.settle()
    window.open_sale(get_sale(db, jewel))
    s.settle()
    for line_card in window.sale.cards:
        if line_card.qty.isEnabled():
            line_card.qty.setValue(1)
            line_card.set_reason("changed_mind")
            break
    s.shot("22-jewelry-mode-checks-to-do")
    window.open_jewelry_checks()
    s.settle()
    dialog = getattr(window, "jewelry_dialog", None)
    if dialog is not None:
        s.shot("23-jewelry-checks-dialog", dialog)
        dialog.reject()
        s.settle()
    window.toggle_jewelry_mode()


def _shoot_no_receipt(s: _Shots) -> None:
    """The other modules' dialogs (no-receipt flow), when they offer their pictures."""
    services = Services(s.cfg, Ops(InlineExecutor(s.db)))
    services.set_staff(find_staff(s.db, "V001"))
    s.paths.extend(save_screenshots(s.out, services, s.db))


def _render_ticket(window, target: Path, paths: list[Path]) -> None:
    """The return ticket as printed (poppler's pdftoppm, when the machine has it)."""
    result = getattr(window.done, "last_result", None)
    pdf = getattr(result, "ticket_pdf", None)
    if pdf is None or shutil.which("pdftoppm") is None:
        return
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf),
                    str(target.with_suffix(""))], check=True, timeout=60)
    paths.append(target)
