"""Bench: demo generation speed and every lookup path on a 1,000,000-sale cache.

    python bench/lookup.py [--sales 1000000] [--seed 1] [--dir DIR] [--reuse] [--queries 3000]

Targets (issue 2):
- demo generation writes >= 250,000 rows/s (every table counted, index rebuild included);
- receipt-number lookup (scanned or typed) returning the sale with its lines, tenders
  and refundable quantities: p99 <= 2 ms (the web order number lookup too);
- card last 4 + one-year range, customer (name / phone / e-mail) and SKU + three-month
  range searches, each returning up to 50 complete sales newest first: p99 <= 20 ms.

The queries are real ones picked from the cache (seeded): receipts of real sales,
last 4 digits of real cards around the day they were used, real customers' names
(both orders), phones (spaced, +33) and e-mails (capitals), real articles (SKU or
EAN) around a day they sold. A short warm-up runs first, as on a till that has been
open for a while. Each figure is printed beside its target; exit code 1 on a miss.
"""

from __future__ import annotations

import os
import random
import resource
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, cache_parser, percentile, print_load, time_calls

from pos_returns.cache import lookup
from pos_returns.cache.db import connect, get_meta, open_cache
from pos_returns.demo.chain import build_demo
from pos_returns.engine.codes import parse_receipt
from pos_returns.i18n import to_local

GEN_TARGET = 250_000
RECEIPT_P99_MS = 2.0
SEARCH_P99_MS = 20.0


def build(path: Path, sales: int, seed: int, reuse: bool, report: Report) -> None:
    if reuse and path.exists():
        db = connect(path, create=False)
        try:
            built = get_meta(db, "demo_sales")
        finally:
            db.close()
        if built == str(sales):
            print(f"Reusing {path} ({sales:,} sales); generation not measured.".replace(",", " "))
            return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_cache(path)
    try:
        def progress(done: int, total: int) -> None:
            if sys.stdout.isatty():
                print(f"\r  generating… {100 * done // max(total, 1):3d} %", end="", flush=True)

        cpu0 = _cpu_seconds()
        stats = build_demo(db, sales=sales, seed=seed, progress=progress)
        cpu = _cpu_seconds() - cpu0
        print()
    finally:
        db.close()
    print(f"Built {path}: {stats.sales:,} sales, {stats.sale_lines:,} lines, "
          f"{stats.tenders:,} tenders, {stats.customers:,} customers, {stats.rows:,} rows "
          f"in {stats.seconds:.1f} s".replace(",", " "))
    report.at_least("demo generation", stats.rows_per_second, GEN_TARGET, "rows/s")
    # The same build in CPU time (this process, its generator processes and threads),
    # a figure that does not depend on what else the machine is doing.
    cpus = os.cpu_count() or 1
    report.info("  CPU per row, all processes", cpu / stats.rows * 1e6, "µs")
    report.info(f"  rows/s if {cpus} CPUs were free", stats.rows / (cpu / cpus), "rows/s",
                digits=0)


def _cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def local_day(sold_at: str) -> date:
    return to_local(sold_at).date()


