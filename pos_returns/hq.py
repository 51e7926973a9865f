"""HQ: the chain's PostgreSQL database that every till syncs with.

This module holds the HQ schema (:data:`SCHEMA`), ``hq init`` (create it, and
optionally load the demo chain) and ``hq feed`` (new sales, as the chain's other
tills and the website would ring them up), and the HQ side of a push
(:func:`receive_document`) and of the online check (:func:`returned_quantities`).

Every replicated row carries ``txid``: the 64-bit id of the HQ transaction that
last wrote it (``DEFAULT pg_current_xact_id()`` on insert, a trigger on update).
Tills pull by ``(txid, key)`` below a snapshot fence; docs/sync.md explains why
that cursor cannot skip a row committed out of order.

psycopg (3) is imported lazily so that a till without HQ never needs it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .i18n import _

if TYPE_CHECKING:  # pragma: no cover
    import psycopg
    from sqlite_utils import Database

TXID = "txid bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint"

#: Replicated tables and the key that orders them after ``txid`` (the pull cursor).
REPLICATED: dict[str, tuple[str, ...]] = {
    "stores": ("id",),
    "tills": ("store_id", "till_no"),
    "vat_rates": ("rate_bp",),
    "departments": ("code",),
    "products": ("sku",),
    "customers": ("id",),
    "staff": ("id",),
    "sales": ("id",),
    "sale_lines": ("id",),
    "tenders": ("id",),
    "return_tickets": ("id",),
    "id_ledger": ("id",),
}

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS hq_meta (key text PRIMARY KEY, value text NOT NULL);

CREATE OR REPLACE FUNCTION hq_touch_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.txid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END $$;

CREATE TABLE stores (
    id integer PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    address text NOT NULL,
    postcode text NOT NULL,
    city text NOT NULL,
    siret text NOT NULL,
    vat_number text NOT NULL,
    has_fine_jewelry integer NOT NULL DEFAULT 0,
    latitude double precision NOT NULL DEFAULT 0,
    longitude double precision NOT NULL DEFAULT 0,
    {TXID}
);
CREATE TABLE tills (
    store_id integer NOT NULL REFERENCES stores(id),
    till_no integer NOT NULL,
    label text NOT NULL DEFAULT '',
    {TXID},
    PRIMARY KEY (store_id, till_no)
);
CREATE TABLE vat_rates (rate_bp integer PRIMARY KEY, label text NOT NULL, {TXID});
CREATE TABLE departments (
    code text PRIMARY KEY, name_fr text NOT NULL, name_en text NOT NULL, {TXID}
);
CREATE TABLE products (
    sku text PRIMARY KEY,
    ean text NOT NULL UNIQUE,
    name text NOT NULL,
    department text NOT NULL,
    vat_rate_bp integer NOT NULL,
    current_price bigint NOT NULL CHECK (current_price >= 0),
    return_tag_required integer NOT NULL DEFAULT 0,
    fine_jewelry integer NOT NULL DEFAULT 0,
    gift_card integer NOT NULL DEFAULT 0,
    {TXID}
);
CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    account_number text NOT NULL UNIQUE,
    first_name text NOT NULL,
    last_name text NOT NULL,
    name_key text NOT NULL,
    phone text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    {TXID}
);
CREATE TABLE staff (
    id integer PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    role text NOT NULL,
    store_id integer NOT NULL,
    pin_hash text NOT NULL,
    active integer NOT NULL DEFAULT 1,
    {TXID}
);
CREATE TABLE sales (
    id bigserial PRIMARY KEY,
    receipt_number text UNIQUE,
    order_number text UNIQUE,
    channel text NOT NULL CHECK (channel IN ('store', 'online')),
    store_id integer NOT NULL,
    till_no integer NOT NULL DEFAULT 0,
    sold_at text NOT NULL,
    customer_id bigint,
    staff_id integer,
    international integer NOT NULL DEFAULT 0,
    gift_receipt integer NOT NULL DEFAULT 0,
    merchandise bigint NOT NULL,
    shipping bigint NOT NULL DEFAULT 0,
    duties bigint NOT NULL DEFAULT 0,
    total bigint NOT NULL,
    packing_slip text NOT NULL DEFAULT '',
    {TXID}
);
CREATE TABLE sale_lines (
    id bigserial PRIMARY KEY,
    sale_id bigint NOT NULL REFERENCES sales(id),
    line_no integer NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    list_price bigint NOT NULL,
    vat_rate_bp integer NOT NULL,
    serial_number text NOT NULL DEFAULT '',
    sold_at text NOT NULL DEFAULT '',  -- copy of sales.sold_at (the cache indexes it)
    {TXID}
);
CREATE INDEX sale_lines_sale ON sale_lines(sale_id);
CREATE TABLE tenders (
    id bigserial PRIMARY KEY,
    sale_id bigint NOT NULL REFERENCES sales(id),
    kind text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    card_last4 text NOT NULL DEFAULT '',
    card_fingerprint text NOT NULL DEFAULT '',
    card_brand text NOT NULL DEFAULT '',
    gift_card_number text NOT NULL DEFAULT '',
    {TXID}
);
CREATE INDEX tenders_sale ON tenders(sale_id);

-- Documents pushed by the tills (idempotent by uuid).
CREATE TABLE return_tickets (
    id bigserial PRIMARY KEY,
    uuid text NOT NULL UNIQUE,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    number bigint NOT NULL,
    created_at text NOT NULL,
    staff_id integer NOT NULL,
    sale_id bigint,
    kind text NOT NULL,
    gift integer NOT NULL DEFAULT 0,
    offline integer NOT NULL DEFAULT 0,
    refund_total bigint NOT NULL DEFAULT 0,
    charge_total bigint NOT NULL DEFAULT 0,
    net bigint NOT NULL DEFAULT 0,
    restocking_fees bigint NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL DEFAULT now(),
    {TXID}
);
CREATE INDEX return_tickets_sale ON return_tickets(sale_id);
CREATE TABLE return_lines (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES return_tickets(id),
    line_no integer NOT NULL,
    direction text NOT NULL,
    sale_line_id bigint,
    sku text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_amount bigint NOT NULL,
    amount bigint NOT NULL,
    vat_rate_bp integer NOT NULL,
    condition text NOT NULL DEFAULT '',
    reason text NOT NULL DEFAULT '',
    rule_codes text NOT NULL DEFAULT '',
    restocking_fee bigint NOT NULL DEFAULT 0,
    serial_number text NOT NULL DEFAULT '',
    UNIQUE (ticket_id, line_no)
);
CREATE INDEX return_lines_sale_line ON return_lines(sale_line_id) WHERE sale_line_id IS NOT NULL;
CREATE TABLE refunds (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES return_tickets(id),
    kind text NOT NULL,
    amount bigint NOT NULL,
    sale_tender_id bigint,
    card_last4 text NOT NULL DEFAULT '',
    gift_card_number text NOT NULL DEFAULT '',
    beyond_original integer NOT NULL DEFAULT 0
);
CREATE INDEX refunds_ticket ON refunds(ticket_id);
CREATE INDEX refunds_tender ON refunds(sale_tender_id) WHERE sale_tender_id IS NOT NULL;
CREATE TABLE approvals (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES return_tickets(id),
    line_no integer,
    rule text NOT NULL,
    manager_id integer NOT NULL,
    decision text NOT NULL,
    reason text NOT NULL,
    decided_at text NOT NULL
);
CREATE INDEX approvals_ticket ON approvals(ticket_id);
CREATE TABLE gift_cards (
    number text PRIMARY KEY,
    security_hash text NOT NULL DEFAULT '',
    initial_amount bigint NOT NULL,
    issued_ticket_id bigint REFERENCES return_tickets(id),
    issued_at text NOT NULL DEFAULT '',
    store_id integer NOT NULL,
    till_no integer NOT NULL
);
CREATE INDEX gift_cards_ticket ON gift_cards(issued_ticket_id);
-- A return HQ refused (over-return found at push time): kept whole, never lost,
-- for the managers' review; a replay of the same uuid gets the same answer.
CREATE TABLE return_conflicts (
    uuid text PRIMARY KEY,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    payload jsonb NOT NULL,
    answer jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
-- The no-receipt identity ledger (R19), chain-wide; the full ID number never comes here.
CREATE TABLE id_ledger (
    id bigserial PRIMARY KEY,
    uuid text NOT NULL UNIQUE,
    id_hash text NOT NULL,
    type text NOT NULL DEFAULT '',
    last4 text NOT NULL DEFAULT '',
    name text NOT NULL DEFAULT '',
    amount bigint NOT NULL DEFAULT 0,
    created_at text NOT NULL,
    store_id integer NOT NULL DEFAULT 0,
    till_no integer NOT NULL DEFAULT 0,
    {TXID}
);
CREATE INDEX id_ledger_hash ON id_ledger(id_hash, created_at);
-- Each till's fiscal journal chain head, raised at every sync.
CREATE TABLE journal_heads (
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    seq bigint NOT NULL,
    signature text NOT NULL,
    key_id text NOT NULL DEFAULT '',      -- the till's journal key (to verify its records)
    public_key text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, till_no)
);
-- A till reported a head below the one HQ already had: a truncated or restored cache.
CREATE TABLE journal_alerts (
    id bigserial PRIMARY KEY,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    reported_seq bigint NOT NULL,
    known_seq bigint NOT NULL,
    signature text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
-- Any other document kind a till pushes (kept as sent, idempotent by uuid).
CREATE TABLE documents (
    uuid text PRIMARY KEY,
    kind text NOT NULL,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
-- hq feed numbers the sales of the chain's other tills with this sequence.
CREATE SEQUENCE feed_seq;
"""


