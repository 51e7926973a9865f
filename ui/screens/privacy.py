"""RGPD requests (Ctrl+Maj+G), a manager's screen: find a person's no-receipt
records from their ID, export them (PDF + CSV), erase them. The core hashes the
number (never stored), journals and tells HQ (:mod:`pos_returns.usecases.privacy`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_returns.i18n import _, format_datetime, format_money
from pos_returns.usecases import privacy as core

from ..ops import error_message
from ..widgets.common import Banner, action_button, label


def find(db: Any, cfg: Any, staff: Any, number: str) -> core.PersonRecords:
    return core.find_records(db, cfg, staff, number)


def erase(db: Any, cfg: Any, staff: Any, number: str) -> tuple[int, int]:
    return core.erase_records(db, cfg, staff, number)


class PrivacyScreen(QWidget):
    found = Signal(object)
    exported = Signal(object)
    erased = Signal(object)

    def __init__(self, services: Any, parent: QWidget | None = None, *,
                 confirm: Callable[[str, str], bool] | None = None,
                 out_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("screen")
        self.services = services
        self._confirm = confirm or self._ask
        self.out_dir = out_dir
        self.records: core.PersonRecords | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 16, 20, 16)
        outer.addWidget(label(_("Personal data requests (RGPD)"), name="title"))
        outer.addWidget(label(_("Type the number of the identity document the person shows. "
                                "The till finds their records through a coded fingerprint; "
                                "the number itself is never stored."), muted=True, wrap=True))
        self.banner = Banner()
        outer.addWidget(self.banner)
        row = QHBoxLayout()
        self.number = QLineEdit()
        self.number.setMaxLength(40)
        self.number.setEchoMode(QLineEdit.EchoMode.Password)
        self.number.setAccessibleName(_("Document number"))
        self.number.returnPressed.connect(self.find)
        row.addWidget(self.number, 1)
        self.find_button = action_button(_("Find"), shortcut="F5", role="primary")
        self.export_button = action_button(_("Export (PDF, CSV)"), shortcut="F8")
        self.erase_button = action_button(_("Erase"), shortcut="F10")
        for button in (self.find_button, self.export_button, self.erase_button):
            row.addWidget(button)
        outer.addLayout(row)
        self.find_button.clicked.connect(self.find)
        self.export_button.clicked.connect(self.export)
        self.erase_button.clicked.connect(self.erase)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(
            [_("Date"), _("Document"), _("Name"), _("Status"), _("Amount"), _("Ticket")])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        outer.addWidget(self.table, 1)
        self._enable()

    def _enable(self) -> None:
        has = self.records is not None and not self.records.empty
        self.export_button.setEnabled(has)
        self.erase_button.setEnabled(has)

    def find(self) -> None:
        (self.services.ops.op(find, self.services.cfg, self.services.staff, self.number.text())
         .success(self._show).failure(self._error).run())

    def _show(self, records: core.PersonRecords) -> None:
        self.records = records
        self.table.setRowCount(len(records.checks))
        for i, r in enumerate(records.checks):
            for col, text in enumerate((format_datetime(r.created_at, fmt="short"),
                                        f"{r.doc_type} …{r.last4}", r.name, r.status,
                                        format_money(r.amount), r.ticket)):
                self.table.setItem(i, col, QTableWidgetItem(text))
        if records.empty:
            self.banner.show_message(_("The till holds no record for this document."), "info")
        else:
            self.banner.show_message(
                _("{count} identity checks, {ledger} entries in the repeat-return register.")
                .format(count=len(records.checks), ledger=len(records.ledger)), "info")
        self._enable()
        self.found.emit(records)

    def export(self) -> None:
        if self.records is None:
            return
        out = self.out_dir or Path(self.services.cfg.documents_dir) / "rgpd"
        (self.services.ops.io(core.export_records, self.records, out, timeout=30)
         .success(self._exported).failure(self._error).run())

    def _exported(self, paths: tuple[Path, Path]) -> None:
        self.banner.show_message(_("Exported: {pdf} and {csv}").format(
            pdf=paths[0], csv=paths[1]), "success")
        self.exported.emit(paths)

    def erase(self) -> None:
        if self.records is None or self.records.empty:
            return
        question = _("Erase this person's identity data ({count} checks)? The return tickets "
                     "stay (they are fiscal records and hold no identity data). This cannot "
                     "be undone.").format(count=len(self.records.checks))
        if not self._confirm(_("Erase"), question):
            return
        (self.services.ops.op(erase, self.services.cfg, self.services.staff,
                              self.number.text())
         .success(self._erased).failure(self._error).run())

    def _erased(self, counts: tuple[int, int]) -> None:
        self.records = None
        self.table.setRowCount(0)
        self.number.clear()
        self._enable()
        self.banner.show_message(_("Erased: {checks} identity checks, {ledger} register "
                                   "entries.").format(checks=counts[0], ledger=counts[1]),
                                 "success")
        self.erased.emit(counts)

    def _error(self, exc: BaseException) -> None:
        self.banner.show_message(error_message(exc), "error")

    def _ask(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes


def open_privacy(parent: QWidget | None, services: Any) -> PrivacyScreen:
    screen = PrivacyScreen(services, parent)
    screen.setWindowFlag(Qt.WindowType.Window, True)
    screen.setWindowTitle(_("Personal data requests (RGPD)"))
    screen.resize(1000, 640)
    screen.show()
    return screen
