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
(``cache.db.after_commit``; ``synchronous=FULL``: the commit is durable), and made
durable itself (``fdatasync``), so it may lag behind the cache by one commit after a
crash — the cache then extends it, no alarm, and the next commit brings it up to
date — but it is never ahead of a durable commit. It only moves forward: a cache
that does not extend it never overwrites it (the block stays until a restore of the
latest cache, or a manager's journaled recovery, :func:`reset_head`). A write that
fails is not silent: the commit is done, but the use case that made it fails
(:class:`HeadUnwritable`), and before the next return a head left behind is brought
forward, or returns are blocked (``anchor.integrity_block``).

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from pos_returns.errors import IntegrityFailure
from pos_returns.failures import os_message
from pos_returns.i18n import _
from pos_returns.journal.records import _ROW_COLUMNS, _row_bytes, record_hash

try:  # POSIX: one writer at a time across processes
    import fcntl
except ImportError:  # pragma: no cover - the till runs on Linux
    fcntl = None  # type: ignore[assignment]

HEAD_FILE = "journal-head.json"
HEAD_LABEL = "alamara-retours journal head v1"
SLOT = 512  # bytes: the file is two slots (see "the file" below)
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
    version: int = 0  # the write counter: the slot written last wins

    @property
    def bound(self) -> bool:
        return (self.store_id, self.till_no) != (0, 0)

    def as_dict(self) -> dict[str, Any]:  # dataclasses.asdict is ten times slower
        return {"store_id": self.store_id, "till_no": self.till_no, "seq": self.seq,
                "record_hash": self.record_hash, "fingerprint": self.fingerprint,
                "anchored": self.anchored, "version": self.version}

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
#
# Two fixed slots of SLOT bytes holding the same head, each written in place
# (pwrite, then fdatasync) one after the other. No rename and no change of size:
# no metadata to journal on the commit's path (bench/commit.py). Each slot is JSON
# with its MAC and a write counter; the valid slot with the highest counter is the
# head. A crash while the first slot is written leaves the second (one commit older:
# the cache extends it, no alarm); while the second is written, the first is already
# whole. Once a write is done both slots hold the newest head, so spoiling one slot
# never brings back an older head.


class HeadUnwritable(IntegrityFailure):
    """The head could not be written beside the keys (code ``head_unwritable``)."""


def _secret(signer: KeyHolder) -> bytes:
    secret = _SECRETS.get(signer.fingerprint)
    if secret is None:
        secret = _SECRETS[signer.fingerprint] = signer.derive_secret(HEAD_LABEL)
    return secret


def mac_of(secret: bytes, body: dict[str, Any]) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def _encode(signer: KeyHolder, head: LocalHead) -> bytes:
    body = head.as_dict()
    body["mac"] = mac_of(_secret(signer), head.as_dict())
    return json.dumps(body, sort_keys=True).encode("utf-8").ljust(SLOT - 1) + b"\n"


def _decode(signer: KeyHolder, raw: bytes) -> LocalHead | None:
    try:
        data = json.loads(raw.decode("utf-8"))
        mac = str(data.pop("mac"))
        head = LocalHead(int(data["store_id"]), int(data["till_no"]), int(data["seq"]),
                         str(data["record_hash"]), str(data["fingerprint"]),
                         bool(data["anchored"]), int(data["version"]))
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError):
        return None
    body = head.as_dict()
    if (data.keys() != body.keys() or head.fingerprint != signer.fingerprint
            or not hmac.compare_digest(mac, mac_of(_secret(signer), body))):
        return None
    return head


def _best(signer: KeyHolder, raw: bytes) -> LocalHead | None:
    """The valid slot written last (None when no slot holds)."""
    found = [head for i in (0, 1)
             if (head := _decode(signer, raw[i * SLOT:(i + 1) * SLOT])) is not None]
    return max(found, key=lambda h: h.version) if found else None


def read_head(key_path: Path | str, signer: KeyHolder) -> tuple[LocalHead | None, str]:
    """(the head, '') or (None, MISSING / DAMAGED). A file with no slot whose MAC holds
    under this till's key is DAMAGED: it blocks, it never unblocks."""
    try:
        raw = head_path(key_path).read_bytes()
    except FileNotFoundError:
        return None, MISSING
    except OSError:
        return None, DAMAGED
    head = _best(signer, raw)
    return (head, "") if head is not None else (None, DAMAGED)


