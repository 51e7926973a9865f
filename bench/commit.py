"""Bench: committing return tickets and verifying the fiscal journal on a big cache.

    python bench/commit.py [--sales 1000000] [--seed 1] [--dir DIR] [--commits 1000]
                           [--journal 60000]

Targets (issue 3):
- commit of a 3-line return (re-check under the write lock, the plan decided
  again by the engine and compared (issue 12), gap-free number,
  ticket + lines + refunds, signed journal record, outbox document) with
  ``synchronous=FULL``: p99 <= 20 ms;
- ``journal verify`` (the default, fast mode: every link + the head's signature)
  >= 20,000 records/s. The full mode (every Ed25519 signature checked) is printed
  for information.

The cache is the demo chain (``pos_returns.demo.chain.build_demo``) with ``--sales``
sales, kept in ``--dir`` and reused when it was built with the same count (the
cache of ``bench/lookup.py`` is copied when it is there). Returns are committed
against real sales picked at random (three lines each), then the journal is
grown to ``--journal`` records with realistic ticket-sized records before it is
verified. Each figure is printed beside its target; exit code 1 on a miss.
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, cache_parser, percentile

from pos_returns.cache.db import atomic, connect, get_meta, open_cache
from pos_returns.cache.lookup import get_sale
from pos_returns.config import TillConfig
from pos_returns.demo.chain import build_demo, demo_pepper, reseal_demo_staff
from pos_returns.demo.returns import direct_plan
from pos_returns.journal.chain import Journal
from pos_returns.journal.head import reset_head
from pos_returns.journal.keys import load_signer
from pos_returns.journal.verify import verify
from pos_returns.usecases import tickets

COMMIT_P99_MS = 20.0
VERIFY_RATE = 20_000


def _built_with(path: Path) -> str:
    db = connect(path, create=False)
    try:
        return get_meta(db, "demo_sales")
    finally:
        db.close()


def prepare(path: Path, sales: int, seed: int) -> None:
    if path.exists() and _built_with(path) == str(sales):
        print(f"Reusing {path} ({sales:,} sales).".replace(",", " "))
        return
    lookup_cache = path.parent / f"bench-{sales}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if lookup_cache.exists() and _built_with(lookup_cache) == str(sales):
        src = connect(lookup_cache, create=False)
        try:
            src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            src.close()
        shutil.copyfile(lookup_cache, path)
        print(f"Copied {lookup_cache} to {path}.")
        open_cache(path).close()  # apply any newer migration (the journal's tables)
        return
    db = open_cache(path)
    try:
        stats = build_demo(db, sales=sales, seed=seed)
    finally:
        db.close()
    print(f"Built {path}: {stats.sales:,} sales in {stats.seconds:.1f} s".replace(",", " "))


def pick_sales(db, n: int, seed: int) -> list[tuple[int, list[int]]]:  # type: ignore[no-untyped-def]
    """``n`` sales with at least three lines that can still come back, at random."""
    rng = random.Random(seed)
    max_id = db.execute("SELECT MAX(id) FROM sales").fetchone()[0]
    picked: list[tuple[int, list[int]]] = []
    seen: set[int] = set()
    while len(picked) < n:
        sale_id = rng.randint(1, max_id)
        if sale_id in seen:
            continue
        seen.add(sale_id)
        sale = get_sale(db, sale_id)
        # fine jewelry needs the customer's signature on screen (R14), gift cards are
        # never returned (R09): not in this bench
        lines = [line.id for line in sale.lines if line.refundable_qty > 0
                 and str(line.department) not in ("jewelry", "gift_cards")]
        if len(lines) >= 3:
            picked.append((sale_id, lines[:3]))
    return picked


def grow_journal(db, journal: Journal, target: int) -> None:  # type: ignore[no-untyped-def]
    """Append ticket-sized records (a ~1 KB payload) until the chain has ``target``."""
    have = db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    rng = random.Random(7)
    payload_lines = [
        {"line_no": i, "sku": f"SKU-{rng.randrange(10**6):06d}", "quantity": 1,
         "amount": -rng.randrange(1000, 50000), "vat_rate_bp": 2000, "sale_line_id": i * 7}
        for i in range(1, 4)
    ]
    batch = 5000
    while have < target:
        with atomic(db):
            for _ in range(min(batch, target - have)):
                journal.append("sync", {"lines": payload_lines, "note": "bench record " * 20})
                have += 1


def main() -> int:
    parser = cache_parser(__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--journal", type=int, default=60_000,
                        help="records in the journal when it is verified")
    args = parser.parse_args()
    report = Report()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"commit-{args.sales}.sqlite"
    prepare(path, args.sales, args.seed)

    db = open_cache(path)  # a cache of an older version gets its migrations
    sync = db.execute("PRAGMA synchronous").fetchone()[0]
    print(f"synchronous = {sync} (2 = FULL), journal_mode = "
          f"{db.execute('PRAGMA journal_mode').fetchone()[0]}")
    # the bench till (store 1, till 99) keeps its key beside the cache
    store_id = db.execute("SELECT MIN(id) FROM stores").fetchone()[0]
    cfg = TillConfig(store_id=store_id, till_no=99, cache_path=path,
                     key_path=args.dir / "keys" / "bench-journal.pem")
    signer = load_signer(cfg.key_path)
    # the bench till's cache is rebuilt or reused at will: its head beside the keys is
    # this cache's (as `pos-returns demo` does for a demo chain)
    reset_head(db, cfg.key_path, signer, cfg.store_id, cfg.till_no)
    with atomic(db):  # the bench's chain is a demo chain: its staff under its pepper
        reseal_demo_staff(db, demo_pepper(cfg.key_path))
    journal = Journal.for_config(db, cfg)
    staff_id = db.execute("SELECT MIN(id) FROM staff WHERE store_id = ?",
                          [store_id]).fetchone()[0]
    warmup = 30
    # the engine's plans (the writer commits nothing else), without those that wait for
    # a manager (cash above the ceiling, a second card)
    plans = []
    for s, lines in pick_sales(db, 2 * (args.commits + warmup), args.seed):
        plan = direct_plan(db, sale_id=s, picks=[(line, 1) for line in lines],
                           store_id=store_id, till_no=cfg.till_no, staff_id=staff_id, cfg=cfg)
        if not plan.blocked:
            plans.append(plan)
        if len(plans) == args.commits + warmup:
            break
    durations = []
    clock = time.perf_counter
    for i, plan in enumerate(plans):
        t0 = clock()
        tickets.commit_plan(db, cfg, plan, journal=journal)
        if i >= warmup:
            durations.append((clock() - t0) * 1000)
    report.info("commits timed", len(durations), "", digits=0)
    report.info("commit of a 3-line return p50", percentile(durations, 50), "ms")
    report.at_most("commit of a 3-line return p99", percentile(durations, 99),
                   COMMIT_P99_MS, "ms")

    grow_journal(db, journal, args.journal)
    fast = verify(db)
    if not fast.ok:
        print(fast.summary())
        return 1
    report.info("journal records verified", fast.records, "", digits=0)
    report.at_least("journal verify (links + head signature)", fast.records_per_second,
                    VERIFY_RATE, "rec/s")
    full = verify(db, full=True)
    report.info("journal verify --full (every signature)", full.records_per_second,
                "rec/s", digits=0)
    db.close()
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
