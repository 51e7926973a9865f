"""The store's own settings and staff account state (issue 17).

``store_settings``: what a manager changed on the settings screen, over the TOML
defaults (``source = 'store'``), or what HQ set and the till shows read-only
(``source = 'hq'``). Values are canonical JSON. Every change is journaled
(``config_change``: who, before, after), not stored here twice.

``staff.must_change_pin``: a PIN reset by a manager; the person sets a new one at
the next login.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("pos_returns.store")


@MIGRATIONS()
def m001_store_settings(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE store_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,              -- canonical JSON
            source TEXT NOT NULL DEFAULT 'store' CHECK (source IN ('store', 'hq')),
            updated_at TEXT NOT NULL,         -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            updated_by INTEGER                -- staff id (NULL when HQ set it)
        );
        ALTER TABLE staff ADD COLUMN must_change_pin INTEGER NOT NULL DEFAULT 0;
        """
    )


@MIGRATIONS()
def m002_staff_seal_and_chain_pins(db: Database) -> None:
    """Issue 12: ``staff.seal`` (pos_returns.journal.pins: the account under the chain's
    PIN pepper) and ``staff_pin_state``, the chain's count of wrong PINs per staff
    member as HQ last sent it (pulled), counted on here until the next exchange."""
    db.executescript(
        """
        ALTER TABLE staff ADD COLUMN seal TEXT NOT NULL DEFAULT '';
        CREATE TABLE staff_pin_state (
            staff_id INTEGER PRIMARY KEY,
            failed INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT NOT NULL DEFAULT '',   -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            updated_at TEXT NOT NULL DEFAULT ''
        );
        """
    )


@MIGRATIONS()
def m003_chain_unlocks(db: Database) -> None:
    """Issue 12: ``staff_pin_state.unlocked_at``, when HQ last recorded a manager's
    unlock of the person at any till (pos_returns.sync.pins.journal_hq_unlocks)."""
    db.execute("ALTER TABLE staff_pin_state ADD COLUMN unlocked_at TEXT NOT NULL DEFAULT ''")
