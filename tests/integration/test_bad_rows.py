"""Rows pulled from HQ are validated before they are written (issue 13): every
kind of bad row is quarantined with its reason, shown by ``pos-returns sync``,
and the other rows go on syncing; never a traceback, never a stuck pull."""

from __future__ import annotations

import json

import pytest

from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.errors import InvalidInput
from pos_returns.sync.validate import quarantined
from pos_returns.usecases.planning import plan_return
from tests.helpers.hq import hq_sale, sync, till_config

pytestmark = pytest.mark.postgres

# An HQ without the CHECKs the till relies on (an older schema, a manual fix gone
# wrong): the till must not trust it.
_DROP = [
    "ALTER TABLE products DROP CONSTRAINT products_current_price_check",
    "ALTER TABLE sales DROP CONSTRAINT sales_channel_check",
    "ALTER TABLE sale_lines DROP CONSTRAINT sale_lines_quantity_check",
]


def _bad_chain(conn) -> dict[str, object]:
    for sql in _DROP:
        conn.execute(sql)
    good_sale, good_lines, good_tenders = hq_sale(conn, [("SKU-ROBE-01", 1, 18900)])
    conn.execute("UPDATE products SET current_price = -100 WHERE sku = 'SKU-CHEM-01'")
    conn.execute(
        "INSERT INTO staff (id, code, name, role, store_id, pin_hash) "
        "VALUES (900, 'X900', 'Mallory', 'admin', 1, 'x')")
    mars, _l, _t = hq_sale(conn, [("SKU-ROBE-01", 1, 100)])
    conn.execute("UPDATE sales SET channel = 'mars' WHERE id = %s", [mars])
    no_date, _l, _t = hq_sale(conn, [("SKU-ROBE-01", 1, 100)])
    conn.execute("UPDATE sales SET sold_at = 'not-a-date' WHERE id = %s", [no_date])
    huge_sale, huge_lines, _t = hq_sale(conn, [("SKU-ROBE-01", 1, 100)])
    conn.execute("UPDATE sale_lines SET unit_price = 9000000000000000000 WHERE id = %s",
                 [huge_lines[0]])
    neg_sale, neg_lines, _t = hq_sale(conn, [("SKU-ROBE-01", 1, 100)])
    conn.execute("UPDATE sale_lines SET quantity = -3 WHERE id = %s", [neg_lines[0]])
    btc_sale, _l, btc_tenders = hq_sale(conn, [("SKU-ROBE-01", 1, 100)])
    conn.execute("UPDATE tenders SET kind = 'bitcoin' WHERE id = %s", [btc_tenders[0]])
    # another till's return refunding -100 000 € onto the good sale's card
    ticket = conn.execute(
        "INSERT INTO return_tickets (uuid, store_id, till_no, number, created_at, staff_id, "
        "sale_id, kind, refund_total, net) VALUES ('bad-refund', 2, 1, 1, "
        "'2025-06-02T10:00:00Z', 1, %s, 'receipt', 18900, 18900) RETURNING id",
        [good_sale]).fetchone()[0]
    conn.execute(
        "INSERT INTO return_lines (ticket_id, line_no, direction, sale_line_id, sku, quantity, "
        "unit_amount, amount, vat_rate_bp) VALUES (%s, 1, 'return', %s, 'SKU-ROBE-01', 1, "
        "18900, -18900, 2000)", [ticket, good_lines[0]])
    conn.execute(
        "INSERT INTO refunds (ticket_id, kind, amount, sale_tender_id) "
        "VALUES (%s, 'card', -10000000, %s)", [ticket, good_tenders[0]])
    return {"good_sale": good_sale, "mars": mars, "no_date": no_date, "huge": huge_lines[0],
            "neg": neg_lines[0], "btc": btc_tenders[0], "ticket": ticket,
            "huge_sale": huge_sale, "neg_sale": neg_sale, "btc_sale": btc_sale}


