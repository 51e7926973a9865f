"""The signed fiscal journal's tables, closures, and the append-only triggers on every
fiscal table."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

FISCAL_TABLES = (
    "journal",
    "journal_keys",
    "closures",
    "return_tickets",
    "return_lines",
    "refunds",
    "approvals",
    "gift_cards",
)

# Every table the guards protect (issue 12): the fiscal tables, the chain head, the used
# approval tokens, the customer's signatures (jewelry set) and the no-receipt identity
# history (idcheck set). ``pos_returns.cache.guards`` compares their schema objects with
# what the migrations create, at start-up, in ``journal verify`` and before each return.
GUARDED_TABLES = (
    *FISCAL_TABLES,
    "journal_heads",
    "approval_tokens",
    "ticket_signatures",
    "id_checks",
    "id_ledger",
    "id_deletions",
)

JOURNAL = Migrations("pos_returns.journal")


def _append_only_triggers(table: str) -> str:
    return f"""
        CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, 'fiscal table {table} is append-only: UPDATE refused'); END;
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, 'fiscal table {table} is append-only: DELETE refused'); END;
    """


@JOURNAL()
def m001_journal(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE journal_keys (
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            key_id TEXT NOT NULL,         -- first 16 hex digits of SHA-256(public key)
            public_key TEXT NOT NULL,     -- raw Ed25519 public key, hex
            public_pem TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (store_id, till_no, key_id)
        );
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY,
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            seq INTEGER NOT NULL CHECK (seq > 0),   -- gap-free per till
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL,               -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            ticket_uuid TEXT NOT NULL DEFAULT '',   -- the return ticket it concerns, if any
            key_id TEXT NOT NULL,
            payload TEXT NOT NULL,                  -- canonical JSON
            prev_hash TEXT NOT NULL,                -- SHA-256 of the previous record ('' first)
            prev_signature TEXT NOT NULL,           -- the previous record's signature
            signature TEXT NOT NULL,                -- Ed25519 over this record's bytes, hex
            UNIQUE (store_id, till_no, seq)
        );
        CREATE INDEX journal_ticket ON journal(ticket_uuid) WHERE ticket_uuid != '';
        CREATE INDEX journal_kind ON journal(store_id, till_no, kind, seq);
        -- The chain head, also sent to HQ: a truncated journal no longer reaches it.
        CREATE TABLE journal_heads (
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (store_id, till_no)
        );
        CREATE TRIGGER journal_heads_forward BEFORE UPDATE ON journal_heads
        WHEN NEW.seq <= OLD.seq OR NEW.store_id != OLD.store_id OR NEW.till_no != OLD.till_no
        BEGIN SELECT RAISE(ABORT, 'the journal head only moves forward'); END;
        CREATE TRIGGER journal_heads_no_delete BEFORE DELETE ON journal_heads
        BEGIN SELECT RAISE(ABORT, 'the journal head cannot be deleted'); END;
        CREATE TABLE closures (
            id INTEGER PRIMARY KEY,
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            period_kind TEXT NOT NULL CHECK (period_kind IN ('day', 'month', 'year')),
            period TEXT NOT NULL,            -- "2026-11-26", "2026-11", "2026"
            created_at TEXT NOT NULL,
            staff_id INTEGER,
            first_number INTEGER NOT NULL,   -- ticket numbers covered (first > last: none)
            last_number INTEGER NOT NULL,
            ticket_count INTEGER NOT NULL,
            net INTEGER NOT NULL,            -- money to customers over the period
            grand_total INTEGER NOT NULL,    -- perpetual: never reset
            grand_total_abs INTEGER NOT NULL,
            totals TEXT NOT NULL,            -- canonical JSON, as journaled
            journal_seq INTEGER NOT NULL,
            UNIQUE (store_id, till_no, period_kind, period)
        );
        -- INSERT OR REPLACE would delete silently (delete triggers do not fire on
        -- REPLACE unless recursive_triggers is on): refuse a second row for a key.
        CREATE TRIGGER journal_no_replace BEFORE INSERT ON journal
        WHEN EXISTS (SELECT 1 FROM journal WHERE store_id = NEW.store_id
                     AND till_no = NEW.till_no AND seq = NEW.seq)
        BEGIN SELECT RAISE(ABORT, 'journal record already exists'); END;
        CREATE TRIGGER closures_no_replace BEFORE INSERT ON closures
        WHEN EXISTS (SELECT 1 FROM closures WHERE store_id = NEW.store_id
                     AND till_no = NEW.till_no AND period_kind = NEW.period_kind
                     AND period = NEW.period)
        BEGIN SELECT RAISE(ABORT, 'period already closed'); END;
        """
        + "".join(_append_only_triggers(t) for t in FISCAL_TABLES)
    )


# Every key of every fiscal table, for the REPLACE guards of m002: (table, key columns).
# ``rowid`` covers INSERT OR REPLACE with an explicit rowid / INTEGER PRIMARY KEY.
FISCAL_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("journal", ("rowid",)),
    ("journal", ("store_id", "till_no", "seq")),
    ("journal_keys", ("rowid",)),
    ("journal_keys", ("store_id", "till_no", "key_id")),
    ("journal_heads", ("rowid",)),
    ("journal_heads", ("store_id", "till_no")),
    ("closures", ("rowid",)),
    ("closures", ("store_id", "till_no", "period_kind", "period")),
    ("return_tickets", ("rowid",)),
    ("return_tickets", ("uuid",)),
    ("return_tickets", ("store_id", "till_no", "number")),
    ("return_lines", ("rowid",)),
    ("return_lines", ("ticket_id", "line_no")),
    ("refunds", ("rowid",)),
    ("approvals", ("rowid",)),
    ("gift_cards", ("rowid",)),
    ("gift_cards", ("number",)),
)


