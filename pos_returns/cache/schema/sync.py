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


@MIGRATIONS()
def m002_reservations_and_quarantine(db: Database) -> None:
    db.executescript(
        """
        -- A reservation asked of HQ before any money moves (docs/sync.md). Written
        -- BEFORE asking HQ, so that a till that dies between HQ's "reserved" and its
        -- own commit finds the uuid again and tells HQ at its next contact.
        -- uuid is the return ticket's uuid (the push of the ticket confirms it).
        CREATE TABLE pending_reservations (
            uuid TEXT PRIMARY KEY,
            sale_id INTEGER,
            lines TEXT NOT NULL,             -- JSON [[sale_line_id, qty, amount], ...]
            tenders TEXT NOT NULL,           -- JSON [[tender_id, amount, beyond], ...]
            state TEXT NOT NULL DEFAULT 'asking' CHECK (state IN (
                'asking',     -- written, HQ asked (or about to be)
                'reserved',   -- HQ answered reserved, the commit is next
                'offline',    -- HQ did not answer in time (it may still have reserved)
                'conflict',   -- HQ refused: nothing committed, nothing to free
                'committed',  -- the ticket is committed; its push confirms the reservation
                'abandoned',  -- the commit failed: HQ is told to free it at next contact
                'confirmed',  -- HQ received the ticket
                'released'    -- HQ freed it (never committed)
            )),
            answer TEXT NOT NULL DEFAULT '',  -- HQ's answer (JSON)
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX pending_reservations_open ON pending_reservations(created_at)
            WHERE state NOT IN ('confirmed', 'released', 'conflict');
        -- A pulled row that failed validation: kept with its reason for the manager,
        -- never written into the cache; the rest of the sync goes on.
        CREATE TABLE sync_quarantine (
            id INTEGER PRIMARY KEY,
            tbl TEXT NOT NULL,
            row_key TEXT NOT NULL,           -- JSON list of the key's values at HQ
            reason TEXT NOT NULL,            -- machine code, e.g. "sale_lines.unit_price:bounds"
            detail TEXT NOT NULL DEFAULT '', -- the row as received (JSON, for support)
            detected_at TEXT NOT NULL,
            resolved_at TEXT NOT NULL DEFAULT '',  -- a later, valid version was written
            UNIQUE (tbl, row_key)
        );
        CREATE INDEX sync_quarantine_open ON sync_quarantine(detected_at)
            WHERE resolved_at = '';
        """
    )
