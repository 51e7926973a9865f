"""Pull: HQ's rows since the local cursors, below a snapshot fence, in batches."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.sync import validate
from pos_returns.sync.state import (
    DEFAULT_BATCH,
    DEFER_INDEXES_FROM,
    PULL_TABLES,
    Progress,
    ProgressCallback,
    PullTable,
    _local_columns,
    _local_exists,
    _save_cursor,
    get_cursor,
)

if TYPE_CHECKING:  # pragma: no cover
    import psycopg


# -- pull ---------------------------------------------------------------------------


@dataclass
class _Plan:
    spec: PullTable
    cols: list[str]  # copied into the local table
    select: list[str]  # txid, key..., cols... [, the rule a row breaks (validate.py)]
    types: list[str]
    local_extra: dict[str, Any]  # constant local columns (origin='hq')
    checked: bool = False  # the last column names the rule a bad row breaks (else NULL)
    limits: validate.Limits = field(default_factory=validate.Limits)
    open_keys: set[str] = field(default_factory=set)  # keys waiting in quarantine


def _pg_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _plan(conn: psycopg.Connection, db: Database, spec: PullTable,
          limits: validate.Limits | None = None) -> _Plan | None:
    if not _local_exists(db, spec.name):
        if spec.optional:
            return None
        raise RuntimeError(f"local table {spec.name} missing")
    if spec.optional and conn.execute("SELECT to_regclass(%s) IS NULL",
                                      [spec.name]).fetchone() == (True,):
        return None  # an HQ of an older schema
    pg = _pg_types(conn, spec.name)
    local = _local_columns(db, spec.name)
    skip = {"txid", *spec.exclude}
    if spec.mode == "returns":
        skip |= {"id"}
    cols = [c for c in pg if c in local and c not in skip]
    extra: dict[str, Any] = {}
    if spec.mode != "upsert" and "origin" in local:
        extra["origin"] = "hq"
        cols = [c for c in cols if c != "origin"]
    select = ["txid", *spec.key, *cols]
    types = [pg[c] for c in select]
    limits = limits or validate.Limits()
    reason = validate.reason_sql(spec.name, pg, limits)
    if reason is not None:
        select.append(f"{reason} AS _bad")
        types.append("text")
    return _Plan(spec, cols, select, types, extra, checked=reason is not None, limits=limits,
                 open_keys=validate.open_keys(db, spec.name))


def _where(plan: _Plan, cursor: tuple[int, list[Any] | None], fence: int,
           own: tuple[int, int]) -> tuple[str, list[Any]]:
    spec = plan.spec
    txid, key = cursor
    conds = ["txid < %s"]
    params: list[Any] = [fence]
    if key is not None:
        cols = ", ".join(("txid", *spec.key))
        conds.append(f"({cols}) > ({', '.join(['%s'] * (1 + len(spec.key)))})")
        params.extend([txid, *key])
    return " AND ".join(conds), params


def _own_filter(plan: _Plan, own: tuple[int, int]) -> tuple[str, list[Any]]:
    if not plan.spec.skip_own_till:
        return "", []
    return " AND NOT (store_id = %s AND till_no = %s)", [own[0], own[1]]


def _count(conn: psycopg.Connection, plan: _Plan, cursor: tuple[int, list[Any] | None],
           fence: int, own: tuple[int, int]) -> int:
    where, params = _where(plan, cursor, fence, own)
    row = conn.execute(f"SELECT count(*) FROM {plan.spec.name} WHERE {where}", params).fetchone()
    return int(row[0]) if row else 0


def _fetch_batch(conn: psycopg.Connection, plan: _Plan, cursor: tuple[int, list[Any] | None],
                 fence: int, own: tuple[int, int], limit: int) -> list[tuple]:
    """The next batch in ``(txid, key)`` order: ``txid, key..., cols...`` per row.

    A binary cursor and ``fetchall``: psycopg turns the whole result into tuples
    in C, about twice as fast here as iterating ``COPY ... TO STDOUT`` row by
    row (docs/sync.md, "Speed").
    """
    where, params = _where(plan, cursor, fence, own)
    order = ", ".join(("txid", *plan.spec.key))
    query = (
        f"SELECT {', '.join(plan.select)} FROM {plan.spec.name} WHERE {where} "
        f"ORDER BY {order} LIMIT {int(limit)}"
    )
    with conn.cursor(binary=True) as cur:
        return cur.execute(query, params).fetchall()


def _batches(conn: psycopg.Connection, plan: _Plan, cursor: tuple[int, list[Any] | None],
             fence: int, own: tuple[int, int], limit: int) -> Iterator[list[tuple]]:
    nk = len(plan.spec.key)
    while True:
        rows = _fetch_batch(conn, plan, cursor, fence, own, limit)
        if not rows:
            return
        yield rows
        if len(rows) < limit:
            return
        cursor = (int(rows[-1][0]), list(rows[-1][1 : 1 + nk]))


_DONE = object()


def _prefetched(batches: Iterator[list[tuple]], *, depth: int = 2) -> Iterator[list[tuple]]:
    """Fetch the next batches from HQ in a thread while SQLite writes this one.

    psycopg waits on the network and SQLite steps its B-trees without the GIL,
    so the two overlap. The thread stops when the consumer stops (also on error)
    and is joined before this generator returns.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:
            q.put(exc)

    worker = threading.Thread(target=produce, name="hq-pull-fetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


def _upsert_sql(plan: _Plan, table: str, *, plain: bool = False, whole_row: bool = False) -> str:
    """The INSERT for a batch. With ``whole_row`` the fetched rows are bound as they
    are (``txid, key..., cols...``): numbered parameters ``?N`` skip the leading
    txid and key, so no tuple is rebuilt per row."""
    cols = [*plan.cols, *plan.local_extra]
    if whole_row:
        first = 2 + len(plan.spec.key)
        placeholders = ", ".join(f"?{first + i}" for i in range(len(cols)))
    else:
        placeholders = ", ".join(["?"] * len(cols))
    source = f"VALUES ({placeholders})"
    conflict = ", ".join(plan.spec.conflict_cols)
    if plain:  # the table was empty when this pull began: no row can exist yet
        return f"INSERT INTO {table} ({', '.join(cols)}) {source}"
    if plan.spec.mode == "upsert":
        sets = ", ".join(f"{c} = excluded.{c}" for c in plan.cols if c not in plan.spec.key)
        tail = f"ON CONFLICT({conflict}) DO UPDATE SET {sets}" if sets else "ON CONFLICT DO NOTHING"
    else:
        tail = f"ON CONFLICT({conflict}) DO NOTHING"
    return f"INSERT INTO {table} ({', '.join(cols)}) {source} {tail}"


def _detail(plan: _Plan, row: Sequence[Any]) -> dict[str, Any]:
    names = [n if " AS " not in n else n.rsplit(" AS ", 1)[1] for n in plan.select]
    return dict(zip(names, row, strict=False))


def _key_text(plan: _Plan, row: Sequence[Any]) -> str:
    return json.dumps(list(row[1 : 1 + len(plan.spec.key)]), default=str)


def _write_rows(db: Database, plan: _Plan, rows: list[tuple], own: tuple[int, int],
                *, plain: bool = False) -> int:
    """Write a batch: rows breaking a rule go to quarantine; a batch SQLite still
    refuses (a foreign key, a UNIQUE clash) is written again row by row, each
    refused row quarantined with SQLite's reason. Never raises for a bad row."""
    nk = 1 + len(plan.spec.key)
    good: list[tuple] = rows
    if plan.checked:  # the last column names the rule a bad row breaks (NULL: good)
        good = [r[:-1] for r in rows if r[-1] is None]  # in C: cheap for 20 000 rows
        if len(good) != len(rows):
            for r in rows:
                if r[-1] is not None:
                    validate.quarantine(db, plan.spec.name, r[1:nk], str(r[-1]),
                                        _detail(plan, r))
    whole = not plan.local_extra and not plan.spec.skip_own_till
    if whole:
        sql = _upsert_sql(plan, plan.spec.name, plain=plain, whole_row=True)
        items = good
        data = good
    else:
        sql = _upsert_sql(plan, plan.spec.name, plain=plain)
        extra = tuple(plan.local_extra.values())
        items = good
        if plan.spec.skip_own_till:
            si, ti = plan.cols.index("store_id"), plan.cols.index("till_no")
            items = [r for r in good if (r[nk + si], r[nk + ti]) != own]
        data = [r[nk:] + extra for r in items]
    db.execute("SAVEPOINT pull_batch")
    try:
        n = max(db.conn.executemany(sql, data).rowcount, 0)
    except sqlite3.Error:
        # a foreign key, a UNIQUE clash, a NOT NULL: row by row, each refusal quarantined
        db.execute("ROLLBACK TO pull_batch")
        n = 0
        for r, values in zip(items, data, strict=True):
            try:
                db.conn.execute(sql, values)
                n += 1
            except sqlite3.Error as exc:
                validate.quarantine(db, plan.spec.name, r[1:nk],
                                    f"{plan.spec.name}:sqlite:{exc}", _detail(plan, r))
    db.execute("RELEASE pull_batch")
    if plan.open_keys:  # a row waiting in quarantine came back corrected
        fixed = [k for r in good if (k := _key_text(plan, r)) in plan.open_keys]
        if fixed:
            validate.resolve(db, plan.spec.name, fixed)
            plan.open_keys.difference_update(fixed)
    return n


_CHILDREN = (
    # (table, foreign key to the ticket, local conflict handling)
    ("return_lines", "ticket_id", ""),
    ("refunds", "ticket_id", ""),
    ("approvals", "ticket_id", ""),
    ("gift_cards", "issued_ticket_id", "WHERE NOT EXISTS (SELECT 1 FROM gift_cards g "
     "WHERE g.number = ?)"),
)


def _write_returns(conn: psycopg.Connection, db: Database, plan: _Plan, rows: list[tuple],
                   own: tuple[int, int]) -> int:
    """Other tills' tickets, INSERT-only, with their lines, refunds, approvals, gift
    cards. A ticket with a bad row anywhere (a refund of −100 000 €, a direction
    ``mars``, a foreign key the cache cannot honour) is quarantined whole; the
    others are written."""
    si, ti = plan.cols.index("store_id"), plan.cols.index("till_no")
    ncols = len(plan.cols)
    tickets = []
    for r in rows:
        values = r[2 : 2 + ncols]
        if (values[si], values[ti]) == own:
            continue
        if plan.checked and r[-1] is not None:
            validate.quarantine(db, "return_tickets", r[1:2], str(r[-1]), _detail(plan, r))
            continue
        tickets.append((int(r[1]), values, r))
    if not tickets:
        return 0
    cols = [*plan.cols, *plan.local_extra]
    # A ticket already here is skipped by the WHERE, not by ON CONFLICT: the fiscal tables
    # refuse any INSERT of an existing key (cache/schema/journal.py, m002), even DO NOTHING.
    sql = (
        f"INSERT INTO return_tickets ({', '.join(cols)}) SELECT {', '.join('?' * len(cols))} "
        "WHERE NOT EXISTS (SELECT 1 FROM return_tickets WHERE uuid = ?) RETURNING id"
    )
    ui = plan.cols.index("uuid")
    extra = tuple(plan.local_extra.values())
    hq_ids = [t[0] for t in tickets]
    children: dict[str, tuple[list[str], str, str, dict[int, list[tuple]]]] = {}
    for table, fk, tail in _CHILDREN:
        if not _local_exists(db, table):
            continue
        local_cols = _local_columns(db, table)
        pg_cols = [c for c in _pg_types(conn, table) if c in local_cols and c not in ("id", fk)]
        by_ticket: dict[int, list[tuple]] = {}
        for r in conn.execute(
            f"SELECT {fk}, {', '.join(pg_cols)} FROM {table} WHERE {fk} = ANY(%s) "
            f"ORDER BY {fk}",
            [hq_ids],
        ).fetchall():
            by_ticket.setdefault(int(r[0]), []).append(tuple(r[1:]))
        children[table] = (pg_cols, fk, tail, by_ticket)
    written = 0
    for hq_id, values, raw in tickets:
        reason = None
        for table, (pg_cols, _fk, _tail, by_ticket) in children.items():
            for child in by_ticket.get(hq_id, ()):
                reason = validate.check_return_child(table, dict(zip(pg_cols, child,
                                                                     strict=True)),
                                                     plan.limits)
                if reason:
                    break
            if reason:
                break
        if reason:
            validate.quarantine(db, "return_tickets", [hq_id], reason, _detail(plan, raw))
            continue
        db.execute("SAVEPOINT pull_ticket")
        try:
            got = db.execute(sql, (*values, *extra, values[ui])).fetchone()
            if got:
                local_id = int(got[0])
                for table, (pg_cols, fk, tail, by_ticket) in children.items():
                    rows_ = by_ticket.get(hq_id)
                    if rows_:
                        # gift cards: a card already here is skipped by its number (bound
                        # once more), never by ON CONFLICT (fiscal tables refuse it)
                        ni = pg_cols.index("number") if tail else -1
                        db.conn.executemany(
                            f"INSERT INTO {table} ({fk}, {', '.join(pg_cols)}) "
                            f"SELECT {', '.join('?' * (1 + len(pg_cols)))} {tail}",
                            [(local_id, *c, *((c[ni],) if tail else ())) for c in rows_],
                        )
                written += 1
        except sqlite3.Error as exc:
            db.execute("ROLLBACK TO pull_ticket")
            validate.quarantine(db, "return_tickets", [hq_id], f"return_tickets:sqlite:{exc}",
                                _detail(plan, raw))
        db.execute("RELEASE pull_ticket")
    return written


def _defer_indexes(db: Database, table: str) -> None:
    """Drop the table's secondary (non-unique) indexes for a bulk load, noting them
    in the same transaction so that a crash cannot lose them."""
    with atomic(db):
        rows = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'",
            [table],
        ).fetchall()
        for name, sql in rows:
            db.execute(
                "INSERT OR IGNORE INTO sync_deferred_indexes (name, tbl, sql) VALUES (?, ?, ?)",
                [name, table, sql],
            )
            db.execute(f'DROP INDEX "{name}"')


