"""Small building blocks shared by the screens: buttons with shortcuts, banners, cards."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pos_returns.i18n import _
from pos_returns.resources import resources_dir

RESOURCES = resources_dir()


def icon(name: str) -> QIcon:
    return QIcon(str(RESOURCES / "icons" / f"{name}.svg"))


def set_tab_chain(widgets: Sequence[QWidget]) -> None:
    """An explicit Tab order through ``widgets`` (every screen declares its own)."""
    for first, second in itertools.pairwise(widgets):
        if first.window() is second.window():
            QWidget.setTabOrder(first, second)


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def shortcut_text(shortcut: str) -> str:
    return QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)


def action_button(
    text: str,
    *,
    shortcut: str = "",
    role: str = "",
    icon_name: str = "",
    parent: QWidget | None = None,
) -> QPushButton:
    """A touch-sized button; its shortcut is shown in the label ("Valider  F10")."""
    label = f"{text}   {shortcut_text(shortcut)}" if shortcut else text
    button = QPushButton(label, parent)
    if shortcut:
        button.setShortcut(QKeySequence(shortcut))
        button.setToolTip(f"{text} ({shortcut_text(shortcut)})")
    if role:
        button.setProperty("role", role)
    if icon_name:
        button.setIcon(icon(icon_name))
        button.setIconSize(QSize(24, 24))
    button.setMinimumHeight(52)
    button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


def relabel(button: QPushButton, text: str, shortcut: str = "") -> None:
    """Change a button's text and keep its shortcut (``setText`` resets it to the
    text's mnemonic)."""
    button.setText(f"{text}   {shortcut_text(shortcut)}" if shortcut else text)
    if shortcut:
        button.setShortcut(QKeySequence(shortcut))


class Banner(QLabel):
    """A message strip: error, info, success or warning. Hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()
        self.level = ""

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setProperty("level", level)
        self.setText(text)
        repolish(self)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.level = ""
        self.setText("")
        self.hide()


def card(parent: QWidget | None = None) -> QFrame:
    frame = QFrame(parent)
    frame.setProperty("card", True)
    return frame


def label(text: str = "", *, name: str = "", muted: bool = False, wrap: bool = False,
          parent: QWidget | None = None) -> QLabel:
    widget = QLabel(text, parent)
    if name:
        widget.setObjectName(name)
    if muted:
        widget.setProperty("muted", True)
    widget.setWordWrap(wrap)
    return widget


# -- dialogs: the same frame, form and button row everywhere ---------------------------------


def dialog_layout(dialog: QDialog, window_title: str, *, title: str = "",
                  wrap_title: bool = False, minimum: tuple[int, int] | int = 0,
                  spacing: int = 12) -> QVBoxLayout:
    """A modal dialog's frame: window title, minimum size (``(w, h)`` or a width),
    the dialogs' margins, and its big title when ``title`` is given."""
    dialog.setWindowTitle(window_title)
    dialog.setModal(True)
    if isinstance(minimum, tuple):
        dialog.setMinimumSize(*minimum)
    elif minimum:
        dialog.setMinimumWidth(minimum)
    box = QVBoxLayout(dialog)
    box.setContentsMargins(28, 24, 28, 24)
    box.setSpacing(spacing)
    if title:
        box.addWidget(label(title, name="title", wrap=wrap_title))
    return box


def cancel_button(dialog: QDialog) -> QPushButton:
    """"Cancel  Esc", which rejects ``dialog``."""
    button = action_button(_("Cancel"), shortcut="Esc")
    button.clicked.connect(dialog.reject)
    return button


def button_row(left: Sequence[QWidget], right: Sequence[QWidget]) -> QHBoxLayout:
    """A dialog's bottom row: ``left`` buttons (Cancel first), a gap, ``right`` ones."""
    row = QHBoxLayout()
    for widget in left:
        row.addWidget(widget)
    row.addStretch(1)
    for widget in right:
        row.addWidget(widget)
    return row


def form_grid(rows: Sequence[tuple[str, QWidget]]) -> QGridLayout:
    """Label | field rows; the fields take the width."""
    grid = QGridLayout()
    grid.setHorizontalSpacing(14)
    grid.setVerticalSpacing(10)
    for i, (text, widget) in enumerate(rows):
        caption = label(text)
        caption.setBuddy(widget)  # a screen reader reads the label with its field
        if not widget.accessibleName():
            widget.setAccessibleName(text)
        grid.addWidget(caption, i, 0)
        grid.addWidget(widget, i, 1)
    grid.setColumnStretch(1, 1)
    return grid