def _replication_ddl() -> str:
    parts = []
    for table, key in REPLICATED.items():
        cols = ", ".join(("txid", *key))
        parts.append(f"CREATE INDEX {table}_pull ON {table} ({cols});")
        parts.append(
            f"CREATE TRIGGER {table}_txid BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION hq_touch_txid();"
        )
    return "\n".join(parts)


SCHEMA_VERSION = "1"


def connect(dsn: str, *, timeout: float = 5, autocommit: bool = False) -> psycopg.Connection:
    import psycopg

    return psycopg.connect(dsn, connect_timeout=max(1, int(timeout)), autocommit=autocommit)


def create_schema(conn: psycopg.Connection) -> bool:
    """Create the HQ schema if it is not there yet; True when it was created."""
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass('hq_meta') IS NOT NULL").fetchone()
        if exists and exists[0]:
            return False
        conn.execute(SCHEMA)
        conn.execute(_replication_ddl())
        conn.execute(
            "INSERT INTO hq_meta(key, value) VALUES ('schema_version', %s)", [SCHEMA_VERSION]
        )
    return True


# -- loading a SQLite cache (the demo chain) into HQ ------------------------------

LOAD_ORDER = (
    "stores", "tills", "vat_rates", "departments", "products", "customers", "staff",
    "sales", "sale_lines", "tenders",
)


