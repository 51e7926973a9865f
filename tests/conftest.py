"""Shared fixtures. Tests run headless: Qt's offscreen platform is set here."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TZ", "Europe/Paris")
# The till's log file (pos_returns.logs) goes to a temporary folder, never the home.
os.environ.setdefault("POS_RETURNS_LOG_DIR",
                      __import__("tempfile").mkdtemp(prefix="alamara-test-logs-"))

from pathlib import Path

import pytest

from pos_returns import i18n


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test reads or writes the machine's own till files (keys, pinned public key,
    configuration) under ~/.local/share or ~/.config: each test gets its own."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))


@pytest.fixture(autouse=True)
def _test_chain_pepper(monkeypatch: pytest.MonkeyPatch):
    """Every key folder a test's till makes holds the tests' chain PIN pepper (the
    staff of tests/helpers are hashed and sealed with it), as every till of a chain
    holds its chain's."""
    from pos_returns.journal import pins
    from tests.helpers import TEST_PEPPER

    monkeypatch.setattr(pins, "_new_secret", lambda: TEST_PEPPER.secret)


@pytest.fixture(autouse=True)
def _french():
    """Every test starts in French, the till's default language."""
    i18n.set_language("fr")
    yield
    i18n.set_language("fr")


@pytest.fixture
def tmp_cache(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite"


@pytest.fixture
def db(tmp_cache: Path):
    """A fresh migrated cache with the reference data of ``tests/factories.py``."""
    from tests.helpers import new_cache

    database = new_cache(tmp_cache)
    yield database
    database.close()
