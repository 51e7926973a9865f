"""Every ``pos-returns`` command against every broken cache: a French message and
an exit code, never a traceback, never the library's English (issue 17).

The caches: corrupt (pages overwritten), truncated, not SQLite, a folder, on a
read-only medium, on a full disk. Read-only and full are a small tmpfs mounted
by the test when it can (CI runs as root); otherwise they are simulated
(SQLite's ``mode=ro`` and ``max_page_count``), and the test says which.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from pos_returns import cli
from pos_returns.cache import db as cache_db
from pos_returns.i18n import STORE_TZ

# English that must never reach a French message (the library's own texts).
ENGLISH = (
    "Traceback", "out of range", "invalid literal", "database disk image", "is not a database",
    "unable to open", "No such file", "Permission denied", "Errno", "codec can't",
    "connection info string", "readonly database", "disk is full", "Read-only file system",
    "Is a directory", "Not a directory", "Error:", "error:", "usage:", "required:",
    "invalid int value", "Unexpected error", "database or disk", "connection to server",
    "Connection refused", "failed:",
)
UNEXPECTED = "Erreur inattendue"
# Every known failure has its own message: the generic one means a case was missed.


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
                 ) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = list(_subcommands(sub, (*prefix, name)))
                yield from inner or [(*prefix, name)]


def all_commands() -> list[tuple[str, ...]]:
    return sorted(set(_subcommands(cli.build_parser())))


def extra_args(command: tuple[str, ...], out: Path) -> list[str]:
    """The other arguments each command needs (a new command runs with none and
    must still fail in French when they are missing)."""
    return {
        ("run",): [],
        ("screenshots",): ["--out", str(out)],
        ("demo",): ["--sales", "20"],
        ("journal", "verify"): [],
        ("journal", "export"): ["--year", "2026", "--out", str(out)],
        ("journal", "close"): ["--day", "2026-01-01"],
        ("journal", "head"): [],
        ("journal", "accept-head"): ["--manager", "M001", "--note", "Caisse restaurée"],
        ("report",): ["--date", "2026-01-01", "--out", str(out)],
        ("privacy", "purge"): [],
        ("privacy", "key"): [],
        ("hq", "init"): ["--dsn", "garbage"],
        ("hq", "feed"): ["--dsn", "garbage", "--sales", "2"],
        ("hq", "seal-staff"): ["--dsn", "garbage"],
        ("sync",): ["--dsn", "garbage"],
        ("support-bundle",): ["--out", str(out / "support.zip")],
        # the terminal simulator serves until stopped: a free port, a tenth of a second
        ("tpe-simulator",): ["--host", "127.0.0.1", "--port", "0", "--lifetime", "0.1"],
        ("keys", "backup"): ["--out", str(out / "keys.backup")],
        ("keys", "restore"): [str(out / "keys.backup")],
        ("keys", "export-chain"): ["--out", str(out / "chain.secrets")],
        ("keys", "import-chain"): [str(out / "chain.secrets")],
    }.get(command, [])


def takes_db(command: tuple[str, ...]) -> bool:
    return command[0] != "hq"


# Commands that take --db but do not read the cache (they succeed whatever it holds).
CACHE_FREE = {("privacy", "key"), ("keys", "init"), ("keys", "backup"), ("keys", "restore"),
              ("keys", "export-chain"), ("keys", "import-chain"),
              ("support-bundle",),  # it reports the broken cache inside the zip
              ("tpe-simulator",)}  # the payment terminal simulator reads no cache


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)  # any exception escaping main fails the test
    return code, out.getvalue(), err.getvalue()


def assert_french_failure(code: int, out: str, err: str, label: str) -> None:
    text = out + err
    for word in ENGLISH:
        assert word not in text, f"{label}: English « {word} » in: {text[-600:]}"
    assert UNEXPECTED not in text, f"{label}: the generic message for a known case: {text}"
    if code != 0:
        assert code in (1, 2, 3), f"{label}: exit code {code}"
        assert err.strip(), f"{label}: failed without a message"


# --------------------------------------------------------------------------- caches


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("base")
    keys = root / "keys"
    good = root / "good.sqlite"
    config = root / "till.toml"
    config.write_text(
        f'key_path = "{keys / "journal.pem"}"\ndocuments_dir = "{root / "docs"}"\n',
        encoding="utf-8")
    code, _out, err = run_cli(["demo", "--sales", "60", "--returns", "3", "--seed", "3",
                               "--db", str(good), "--config", str(config)])
    assert code == 0, err
    con = sqlite3.connect(good)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"root": root, "good": good, "config": config}


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _mount_tmpfs(target: Path, size_kib: int) -> bool:
    if (os.geteuid() != 0 or not shutil.which("mount")
            or os.environ.get("ALAMARA_TEST_NO_MOUNT")):  # to exercise the simulation
        return False
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                           str(target)], capture_output=True, check=False)
    return proc.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


@pytest.fixture
def broken_caches(base, tmp_path, monkeypatch) -> Iterator[dict[str, Path]]:
    good = base["good"]
    data = good.read_bytes()
    caches: dict[str, Path] = {}
    corrupt = _copy(good, tmp_path / "corrupt.sqlite")
    with corrupt.open("r+b") as fh:  # the header holds; the pages do not
        for offset in range(4096, len(data), 4096 * 3):
            fh.seek(offset)
            fh.write(os.urandom(512))
    caches["corrupt"] = corrupt
    trunc = tmp_path / "truncated.sqlite"
    trunc.write_bytes(data[: len(data) // 3])
    caches["truncated"] = trunc
    text = tmp_path / "notes.sqlite"
    text.write_text("ceci n'est pas une base\n" * 40, encoding="utf-8")
    caches["not_sqlite"] = text
    folder = tmp_path / "folder.sqlite"
    folder.mkdir()
    caches["directory"] = folder
    yield caches


@pytest.fixture
def readonly_cache(base, tmp_path, monkeypatch) -> Iterator[Path]:
    mnt = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    if _mount_tmpfs(mnt, 8192):
        try:
            path = _copy(base["good"], mnt / "cache.sqlite")
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True,
                           capture_output=True)
            yield path
        finally:
            _umount(mnt)
        return
    # simulated: every connection opened read-only, the folder seen as read-only
    path = _copy(base["good"], tmp_path / "ro" / "cache.sqlite")
    real = cache_db.connect
    real_access = os.access

    def access(p, mode, *args, **kwargs):  # type: ignore[no-untyped-def]
        if mode & os.W_OK and Path(p).resolve().is_relative_to(path.parent.resolve()):
            return False
        return real_access(p, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(cache_db, "connect",
                        lambda p, *, create=True, readonly=False: real(p, create=False,
                                                                       readonly=True))
    yield path


@pytest.fixture
def full_cache(base, tmp_path, monkeypatch) -> Iterator[Path]:
    mnt = tmp_path / f"full-{uuid.uuid4().hex[:6]}"
    size = base["good"].stat().st_size
    if _mount_tmpfs(mnt, size // 1024 + 64):
        try:
            path = _copy(base["good"], mnt / "cache.sqlite")
            with contextlib.suppress(OSError), (mnt / "filler").open("wb") as fh:
                while True:  # fill what is left
                    fh.write(b"\0" * 4096)
                    fh.flush()
            yield path
        finally:
            _umount(mnt)
        return
    # simulated: every write to the cache fails as SQLite fails on a full disk
    path = _copy(base["good"], tmp_path / "full" / "cache.sqlite")
    real_connect = sqlite3.connect
    writes = ("insert", "update", "delete", "replace", "create", "drop", "alter")

    class FullDisk(sqlite3.Connection):
        def execute(self, sql, *args):  # type: ignore[no-untyped-def, override]
            if sql.lstrip().lower().startswith(writes):
                raise sqlite3.OperationalError("database or disk is full")
            return super().execute(sql, *args)

    def connect(database, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(database).startswith(str(path)):
            kwargs["factory"] = FullDisk
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield path


@pytest.fixture(autouse=True)
def no_window(monkeypatch):
    """``run`` and ``screenshots`` would open Qt on a cache that opens: stand in for
    the app's start (open the cache, journal the start), which is what can fail."""
    from pos_returns.usecases import till

    def fake_app_run(cfg):  # type: ignore[no-untyped-def]
        database = till.open_worker_cache(cfg.cache_path)
        try:
            till.start_till(database, cfg)
        finally:
            database.close()
        return 0

    import ui.app
    import ui.screenshots

    monkeypatch.setattr(ui.app, "run", fake_app_run)
    monkeypatch.setattr(ui.screenshots, "render_all",
                        lambda cfg, out, use_db=False: [fake_app_run(cfg)] and [])


