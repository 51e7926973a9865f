"""HQ's PostgreSQL schema, the connection, and loading a SQLite cache into HQ.

Every replicated row carries ``txid``: the 64-bit id of the HQ transaction that
last wrote it (``DEFAULT pg_current_xact_id()`` on insert, a trigger on update).
Tills pull by ``(txid, key)`` below a snapshot fence; docs/sync.md explains why
that cursor cannot skip a row committed out of order.

psycopg (3) is imported lazily so that a till without HQ never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

#: Schema version 2 (issue 13): reservations before money moves, conflicts found
#: online or offline. Idempotent (IF NOT EXISTS), applied to version-1 HQs too.
RESERVATIONS = """
-- A till's draft return, held at HQ before any money moves (docs/sync.md).
-- uuid is the return ticket's uuid: the push of that ticket confirms it.
CREATE TABLE IF NOT EXISTS reservations (
    uuid text PRIMARY KEY,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    status text NOT NULL DEFAULT 'reserved'
        CHECK (status IN ('reserved', 'confirmed', 'released')),
    lines jsonb NOT NULL,            -- [[sale_line_id, qty, amount], ...] as asked
    tenders jsonb NOT NULL,          -- [[tender_id, amount, beyond_original], ...]
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,          -- confirmed (ticket pushed) or released
    settled_by text NOT NULL DEFAULT ''  -- 'push', 'till' (never committed), 'hq'
);
CREATE INDEX IF NOT EXISTS reservations_open ON reservations (created_at)
    WHERE status = 'reserved';
-- The holds of the open reservations only: deleted when the reservation is
-- confirmed (the ticket's return_lines count from then on) or released.
CREATE TABLE IF NOT EXISTS reservation_lines (
    uuid text NOT NULL REFERENCES reservations(uuid),
    sale_line_id bigint NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    amount bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (uuid, sale_line_id)
);
CREATE INDEX IF NOT EXISTS reservation_lines_line ON reservation_lines (sale_line_id);
CREATE TABLE IF NOT EXISTS reservation_tenders (
    uuid text NOT NULL REFERENCES reservations(uuid),
    sale_tender_id bigint NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    beyond_original integer NOT NULL DEFAULT 0,
    PRIMARY KEY (uuid, sale_tender_id, beyond_original)
);
CREATE INDEX IF NOT EXISTS reservation_tenders_tender ON reservation_tenders (sale_tender_id);
-- Conflicts say whether the till asked online (a reservation refused) or HQ
-- found them at push time for a return made offline.
ALTER TABLE return_conflicts ADD COLUMN IF NOT EXISTS found text NOT NULL DEFAULT 'offline';
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


SCHEMA_VERSION = "2"

#: Issue 12: the chain heads anchored at HQ, and the alerts that stay until a manager
#: resolves them. Created by every ``create_schema`` (an HQ of schema 1 gets them too).
ANCHORS_DDL = """
CREATE TABLE IF NOT EXISTS journal_anchors (
    id bigserial PRIMARY KEY,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    seq bigint NOT NULL,
    record_hash text NOT NULL,        -- SHA-256 of the till's record no. seq
    signature text NOT NULL,
    fingerprint text NOT NULL,        -- the till's pinned journal key
    rebased boolean NOT NULL DEFAULT false,  -- a manager accepted it after an alert
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS journal_anchors_till ON journal_anchors (store_id, till_no, id);
CREATE TABLE IF NOT EXISTS journal_anchor_alerts (
    id bigserial PRIMARY KEY,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    kind text NOT NULL,               -- 'rollback', 'fork', 'key'
    anchored_seq bigint NOT NULL,
    anchored_hash text NOT NULL,
    reported_seq bigint NOT NULL,
    reported_hash text NOT NULL,
    reported_fingerprint text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by integer,
    resolution text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS journal_anchor_alerts_open ON journal_anchor_alerts (store_id, till_no)
    WHERE resolved_at IS NULL;
"""


def connect(
    dsn: str, *, timeout: float = 5, autocommit: bool = False,
    statement_timeout: float | None = None,
) -> psycopg.Connection:
    """A connection to HQ. ``timeout`` bounds the connection (libpq's
    ``connect_timeout``, whole seconds, at least 1); ``statement_timeout``
    (seconds) bounds every statement at the server, lock waits included."""
    import psycopg

    kwargs: dict[str, object] = {}
    if statement_timeout:
        ms = max(1, int(statement_timeout * 1000))
        kwargs["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    return psycopg.connect(
        dsn, connect_timeout=max(1, int(timeout)), autocommit=autocommit, **kwargs
    )


def create_schema(conn: psycopg.Connection) -> bool:
    """Create the HQ schema if it is not there yet; True when it was created."""
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass('hq_meta') IS NOT NULL").fetchone()
        if exists and exists[0]:
            version = conn.execute(
                "SELECT value FROM hq_meta WHERE key = 'schema_version'").fetchone()
            if version and version[0] != SCHEMA_VERSION:  # an HQ of version 1
                conn.execute(RESERVATIONS)
                conn.execute("UPDATE hq_meta SET value = %s WHERE key = 'schema_version'",
                             [SCHEMA_VERSION])
            conn.execute(ANCHORS_DDL)
            return False
        conn.execute(ANCHORS_DDL)
        conn.execute(SCHEMA)
        conn.execute(RESERVATIONS)
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


def init_hq(dsn: str) -> None:
    """``hq init``: create HQ's schema (does nothing when it is there)."""
    with connect(dsn) as conn:
        create_schema(conn)