def _pg_columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def load_from_cache(conn: psycopg.Connection, db: Database) -> dict[str, int]:
    """Copy the reference data and sales of a SQLite cache into HQ (ids kept).

    Used by ``hq init --demo`` and by the tests to give HQ a known chain.
    Returns the number of rows copied per table.
    """
    counts: dict[str, int] = {}
    with conn.transaction():
        for table in LOAD_ORDER:
            local = [c.name for c in db[table].columns]
            cols = [c for c in _pg_columns(conn, table) if c in local and c != "txid"]
            n = 0
            collist = ", ".join(cols)
            with conn.cursor().copy(f"COPY {table} ({collist}) FROM STDIN") as copy:
                for row in db.execute(f"SELECT {collist} FROM {table}"):
                    copy.write_row(row)
                    n += 1
            counts[table] = n
        _reset_sequences(conn)
    return counts


def _reset_sequences(conn: psycopg.Connection) -> None:
    for table in ("customers", "sales", "sale_lines", "tenders"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT max(id) FROM {table}), 1))"
        )


def init_hq(dsn: str, *, demo: bool = False, sales: int = 2000, seed: int = 1) -> dict[str, int]:
    """``hq init``: the schema, and with ``demo`` the demo chain built by the demo
    generator in a temporary SQLite cache and copied into HQ."""
    import tempfile
    from pathlib import Path

    with connect(dsn) as conn:
        create_schema(conn)
        if not demo:
            return {}
        if conn.execute("SELECT EXISTS (SELECT 1 FROM stores)").fetchone() == (True,):
            from .errors import Conflict

            raise Conflict(
                _("HQ already holds a chain: the demo chain goes into an empty database."),
                code="hq_not_empty",
            )
        from .demo import build_demo  # the demo generator (pos_returns/demo.py)
        from .store import open_cache

        with tempfile.TemporaryDirectory(prefix="alamara-hq-demo-") as tmp:
            cache = open_cache(Path(tmp) / "demo.sqlite")
            try:
                build_demo(cache, sales=sales, seed=seed)
                return load_from_cache(conn, cache)
            finally:
                cache.close()


