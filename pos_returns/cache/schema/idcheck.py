"""No-receipt ID data (R07/R19): the identity checks and the chain-wide history R19
counts, guarded like the fiscal tables except for the deletions RGPD requires."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from pos_returns.cache.schema.journal import (
    _append_only_triggers,
    no_replace_trigger,
    unique_index_guard,
)

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


def _deletable(alias: str = "OLD") -> str:
    """The rows the RGPD may delete: past a retention cutoff, or named by an erasure,
    both granted in ``id_deletions`` (whose rows ``journal verify`` matches with the
    signed ``privacy_purge`` / ``privacy_request`` records)."""
    return f"""(
        EXISTS (SELECT 1 FROM id_deletions d WHERE d.kind = 'erasure'
                AND d.row_uuid = {alias}.uuid)
        OR EXISTS (SELECT 1 FROM id_deletions d WHERE d.kind = 'retention'
                   AND {alias}.created_at < d.cutoff))"""


@MIGRATIONS()
def m002_id_guards(db: Database) -> None:
    """Issue 12 (audit, R19): ``DELETE FROM id_ledger`` or ``UPDATE id_checks SET amount =
    0`` erased an identity's history of no-receipt refunds.

    * ``id_ledger`` is append-only: never updated; a row that exists is never written
      again (REPLACE with the same uuid is ignored, so the idempotent pulls and links
      keep working; an explicit ``seq`` that exists is refused);
    * ``id_checks``: a decided check (refunded or refused) is never changed; a pending
      one only gets its decision, never another identity, date or till;
    * both are deleted only where the RGPD requires it: a pending check (cancelled or
      abandoned), rows past the retention cutoff of a purge, rows named by an erasure
      request. The purge and the erasure first write their grant in ``id_deletions``
      (append-only) and journal it; ``journal verify`` checks every grant against its
      signed record.
    """
    msg_update = "id_checks: a decided identity check is never changed"
    msg_delete = ("{table}: the identity history is deleted only by the retention purge or "
                  "an erasure request, journaled")
    db.executescript(
        """
        CREATE TABLE id_deletions (
            id INTEGER PRIMARY KEY,
            purge_id TEXT NOT NULL,            -- the signed record's "purge_id"
            kind TEXT NOT NULL CHECK (kind IN ('retention', 'erasure')),
            cutoff TEXT NOT NULL DEFAULT '',   -- retention: rows created before it may go
            row_uuid TEXT NOT NULL DEFAULT '', -- erasure: the check / ledger uuid that may go
            created_at TEXT NOT NULL
        );
        CREATE INDEX id_deletions_row ON id_deletions(row_uuid) WHERE kind = 'erasure';
        CREATE INDEX id_deletions_cutoff ON id_deletions(cutoff) WHERE kind = 'retention';
        """
        + _append_only_triggers("id_deletions")
        + no_replace_trigger("id_deletions", ("rowid",), 1)
        + unique_index_guard("id_deletions")
        + f"""
        CREATE TRIGGER id_ledger_no_update BEFORE UPDATE ON id_ledger
        BEGIN SELECT RAISE(ABORT, 'id_ledger is append-only: UPDATE refused'); END;
        CREATE TRIGGER id_ledger_no_delete BEFORE DELETE ON id_ledger
        WHEN NOT {_deletable()}
        BEGIN SELECT RAISE(ABORT, '{msg_delete.format(table="id_ledger")}'); END;
        -- the row exists: written once (REPLACE would delete it first), skipped silently
        CREATE TRIGGER id_ledger_once BEFORE INSERT ON id_ledger
        WHEN EXISTS (SELECT 1 FROM id_ledger WHERE uuid = NEW.uuid)
        BEGIN SELECT RAISE(IGNORE); END;
        CREATE TRIGGER id_checks_decided_once BEFORE UPDATE ON id_checks
        WHEN OLD.status != 'pending' OR NEW.uuid IS NOT OLD.uuid
          OR NEW.doc_type IS NOT OLD.doc_type OR NEW.last4 IS NOT OLD.last4
          OR NEW.id_hash IS NOT OLD.id_hash OR NEW.name IS NOT OLD.name
          OR NEW.store_id IS NOT OLD.store_id OR NEW.till_no IS NOT OLD.till_no
          OR NEW.staff_id IS NOT OLD.staff_id OR NEW.created_at IS NOT OLD.created_at
        BEGIN SELECT RAISE(ABORT, '{msg_update}'); END;
        CREATE TRIGGER id_checks_no_delete BEFORE DELETE ON id_checks
        WHEN OLD.status != 'pending' AND NOT {_deletable()}
        BEGIN SELECT RAISE(ABORT, '{msg_delete.format(table="id_checks")}'); END;
        """
        + no_replace_trigger("id_ledger", ("rowid",), 1)
        + no_replace_trigger("id_checks", ("rowid",), 1)
        + no_replace_trigger("id_checks", ("uuid",), 2)
        + unique_index_guard("id_ledger")
        + unique_index_guard("id_checks")
        + unique_index_guard("id_checks", "UPDATE")
    )