def test_every_kind_of_bad_row_is_quarantined_while_the_rest_syncs(hq_conn, hq_dsn, till,
                                                                   tmp_path):
    ids = _bad_chain(hq_conn)
    cfg = till_config(tmp_path, "a")
    db = till("a")
    summary = sync(db, hq_dsn, cfg)
    assert summary.online and not summary.error
    reasons = {(q.table, q.reason) for q in quarantined(db)}
    assert ("products", "products.current_price:bounds") in reasons
    assert ("staff", "staff.role:enum") in reasons
    assert ("sales", "sales.channel:enum") in reasons
    assert ("sales", "sales.sold_at:date") in reasons
    assert ("sale_lines", "sale_lines.unit_price:bounds") in reasons
    assert ("sale_lines", "sale_lines.quantity:bounds") in reasons
    assert ("tenders", "tenders.kind:enum") in reasons
    assert ("return_tickets", "refunds.amount:bounds") in reasons
    # the lines and tenders of the quarantined sales are refused by the cache's
    # foreign keys in turn (quarantined with SQLite's reason), never a traceback
    assert any(t == "sale_lines" and "sqlite" in r for t, r in reasons)
    # the rest synced
    assert db.execute("SELECT count(*) FROM sales WHERE id = ?",
                      [ids["good_sale"]]).fetchone()[0] == 1
    for bad in ("mars", "no_date"):
        assert db.execute("SELECT count(*) FROM sales WHERE id = ?",
                          [ids[bad]]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM sale_lines WHERE id IN (?, ?)",
                      [ids["huge"], ids["neg"]]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM staff WHERE id = 900").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM return_tickets WHERE uuid = 'bad-refund'"
                      ).fetchone()[0] == 0
    # the summary says so, in French, and the next round is not stuck nor repeats
    text = "\n".join(summary.french_lines())
    assert "quarantaine" in text and "sale_lines.unit_price:bounds" in text
    again = sync(db, hq_dsn, cfg)
    assert again.online and again.quarantined == [] and again.pulled_total == 0


def test_a_corrected_row_is_pulled_and_leaves_the_quarantine(hq_conn, hq_dsn, till, tmp_path):
    ids = _bad_chain(hq_conn)
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sync(db, hq_dsn, cfg)
    hq_conn.execute("UPDATE sales SET sold_at = '2025-06-01T09:00:00Z' WHERE id = %s",
                    [ids["no_date"]])
    hq_conn.execute("UPDATE sale_lines SET quantity = quantity WHERE sale_id = %s",
                    [ids["no_date"]])  # HQ re-sends its lines too
    sync(db, hq_dsn, cfg)
    assert db.execute("SELECT count(*) FROM sales WHERE id = ?",
                      [ids["no_date"]]).fetchone()[0] == 1
    open_tables = {(q.table, json.loads(q.key)[0]) for q in quarantined(db)}
    assert ("sales", ids["no_date"]) not in open_tables


def test_cli_sync_prints_the_quarantined_rows_and_exits_0(hq_conn, hq_dsn, tmp_path, capsys):
    from pos_returns.cli import main

    _bad_chain(hq_conn)
    cache = tmp_path / "cli.sqlite"
    code = main(["sync", "--dsn", hq_dsn, "--db", str(cache), "--store", "1", "--till", "1"])
    out = capsys.readouterr()
    assert code == 0 and "Traceback" not in out.err
    assert "tenders.kind:enum" in out.out and "staff.role:enum" in out.out


def test_planning_refuses_a_damaged_sale_already_in_the_cache(hq_conn, hq_dsn, till, tmp_path):
    """A row written before validation existed: no ValueError, no absurd gift card."""
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    sync(db, hq_dsn, cfg)
    request = ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=sale,
        lines=(LineRequest(quantity=1, condition=Condition.NEW_WITH_TAGS, reason="size",
                           sale_line_id=lines[0]),), presented_card_last4="4242")
    db.execute("UPDATE sales SET sold_at = 'not-a-date' WHERE id = ?", [sale])
    with pytest.raises(InvalidInput) as err:
        plan_return(db, cfg, request)
    assert err.value.code == "damaged_sale" and "not-a-date" in str(err.value)
    db.execute("UPDATE sales SET sold_at = '2025-06-01T09:00:00Z' WHERE id = ?", [sale])
    db.execute("UPDATE sale_lines SET unit_price = 9000000000000000000 WHERE id = ?", [lines[0]])
    with pytest.raises(InvalidInput):
        plan_return(db, cfg, request)