# -- hq feed: the chain goes on selling -------------------------------------------

FEED_TILL_BASE = 90  # the chain's other tills that `hq feed` rings sales on: 90..99


@dataclass(frozen=True)
class FeedResult:
    sales: int
    lines: int
    tenders: int
    first_id: int = 0
    last_id: int = 0
    ids: Sequence[int] = field(default_factory=tuple)


def feed_sales(
    conn: psycopg.Connection, n: int, *, seed: int | None = None, web_share: float = 0.1
) -> FeedResult:
    """Add ``n`` new sales at HQ as the chain's other tills (90..99 of every store)
    and AlamaraStore.com would: 1 to 4 lines of the catalogue's products, a card
    (sometimes cash + card) paying the total, receipt numbers with their check digits.

    Set-based SQL in one transaction, so a million sales take seconds.
    """
    if n <= 0:
        return FeedResult(0, 0, 0)
    with conn.transaction():
        if seed is not None:
            conn.execute("SELECT setseed(%s)", [random.Random(seed).random() * 2 - 1])
        nprod = conn.execute("SELECT count(*) FROM products WHERE gift_card = 0").fetchone()
        stores = [r[0] for r in conn.execute("SELECT id FROM stores ORDER BY id").fetchall()]
        if not nprod or not nprod[0] or not stores:
            from .errors import InvalidInput

            raise InvalidInput(_("HQ has no stores or products yet: run “hq init --demo” first."))
        ncust = conn.execute("SELECT count(*) FROM customers").fetchone()
        ncustomers = int(ncust[0]) if ncust else 0
        ntills = len(stores) * 10
        conn.execute("DROP TABLE IF EXISTS feed_new; DROP TABLE IF EXISTS feed_lines")
        conn.execute(
            """
            CREATE TEMP TABLE feed_new ON COMMIT DROP AS
            SELECT nextval(pg_get_serial_sequence('sales', 'id')) AS id,
                   nextval('feed_seq') - 1 AS k,
                   1 + floor(random() * 4)::int AS nlines,
                   random() < %(web)s AS web,
                   random() < 0.2 AS split,
                   CASE WHEN %(ncust)s > 0 AND random() < 0.5
                        THEN 1 + floor(random() * %(ncust)s)::bigint END AS cust_rank
            FROM generate_series(1, %(n)s)
            """,
            {"n": n, "web": web_share, "ncust": ncustomers},
        )
        conn.execute(
            """
            CREATE TEMP TABLE feed_lines ON COMMIT DROP AS
            WITH prod AS (
                SELECT row_number() OVER (ORDER BY sku) - 1 AS i, sku, current_price,
                       vat_rate_bp
                FROM products WHERE gift_card = 0
            ), pick AS (
                SELECT f.id AS sale_id, g AS line_no,
                       floor(random() * %(nprod)s)::int AS i,
                       1 + (random() < 0.15)::int AS quantity
                FROM feed_new f, generate_series(1, f.nlines) g
            )
            SELECT nextval(pg_get_serial_sequence('sale_lines', 'id')) AS id, pick.sale_id,
                   ''::text AS sold_at,
                   pick.line_no, prod.sku, pick.quantity, prod.current_price AS unit_price,
                   prod.current_price AS list_price, prod.vat_rate_bp
            FROM pick JOIN prod USING (i)
            """,
            {"nprod": int(nprod[0])},
        )
        # k numbers the feed's sales: till = k % ntills, then day and sequence of that
        # till, so every receipt number is new (and its check digits right).
        conn.execute(
            """
            WITH tot AS (
                SELECT sale_id, sum(quantity * unit_price) AS merchandise
                FROM feed_lines GROUP BY sale_id
            ), stores_ranked AS (
                SELECT row_number() OVER (ORDER BY id) - 1 AS r, id FROM stores
            ), cust AS (
                SELECT row_number() OVER (ORDER BY id) AS r, id FROM customers
            ), base AS (
                SELECT f.*, t.merchandise,
                       s.id AS store_id,
                       %(till_base)s + (f.k %% %(ntills)s) %% 10 AS till_no,
                       DATE '2025-01-01' + ((f.k / %(ntills)s) / 9999)::int AS day,
                       (f.k / %(ntills)s) %% 9999 + 1 AS seq
                FROM feed_new f JOIN tot t ON t.sale_id = f.id
                JOIN stores_ranked s ON s.r = (f.k %% %(ntills)s) / 10
            ), numbered AS (
                SELECT b.*, lpad(b.store_id::text, 3, '0') || lpad(b.till_no::text, 2, '0')
                       || to_char(b.day, 'YYMMDD') || lpad(b.seq::text, 4, '0') AS body
                FROM base b
            )
            INSERT INTO sales (id, receipt_number, order_number, channel, store_id, till_no,
                               sold_at, customer_id, staff_id, merchandise, shipping, total)
            SELECT n.id,
                   CASE WHEN n.web THEN NULL ELSE n.body || lpad(
                       (98 - ((n.body || '00')::numeric %% 97))::int::text, 2, '0') END,
                   CASE WHEN n.web THEN 'W' || lpad((900000000 + n.k %% 100000000)::text, 9,
                       '0') END,
                   CASE WHEN n.web THEN 'online' ELSE 'store' END,
                   n.store_id, CASE WHEN n.web THEN 0 ELSE n.till_no END,
                   to_char(n.day + make_interval(secs => 36000 + n.seq * 3),
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   c.id, NULL, n.merchandise,
                   CASE WHEN n.web THEN 490 ELSE 0 END,
                   n.merchandise + CASE WHEN n.web THEN 490 ELSE 0 END
            FROM numbered n LEFT JOIN cust c ON c.r = n.cust_rank
            """,
            {"ntills": ntills, "till_base": FEED_TILL_BASE},
        )
        cur = conn.execute(
            "INSERT INTO sale_lines (id, sale_id, line_no, sku, quantity, unit_price, list_price,"
            " vat_rate_bp, sold_at) SELECT l.id, l.sale_id, l.line_no, l.sku, l.quantity,"
            " l.unit_price, l.list_price, l.vat_rate_bp, s.sold_at FROM feed_lines l"
            " JOIN sales s ON s.id = l.sale_id"
        )
        nlines = cur.rowcount
        cur = conn.execute(
            """
            INSERT INTO tenders (sale_id, kind, amount, card_last4, card_fingerprint, card_brand)
            SELECT s.id, t.kind, t.amount, t.last4, t.fp, t.brand
            FROM sales s JOIN feed_new f ON f.id = s.id,
            LATERAL (
                SELECT 'cash' AS kind, least(2000, s.total / 2) AS amount, '' AS last4,
                       '' AS fp, '' AS brand
                WHERE f.split AND s.total >= 2
                UNION ALL
                SELECT 'card', s.total - CASE WHEN f.split AND s.total >= 2
                                              THEN least(2000, s.total / 2) ELSE 0 END,
                       lpad((s.id % 10000)::text, 4, '0'), 'fp-' || (s.id % 10000)::text,
                       'VISA'
            ) t
            ORDER BY s.id
            """
        )
        ntenders = cur.rowcount
        bounds = conn.execute("SELECT min(id), max(id) FROM feed_new").fetchone()
    first, last = (int(bounds[0]), int(bounds[1])) if bounds and bounds[0] is not None else (0, 0)
    return FeedResult(n, nlines, ntenders, first, last)


