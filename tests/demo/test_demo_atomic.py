"""``pos-returns demo`` is atomic and ``--ensure`` finishes what was interrupted (issue 17)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pos_returns import cli
from pos_returns.cache.db import open_cache
from pos_returns.commands import demo as demo_command


@pytest.fixture
def config(tmp_path: Path) -> Path:
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{tmp_path / "keys" / "j.pem"}"\n', encoding="utf-8")
    return toml


def _sales(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    finally:
        con.close()


def test_an_interrupted_demo_leaves_no_partial_cache_and_ensure_finishes_it(
        tmp_path, config, monkeypatch, capsys):
    path = tmp_path / "cache.sqlite"
    real = demo_command.add_demo_returns

    def interrupted(db, cfg, *, n, seed):  # type: ignore[no-untyped-def]
        real(db, cfg, n=2, seed=seed)  # 2 of the returns asked, then Ctrl+C
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_command, "add_demo_returns", interrupted)
    argv = ["demo", "--sales", "80", "--returns", "10", "--db", str(path), "--config",
            str(config)]
    assert cli.main(argv) == cli.EXIT_INTERRUPTED
    assert not path.exists()  # the target never holds a half-built chain
    assert demo_command.building_path(path).exists()
    assert "Interrompu" in capsys.readouterr().err

    # `make run` would now refuse to open it, and `--ensure` builds it
    assert cli.main(["run", "--db", str(path), "--config", str(config)]) == 2
    monkeypatch.setattr(demo_command, "add_demo_returns", real)
    assert cli.main([*argv[:-4], "--ensure", "--db", str(path), "--config", str(config)]) == 0
    assert _sales(path) == 80
    assert not demo_command.building_path(path).exists()
    assert demo_command.cache_state(path) == "complete"
    capsys.readouterr()
    # and then says there is nothing to do, without touching it
    mtime = path.stat().st_mtime_ns
    assert cli.main(["demo", "--ensure", "--db", str(path), "--config", str(config)]) == 0
    assert "rien à construire" in capsys.readouterr().out
    assert path.stat().st_mtime_ns == mtime


def test_ensure_rebuilds_a_schema_only_cache_but_never_an_unreadable_one(
        tmp_path, config, capsys):
    path = tmp_path / "schema-only.sqlite"
    open_cache(path).close()  # what an old interrupted demo left: only the schema
    assert demo_command.cache_state(path) == "incomplete"
    assert cli.main(["run", "--db", str(path), "--config", str(config)]) == 2
    assert "incomplet" in capsys.readouterr().err
    assert cli.main(["demo", "--ensure", "--sales", "30", "--db", str(path), "--config",
                     str(config)]) == 0
    assert _sales(path) == 30

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    assert cli.main(["demo", "--ensure", "--sales", "30", "--db", str(junk), "--config",
                     str(config)]) == 2
    assert junk.read_bytes().startswith(b"not a database")  # left as it was
    assert "--force" in capsys.readouterr().err


def test_a_killed_demo_process_leaves_the_target_absent(tmp_path, config):
    path = tmp_path / "killed.sqlite"
    env = {**os.environ, "POS_RETURNS_LOG_DIR": str(tmp_path / "logs")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_returns.cli", "demo", "--sales", "4000", "--returns", "40",
         "--db", str(path), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    building = demo_command.building_path(path)
    deadline = time.monotonic() + 60
    while not building.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not path.exists() or demo_command.cache_state(path) == "complete"


def test_issue12_ensure_seals_a_demo_made_before_the_pin_pepper(tmp_path, config):
    """`make run` on a demo cache of an older version: its staff had unpeppered hashes
    and no seal, its keys no pepper and no head file. `--ensure` gives the demo chain
    its pepper, seals the demo staff and writes the head, so the README's PINs still
    log in and returns are not blocked."""
    from pos_returns.config import load_config
    from pos_returns.journal.head import head_path
    from pos_returns.journal.keys import forget_cached_signers
    from pos_returns.journal.keyset import key_files
    from pos_returns.usecases import till

    path = tmp_path / "cache.sqlite"
    assert cli.main(["demo", "--sales", "40", "--db", str(path), "--config", str(config)]) == 0
    cfg = load_config(str(config)).with_cache(path)
    key_files(cfg)["pin_pepper"].unlink()
    head_path(cfg.key_path).unlink()  # no head file beside the keys either
    forget_cached_signers()
    con = sqlite3.connect(path)
    con.execute("UPDATE staff SET seal = '', pin_hash = 'scrypt$1024$8$1$c2FsdA==$ZGlnZXN0'")
    con.commit()
    con.close()
    assert cli.main(["demo", "--ensure", "--db", str(path), "--config", str(config)]) == 0
    assert head_path(cfg.key_path).exists()
    assert cli.main(["journal", "verify", "--db", str(path), "--config", str(config)]) == 0
    db = open_cache(path)
    try:
        assert till.login(db, cfg, "M001", "9999").code == "M001"
    finally:
        db.close()