# --------------------------------------------------------------------------- tests


def test_the_command_list_is_read_from_the_parser():
    commands = all_commands()
    assert ("journal", "close") in commands and ("sync",) in commands
    assert ("privacy", "purge") in commands and ("report",) in commands


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "not_sqlite", "directory"])
def test_every_command_on_a_broken_cache_says_it_in_french(kind, base, broken_caches,
                                                            tmp_path):
    cache = broken_caches[kind]
    for command in all_commands():
        argv = [*command, *extra_args(command, tmp_path / "out"), "--config",
                str(base["config"])]
        if takes_db(command):
            argv += ["--db", str(cache)]
        code, out, err = run_cli(argv)
        label = f"{' '.join(command)} on a {kind} cache"
        assert_french_failure(code, out, err, label)
        if takes_db(command) and command != ("demo",) and command not in CACHE_FREE:
            assert code != 0, f"{label}: succeeded on a broken cache"
            assert str(cache.name) in err, f"{label}: the message does not name the cache"


def test_every_command_on_a_read_only_cache(base, readonly_cache, tmp_path):
    for command in all_commands():
        argv = [*command, *extra_args(command, tmp_path / "out"), "--config",
                str(base["config"]), "--db", str(readonly_cache)]
        code, out, err = run_cli(argv)
        assert_french_failure(code, out, err, f"{' '.join(command)} on a read-only cache")
    # the till itself does not open on a cache it cannot write
    code, _out, err = run_cli(["run", "--db", str(readonly_cache), "--config",
                               str(base["config"])])
    assert code == 2 and "lecture seule" in err