# -- the HQ side of a push --------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """HQ's answer to one pushed document: ``ok`` or ``conflict`` (with details)."""

    result: str  # "ok" | "conflict"
    duplicate: bool = False  # HQ already had this uuid (a replay)
    problems: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> str:
        return json.dumps(
            {"result": self.result, "problems": list(self.problems)}, sort_keys=True
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _insert_dict(
    conn: psycopg.Connection, table: str, cols: Iterable[str], row: dict[str, Any],
    *, returning: str = "", on_conflict: str = "",
) -> Any:
    names = [c for c in cols if c in row]
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
        f" {on_conflict} {('RETURNING ' + returning) if returning else ''}"
    )
    cur = conn.execute(sql, [_plain(row[c]) for c in names])
    return cur.fetchone() if returning else None


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


_TICKET_COLS = (
    "uuid", "store_id", "till_no", "number", "created_at", "staff_id", "sale_id", "kind",
    "gift", "offline", "refund_total", "charge_total", "net", "restocking_fees",
)
_LINE_COLS = (
    "line_no", "direction", "sale_line_id", "sku", "quantity", "unit_amount", "amount",
    "vat_rate_bp", "condition", "reason", "rule_codes", "restocking_fee", "serial_number",
)
_REFUND_COLS = (
    "kind", "amount", "sale_tender_id", "card_last4", "gift_card_number", "beyond_original",
)
_APPROVAL_COLS = ("line_no", "rule", "manager_id", "decision", "reason", "decided_at")
_GIFT_CARD_COLS = (
    "number", "security_hash", "initial_amount", "issued_at", "store_id", "till_no",
)


