"""Every failure the till can meet, as one French sentence.

The core raises :class:`~pos_returns.errors.AlamaraError` on purpose, already in
French. Everything else comes from below the core: SQLite (a corrupt, truncated,
read-only or full cache), the file system (a full disk, a folder given for a
file, a read-only medium), a binary file read as text, the PostgreSQL driver.
:func:`as_alamara` turns those into a :class:`~pos_returns.errors.StorageError`
(or :class:`~pos_returns.errors.ConfigError`) whose message says, in French,
what happened and what to do; the library's own English text never reaches the
person at the till. The command line (``pos_returns.cli``) and the UI's workers
(``ui/ops.py``) call it in one place each.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from pos_returns.errors import AlamaraError, ConfigError, StorageError
from pos_returns.i18n import _

P = ParamSpec("P")
R = TypeVar("R")

def _where(path: Path | str | None) -> str:
    return str(path) if path else _("a file of the till")


def diagnose_cache(path: Path | str | None) -> str | None:
    """What is wrong with the file at ``path`` as a cache, read from the file
    system only (no SQLite): a folder, missing, on a read-only medium, or not a
    SQLite file. ``None`` when nothing is visibly wrong."""
    if not path:
        return None
    p = Path(path)
    try:
        if p.is_dir():
            return _("The local cache {path} is a folder, not a cache file. Give the path "
                     "of the cache file (--db).").format(path=p)
        if not p.exists():
            return None
        if p.stat().st_size and p.stat().st_size < 512:
            return _not_sqlite(p)
        with p.open("rb") as fh:
            head = fh.read(16)
        if head and head != b"SQLite format 3\x00":
            return _not_sqlite(p)
        if not os.access(p, os.W_OK) or not os.access(p.parent, os.W_OK):
            return _read_only(p)
    except OSError:
        return None
    return None


def disk_nearly_full(path: Path | str | None, *, margin: int = 256 * 1024) -> bool:
    """True when the file system holding ``path`` has less than ``margin`` bytes free."""
    if not path:
        return False
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < margin


def _not_sqlite(path: Path | str) -> str:
    return _("The local cache {path} is not a cache of the till (not a SQLite database, "
             "or damaged beyond reading). Restore it from a backup, or build it again "
             "(pos-returns sync, or pos-returns demo --force for a demo till)."
             ).format(path=path)


def _read_only(path: Path | str | None) -> str:
    return _("The local cache {path} cannot be written (read-only file or medium). "
             "Nothing was saved. Check the folder's rights and the disk, then try again."
             ).format(path=_where(path))


def _disk_full(path: Path | str | None) -> str:
    return _("The disk is full: {path} could not be written. Nothing was saved "
             "half-way; free some space, then try again.").format(path=_where(path))


def sqlite_message(exc: sqlite3.Error, cache: Path | str | None = None) -> str:
    """French text for a SQLite error on the cache at ``cache``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return _disk_full(cache)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return _read_only(cache)
    diagnosis = diagnose_cache(cache)
    if name == "SQLITE_NOTADB" or "file is not a database" in text:
        return diagnosis or _not_sqlite(_where(cache))
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return _("The local cache {path} is damaged (corrupt or truncated file). Restore it "
                 "from a backup, or build it again (pos-returns sync, or pos-returns demo "
                 "--force for a demo till).").format(path=_where(cache))
    if diagnosis:
        return diagnosis
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return _("The local cache {path} cannot be opened (missing folder, rights, or "
                 "disk).").format(path=_where(cache))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return _("The local cache {path} is busy (another program is writing to it). "
                 "Try again in a moment.").format(path=_where(cache))
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        if disk_nearly_full(cache):  # a full disk often shows as an I/O error (WAL, shm)
            return _disk_full(cache)
        return _("The disk could not read or write the local cache {path} (input/output "
                 "error). Nothing was saved; check the disk.").format(path=_where(cache))
    return _("The local cache {path} refused the operation (SQLite error {code}). Nothing "
             "was saved.").format(path=_where(cache), code=name or type(exc).__name__)


_OS_MESSAGES = {
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.EROFS: "readonly",
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.ENOENT: "missing",
    errno.EISDIR: "isdir",
    errno.ENOTDIR: "notdir",
    errno.EEXIST: "exists",
    errno.ENAMETOOLONG: "toolong",
}


