"""No-receipt ID data (R07/R19), outside the fiscal chain."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("pos_returns.idcheck")


@MIGRATIONS()
def m001_id_tables(db: Database) -> None:
    # Outside the fiscal chain on purpose: no append-only triggers, so the purge
    # can delete rows. Nothing here is referenced by a fiscal table.
    db.executescript(
        """
        CREATE TABLE id_checks (
            uuid TEXT PRIMARY KEY,
            doc_type TEXT NOT NULL CHECK (doc_type IN
                ('cni', 'passport', 'residence_permit', 'driving_licence')),
            last4 TEXT NOT NULL,          -- last 4 characters of the normalised number
            id_hash TEXT NOT NULL,        -- hex HMAC-SHA256(chain secret, normalised number)
            name TEXT NOT NULL,
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            staff_id INTEGER,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'refunded', 'refused')),
            ticket_uuid TEXT,             -- the return ticket, once committed
            amount INTEGER NOT NULL DEFAULT 0,  -- cents refunded (gift card, current price)
            created_at TEXT NOT NULL,     -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            decided_at TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX id_checks_hash ON id_checks(id_hash, created_at);
        CREATE INDEX id_checks_created ON id_checks(created_at);
        CREATE INDEX id_checks_ticket ON id_checks(ticket_uuid) WHERE ticket_uuid IS NOT NULL;
        CREATE TABLE id_ledger (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- push cursor for HQ sync
            uuid TEXT NOT NULL UNIQUE,    -- the id_check's uuid at the till that made it
            id_hash TEXT NOT NULL,
            amount INTEGER NOT NULL,
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            origin TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'hq'))
        );
        CREATE INDEX id_ledger_hash ON id_ledger(id_hash, created_at);
        CREATE INDEX id_ledger_created ON id_ledger(created_at);
        """
    )
