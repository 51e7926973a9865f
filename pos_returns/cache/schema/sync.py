"""HQ sync: pull cursors, runs, conflicts."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("pos_returns.sync")


@MIGRATIONS()
def m001_sync_tables(db: Database) -> None:
    db.executescript(
        """
        -- Pull cursor per table: the (txid, key) of the last row stored.
        CREATE TABLE sync_cursors (
            name TEXT PRIMARY KEY,
            txid INTEGER NOT NULL DEFAULT 0,
            key TEXT NOT NULL DEFAULT '',     -- JSON list of the key's values; '' = start
            rows INTEGER NOT NULL DEFAULT 0,  -- rows pulled so far (information)
            updated_at TEXT NOT NULL
        );
        -- One row per sync round (the status widget reads the last ones).
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL DEFAULT '',
            online INTEGER NOT NULL DEFAULT 0,
            full_sync INTEGER NOT NULL DEFAULT 0,
            pulled INTEGER NOT NULL DEFAULT 0,
            pushed INTEGER NOT NULL DEFAULT 0,
            conflicts INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT ''
        );
        -- A document HQ refused at push time (offline over-return): the manager reviews it.
        CREATE TABLE sync_conflicts (
            id INTEGER PRIMARY KEY,
            ticket_uuid TEXT NOT NULL UNIQUE,
            ticket_id INTEGER,               -- the local return ticket, when it is one
            outbox_id INTEGER,
            kind TEXT NOT NULL,
            answer TEXT NOT NULL,            -- HQ's answer (JSON: result, problems)
            detected_at TEXT NOT NULL,
            reviewed_at TEXT NOT NULL DEFAULT '',
            reviewed_by INTEGER,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX sync_conflicts_open ON sync_conflicts(detected_at) WHERE reviewed_at = '';
        -- Secondary indexes dropped for a big first pull, rebuilt when the table is done
        -- (or by the next sync, or restore_indexes(), after a crash).
        CREATE TABLE sync_deferred_indexes (
            name TEXT PRIMARY KEY,
            tbl TEXT NOT NULL,
            sql TEXT NOT NULL
        );
        """
    )
