"""Fine jewelry (R14): the customer's signatures and inspections, append-only."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from pos_returns.cache.schema.journal import no_replace_trigger, unique_index_guard

MIGRATIONS = Migrations("pos_returns.jewelry")


@MIGRATIONS()
def m001_ticket_signatures(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE ticket_signatures (
            ticket_uuid TEXT PRIMARY KEY,   -- the return ticket (return_tickets.uuid)
            png BLOB NOT NULL,              -- the customer's signature, as drawn on screen
            sha256 TEXT NOT NULL,           -- also in the ticket's signed journal record
            inspections TEXT NOT NULL,      -- JSON: per jewelry line, serial + checklist
            created_at TEXT NOT NULL
        );
        CREATE TRIGGER ticket_signatures_no_update BEFORE UPDATE ON ticket_signatures
        BEGIN SELECT RAISE(ABORT, 'fiscal table ticket_signatures is append-only: UPDATE refused');
        END;
        CREATE TRIGGER ticket_signatures_no_delete BEFORE DELETE ON ticket_signatures
        BEGIN SELECT RAISE(ABORT, 'fiscal table ticket_signatures is append-only: DELETE refused');
        END;
        """
    )


@MIGRATIONS()
def m002_ticket_signatures_no_replace(db: Database) -> None:
    """Issue 12: REPLACE / UPSERT refused on the signatures too (see
    ``pos_returns.cache.schema.journal._no_replace_trigger``)."""
    db.executescript(
        no_replace_trigger("ticket_signatures", ("rowid",), 1)
        + no_replace_trigger("ticket_signatures", ("ticket_uuid",), 2)
    )


@MIGRATIONS()
def m003_ticket_signatures_unique_index_guard(db: Database) -> None:
    """Issue 12 (audit): no REPLACE through a UNIQUE index added behind the till's back."""
    db.executescript(unique_index_guard("ticket_signatures"))
