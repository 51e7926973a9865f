"""The outbox: the till's documents waiting to go up to HQ.

A document is enqueued inside the same transaction that creates it, so a
committed return is always either sent or waiting; sync marks it sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def enqueue(db: Database, *, kind: str, uuid: str, payload: dict[str, Any]) -> None:
    """Add a document to the outbox (call inside the transaction that creates it)."""
    db.execute(
        "INSERT INTO outbox(uuid, kind, payload, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(uuid) DO NOTHING",
        [uuid, kind, canonical_json(payload), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
    )


def waiting_count(db: Database) -> int:
    return int(db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at = ''").fetchone()[0])
