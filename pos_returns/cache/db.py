"""The local SQLite cache: connection, pragmas and schema migrations.

Sales synced from HQ are reference data and never edited locally. Returns are
new documents (``return_tickets`` + ``return_lines`` + ``refunds``) that point
back at the sale lines and tenders they return; how much of a line or a tender
is already returned is always *derived* from them, chain-wide.

Each module that owns tables registers its own ``Migrations`` set in
:func:`migration_sets`; :func:`migrate` applies them in order, each migration in
its own transaction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from pos_returns.cache.schema import migration_sets
from pos_returns.errors import NotFound
from pos_returns.i18n import _

log = logging.getLogger(__name__)
_AFTER_COMMIT = "_pos_returns_after_commit"


def connect(path: Path | str, *, create: bool = True, readonly: bool = False) -> Database:
    """Open the cache with the till's pragmas: WAL, foreign keys, a busy timeout.

    ``synchronous=FULL`` so that a committed return survives a power cut.
    """
    path = Path(path)
    if not create and not path.exists():
        raise NotFound(_("The local cache {path} does not exist.").format(path=path))
    if create and not readonly:
        _private_file(path)
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=30
        )
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.isolation_level = None  # autocommit: every transaction is explicit (atomic())
    db = Database(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
    conn.execute("PRAGMA mmap_size = 268435456")
    return db


def _private_file(path: Path) -> None:
    """The cache holds PIN hashes and the fiscal tables: its folder is created 0700 and
    the file 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
    database file's mode). A cache found readable by others is narrowed to 0600."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for suffix in ("", "-wal", "-shm"):
        f = Path(f"{path}{suffix}")
        if f.exists() and stat.S_IMODE(f.stat().st_mode) & 0o077:
            os.chmod(f, 0o600)


def migrate(db: Database) -> list[str]:
    """Apply every pending migration; return the names applied."""
    applied: list[str] = []
    for migrations in migration_sets():
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db)
        applied.extend(pending)
    return applied


def open_cache(path: Path | str) -> Database:
    """Open (creating if needed) and migrate the cache at ``path``."""
    db = connect(path)
    migrate(db)
    return db


@contextmanager
def atomic(db: Database) -> Iterator[Database]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on any error).

    IMMEDIATE takes the write lock up front, so two processes committing returns
    against the same cache serialise instead of failing halfway.
    """
    conn = db.conn
    if conn.in_transaction:  # nested: the outer transaction already holds the lock
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.__dict__.pop(_AFTER_COMMIT, None)
        # SQLite may already have rolled back by itself (a full disk, SQLITE_FULL):
        # a second ROLLBACK would hide the real error behind "no transaction".
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
        _run_after_commit(db)


def after_commit(db: Database, key: Hashable, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the transaction in progress on ``db`` is committed (by
    :func:`atomic`), after the COMMIT; never when it rolls back. One callback per
    ``key`` and transaction. A callback reads what it needs from the database then:
    what was committed, never what was only attempted (e.g. the journal's head
    written beside the keys, :mod:`pos_returns.journal.head`). A callback that fails
    makes :func:`atomic` raise after the COMMIT."""
    db.__dict__.setdefault(_AFTER_COMMIT, {})[key] = fn


def _run_after_commit(db: Database) -> None:
    """Every callback runs; the first failure is raised afterwards (the transaction is
    committed: a follower never undoes it, but its caller must know it failed)."""
    callbacks = db.__dict__.pop(_AFTER_COMMIT, None) or {}
    failure: Exception | None = None
    for fn in callbacks.values():
        try:
            fn()
        except Exception as exc:
            log.warning("after-commit step failed", exc_info=True)
            failure = failure or exc
    if failure is not None:
        raise failure


def get_meta(db: Database, key: str, default: str = "") -> str:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db: Database, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
