"""Reliability: kill -9 a process committing returns in a loop, at random moments.

A launcher process imports the till's core once, then, round after round, forks
a child that opens the cache and commits returns as fast as it can (each
committed ticket's uuid written to a pipe right after ``commit_plan`` returns),
and kills it with SIGKILL after a random few milliseconds — before its first
commit, in the middle of a transaction, during an fsync, between two commits.
After each kill the test itself checks the cache: it opens, ``integrity_check``
is ok, the journal verifies, no ticket is partial (lines, refunds adding up to
its net, its journal record, its outbox document), numbers are gap-free, and
every uuid the child reported committed is there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pos_returns.cache.db import connect
from pos_returns.journal.keys import load_signer
from pos_returns.journal.verify import verify
from tests.helpers import L, T, add_sale

KILLS = 210
MAX_DELAY_MS = 25

LAUNCHER = r"""
import os, random, select, signal, sys, time, traceback
from pathlib import Path

from pos_returns.usecases import tickets
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.errors import Conflict, InvalidInput
from pos_returns.journal.keys import load_signer
from pos_returns.cache.db import connect

cache, key, rounds, max_delay_ms, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5])
cfg = TillConfig(cache_path=Path(cache), key_path=Path(key))
load_signer(cfg.key_path)  # loaded once, before forking
# what each process builds once, built before forking too, so the kills land in the
# commits: babel's French data (the engine words its reasons), the guards' schema
from pos_returns.cache import guards
from pos_returns.i18n import format_money
format_money(0)
_db = connect(cache, create=False)
guards.expected_objects(guards.applied_prefix(_db))
_db.close()
rng = random.Random(seed)


def child(out_fd, child_seed):
    crng = random.Random(child_seed)
    try:
        db = connect(cache, create=False)
        lines = db.execute(
            "SELECT l.id, l.sale_id FROM sale_lines l ORDER BY l.id").fetchall()
        os.write(out_fd, b"R\n")  # ready: the kill clock starts now
        while True:
            line_id, sale_id = crng.choice(lines)
            gift = db.execute("SELECT gift_receipt FROM sales WHERE id = ?",
                              [sale_id]).fetchone()[0]
            try:  # a line all returned: the engine says so when planning
                plan = direct_plan(db, sale_id=sale_id, picks=[(line_id, 1)], gift=bool(gift),
                                   cfg=cfg)
                committed = tickets.commit_plan(db, cfg, plan)
            except (Conflict, InvalidInput):
                continue
            os.write(out_fd, ("U " + committed.uuid + "\n").encode())
    except BaseException:
        os.write(out_fd, ("E " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
        os._exit(1)


print("READY", flush=True)
for i in range(rounds):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        child(w, rng.randrange(1 << 30))
        os._exit(0)
    os.close(w)
    chunks = []
    if i % 10 != 0:  # one kill in ten lands while the child is still starting
        # wait (at most 10 s, whatever the machine's load) until the child is ready
        buf = b""
        deadline = time.monotonic() + 10
        while b"R\n" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.5)
            if ready:
                data = os.read(r, 65536)
                if not data:
                    break
                buf += data
        chunks.append(buf.replace(b"R\n", b"", 1))
    time.sleep(rng.uniform(0, max_delay_ms) / 1000)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    while True:
        data = os.read(r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    for line in b"".join(chunks).decode().splitlines():
        if line != "R":
            print(line, flush=True)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    print(f"KILLED {i} {int(killed)}", flush=True)
    if sys.stdin.readline().strip() != "GO":
        break
print("DONE", flush=True)
"""


def _check_cache(cache: Path, reported: set[str]) -> int:
    db = connect(cache, create=False)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        report = verify(db)
        assert report.ok, report.summary()
        partial = db.execute(
            """
            SELECT t.uuid FROM return_tickets t
            WHERE NOT EXISTS (SELECT 1 FROM return_lines l WHERE l.ticket_id = t.id)
               OR t.net != (SELECT COALESCE(SUM(f.amount), 0) FROM refunds f
                            WHERE f.ticket_id = t.id)
               OR NOT EXISTS (SELECT 1 FROM refunds f WHERE f.ticket_id = t.id)
               OR NOT EXISTS (SELECT 1 FROM journal j WHERE j.ticket_uuid = t.uuid
                              AND j.kind = 'ticket')
               OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.uuid = t.uuid)
            """
        ).fetchall()
        assert partial == []
        orphans = db.execute(
            "SELECT COUNT(*) FROM journal j WHERE j.kind = 'ticket' AND NOT EXISTS "
            "(SELECT 1 FROM return_tickets t WHERE t.uuid = j.ticket_uuid)"
        ).fetchone()[0]
        assert orphans == 0
        numbers = [r[0] for r in db.execute("SELECT number FROM return_tickets ORDER BY number")]
        assert numbers == list(range(1, len(numbers) + 1))  # gap-free
        present = {r[0] for r in db.execute("SELECT uuid FROM return_tickets")}
        missing = reported - present
        assert not missing, f"reported committed but absent: {sorted(missing)[:3]}"
        over = db.execute(
            "SELECT COUNT(*) FROM sale_lines l WHERE l.quantity < (SELECT COALESCE(SUM("
            "r.quantity), 0) FROM return_lines r WHERE r.sale_line_id = l.id)"
        ).fetchone()[0]
        assert over == 0
        return len(present)
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_at_random_moments_never_loses_or_halves_a_ticket(db, tmp_cache, tmp_path):
    key = tmp_path / "keys" / "journal.pem"
    load_signer(key)
    for i in range(40):  # card, split cash + card, gift receipts (gift cards issued)
        if i % 3 == 0:
            add_sale(db, [L("SKU-CHEM-01", 40, 7900), L("SKU-PARF-01", 40, 9500)])
        elif i % 3 == 1:
            add_sale(db, [L("SKU-ROBE-01", 40, 18900)],
                     [T("cash", 100000), T("card", 40 * 18900 - 100000, "4242")])
        else:
            add_sale(db, [L("SKU-LIVR-01", 40, 3500)], gift_receipt=True)
    db.close()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_cache), str(key), str(KILLS),
         str(MAX_DELAY_MS), "20261126"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdin is not None and proc.stdout is not None
    reported: set[str] = set()
    kills = 0
    tickets_seen = 0
    try:
        assert proc.stdout.readline().strip() == "READY"
        while True:
            line = proc.stdout.readline()
            assert line, "the launcher died"
            if line.startswith("U "):
                reported.add(line[2:].strip())
            elif line.startswith("E "):
                pytest.fail("the child failed: " + line[2:])
            elif line.startswith("KILLED"):
                kills += int(line.split()[2])
                tickets_seen = _check_cache(tmp_cache, reported)
                proc.stdin.write("GO\n")
                proc.stdin.flush()
            elif line.startswith("DONE"):
                break
    finally:
        proc.kill()
        proc.wait()
    assert kills >= 200
    assert tickets_seen >= len(reported)  # a child may die between commit and report
    assert len(reported) > 0
    print(json.dumps({"kills": kills, "tickets": tickets_seen, "reported": len(reported),
                      "seconds": round(time.monotonic() - started, 1)}))
