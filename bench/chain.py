"""Chain benchmark: N till processes making returns against one PostgreSQL HQ
through the reservation path, with their sync rounds running.

    .venv/bin/python bench/chain.py [--tills 50] [--seconds 20] [--sales 20000]

Starts its own PostgreSQL 15 on loopback (tests/helpers/pgserver.py; with
``fsync=on`` and ``synchronous_commit=on`` on this machine's disk unless
``--fast-pg``; the tills' caches in /dev/shm, see ``--till-dir``), builds HQ with
the demo catalogue and ``--sales`` fed sales, syncs one till cache and copies it
for every till. Then each till process (forked), for ``--seconds``, returns one
random line of a random sale, exactly as the till does after the policy engine's
decision: pending reservation written (SQLite) -> ``reserve`` at HQ (timed: the
reservation round trip) -> ticket committed and signed (SQLite, Ed25519) -> push
of that ticket (confirms the reservation); a sync round (push, pull) runs on its
own thread and connection every ``--sync-every`` seconds. 5 % of the returns aim
at 50 "hot" sales so that tills really race for the same lines.

Then, phase 2, "HQ alone": as many processes as tills make the same two HQ calls
per return (reserve, push) with no till work, to tell HQ's share from the tills'
(on one 2-core machine the 50 till processes and PostgreSQL share the CPU).

Prints the reservation round trip p50/p99, returns per second received at HQ,
and double refunds (lines refunded beyond what was sold, at HQ and in the sum of
every till's committed tickets), each beside its target:
p99 <= 50 ms at 50 tills (information above), >= 500 returns/s, 0 double refunds.
Exit 1 when one is missed. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Report, percentile, print_load
from bench.sync import build_hq
from pos_returns.cache.db import open_cache
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.errors import AlamaraError
from pos_returns.hq import schema as hq_schema
from pos_returns.journal.pins import Pepper, create_pepper, pepper_path
from pos_returns.sync import reserve as sync_reserve
from pos_returns.sync.round import run_sync
from pos_returns.usecases import returns
from tests.helpers.pgserver import LocalPostgres

MAX_RETURNS_PER_TILL = 100_000  # bound of each till's loop (time bounds it first)
HOT_SALES = 50


def till_config(tmp: Path, n: int, dsn: str) -> TillConfig:
    return TillConfig(store_id=1 + n % 2, till_no=10 + n // 2, cache_path=tmp / f"till{n}.sqlite",
                      key_path=tmp / f"keys{n}" / "journal.pem", hq_dsn=dsn,
                      hq_deadline_seconds=3)


def _sync_loop(cfg: TillConfig, stop: threading.Event, every: float, out: dict[str, Any]
               ) -> None:
    db = open_cache(cfg.cache_path)
    try:
        for _ in range(10_000):  # bounded; stop ends it first
            if stop.wait(every):
                return
            # the till's kept connections (as its reservations): no new HQ process per round
            summary = run_sync(db, cfg.hq_dsn, store_id=cfg.store_id, till_no=cfg.till_no,
                               deadline=3.0, link=sync_reserve.LINK)
            out["rounds"] = out.get("rounds", 0) + 1
            out["conflicts"] = out.get("conflicts", 0) + summary.conflicts
            if summary.error:
                out["errors"] = out.get("errors", 0) + 1
    finally:
        db.close()


def till_worker(n: int, cfg: TillConfig, sales: list[int], start_at: float, seconds: float,
                sync_every: float, results: Any) -> None:
    rng = random.Random(n)
    db = open_cache(cfg.cache_path)
    lines: dict[int, list[int]] = {}
    for sale_id, line_id in db.execute(
        f"SELECT sale_id, id FROM sale_lines WHERE sale_id IN ({','.join('?' * len(sales))})",
        sales,
    ):
        lines.setdefault(sale_id, []).append(line_id)
    hot = sales[:HOT_SALES]
    stop = threading.Event()
    sync_out: dict[str, Any] = {}
    syncer = threading.Thread(target=_sync_loop, args=(cfg, stop, sync_every, sync_out),
                              daemon=True)
    rtts: list[float] = []
    counts: Counter[str] = Counter()
    committed: list[tuple[int, int]] = []
    time.sleep(max(0.0, start_at - time.time()))
    syncer.start()
    end = start_at + seconds  # the common window, whenever this till got ready
    for _ in range(MAX_RETURNS_PER_TILL):
        if time.time() >= end:
            break
        sale_id = rng.choice(hot) if rng.random() < 0.05 else rng.choice(sales)
        line_id = rng.choice(lines[sale_id])
        try:
            plan = direct_plan(db, sale_id=sale_id, picks=[(line_id, 1)],
                               store_id=cfg.store_id, till_no=cfg.till_no,
                               staff_id=1 if cfg.store_id == 1 else 4, cfg=cfg)
        except (AlamaraError, ValueError, AssertionError):
            counts["taken"] += 1  # the cache already shows it returned
            continue
        prepared = returns.PreparedReturn(
            plan, True, lines=tuple(returns.reservation_lines(plan)),
            tenders=tuple(returns.reservation_tenders(plan)))
        if not prepared.lines:
            counts["taken"] += 1
            continue
        sync_reserve.record_pending(db, prepared.ticket_uuid, sale_id=sale_id,
                                    lines=prepared.lines, tenders=prepared.tenders)
        t0 = time.perf_counter()
        answer = returns.ask_hq(cfg, prepared)
        rtts.append((time.perf_counter() - t0) * 1000)
        try:
            ticket = returns.commit_prepared(db, cfg, prepared, answer)
        except AlamaraError:
            counts[answer.status if answer.status == "conflict" else "refused"] += 1
            continue
        counts["offline" if answer.status == "offline" else "committed"] += 1
        committed.append((line_id, 1))
        document = returns.prepare_push(db, ticket.uuid)
        returns.record_push(db, document, returns.push_after_commit(cfg, document))
    stop.set()
    syncer.join(timeout=60)
    sync_reserve.LINK.close()
    db.close()
    results.put((n, rtts, dict(counts), committed, sync_out))


def hq_worker(n: int, dsn: str, items: list[tuple], start_at: float, seconds: float,
              results: Any) -> None:
    """HQ alone: the same two calls a till makes per return (reserve, then the push of
    the ticket that confirms it), with no cache, no policy, no signature: what HQ
    and its client library can take on this machine."""
    import uuid as uuidlib

    from pos_returns.hq import receive as hq_receive

    rng = random.Random(10_000 + n)
    conn = hq_schema.connect(dsn, autocommit=True)
    rtts: list[float] = []
    counts: Counter[str] = Counter()
    time.sleep(max(0.0, start_at - time.time()))
    end = start_at + seconds
    for _ in range(MAX_RETURNS_PER_TILL):
        if time.time() >= end:
            break
        line_id, sale_id, sku, price, vat, tender_id = rng.choice(items)
        uuid = str(uuidlib.uuid4())
        t0 = time.perf_counter()
        got = hq_receive.reserve(conn, uuid, 1 + n % 2, 200 + n, [(line_id, 1, price)],
                                 [(tender_id, price)])
        rtts.append((time.perf_counter() - t0) * 1000)
        if got.result != "reserved":
            counts["conflict"] += 1
            continue
        answer = hq_receive.receive_return(conn, {
            "uuid": uuid, "store_id": 1 + n % 2, "till_no": 200 + n, "number": 1,
            "staff_id": 1, "sale_id": sale_id, "kind": "receipt", "offline": False,
            "created_at": "2026-01-01T10:00:00Z",
            "lines": [{"direction": "return", "sale_line_id": line_id, "sku": sku,
                       "quantity": 1, "unit_amount": price, "amount": -price,
                       "vat_rate_bp": vat}],
            "refunds": [{"kind": "card", "amount": price, "sale_tender_id": tender_id}],
            "totals": {"refund_total": price, "net": price},
        }, store_id=1 + n % 2, till_no=200 + n)
        counts[answer.result] += 1
    conn.close()
    results.put((n, rtts, dict(counts)))


def pg_cpu_seconds(pg: LocalPostgres) -> float:
    """CPU seconds used by the PostgreSQL server so far: the postmaster, its live
    children and the children it has reaped (/proc: utime, stime, cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        pid = int((pg.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0

    def fields(p: int) -> list[str]:
        text = Path(f"/proc/{p}/stat").read_text()
        return text[text.rindex(")") + 2:].split()  # after "pid (comm) "

    total = 0
    try:
        f = fields(pid)
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    except (OSError, ValueError):
        return 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            f = fields(int(entry.name))
        except (OSError, ValueError):
            continue
        if int(f[1]) == pid:
            total += int(f[11]) + int(f[12])
    return total / tick


def children_cpu_seconds() -> float:
    t = os.times()
    return t.children_user + t.children_system


def hq_alone(dsn: str, workers: int, seconds: float) -> tuple[list[float], Counter[str], int]:
    """Phase 2: ``workers`` processes on HQ alone, on lines no till returned."""
    ctx = multiprocessing.get_context("fork")
    with hq_schema.connect(dsn, autocommit=True) as conn:
        items = conn.execute(
            "SELECT l.id, l.sale_id, l.sku, l.unit_price, l.vat_rate_bp, "
            "(SELECT t.id FROM tenders t WHERE t.sale_id = l.sale_id ORDER BY t.amount DESC "
            " LIMIT 1) FROM sale_lines l WHERE l.unit_price > 0 AND NOT EXISTS "
            "(SELECT 1 FROM return_lines r WHERE r.sale_line_id = l.id) ORDER BY l.id"
        ).fetchall()
    results = ctx.Queue()
    start_at = time.time() + 1 + workers * 0.02
    procs = [ctx.Process(target=hq_worker, args=(n, dsn, items, start_at, seconds, results))
             for n in range(workers)]
    for p in procs:
        p.start()
    outs = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    with hq_schema.connect(dsn, autocommit=True) as conn:
        received = conn.execute(
            "SELECT count(*) FROM return_tickets WHERE till_no >= 200 AND received_at "
            "BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
            [start_at, start_at + seconds]).fetchone()[0]
    counts: Counter[str] = Counter()
    for o in outs:
        counts.update(o[2])
    return [x for o in outs for x in o[1]], counts, int(received)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tills", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sales", type=int, default=20_000)
    parser.add_argument("--sync-every", type=float, default=5.0)
    parser.add_argument("--fast-pg", action="store_true",
                        help="fsync=off, synchronous_commit=off (as the tests run)")
    parser.add_argument("--till-dir", type=Path,
                        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
                        help="where the tills' caches live (default /dev/shm: in a chain "
                             "each till has its own disk; 200 caches fsyncing on this "
                             "machine's one disk would measure the disk, not HQ)")
    args = parser.parse_args(argv)
    report = Report()
    print_load()
    durable = {} if args.fast_pg else {"fsync": "on", "synchronous_commit": "on",
                                      "full_page_writes": "on"}
    settings = {"max_connections": str(2 * args.tills + 20), "shared_buffers": "256MB",
                **durable}
    ctx = multiprocessing.get_context("fork")
    with LocalPostgres(settings=settings) as pg, \
            tempfile.TemporaryDirectory(prefix="bench-chain-", dir=args.till_dir) as tmpdir:
        tmp = Path(tmpdir)
        dsn = pg.dsn()
        pepper = Pepper(secrets.token_bytes(32))  # the chain's: HQ's staff and every till
        build_hq(dsn, tmp, args.sales, pepper=pepper)
        template = tmp / "template.sqlite"
        db = open_cache(template)
        run_sync(db, dsn, store_id=9, till_no=99)
        sales = [r[0] for r in db.execute(
            "SELECT id FROM sales WHERE id IN (SELECT sale_id FROM sale_lines) ORDER BY id")]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        random.Random(1).shuffle(sales)
        cfgs = [till_config(tmp, n, dsn) for n in range(args.tills)]
        for cfg in cfgs:
            shutil.copyfile(template, cfg.cache_path)
            create_pepper(pepper_path(cfg.key_path), pepper.secret)
        results = ctx.Queue()
        start_at = time.time() + 3 + args.tills * 0.05  # every till forked and ready
        procs = [ctx.Process(target=till_worker, args=(
            n, cfg, sales, start_at, args.seconds, args.sync_every, results))
            for n, cfg in enumerate(cfgs)]
        pg_cpu0, till_cpu0 = pg_cpu_seconds(pg), children_cpu_seconds()
        for p in procs:
            p.start()
        outs = [results.get(timeout=args.seconds + 600) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        pg_cpu = pg_cpu_seconds(pg) - pg_cpu0
        till_cpu = children_cpu_seconds() - till_cpu0
        with hq_schema.connect(dsn, autocommit=True) as conn:
            # the returns HQ received during the tills' common window
            received = conn.execute(
                "SELECT count(*) FROM return_tickets WHERE received_at "
                "BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
                [start_at, start_at + args.seconds]).fetchone()
            hq_double = conn.execute(
                "SELECT count(*) FROM (SELECT l.id FROM sale_lines l JOIN return_lines r "
                "ON r.sale_line_id = l.id AND r.direction = 'return' "
                "GROUP BY l.id, l.quantity HAVING sum(r.quantity) > l.quantity) d").fetchone()[0]
            open_res = conn.execute(
                "SELECT count(*) FROM reservations WHERE status = 'reserved'").fetchone()[0]
            sold = dict(conn.execute(
                "SELECT id, quantity FROM sale_lines WHERE id IN "
                "(SELECT sale_line_id FROM return_lines)").fetchall())
        pg_cpu1, client_cpu1 = pg_cpu_seconds(pg), children_cpu_seconds()
        alone_rtts, alone_counts, alone_received = hq_alone(dsn, args.tills, args.seconds)
        alone_pg_cpu = pg_cpu_seconds(pg) - pg_cpu1
        alone_client_cpu = children_cpu_seconds() - client_cpu1
        with hq_schema.connect(dsn, autocommit=True) as conn:
            hq_double += conn.execute(
                "SELECT count(*) FROM (SELECT l.id FROM sale_lines l JOIN return_lines r "
                "ON r.sale_line_id = l.id AND r.direction = 'return' "
                "GROUP BY l.id, l.quantity HAVING sum(r.quantity) > l.quantity) d").fetchone()[0]
    rtts = [x for o in outs for x in o[1]]
    counts: Counter[str] = Counter()
    local: Counter[int] = Counter()
    sync_rounds = 0
    for _n, _r, c, committed, sync_out in outs:
        counts.update(c)
        sync_rounds += sync_out.get("rounds", 0)
        for line_id, qty in committed:
            local[line_id] += qty
    local_double = sum(1 for line_id, q in local.items() if q > sold.get(line_id, q))
    count, span = int(received[0]), args.seconds
    print(f"tills: {args.tills}, {args.seconds:g} s, committed {counts['committed']}, "
          f"refused by HQ (conflict) {counts['conflict']}, already taken in the cache "
          f"{counts['taken']}, refused at commit {counts['refused']}, offline "
          f"{counts['offline']}, sync rounds {sync_rounds}, "
          f"open reservations left {open_res}", flush=True)
    report.info("reservation round trip p50", percentile(rtts, 50), "ms")
    if args.tills <= 50:
        report.at_most(f"reservation round trip p99 ({args.tills} tills)",
                       percentile(rtts, 99), 50, "ms")
    else:
        report.info(f"reservation round trip p99 ({args.tills} tills)", percentile(rtts, 99),
                    "ms")
    report.at_least("returns/s received at HQ", count / span, 500, "ret/s")
    done = max(1, counts["committed"] + counts["conflict"] + counts["refused"])
    report.info("  CPU per return at HQ (PostgreSQL)", pg_cpu * 1000 / done, "ms")
    report.info("  CPU per return at the till (all its work)", till_cpu * 1000 / done, "ms")
    print(f"HQ alone ({args.tills} connections, reserve + push, no till work): "
          f"{dict(alone_counts)}", flush=True)
    report.info("  HQ alone: reservation round trip p50", percentile(alone_rtts, 50), "ms")
    report.info("  HQ alone: reservation round trip p99", percentile(alone_rtts, 99), "ms")
    report.info("  HQ alone: returns/s received", alone_received / args.seconds, "ret/s",
                digits=0)
    alone_done = max(1, sum(alone_counts.values()))
    per_return = alone_pg_cpu * 1000 / alone_done
    report.info("  HQ alone: PostgreSQL CPU per return", per_return, "ms")
    report.info("  HQ alone: client (psycopg) CPU per return",
                alone_client_cpu * 1000 / alone_done, "ms")
    if per_return > 0:
        report.info("  => returns/s one dedicated HQ core can take", 1000 / per_return,
                    "ret/s", digits=0)
    report.at_most("double refunds (HQ)", hq_double, 0, "lines", digits=0)
    report.at_most("double refunds (money out at the tills)", local_double, 0, "lines",
                   digits=0)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