def returned_quantities(
    conn: psycopg.Connection, sale_line_ids: Sequence[int], *, lock: bool = False
) -> dict[int, tuple[int, int]]:
    """``{sale_line_id: (sold quantity, already returned chain-wide)}`` as HQ sees it.

    With ``lock`` the sale lines are locked ``FOR UPDATE`` (in id order, so two
    pushes never deadlock) until the caller's transaction ends.
    """
    ids = sorted({int(i) for i in sale_line_ids})
    if not ids:
        return {}
    sold = conn.execute(
        "SELECT id, quantity FROM sale_lines WHERE id = ANY(%s) ORDER BY id"
        + (" FOR UPDATE" if lock else ""),
        [ids],
    ).fetchall()
    back: dict[Any, Any] = dict(
        conn.execute(
            "SELECT sale_line_id, sum(quantity) FROM return_lines "
            "WHERE sale_line_id = ANY(%s) AND direction = 'return' GROUP BY sale_line_id",
            [ids],
        ).fetchall()
    )
    return {int(i): (int(q), int(back.get(i, 0))) for i, q in sold}


def _tender_refunded(
    conn: psycopg.Connection, tender_ids: Sequence[int]
) -> dict[int, tuple[int, int]]:
    ids = sorted({int(i) for i in tender_ids})
    if not ids:
        return {}
    paid = conn.execute(
        "SELECT id, amount FROM tenders WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
    ).fetchall()
    back: dict[Any, Any] = dict(
        conn.execute(
            "SELECT sale_tender_id, sum(amount) FROM refunds WHERE sale_tender_id = ANY(%s) "
            "AND amount > 0 AND beyond_original = 0 GROUP BY sale_tender_id",
            [ids],
        ).fetchall()
    )
    return {int(i): (int(a), int(back.get(i, 0))) for i, a in paid}


