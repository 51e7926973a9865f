"""The sync status the header shows, and the open conflicts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

if TYPE_CHECKING:  # pragma: no cover
    pass


# -- status -------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStatus:
    online: bool | None  # None: never tried
    last_sync_at: str  # last successful round (UTC ISO), "" if none
    waiting: int  # outbox documents not yet sent
    conflicts_open: int  # conflicts not yet reviewed by a manager
    first_sync_done: bool


def sync_status(db: Database) -> SyncStatus:
    last = db.execute("SELECT online FROM sync_runs WHERE finished_at != '' ORDER BY id DESC "
                      "LIMIT 1").fetchone()
    ok = db.execute(
        "SELECT finished_at FROM sync_runs WHERE online = 1 AND error = '' AND finished_at != '' "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    waiting = int(db.execute("SELECT count(*) FROM outbox WHERE sent_at = ''").fetchone()[0])
    conflicts = int(
        db.execute("SELECT count(*) FROM sync_conflicts WHERE reviewed_at = ''").fetchone()[0]
    )
    return SyncStatus(
        online=None if last is None else bool(last[0]),
        last_sync_at=ok[0] if ok else "",
        waiting=waiting,
        conflicts_open=conflicts,
        first_sync_done=ok is not None,
    )


def open_conflicts(db: Database) -> list[dict[str, Any]]:
    """Conflicts found at push time that no manager has reviewed yet, oldest first."""
    rows = db.execute(
        "SELECT id, ticket_uuid, ticket_id, kind, answer, detected_at FROM sync_conflicts "
        "WHERE reviewed_at = '' ORDER BY id"
    ).fetchall()
    keys = ("id", "ticket_uuid", "ticket_id", "kind", "answer", "detected_at")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for row in out:
        row["answer"] = json.loads(row["answer"])
    return out