def _counts(path: Path) -> tuple[int, int, int]:
    con = sqlite3.connect(path)
    try:
        return tuple(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore
                     for t in ("closures", "journal", "return_tickets"))
    finally:
        con.close()


def test_every_command_on_a_full_disk(base, full_cache, tmp_path):
    before = _counts(base["good"])
    for command in all_commands():
        argv = [*command, *extra_args(command, tmp_path / "out"), "--config",
                str(base["config"]), "--db", str(full_cache)]
        code, out, err = run_cli(argv)
        assert_french_failure(code, out, err, f"{' '.join(command)} on a full disk")
    today = datetime.now(STORE_TZ).date().isoformat()  # a day still open
    code, _out, err = run_cli(["journal", "close", "--day", today, "--db",
                               str(full_cache), "--config", str(base["config"])])
    assert code == 2 and "plein" in err, err
    (full_cache.parent / "filler").unlink(missing_ok=True)  # room again, to look inside
    assert _counts(full_cache) == before  # nothing half-written
    con = sqlite3.connect(full_cache)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_a_binary_configuration_file(base, tmp_path):
    binary = tmp_path / "till.toml"
    binary.write_bytes(b"\x00\xff\xfe\x89PNG\r\n\x1a\n" + os.urandom(200))
    for command in all_commands():
        argv = [*command, *extra_args(command, tmp_path / "out")]
        if takes_db(command):
            argv += ["--config", str(binary), "--db", str(base["good"])]
        code, out, err = run_cli(argv)
        assert_french_failure(code, out, err, f"{' '.join(command)} with a binary config")
        if takes_db(command):
            assert code == 2 and "UTF-8" in err


def test_an_invalid_toml_configuration_names_the_line_in_french(base, tmp_path):
    bad = tmp_path / "till.toml"
    bad.write_text('store_id = 1\nlanguage = "fr\n', encoding="utf-8")
    code, out, err = run_cli(["journal", "verify", "--config", str(bad), "--db",
                              str(base["good"])])
    assert_french_failure(code, out, err, "invalid TOML")
    assert code == 2 and "ligne 2" in err


