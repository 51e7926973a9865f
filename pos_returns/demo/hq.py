"""The demo chain at HQ: ``hq init --demo`` (the demo chain built in a temporary
SQLite cache and copied into HQ) and ``hq feed`` (new sales, as the chain's other
tills and the website would ring them up)."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pos_returns.cache.db import open_cache
from pos_returns.demo.chain import build_demo
from pos_returns.errors import Conflict, InvalidInput
from pos_returns.hq.schema import connect, create_schema, load_from_cache
from pos_returns.i18n import _
from pos_returns.journal.pins import Pepper

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

def init_demo_hq(dsn: str, *, sales: int = 2000, seed: int = 1,
                 pepper: Pepper | None = None) -> dict[str, int]:
    """``hq init --demo``: the schema, and the demo chain built by the demo generator
    in a temporary SQLite cache and copied into HQ (an empty HQ only). The staff's
    PINs are hashed and sealed with ``pepper``, the chain's PIN pepper (the one the
    demo tills hold)."""
    with connect(dsn) as conn:
        create_schema(conn)
        if conn.execute("SELECT EXISTS (SELECT 1 FROM stores)").fetchone() == (True,):
            raise Conflict(
                _("HQ already holds a chain: the demo chain goes into an empty database."),
                code="hq_not_empty",
            )
        with tempfile.TemporaryDirectory(prefix="alamara-hq-demo-") as tmp:
            cache = open_cache(Path(tmp) / "demo.sqlite")
            try:
                build_demo(cache, sales=sales, seed=seed, pepper=pepper)
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


_FEED_NEW_SQL = """
CREATE TEMP TABLE feed_new ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('sales', 'id')) AS id,
       nextval('feed_seq') - 1 AS k,
       1 + floor(random() * 4)::int AS nlines,
       random() < %(web)s AS web,
       random() < 0.2 AS split,
       CASE WHEN %(ncust)s > 0 AND random() < 0.5
            THEN 1 + floor(random() * %(ncust)s)::bigint END AS cust_rank
FROM generate_series(1, %(n)s)
"""

_FEED_LINES_SQL = """
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
"""

_FEED_SALES_SQL = """
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
"""

_FEED_TENDERS_SQL = """
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
            raise InvalidInput(_("HQ has no stores or products yet: run “hq init --demo” first."))
        ncust = conn.execute("SELECT count(*) FROM customers").fetchone()
        ncustomers = int(ncust[0]) if ncust else 0
        ntills = len(stores) * 10
        conn.execute("DROP TABLE IF EXISTS feed_new; DROP TABLE IF EXISTS feed_lines")
        conn.execute(
            _FEED_NEW_SQL,
            {"n": n, "web": web_share, "ncust": ncustomers},
        )
        conn.execute(
            _FEED_LINES_SQL,
            {"nprod": int(nprod[0])},
        )
        # k numbers the feed's sales: till = k % ntills, then day and sequence of that
        # till, so every receipt number is new (and its check digits right).
        conn.execute(
            _FEED_SALES_SQL,
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
            _FEED_TENDERS_SQL
        )
        ntenders = cur.rowcount
        bounds = conn.execute("SELECT min(id), max(id) FROM feed_new").fetchone()
    first, last = (int(bounds[0]), int(bounds[1])) if bounds and bounds[0] is not None else (0, 0)
    return FeedResult(n, nlines, ntenders, first, last)
