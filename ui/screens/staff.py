"""Staff accounts (Ctrl+Maj+U), a manager's screen: add, disable / enable, reset a
PIN, unlock, change a role. The core checks, journals and sends each change to HQ
(:mod:`pos_returns.usecases.staff`); the screen shows and asks."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.domain import Role
from pos_returns.i18n import _
from pos_returns.usecases import staff as core

from ..ops import error_message
from ..widgets.common import Banner, action_button, label


def load(db: Any, manager: Any) -> list[core.Account]:
    return core.list_accounts(db, manager)


def run(db: Any, action: str, cfg: Any, manager: Any, *args: Any) -> list[core.Account]:
    """One change, then the list again."""
    if action == "add":
        code, name, role, pin = args
        core.add_account(db, cfg, manager, code=code, name=name, role=role, pin=pin)
    elif action == "disable":
        core.set_active(db, cfg, manager, args[0], False)
    elif action == "enable":
        core.set_active(db, cfg, manager, args[0], True)
    elif action == "reset_pin":
        core.reset_pin(db, cfg, manager, args[0])
    elif action == "unlock":
        core.unlock(db, cfg, manager, args[0])
    elif action == "role":
        core.set_role(db, cfg, manager, args[0], args[1])
    return core.list_accounts(db, manager)


def state_text(account: core.Account) -> str:
    parts = [_("active") if account.active else _("disabled")]
    if account.locked:
        parts.append(_("locked"))
    if account.must_change_pin:
        parts.append(_("new PIN at next login"))
    return ", ".join(parts)


class StaffScreen(QWidget):
    loaded = Signal(object)
    changed = Signal(object)

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("screen")
        self.services = services
        self.accounts: list[core.Account] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 16, 20, 16)
        outer.addWidget(label(_("Staff accounts"), name="title"))
        self._build_table(outer)
        self._build_actions(outer)
        self._connect_signals()
        self._build_new_account(outer)
        self.reload()

    def _build_table(self, outer: QVBoxLayout) -> None:
        self.banner = Banner()
        outer.addWidget(self.banner)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([_("Code"), _("Name"), _("Role"), _("State")])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        outer.addWidget(self.table, 1)

    def _build_actions(self, outer: QVBoxLayout) -> None:
        actions = QHBoxLayout()
        self.disable_button = action_button(_("Disable / enable"), shortcut="F5")
        self.reset_button = action_button(_("Reset the PIN"), shortcut="F6")
        self.unlock_button = action_button(_("Unlock"), shortcut="F7")
        self.role_box = QComboBox()
        for role in Role:
            self.role_box.addItem(_(core.ROLE_LABELS[role]), role.value)
        self.role_button = action_button(_("Change the role"), shortcut="F8")
        for widget in (self.disable_button, self.reset_button, self.unlock_button,
                       self.role_box, self.role_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        outer.addLayout(actions)

    def _connect_signals(self) -> None:
        self.disable_button.clicked.connect(self.toggle_active)
        self.reset_button.clicked.connect(lambda: self._selected_action("reset_pin"))
        self.unlock_button.clicked.connect(lambda: self._selected_action("unlock"))
        self.role_button.clicked.connect(
            lambda: self._selected_action("role", self.role_box.currentData()))

    def _build_new_account(self, outer: QVBoxLayout) -> None:
        outer.addWidget(label(_("New account"), name="sectionTitle"))
        form = QGridLayout()
        self.new_code = QLineEdit()
        self.new_code.setMaxLength(12)
        self.new_name = QLineEdit()
        self.new_name.setMaxLength(80)
        self.new_role = QComboBox()
        for role in Role:
            self.new_role.addItem(_(core.ROLE_LABELS[role]), role.value)
        self.new_pin = QLineEdit()
        self.new_pin.setMaxLength(8)
        self.new_pin.setEchoMode(QLineEdit.EchoMode.Password)
        for col, (text, widget) in enumerate(((_("Code"), self.new_code),
                                              (_("Name"), self.new_name),
                                              (_("Role"), self.new_role),
                                              (_("First PIN"), self.new_pin))):
            form.addWidget(label(text), 0, col)
            form.addWidget(widget, 1, col)
            widget.setAccessibleName(text)
        self.add_button = action_button(_("Add"), shortcut="Ctrl+N", role="primary")
        self.add_button.clicked.connect(self.add)
        form.addWidget(self.add_button, 1, 4)
        outer.addLayout(form)

    def reload(self) -> None:
        (self.services.ops.op(load, self.services.staff)
         .success(self._show).failure(self._error).run())

    def _show(self, accounts: list[core.Account]) -> None:
        self.accounts = accounts
        self.table.setRowCount(len(accounts))
        for row, account in enumerate(accounts):
            for col, text in enumerate((account.code, account.name, account.role_label,
                                        state_text(account))):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, account.id)
                self.table.setItem(row, col, item)
        self.loaded.emit(accounts)

    def select(self, code: str) -> None:
        for row, account in enumerate(self.accounts):
            if account.code == code:
                self.table.selectRow(row)
                return

    def selected(self) -> core.Account | None:
        rows = self.table.selectionModel().selectedRows()
        return self.accounts[rows[0].row()] if rows else None

    def _selected_action(self, action: str, *extra: Any) -> None:
        account = self.selected()
        if account is None:
            self.banner.show_message(_("Choose an account in the list first."), "info")
            return
        self._run(action, account.id, *extra)

    def toggle_active(self) -> None:
        account = self.selected()
        if account is None:
            self.banner.show_message(_("Choose an account in the list first."), "info")
            return
        self._run("disable" if account.active else "enable", account.id)

    def add(self) -> None:
        self._run("add", self.new_code.text(), self.new_name.text(),
                  self.new_role.currentData(), self.new_pin.text())

    def _run(self, action: str, *args: Any) -> None:
        cfg = self.services.cfg
        (self.services.ops.op(run, action, cfg, self.services.staff, *args)
         .success(lambda accounts: self._done(action, accounts))
         .failure(self._error).run())

    def _done(self, action: str, accounts: list[core.Account]) -> None:
        selected = self.selected()
        self._show(accounts)
        if action == "add":
            self.new_code.clear()
            self.new_name.clear()
            self.new_pin.clear()
        elif selected is not None:
            self.select(selected.code)
        self.banner.show_message(_("Saved, and sent to HQ at the next sync."), "success")
        self.changed.emit(action)

    def _error(self, exc: BaseException) -> None:
        self.banner.show_message(error_message(exc), "error")


def open_staff(parent: QWidget | None, services: Any) -> StaffScreen:
    screen = StaffScreen(services, parent)
    screen.setWindowFlag(Qt.WindowType.Window, True)
    screen.setWindowTitle(_("Staff accounts"))
    screen.resize(1000, 700)
    screen.show()
    return screen
