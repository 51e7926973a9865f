"""One sync round: connect, pull, push, record the run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.hq import receive as hq_receive
from pos_returns.hq import schema as hq_schema
from pos_returns.journal.chain import Journal
from pos_returns.sync import validate
from pos_returns.sync.anchor import anchor, reconcile
from pos_returns.sync.pins import chain_states, journal_hq_unlocks, journaled_locks
from pos_returns.sync.pull import pull
from pos_returns.sync.push import journal_head, push
from pos_returns.sync.reserve import (
    DEFAULT_DEADLINE,
    RELEASE_GRACE_SECONDS,
    HqLink,
    release_uncommitted,
)
from pos_returns.sync.state import (
    CONNECT_TIMEOUT,
    DEFAULT_BATCH,
    ProgressCallback,
    PullTable,
    SyncSummary,
    first_sync_done,
    now_iso,
    offline_reason,
)

if TYPE_CHECKING:  # pragma: no cover
    import psycopg


# -- one round ----------------------------------------------------------------------



def run_sync(
    db: Database,
    dsn: str,
    *,
    store_id: int,
    till_no: int,
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH,
    connect_timeout: float = CONNECT_TIMEOUT,
    tables: Sequence[PullTable] | None = None,
    journal: Any = None,
    deadline: float = DEFAULT_DEADLINE,
    pull_statement_timeout: float = 60.0,
    limits: validate.Limits | None = None,
    release_grace: float = RELEASE_GRACE_SECONDS,
    link: HqLink | None = None,
) -> SyncSummary:
    """Push then pull; HQ unreachable -> an offline summary (nothing raised).

    With ``journal`` (a :class:`pos_returns.journal.chain.Journal` of this till), a round
    that moved documents (sent some, found a conflict, or received other tills'
    returns) is recorded as a ``sync`` technical event, and the head HQ keeps
    includes that record. Quiet rounds (every minute) are not journaled.

    Every statement of the push (and the release of the reservations this till
    never committed, told first) is bounded by ``deadline`` seconds at HQ; the
    pull's batches by ``pull_statement_timeout`` (a first full sync counts millions
    of rows). HQ past its deadline ends the round offline, nothing lost.

    With ``link`` (a :class:`pos_returns.sync.reserve.HqLink`) the round runs on a
    kept connection and gives it back when it ended cleanly: a till syncing every
    minute does not start a new HQ server process (and warm its caches) each time.
    A kept connection HQ closed meanwhile is replaced once, the round starting over
    (every step is idempotent).
    """
    import psycopg

    started = time.perf_counter()
    summary = SyncSummary(full_sync=not first_sync_done(db))
    with atomic(db):
        run_id = db.execute(
            "INSERT INTO sync_runs (started_at, full_sync) VALUES (?, ?)",
            [now_iso(), int(summary.full_sync)],
        ).lastrowid
    try:
        try:
            if link is not None:
                conn, kept = link.take(dsn, deadline)
            else:
                conn, kept = hq_schema.connect(
                    dsn, timeout=min(connect_timeout, max(1.0, deadline)), autocommit=True,
                    statement_timeout=deadline), False
        except psycopg.OperationalError as exc:
            summary.error = offline_reason(exc)
            _finish_run(db, run_id, summary, started)
            return summary
        try:
            try:
                _round(conn, db, summary, store_id=store_id, till_no=till_no,
                       progress=progress, batch_size=batch_size, tables=tables,
                       journal=journal, limits=limits,
                       pull_statement_timeout=pull_statement_timeout,
                       release_grace=release_grace)
            except psycopg.OperationalError as exc:
                slow = isinstance(exc, psycopg.errors.QueryCanceled
                                  | psycopg.errors.LockNotAvailable)
                if link is None or not kept or slow or not conn.closed:
                    raise
                conn = hq_schema.connect(
                    dsn, timeout=min(connect_timeout, max(1.0, deadline)), autocommit=True,
                    statement_timeout=deadline)  # the kept one had died: once more
                _round(conn, db, summary, store_id=store_id, till_no=till_no,
                       progress=progress, batch_size=batch_size, tables=tables,
                       journal=journal, limits=limits,
                       pull_statement_timeout=pull_statement_timeout,
                       release_grace=release_grace)
        except BaseException:
            conn.close()  # never reuse a connection an error went through
            raise
        if link is not None:
            link.give(dsn, deadline, conn)
        else:
            conn.close()
    except (psycopg.OperationalError, psycopg.errors.QueryCanceled,
            psycopg.errors.LockNotAvailable) as exc:  # HQ went away or too slow
        summary.online = False
        summary.error = offline_reason(exc)
    except BaseException as exc:
        summary.error = offline_reason(exc) or "interrupted"
        _finish_run(db, run_id, summary, started)
        raise
    _finish_run(db, run_id, summary, started)
    return summary


def _round(conn: psycopg.Connection, db: Database, summary: SyncSummary, *, store_id: int,
           till_no: int, progress: ProgressCallback | None, batch_size: int,
           tables: Sequence[PullTable] | None, journal: Any, limits: validate.Limits | None,
           pull_statement_timeout: float, release_grace: float) -> None:
    summary.online = True
    summary.released = release_uncommitted(conn, db, store_id=store_id,
                                           till_no=till_no, grace_seconds=release_grace)
    key_path = getattr(journal, "key_path", None)
    reconciled = reconcile(conn, db, store_id=store_id, till_no=till_no,
                           key_path=key_path, journal=journal)
    summary.behind_hq = reconciled.behind
    summary.recovered_tickets = reconciled.recovered
    pushed = push(conn, db, store_id=store_id, till_no=till_no, progress=progress)
    summary.pushed, summary.ok = pushed.pushed, pushed.ok
    summary.conflicts, summary.errors = pushed.conflicts, pushed.errors
    summary.journal_head_ok = pushed.journal_head_ok
    seen = validate.last_id(db)
    locks = journaled_locks(db)
    before = chain_states(db, list(locks))
    summary.pulled = pull(
        conn, db, store_id=store_id, till_no=till_no, progress=progress,
        batch_size=batch_size, tables=tables, full_sync=summary.full_sync,
        limits=limits, statement_timeout=pull_statement_timeout,
    )
    journal_hq_unlocks(db, journal, locks, before)  # a manager's unlock at another till
    summary.quarantined = [
        (q.table, q.key, q.reason)
        for q in reversed(validate.quarantined(db, after_id=seen, limit=10_000))
    ]
    if journal is not None and (
        summary.pushed or summary.conflicts or summary.pulled.get("return_tickets")
    ):
        _journal_round(conn, db, journal, summary, store_id=store_id, till_no=till_no)
    if journal is not None:
        answer = anchor(conn, db, store_id=store_id, till_no=till_no,
                        fingerprint=journal.signer.fingerprint, key_path=key_path)
        summary.anchor_status = answer.status if answer else ""


def _journal_round(conn: psycopg.Connection, db: Database, journal: Any, summary: SyncSummary,
                   *, store_id: int, till_no: int) -> None:
    journal.event(
        "sync",
        {"pushed": summary.pushed, "ok": summary.ok, "conflicts": summary.conflicts,
         "pulled": summary.pulled_total,
         "returns_pulled": summary.pulled.get("return_tickets", 0),
         "full_sync": summary.full_sync},
    )
    head = journal_head(db, store_id, till_no)
    if head is not None:
        ok = hq_receive.raise_journal_head(conn, store_id=store_id, till_no=till_no, seq=head[0],
                                   signature=head[1])
        summary.journal_head_ok = ok and summary.journal_head_ok is not False


def till_journal(db: Database, cfg: Any) -> Any:
    """The till's journal for ``run_sync`` when its key file exists (else None:
    sync never creates the till's signing key)."""
    key_path = getattr(cfg, "key_path", None)
    if key_path is None or not key_path.exists():
        return None

    return Journal.for_config(db, cfg)


def _finish_run(db: Database, run_id: int | None, summary: SyncSummary, started: float) -> None:
    summary.seconds = time.perf_counter() - started
    with atomic(db):
        db.execute(
            "UPDATE sync_runs SET finished_at = ?, online = ?, pulled = ?, pushed = ?, "
            "conflicts = ?, error = ? WHERE id = ?",
            [now_iso(), int(summary.online), summary.pulled_total, summary.pushed,
             summary.conflicts, summary.error, run_id],
        )
