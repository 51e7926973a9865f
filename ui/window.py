"""The main window: header + one stack of screens, and the flow between them."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.domain import Sale, Staff
from pos_returns.engine.plan import CommittedTicket, ReturnPlan
from pos_returns.i18n import _
from pos_returns.usecases.review import business_day_notice
from pos_returns.usecases.till import load_context, start_till

from .dialogs.manager import ManagerDialog
from .screens.done import DoneScreen
from .screens.jewelry_banner import JewelryBanner, JewelryMode
from .screens.login import LoginScreen
from .screens.lookup import LookupScreen
from .screens.privacy import open_privacy
from .screens.refund import RefundScreen
from .screens.sale import SaleScreen
from .screens.settings import open_settings
from .screens.staff import open_staff
from .services import Services
from .widgets.common import Banner, set_tab_chain
from .widgets.header import Header

_ACTIVITY = {
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin,
    QEvent.Type.Wheel,
}


class IdleWatcher(QObject):
    """Emits ``idle`` after ``seconds`` without a key press, click or touch (0: never)."""

    idle = Signal()

    def __init__(self, seconds: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(max(0, seconds) * 1000)
        self.timer.timeout.connect(self.idle)
        self.enabled = seconds > 0
        self.armed = False
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def arm(self, on: bool) -> None:
        self.armed = on and self.enabled
        if self.armed:
            self.timer.start()
        else:
            self.timer.stop()

    def eventFilter(self, obj, event) -> bool:
        if self.armed and event.type() in _ACTIVITY:
            self.timer.start()
        return False


class NextReceiptCatcher(QObject):
    """On the done screen the scanner is always ready for the next receipt: the first
    character of a scan (any printable key without Ctrl/Alt) opens a fresh lookup and
    goes, with the rest of the burst, into its scan field. F2 and the button still
    work; Enter, F-keys and Tab keep their meaning on the done screen."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:
        window = self.window
        if event.type() != QEvent.Type.KeyPress or window.current != "done":
            return False
        if QApplication.activeModalWidget() is not None:
            return False
        # The lookup's own keys for "another way" (Ctrl+1..3, F3) work from here too.
        ctrl = event.modifiers() == Qt.KeyboardModifier.ControlModifier
        other_way = {Qt.Key.Key_1: 0, Qt.Key.Key_2: 1, Qt.Key.Key_3: 2}
        if ctrl and event.key() in other_way:
            window.back_to_lookup_fresh()
            window.lookup.choose_tab(other_way[event.key()])
            return True
        text = event.text()
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.ShiftModifier,
                                      Qt.KeyboardModifier.KeypadModifier)
        if not (text and text.isprintable() and not text.isspace() and plain):
            return False
        window.back_to_lookup_fresh()
        window.lookup.scan.setFocus()
        window.lookup.scan.setText(text)
        return True


