"""The band at the top of every screen: who is logged in, the store, the till."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QVBoxLayout, QWidget

from pos_returns.engine.domain import Role, Staff
from pos_returns.i18n import N_, _, format_datetime

from ..services import Services, TillContext
from .common import RESOURCES, action_button, shortcut_text

ROLE_NAMES = {
    Role.SALESPERSON: N_("Salesperson"),
    Role.JEWELRY: N_("Fine-jewelry specialist"),
    Role.MANAGER: N_("Store manager"),
}


def role_name(role: Role) -> str:
    return _(ROLE_NAMES[role])


class Header(QFrame):
    lock_requested = Signal()
    review_requested = Signal()
    manage_requested = Signal(str)  # "settings", "staff" or "privacy" (a manager's screens)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("header")
        row = QHBoxLayout(self)
        row.setContentsMargins(20, 8, 20, 8)
        row.setSpacing(12)
        self._build_logo(row)
        self._build_place(row)
        self._build_who(row)
        self._build_review_button(row)
        self._build_manage_button(row)
        self._build_lock_button(row)
        self._connect_signals()
        self._start_clock()

    def _build_logo(self, row: QHBoxLayout) -> None:
        logo = QSvgWidget(str(RESOURCES / "logo.svg"))
        logo.setFixedSize(148, 32)  # room for the manager's buttons at 1366 px
        row.addWidget(logo)

    def _build_place(self, row: QHBoxLayout) -> None:
        where = QVBoxLayout()
        where.setSpacing(0)
        self.store_label = QLabel("")
        self.store_label.setObjectName("headerStore")
        self.till_label = QLabel("")
        self.till_label.setObjectName("headerTill")
        where.addWidget(self.store_label)
        where.addWidget(self.till_label)
        row.addLayout(where)
        # HQ sync state (its own widget) in the band's row: its 44 px button must not
        # make the band taller on some screens than on others.
        self.sync_widget = self._sync_widget()
        if self.sync_widget is not None:
            row.addWidget(self.sync_widget, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addStretch(1)

    def _build_who(self, row: QHBoxLayout) -> None:
        who = QVBoxLayout()
        who.setSpacing(0)
        self.user_label = QLabel("")
        self.user_label.setObjectName("headerUser")
        self.user_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.role_label = QLabel("")
        self.role_label.setObjectName("headerRole")
        self.role_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        who.addWidget(self.user_label)
        who.addWidget(self.role_label)
        row.addLayout(who)

    def _build_review_button(self, row: QHBoxLayout) -> None:
        # Header buttons keep their shortcut in the tooltip: the band is narrow.
        self.review_button = action_button(_("Daily review"))
        self.review_button.setShortcut(QKeySequence("Ctrl+R"))
        self.review_button.setToolTip(_("Daily review") + " (Ctrl+R)")
        self.review_button.clicked.connect(self.review_requested)
        row.addWidget(self.review_button)

    def _build_manage_button(self, row: QHBoxLayout) -> None:
        # The manager's other screens, in a menu (their shortcuts in the entries).
        self.manage_button = action_button("", icon_name="manage")
        self.manage_button.setToolTip(_("Settings, staff accounts, personal data requests"))
        self.manage_button.setAccessibleName(_("Manage"))
        self.manage_button.setFixedWidth(60)  # the band is narrow: an icon and its menu
        menu = QMenu(self.manage_button)
        for name, text, keys in (("settings", _("Store settings"), "Ctrl+Shift+P"),
                                 ("staff", _("Staff accounts"), "Ctrl+Shift+U"),
                                 ("privacy", _("Personal data requests (RGPD)"),
                                  "Ctrl+Shift+G")):
            action = menu.addAction(f"{text}\t{shortcut_text(keys)}")
            action.triggered.connect(lambda _c=False, n=name: self.manage_requested.emit(n))
        self.manage_button.setMenu(menu)
        row.addWidget(self.manage_button)

    def _build_lock_button(self, row: QHBoxLayout) -> None:
        self.lock_button = action_button("", icon_name="lock")
        self.lock_button.setShortcut(QKeySequence("Ctrl+L"))
        self.lock_button.setToolTip(_("Lock") + " (Ctrl+L)")
        self.lock_button.setAccessibleName(_("Lock"))
        self.lock_button.setFixedWidth(60)
        self.lock_button.clicked.connect(self.lock_requested)
        row.addWidget(self.lock_button)

    def _connect_signals(self) -> None:
        self.services.staff_changed.connect(self.show_staff)
        self.services.context_changed.connect(self.show_context)
        self.show_context(self.services.context)
        self.show_staff(self.services.staff)

    def _start_clock(self) -> None:
        self._clock = QTimer(self)
        self._clock.timeout.connect(self._tick)
        self._clock.start(30_000)
        self._tick()

    def _sync_widget(self) -> QWidget | None:
        """HQ sync state (H5's widget), when it exists."""
        try:
            module = importlib.import_module("ui.widgets.sync_status")
        except ImportError:
            return None
        factory = getattr(module, "SyncStatus", None) or getattr(module, "SyncStatusWidget", None)
        if factory is None:
            return None
        try:
            return factory(self.services)
        except Exception:
            return None

    def set_buttons_visible(self, on: bool) -> None:
        """No lock or review button on the login / lock screen."""
        staff = self.services.staff
        self.lock_button.setVisible(on and staff is not None)
        self.review_button.setVisible(on and staff is not None and staff.is_manager)
        self.manage_button.setVisible(on and staff is not None and staff.is_manager)

    def set_review_mode(self, on: bool) -> None:
        """On the review screen the button leads back to the till."""
        # short: with the manager's menu, the band must fit 1366 px
        self.review_button.setText(_("The till") if on else _("Daily review"))
        self.review_button.setShortcut(QKeySequence("Ctrl+R"))  # setText resets it

    def show_context(self, context: TillContext) -> None:
        store = context.store
        self.store_label.setText(store.name if store else _("Unknown store"))
        till = context.till_label or _("Till {number}").format(number=context.till_no)
        self._till_text = till
        self._tick()

    def _tick(self) -> None:
        now = format_datetime(datetime.now(UTC), fmt="short")
        self.till_label.setText(f"{getattr(self, '_till_text', '')} · {now}")

    def show_staff(self, staff: Staff | None) -> None:
        self.lock_button.setVisible(staff is not None)
        self.review_button.setVisible(staff is not None and staff.is_manager)
        self.manage_button.setVisible(staff is not None and staff.is_manager)
        if staff is None:
            self.user_label.setText(_("Nobody logged in"))
            self.role_label.setText("")
            return
        self.user_label.setText(staff.name)
        self.role_label.setText(f"{role_name(staff.role)} · {staff.code}")

