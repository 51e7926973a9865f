"""The manager's settings screen (Ctrl+Maj+P): the store's values over the TOML
defaults. The core lists, checks and journals (:mod:`pos_returns.usecases.settings`);
this screen shows and sends what was typed. HQ's values are read-only."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pos_returns.i18n import _
from pos_returns.usecases import settings as core

from ..ops import error_message
from ..widgets.common import Banner, action_button, label


def load(db: Any, cfg: Any, staff: Any) -> list[core.SettingView]:
    return core.list_settings(db, cfg, staff)


def save(db: Any, cfg: Any, staff: Any, changes: list[tuple[str, str]]) -> Any:
    """Save every change in turn (each checked and journaled); stops at the first
    refusal, which names its setting. Returns the views and the new configuration."""
    for key, raw in changes:
        core.change_setting(db, cfg, staff, key, raw)
    return core.list_settings(db, cfg, staff), core.effective_config(db, cfg)


class SettingsScreen(QWidget):
    loaded = Signal(object)
    saved = Signal(object)  # the effective TillConfig

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("screen")
        self.services = services
        self.base_cfg = services.cfg
        self.views: list[core.SettingView] = []
        self.fields: dict[str, QWidget] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 16, 20, 16)
        outer.addWidget(label(_("Store settings"), name="title"))
        outer.addWidget(label(_("Values set by HQ are shown greyed: they are changed at HQ. "
                                "Every change is recorded in the fiscal journal (who, "
                                "before, after)."), muted=True, wrap=True))
        self.banner = Banner()
        outer.addWidget(self.banner)
        self.host = QWidget()
        self.grid = QGridLayout(self.host)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.host)
        outer.addWidget(scroll, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.save_button = action_button(_("Save"), shortcut="Ctrl+S", role="primary")
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.save_button)
        outer.addLayout(row)
        self.reload()

    def reload(self) -> None:
        (self.services.ops.op(load, self.base_cfg, self.services.staff)
         .success(self._show).failure(self._error).run())

    def _show(self, views: list[core.SettingView]) -> None:
        self.views = views
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.fields = {}
        group = None
        row = 0
        for view in views:
            s = view.setting
            if s.group != group:
                group = s.group
                self.grid.addWidget(label(_(group), name="sectionTitle"), row, 0, 1, 3)
                row += 1
            if s.kind in ("choice", "bool"):
                widget: QWidget = QComboBox()
                for value, text in s.choices:
                    widget.addItem(_(text), value)
                widget.setCurrentIndex(max(0, widget.findData(view.edit)))
            else:
                widget = QLineEdit(view.edit)
                widget.setMaxLength(255)
                if s.secret:
                    widget.setEchoMode(QLineEdit.EchoMode.Password)
            widget.setEnabled(not view.read_only)
            widget.setAccessibleName(_(s.label))
            if view.read_only:
                widget.setToolTip(_("Set by HQ"))
            self.fields[s.key] = widget
            unit = {"money": " (€)", "percent": " (%)"}.get(s.kind, "")
            self.grid.addWidget(label(_(s.label) + unit), row, 0)
            self.grid.addWidget(widget, row, 1)
            note = _("HQ") if view.source == "hq" or s.hq_only else (
                _("store") if view.source == "store" else "")
            self.grid.addWidget(label(note, muted=True), row, 2)
            row += 1
        self.grid.setRowStretch(row, 1)
        self.loaded.emit(views)

    def typed(self, key: str) -> str:
        widget = self.fields[key]
        if isinstance(widget, QComboBox):
            return str(widget.currentData())
        return widget.text()

    def changes(self) -> list[tuple[str, str]]:
        out = []
        for view in self.views:
            if view.read_only or view.setting.key not in self.fields:
                continue
            raw = self.typed(view.setting.key)
            if str(raw).strip() != (view.edit or ""):
                out.append((view.setting.key, raw))
        return out

    def save(self) -> None:
        changes = self.changes()
        if not changes:
            self.banner.show_message(_("Nothing changed."), "info")
            return
        (self.services.ops.op(save, self.base_cfg, self.services.staff, changes)
         .success(self._saved).failure(self._error).run())

    def _saved(self, result: Any) -> None:
        views, cfg = result
        self.services.cfg = cfg  # the till works with the new values at once
        self._show(views)
        self.banner.show_message(_("Settings saved."), "success")
        self.saved.emit(cfg)

    def _error(self, exc: BaseException) -> None:
        self.banner.show_message(error_message(exc), "error")


def open_settings(parent: QWidget | None, services: Any) -> SettingsScreen:
    screen = SettingsScreen(services, parent)
    screen.setWindowFlag(Qt.WindowType.Window, True)
    screen.setWindowTitle(_("Store settings"))
    screen.resize(900, 760)
    screen.show()
    return screen