class MainWindow(QMainWindow):
    locked = Signal(object)  # the Staff whose session is locked
    screen_changed = Signal(str)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setWindowTitle(_("Alamara Returns"))
        self.resize(1366, 860)
        self.setMinimumSize(1200, 760)

        self._build_central()
        self._build_screens()
        self.manager_dialog: ManagerDialog | None = None
        self._resume: str = "lookup"
        self.idle = IdleWatcher(self.services.cfg.idle_lock_seconds, self)
        self.idle.idle.connect(self.lock)
        self._connect_signals()
        self._install_receipt_catcher()
        self._build_shortcuts()
        self._connect_jewelry()
        self._start()

    def _build_central(self) -> None:
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.header = Header(self.services)
        box.addWidget(self.header)
        # Fine-jewelry mode (R14, docs/jewelry.md): its state, read by the sale screen, and
        # the coloured banner that says it is on.
        self.jewelry = JewelryMode(self.services, self)
        self.services.jewelry = self.jewelry  # type: ignore[attr-defined]
        self.jewelry_banner = JewelryBanner(self.jewelry)
        box.addWidget(self.jewelry_banner)
        self.banner = Banner()
        self.banner.setContentsMargins(24, 8, 24, 8)
        box.addWidget(self.banner)
        self.stack = QStackedWidget()
        box.addWidget(self.stack, 1)
        self.setCentralWidget(central)

    def _build_screens(self) -> None:
        self.login = LoginScreen(self.services)
        self.lookup = LookupScreen(self.services)
        self.sale = SaleScreen(self.services)
        self.refund = RefundScreen(self.services)
        self.done = DoneScreen(self.services)
        self.screens = {
            "login": self.login, "lookup": self.lookup, "sale": self.sale,
            "refund": self.refund, "done": self.done,
        }
        self.review: QWidget | None = None  # built the first time a manager opens it
        for screen in self.screens.values():
            self.stack.addWidget(screen)
        for screen in self.screens.values():  # every screen's explicit Tab order
            if hasattr(screen, "tab_chain"):
                set_tab_chain(screen.tab_chain())
        self.no_receipt_flow = None

    def _connect_signals(self) -> None:
        self.services.ops.set_error_handler(self.show_error)
        self.header.lock_requested.connect(self.lock)
        self.header.review_requested.connect(self.toggle_review)
        self.header.manage_requested.connect(self.open_manager_screen)
        self.lookup.no_receipt_requested.connect(self.start_no_receipt)
        self.login.logged_in.connect(self._logged_in)
        self.lookup.sale_opened.connect(self.open_sale)
        self.sale.back_requested.connect(self.back_to_lookup)
        self.sale.approval_requested.connect(self.ask_manager)
        self.sale.proceed.connect(self.to_refund)
        self.refund.back_requested.connect(self._refund_back)
        self.refund.committed.connect(self.completed)
        self.refund.approval_requested.connect(
            lambda plan: self.ask_manager(plan, scope="all"))
        self.done.new_return.connect(self.back_to_lookup_fresh)

    def _install_receipt_catcher(self) -> None:
        self._next_receipt = NextReceiptCatcher(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._next_receipt)

    def _build_shortcuts(self) -> None:
        # Fine jewelry: Ctrl+J enters / leaves the mode, F4 on the sale opens the checks;
        # locking the till (idle or Ctrl+L) or another person logging in leaves the mode.
        QShortcut(QKeySequence("Ctrl+J"), self, activated=self.toggle_jewelry_mode)
        # The manager's screens (the core refuses anyone else; the screen shows why).
        self.manager_windows: dict[str, QWidget] = {}
        QShortcut(QKeySequence("Ctrl+Shift+P"), self,
                  activated=lambda: self.open_manager_screen("settings"))
        QShortcut(QKeySequence("Ctrl+Shift+U"), self,
                  activated=lambda: self.open_manager_screen("staff"))
        QShortcut(QKeySequence("Ctrl+Shift+G"), self,
                  activated=lambda: self.open_manager_screen("privacy"))

    def _connect_jewelry(self) -> None:
        self.jewelry.refused.connect(lambda message: self.show_error(message, None))
        self.jewelry.changed.connect(lambda _on: self.sale.jewelry_changed())
        self.jewelry.recorded.connect(self.sale.jewelry_changed)
        self.locked.connect(lambda _staff: self.jewelry.leave("lock"))
        self.sale.jewelry_requested.connect(self.open_jewelry_checks)
        self.jewelry.close_left_open()

    def _start(self) -> None:
        self.show_screen("login")
        self.login.show_login()
        services = self.services
        services.ops.op(load_context, services.cfg.store_id, services.cfg.till_no).success(
            services.set_context
        ).run()
        # The fiscal journal is verified and the start recorded off the UI thread.
        services.ops.op(start_till, services.cfg).success(self._journal_checked).run()

    def _journal_checked(self, report) -> None:
        if not report.ok:
            self.banner.show_message(
                _("The fiscal journal does not verify: {details} Call support before any "
                  "return.").format(details=report.summary()),
                "error",
            )

    # -- navigation -----------------------------------------------------------------------
    @property
    def current(self) -> str:
        widget = self.stack.currentWidget()
        return next(name for name, screen in self.screens.items() if screen is widget)

    def show_screen(self, name: str) -> None:
        self.banner.clear_message()
        self.header.set_review_mode(name == "review")
        self.header.set_buttons_visible(name != "login")
        self.stack.setCurrentWidget(self.screens[name])
        self.screen_changed.emit(name)

    def show_error(self, message: str, _exc: BaseException) -> None:
        """The one handler of errors no screen claimed: shown, input untouched."""
        screen = self.stack.currentWidget()
        target = getattr(screen, "banner", None)
        (target if isinstance(target, Banner) else self.banner).show_message(message, "error")

    # -- session --------------------------------------------------------------------------
    def _logged_in(self, staff: Staff) -> None:
        previous = self.login.locked_staff
        same = previous is not None and previous.id == staff.id
        self.services.set_staff(staff)
        self.idle.arm(True)
        if same:
            self.show_screen(self._resume)
            screen = self.screens[self._resume]
            focus = getattr(screen, "focus_input", None) or getattr(
                screen, "focus_first_line", None)
            if focus:
                focus()
            return
        # A new person: an unfinished return of the previous one is dropped.
        self.lookup.reset()
        self.show_screen("lookup")
        self.lookup.focus_input()
        self._tell_business_day(self.lookup.banner)

    def lock(self) -> None:
        staff = self.services.staff
        if staff is None or self.current == "login":
            return
        for dialog in self.findChildren(QDialog):  # nothing stays open over the lock
            if dialog.isVisible():
                dialog.reject()
        for screen in self.manager_windows.values():  # nor a manager's screen
            screen.close()
        self.manager_windows.clear()
        self._resume = self.current
        self.idle.arm(False)
        self.login.show_locked(staff)
        self.show_screen("login")
        self.locked.emit(staff)

    # -- manager's review, no-receipt returns (other modules' screens) ----------------------
    def toggle_review(self) -> None:
        staff = self.services.staff
        if staff is None or not staff.is_manager or self.current == "login":
            return
        if self.current == "review":
            self.back_to_lookup()
            return
        if self.review is None:
            from .screens.review import ReviewScreen

            self.review = ReviewScreen(self.services)
            self.review.back_requested.connect(self.back_to_lookup)
            self.screens["review"] = self.review
            self.stack.addWidget(self.review)
        self.show_screen("review")
        self.review.reload()

    def start_no_receipt(self) -> None:
        from .dialogs.no_receipt import NoReceiptFlow

        flow = NoReceiptFlow(self.services, self)
        self.no_receipt_flow = flow
        flow.proceed.connect(self._no_receipt_plan)
        flow.ended.connect(self._no_receipt_ended)
        flow.start()

    def _no_receipt_plan(self, plan: ReturnPlan) -> None:
        self.refund.show_plan(plan, None)
        self.show_screen("refund")
        self.activateWindow()  # the dialogs are closed: the keys come back to the till
        self.refund.confirm_button.setFocus()

    def _no_receipt_ended(self, outcome: str) -> None:
        self.no_receipt_flow = None
        self.activateWindow()
        if outcome == "refused":
            self.lookup.banner.show_message(
                _("Return without receipt refused by the manager: nothing is refunded."),
                "info")
        self.lookup.focus_input()

    # -- the return flow --------------------------------------------------------------------
    def open_sale(self, sale: Sale) -> None:
        self.sale.show_sale(sale)
        self.show_screen("sale")

    def back_to_lookup(self) -> None:
        self.show_screen("lookup")
        self.lookup.focus_input()

    def back_to_lookup_fresh(self) -> None:
        self.lookup.reset()
        self.show_screen("lookup")

    def ask_manager(self, plan: ReturnPlan, scope: str = "lines") -> None:
        dialog = ManagerDialog(self.services, plan, self, scope=scope)
        self.manager_dialog = dialog
        target = self.sale if scope == "lines" else self.refund
        if scope == "lines":
            dialog.decided.connect(
                lambda approvals: self.sale.add_approvals(approvals, dialog.code.text().strip()))
        else:
            dialog.decided.connect(target.add_approvals)
        dialog.finished.connect(lambda _r: self._manager_closed(scope))
        dialog.open()

    def _refund_back(self) -> None:
        if self.refund.sale is not None:
            self.show_screen("sale")
        else:  # a no-receipt return: its items were chosen in the dialog
            self.back_to_lookup()

    def _manager_closed(self, scope: str) -> None:
        self.manager_dialog = None
        self.activateWindow()
        if self.current == "sale" and scope == "lines":
            self.sale.focus_first_line()
        elif self.current == "refund":
            self.refund.confirm_button.setFocus()

    def to_refund(self, plan: ReturnPlan) -> None:  # a sale found: receipt return
        self.refund.show_plan(plan, self.sale.sale)
        self.show_screen("refund")

    def completed(self, ticket: CommittedTicket) -> None:
        print_now = self.refund.wants_print
        self.show_screen("done")
        self.done.show_ticket(ticket, print_now=print_now)
        self.done.new_button.setFocus()  # a scan goes to the next lookup (NextReceiptCatcher)
        self._tell_business_day(self.banner)

    def _tell_business_day(self, banner: Banner) -> None:
        """Once today's Z is made, a return counts in the next day: the till says so."""
        def show(text: str) -> None:
            if text:
                banner.show_message(text, "info")

        self.services.ops.op(business_day_notice, self.services.cfg).success(show).run()

    def open_manager_screen(self, name: str) -> QWidget | None:
        """Settings (Ctrl+Maj+P), staff accounts (Ctrl+Maj+U), RGPD (Ctrl+Maj+G)."""
        if self.services.staff is None or self.current == "login":
            return None
        openers = {"settings": open_settings, "staff": open_staff, "privacy": open_privacy}
        old = self.manager_windows.pop(name, None)
        if old is not None:
            old.close()
        screen = openers[name](self, self.services)
        self.manager_windows[name] = screen
        return screen

    def toggle_jewelry_mode(self) -> None:
        if self.services.staff is not None and self.current != "login":
            self.jewelry.toggle()

    def open_jewelry_checks(self) -> None:
        from .dialogs.jewelry_proof import JewelryChecksDialog

        if self.sale.sale is None:
            return
        dialog = JewelryChecksDialog(self.services, self.jewelry, self.sale.sale, self)
        self.jewelry_dialog = dialog
        dialog.finished.connect(lambda _r: self._jewelry_closed())
        dialog.open()

    def _jewelry_closed(self) -> None:
        self.jewelry_dialog = None
        self.activateWindow()
        if self.current == "sale":
            self.sale.focus_first_line()

    def closeEvent(self, event) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._next_receipt)
        self.jewelry.leave("close")
        self.idle.arm(False)
        self.services.ops.shutdown()
        super().closeEvent(event)
