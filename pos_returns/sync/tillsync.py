"""The till's link with HQ (PostgreSQL): push the outbox, pull the chain's data.

``run_sync`` does one round: push the outbox (each document idempotent by
uuid; a return HQ refuses as an over-return comes back ``conflict`` and is
recorded in ``sync_conflicts`` for the manager's review), raise the journal's
chain head at HQ, then pull every table of :data:`PULL_TABLES` incrementally.

The pull cursor (docs/sync.md): every HQ row carries ``txid``, the id of the HQ
transaction that last wrote it. A pull runs in one REPEATABLE READ transaction
whose first statement takes the fence ``pg_snapshot_xmin(pg_current_snapshot())``:
every transaction below the fence has ended, so every row with ``txid < fence``
that will ever exist is visible now. The pull reads, per table, the rows with
``(txid, key) > cursor AND txid < fence`` in ``(txid, key)`` order, in batches;
each batch is written to SQLite in one transaction together with the new cursor
(the last row's ``(txid, key)``). A row committed out of order has a txid at or
above the fence of any pull that ran before it committed, so it is read later:
nothing is skipped, and a killed sync resumes from the last committed batch
without duplicates.

Adding a pulled table is one line in :data:`PULL_TABLES`: the columns copied are
those that HQ and the local table have in common.

psycopg is imported lazily: a till without HQ never needs it.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.hq import receive as hq_receive
from pos_returns.hq import schema as hq_schema
from pos_returns.i18n import N_, _, ngettext

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

DEFAULT_BATCH = 20_000
DEFER_INDEXES_FROM = 50_000  # rows to pull into a table before its indexes are rebuilt after
CONNECT_TIMEOUT = 3  # seconds: a till does not wait long for an HQ that is away
CHECK_TIMEOUT = 2  # the online check before a refund


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- what is pulled -----------------------------------------------------------------


@dataclass(frozen=True)
class PullTable:
    """A table pulled from HQ into the local table of the same name.

    ``mode``: ``upsert`` (reference data, HQ is the master), ``insert_only``
    (documents: ``ON CONFLICT DO NOTHING``, never an UPDATE), ``returns`` (other
    tills' return tickets with their lines, refunds, approvals and gift cards).
    ``optional`` tables are skipped while the local table does not exist.
    """

    name: str
    key: tuple[str, ...] = ("id",)
    mode: str = "upsert"
    optional: bool = False
    exclude: tuple[str, ...] = ()  # HQ columns never copied (HQ-local ids)
    conflict: tuple[str, ...] = ()  # local unique columns (default: key)
    skip_own_till: bool = False  # rows with this till's store_id/till_no stay out

    @property
    def conflict_cols(self) -> tuple[str, ...]:
        return self.conflict or self.key


PULL_TABLES: list[PullTable] = [
    PullTable("stores"),
    PullTable("tills", key=("store_id", "till_no")),
    PullTable("vat_rates", key=("rate_bp",)),
    PullTable("departments", key=("code",)),
    PullTable("products", key=("sku",)),
    PullTable("customers"),
    PullTable("staff"),
    PullTable("sales"),
    PullTable("sale_lines"),
    PullTable("tenders"),
    PullTable("return_tickets", mode="returns", skip_own_till=True),
    # The no-receipt identity ledger (pos_returns.usecases.idcheck): insert-only, by uuid.
    PullTable(
        "id_ledger", mode="insert_only", optional=True, exclude=("id",), conflict=("uuid",),
        skip_own_till=True,
    ),
]

#: What each pulled table is, for people (progress lines and the status widget).
TABLE_LABELS: dict[str, str] = {
    "stores": N_("stores"),
    "tills": N_("tills"),
    "vat_rates": N_("VAT rates"),
    "departments": N_("departments"),
    "products": N_("products and prices"),
    "customers": N_("customers"),
    "staff": N_("staff"),
    "sales": N_("sales"),
    "sale_lines": N_("sale lines"),
    "tenders": N_("payments"),
    "return_tickets": N_("other tills' returns"),
    "id_ledger": N_("identity ledger"),
    "outbox": N_("documents to send"),
}


def table_label(name: str) -> str:
    return _(TABLE_LABELS[name]) if name in TABLE_LABELS else name


@dataclass(frozen=True)
class Progress:
    """Where a sync round is: ``phase`` "push" or "pull", a table, rows done / total."""

    phase: str
    table: str
    done: int
    total: int
    full_sync: bool = False

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


@dataclass
class SyncSummary:
    online: bool = False
    full_sync: bool = False
    pulled: dict[str, int] = field(default_factory=dict)
    pushed: int = 0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    journal_head_ok: bool | None = None
    seconds: float = 0.0
    error: str = ""

    @property
    def pulled_total(self) -> int:
        return sum(self.pulled.values())

    def french_lines(self) -> list[str]:
        """The summary for people (translated)."""
        if not self.online:
            lines = [_("HQ unreachable: the till works offline from its cache.")]
            if self.error:
                lines.append(_("Reason: {error}").format(error=self.error))
            return lines
        lines = [
            ngettext(
                "{n} document sent to HQ", "{n} documents sent to HQ", self.pushed
            ).format(n=self.pushed),
            ngettext(
                "{n} row received from HQ", "{n} rows received from HQ", self.pulled_total
            ).format(n=self.pulled_total),
        ]
        if self.conflicts:
            lines.append(
                ngettext(
                    "{n} conflict for the manager's review",
                    "{n} conflicts for the manager's review",
                    self.conflicts,
                ).format(n=self.conflicts)
            )
        if self.errors:
            lines.append(
                ngettext(
                    "{n} document refused by HQ as malformed: it stays waiting, for review",
                    "{n} documents refused by HQ as malformed: they stay waiting, for review",
                    self.errors,
                ).format(n=self.errors)
            )
        if self.journal_head_ok is False:
            lines.append(_("HQ knew a longer journal for this till: an alert was raised."))
        lines.append(_("Sync finished in {seconds} s.").format(seconds=f"{self.seconds:.1f}"))
        return lines


# -- local cursors ------------------------------------------------------------------


def _local_columns(db: Database, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()]


def _local_exists(db: Database, table: str) -> bool:
    return bool(
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
        .fetchone()
    )


def get_cursor(db: Database, name: str) -> tuple[int, list[Any] | None]:
    row = db.execute("SELECT txid, key FROM sync_cursors WHERE name = ?", [name]).fetchone()
    if not row or not row[1]:
        return (0, None)
    return int(row[0]), json.loads(row[1])


def _save_cursor(db: Database, name: str, txid: int, key: Sequence[Any], rows: int) -> None:
    db.execute(
        "INSERT INTO sync_cursors(name, txid, key, rows, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET txid = excluded.txid, key = excluded.key, "
        "rows = sync_cursors.rows + excluded.rows, updated_at = excluded.updated_at",
        [name, txid, json.dumps(list(key)), rows, now_iso()],
    )


def first_sync_done(db: Database) -> bool:
    row = db.execute(
        "SELECT 1 FROM sync_runs WHERE online = 1 AND finished_at != '' AND error = '' LIMIT 1"
    ).fetchone()
    return row is not None


# -- pull ---------------------------------------------------------------------------


@dataclass
class _Plan:
    spec: PullTable
    cols: list[str]  # copied into the local table
    select: list[str]  # txid, key..., cols...
    types: list[str]
    local_extra: dict[str, Any]  # constant local columns (origin='hq')


def _pg_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _plan(conn: psycopg.Connection, db: Database, spec: PullTable) -> _Plan | None:
    if not _local_exists(db, spec.name):
        if spec.optional:
            return None
        raise RuntimeError(f"local table {spec.name} missing")
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
    return _Plan(spec, cols, select, [pg[c] for c in select], extra)


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
    conflict = ", ".join(plan.spec.conflict_cols)
    if plain:  # the table was empty when this pull began: no row can exist yet
        return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders})"
    if plan.spec.mode == "upsert":
        sets = ", ".join(f"{c} = excluded.{c}" for c in plan.cols if c not in plan.spec.key)
        tail = f"ON CONFLICT({conflict}) DO UPDATE SET {sets}" if sets else "ON CONFLICT DO NOTHING"
    else:
        tail = f"ON CONFLICT({conflict}) DO NOTHING"
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders}) {tail}"


def _write_rows(db: Database, plan: _Plan, rows: list[tuple], own: tuple[int, int],
                *, plain: bool = False) -> int:
    if not plan.local_extra and not plan.spec.skip_own_till:
        sql = _upsert_sql(plan, plan.spec.name, plain=plain, whole_row=True)
        return max(db.conn.executemany(sql, rows).rowcount, 0)
    nk = 1 + len(plan.spec.key)
    extra = tuple(plan.local_extra.values())
    data: Iterable[tuple] = (r[nk:] + extra for r in rows)
    if plan.spec.skip_own_till:
        si, ti = plan.cols.index("store_id"), plan.cols.index("till_no")
        data = (d for d in data if (d[si], d[ti]) != own)
    cur = db.conn.executemany(_upsert_sql(plan, plan.spec.name, plain=plain), data)
    return max(cur.rowcount, 0)


_CHILDREN = (
    # (table, foreign key to the ticket, local conflict handling)
    ("return_lines", "ticket_id", ""),
    ("refunds", "ticket_id", ""),
    ("approvals", "ticket_id", ""),
    ("gift_cards", "issued_ticket_id", "ON CONFLICT DO NOTHING"),
)


def _write_returns(conn: psycopg.Connection, db: Database, plan: _Plan, rows: list[tuple],
                   own: tuple[int, int]) -> int:
    """Other tills' tickets, INSERT-only, with their lines, refunds, approvals, gift cards."""
    si, ti = plan.cols.index("store_id"), plan.cols.index("till_no")
    tickets = [(int(r[1]), r[2:]) for r in rows if (r[2:][si], r[2:][ti]) != own]
    if not tickets:
        return 0
    cols = [*plan.cols, *plan.local_extra]
    sql = (
        f"INSERT INTO return_tickets ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        "ON CONFLICT(uuid) DO NOTHING RETURNING id"
    )
    extra = tuple(plan.local_extra.values())
    local_id: dict[int, int] = {}
    for hq_id, values in tickets:
        got = db.execute(sql, values + extra).fetchone()
        if got:
            local_id[hq_id] = int(got[0])
    if not local_id:
        return 0
    hq_ids = list(local_id)
    for table, fk, tail in _CHILDREN:
        if not _local_exists(db, table):
            continue
        local_cols = _local_columns(db, table)
        pg_cols = [c for c in _pg_types(conn, table) if c in local_cols and c not in ("id", fk)]
        child_rows = conn.execute(
            f"SELECT {fk}, {', '.join(pg_cols)} FROM {table} WHERE {fk} = ANY(%s) "
            f"ORDER BY {fk}",
            [hq_ids],
        ).fetchall()
        if not child_rows:
            continue
        ins = (
            f"INSERT INTO {table} ({fk}, {', '.join(pg_cols)}) "
            f"VALUES ({', '.join('?' * (1 + len(pg_cols)))}) {tail}"
        )
        db.conn.executemany(ins, ((local_id[int(r[0])], *r[1:]) for r in child_rows))
    return len(local_id)


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
) -> dict[str, int]:
    """Pull every table below one snapshot fence; commit per batch with its cursor."""
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
            fence_row = conn.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            ).fetchone()
            fence = int(fence_row[0]) if fence_row else 0
            plans = [p for p in (_plan(conn, db, s) for s in specs) if p is not None]
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


