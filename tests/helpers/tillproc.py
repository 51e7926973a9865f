"""A till in its own process, for the race and kill -9 tests against HQ.

Not a test module: ``race_worker`` is the target of the race test's processes
(multiprocessing, spawn), and ``python -m tests.helpers.tillproc STEP ...``
runs one online return and stops after STEP (reserve, commit, push), printing
the step reached so that the test can kill -9 it there.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pos_returns.cache.db import open_cache
from pos_returns.config import TillConfig
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.errors import AlamaraError
from pos_returns.sync.round import run_sync
from pos_returns.usecases import returns
from tests.helpers import install_test_pepper


def till_cfg(tmp: Path, name: str, dsn: str, store_id: int, till_no: int,
             deadline: int = 3) -> TillConfig:
    cfg = TillConfig(store_id=store_id, till_no=till_no, cache_path=tmp / f"{name}.sqlite",
                     key_path=tmp / f"{name}-keys" / "journal.pem", hq_dsn=dsn,
                     hq_deadline_seconds=deadline)
    install_test_pepper(cfg.key_path)  # the chain's pepper, as its staff rows are sealed
    return cfg


def request(cfg: TillConfig, sale_id: int, line_ids: list[int], staff_id: int) -> ReturnRequest:
    return ReturnRequest(
        store_id=cfg.store_id, till_no=cfg.till_no, staff_id=staff_id, sale_id=sale_id,
        lines=tuple(LineRequest(quantity=1, condition=Condition.NEW_WITH_TAGS, reason="size",
                                sale_line_id=i) for i in line_ids),
        presented_card_last4="4242",
    )


def race_worker(cfg: TillConfig, rounds: list[tuple[int, list[int]]], barrier: Any,
                seed: int, results: Any) -> None:
    """Every round: wait for the others at the barrier, then return a random subset
    of the sale's lines online (reserve, commit, push). Reports per round what was
    asked and what was committed (the money that left this till)."""
    db = open_cache(cfg.cache_path)
    run_sync(db, cfg.hq_dsn, store_id=cfg.store_id, till_no=cfg.till_no)
    rng = random.Random(seed)
    out = []
    for sale_id, line_ids in rounds:
        asked = [i for i in line_ids if rng.random() < 0.7] or [rng.choice(line_ids)]
        barrier.wait(timeout=120)
        status = "conflict"
        try:
            staff = 1 if cfg.store_id == 1 else 4
            ticket = returns.complete_return(db, cfg, request(cfg, sale_id, asked, staff))
            offline = db.execute("SELECT offline FROM return_tickets WHERE uuid = ?",
                                 [ticket.uuid]).fetchone()[0]
            status = "offline" if offline else "ok"
        except AlamaraError:
            pass
        out.append((sale_id, asked, status))
    db.close()
    results.put((cfg.store_id, cfg.till_no, out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("reserve", "commit", "push"))
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--sale", type=int, required=True)
    parser.add_argument("--line", type=int, required=True)
    args = parser.parse_args(argv)
    cfg = till_cfg(args.dir, "victim", args.dsn, 1, 1)
    db = open_cache(cfg.cache_path)
    run_sync(db, cfg.hq_dsn, store_id=cfg.store_id, till_no=cfg.till_no)
    prepared = returns.prepare_return(db, cfg, request(cfg, args.sale, [args.line], 1))
    answer = returns.ask_hq(cfg, prepared)
    assert answer.status == "reserved", answer
    if args.step == "reserve":
        print("RESERVED", prepared.ticket_uuid, flush=True)
        time.sleep(60)
        return 1
    ticket = returns.commit_prepared(db, cfg, prepared, answer)
    if args.step == "commit":
        print("COMMITTED", ticket.uuid, flush=True)
        time.sleep(60)
        return 1
    print("PUSHING", ticket.uuid, flush=True)
    document = returns.prepare_push(db, ticket.uuid)
    slow = replace(cfg, hq_deadline_seconds=60)  # the test holds HQ's lock, then kills
    returns.record_push(db, document, returns.push_after_commit(slow, document))
    print("PUSHED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
