"""Manager approval (R01): manager code + PIN + a written reason; approve or refuse.

The dialog lists what the engine asked a manager about (lines waiting for a
manager or refused, refunds above a ceiling). A manager may also refuse what the
engine would accept. The core checks the PIN and the role; the dialog keeps what
was typed when it says no.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QLineEdit, QVBoxLayout, QWidget

from pos_returns.engine.approvals import pending_approvals, refusable_lines
from pos_returns.engine.plan import Approval, ReturnPlan
from pos_returns.i18n import _
from pos_returns.usecases.till import manager_decision

from ..format import staff_text
from ..ops import error_message
from ..services import Services
from ..widgets.common import (
    Banner,
    action_button,
    button_row,
    cancel_button,
    dialog_layout,
    form_grid,
    label,
    set_tab_chain,
)


def items_to_decide(plan: ReturnPlan, scope: str = "lines") -> list[tuple[int | None, str, str]]:
    """(line_no, rule, what) for every point the engine wants a manager on
    (:func:`pos_returns.engine.approvals.pending_approvals`)."""
    return [(p.line_no, p.rule, p.what) for p in pending_approvals(plan, scope)]


class ManagerDialog(QDialog):
    decided = Signal(object)  # list[Approval]

    def __init__(self, services: Services, plan: ReturnPlan, parent: QWidget | None = None,
                 *, scope: str = "lines"):
        super().__init__(parent)
        self.services = services
        self.plan = plan
        self.approvals: list[Approval] = []
        box = dialog_layout(self, _("Manager approval"), title=_("Manager approval"),
                            minimum=880)
        self._build_items(box, scope)
        self._build_fields(box)
        self.banner = Banner()
        box.addWidget(self.banner)
        self._build_actions(box)
        self._set_tab_order()
        self.code.setFocus()

    def _build_items(self, box: QVBoxLayout, scope: str) -> None:
        """What the engine asks a manager about (or what a manager may still refuse)."""
        self.items = items_to_decide(self.plan, scope)
        if self.items or scope != "lines":
            box.addWidget(label(_("The returns policy asks a manager about:"), name="subtitle"))
            text = "\n".join(f"• {staff_text(what)}" for _n, _rule, what in self.items)
        else:
            box.addWidget(label(_("The policy accepts this return. A manager may still "
                                  "refuse it."), name="subtitle", wrap=True))
            self.items = [(p.line_no, p.rule, p.what) for p in refusable_lines(self.plan)]
            text = "\n".join(f"• {what}" for _n, _r, what in self.items)
        what = label(text, wrap=True)
        what.setObjectName("banner")
        what.setProperty("level", "warning")
        box.addWidget(what)

    def _build_fields(self, box: QVBoxLayout) -> None:
        self.code = QLineEdit()
        self.code.setPlaceholderText(_("e.g. M001"))
        self.code.setMaxLength(32)
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(8)
        self.reason = QLineEdit()
        self.reason.setMaxLength(300)
        self.reason.setPlaceholderText(_("Why? (mandatory, it goes in the journal)"))
        box.addLayout(form_grid([(_("Manager code or badge"), self.code), (_("PIN"), self.pin),
                                 (_("Written reason"), self.reason)]))
        self.code.returnPressed.connect(self.pin.setFocus)
        self.pin.returnPressed.connect(self.reason.setFocus)

    def _build_actions(self, box: QVBoxLayout) -> None:
        self.cancel_button = cancel_button(self)
        # Refuse and approve far apart, on keys far apart: approve is the main action
        # (F10, on the right); refusing is a deliberate Alt+R, on the left by Cancel.
        self.refuse_button = action_button(_("Refuse"), shortcut="Alt+R", role="danger",
                                           icon_name="blocked")
        self.refuse_button.clicked.connect(lambda: self.decide("refused"))
        self.approve_button = action_button(_("Approve"), shortcut="F10", role="success",
                                            icon_name="check")
        self.approve_button.clicked.connect(lambda: self.decide("approved"))
        box.addLayout(button_row([self.cancel_button, self.refuse_button],
                                 [self.approve_button]))

    def _set_tab_order(self) -> None:
        for text, field in ((_("Manager code or badge"), self.code), (_("PIN"), self.pin),
                            (_("Written reason"), self.reason)):
            field.setAccessibleName(text)
        set_tab_chain([self.code, self.pin, self.reason, self.approve_button,
                       self.refuse_button, self.cancel_button])

    def decide(self, decision: str) -> None:
        if not self.code.text().strip():
            self.banner.show_message(_("The manager types their code or scans their badge."))
            self.code.setFocus()
            return
        if not self.pin.text():
            self.banner.show_message(_("Type your PIN."))
            self.pin.setFocus()
            return
        if len(self.reason.text().strip()) < 3:
            self.banner.show_message(_("Write the reason for the decision."))
            self.reason.setFocus()
            return
        self.approve_button.setEnabled(False)
        self.refuse_button.setEnabled(False)
        pairs = [(n, rule) for n, rule, _w in self.items]
        (
            # one PIN for every item: the core grants them all in one call (issue 12)
            self.services.ops.op(manager_decision, self.services.cfg, self.code.text(),
                                 self.pin.text(), pairs, decision, self.reason.text(),
                                 self.plan.request)
            .success(self._done)
            .failure(self._failed)
            .run()
        )

    def _done(self, approvals: list[Approval]) -> None:
        self.approvals = list(approvals)
        self.decided.emit(self.approvals)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.approve_button.setEnabled(True)
        self.refuse_button.setEnabled(True)
        self.pin.clear()
        self.banner.show_message(error_message(exc))
        self.pin.setFocus()

    def keyPressEvent(self, event) -> None:
        # Enter in a field must not close the dialog.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return
        super().keyPressEvent(event)