def os_message(exc: OSError, cache: Path | str | None = None) -> str:
    """French text for a file-system (or network) error."""
    path = exc.filename or cache
    kind = _OS_MESSAGES.get(exc.errno or 0, "")
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return _("No answer in time (network or device). Nothing was done; try again.")
    if isinstance(exc, ConnectionError) or exc.errno in (
        errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH,
    ):
        return _("The connection failed (the other side is unreachable or refused). "
                 "Nothing was done; try again.")
    if kind == "full":
        return _disk_full(path)
    if kind == "readonly":
        return _("{path} is on a read-only medium: it cannot be written.").format(
            path=_where(path))
    if kind == "denied":
        return _("Access to {path} is denied (the till's account lacks the rights).").format(
            path=_where(path))
    if kind == "missing":
        return _("{path} does not exist (or its folder does not).").format(path=_where(path))
    if kind == "isdir":
        return _("{path} is a folder where a file was expected.").format(path=_where(path))
    if kind == "notdir":
        return _("A part of the path {path} is a file, not a folder.").format(
            path=_where(path))
    if kind == "exists":
        return _("{path} already exists.").format(path=_where(path))
    if kind == "toolong":
        return _("The path {path} is too long.").format(path=_where(path))
    code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return _("The system could not read or write {path} (error {code}).").format(
        path=_where(path), code=code)


_TOML_POSITION = re.compile(r"at line (\d+), column (\d+)")


def toml_message(exc: Exception, path: Path | str | None = None) -> str:
    found = _TOML_POSITION.search(str(exc))
    if found:
        return _("The configuration file {path} is not valid TOML (line {line}, column "
                 "{column}).").format(path=_where(path), line=found[1], column=found[2])
    return _("The configuration file {path} is not valid TOML.").format(path=_where(path))


def _is_psycopg(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] == "psycopg" for cls in type(exc).__mro__)


def psycopg_message(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc)
    if "ProgrammingError" in names and ("connection info" in text or "conninfo" in text
                                        or "invalid dsn" in text.lower()):
        return _("The HQ connection string (DSN) is not valid: expected something like "
                 "“host=… port=5432 dbname=… user=…” or “postgresql://…”.")
    if "OperationalError" in names:
        return _("HQ cannot be reached (PostgreSQL did not answer or refused the "
                 "connection). The till keeps working offline.")
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return _("HQ refused the operation (PostgreSQL error {code}). Nothing was changed "
             "at HQ.").format(code=sqlstate or type(exc).__name__)


def known_message(exc: BaseException, *, cache: Path | str | None = None,
                  config: Path | str | None = None) -> str | None:
    """The French sentence for ``exc``, or ``None`` for an unexpected error."""
    if isinstance(exc, AlamaraError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return sqlite_message(exc, cache)
    if isinstance(exc, UnicodeDecodeError):
        if config:
            return _("The configuration file {path} is not UTF-8 text (a binary or damaged "
                     "file?).").format(path=config)
        return _("A file read by the till is not UTF-8 text (a binary or damaged file?).")
    if type(exc).__name__ == "TOMLDecodeError":
        return toml_message(exc, config)
    if _is_psycopg(exc):
        return psycopg_message(exc)
    if isinstance(exc, OSError):
        return os_message(exc, cache)
    if isinstance(exc, MemoryError):
        return _("The till ran out of memory. Nothing was saved; close other programs "
                 "and try again.")
    return None


def as_alamara(exc: BaseException, *, cache: Path | str | None = None,
               config: Path | str | None = None) -> AlamaraError | None:
    """``exc`` as a French :class:`AlamaraError` (itself when it is one), or ``None``
    when it is unexpected (a bug: log it, show the generic message)."""
    if isinstance(exc, AlamaraError):
        return exc
    message = known_message(exc, cache=cache, config=config)
    if message is None:
        return None
    if isinstance(exc, UnicodeDecodeError) or type(exc).__name__ == "TOMLDecodeError":
        error: AlamaraError = ConfigError(message, code="config")
    else:
        error = StorageError(message, code=_code(exc))
    error.__cause__ = exc
    return error


def _code(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorname", "") or "sqlite").lower()
    if _is_psycopg(exc):
        return "hq"
    if isinstance(exc, OSError):
        return errno.errorcode.get(exc.errno or 0, "os").lower()
    return "storage"


def unexpected_message(log_path: Path | str | None = None) -> str:
    """The generic French sentence for a bug (never a traceback on screen)."""
    if log_path:
        return _("Unexpected error (technical fault). Nothing was saved half-way. The "
                 "details are in the log {path}; send it to support "
                 "(pos-returns support-bundle).").format(path=log_path)
    return _("Unexpected error (technical fault). Nothing was saved half-way; call "
             "support if it happens again.")


def french_failures(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a use case whose first argument is the cache (a sqlite-utils
    ``Database``): SQLite and file-system errors leave it as a French
    :class:`~pos_returns.errors.StorageError`. The transaction was rolled back
    by ``cache.db.atomic`` before, so nothing is half-written."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            cache = _cache_path(args[0]) if args else None
            error = as_alamara(exc, cache=cache)
            if error is None:
                raise
            raise error from exc

    return wrapper


def _cache_path(db: object) -> str | None:
    conn = getattr(db, "conn", None)
    try:
        row = conn.execute("PRAGMA database_list").fetchone() if conn is not None else None
    except sqlite3.Error:
        return None
    return str(row[2]) if row and row[2] else None