def sample_queries(db, n: int, seed: int) -> dict[str, list]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    conn = db.conn
    max_sale = conn.execute("SELECT MAX(id) FROM sales").fetchone()[0]
    max_tender = conn.execute("SELECT MAX(id) FROM tenders").fetchone()[0]
    max_line = conn.execute("SELECT MAX(id) FROM sale_lines").fetchone()[0]
    max_cust = conn.execute("SELECT MAX(id) FROM customers").fetchone()[0]

    receipts: list[str] = []
    orders: list[str] = []
    while len(receipts) < n or len(orders) < n // 4:
        row = conn.execute("SELECT receipt_number, order_number FROM sales WHERE id = ?",
                           [rng.randint(1, max_sale)]).fetchone()
        if row[0] and len(receipts) < n:
            r = parse_receipt(row[0])
            receipts.append(r.barcode_content if rng.random() < 0.7 else r.display)
        elif row[1] and len(orders) < n // 4:
            orders.append(row[1].lower() if rng.random() < 0.2 else row[1])

    cards: list[tuple[str, date, date]] = []
    while len(cards) < n:
        row = conn.execute(
            "SELECT t.card_last4, s.sold_at FROM tenders t JOIN sales s ON s.id = t.sale_id "
            "WHERE t.id = ? AND t.kind = 'card'", [rng.randint(1, max_tender)]).fetchone()
        if row:
            day = local_day(row[1]) + timedelta(days=rng.randint(-180, 180))
            cards.append((row[0], day - timedelta(days=182), day + timedelta(days=182)))

    customers: list[str] = []
    while len(customers) < n:
        row = conn.execute("SELECT first_name, last_name, phone, email FROM customers "
                           "WHERE id = ?", [rng.randint(1, max_cust)]).fetchone()
        first, last, phone, email = row
        kind = rng.random()
        if kind < 0.5:
            customers.append(f"{last} {first}" if rng.random() < 0.5 else f"{first} {last}")
        elif kind < 0.75 and phone:
            spaced = " ".join(phone[i:i + 2] for i in range(0, 10, 2))
            customers.append(spaced if rng.random() < 0.5 else "+33 " + spaced[1:])
        elif email:
            customers.append(email.upper() if rng.random() < 0.3 else email)

    skus: list[tuple[str, date, date]] = []
    while len(skus) < n:
        row = conn.execute(
            "SELECT l.sku, p.ean, l.sold_at FROM sale_lines l JOIN products p ON p.sku = l.sku "
            "WHERE l.id = ?", [rng.randint(1, max_line)]).fetchone()
        day = local_day(row[2]) + timedelta(days=rng.randint(-45, 45))
        code = row[1] if rng.random() < 0.5 else row[0]
        skus.append((code, day - timedelta(days=45), day + timedelta(days=45)))
    return {"receipt": receipts, "order": orders, "card": cards, "customer": customers,
            "sku": skus}


def main(argv: list[str] | None = None) -> int:
    parser = cache_parser(__doc__.split("\n")[0])
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the cache of an earlier run with the same --sales")
    parser.add_argument("--queries", type=int, default=3000)
    args = parser.parse_args(argv)

    report = Report()
    print_load()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"bench-{args.sales}.sqlite"
    build(path, args.sales, args.seed, args.reuse, report)

    db = connect(path, create=False)  # a fresh connection, as the till opens it
    queries = sample_queries(db, args.queries, seed=args.seed + 1)

    paths = {
        "receipt": (lambda q: lookup.find_by_code(db, q), RECEIPT_P99_MS),
        "order": (lambda q: lookup.find_by_code(db, q), RECEIPT_P99_MS),
        "card": (lambda q: lookup.search_by_card(db, q[0], q[1], q[2]), SEARCH_P99_MS),
        "customer": (lambda q: lookup.search_by_customer(db, q), SEARCH_P99_MS),
        "sku": (lambda q: lookup.search_by_sku(db, q[0], q[1], q[2]), SEARCH_P99_MS),
    }
    labels = {"receipt": "receipt lookup", "order": "web order lookup",
              "card": "card last4 + 1 year", "customer": "customer name/phone/e-mail",
              "sku": "SKU/EAN + 3 months"}
    for name, (fn, _target) in paths.items():  # warm-up
        time_calls(fn, queries[name][: max(50, len(queries[name]) // 10)])
    for name, (fn, target) in paths.items():
        results = [len(r) if isinstance(r, list) else 1 for r in map(fn, queries[name][:200])]
        timings = time_calls(fn, queries[name])
        report.info(f"{labels[name]} p50", percentile(timings, 50), "ms")
        report.at_most(f"{labels[name]} p99", percentile(timings, 99), target, "ms")
        print(f"  ({len(timings)} queries; {sum(results) / len(results):.1f} sales found "
              "per query on average)")
    db.close()
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
