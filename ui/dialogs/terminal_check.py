"""A manager confirms a card operation « à vérifier » from what the terminal printed.

The till could not tell whether the terminal moved the money (the connection
dropped, no answer in time, an answer that did not match, the till stopped
during the call). The manager reads the terminal's receipt (or its journal)
and says: done, with the authorisation number printed, or not done. PIN and a
written reason, checked by the core; journaled. Until then a second attempt on
that card is refused.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QLineEdit, QVBoxLayout, QWidget

from pos_returns.i18n import _, format_money

from ..ops import error_message
from ..widgets.common import (
    Banner,
    action_button,
    button_row,
    cancel_button,
    dialog_layout,
    form_grid,
    label,
)


def confirm_checked_task(db: Any, cfg: Any, op_uuid: str, code: str, pin: str, approved: bool,
                         note: str, auth_number: str) -> Any:
    """On the database worker: the core checks the PIN and records the decision."""
    from pos_returns.usecases.card_payments import confirm_checked

    return confirm_checked(db, cfg, op_uuid, manager_code=code, pin=pin, approved=approved,
                           note=note, auth_number=auth_number)


class TerminalCheckDialog(QDialog):
    decided = Signal(object)  # the CardOperation, approved or declined by the manager

    def __init__(self, services: Any, operation: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.operation = operation
        box = dialog_layout(self, _("Card operation to be checked"),
                            title=_("Card operation to be checked"), minimum=820)
        what = label(
            _("{amount}: the till does not know whether the payment terminal did it. Read the "
              "terminal's receipt (or its journal), then say what it printed.").format(
                amount=format_money(operation.amount)),
            wrap=True)
        what.setObjectName("banner")
        what.setProperty("level", "warning")
        box.addWidget(what)
        if operation.message:
            box.addWidget(label(operation.message, muted=True, wrap=True))
        self._build_fields(box)
        self.banner = Banner()
        box.addWidget(self.banner)
        self._build_actions(box)
        self.code.setFocus()

    def _build_fields(self, box: QVBoxLayout) -> None:
        self.code = QLineEdit()
        self.code.setMaxLength(32)
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(8)
        self.auth = QLineEdit()
        self.auth.setObjectName("checkAuthNumber")
        self.auth.setMaxLength(12)
        self.auth.setPlaceholderText(_("printed on the terminal's receipt"))
        self.reason = QLineEdit()
        self.reason.setMaxLength(300)
        self.reason.setPlaceholderText(_("Why? (mandatory, it goes in the journal)"))
        box.addLayout(form_grid([
            (_("Manager code or badge"), self.code), (_("PIN"), self.pin),
            (_("Authorisation number (if done)"), self.auth), (_("Written reason"), self.reason),
        ]))
        self.code.returnPressed.connect(self.pin.setFocus)
        self.pin.returnPressed.connect(self.auth.setFocus)
        self.auth.returnPressed.connect(self.reason.setFocus)

    def _build_actions(self, box: QVBoxLayout) -> None:
        self.cancel_button = cancel_button(self)
        self.not_done_button = action_button(_("Not done"), shortcut="F8", role="danger",
                                             icon_name="blocked")
        self.not_done_button.clicked.connect(lambda: self.decide(False))
        self.done_button = action_button(_("Done on the terminal"), shortcut="F9",
                                         role="success", icon_name="check")
        self.done_button.clicked.connect(lambda: self.decide(True))
        box.addLayout(button_row([self.cancel_button],
                                 [self.not_done_button, self.done_button]))

    def decide(self, approved: bool) -> None:
        if not self.code.text().strip() or not self.pin.text():
            self.banner.show_message(_("The manager types their code and PIN."))
            self.code.setFocus()
            return
        self.done_button.setEnabled(False)
        self.not_done_button.setEnabled(False)
        (
            self.services.ops.op(confirm_checked_task, self.services.cfg, self.operation.uuid,
                                 self.code.text(), self.pin.text(), approved,
                                 self.reason.text(), self.auth.text())
            .success(self._done)
            .failure(self._failed)
            .run()
        )

    def _done(self, operation: Any) -> None:
        self.decided.emit(operation)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.done_button.setEnabled(True)
        self.not_done_button.setEnabled(True)
        self.pin.clear()
        self.banner.show_message(error_message(exc))
        self.pin.setFocus()

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return
        super().keyPressEvent(event)
