"""Bench: the till's own time around a payment-terminal call.

    python bench/terminal.py [--calls 300] [--delay 0.02]

Target (issue 14, docs/payment-terminal.md): beyond the terminal's own time
(the simulator's scripted ``--delay`` before it answers), the till's part of a
card refund — build and encode the request, connect, send, read and parse the
answer, judge it — has p99 <= 20 ms. The terminal is the simulator running as
a real TCP server in another process on 127.0.0.1 (its logging included, so
the figure is an upper bound of the till's part). Each figure is printed
beside its target; the exit code is 1 when one is missed.

For information (no target), the whole card operation as the refund screen runs
it: the ``pending`` row committed before the call, the call, the answer committed
after it (two ``synchronous=FULL`` commits and two signed journal records,
``pos_returns.usecases.card_payments``), on a small cache in a temporary folder.
Those commits are the disk's time (fsync), the same cost as bench/commit.py's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Report, percentile, print_load

from pos_returns.config import TillConfig
from pos_returns.devices.caisse_ap import CaisseAPClient
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.usecases import card_payments
from pos_returns.usecases.returns import prepare_return
from tests.helpers import L, add_sale, install_test_pepper, new_cache

OVERHEAD_P99_MS = 20.0


def start_simulator(delay: float, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    ready = folder / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_returns.devices.tpe_simulator", "--host", "127.0.0.1",
         "--port", "0", "--delay", str(delay), "--ready-file", str(ready)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the terminal simulator did not start")
        time.sleep(0.02)
    return proc, int(ready.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--delay", type=float, default=0.02,
                        help="the simulated terminal's time before it answers (s)")
    args = parser.parse_args()
    print_load()
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_simulator(args.delay, Path(tmp))
        try:
            client = CaisseAPClient("127.0.0.1", port, timeout_seconds=10)
            for _ in range(5):  # warm-up
                client.refund(4940, reference="warm-up")
            overheads = []
            for i in range(args.calls):
                t0 = time.perf_counter()
                result = client.refund(1000 + i, reference=f"bench-{i}")
                elapsed = (time.perf_counter() - t0) * 1000
                if not result.approved:
                    print(f"call {i}: {result.outcome} ({result.reason_code})")
                    return 1
                overheads.append(elapsed - args.delay * 1000)
            with_db = _with_database(client, Path(tmp), args.calls // 2, args.delay)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    report.info(f"terminal calls (simulator delay {args.delay * 1000:g} ms)", args.calls, "",
                digits=0)
    report.info("till's time beyond the delay, p50", percentile(overheads, 50), "ms")
    report.at_most("till's time beyond the delay, p99", percentile(overheads, 99),
                   OVERHEAD_P99_MS, "ms")
    report.info("till's time beyond the delay, max", max(overheads), "ms")
    report.info("with the two commits around it, p50", percentile(with_db, 50), "ms")
    report.info("with the two commits around it, p99", percentile(with_db, 99), "ms")
    return report.exit_code()


def _with_database(client: CaisseAPClient, folder: Path, calls: int,
                   delay: float) -> list[float]:
    """The whole card operation of the refund screen, beyond the terminal's delay (ms)."""
    cfg = TillConfig(cache_path=folder / "cache.sqlite", key_path=folder / "journal.pem")
    install_test_pepper(cfg.key_path)  # the test staff's rows are sealed with it
    db = new_cache(cfg.cache_path)
    amounts = []
    for _ in range(calls):  # a sale of its own per operation, as at the till
        sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 4940)])
        line_id = db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                             [sale_id]).fetchone()[0]
        request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale_id,
                                presented_card_last4="4242",
                                lines=(LineRequest(quantity=1, reason="size",
                                                   sale_line_id=line_id),))
        [amount] = card_payments.card_amounts(prepare_return(db, cfg, request).plan)
        amounts.append(amount)
    out = []
    for i, amount in enumerate(amounts):
        t0 = time.perf_counter()
        op = card_payments.start_operation(db, cfg, draft_uuid=f"bench-{i}", amount=amount,
                                           staff_id=1)
        result = card_payments.send_to_terminal(client, op)
        card_payments.record_result(db, cfg, op.uuid, result)
        out.append((time.perf_counter() - t0) * 1000 - delay * 1000)
    db.close()
    return out


if __name__ == "__main__":
    sys.exit(main())
