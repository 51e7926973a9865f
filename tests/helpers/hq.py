"""Helpers of the HQ sync tests: sales rung up at HQ, returns committed at a till."""

from __future__ import annotations

import itertools
import socket
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

from pos_returns.config import TillConfig
from pos_returns.engine.codes import ReceiptNumber

_seq = itertools.count(1)


def hq_sale(
    conn, lines: list[tuple[str, int, int]], *, store_id: int = 1, till_no: int = 3,
    tenders: list[tuple[str, int]] | None = None,
) -> tuple[int, list[int], list[int]]:
    """Ring up a sale at HQ (another till of the chain): lines are (sku, qty, unit price).

    Runs in the caller's transaction when one is open. Returns (sale id, line ids,
    tender ids)."""
    total = sum(q * p for _, q, p in lines)
    tenders = tenders or [("card", total)]
    receipt = ReceiptNumber(store_id, till_no, date(2025, 6, 1), next(_seq)).digits
    sale_id = conn.execute(
        "INSERT INTO sales (receipt_number, channel, store_id, till_no, sold_at, staff_id, "
        "merchandise, total) VALUES (%s, 'store', %s, %s, '2025-06-01T09:00:00Z', 1, %s, %s) "
        "RETURNING id",
        [receipt, store_id, till_no, total, total],
    ).fetchone()[0]
    line_ids = [
        conn.execute(
            "INSERT INTO sale_lines (sale_id, line_no, sku, quantity, unit_price, list_price, "
            "vat_rate_bp, sold_at) VALUES (%s, %s, %s, %s, %s, %s, 2000, "
            "'2025-06-01T09:00:00Z') RETURNING id",
            [sale_id, n, sku, qty, price, price],
        ).fetchone()[0]
        for n, (sku, qty, price) in enumerate(lines, 1)
    ]
    tender_ids = [
        conn.execute(
            "INSERT INTO tenders (sale_id, kind, amount, card_last4, card_fingerprint) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [sale_id, kind, amount, "4242" if kind == "card" else "",
             "fp-4242" if kind == "card" else ""],
        ).fetchone()[0]
        for kind, amount in tenders
    ]
    return int(sale_id), [int(i) for i in line_ids], [int(i) for i in tender_ids]


def till_config(tmp: Path, name: str, *, store_id: int = 1, till_no: int = 1) -> TillConfig:
    return TillConfig(
        store_id=store_id, till_no=till_no, cache_path=tmp / f"{name}.sqlite",
        key_path=tmp / f"{name}-keys" / "journal.pem",
    )


def commit_return(db, cfg: TillConfig, sale_id: int, picks: list[tuple[int, int]],
                  *, offline: bool = False, staff_id: int = 1):
    """Commit a receipt return at the till with the real ticket writer (H3's
    commit_plan), as the till does after the policy engine's plan."""
    from pos_returns.demo.returns import direct_plan
    from pos_returns.usecases.tickets import commit_plan

    plan = direct_plan(db, sale_id=sale_id, picks=picks, store_id=cfg.store_id,
                       till_no=cfg.till_no, staff_id=staff_id)
    if offline:
        plan = replace(plan, request=replace(plan.request, offline=True))
    return commit_plan(db, cfg, plan)


def hq_count(conn, sql: str, params=()) -> int:
    return int(conn.execute(sql, list(params)).fetchone()[0])


def sync(db, dsn: str, cfg: TillConfig, **kw):
    from pos_returns.sync.round import run_sync

    return run_sync(db, dsn, store_id=cfg.store_id, till_no=cfg.till_no, **kw)




class SilentHQ:
    """A TCP server on loopback that accepts and never answers (HQ hung)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for _ in range(10_000):  # bounded: 10 000 × 0.2 s at most
            if self.stop.is_set():
                return
            try:
                conn, _addr = self.sock.accept()
                self.conns.append(conn)
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()


__all__ = ["SilentHQ", "commit_return", "hq_count", "hq_sale", "sync", "till_config"]
