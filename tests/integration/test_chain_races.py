"""One refund per line across the chain (issue 13), with real till processes
against the real PostgreSQL: 2 to 8 tills racing on the same lines (1 000 races,
0 double refunds); kill -9 of a till after reserving, after committing, during
the push (no return lost, no line left blocked); HQ answering after 5 s (the till
is offline within its deadline)."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pos_returns.cache.db import open_cache
from pos_returns.hq import receive as hq_receive
from pos_returns.sync.reserve import reserve_at_hq
from pos_returns.usecases import returns
from tests.helpers.hq import SilentHQ, hq_count, hq_sale, sync
from tests.helpers.tillproc import race_worker, request, till_cfg

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
LINES_PER_SALE = 25
# (tills racing, rounds): every round, each till returns a random subset of one
# sale's 25 lines; a line asked by two tills or more in a round is a race.
GROUPS = ((2, 20), (3, 10), (4, 10), (6, 10), (8, 10))


def _ring_up(conn, rounds: int) -> list[tuple[int, list[int]]]:
    sales = []
    for _ in range(rounds):
        sale, lines, _t = hq_sale(conn, [("SKU-CHEM-01", 1, 1000)] * LINES_PER_SALE)
        sales.append((sale, lines))
    return sales


def test_R02_2_to_8_tills_racing_on_the_same_lines_1000_races_no_double_refund(
    hq_conn, hq_dsn, tmp_path
):
    ctx = multiprocessing.get_context("spawn")
    races = 0
    committed_lines: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    for group, (tills, rounds) in enumerate(GROUPS):
        sales = _ring_up(hq_conn, rounds)
        barrier = ctx.Barrier(tills)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=race_worker, args=(
                till_cfg(tmp_path, f"g{group}t{n}", hq_dsn, 1 + n % 2, 10 * group + n + 1,
                         deadline=30),  # generous: the test proves exclusion, not speed
                sales, barrier, 1000 * group + n, results))
            for n in range(tills)
        ]
        for p in procs:
            p.start()
        outs = [results.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        asked_by: Counter[int] = Counter()
        for _store, _till, out in outs:
            for _sale, asked, status in out:
                asked_by.update(asked)
                statuses[status] += 1
                if status != "conflict":
                    committed_lines.update(asked)
        races += sum(1 for n in asked_by.values() if n >= 2)
    assert races >= 1000
    assert statuses["offline"] == 0  # every return was decided by HQ's reservation
    # 0 double refunds: no line's money left two tills, and HQ agrees
    assert max(committed_lines.values()) == 1
    doubled = hq_count(hq_conn, "SELECT count(*) FROM (SELECT sale_line_id FROM return_lines "
                       "GROUP BY sale_line_id HAVING sum(quantity) > 1) d")
    assert doubled == 0
    assert hq_count(hq_conn, "SELECT count(*) FROM return_lines") == len(committed_lines)
    assert hq_count(hq_conn, "SELECT count(*) FROM reservations WHERE status = 'reserved'") == 0
    assert hq_count(hq_conn, "SELECT count(*) FROM return_conflicts") == 0


def _victim(tmp_path: Path, dsn: str, step: str, sale: int, line: int) -> tuple[
        subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.tillproc", step, "--dir", str(tmp_path),
         "--dsn", dsn, "--sale", str(sale), "--line", str(line)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    want = {"reserve": "RESERVED", "commit": "COMMITTED", "push": "PUSHING"}[step]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line_out = proc.stdout.readline() if proc.stdout else ""
        if line_out.startswith(want):
            return proc, line_out.split()[1]
        if not line_out and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"the till never reached {want}: {proc.stderr.read()}")


def _restart_and_sync(tmp_path: Path, dsn: str):
    cfg = till_cfg(tmp_path, "victim", dsn, 1, 1)
    db = open_cache(cfg.cache_path)
    summary = sync(db, dsn, cfg, release_grace=0)
    return db, cfg, summary


def test_kill_9_after_reserving_the_next_sync_frees_the_line(hq_conn, hq_dsn, tmp_path):
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    proc, uuid = _victim(tmp_path, hq_dsn, "reserve", sale, lines[0])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert hq_conn.execute("SELECT status FROM reservations WHERE uuid = %s",
                           [uuid]).fetchone()[0] == "reserved"
    db, _cfg, summary = _restart_and_sync(tmp_path, hq_dsn)
    assert summary.released == 1
    assert hq_conn.execute("SELECT status FROM reservations WHERE uuid = %s",
                           [uuid]).fetchone()[0] == "released"
    assert db.execute("SELECT count(*) FROM return_tickets").fetchone()[0] == 0
    other = hq_receive.reserve(hq_conn, "after-kill", 2, 1, [(lines[0], 1, 18900)])
    assert other.result == "reserved"  # the line is not left blocked
    db.close()


@pytest.mark.parametrize("step", ["commit", "push"])
def test_kill_9_after_committing_or_during_the_push_no_return_lost(step, hq_conn, hq_dsn,
                                                                  pg_server, tmp_path):
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    holder = None
    if step == "push":  # HQ holds the push on a lock, the till is killed while it waits
        from pos_returns.hq import schema as hq_schema

        holder = hq_schema.connect(hq_dsn)
        holder.execute("LOCK TABLE return_tickets IN EXCLUSIVE MODE")
    try:
        proc, uuid = _victim(tmp_path, hq_dsn, step, sale, lines[0])
        if holder is not None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not hq_count(
                hq_conn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"):
                time.sleep(0.05)
            assert time.monotonic() < deadline, "the push never reached HQ's lock"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
    db, _cfg, summary = _restart_and_sync(tmp_path, hq_dsn)
    assert summary.online and summary.ok == 1 and summary.conflicts == 0
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets WHERE uuid = %s", [uuid]) == 1
    assert hq_conn.execute("SELECT status FROM reservations WHERE uuid = %s",
                           [uuid]).fetchone()[0] == "confirmed"
    assert hq_count(hq_conn, "SELECT count(*) FROM reservation_lines") == 0
    assert db.execute("SELECT state FROM pending_reservations WHERE uuid = ?",
                      [uuid]).fetchone()[0] == "confirmed"
    db.close()


# -- HQ slow or away -------------------------------------------------------------------


def _sleepy_reservations(conn, seconds: float) -> None:
    conn.execute(
        "CREATE FUNCTION slow_hq() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"PERFORM pg_sleep({seconds}); RETURN NEW; END $$")
    conn.execute("CREATE TRIGGER slow_hq BEFORE INSERT ON reservations "
                 "FOR EACH ROW EXECUTE FUNCTION slow_hq()")


def test_hq_answering_after_5_s_the_return_goes_offline_within_the_deadline(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg = replace(till_cfg(tmp_path, "a", hq_dsn, 1, 1), hq_deadline_seconds=3)  # the default
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    sync(db, hq_dsn, cfg)
    _sleepy_reservations(hq_conn, 5)
    started = time.monotonic()
    ticket = returns.complete_return(db, cfg, request(cfg, sale, [lines[0]], 1))
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 1.5  # the deadline, not HQ's 5 s
    assert db.execute("SELECT offline FROM return_tickets WHERE uuid = ?",
                      [ticket.uuid]).fetchone()[0] == 1
    # HQ's statement timeout cancelled the slow reservation: nothing held there
    time.sleep(0.5)
    assert hq_count(hq_conn, "SELECT count(*) FROM reservations") == 0
    hq_conn.execute("DROP TRIGGER slow_hq ON reservations")
    summary = sync(db, hq_dsn, cfg)  # HQ back: the offline ticket goes up
    assert summary.ok == 1


def test_a_line_locked_at_hq_by_another_connection_goes_offline_within_the_deadline(
    hq_conn, hq_dsn, tmp_path
):
    from pos_returns.hq import schema as hq_schema

    _sale, lines, _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    holder = hq_schema.connect(hq_dsn)
    try:
        holder.execute("SELECT 1 FROM sale_lines WHERE id = %s FOR UPDATE", [lines[0]])
        started = time.monotonic()
        answer = reserve_at_hq(hq_dsn, "locked", 1, 1, [(lines[0], 1, 18900)], deadline=1)
        assert answer.status == "offline" and time.monotonic() - started < 1 + 1.5
    finally:
        holder.rollback()
        holder.close()


def test_hq_that_accepts_and_never_answers_offline_within_the_deadline(till, tmp_path):
    silent = SilentHQ()
    try:
        dsn = f"host=127.0.0.1 port={silent.port} dbname=hq user=postgres"
        started = time.monotonic()
        answer = reserve_at_hq(dsn, "silent", 1, 1, [(1, 1, 100)], deadline=2)
        assert answer.status == "offline"
        assert time.monotonic() - started < 2 + 1.5
        cfg = till_cfg(tmp_path, "s", dsn, 1, 1, deadline=2)
        db = till("s")
        started = time.monotonic()
        summary = sync(db, dsn, cfg, deadline=2.0)
        assert not summary.online and summary.error
        assert time.monotonic() - started < 2 + 1.5
    finally:
        silent.close()
