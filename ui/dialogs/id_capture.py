"""ID capture for a no-receipt return (R07): document type, number, name.

The number is typed in a masked field and sent to the core, which keeps only its
last 4 characters and a keyed hash (:func:`pos_returns.usecases.idcheck.capture`); the
field is cleared as soon as the core has answered and the number is never shown
again. The core validates; this dialog only gathers and shows. After the capture
the dialog also holds the identity's R19 history (earlier no-receipt refunds,
chain-wide), for the no-receipt panel.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pos_returns.config import TillConfig
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _
from pos_returns.usecases import idcheck
from pos_returns.usecases.idcheck import DocType, History, IdCheck

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
    shortcut_text,
)
from .id_notice import IdNoticeDialog

# Ctrl+1..4 choose the nth option, as on the other screens (the F-keys keep one meaning
# across the till: F2 scan, F3 search, F4 jewelry checks...).
DOC_SHORTCUTS = {
    DocType.CNI: "Ctrl+1",
    DocType.PASSPORT: "Ctrl+2",
    DocType.RESIDENCE_PERMIT: "Ctrl+3",
    DocType.DRIVING_LICENCE: "Ctrl+4",
}


def _capitalised(text: str) -> str:
    """A document name starts a button with a capital (mid-sentence it stays lower)."""
    return text[:1].upper() + text[1:]


def capture_with_history(
    db: Any, cfg: TillConfig, doc_type: str, number: str, name: str, staff_id: int | None
) -> tuple[IdCheck, History]:
    """On the database worker: record the check, then read its R19 history."""
    check = idcheck.capture(db, cfg, doc_type=doc_type, number=number, name=name,
                            staff_id=staff_id)
    return check, idcheck.history_for(db, check, cfg.policy)


class IdCaptureDialog(QDialog):
    captured = Signal(object, object)  # IdCheck, History

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.check: IdCheck | None = None
        self.history: History | None = None
        box = dialog_layout(self, _("Return without receipt — identity document"),
                            title=_("Customer's identity document"), minimum=(1040, 720),
                            spacing=14)
        self.declined = False
        self._build_notice(box)
        self._build_type_buttons(box)
        self._build_fields(box)
        self.banner = Banner()
        box.addWidget(self.banner)
        self._build_actions(box)
        self._busy = False
        # The national identity card is the one most customers show: chosen already
        # (Ctrl+2..4 change it), the focus waits on its number.
        self.type_buttons[DocType.CNI].setChecked(True)
        self._set_tab_order()
        self.number.setFocus()

    def _build_notice(self, box: QVBoxLayout) -> None:
        # The RGPD notice, for the staff: what to tell the customer, in three lines.
        # The full notice, addressed to the customer, is one key away (F1).
        months = self.services.cfg.policy.id_retention_months
        self.summary = label(
            _("Tell the customer: to prevent abuse of returns without receipt, Alamara keeps "
              "the type of document, the last 4 characters of its number and the name, for "
              "{months} months; the customer may ask for the full notice. Never photocopy "
              "or photograph the document.").format(months=months),
            wrap=True,
        )
        self.summary.setObjectName("banner")
        self.summary.setProperty("level", "info")
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.summary, 1)
        self.notice_button = action_button(_("Full notice"), shortcut="F1")
        self.notice_button.setToolTip(_("Full notice for the customer"))
        self.notice_button.setAccessibleName(_("Full notice for the customer"))
        self.notice_button.clicked.connect(self.show_notice)
        notice_row.addWidget(self.notice_button, 0, Qt.AlignmentFlag.AlignTop)
        box.addLayout(notice_row)

    def _build_type_buttons(self, box: QVBoxLayout) -> None:
        box.addWidget(label(_("Type of document"), name="sectionTitle"))
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(12)
        self.type_group = QButtonGroup(self)
        self.type_group.setExclusive(True)
        self.type_buttons: dict[DocType, QPushButton] = {}
        for i, dtype in enumerate(DocType):
            key = DOC_SHORTCUTS[dtype]
            name = _capitalised(idcheck.doc_type_label(dtype))
            button = action_button(f"{name}   {shortcut_text(key)}")
            button.setToolTip(f"{name} ({shortcut_text(key)})")
            button.setAccessibleName(name)
            # Our own shortcut: a button's shortcut "animates" the click and checks it late.
            QShortcut(QKeySequence(key), self, activated=lambda d=dtype: self.choose(d))
            button.setCheckable(True)
            button.setMinimumHeight(60)
            button.setProperty("docType", dtype.value)
            self.type_group.addButton(button)
            self.type_buttons[dtype] = button
            grid.addWidget(button, i // 2, i % 2)
            button.toggled.connect(self._type_chosen)
        box.addLayout(grid)

    def _build_fields(self, box: QVBoxLayout) -> None:
        self.number = QLineEdit()
        self.number.setObjectName("idNumber")
        # Shown as typed: a typo must be seen, or the repeat-returner check (R19) misses
        # it. It is never stored in full (docs/privacy.md), and the customer is at the
        # counter anyway.
        self.number.setMaxLength(40)
        self.number.setPlaceholderText(_("as printed on the document"))
        self.number.setInputMethodHints(
            Qt.InputMethodHint.ImhSensitiveData | Qt.InputMethodHint.ImhNoPredictiveText
            | Qt.InputMethodHint.ImhPreferUppercase
        )
        self.number.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.name = QLineEdit()
        self.name.setObjectName("idName")
        self.name.setMaxLength(idcheck.MAX_NAME_LENGTH)
        self.name.setPlaceholderText(_("first name and last name"))
        box.addLayout(form_grid([(_("Document number"), self.number),
                                 (_("Name on the document"), self.name)]))
        self.number.returnPressed.connect(self.name.setFocus)
        self.name.returnPressed.connect(self.submit)

    def _build_actions(self, box: QVBoxLayout) -> None:
        self.cancel_button = cancel_button(self)
        self.decline_button = action_button(_("The customer declines"), shortcut="Alt+R",
                                            role="danger", icon_name="blocked")
        self.decline_button.clicked.connect(self.decline)
        self.save_button = action_button(_("Record the ID"), shortcut="F10", role="primary",
                                         icon_name="check")
        self.save_button.clicked.connect(self.submit)
        box.addLayout(button_row([self.cancel_button, self.decline_button],
                                 [self.save_button]))

    def _set_tab_order(self) -> None:
        set_tab_chain([self.number, self.name, self.save_button,
                       *self.type_buttons.values(), self.notice_button, self.decline_button,
                       self.cancel_button])

    def show_notice(self) -> None:
        """The full information notice, for the customer to read (RGPD art. 13)."""
        notice = IdNoticeDialog(self.services.cfg, self)
        notice.view_only()
        notice.open()

    def decline(self) -> None:
        """The customer does not want to show an ID: no return without receipt (R07)."""
        self.declined = True
        self.reject()

    # -- input ------------------------------------------------------------------------------
    def doc_type(self) -> str:
        for dtype, button in self.type_buttons.items():
            if button.isChecked():
                return dtype.value
        return ""

    def choose(self, dtype: DocType | str) -> None:
        self.type_buttons[DocType(dtype)].setChecked(True)

    def _type_chosen(self, checked: bool) -> None:
        if checked:
            self.number.setFocus()

    def submit(self) -> None:
        if self._busy:
            return
        staff = self.services.staff
        self._busy = True
        self.save_button.setEnabled(False)
        (
            self.services.ops.op(
                capture_with_history, self.services.cfg, self.doc_type(), self.number.text(),
                self.name.text(), int(staff.id) if staff is not None else None,
            )
            .success(self._captured)
            .failure(self._failed)
            .run()
        )

    def _captured(self, result: tuple[IdCheck, History]) -> None:
        self._busy = False
        self.number.clear()  # the number never stays on screen nor in a widget
        self.check, self.history = result
        self.captured.emit(self.check, self.history)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.save_button.setEnabled(True)
        self.banner.show_message(error_message(exc))
        field = getattr(exc, "code", "")
        if isinstance(exc, InvalidInput) and field == "name":
            self.name.setFocus()
            self.name.selectAll()
        elif isinstance(exc, InvalidInput) and field == "doc_type":
            self.type_buttons[DocType.CNI].setFocus()
        else:
            # Shown as typed: the salesperson corrects it (the next keys replace it).
            self.number.setFocus()
            self.number.selectAll()
            self.number.setFocus()

    def reject(self) -> None:
        self.number.clear()
        super().reject()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return  # Enter moves between fields; F10 records
        super().keyPressEvent(event)
