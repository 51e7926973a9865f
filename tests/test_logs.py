"""Rotating log files without personal data, and the support bundle (issue 17)."""

from __future__ import annotations

import json
import logging
import logging.handlers
import zipfile
from pathlib import Path

import pytest

from pos_returns import cli
from pos_returns.logs import MAX_BYTES, PersonalDataFilter, scrub, setup_logging

PERSONAL = ("zoe.ndiaye@example.fr", "6123456789012345678", "06 12 34 56 78", "X4RTBPFW4",
            "4970101234567890")


def test_scrub_masks_emails_numbers_and_id_numbers():
    text = ("client zoe.ndiaye@example.fr carte 6123456789012345678 tel 06 12 34 56 78 "
            "cni X4RTBPFW4 card 4970101234567890; ticket 12 at 10:15 on 2026-03-02")
    clean = scrub(text)
    for item in PERSONAL:
        assert item not in clean
    assert "ticket 12 at 10:15 on 2026-03-02" in clean  # small numbers, dates stay


@pytest.fixture
def log_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "logs"
    monkeypatch.setenv("POS_RETURNS_LOG_DIR", str(folder))
    _remove_handler()
    yield folder
    _remove_handler()


def _remove_handler() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_alamara", False):
            root.removeHandler(handler)
            handler.close()


def test_the_log_file_rotates_and_holds_no_personal_data(log_dir):
    path = setup_logging()
    assert path == log_dir / "till.log" and setup_logging() == path  # once per process
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_alamara", False))
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == MAX_BYTES and handler.backupCount == 5
    assert any(isinstance(f, PersonalDataFilter) for f in handler.filters)
    log = logging.getLogger("pos_returns.test")
    log.warning("lookup by e-mail %s and card %s", PERSONAL[0], PERSONAL[1])
    try:
        raise ValueError(f"bad ID {PERSONAL[3]} for {PERSONAL[0]}")
    except ValueError:
        log.exception("capture failed")
    handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "capture failed" in text and "ValueError" in text
    for item in PERSONAL:
        assert item not in text


def test_support_bundle_has_logs_config_without_secrets_verify_and_versions(
        log_dir, tmp_path, capsys):
    setup_logging()
    logging.getLogger("pos_returns.test").warning("something to look at")
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{tmp_path / "k" / "j.pem"}"\n'
                    'hq_dsn = "host=hq user=till password=tres-secret"\n', encoding="utf-8")
    db = tmp_path / "c.sqlite"
    assert cli.main(["demo", "--sales", "30", "--db", str(db), "--config", str(toml)]) == 0
    out = tmp_path / "bundle.zip"
    assert cli.main(["support-bundle", "--out", str(out), "--db", str(db), "--config",
                     str(toml)]) == 0
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"logs/till.log", "config.json", "verify.txt", "versions.json"} <= names
        config = zf.read("config.json").decode()
        assert "tres-secret" not in config and json.loads(config)["hq_dsn"] == "***"
        assert "vérifié" in zf.read("verify.txt").decode()
        assert json.loads(zf.read("versions.json"))["alamara-retours"]
        assert "something to look at" in zf.read("logs/till.log").decode()


def test_support_bundle_works_on_a_broken_cache(log_dir, tmp_path):
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"garbage" * 100)
    out = tmp_path / "b.zip"
    assert cli.main(["support-bundle", "--out", str(out), "--db", str(broken)]) == 0
    with zipfile.ZipFile(out) as zf:
        verify_text = zf.read("verify.txt").decode()
    assert "broken.sqlite" in verify_text and "n’est pas" in verify_text
