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

#: Schema version 3: the reservation's checks and writes as server-side functions
#: (one round trip per reservation; docs/sync.md "Speed of a return at HQ").
#: ``CREATE OR REPLACE``: applied to version-1 and version-2 HQs too.
FUNCTIONS = r"""
-- Lock the sale lines (id order), then every tender of the sales of the asked
-- tenders (id order), and check the asked lines and tenders against everything
-- pushed and every open reservation but p_uuid's own. Each check reads its sums
-- in a statement that starts AFTER the locks are held (READ COMMITTED: a fresh
-- snapshot per statement), so it sees whatever the previous lock holder
-- committed. Returns {"problems": [...], "earlier": [...]} (where and when).
CREATE OR REPLACE FUNCTION hq_check_return(
    p_uuid text, p_line_ids bigint[], p_qtys bigint[], p_amounts bigint[],
    p_tender_ids bigint[], p_tender_amounts bigint[], p_tender_beyond integer[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    problems jsonb := '[]';
    earlier jsonb := '[]';
    problem_lines bigint[] := '{}';
    r record;
    tstate jsonb;
    ts jsonb;
    tid bigint;
    amt bigint;
    asked_ids bigint[] := '{}';
    asked_amts bigint[] := '{}';
    beyond bigint[] := '{}';
    pos integer;
    sid bigint;
    s_paid bigint;
    s_refunded bigint;
    s_want bigint;
BEGIN
    PERFORM 1 FROM sale_lines l WHERE l.id = ANY(p_line_ids) ORDER BY l.id FOR UPDATE OF l;
    FOR r IN
        SELECT w.id, w.q, w.a, l.quantity AS sold, l.unit_price,
            COALESCE((SELECT sum(x.quantity) FROM return_lines x WHERE x.sale_line_id = w.id
                      AND x.direction = 'return'), 0)::bigint AS returned,
            COALESCE((SELECT -sum(x.amount) FROM return_lines x WHERE x.sale_line_id = w.id
                      AND x.direction = 'return'), 0)::bigint AS refunded,
            COALESCE((SELECT sum(v.quantity) FROM reservation_lines v
                      WHERE v.sale_line_id = w.id AND v.uuid <> p_uuid), 0)::bigint AS reserved,
            COALESCE((SELECT sum(v.amount) FROM reservation_lines v
                      WHERE v.sale_line_id = w.id AND v.uuid <> p_uuid), 0)::bigint
                AS reserved_amount
        FROM unnest(p_line_ids, p_qtys, p_amounts) AS w(id, q, a)
        LEFT JOIN sale_lines l ON l.id = w.id
        ORDER BY w.id
    LOOP
        IF r.sold IS NULL THEN
            problems := problems || jsonb_build_array(jsonb_build_object(
                'sale_line_id', r.id, 'reason', 'unknown_sale_line', 'requested', r.q));
            problem_lines := problem_lines || r.id;
        ELSIF r.returned + r.reserved + r.q > r.sold THEN
            problems := problems || jsonb_build_array(jsonb_build_object(
                'sale_line_id', r.id, 'reason', 'over_return', 'sold', r.sold,
                'returned', r.returned, 'reserved', r.reserved, 'requested', r.q));
            problem_lines := problem_lines || r.id;
        ELSIF r.refunded + r.reserved_amount + r.a > r.sold * r.unit_price THEN
            problems := problems || jsonb_build_array(jsonb_build_object(
                'sale_line_id', r.id, 'reason', 'over_refund_line',
                'paid', r.sold * r.unit_price, 'refunded', r.refunded + r.reserved_amount,
                'requested', r.a));
            problem_lines := problem_lines || r.id;
        END IF;
    END LOOP;

    IF COALESCE(array_length(p_tender_ids, 1), 0) > 0 THEN
        PERFORM 1 FROM tenders t
            WHERE t.sale_id IN (SELECT sale_id FROM tenders WHERE id = ANY(p_tender_ids))
            ORDER BY t.id FOR UPDATE OF t;
        SELECT COALESCE(jsonb_object_agg(t.id::text, jsonb_build_object(
                   'sale', t.sale_id, 'kind', t.kind, 'paid', t.amount, 'refunded',
                   COALESCE((SELECT sum(f.amount) FROM refunds f
                             WHERE f.sale_tender_id = t.id), 0)
                   + COALESCE((SELECT sum(v.amount) FROM reservation_tenders v
                               WHERE v.sale_tender_id = t.id AND v.uuid <> p_uuid), 0))),
                   '{}')
            INTO tstate
            FROM tenders t
            WHERE t.sale_id IN (SELECT sale_id FROM tenders WHERE id = ANY(p_tender_ids));
        -- per asked tender, in the order asked: the till's ticket writer's checks
        -- (usecases/tickets._recheck, R05), not a looser copy
        FOR i IN 1 .. array_length(p_tender_ids, 1) LOOP
            tid := p_tender_ids[i];
            amt := p_tender_amounts[i];
            ts := tstate -> tid::text;
            IF ts IS NULL THEN
                problems := problems || jsonb_build_array(jsonb_build_object(
                    'sale_tender_id', tid, 'reason', 'unknown_tender'));
                CONTINUE;
            END IF;
            pos := array_position(asked_ids, tid);
            IF pos IS NULL THEN
                asked_ids := asked_ids || tid;
                asked_amts := asked_amts || amt;
            ELSE
                asked_amts[pos] := asked_amts[pos] + amt;
            END IF;
            IF p_tender_beyond[i] <> 0 THEN
                IF ts ->> 'kind' <> 'card' OR NOT EXISTS (
                        SELECT 1 FROM jsonb_each(tstate) e
                        WHERE e.value -> 'sale' = ts -> 'sale'
                          AND e.value ->> 'kind' IN ('gift_card', 'notes')) THEN
                    problems := problems || jsonb_build_array(jsonb_build_object(
                        'sale_tender_id', tid, 'reason', 'beyond_original_refused'));
                    CONTINUE;
                END IF;
                beyond := beyond || tid;
            END IF;
        END LOOP;
        FOR tid, amt IN SELECT a.id, a.amt FROM unnest(asked_ids, asked_amts) AS a(id, amt)
                        ORDER BY a.id LOOP
            ts := tstate -> tid::text;
            IF NOT tid = ANY(beyond)
               AND (ts ->> 'refunded')::bigint + amt > (ts ->> 'paid')::bigint THEN
                problems := problems || jsonb_build_array(jsonb_build_object(
                    'sale_tender_id', tid, 'reason', 'over_refund',
                    'paid', (ts ->> 'paid')::bigint, 'refunded', (ts ->> 'refunded')::bigint,
                    'requested', amt));
            END IF;
        END LOOP;
        FOR sid IN SELECT DISTINCT (tstate -> a.id::text ->> 'sale')::bigint
                   FROM unnest(asked_ids) AS a(id) ORDER BY 1 LOOP
            SELECT COALESCE(sum((e.value ->> 'paid')::bigint), 0),
                   COALESCE(sum((e.value ->> 'refunded')::bigint), 0)
                INTO s_paid, s_refunded
                FROM jsonb_each(tstate) e WHERE (e.value ->> 'sale')::bigint = sid;
            SELECT COALESCE(sum(a.amt), 0) INTO s_want
                FROM unnest(asked_ids, asked_amts) AS a(id, amt)
                WHERE (tstate -> a.id::text ->> 'sale')::bigint = sid;
            IF s_refunded + s_want > s_paid THEN
                problems := problems || jsonb_build_array(jsonb_build_object(
                    'sale_id', sid, 'reason', 'over_refund_sale', 'paid', s_paid,
                    'refunded', s_refunded, 'requested', s_want));
            END IF;
        END LOOP;
    END IF;

    IF COALESCE(array_length(problem_lines, 1), 0) > 0 THEN
        SELECT COALESCE(jsonb_agg(x.o ORDER BY x.n), '[]') INTO earlier FROM (
            SELECT row_number() OVER (ORDER BY s.created_at) AS n, s.o FROM (
                SELECT t.created_at, jsonb_build_object(
                    'sale_line_id', rl.sale_line_id, 'state', 'returned',
                    'store_id', t.store_id, 'till_no', t.till_no, 'number', t.number,
                    'at', t.created_at, 'quantity', rl.quantity) AS o
                FROM return_lines rl JOIN return_tickets t ON t.id = rl.ticket_id
                WHERE rl.sale_line_id = ANY(problem_lines) AND rl.direction = 'return'
                ORDER BY t.created_at LIMIT 20) s) x;
        earlier := earlier || (
            SELECT COALESCE(jsonb_agg(x.o ORDER BY x.n), '[]') FROM (
                SELECT row_number() OVER (ORDER BY s.created_at) AS n, s.o FROM (
                    SELECT rv.created_at, jsonb_build_object(
                        'sale_line_id', rl.sale_line_id, 'state', 'reserved',
                        'store_id', rv.store_id, 'till_no', rv.till_no, 'number', NULL,
                        'at', to_char(rv.created_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                        'quantity', rl.quantity) AS o
                    FROM reservation_lines rl JOIN reservations rv ON rv.uuid = rl.uuid
                    WHERE rl.sale_line_id = ANY(problem_lines) AND rl.uuid <> p_uuid
                    ORDER BY rv.created_at LIMIT 20) s) x);
    END IF;
    RETURN jsonb_build_object('problems', problems, 'earlier', earlier);
END $$;

-- A till's reservation, whole: the checks above, then the uuid looked up again
-- under the locks (idempotent), then the hold written. One call, one round trip.
-- The hold does not wait for its WAL flush (synchronous_commit off for this
-- transaction only): the ticket's push, which confirms it, is durable.
CREATE OR REPLACE FUNCTION hq_reserve(
    p_uuid text, p_store integer, p_till integer,
    p_line_ids bigint[], p_qtys bigint[], p_amounts bigint[],
    p_tender_ids bigint[], p_tender_amounts bigint[], p_tender_beyond integer[],
    p_hold_ids bigint[], p_hold_amounts bigint[], p_hold_beyond integer[],
    p_lines jsonb, p_tenders jsonb
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    checked jsonb;
    st text;
    n integer;
BEGIN
    checked := hq_check_return(p_uuid, p_line_ids, p_qtys, p_amounts,
                               p_tender_ids, p_tender_amounts, p_tender_beyond);
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT status INTO st FROM reservations WHERE uuid = p_uuid;
    IF st = 'released' THEN
        RETURN jsonb_build_object('result', 'conflict', 'duplicate', true,
                                  'problems', '[{"reason": "released"}]'::jsonb,
                                  'earlier', '[]'::jsonb);
    END IF;
    IF st IS NOT NULL OR EXISTS (SELECT 1 FROM return_tickets WHERE uuid = p_uuid) THEN
        RETURN jsonb_build_object('result', 'reserved', 'duplicate', true);
    END IF;
    IF jsonb_array_length(checked -> 'problems') > 0 THEN
        RETURN jsonb_build_object('result', 'conflict', 'duplicate', false,
                                  'problems', checked -> 'problems',
                                  'earlier', checked -> 'earlier');
    END IF;
    INSERT INTO reservations (uuid, store_id, till_no, lines, tenders)
        VALUES (p_uuid, p_store, p_till, p_lines, p_tenders) ON CONFLICT (uuid) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN  -- the same uuid reserved concurrently
        RETURN jsonb_build_object('result', 'reserved', 'duplicate', true);
    END IF;
    INSERT INTO reservation_lines (uuid, sale_line_id, quantity, amount)
        SELECT p_uuid, x.id, x.q, x.a FROM unnest(p_line_ids, p_qtys, p_amounts) AS x(id, q, a);
    INSERT INTO reservation_tenders (uuid, sale_tender_id, amount, beyond_original)
        SELECT p_uuid, y.id, y.a, y.b
        FROM unnest(p_hold_ids, p_hold_amounts, p_hold_beyond) AS y(id, a, b);
    RETURN jsonb_build_object('result', 'reserved', 'duplicate', false);
END $$;
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


SCHEMA_VERSION = "4"

#: Issue 12: PINs across the chain. ``staff.seal`` (the till's HMAC over the account,
#: pos_returns.journal.pins), every wrong PIN, lockout, reset and unlock reported by a
#: till (``staff_pin_events``, idempotent by uuid), and the chain's count per staff
#: member (``staff_pin_state``, pulled by every till). Created by every
#: ``create_schema`` (an HQ of an older schema gets them too).
PINS_DDL = f"""
ALTER TABLE staff ADD COLUMN IF NOT EXISTS seal text NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS staff_pin_events (
    uuid text PRIMARY KEY,
    staff_id integer NOT NULL,
    store_id integer NOT NULL,
    till_no integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('failed', 'lockout', 'ok', 'unlock')),
    at text NOT NULL,                 -- the till's UTC time "YYYY-MM-DDTHH:MM:SSZ"
    received_at timestamptz NOT NULL DEFAULT now(),
    refused text NOT NULL DEFAULT ''  -- 'unsigned': a lifting event no anchored till signed
);
ALTER TABLE staff_pin_events ADD COLUMN IF NOT EXISTS refused text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS staff_pin_events_staff ON staff_pin_events (staff_id, received_at);
CREATE TABLE IF NOT EXISTS staff_pin_state (
    staff_id integer PRIMARY KEY,
    failed integer NOT NULL DEFAULT 0,    -- wrong PINs in a row, at any till
    locked_until text NOT NULL DEFAULT '',  -- UTC "YYYY-MM-DDTHH:MM:SSZ"; '' = not locked
    updated_at text NOT NULL DEFAULT '',
    unlocked_at text NOT NULL DEFAULT '',   -- a manager's last unlock, at any till
    {TXID}
);
ALTER TABLE staff_pin_state ADD COLUMN IF NOT EXISTS unlocked_at text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS staff_pin_state_pull ON staff_pin_state (txid, staff_id);
CREATE OR REPLACE TRIGGER staff_pin_state_txid BEFORE UPDATE ON staff_pin_state
    FOR EACH ROW EXECUTE FUNCTION hq_touch_txid();