def restore_indexes(db: Database, table: str | None = None) -> int:
    """Rebuild the indexes a bulk pull deferred (all tables, or one); how many."""
    if not _local_exists(db, "sync_deferred_indexes"):
        return 0
    where, params = ("WHERE tbl = ?", [table]) if table else ("", [])
    rows = db.execute(f"SELECT name, sql FROM sync_deferred_indexes {where}", params).fetchall()
    if not rows:
        return 0
    db.execute("PRAGMA threads = 2")  # SQLite's sorter may use a helper thread
    with atomic(db):
        for name, sql in rows:
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [name]
            ).fetchone()
            if not exists:
                db.execute(sql)
            db.execute("DELETE FROM sync_deferred_indexes WHERE name = ?", [name])
    return len(rows)


def _should_defer(db: Database, table: str, incoming: int) -> bool:
    if incoming < DEFER_INDEXES_FROM:
        return False
    row = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()
    return int(row[0] or 0) < incoming  # rebuilding costs about what is already there


def pull(
    conn: psycopg.Connection,
    db: Database,
    *,
    store_id: int,
    till_no: int,
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH,
    tables: Sequence[PullTable] | None = None,
    full_sync: bool = False,
    limits: validate.Limits | None = None,
    statement_timeout: float | None = None,
) -> dict[str, int]:
    """Pull every table below one snapshot fence; commit per batch with its cursor.
    Rows breaking a rule or refused by SQLite go to ``sync_quarantine`` (validate.py)."""
    import psycopg

    own = (store_id, till_no)
    pulled: dict[str, int] = {}
    specs = list(tables if tables is not None else PULL_TABLES)
    saved = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    cache_kib = db.execute("PRAGMA cache_size").fetchone()[0]
    synchronous = db.execute("PRAGMA synchronous").fetchone()[0]
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB while B-trees grow by the million
    # Pulled rows can always be pulled again, and each batch commits with its own cursor:
    # a power cut may lose the last batches, never mix a batch with another cursor (WAL).
    db.execute("PRAGMA synchronous = NORMAL")
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            if statement_timeout:  # SET LOCAL: also right behind PgBouncer's transaction pool
                ms = int(statement_timeout * 1000)
                conn.execute(f"SET LOCAL statement_timeout = {ms}")
                conn.execute(f"SET LOCAL lock_timeout = {ms}")
            fence_row = conn.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            ).fetchone()
            fence = int(fence_row[0]) if fence_row else 0
            plans = [p for p in (_plan(conn, db, s, limits) for s in specs) if p is not None]
            totals = {p.spec.name: _count(conn, p, get_cursor(db, p.spec.name), fence, own)
                      for p in plans}
            grand = sum(totals.values())
            done = 0
            # A small round (an incremental sync) lands in ONE SQLite transaction, so the
            # till never sees a sale without its lines; a big one commits per batch.
            with atomic(db) if grand <= batch_size else contextlib.nullcontext():
                for plan in plans:
                    name = plan.spec.name
                    pulled[name] = 0
                    if not totals[name]:
                        restore_indexes(db, name)  # left deferred by a sync killed earlier
                        continue
                    if plan.spec.mode != "returns" and _should_defer(db, name, totals[name]):
                        _defer_indexes(db, name)
                    # One snapshot holds each key once: into an empty table, plain INSERTs.
                    plain = plan.spec.mode == "upsert" and not db.execute(
                        f"SELECT 1 FROM {name} LIMIT 1").fetchone()
                    batches = _batches(conn, plan, get_cursor(db, name), fence, own, batch_size)
                    if plan.spec.mode != "returns":  # returns read their children on conn
                        batches = _prefetched(batches)
                    try:
                        for rows in batches:
                            last = rows[-1]
                            with atomic(db):
                                if plan.spec.mode == "returns":
                                    n = _write_returns(conn, db, plan, rows, own)
                                else:
                                    n = _write_rows(db, plan, rows, own, plain=plain)
                                _save_cursor(db, name, int(last[0]),
                                             list(last[1 : 1 + len(plan.spec.key)]), len(rows))
                            pulled[name] += n
                            done += len(rows)
                            if progress:
                                progress(Progress("pull", name, done, grand, full_sync))
                    finally:
                        batches.close()  # type: ignore[attr-defined]  # stops the fetch thread
                        restore_indexes(db, name)
    finally:
        conn.isolation_level = saved
        db.execute(f"PRAGMA cache_size = {int(cache_kib)}")
        db.execute(f"PRAGMA synchronous = {int(synchronous)}")
    return pulled
