"""HQ sync benchmark: a first full sync of 1,000,000 sales from PostgreSQL, then an
incremental sync of 1,000 new sales.

    .venv/bin/python bench/sync.py [--sales 1000000] [--incremental 1000] [--batch 20000]

Starts its own PostgreSQL 15 (as the tests do: tests/integration/pgserver.py),
builds HQ with the demo chain's reference data (stores, catalogue, staff,
customers) and ``hq feed`` sales, then syncs a fresh till cache. "rows" are all
rows pulled (sales + lines + payments + reference data), end to end: from the
call to ``run_sync`` until the cache is committed with its indexes rebuilt.

Targets (issue 7): first sync >= 100,000 rows/s (aim 250,000); incremental sync of
1,000 new sales <= 1 s. Prints each figure beside its target; exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Report
from pos_returns.cache.db import open_cache
from pos_returns.demo import hq as demo_hq
from pos_returns.hq import schema as hq_schema
from pos_returns.sync import pull as sync_pull
from pos_returns.sync.round import run_sync
from pos_returns.sync.state import Progress
from tests.helpers.pgserver import LocalPostgres


def build_hq(dsn: str, tmp: Path, sales: int, pepper: Any = None) -> None:
    """HQ with the demo chain's reference data (staff PINs under ``pepper``, the tills'
    chain pepper, when they log in or plan returns) and ``sales`` sales fed."""
    from pos_returns.demo.chain import build_demo

    ref = open_cache(tmp / "reference.sqlite")
    build_demo(ref, sales=50, seed=7, pepper=pepper)
    with hq_schema.connect(dsn, autocommit=True) as conn:
        hq_schema.create_schema(conn)
        hq_schema.load_from_cache(conn, ref)
        started = time.perf_counter()
        left = sales
        while left > 0:  # feed in slices so that PostgreSQL's temp tables stay small
            n = min(left, 250_000)
            demo_hq.feed_sales(conn, n, seed=sales - left + 1)
            left -= n
        print(f"(HQ built: {sales:,} sales fed in {time.perf_counter() - started:.1f} s)"
              .replace(",", " "), flush=True)
        conn.execute("VACUUM ANALYZE")
    ref.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--incremental", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args(argv)
    report = Report()
    with LocalPostgres() as pg, tempfile.TemporaryDirectory(prefix="bench-sync-") as tmpdir:
        tmp = Path(tmpdir)
        dsn = pg.dsn()
        build_hq(dsn, tmp, args.sales)
        db = open_cache(tmp / "till.sqlite")

        spent: dict[str, float] = {}
        clock = {"last": 0.0}

        def on_progress(p: Progress) -> None:  # time per table, rebuild apart
            now = time.perf_counter()
            spent[p.table] = spent.get(p.table, 0.0) + now - clock["last"]
            clock["last"] = now

        restore = sync_pull.restore_indexes

        def timed_restore(database, table=None):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            n = restore(database, table)
            spent["index rebuild"] = spent.get("index rebuild", 0.0) + time.perf_counter() - t0
            clock["last"] = time.perf_counter()
            return n

        sync_pull.restore_indexes = timed_restore
        started = clock["last"] = time.perf_counter()
        summary = run_sync(db, dsn, store_id=1, till_no=1, batch_size=args.batch,
                           progress=on_progress)
        first = time.perf_counter() - started
        sync_pull.restore_indexes = restore
        assert summary.online and not summary.error, summary.error
        sales = db.execute("SELECT count(*) FROM sales").fetchone()[0]
        assert sales >= args.sales, sales
        rows = summary.pulled_total
        report.info("first sync: rows pulled", rows, "rows", digits=0)
        report.info("first sync: wall time", first, "s")
        report.at_least("first sync: rows/s (end to end)", rows / first, 100_000, "rows/s")
        report.info("first sync: aim", 250_000, "rows/s", digits=0)
        report.info("first sync: sales/s", sales / first, "sales/s", digits=0)
        for name in ("sales", "sale_lines", "tenders", "index rebuild"):
            report.info(f"  of which {name}", spent.get(name, 0.0), "s")

        with hq_schema.connect(dsn, autocommit=True) as conn:
            demo_hq.feed_sales(conn, args.incremental, seed=99)
        started = time.perf_counter()
        summary = run_sync(db, dsn, store_id=1, till_no=1, batch_size=args.batch)
        incremental = time.perf_counter() - started
        assert summary.pulled.get("sales") == args.incremental, summary.pulled
        report.at_most(f"incremental sync of {args.incremental} new sales", incremental, 1.0,
                       "s", digits=3)
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        assert check == "ok", check
        db.close()
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
