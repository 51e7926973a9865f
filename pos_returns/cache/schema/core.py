"""The chain's reference data and the return documents: the cache's core tables."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

CORE = Migrations("pos_returns.core")


@CORE()
def m001_reference_data(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE stores (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            address TEXT NOT NULL,
            postcode TEXT NOT NULL,
            city TEXT NOT NULL,
            siret TEXT NOT NULL,
            vat_number TEXT NOT NULL,
            has_fine_jewelry INTEGER NOT NULL DEFAULT 0,
            latitude REAL NOT NULL DEFAULT 0,
            longitude REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE tills (
            store_id INTEGER NOT NULL REFERENCES stores(id),
            till_no INTEGER NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (store_id, till_no)
        );
        CREATE TABLE vat_rates (
            rate_bp INTEGER PRIMARY KEY,
            label TEXT NOT NULL
        );
        CREATE TABLE departments (
            code TEXT PRIMARY KEY,
            name_fr TEXT NOT NULL,
            name_en TEXT NOT NULL
        );
        CREATE TABLE products (
            sku TEXT PRIMARY KEY,
            ean TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            department TEXT NOT NULL REFERENCES departments(code),
            vat_rate_bp INTEGER NOT NULL REFERENCES vat_rates(rate_bp),
            current_price INTEGER NOT NULL CHECK (current_price >= 0),
            return_tag_required INTEGER NOT NULL DEFAULT 0,
            fine_jewelry INTEGER NOT NULL DEFAULT 0,
            gift_card INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            account_number TEXT NOT NULL UNIQUE,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            name_key TEXT NOT NULL,      -- normalised "last first", lower case, no accents
            phone TEXT NOT NULL DEFAULT '',  -- digits only, national form "0612345678"
            email TEXT NOT NULL DEFAULT ''   -- lower case
        );
        CREATE INDEX customers_name_key ON customers(name_key);
        CREATE INDEX customers_phone ON customers(phone) WHERE phone != '';
        CREATE INDEX customers_email ON customers(email) WHERE email != '';
        CREATE TABLE staff (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,   -- staff code, also printed on the badge
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('salesperson', 'jewelry', 'manager')),
            store_id INTEGER NOT NULL REFERENCES stores(id),
            pin_hash TEXT NOT NULL,      -- scrypt, salted; never the PIN
            active INTEGER NOT NULL DEFAULT 1
        );
        -- Local, mutable security state (not synced): wrong PIN counts and lockouts.
        CREATE TABLE staff_lockout (
            staff_id INTEGER PRIMARY KEY REFERENCES staff(id),
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE sales (
            id INTEGER PRIMARY KEY,
            receipt_number TEXT,         -- 17 digits (engine/codes.py); NULL for web orders
            order_number TEXT,           -- AlamaraStore.com order "W#########"; NULL in store
            -- CHECKs written with OR, not IN (...): SQLite builds the IN list anew for
            -- every row inserted, which made bulk loads of sales and tenders 2.5x slower.
            channel TEXT NOT NULL CHECK (channel = 'store' OR channel = 'online'),
            store_id INTEGER NOT NULL REFERENCES stores(id),
            till_no INTEGER NOT NULL DEFAULT 0,
            sold_at TEXT NOT NULL,       -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            customer_id INTEGER REFERENCES customers(id),
            staff_id INTEGER,
            international INTEGER NOT NULL DEFAULT 0,
            gift_receipt INTEGER NOT NULL DEFAULT 0,
            merchandise INTEGER NOT NULL,
            shipping INTEGER NOT NULL DEFAULT 0,
            duties INTEGER NOT NULL DEFAULT 0,   -- duties, taxes and tariffs (international)
            total INTEGER NOT NULL,
            packing_slip TEXT NOT NULL DEFAULT ''
        );
        -- Unique, as partial indexes (not column constraints) so that a bulk load can drop
        -- and rebuild them, and so that the NULLs of the other channel take no room.
        CREATE UNIQUE INDEX sales_receipt ON sales(receipt_number)
            WHERE receipt_number IS NOT NULL;
        CREATE UNIQUE INDEX sales_order ON sales(order_number) WHERE order_number IS NOT NULL;
        CREATE INDEX sales_sold_at ON sales(sold_at);
        CREATE INDEX sales_customer ON sales(customer_id, sold_at) WHERE customer_id IS NOT NULL;
        CREATE TABLE sale_lines (
            id INTEGER PRIMARY KEY,
            sale_id INTEGER NOT NULL REFERENCES sales(id),
            line_no INTEGER NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            unit_price INTEGER NOT NULL CHECK (unit_price >= 0),  -- paid, after discounts
            list_price INTEGER NOT NULL,
            vat_rate_bp INTEGER NOT NULL,
            serial_number TEXT NOT NULL DEFAULT '',
            -- copy of sales.sold_at (filled by the trigger below when left empty), so that
            -- "this article between two dates" is one index range, newest first
            sold_at TEXT NOT NULL DEFAULT ''
        );
        CREATE TRIGGER sale_lines_sold_at AFTER INSERT ON sale_lines WHEN NEW.sold_at = ''
        BEGIN
            UPDATE sale_lines SET sold_at = (SELECT sold_at FROM sales WHERE id = NEW.sale_id)
            WHERE id = NEW.id;
        END;
        CREATE INDEX sale_lines_sale ON sale_lines(sale_id);
        CREATE INDEX sale_lines_sku ON sale_lines(sku, sold_at, sale_id);
        CREATE INDEX sale_lines_serial ON sale_lines(serial_number) WHERE serial_number != '';
        CREATE TABLE tenders (
            id INTEGER PRIMARY KEY,
            sale_id INTEGER NOT NULL REFERENCES sales(id),
            kind TEXT NOT NULL
                CHECK (kind = 'cash' OR kind = 'card' OR kind = 'gift_card' OR kind = 'notes'),
            amount INTEGER NOT NULL CHECK (amount > 0),
            card_last4 TEXT NOT NULL DEFAULT '',
            card_fingerprint TEXT NOT NULL DEFAULT '',
            card_brand TEXT NOT NULL DEFAULT '',
            gift_card_number TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX tenders_sale ON tenders(sale_id);
        CREATE INDEX tenders_card ON tenders(card_last4, sale_id) WHERE kind = 'card';
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


@CORE()
def m002_return_documents(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE return_tickets (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL,
            number INTEGER NOT NULL,          -- gap-free per till
            created_at TEXT NOT NULL,         -- UTC "YYYY-MM-DDTHH:MM:SSZ"
            staff_id INTEGER NOT NULL,
            sale_id INTEGER REFERENCES sales(id),  -- NULL: no record of sale (R07)
            kind TEXT NOT NULL CHECK (kind IN ('receipt', 'no_receipt', 'exchange')),
            gift INTEGER NOT NULL DEFAULT 0,
            offline INTEGER NOT NULL DEFAULT 0,
            refund_total INTEGER NOT NULL DEFAULT 0,  -- merchandise credited to the customer
            charge_total INTEGER NOT NULL DEFAULT 0,  -- new items of an exchange
            net INTEGER NOT NULL DEFAULT 0,           -- refund_total - charge_total - fees
            restocking_fees INTEGER NOT NULL DEFAULT 0,
            origin TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'hq')),
            UNIQUE (store_id, till_no, number)
        );
        CREATE INDEX return_tickets_sale ON return_tickets(sale_id) WHERE sale_id IS NOT NULL;
        CREATE INDEX return_tickets_created ON return_tickets(created_at);
        CREATE TABLE return_lines (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES return_tickets(id),
            line_no INTEGER NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('return', 'sale')),
            sale_line_id INTEGER REFERENCES sale_lines(id),  -- the line it returns
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            unit_amount INTEGER NOT NULL CHECK (unit_amount >= 0),
            amount INTEGER NOT NULL,     -- signed: returned lines negative, new items positive
            vat_rate_bp INTEGER NOT NULL,
            condition TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            rule_codes TEXT NOT NULL DEFAULT '',  -- e.g. "R02,R13"
            restocking_fee INTEGER NOT NULL DEFAULT 0,
            serial_number TEXT NOT NULL DEFAULT '',
            UNIQUE (ticket_id, line_no)
        );
        CREATE INDEX return_lines_sale_line ON return_lines(sale_line_id)
            WHERE sale_line_id IS NOT NULL;
        CREATE TABLE refunds (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES return_tickets(id),
            kind TEXT NOT NULL CHECK (kind IN ('cash', 'card', 'gift_card', 'notes')),
            amount INTEGER NOT NULL,     -- cents to the customer (negative: the customer pays)
            sale_tender_id INTEGER REFERENCES tenders(id),  -- the tender it goes back to
            card_last4 TEXT NOT NULL DEFAULT '',
            gift_card_number TEXT NOT NULL DEFAULT '',  -- a new Alamara Gift Card issued
            beyond_original INTEGER NOT NULL DEFAULT 0  -- R05: card credited beyond its charge
        );
        CREATE INDEX refunds_ticket ON refunds(ticket_id);
        CREATE INDEX refunds_tender ON refunds(sale_tender_id) WHERE sale_tender_id IS NOT NULL;
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES return_tickets(id),
            line_no INTEGER,             -- NULL: the whole ticket
            rule TEXT NOT NULL,          -- the rule overridden or applied, e.g. "R13"
            manager_id INTEGER NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('approved', 'refused')),
            reason TEXT NOT NULL,
            decided_at TEXT NOT NULL
        );
        CREATE INDEX approvals_ticket ON approvals(ticket_id);
        CREATE TABLE gift_cards (
            number TEXT PRIMARY KEY,     -- 19 digits, Luhn check digit
            security_hash TEXT NOT NULL, -- keyed hash of the security code
            initial_amount INTEGER NOT NULL CHECK (initial_amount > 0),
            issued_ticket_id INTEGER REFERENCES return_tickets(id),
            issued_at TEXT NOT NULL,
            store_id INTEGER NOT NULL,
            till_no INTEGER NOT NULL
        );
        """
    )


@CORE()
def m003_outbox(db: Database) -> None:
    # Documents waiting to go up to HQ (each with its UUID); sync marks them sent.
    db.executescript(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,          -- "return_ticket", "journal_head", "id_check", ...
            payload TEXT NOT NULL,       -- canonical JSON
            created_at TEXT NOT NULL,
            sent_at TEXT NOT NULL DEFAULT '',
            result TEXT NOT NULL DEFAULT ''  -- "", "ok", "conflict"
        );
        CREATE INDEX outbox_waiting ON outbox(id) WHERE sent_at = '';
        """
    )


@CORE()
def m004_gift_card_tenders(db: Database) -> None:
    # A gift card scanned at the till shows its balance: what was paid with it.
    db.execute(
        "CREATE INDEX IF NOT EXISTS tenders_gift_card ON tenders(gift_card_number) "
        "WHERE kind = 'gift_card'"
    )