@contextmanager
def _open_locked(key_path: Path | str) -> Iterator[int]:
    """The head file, open and locked: one writer at a time (threads and processes).
    FileNotFoundError when it is not there."""
    with _LOCK:
        fd = os.open(head_path(key_path), os.O_RDWR)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # releases the lock


def _store(fd: int, signer: KeyHolder, head: LocalHead) -> None:
    """``head`` into both slots, one after the other, each made durable."""
    data = _encode(signer, head)
    for slot in (0, 1):
        os.pwrite(fd, data, slot * SLOT)
        os.fdatasync(fd)


def _create(key_path: Path | str, signer: KeyHolder, head: LocalHead, *,
            overwrite: bool) -> bool:
    """A new head file: fsync'd, then put in place — ``os.replace`` when ``overwrite``,
    else ``os.link`` (never over a file that is there)."""
    path = head_path(key_path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, _encode(signer, head) * 2)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _unwritable(key_path: Path | str, exc: OSError) -> HeadUnwritable:
    return HeadUnwritable(_(
        "The till could not write its journal head beside its keys: {reason} Returns are "
        "blocked until it can: check the keys folder (free space, permissions), then try "
        "again."
    ).format(reason=os_message(exc, head_path(key_path))), code="head_unwritable")


def write_initial(key_path: Path | str, signer: KeyHolder) -> bool:
    """With a new key set: the head file at seq 0, unless one is there. True if written."""
    if not head_path(key_path).parent.exists():
        return False
    with _LOCK:
        return _create(key_path, signer, LocalHead(0, 0, 0, "", signer.fingerprint),
                       overwrite=False)


def advance(db: Database, key_path: Path | str, signer: KeyHolder, store_id: int,
            till_no: int) -> LocalHead | None:
    """After a commit: move the head file forward to the cache's head — only when the
    cache extends it (a cache behind it, a missing or damaged file, another chain's
    file: left as they are, so the block stays). Returns the head written, or None.
    Raises :class:`HeadUnwritable` when the file cannot be written: the commit is done,
    and the till must not go on as if the head were kept."""
    try:
        with _open_locked(key_path) as fd:
            current = _best(signer, os.pread(fd, 2 * SLOT, 0))
            if current is None or not current.covers(store_id, till_no):
                return None
            if not extends(db, current, store_id, till_no):
                return None
            seq = head_seq(db, store_id, till_no)
            if seq == 0 or (seq <= current.seq and current.bound):
                return None
            new = replace(current, store_id=store_id, till_no=till_no, seq=seq,
                          record_hash=record_hash_at(db, store_id, till_no, seq),
                          version=current.version + 1)
            _store(fd, signer, new)
            return new
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unwritable(key_path, exc) from exc


def mark_anchored(key_path: Path | str, signer: KeyHolder) -> None:
    """After ``head-anchor.json`` was written: from now on it must stay there."""
    try:
        with _open_locked(key_path) as fd:
            current = _best(signer, os.pread(fd, 2 * SLOT, 0))
            if current is not None and not current.anchored:
                _store(fd, signer, replace(current, anchored=True,
                                           version=current.version + 1))
    except FileNotFoundError:
        return


def reset_head(db: Database, key_path: Path | str, signer: KeyHolder, store_id: int,
               till_no: int, *, anchored: bool | None = None) -> LocalHead:
    """Write the cache's head as it is, whatever the file said (a manager's journaled
    recovery, or a sync that pulled the till's own tickets back from HQ); a missing or
    damaged file is made again. ``anchored``: None keeps what the file said (False
    when it was missing)."""
    seq = head_seq(db, store_id, till_no)
    with _LOCK:
        current, _problem = read_head(key_path, signer)
        new = LocalHead(store_id, till_no, seq, record_hash_at(db, store_id, till_no, seq),
                        signer.fingerprint,
                        bool(current and current.anchored) if anchored is None else anchored,
                        (current.version + 1) if current else 1)
        _create(key_path, signer, new, overwrite=True)
    return new
