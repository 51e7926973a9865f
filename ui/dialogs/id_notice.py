"""The information notice shown to the customer before an ID is captured (R07, RGPD).

The salesperson turns the screen (or reads the notice aloud); the customer must
have been informed before anything is typed: "Continue" stays disabled until the
box "The customer has read this information" is ticked. If the customer does
not want to show an ID, the no-receipt return cannot go on (R07) and nothing is
recorded.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pos_returns.config import TillConfig
from pos_returns.i18n import _
from pos_returns.usecases import idcheck

from ..widgets.common import (
    action_button,
    button_row,
    cancel_button,
    dialog_layout,
    label,
    shortcut_text,
)


class IdNoticeDialog(QDialog):
    """Accepted: the customer was informed and agrees to show an ID.
    Rejected: cancelled, or ``declined`` is True when the customer refuses."""

    declined_signal = Signal()

    def __init__(self, cfg: TillConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cfg = cfg
        self.declined = False
        paragraphs = idcheck.notice_text(cfg).split("\n\n")
        box = dialog_layout(self, _("Return without receipt — customer information"),
                            title=paragraphs[0], wrap_title=True, minimum=(900, 700),
                            spacing=14)
        box.addWidget(
            label(
                _("Please read this notice (or have it read to you) before showing an "
                  "identity document."),
                name="subtitle", wrap=True,
            )
        )
        self._build_body(box, paragraphs)
        self._build_actions(box)
        self._connect_shortcuts()
        self._sync()
        self.acknowledged.setFocus()

    def _build_body(self, box: QVBoxLayout, paragraphs: list[str]) -> None:
        body = QWidget()
        body.setObjectName("noticeBody")
        inner = QVBoxLayout(body)
        inner.setContentsMargins(20, 16, 20, 16)
        inner.setSpacing(12)
        self.paragraphs: list[QLabel] = []
        for i, text in enumerate(paragraphs[1:] if len(paragraphs) > 1 else paragraphs):
            head, sep, rest = text.partition(":")
            para = QLabel()
            para.setWordWrap(True)
            para.setTextFormat(Qt.TextFormat.RichText)
            if sep and len(head) < 40:
                para.setText(f"<b>{_escape(head)}{sep}</b>{_escape(rest)}")
            else:
                para.setText(_escape(text))
            para.setObjectName(f"noticeParagraph{i}")
            para.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            inner.addWidget(para)
            self.paragraphs.append(para)
        inner.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body.setStyleSheet(
            "QWidget#noticeBody { background: #ffffff; border: 1px solid #dde1e8; "
            "border-radius: 12px; } QWidget#noticeBody QLabel { font-size: 13pt; }"
        )
        box.addWidget(scroll, 1)

    def _build_actions(self, box: QVBoxLayout) -> None:
        self.acknowledged = QCheckBox(_("The customer has read this information (Space)"))
        self.acknowledged.toggled.connect(self._sync)
        box.addWidget(self.acknowledged)

        self.cancel_button = cancel_button(self)
        self.decline_button = action_button(
            _("The customer declines"), shortcut="Alt+R", role="danger", icon_name="blocked"
        )
        self.decline_button.clicked.connect(self.decline)
        self.continue_button = action_button(
            _("Continue"), shortcut="F10", role="primary", icon_name="check"
        )
        self.continue_button.clicked.connect(self.go_on)
        box.addLayout(button_row([self.cancel_button],
                                 [self.decline_button, self.continue_button]))

    def _connect_shortcuts(self) -> None:
        QShortcut(QKeySequence("Space"), self, activated=self.acknowledged.toggle)

    def view_only(self) -> None:
        """Shown on request from the ID capture: the customer reads it, Close goes back."""
        self.acknowledged.hide()
        self.decline_button.hide()
        self.continue_button.hide()
        self.cancel_button.setText(_("Close") + "   " + shortcut_text("Esc"))
        self.cancel_button.setFocus()

    def _sync(self) -> None:
        self.continue_button.setEnabled(self.acknowledged.isChecked())

    def go_on(self) -> None:
        if self.acknowledged.isChecked():
            self.accept()

    def decline(self) -> None:
        self.declined = True
        self.declined_signal.emit()
        self.reject()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.go_on()
            return
        super().keyPressEvent(event)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