-- One till's report: counted once (by uuid), under the staff member's row lock, so
-- wrong PINs typed at two tills at once both count.
CREATE OR REPLACE FUNCTION hq_pin_event(
    p_uuid text, p_staff integer, p_store integer, p_till integer, p_kind text, p_at text,
    p_locked_until text, p_max integer, p_minutes integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st staff_pin_state%ROWTYPE;
    now_text text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    lock_text text := to_char((now() + make_interval(mins => p_minutes)) AT TIME ZONE 'UTC',
                              'YYYY-MM-DD"T"HH24:MI:SS"Z"');
BEGIN
    INSERT INTO staff_pin_events (uuid, staff_id, store_id, till_no, kind, at)
        VALUES (p_uuid, p_staff, p_store, p_till, p_kind, p_at) ON CONFLICT (uuid) DO NOTHING;
    IF NOT FOUND THEN
        RETURN;  -- already counted
    END IF;
    INSERT INTO staff_pin_state (staff_id) VALUES (p_staff) ON CONFLICT (staff_id) DO NOTHING;
    SELECT * INTO st FROM staff_pin_state WHERE staff_id = p_staff FOR UPDATE;
    IF p_kind = 'unlock' THEN
        st.failed := 0;
        st.locked_until := '';
        st.unlocked_at := now_text;
    ELSIF p_kind = 'ok' THEN
        IF st.locked_until <= now_text THEN
            st.failed := 0;
        END IF;
    ELSE
        IF p_kind = 'failed' THEN
            st.failed := st.failed + 1;
        END IF;
        IF p_kind = 'lockout' OR st.failed >= p_max THEN
            st.failed := 0;
            st.locked_until := greatest(st.locked_until, lock_text);  -- HQ's time only
        END IF;
    END IF;
    UPDATE staff_pin_state SET failed = st.failed, locked_until = st.locked_until,
        unlocked_at = st.unlocked_at, updated_at = now_text WHERE staff_id = p_staff;
END $$;
"""

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
            if version and version[0] != SCHEMA_VERSION:  # an HQ of an older version
                conn.execute(RESERVATIONS)
                conn.execute(FUNCTIONS)
                conn.execute("UPDATE hq_meta SET value = %s WHERE key = 'schema_version'",
                             [SCHEMA_VERSION])
            conn.execute(ANCHORS_DDL)
            conn.execute(PINS_DDL)
            return False
        conn.execute(ANCHORS_DDL)
        conn.execute(SCHEMA)
        conn.execute(RESERVATIONS)
        conn.execute(FUNCTIONS)
        conn.execute(_replication_ddl())
        conn.execute(PINS_DDL)
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

