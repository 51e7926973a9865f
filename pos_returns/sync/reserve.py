"""The till's side of a reservation at HQ before any money moves (docs/sync.md).

The flow of one online return (``pos_returns.usecases.returns``):

1. database worker: the ticket's uuid is chosen and written to
   ``pending_reservations`` (state ``asking``) **before** HQ is asked;
2. I/O pool: :func:`reserve_at_hq` asks HQ (:func:`pos_returns.hq.receive.reserve`)
   within the till's deadline: ``reserved``, ``conflict`` or ``offline``;
3. database worker: the ticket is committed under that uuid (``committed``), or
   nothing is (``conflict``; ``abandoned`` when the commit itself failed);
4. the ticket is pushed at once; HQ's ``ok`` confirms the reservation.

A till that died between 1 and 3 has a pending row without a ticket: at its next
contact :func:`release_uncommitted` tells HQ to free it. A row with a ticket is
confirmed by the push, whatever HQ answered in time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.hq import receive as hq_receive
from pos_returns.hq import schema as hq_schema
from pos_returns.sync.state import now_iso, offline_reason

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_DEADLINE = 3.0  # seconds (config key hq_deadline_seconds)
RELEASE_GRACE_SECONDS = 120  # a pending row this old without a ticket is never committed


class DeadlinePassed(Exception):
    """HQ did not answer within the till's deadline."""


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """Run ``fn`` on a helper thread and wait at most ``seconds`` for it.

    The overall deadline of an HQ call, on top of the connection timeout and the
    statement timeout: a socket that accepts and never answers, a DNS stall, a
    server that holds a lock. Past it :class:`DeadlinePassed` is raised and the
    late call finishes on its own (its statement timeout ends it at HQ); its
    answer is dropped.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="hq-call", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise DeadlinePassed(f"HQ did not answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def hq_connect(dsn: str, deadline: float, *, autocommit: bool = True) -> psycopg.Connection:
    """A connection to HQ whose connection and statements are bounded by ``deadline``."""
    return hq_schema.connect(dsn, timeout=max(1.0, deadline), autocommit=autocommit,
                             statement_timeout=deadline)


class HqLink:
    """The till's few idle connections to HQ, kept between calls.

    Opening a PostgreSQL connection costs a server process and a few round trips
    (several milliseconds, more than a reservation itself), so a till keeps its
    connections: a call takes one (or opens one within the deadline) and gives it
    back only when it ended cleanly and idle. A call past its deadline gives its
    connection back only once it has finished (its statement timeout ends it), a
    broken one is closed. Thread-safe: the UI's I/O pool shares one link.
    """

    def __init__(self, *, keep: int = 2) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, float], list[Any]] = {}
        self.keep = keep

    def take(self, dsn: str, deadline: float) -> tuple[psycopg.Connection, bool]:
        """A connection, and whether it is a kept one (it may have died since)."""
        with self._lock:
            idle = self._idle.get((dsn, deadline))
            conn = idle.pop() if idle else None
        if conn is not None and not conn.closed:
            return conn, True
        return hq_connect(dsn, deadline), False

    def give(self, dsn: str, deadline: float, conn: psycopg.Connection) -> None:
        import psycopg

        healthy = (not conn.closed
                   and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)
        with self._lock:
            idle = self._idle.setdefault((dsn, deadline), [])
            if healthy and len(idle) < self.keep:
                idle.append(conn)
                return
        conn.close()

    def call(self, dsn: str, deadline: float, fn: Callable[[psycopg.Connection], T]) -> T:
        """``fn(conn)`` on a kept connection, bounded by ``deadline`` overall."""

        import psycopg

        def run() -> T:
            conn, kept = self.take(dsn, deadline)
            try:
                try:
                    result = fn(conn)
                except psycopg.OperationalError as exc:
                    slow = isinstance(exc, psycopg.errors.QueryCanceled
                                      | psycopg.errors.LockNotAvailable)
                    if not kept or slow:
                        raise
                    # a kept connection HQ closed meanwhile (restart, idle timeout):
                    # once more on a new one (every HQ call is idempotent by uuid)
                    conn.close()
                    conn = hq_connect(dsn, deadline)
                    result = fn(conn)
            except BaseException:
                conn.close()  # never reuse a connection an error went through
                raise
            self.give(dsn, deadline, conn)
            return result

        return call_with_deadline(run, deadline)

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()


#: The link of this process (a till is one process).
LINK = HqLink()


@dataclass(frozen=True)
class ReservationAnswer:
    """``reserved``: HQ holds the lines; ``conflict``: already returned or reserved
    elsewhere (``problems``, and ``earlier``: where and when); ``offline``: HQ did
    not answer in time, the till goes on from its cache and marks the return so."""

    status: str
    uuid: str = ""
    problems: tuple[dict[str, Any], ...] = ()
    earlier: tuple[dict[str, Any], ...] = ()
    error: str = ""
    found: str = "online"

    @property
    def offline(self) -> bool:
        return self.status == "offline"

    @property
    def ok(self) -> bool:
        return self.status == "reserved"

    def as_json(self) -> str:
        return json.dumps({"result": self.status, "found": self.found,
                           "problems": list(self.problems), "earlier": list(self.earlier),
                           "error": self.error}, sort_keys=True)


def reserve_at_hq(
    dsn: str, ticket_uuid: str, store_id: int, till_no: int,
    lines: Sequence[Sequence[Any]], tenders: Sequence[Sequence[Any]] = (),
    *, deadline: float = DEFAULT_DEADLINE,
) -> ReservationAnswer:
    """Ask HQ to hold the draft return; never raises for HQ being slow or away."""
    import psycopg

    def ask(conn: psycopg.Connection) -> hq_receive.Reservation:
        return hq_receive.reserve(conn, ticket_uuid, store_id, till_no, lines, tenders)

    try:
        got = LINK.call(dsn, deadline, ask)
    except DeadlinePassed as exc:
        return ReservationAnswer("offline", ticket_uuid, error=str(exc))
    except psycopg.OperationalError as exc:  # unreachable, statement/lock timeout, gone
        return ReservationAnswer("offline", ticket_uuid, error=offline_reason(exc))
    except psycopg.Error as exc:  # HQ refused the statement: a bug or a schema mismatch
        log.warning("reservation %s refused by HQ: %s", ticket_uuid, exc)
        return ReservationAnswer("offline", ticket_uuid, error=offline_reason(exc))
    except OSError as exc:
        return ReservationAnswer("offline", ticket_uuid, error=offline_reason(exc))
    return ReservationAnswer(got.result, ticket_uuid, problems=got.problems,
                             earlier=got.earlier)


# -- the till's pending reservations ------------------------------------------------


def record_pending(db: Database, ticket_uuid: str, *, sale_id: int | None,
                   lines: Sequence[Sequence[Any]], tenders: Sequence[Sequence[Any]]) -> None:
    """Written before HQ is asked (its own transaction, so it survives a crash)."""
    now = now_iso()
    with atomic(db):
        db.execute(
            "INSERT INTO pending_reservations (uuid, sale_id, lines, tenders, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(uuid) DO NOTHING",
            [ticket_uuid, sale_id, json.dumps([list(x) for x in lines]),
             json.dumps([list(x) for x in tenders]), now, now],
        )


def set_pending(db: Database, ticket_uuid: str, state: str, answer: str | None = None) -> None:
    """Move a pending reservation to ``state`` (call inside or outside a transaction)."""
    if answer is None:
        db.execute("UPDATE pending_reservations SET state = ?, updated_at = ? WHERE uuid = ?",
                   [state, now_iso(), ticket_uuid])
    else:
        db.execute(
            "UPDATE pending_reservations SET state = ?, answer = ?, updated_at = ? "
            "WHERE uuid = ?", [state, answer, now_iso(), ticket_uuid])


def _older_than(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def uncommitted(db: Database, *, grace_seconds: float = RELEASE_GRACE_SECONDS) -> list[str]:
    """Pending reservations that will never be committed: no ticket under their
    uuid, and either abandoned or older than the grace (the process that asked
    died: a live one commits within seconds)."""
    rows = db.execute(
        "SELECT p.uuid FROM pending_reservations p "
        "WHERE p.state IN ('asking', 'reserved', 'offline', 'abandoned') "
        "AND NOT EXISTS (SELECT 1 FROM return_tickets t WHERE t.uuid = p.uuid) "
        "AND (p.state = 'abandoned' OR p.created_at <= ?) ORDER BY p.created_at",
        [_older_than(grace_seconds)],
    ).fetchall()
    return [str(r[0]) for r in rows]


def release_uncommitted(conn: psycopg.Connection, db: Database, *, store_id: int,
                        till_no: int, grace_seconds: float = RELEASE_GRACE_SECONDS) -> int:
    """Tell HQ which reservations this till never committed; HQ frees them."""
    uuids = uncommitted(db, grace_seconds=grace_seconds)
    if not uuids:
        return 0
    freed = hq_receive.release(conn, store_id, till_no, uuids)
    with atomic(db):
        for uuid in uuids:  # freed now, or never held (HQ did not answer in time)
            set_pending(db, uuid, "released")
    return len(freed)


def mark_pushed(db: Database, ticket_uuid: str, result: str) -> None:
    """The ticket reached HQ: its reservation is confirmed (or refused at push)."""
    db.execute(
        "UPDATE pending_reservations SET state = ?, updated_at = ? WHERE uuid = ? "
        "AND state NOT IN ('confirmed', 'released')",
        ["confirmed" if result == "ok" else "conflict", now_iso(), ticket_uuid],
    )


@dataclass(frozen=True)
class StaleReservation:
    uuid: str
    state: str
    created_at: str
    sale_id: int | None
    lines: tuple[tuple[int, int, int], ...]
    ticket_number: int | None  # the local ticket, when committed


def stale_reservations(db: Database, *, older_than_minutes: int) -> list[StaleReservation]:
    """Reservations not confirmed by HQ after ``older_than_minutes`` (the manager's
    review): committed but not pushed yet, or asked and never settled."""
    rows = db.execute(
        "SELECT p.uuid, p.state, p.created_at, p.sale_id, p.lines, t.number "
        "FROM pending_reservations p LEFT JOIN return_tickets t ON t.uuid = p.uuid "
        "WHERE p.state IN ('asking', 'reserved', 'offline', 'committed', 'abandoned') "
        "AND p.created_at < ? ORDER BY p.created_at",
        [_older_than(older_than_minutes * 60)],
    ).fetchall()
    return [
        StaleReservation(str(u), str(s), str(c), sid,
                         tuple(tuple(int(v) for v in x) for x in json.loads(lines)),  # type: ignore[misc]
                         num)
        for u, s, c, sid, lines, num in rows
    ]
