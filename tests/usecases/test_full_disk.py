"""A return committed on a full disk: a French message, nothing half-written (issue 17).

The cache lives on a small tmpfs filled to the brim when the test can mount one
(CI runs as root); otherwise every write is refused the way SQLite refuses it
on a full disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pos_returns.config import TillConfig
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.errors import StorageError
from pos_returns.usecases.returns import complete_return
from tests.helpers import L, add_sale, new_cache

COUNTED = ("return_tickets", "return_lines", "refunds", "journal", "outbox", "gift_cards")


def _counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in COUNTED}


class FullDisk(sqlite3.Connection):
    """Refuses every write once ``full`` is set, with SQLite's own error."""

    full = False

    def execute(self, sql, *args):  # type: ignore[no-untyped-def, override]
        if FullDisk.full and sql.lstrip().lower().startswith(("insert", "update", "delete")):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


@pytest.fixture
def full_disk_cache(tmp_path, monkeypatch) -> Iterator[tuple[object, TillConfig, object]]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = not os.environ.get("ALAMARA_TEST_NO_MOUNT") and os.geteuid() == 0 and \
        shutil.which("mount") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4096k", "tmpfs", str(mnt)],
        capture_output=True, check=False).returncode == 0
    if not mounted:
        real = sqlite3.connect
        monkeypatch.setattr(sqlite3, "connect",
                            lambda *a, **k: real(*a, **{**k, "factory": FullDisk}))
    cache = mnt / "cache.sqlite"
    db = new_cache(cache)
    cfg = TillConfig(cache_path=cache, key_path=tmp_path / "keys" / "j.pem")
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 7900), L("SKU-ROBE-01", 1, 18900)])

    def fill() -> None:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if mounted:
            with contextlib.suppress(OSError), (mnt / "filler").open("wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        else:
            FullDisk.full = True

    try:
        yield db, cfg, (sale_id, fill)
    finally:
        FullDisk.full = False
        db.close()
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def test_complete_return_on_a_full_disk_is_french_and_writes_nothing(full_disk_cache):
    db, cfg, (sale_id, fill) = full_disk_cache
    lines = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY id",
                                      [sale_id])]
    request = ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=sale_id, presented_card_last4="4242",
        lines=tuple(LineRequest(quantity=1, condition=Condition.NEW_WITH_TAGS, reason="size",
                                sale_line_id=i) for i in lines),
    )
    complete_return(db, cfg, replace(request, lines=request.lines[:1]))
    before = _counts(db)
    fill()
    with pytest.raises(StorageError) as err:
        complete_return(db, cfg, replace(request, lines=request.lines[1:]))
    message = str(err.value)
    assert "disque est plein" in message and "Rien n’a été enregistré" in message
    assert "database" not in message and "disk" not in message
    assert not db.conn.in_transaction
    Path(cfg.cache_path).parent.joinpath("filler").unlink(missing_ok=True)
    FullDisk.full = False
    assert _counts(db) == before  # nothing half-written
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # room again: the same return goes through
    complete_return(db, cfg, replace(request, lines=request.lines[1:]))
    assert _counts(db)["return_tickets"] == before["return_tickets"] + 1