def test_an_unwritable_out_folder(base, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "sub"  # a folder under a file: unwritable, even for root
    db = _copy(base["good"], tmp_path / "c.sqlite")
    for argv in (["report", "--date", "2026-01-01", "--out", str(out)],
                 ["journal", "export", "--year", "2026", "--out", str(out)]):
        code, stdout, err = run_cli([*argv, "--db", str(db), "--config", str(base["config"])])
        assert_french_failure(code, stdout, err, " ".join(argv[:2]))
        assert code == 2 and "a-file" in err


def test_sync_with_a_garbage_dsn_and_a_negative_batch(base, tmp_path):
    db = _copy(base["good"], tmp_path / "c.sqlite")
    common = ["--db", str(db), "--config", str(base["config"])]
    code, out, err = run_cli(["sync", "--dsn", "garbage", *common])
    assert_french_failure(code, out, err, "sync --dsn garbage")
    assert code == 2 and "DSN" in err
    code, out, err = run_cli(["sync", "--dsn", "garbage", "--batch-size", "-1", *common])
    assert_french_failure(code, out, err, "sync --batch-size -1")
    assert code == 2 and "entre 1 et" in err
    # HQ unreachable: offline (exit 3), the reason in French, not the driver's English
    code, out, err = run_cli(["sync", "--dsn", "host=127.0.0.1 port=1 connect_timeout=1",
                              *common])
    assert_french_failure(0, out, err, "sync, HQ unreachable")  # offline is told on stdout
    assert code == 3 and "injoignable" in out
    code, out, err = run_cli(["sync", "--dsn", "x", "--batch-size", "douze", *common])
    assert_french_failure(code, out, err, "sync --batch-size douze")
    assert code == 2 and "douze" in err


@pytest.mark.parametrize("argv,expected", [
    (["journal", "close", "--day", "2026-02-31"], "n’est pas une date"),
    (["journal", "close", "--month", "2026-xx"], "n’est pas un mois"),
    (["journal", "close", "--month", "2026-13"], "n’est pas un mois"),
    (["journal", "close", "--year", "deux-mille"], "deux-mille"),
    (["report", "--date", "31/02/2026", "--out", "/tmp/x"], "n’est pas une date"),
    (["privacy", "purge", "--now", "hier"], "n’est pas une date"),
    (["journal", "close"], "requis"),
    (["journal", "frobnicate"], "choix"),
])
def test_bad_arguments_are_told_in_french(argv, expected, base, tmp_path):
    db = _copy(base["good"], tmp_path / "c.sqlite")
    code, out, err = run_cli([*argv, "--db", str(db), "--config", str(base["config"])])
    assert_french_failure(code, out, err, " ".join(argv))
    assert code == 2 and expected in err, err


def test_a_bug_gives_the_generic_french_message_and_the_log(base, tmp_path, monkeypatch):
    from pos_returns.commands import journal as journal_commands

    def boom(args):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(journal_commands, "run_head", boom)
    log_dir = tmp_path / "logs"
    monkeypatch.setenv("POS_RETURNS_LOG_DIR", str(log_dir))
    _reset_log_handler()
    try:
        code, _out, err = run_cli(["journal", "head", "--db", str(base["good"])])
    finally:
        _reset_log_handler()
    assert code == cli.EXIT_UNEXPECTED
    assert UNEXPECTED in err and "Traceback" not in err and "division" not in err
    assert "ZeroDivisionError" in (log_dir / "till.log").read_text(encoding="utf-8")


def _reset_log_handler() -> None:
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_alamara", False):
            root.removeHandler(handler)
            handler.close()


def test_no_traceback_through_the_real_process(base, tmp_path):
    """The same, as a shell runs it: a corrupt cache and a garbage DSN."""
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
    env = {**os.environ, "POS_RETURNS_LOG_DIR": str(tmp_path / "logs"),
           "POS_RETURNS_CONFIG": str(base["config"])}
    for argv in (["journal", "verify", "--db", str(bad)],
                 ["sync", "--dsn", "garbage", "--db", str(bad)]):
        proc = subprocess.run([sys.executable, "-m", "pos_returns.cli", *argv],
                              capture_output=True, text=True, env=env, check=False,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert_french_failure(proc.returncode, proc.stdout, proc.stderr, " ".join(argv))
