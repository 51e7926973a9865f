"""The chain head HQ anchored, remembered beside the till's keys (issue 12).

At every sync the till's head (seq, record hash, key fingerprint) is anchored at HQ
(:mod:`pos_returns.sync.anchor`), and the last head HQ accepted is written here,
beside the key files, *outside the cache*. A cache restored from an older backup
no longer holds the anchored record unchanged: the till then refuses returns
(:func:`restore_block`) until a sync has pulled its own tickets back from HQ, so
nothing is refunded twice. The same block is set in the cache's ``meta`` when HQ
itself says the till is behind.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from sqlite_utils import Database

from pos_returns.cache.db import get_meta
from pos_returns.i18n import _
from pos_returns.journal.records import _ROW_COLUMNS, _row_bytes, record_hash

ANCHOR_FILE = "head-anchor.json"
BEHIND_META = "integrity.behind_hq"  # JSON {"hq_seq", "local_seq"} while tickets are missing


def anchor_path(key_path: Path | str) -> Path:
    return Path(key_path).expanduser().parent / ANCHOR_FILE


def read_anchor(key_path: Path | str) -> tuple[int, str] | None:
    """(seq, record hash) of the last head anchored at HQ (None: never anchored)."""
    path = anchor_path(key_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["seq"]), str(data["record_hash"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return (1 << 62, "unreadable")  # a damaged anchor blocks, it never unblocks


def write_anchor(key_path: Path | str, seq: int, record_hash_hex: str) -> None:
    path = anchor_path(key_path)
    if not path.parent.exists():
        return  # no key folder (a till without keys never anchors)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps({"seq": int(seq), "record_hash": record_hash_hex}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def record_hash_at(db: Database, store_id: int, till_no: int, seq: int) -> str:
    """The hash of the till's record no. ``seq`` ('' when the cache does not hold it)."""
    row = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? AND seq = ?",
        [store_id, till_no, seq],
    ).fetchone()
    return record_hash(_row_bytes(row)) if row else ""


def head_seq(db: Database, store_id: int, till_no: int) -> int:
    row = db.execute(
        "SELECT MAX(seq) FROM journal WHERE store_id = ? AND till_no = ?", [store_id, till_no]
    ).fetchone()
    return int(row[0] or 0)


def restore_block(db: Database, key_path: Path | str, store_id: int, till_no: int) -> str:
    """'' when the till may refund; else the French message that says why not and
    what to do (the cache is behind the head HQ anchored: a restored backup)."""
    behind = get_meta(db, BEHIND_META)
    hq_seq = local = None
    if behind:
        data = json.loads(behind)
        hq_seq, local = int(data["hq_seq"]), int(data["local_seq"])
    else:
        anchored = read_anchor(key_path)
        if anchored is not None and record_hash_at(db, store_id, till_no,
                                                   anchored[0]) != anchored[1]:
            hq_seq, local = anchored[0], head_seq(db, store_id, till_no)
    if hq_seq is None:
        return ""
    return _(
        "This till is behind HQ: its journal stops at record no. {local} but HQ anchored "
        "record no. {hq} (a cache restored from a backup?). Returns are blocked until the "
        "till has pulled its own tickets back from HQ: connect it to HQ and synchronise "
        "(pos-returns sync), then try again."
    ).format(local=local, hq=hq_seq)
