"""Fixtures for the till's UI tests: the real main window on the factories' cache.

Ops run inline (``InlineExecutor``) unless a test asks for the real worker thread.
Keyboard input goes through ``qtbot.keyClicks`` / ``keyClick`` like a scanner or a
salesperson; nothing sleeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from pos_returns.config import TillConfig
from ui.app import install_translations, style_sheet
from ui.ops import InlineExecutor, Ops, ThreadExecutor
from ui.services import Services
from ui.window import MainWindow


@pytest.fixture
def till_cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(
        store_id=1, till_no=1, cache_path=tmp_cache,
        key_path=tmp_path / "keys" / "journal_ed25519.pem",
        documents_dir=tmp_path / "documents", idle_lock_seconds=0,
    )


@pytest.fixture
def styled_app(qapp):
    install_translations(qapp, "fr")
    qapp.setStyleSheet(style_sheet())
    yield qapp
    qapp.setStyleSheet("")


def make_window(qtbot, cfg: TillConfig, executor) -> MainWindow:
    window = MainWindow(Services(cfg, Ops(executor)))
    qtbot.add_widget(window)
    window.resize(1366, 860)
    window.show()
    window.activateWindow()
    qtbot.wait_until(window.isActiveWindow)
    return window


@pytest.fixture
def window(qtbot, db, till_cfg, styled_app) -> MainWindow:
    """The till, ops inline on the test's connection."""
    return make_window(qtbot, till_cfg, InlineExecutor(db))


@pytest.fixture
def threaded_window(qtbot, db, till_cfg, styled_app):
    """The till with its real database worker thread (its own connection)."""
    w = make_window(qtbot, till_cfg, ThreadExecutor(till_cfg.cache_path))
    yield w
    w.services.ops.shutdown()


def log_in(qtbot, window: MainWindow, code: str = "V001", pin: str = "1111") -> None:
    qtbot.keyClicks(window.login.code, code)
    qtbot.keyClick(window.login.code, Qt.Key.Key_Return)
    qtbot.keyClicks(window.login.pin, pin)
    qtbot.keyClick(window.login.pin, Qt.Key.Key_Return)


def scan(qtbot, field, code: str) -> None:
    """A scanner burst: every character as a key press, then Enter."""
    qtbot.keyClicks(field, code)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A shortcut key pressed wherever the focus is (button shortcuts click a moment
    later, Qt's animateClick: wait for their effect with ``qtbot.wait_until``)."""
    from PySide6.QtWidgets import QApplication

    target = QApplication.focusWidget() or QApplication.activeWindow()
    assert target is not None, "no window has the keyboard"
    qtbot.keyClick(target, key, modifier)
