"""Small building blocks shared by the screens: buttons with shortcuts, banners, cards."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QSizePolicy, QWidget

RESOURCES = Path(__file__).resolve().parent.parent.parent / "resources"


def icon(name: str) -> QIcon:
    return QIcon(str(RESOURCES / "icons" / f"{name}.svg"))


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