def no_replace_trigger(table: str, key: tuple[str, ...], n: int) -> str:
    """A BEFORE INSERT trigger that refuses a row whose key already exists.

    SQLite's REPLACE (``INSERT OR REPLACE``, ``REPLACE INTO``) deletes the
    conflicting row *without* firing DELETE triggers unless ``recursive_triggers``
    is on — a setting of the connection, which an attacker chooses. The BEFORE
    INSERT trigger fires before the conflict is resolved, on every connection,
    so the old row is never deleted. ``INSERT … ON CONFLICT DO UPDATE`` (UPSERT)
    and ``INSERT OR IGNORE`` of an existing key are refused the same way: the
    till never writes a fiscal row twice.
    """
    cond = " AND ".join(f"{c} = NEW.{c}" for c in key)
    return f"""
        CREATE TRIGGER {table}_no_replace_{n} BEFORE INSERT ON {table}
        WHEN EXISTS (SELECT 1 FROM {table} WHERE {cond})
        BEGIN SELECT RAISE(ABORT,
            'fiscal table {table} is append-only: this row exists, REPLACE/UPSERT refused');
        END;
    """


@JOURNAL()
def m002_replace_guards(db: Database) -> None:
    """Issue 12: REPLACE / UPSERT refused on every fiscal table, whatever the connection's
    settings (see :func:`no_replace_trigger`)."""
    script = (
        "DROP TRIGGER IF EXISTS journal_no_replace; DROP TRIGGER IF EXISTS closures_no_replace;"
    )
    counts: dict[str, int] = {}
    for table, key in FISCAL_KEYS:
        counts[table] = counts.get(table, 0) + 1
        script += no_replace_trigger(table, key, counts[table])
    # the digest of a ticket's rows (journal/digest.py) reads the gift cards it issued
    script += "CREATE INDEX IF NOT EXISTS gift_cards_ticket ON gift_cards(issued_ticket_id);"
    db.executescript(script)


@JOURNAL()
def m003_approval_tokens(db: Database) -> None:
    """Issue 12: the approval tokens already used (single use), append-only."""
    db.executescript(
        """
        CREATE TABLE approval_tokens (
            token_id TEXT PRIMARY KEY,      -- the token's random id (its claims' "id")
            ticket_uuid TEXT NOT NULL,      -- the ticket that used it
            manager_id INTEGER NOT NULL,
            rule TEXT NOT NULL,
            used_at TEXT NOT NULL
        );
        """
        + _append_only_triggers("approval_tokens")
        + no_replace_trigger("approval_tokens", ("rowid",), 1)
        + no_replace_trigger("approval_tokens", ("token_id",), 2)
    )


def unique_index_guard(table: str, event: str = "INSERT") -> str:
    """A trigger that refuses every INSERT (or UPDATE) on ``table`` while a UNIQUE index
    that the migrations did not create is on it.

    REPLACE deletes the row it conflicts with on *any* unique index, without firing a
    DELETE trigger: ``CREATE UNIQUE INDEX x ON refunds(ticket_id)`` then ``INSERT OR
    REPLACE`` deleted a refund with every other guard in place. The migrations create
    no ``CREATE UNIQUE INDEX`` on a guarded table (their unique keys are constraints of
    the table, SQLite's ``sqlite_autoindex_…``, and the REPLACE guards know them), so
    any such index is someone else's: the write is refused before SQLite resolves a
    conflict. SQLite stores an index's SQL as ``CREATE UNIQUE INDEX …`` whatever was
    typed. A migration that needs a unique index on a guarded table must name it here.
    """
    msg = (f"fiscal table {table} is append-only: a UNIQUE index the till did not create "
           f"is on it, {event} refused (REPLACE would delete rows)")
    return f"""
        CREATE TRIGGER {table}_no_unknown_unique_{event.lower()} BEFORE {event} ON {table}
        WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index'
                     AND tbl_name = '{table}' AND sql LIKE 'CREATE UNIQUE INDEX%')
        BEGIN SELECT RAISE(ABORT, '{msg}'); END;
    """


@JOURNAL()
def m004_unique_index_and_gift_card_guards(db: Database) -> None:
    """Issue 12 (audit): no REPLACE through a UNIQUE index added behind the till's back
    (:func:`unique_index_guard`); a gift card is issued by a return ticket that exists."""
    tables = (*FISCAL_TABLES, "journal_heads", "approval_tokens")
    script = "".join(unique_index_guard(t) for t in tables)
    script += unique_index_guard("journal_heads", "UPDATE")  # the head moves by UPDATE
    script += """
        CREATE TRIGGER gift_cards_issued_by_a_ticket BEFORE INSERT ON gift_cards
        WHEN NEW.issued_ticket_id IS NULL
          OR NOT EXISTS (SELECT 1 FROM return_tickets WHERE id = NEW.issued_ticket_id)
        BEGIN SELECT RAISE(ABORT,
            'fiscal table gift_cards: a gift card is issued by a return ticket of this cache');
        END;
    """
    db.executescript(script)
