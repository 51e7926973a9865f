"""Fixtures for the till's UI tests: the real main window on the factories' cache.

Ops run inline (``InlineExecutor``) unless a test asks for the real worker thread.
Keyboard input goes through ``qtbot.keyClicks`` / ``keyClick`` like a scanner or a
salesperson; nothing sleeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_returns.config import TillConfig
from tests.helpers.ui import make_window
from ui.app import install_translations, style_sheet
from ui.ops import InlineExecutor, ThreadExecutor
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






