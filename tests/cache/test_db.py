"""The local cache: migrations on empty and existing files, pragmas, indexes, atomic()."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from pos_returns.cache import db as store
from pos_returns.cache.db import atomic, connect, migrate, open_cache
from pos_returns.cache.schema import migration_sets
from pos_returns.cache.schema.core import CORE
from pos_returns.errors import NotFound
from tests.helpers import L, add_sale, seed_reference


def all_migration_names() -> list[str]:
    return [m.name for s in migration_sets() for m in s._migrations]


def applied(db) -> list[str]:
    return [r[0] for r in db.conn.execute(
        "SELECT name FROM _sqlite_migrations ORDER BY rowid")]


def tables(db) -> set[str]:
    return {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrations_on_an_empty_file(tmp_path):
    path = tmp_path / "new" / "cache.sqlite"  # the folder is created too
    db = open_cache(path)
    assert path.exists()
    assert applied(db) == all_migration_names()
    assert {"stores", "tills", "vat_rates", "departments", "products", "customers", "staff",
            "sales", "sale_lines", "tenders", "meta", "return_tickets", "return_lines",
            "refunds", "approvals", "gift_cards", "outbox"} <= tables(db)
    assert db.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert db.conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    db.close()


def test_reopening_applies_nothing_and_keeps_the_data(tmp_path):
    path = tmp_path / "cache.sqlite"
    db = open_cache(path)
    seed_reference(db)
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    before = applied(db)
    db.close()

    db = connect(path)
    assert migrate(db) == []
    assert applied(db) == before
    assert db.conn.execute("SELECT total FROM sales WHERE id = ?", [sale_id]).fetchone() == (
        18900,)
    assert db["products"].count == 10
    db.close()


def test_an_older_file_gets_the_migrations_it_lacks(tmp_path):
    path = tmp_path / "old.sqlite"
    db = connect(path)
    first, second = CORE._migrations[0].name, CORE._migrations[1].name
    CORE.apply(db, stop_before=second)  # a file made by the very first version
    assert applied(db) == [first]
    assert "return_tickets" not in tables(db)
    seed_reference(db)
    sale_id = add_sale(db, [L("SKU-CHEM-01", 2, 7900)])
    db.close()

    db = open_cache(path)
    assert applied(db) == all_migration_names()
    assert "return_tickets" in tables(db) and "outbox" in tables(db)
    assert db.conn.execute("SELECT merchandise FROM sales WHERE id = ?", [sale_id]).fetchone() \
        == (15800,)
    assert migrate(db) == []
    db.close()


def test_connect_without_create_refuses_a_missing_file(tmp_path):
    with pytest.raises(NotFound):
        connect(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()


def test_readonly_connection_cannot_write(tmp_path):
    path = tmp_path / "ro.sqlite"
    open_cache(path).close()
    db = connect(path, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        db.conn.execute("INSERT INTO meta(key, value) VALUES ('a', 'b')")
    db.close()


def test_atomic_rolls_back_everything_on_error(db):
    with pytest.raises(RuntimeError):
        with atomic(db):
            store.set_meta(db, "x", "1")
            add_sale(db, [L("SKU-ROBE-01", 1, 100)])  # nested atomic
            raise RuntimeError("boom")
    assert store.get_meta(db, "x", "absent") == "absent"
    assert db["sales"].count == 0
    with atomic(db):
        store.set_meta(db, "x", "2")
    assert store.get_meta(db, "x") == "2"


def test_meta_set_twice_keeps_the_last_value(db):
    store.set_meta(db, "k", "1")
    store.set_meta(db, "k", "2")
    assert store.get_meta(db, "k") == "2"
    assert db.conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'k'").fetchone() == (1,)


@pytest.mark.parametrize(("sql", "params"), [
    ("INSERT INTO sales(receipt_number, channel, store_id, sold_at, merchandise, total) "
     "VALUES ('1', 'phone', 1, '2025-01-01T10:00:00Z', 1, 1)", ()),
    ("INSERT INTO tenders(sale_id, kind, amount) VALUES (?, 'cheque', 100)", ("sale",)),
    ("INSERT INTO tenders(sale_id, kind, amount) VALUES (?, 'cash', 0)", ("sale",)),
    ("INSERT INTO sale_lines(sale_id, line_no, sku, quantity, unit_price, list_price, "
     "vat_rate_bp) VALUES (?, 9, 'SKU-ROBE-01', 0, 100, 100, 2000)", ("sale",)),
    ("INSERT INTO tenders(sale_id, kind, amount) VALUES (999999, 'cash', 100)", ()),
])
def test_constraints_refuse_bad_rows(db, sql, params):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 100)])
    values = [sale_id if p == "sale" else p for p in params]
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute(sql, values)


def test_receipt_and_order_numbers_are_unique(db):
    add_sale(db, [L("SKU-ROBE-01", 1, 100)], channel="online", order_number="W123456789")
    with pytest.raises(sqlite3.IntegrityError):
        add_sale(db, [L("SKU-ROBE-01", 1, 100)], channel="online", order_number="W123456789")
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 100)])
    receipt = db.conn.execute("SELECT receipt_number FROM sales WHERE id = ?",
                              [sale_id]).fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute(
            "INSERT INTO sales(receipt_number, channel, store_id, sold_at, merchandise, total) "
            "VALUES (?, 'store', 1, '2025-01-01T10:00:00Z', 1, 1)", [receipt])
    # many web orders (no receipt) and store sales (no order) side by side
    for _ in range(3):
        add_sale(db, [L("SKU-ROBE-01", 1, 100)], channel="online")
    assert db.conn.execute("SELECT COUNT(*) FROM sales WHERE receipt_number IS NULL").fetchone() \
        == (4,)


def test_lines_take_their_sale_date_unless_given(db):
    sale_id = add_sale(db, [L("SKU-ROBE-01", 1, 100)], sold_on=date(2024, 12, 24))
    db.conn.execute("INSERT INTO sale_lines(sale_id, line_no, sku, quantity, unit_price, "
                    "list_price, vat_rate_bp, sold_at) VALUES (?, 2, 'SKU-CHEM-01', 1, 1, 1, "
                    "2000, '2024-12-24T10:30:00Z')", [sale_id])
    dates = db.conn.execute("SELECT DISTINCT sold_at FROM sale_lines WHERE sale_id = ?",
                            [sale_id]).fetchall()
    assert dates == [("2024-12-24T10:30:00Z",)]


# Each lookup path is served by an index: the plan never scans a big table.
LOOKUP_PLANS = {
    "receipt": ("SELECT id FROM sales WHERE receipt_number = ?", ["00101250315000145"],
                "sales_receipt"),
    "order": ("SELECT id FROM sales WHERE order_number = ?", ["W123456789"], "sales_order"),
    "card": ("SELECT s.id FROM tenders t JOIN sales s ON s.id = t.sale_id "
             "WHERE t.kind = 'card' AND t.card_last4 = ? AND s.sold_at >= ? AND s.sold_at < ? "
             "ORDER BY s.sold_at DESC, s.id DESC LIMIT 50", ["1234", "2024", "2025"],
             "tenders_card"),
    "customer sales": ("SELECT id FROM sales WHERE customer_id IN (?, ?) AND sold_at >= ? "
                       "AND sold_at < ? ORDER BY sold_at DESC, id DESC LIMIT 50",
                       [1, 2, "2024", "2025"], "sales_customer"),
    "customer name": ("SELECT id FROM customers WHERE name_key >= ? AND name_key < ? "
                      "ORDER BY name_key LIMIT 20", ["dupont", "dupont\uffff"],
                      "customers_name_key"),
    "customer phone": ("SELECT id FROM customers WHERE phone = ? AND phone != ''", ["0612345678"],
                       "customers_phone"),
    "customer e-mail": ("SELECT id FROM customers WHERE email = ? AND email != ''", ["a@b.fr"],
                        "customers_email"),
    "sku": ("SELECT sale_id FROM sale_lines WHERE sku = ? AND sold_at >= ? AND sold_at < ? "
            "ORDER BY sold_at DESC, sale_id DESC LIMIT 100", ["SKU-ROBE-01", "2024", "2025"],
            "sale_lines_sku"),
    "lines of a sale": ("SELECT id FROM sale_lines WHERE sale_id IN (?, ?)", [1, 2],
                        "sale_lines_sale"),
    "tenders of a sale": ("SELECT id FROM tenders WHERE sale_id IN (?, ?)", [1, 2],
                          "tenders_sale"),
    "returned of a line": ("SELECT SUM(quantity) FROM return_lines WHERE sale_line_id = ? "
                           "AND direction = 'return'", [1], "return_lines_sale_line"),
    "refunded of a tender": ("SELECT SUM(amount) FROM refunds WHERE sale_tender_id = ?", [1],
                             "refunds_tender"),
}


@pytest.mark.parametrize("path", sorted(LOOKUP_PLANS))
def test_every_lookup_path_uses_its_index(db, path):
    sql, params, index = LOOKUP_PLANS[path]
    plan = " | ".join(r[3] for r in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert index in plan, plan
    assert "SCAN sales" not in plan and "SCAN sale_lines" not in plan
    assert "SCAN tenders" not in plan and "SCAN customers" not in plan, plan
    if path not in ("card", "customer sales"):  # these two sort a few dozen rows
        assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
