"""The till's link with HQ as the UI uses it: one sync round on its own connection,
and the sync state the header shows. Runs off the UI thread and off the database
worker (the sync round opens its own connection to the cache)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pos_returns.cache.db import connect, open_cache
from pos_returns.config import TillConfig
from pos_returns.sync.pins import exchange_pins
from pos_returns.sync.round import run_sync, till_journal
from pos_returns.sync.state import Progress, SyncSummary, table_label
from pos_returns.sync.status import SyncStatus, sync_status
from pos_returns.sync.validate import Limits

__all__ = [
    "PIN_EXCHANGE_SECONDS",
    "Progress",
    "SyncStatus",
    "SyncSummary",
    "exchange_pin_events",
    "read_sync_status",
    "sync_round",
    "table_label",
]


def sync_round(
    cfg: TillConfig,
    *,
    progress: Callable[[Progress], None] | None = None,
    sync_fn: Callable[..., SyncSummary] | None = None,
) -> tuple[SyncSummary, SyncStatus]:
    """One round (push, journal head, pull) on a connection of its own; then the
    cache's sync state. ``sync_fn`` replaces the real round (tests)."""
    db = open_cache(cfg.cache_path)
    try:
        kwargs: dict[str, Any] = {}
        if sync_fn is None:
            sync_fn = run_sync
            kwargs["journal"] = till_journal(db, cfg)
            kwargs["deadline"] = float(cfg.hq_deadline_seconds)
            kwargs["limits"] = Limits.from_config(cfg)
        summary = sync_fn(db, cfg.hq_dsn, store_id=cfg.store_id, till_no=cfg.till_no,
                          progress=progress, **kwargs)
        return summary, sync_status(db)
    finally:
        db.close()


PIN_EXCHANGE_SECONDS = 10  # wrong PINs reach HQ, and the chain's counts the till, this often


def exchange_pin_events(cfg: TillConfig) -> tuple[int, int]:
    """Between sync rounds: this till's wrong PINs, lockouts and unlocks to HQ, the
    chain's counts back (:func:`pos_returns.sync.pins.exchange_pins`), on a
    connection of its own. (0, 0) without an HQ."""
    if not cfg.hq_dsn:
        return 0, 0
    db = open_cache(cfg.cache_path)
    try:
        return exchange_pins(db, cfg.hq_dsn, store_id=cfg.store_id, till_no=cfg.till_no,
                             deadline=float(cfg.hq_deadline_seconds),
                             journal=till_journal(db, cfg))
    finally:
        db.close()


def read_sync_status(cfg: TillConfig) -> SyncStatus | None:
    """The cache's sync state now (small queries), or None when it cannot be read
    yet (a cache not migrated: the first round will tell)."""
    try:
        db = connect(cfg.cache_path, create=False)
    except Exception:
        return None
    try:
        return sync_status(db)
    except Exception:
        return None
    finally:
        db.close()
