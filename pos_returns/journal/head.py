"""The till's own chain head, kept beside its keys after every commit (issue 12).

The cache can be edited, replaced by an older copy, or have its last records cut
off (with its ``journal_heads`` row set back): alone, it cannot tell. So after each
transaction that journals something, the till writes its head — (seq, record hash,
key fingerprint) — to ``journal-head.json`` **beside the keys**, outside the cache,
with a MAC under a secret derived from the journal key (so it cannot be edited or
made up without that key). At start-up and before every return
(:func:`pos_returns.journal.anchor.integrity_block`) the cache must hold that
record unchanged: its chain then *equals or extends* the head. A cache behind it
(a restored backup, a cut tail) blocks returns.

Ordering with the SQLite commit: the file is written **after** the COMMIT
(``cache.db.after_commit``; ``synchronous=FULL``: the commit is durable), so it may
lag behind the cache by one commit after a crash — the cache then extends it, no
alarm, and the next commit brings it up to date — but it is never ahead of a
durable commit. It only moves forward: a cache that does not extend it never
overwrites it (the block stays until a restore of the latest cache, or a manager's
journaled recovery, :func:`reset_head`).

The file is made with the key set (``seq`` 0, not yet bound to a chain); from then
on a missing file is a failure, never "nothing written yet". ``anchored`` says
whether an anchor from HQ was written (``head-anchor.json``): once it was, that file
must be there too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from pos_returns.journal.records import _ROW_COLUMNS, _row_bytes, record_hash

try:  # POSIX: one writer at a time across processes
    import fcntl
except ImportError:  # pragma: no cover - the till runs on Linux
    fcntl = None  # type: ignore[assignment]

HEAD_FILE = "journal-head.json"
HEAD_LABEL = "alamara-retours journal head v1"
_LOCK_FILE = ".journal-head.lock"
_LOCK = threading.Lock()
_SECRETS: dict[str, bytes] = {}

MISSING, DAMAGED = "missing", "damaged"


class KeyHolder(Protocol):
    """What the head file needs of the journal's signer (journal.keys.Signer)."""

    fingerprint: str

    def derive_secret(self, label: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class LocalHead:
    store_id: int  # 0 with till_no 0: written with the keys, not bound to a chain yet
    till_no: int
    seq: int
    record_hash: str
    fingerprint: str
    anchored: bool = False  # a head anchored at HQ was written beside the keys

    @property
    def bound(self) -> bool:
        return (self.store_id, self.till_no) != (0, 0)

    def covers(self, store_id: int, till_no: int) -> bool:
        """True when this head is the one of chain (store_id, till_no)."""
        return not self.bound or (self.store_id, self.till_no) == (store_id, till_no)


def head_path(key_path: Path | str) -> Path:
    return Path(key_path).expanduser().parent / HEAD_FILE


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


def extends(db: Database, head: LocalHead, store_id: int, till_no: int) -> bool:
    """True when the cache's chain equals or extends ``head`` (it holds the record at
    ``head.seq`` with ``head.record_hash``)."""
    if head.seq == 0 or not head.covers(store_id, till_no):
        return True
    return record_hash_at(db, store_id, till_no, head.seq) == head.record_hash


# --------------------------------------------------------------------------- the file


def _secret(signer: KeyHolder) -> bytes:
    secret = _SECRETS.get(signer.fingerprint)
    if secret is None:
        secret = _SECRETS[signer.fingerprint] = signer.derive_secret(HEAD_LABEL)
    return secret


def mac_of(secret: bytes, body: dict[str, Any]) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def read_head(key_path: Path | str, signer: KeyHolder) -> tuple[LocalHead | None, str]:
    """(the head, '') or (None, MISSING / DAMAGED). A file whose MAC does not hold, or
    that another key wrote, is DAMAGED: it blocks, it never unblocks."""
    try:
        data = json.loads(head_path(key_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, MISSING
    except (OSError, ValueError):
        return None, DAMAGED
    try:
        mac = str(data.pop("mac"))
        head = LocalHead(int(data["store_id"]), int(data["till_no"]), int(data["seq"]),
                         str(data["record_hash"]), str(data["fingerprint"]),
                         bool(data["anchored"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, DAMAGED
    if (set(data) != set(asdict(head)) or head.fingerprint != signer.fingerprint
            or not hmac.compare_digest(mac, mac_of(_secret(signer), asdict(head)))):
        return None, DAMAGED
    return head, ""


def _write(key_path: Path | str, signer: KeyHolder, head: LocalHead) -> None:
    """Atomically: a temporary file, fsync, then rename over the old one."""
    path = head_path(key_path)
    body = asdict(head)
    body["mac"] = mac_of(_secret(signer), asdict(head))
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(body, sort_keys=True).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextmanager
def _locked(key_path: Path | str) -> Iterator[None]:
    """One writer at a time: threads of this process, and other processes."""
    with _LOCK:
        if fcntl is None:  # pragma: no cover
            yield
            return
        fd = os.open(head_path(key_path).parent / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def write_initial(key_path: Path | str, signer: KeyHolder) -> bool:
    """With a new key set: the head file at seq 0, unless one is there. True if written."""
    path = head_path(key_path)
    if not path.parent.exists():
        return False
    with _locked(key_path):
        if path.exists():
            return False
        _write(key_path, signer, LocalHead(0, 0, 0, "", signer.fingerprint))
    return True


def advance(db: Database, key_path: Path | str, signer: KeyHolder, store_id: int,
            till_no: int) -> LocalHead | None:
    """After a commit: move the head file forward to the cache's head — only when the
    cache extends it (a cache behind it, a missing or damaged file, another chain's
    file: left as they are, so the block stays). Returns the head written, or None."""
    if not head_path(key_path).parent.exists():
        return None
    with _locked(key_path):
        current, _problem = read_head(key_path, signer)
        if current is None or not current.covers(store_id, till_no):
            return None
        if not extends(db, current, store_id, till_no):
            return None
        seq = head_seq(db, store_id, till_no)
        if seq == 0 or (seq <= current.seq and current.bound):
            return None
        new = replace(current, store_id=store_id, till_no=till_no, seq=seq,
                      record_hash=record_hash_at(db, store_id, till_no, seq))
        _write(key_path, signer, new)
        return new


def mark_anchored(key_path: Path | str, signer: KeyHolder) -> None:
    """After ``head-anchor.json`` was written: from now on it must stay there."""
    with _locked(key_path):
        current, _problem = read_head(key_path, signer)
        if current is not None and not current.anchored:
            _write(key_path, signer, replace(current, anchored=True))


def reset_head(db: Database, key_path: Path | str, signer: KeyHolder, store_id: int,
               till_no: int, *, anchored: bool | None = None) -> LocalHead:
    """Write the cache's head as it is, whatever the file said (a manager's journaled
    recovery, or a sync that pulled the till's own tickets back from HQ).
    ``anchored``: None keeps what the file said (False when it was missing)."""
    with _locked(key_path):
        current, _problem = read_head(key_path, signer)
        if anchored is None:
            anchored = bool(current and current.anchored)
        seq = head_seq(db, store_id, till_no)
        new = LocalHead(store_id, till_no, seq, record_hash_at(db, store_id, till_no, seq),
                        signer.fingerprint, anchored)
        _write(key_path, signer, new)
        return new
