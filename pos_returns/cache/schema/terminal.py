"""Card money on the payment terminal (issue 14): the operations table and the refund
row's terminal columns."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("pos_returns.terminal")


@MIGRATIONS()
def m001_terminal_operations(db: Database) -> None:
    db.executescript(
        """
        -- One row per card amount sent to the terminal (or done on it by hand), written
        -- BEFORE the call: a till killed during the call leaves a 'pending' row, which the
        -- next start turns into 'unknown' (« à vérifier »). Not a fiscal table: the row
        -- moves pending -> approved / declined / unknown, unknown -> approved / declined
        -- by a manager; every move is journaled.
        CREATE TABLE terminal_operations (
            uuid TEXT PRIMARY KEY,
            draft_uuid TEXT NOT NULL,          -- the return being completed (the refund screen's)
            tender_key TEXT NOT NULL,          -- which refund of the draft (see card_payments)
            sale_tender_id INTEGER,            -- the sale's card it goes back to, if any
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            staff_id INTEGER NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('credit', 'debit')),
            amount INTEGER NOT NULL CHECK (amount > 0),
            mode TEXT NOT NULL CHECK (mode IN ('terminal', 'manual')),
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined', 'unknown')),
            reason_code TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            card_application TEXT NOT NULL DEFAULT '',
            read_mode TEXT NOT NULL DEFAULT '',
            transaction_id TEXT NOT NULL DEFAULT '',   -- AA-…|AB-…|AC-…|AI-…
            auth_number TEXT NOT NULL DEFAULT '',      -- typed: manual mode, manager check
            raw TEXT NOT NULL DEFAULT '{}',            -- the terminal's answer, JSON
            created_at TEXT NOT NULL,
            answered_at TEXT,
            checked_by INTEGER,                -- the manager who confirmed an unknown outcome
            checked_at TEXT,
            check_note TEXT NOT NULL DEFAULT '',
            ticket_uuid TEXT                   -- set by the ticket that carries it
        );
        CREATE INDEX terminal_operations_draft ON terminal_operations(draft_uuid);
        CREATE INDEX terminal_operations_open ON terminal_operations(status)
            WHERE status IN ('pending', 'unknown');
        CREATE INDEX terminal_operations_tender ON terminal_operations(sale_tender_id)
            WHERE sale_tender_id IS NOT NULL;
        -- What the terminal said about a card refund, on the fiscal refund row itself
        -- (in the ticket's signed record, printed on the ticket).
        ALTER TABLE refunds ADD COLUMN terminal_status TEXT NOT NULL DEFAULT '';
        ALTER TABLE refunds ADD COLUMN card_application TEXT NOT NULL DEFAULT '';
        ALTER TABLE refunds ADD COLUMN read_mode TEXT NOT NULL DEFAULT '';
        ALTER TABLE refunds ADD COLUMN transaction_id TEXT NOT NULL DEFAULT '';
        ALTER TABLE refunds ADD COLUMN auth_number TEXT NOT NULL DEFAULT '';
        ALTER TABLE refunds ADD COLUMN terminal_operation TEXT NOT NULL DEFAULT '';
        """
    )


@MIGRATIONS()
def m002_terminal_records_indexes(db: Database) -> None:
    db.executescript(
        """
        -- Issue 12: terminal_operations rows are checked against the journal's signed
        -- 'terminal' records (pos_returns.journal.terminal): the last record of an
        -- operation, the operations of a draft or of a sale card, found by the journal.
        CREATE INDEX journal_terminal_op ON journal(
            store_id, till_no, json_extract(payload, '$.uuid'), seq)
            WHERE kind IN ('terminal', 'terminal_check');
        CREATE INDEX journal_terminal_draft ON journal(
            store_id, till_no, json_extract(payload, '$.draft_uuid'))
            WHERE kind IN ('terminal', 'terminal_check');
        CREATE INDEX journal_terminal_tender ON journal(
            store_id, till_no, json_extract(payload, '$.sale_tender_id'))
            WHERE kind IN ('terminal', 'terminal_check');
        -- the ticket whose signed refund row carries an operation (records before v2)
        CREATE INDEX refunds_terminal_operation ON refunds(terminal_operation)
            WHERE terminal_operation != '';
        """
    )
