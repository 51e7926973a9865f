"""E-mailed tickets waiting for a retry (pos_returns.devices.mail, usecases.delivery).

Not a fiscal table: a row is updated as its attempts go, and its address and PDF are
cleared once the mail is sent or given up (RGPD: the address is used to send, not
kept). What stays is the ticket, a masked address and the last error, for the
manager's review.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("pos_returns.mail")


@MIGRATIONS()
def m001_mail_outbox(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE mail_outbox (
            id INTEGER PRIMARY KEY,
            ticket_uuid TEXT NOT NULL,
            ticket_code TEXT NOT NULL,
            to_address TEXT NOT NULL,      -- masked (j…@example.fr) once sent or given up
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            filename TEXT NOT NULL,
            pdf BLOB NOT NULL,             -- emptied once sent or given up
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL, -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX mail_outbox_due ON mail_outbox(state, next_attempt_at);
        """
    )