# -- push ---------------------------------------------------------------------------


def journal_head(db: Database, store_id: int, till_no: int) -> tuple[int, str] | None:
    """This till's journal chain head (last seq, its signature), read from the
    ``journal`` table (pos_returns.journal.chain) when it exists."""
    if not _local_exists(db, "journal"):
        return None
    cols = _local_columns(db, "journal")
    if "seq" not in cols or "signature" not in cols:
        return None
    where, params = "", []
    if "store_id" in cols and "till_no" in cols:
        where, params = "WHERE store_id = ? AND till_no = ?", [store_id, till_no]
    row = db.execute(
        f"SELECT seq, signature FROM journal {where} ORDER BY seq DESC LIMIT 1", params
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


@dataclass
class PushResult:
    pushed: int = 0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0  # documents HQ could not take (left waiting, flagged)
    journal_head_ok: bool | None = None


def _flag(db: Database, uuid: str, outbox_id: int, kind: str, answer: str) -> None:
    """Record a document for the manager's review (once per uuid)."""
    with atomic(db):
        ticket = db.execute("SELECT id FROM return_tickets WHERE uuid = ?", [uuid]).fetchone()
        db.execute(
            "INSERT INTO sync_conflicts (ticket_uuid, ticket_id, outbox_id, kind, answer, "
            "detected_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ticket_uuid) DO NOTHING",
            [uuid, ticket[0] if ticket else None, outbox_id, kind, answer, now_iso()],
        )


def _push_id_ledger(conn: psycopg.Connection, db: Database, *, store_id: int,
                    till_no: int) -> int:
    """This till's id ledger rows (pos_returns.usecases.idcheck), by its ``seq`` cursor."""
    if not _local_exists(db, "id_ledger") or "seq" not in _local_columns(db, "id_ledger"):
        return 0
    from pos_returns.cache.db import get_meta, set_meta

    sent = 0
    while True:
        cursor = int(get_meta(db, "sync.id_ledger_pushed", "0") or 0)
        rows = db.execute(
            "SELECT seq, uuid, id_hash, amount, store_id, till_no, created_at FROM id_ledger "
            "WHERE seq > ? AND origin = 'local' ORDER BY seq LIMIT 500",
            [cursor],
        ).fetchall()
        if not rows:
            return sent
        with conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO id_ledger (uuid, id_hash, amount, store_id, till_no, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
                [r[1:] for r in rows],
            )
        with atomic(db):
            set_meta(db, "sync.id_ledger_pushed", str(rows[-1][0]))
        sent += len(rows)


def push(
    conn: psycopg.Connection,
    db: Database,
    *,
    store_id: int,
    till_no: int,
    progress: ProgressCallback | None = None,
) -> PushResult:
    """Send the outbox, oldest first; each document idempotent at HQ by its uuid.

    The outbox row is marked sent (``ok`` / ``conflict``) only after HQ
    committed: a crash in between replays the document, and HQ answers the same.
    """
    import psycopg

    result = PushResult()
    total = int(db.execute("SELECT count(*) FROM outbox WHERE sent_at = ''").fetchone()[0])
    last_id = 0
    while True:
        rows = db.execute(
            "SELECT id, uuid, kind, payload FROM outbox WHERE sent_at = '' AND id > ? "
            "ORDER BY id LIMIT 200",
            [last_id],
        ).fetchall()
        if not rows:
            break
        for outbox_id, uuid, kind, payload in rows:
            last_id = outbox_id
            try:
                doc = json.loads(payload)
                answer = hq_receive.receive_document(
                    conn, kind, uuid, doc,
                    store_id=int(doc.get("store_id", store_id)),
                    till_no=int(doc.get("till_no", till_no)),
                )
            except psycopg.OperationalError:
                raise  # HQ went away: the round ends offline, the document waits
            except (psycopg.Error, ValueError, KeyError, TypeError) as exc:
                # HQ cannot take this document (malformed): it stays waiting, flagged
                # for the manager, and does not hold back the documents behind it.
                _flag(db, uuid, outbox_id, kind,
                      json.dumps({"result": "error", "message": _offline_reason(exc)}))
                result.errors += 1
                continue
            with atomic(db):
                db.execute(
                    "UPDATE outbox SET sent_at = ?, result = ? WHERE id = ? AND sent_at = ''",
                    [now_iso(), answer.result, outbox_id],
                )
                if answer.result == "conflict":
                    _flag(db, uuid, outbox_id, kind, answer.as_json())
            result.pushed += 1
            if answer.result == "conflict":
                result.conflicts += 1
            else:
                result.ok += 1
            if progress:
                progress(Progress("push", "outbox", result.pushed, total))
    result.pushed += _push_id_ledger(conn, db, store_id=store_id, till_no=till_no)
    head = journal_head(db, store_id, till_no)
    if head is not None:
        result.journal_head_ok = hq_receive.raise_journal_head(
            conn, store_id=store_id, till_no=till_no, seq=head[0], signature=head[1]
        )
    return result


# -- one round ----------------------------------------------------------------------


def _offline_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


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
) -> SyncSummary:
    """Push then pull; HQ unreachable -> an offline summary (nothing raised).

    With ``journal`` (a :class:`pos_returns.journal.chain.Journal` of this till), a round
    that moved documents (sent some, found a conflict, or received other tills'
    returns) is recorded as a ``sync`` technical event, and the head HQ keeps
    includes that record. Quiet rounds (every minute) are not journaled.
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
            conn = hq_schema.connect(dsn, timeout=connect_timeout, autocommit=True)
        except psycopg.OperationalError as exc:
            summary.error = _offline_reason(exc)
            _finish_run(db, run_id, summary, started)
            return summary
        with conn:
            summary.online = True
            pushed = push(conn, db, store_id=store_id, till_no=till_no, progress=progress)
            summary.pushed, summary.ok = pushed.pushed, pushed.ok
            summary.conflicts, summary.errors = pushed.conflicts, pushed.errors
            summary.journal_head_ok = pushed.journal_head_ok
            summary.pulled = pull(
                conn, db, store_id=store_id, till_no=till_no, progress=progress,
                batch_size=batch_size, tables=tables, full_sync=summary.full_sync,
            )
            if journal is not None and (
                summary.pushed or summary.conflicts or summary.pulled.get("return_tickets")
            ):
                _journal_round(conn, db, journal, summary, store_id=store_id, till_no=till_no)
    except psycopg.OperationalError as exc:  # HQ went away during the round
        summary.online = False
        summary.error = _offline_reason(exc)
    except BaseException as exc:
        summary.error = _offline_reason(exc) or "interrupted"
        _finish_run(db, run_id, summary, started)
        raise
    _finish_run(db, run_id, summary, started)
    return summary


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
    from pos_returns.journal.chain import Journal

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


# -- status -------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStatus:
    online: bool | None  # None: never tried
    last_sync_at: str  # last successful round (UTC ISO), "" if none
    waiting: int  # outbox documents not yet sent
    conflicts_open: int  # conflicts not yet reviewed by a manager
    first_sync_done: bool


def sync_status(db: Database) -> SyncStatus:
    last = db.execute("SELECT online FROM sync_runs WHERE finished_at != '' ORDER BY id DESC "
                      "LIMIT 1").fetchone()
    ok = db.execute(
        "SELECT finished_at FROM sync_runs WHERE online = 1 AND error = '' AND finished_at != '' "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    waiting = int(db.execute("SELECT count(*) FROM outbox WHERE sent_at = ''").fetchone()[0])
    conflicts = int(
        db.execute("SELECT count(*) FROM sync_conflicts WHERE reviewed_at = ''").fetchone()[0]
    )
    return SyncStatus(
        online=None if last is None else bool(last[0]),
        last_sync_at=ok[0] if ok else "",
        waiting=waiting,
        conflicts_open=conflicts,
        first_sync_done=ok is not None,
    )


def open_conflicts(db: Database) -> list[dict[str, Any]]:
    """Conflicts found at push time that no manager has reviewed yet, oldest first."""
    rows = db.execute(
        "SELECT id, ticket_uuid, ticket_id, kind, answer, detected_at FROM sync_conflicts "
        "WHERE reviewed_at = '' ORDER BY id"
    ).fetchall()
    keys = ("id", "ticket_uuid", "ticket_id", "kind", "answer", "detected_at")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for row in out:
        row["answer"] = json.loads(row["answer"])
    return out


# -- online check before a refund ---------------------------------------------------


@dataclass(frozen=True)
class OnlineCheck:
    """``ok``: HQ agrees; ``conflict``: already returned elsewhere (see ``problems``);
    ``offline``: HQ unreachable, the till decides from its cache and marks the
    return offline."""

    status: str
    problems: tuple[dict[str, Any], ...] = ()
    error: str = ""

    @property
    def offline(self) -> bool:
        return self.status == "offline"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def wanted_quantities(plan_or_lines: Any) -> dict[int, int]:
    """``{sale_line_id: quantity}`` asked back by a ReturnPlan, a ReturnRequest, or
    lines (objects or dicts with ``sale_line_id`` and ``quantity``, or pairs)."""
    lines = getattr(plan_or_lines, "lines", plan_or_lines)
    wanted: dict[int, int] = {}
    for line in lines:
        if isinstance(line, dict):
            sid, qty, direction = (line.get("sale_line_id"), line.get("quantity", 0),
                                   line.get("direction", "return"))
        elif isinstance(line, tuple | list):
            sid, qty, direction = line[0], line[1], "return"
        else:
            sid = getattr(line, "sale_line_id", None)
            qty = getattr(line, "quantity", 0)
            direction = getattr(line, "direction", "return")
        if sid is None or direction != "return":
            continue
        wanted[int(sid)] = wanted.get(int(sid), 0) + int(qty)
    return wanted


def local_waiting_quantities(db: Database, sale_line_ids: Iterable[int]) -> dict[int, int]:
    """Quantities this till returned that HQ does not know yet (outbox not sent)."""
    ids = list(sale_line_ids)
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = db.execute(
        "SELECT rl.sale_line_id, SUM(rl.quantity) FROM return_lines rl "
        "JOIN return_tickets t ON t.id = rl.ticket_id "
        "JOIN outbox o ON o.uuid = t.uuid AND o.sent_at = '' "
        f"WHERE rl.direction = 'return' AND rl.sale_line_id IN ({marks}) "
        "GROUP BY rl.sale_line_id",
        ids,
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def check_return_online(
    conn_or_dsn: Any,
    plan_or_lines: Any,
    *,
    db: Database | None = None,
    timeout: float = CHECK_TIMEOUT,
) -> OnlineCheck:
    """Ask HQ, before the refund, whether the lines can still be returned chain-wide.

    HQ's already-returned quantities (every till's pushed returns) plus, with
    ``db``, this till's returns still waiting in the outbox. HQ unreachable
    (short ``connect_timeout``) -> ``offline``.
    """
    import psycopg

    wanted = wanted_quantities(plan_or_lines)
    if not wanted:
        return OnlineCheck("ok")
    own_conn = isinstance(conn_or_dsn, str)
    try:
        conn = (
            hq_schema.connect(conn_or_dsn, timeout=timeout, autocommit=True) if own_conn
            else conn_or_dsn
        )
    except psycopg.OperationalError as exc:
        return OnlineCheck("offline", error=_offline_reason(exc))
    try:
        seen = hq_receive.returned_quantities(conn, list(wanted))
    except psycopg.OperationalError as exc:
        return OnlineCheck("offline", error=_offline_reason(exc))
    finally:
        if own_conn:
            conn.close()
    if db is not None:
        extra = local_waiting_quantities(db, wanted)
        seen = {k: (s, r + extra.get(k, 0)) for k, (s, r) in seen.items()}
    problems = hq_receive.over_return_problems(wanted, seen)
    return OnlineCheck("conflict" if problems else "ok", problems=tuple(problems))


def hq_reachable(dsn: str, *, timeout: float = CHECK_TIMEOUT) -> bool:
    """True when HQ answers within ``timeout`` seconds (the till's online / offline)."""
    import psycopg

    if not dsn:
        return False
    try:
        with hq_schema.connect(dsn, timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False