def over_return_problems(
    wanted: dict[int, int], seen: dict[int, tuple[int, int]]
) -> list[dict[str, Any]]:
    """The lines where ``wanted`` quantities exceed what is left to return."""
    problems = []
    for line_id, qty in sorted(wanted.items()):
        if line_id not in seen:
            problems.append(
                {"sale_line_id": line_id, "reason": "unknown_sale_line", "requested": qty}
            )
            continue
        sold, returned = seen[line_id]
        if returned + qty > sold:
            problems.append(
                {"sale_line_id": line_id, "reason": "over_return", "sold": sold,
                 "returned": returned, "requested": qty}
            )
    return problems


def receive_return(
    conn: psycopg.Connection, payload: dict[str, Any], *, store_id: int, till_no: int
) -> Answer:
    """Insert a pushed return ticket idempotently, or answer ``conflict``.

    In one transaction: lock the sale lines and tenders it returns (FOR UPDATE,
    id order), then look the uuid up (a replay gets HQ's first answer again),
    then check that nothing is returned beyond what was sold, nor refunded to a
    tender beyond what it paid (except a card credited beyond it, R05).
    """
    uuid = str(payload["uuid"])
    lines = list(payload.get("lines") or [])
    refunds = list(payload.get("refunds") or [])
    wanted: dict[int, int] = {}
    for line in lines:
        if line.get("direction", "return") == "return" and line.get("sale_line_id"):
            sid = int(line["sale_line_id"])
            wanted[sid] = wanted.get(sid, 0) + int(line["quantity"])
    wanted_tender: dict[int, int] = {}
    for r in refunds:
        if r.get("sale_tender_id") and int(r.get("amount", 0)) > 0 and not r.get(
            "beyond_original"
        ):
            tid = int(r["sale_tender_id"])
            wanted_tender[tid] = wanted_tender.get(tid, 0) + int(r["amount"])
    with conn.transaction():
        seen = returned_quantities(conn, list(wanted), lock=True)
        tenders = _tender_refunded(conn, list(wanted_tender))
        if conn.execute("SELECT 1 FROM return_tickets WHERE uuid = %s", [uuid]).fetchone():
            return Answer("ok", duplicate=True)
        prior = conn.execute(
            "SELECT answer FROM return_conflicts WHERE uuid = %s", [uuid]
        ).fetchone()
        if prior:
            return Answer("conflict", duplicate=True, problems=tuple(prior[0].get("problems", [])))
        problems = over_return_problems(wanted, seen)
        for tid, amount in sorted(wanted_tender.items()):
            paid, refunded = tenders.get(tid, (0, 0))
            if tid not in tenders:
                problems.append({"sale_tender_id": tid, "reason": "unknown_tender"})
            elif refunded + amount > paid:
                problems.append(
                    {"sale_tender_id": tid, "reason": "over_refund", "paid": paid,
                     "refunded": refunded, "requested": amount}
                )
        if problems:
            answer = Answer("conflict", problems=tuple(problems))
            from psycopg.types.json import Jsonb

            conn.execute(
                "INSERT INTO return_conflicts (uuid, store_id, till_no, payload, answer) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
                [uuid, int(payload.get("store_id", store_id)),
                 int(payload.get("till_no", till_no)), Jsonb(payload),
                 Jsonb({"result": "conflict", "problems": problems})],
            )
            return answer
        ticket = {**(payload.get("totals") or {}), **payload}  # the writer nests the totals
        ticket.setdefault("store_id", store_id)
        ticket.setdefault("till_no", till_no)
        ticket.setdefault("created_at", _now())
        row = _insert_dict(
            conn, "return_tickets", _TICKET_COLS, ticket, returning="id",
            on_conflict="ON CONFLICT (uuid) DO NOTHING",
        )
        if row is None:  # a concurrent push of the same uuid won the insert
            return Answer("ok", duplicate=True)
        ticket_id = int(row[0])
        for n, line in enumerate(lines, 1):
            line = {"line_no": n, **line, "ticket_id": ticket_id}
            _insert_dict(conn, "return_lines", ("ticket_id", *_LINE_COLS), line)
        for r in refunds:
            refund = {**r, "ticket_id": ticket_id}
            _insert_dict(conn, "refunds", ("ticket_id", *_REFUND_COLS), refund)
        for a in payload.get("approvals") or []:
            approval = {"decided_at": ticket["created_at"], **a, "ticket_id": ticket_id}
            _insert_dict(conn, "approvals", ("ticket_id", *_APPROVAL_COLS), approval)
        for g in payload.get("gift_cards") or []:
            card = {"store_id": ticket["store_id"], "till_no": ticket["till_no"],
                    "issued_at": ticket["created_at"], **g, "issued_ticket_id": ticket_id}
            card.setdefault("initial_amount", card.get("amount", 0))
            _insert_dict(
                conn, "gift_cards", ("issued_ticket_id", *_GIFT_CARD_COLS), card,
                on_conflict="ON CONFLICT (number) DO NOTHING",
            )
    return Answer("ok")


