"""The till's link with HQ as the UI uses it: one sync round on its own connection,
and the sync state the header shows. Runs off the UI thread and off the database
worker (the sync round opens its own connection to the cache)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pos_returns.cache.db import connect, open_cache
from pos_returns.config import TillConfig
from pos_returns.sync.round import run_sync, till_journal
from pos_returns.sync.state import Progress, SyncSummary, table_label
from pos_returns.sync.status import SyncStatus, sync_status
from pos_returns.sync.validate import Limits

__all__ = [
    "Progress",
    "SyncStatus",
    "SyncSummary",
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