_ID_LEDGER_COLS = (
    "uuid", "id_hash", "type", "last4", "name", "amount", "created_at", "store_id", "till_no",
)


def receive_document(
    conn: psycopg.Connection, kind: str, uuid: str, payload: dict[str, Any],
    *, store_id: int, till_no: int,
) -> Answer:
    """HQ's reception of one outbox document, idempotent by uuid."""
    if kind == "return_ticket":
        return receive_return(conn, {"uuid": uuid, **payload}, store_id=store_id, till_no=till_no)
    if kind == "journal_head":  # pos_returns.journal.Journal.enqueue_head()
        raise_journal_head(
            conn, store_id=int(payload.get("store_id", store_id)),
            till_no=int(payload.get("till_no", till_no)), seq=int(payload.get("seq", 0)),
            signature=str(payload.get("signature", "")), key_id=str(payload.get("key_id", "")),
            public_key=str(payload.get("public_key", "")),
        )
        return Answer("ok")
    if kind in ("id_check", "id_ledger"):
        row = {"store_id": store_id, "till_no": till_no, "created_at": _now(), **payload,
               "uuid": uuid}
        if "type" not in row and "id_type" in row:
            row["type"] = row["id_type"]
        if "id_hash" in row:
            with conn.transaction():
                _insert_dict(conn, "id_ledger", _ID_LEDGER_COLS, row,
                             on_conflict="ON CONFLICT (uuid) DO NOTHING")
            return Answer("ok")
    from psycopg.types.json import Jsonb

    with conn.transaction():
        conn.execute(
            "INSERT INTO documents (uuid, kind, store_id, till_no, payload) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
            [uuid, kind, store_id, till_no, Jsonb(payload)],
        )
    return Answer("ok")


def raise_journal_head(
    conn: psycopg.Connection, *, store_id: int, till_no: int, seq: int, signature: str,
    key_id: str = "", public_key: str = "",
) -> bool:
    """Record the till's journal chain head; False (and an alert at HQ) when the
    till reports a head below the one HQ already knows (a truncated cache)."""
    with conn.transaction():
        known = conn.execute(
            "SELECT seq FROM journal_heads WHERE store_id = %s AND till_no = %s FOR UPDATE",
            [store_id, till_no],
        ).fetchone()
        if known and int(known[0]) > seq:
            conn.execute(
                "INSERT INTO journal_alerts (store_id, till_no, reported_seq, known_seq, "
                "signature) VALUES (%s, %s, %s, %s, %s)",
                [store_id, till_no, seq, int(known[0]), signature],
            )
            return False
        conn.execute(
            "INSERT INTO journal_heads (store_id, till_no, seq, signature, key_id, public_key) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (store_id, till_no) DO UPDATE "
            "SET seq = excluded.seq, signature = excluded.signature, "
            "key_id = CASE WHEN excluded.key_id = '' THEN journal_heads.key_id "
            "ELSE excluded.key_id END, "
            "public_key = CASE WHEN excluded.public_key = '' THEN journal_heads.public_key "
            "ELSE excluded.public_key END, updated_at = now()",
            [store_id, till_no, seq, signature, key_id, public_key],
        )
    return True
