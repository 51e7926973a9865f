"""Fewer round trips per return at HQ (issue 13, docs/sync.md "Round trips per
return"): the reservation is one server-side function call, created by the schema
and by its upgrade; a sync round can run on the till's kept connection."""

from __future__ import annotations

import uuid as uuidlib

import pytest

from pos_returns.hq import receive as hq_receive
from pos_returns.hq import schema as hq_schema
from pos_returns.sync.reserve import HqLink
from tests.helpers.hq import commit_return, hq_count, hq_sale, sync, till_config

pytestmark = pytest.mark.postgres


def test_an_hq_of_version_2_is_upgraded_and_reserves_in_one_statement(hq_conn, hq_dsn):
    hq_conn.execute("DROP FUNCTION hq_reserve")
    hq_conn.execute("DROP FUNCTION hq_check_return")
    hq_conn.execute("UPDATE hq_meta SET value = '2' WHERE key = 'schema_version'")
    with hq_schema.connect(hq_dsn) as conn:
        assert hq_schema.create_schema(conn) is False  # upgraded, not created
    assert hq_conn.execute(
        "SELECT value FROM hq_meta WHERE key = 'schema_version'").fetchone()[0] \
        == hq_schema.SCHEMA_VERSION
    _, (line,), (tender,) = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    statements = []
    traced = hq_schema.connect(hq_dsn, autocommit=True)
    try:
        original = traced.execute

        def counting(query, params=None, **kw):
            statements.append(query)
            return original(query, params, **kw)

        traced.execute = counting  # type: ignore[method-assign]
        got = hq_receive.reserve(traced, str(uuidlib.uuid4()), 1, 1, [(line, 1, 18900)],
                                 [(tender, 18900)])
    finally:
        traced.close()
    assert got.result == "reserved"
    assert len(statements) == 1 and "hq_reserve" in statements[0]
    assert hq_count(hq_conn, "SELECT count(*) FROM reservation_lines WHERE sale_line_id = %s",
                    [line]) == 1


def test_R02_a_second_reservation_of_the_same_unit_gets_where_and_when(hq_conn):
    _, (line,), (tender,) = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    first = hq_receive.reserve(hq_conn, str(uuidlib.uuid4()), 2, 4, [(line, 1, 18900)],
                               [(tender, 18900)])
    second = hq_receive.reserve(hq_conn, str(uuidlib.uuid4()), 1, 1, [(line, 1, 18900)],
                                [(tender, 18900)])
    assert first.result == "reserved" and second.result == "conflict"
    assert second.problems[0]["reason"] == "over_return"
    assert (second.earlier[0]["state"], second.earlier[0]["store_id"],
            second.earlier[0]["till_no"]) == ("reserved", 2, 4)
    assert second.problems[1] == {"sale_tender_id": tender, "reason": "over_refund",
                                  "paid": 18900, "refunded": 18900, "requested": 18900}


def test_a_sync_round_on_a_link_keeps_its_connection_and_survives_hq_closing_it(
        hq_conn, hq_dsn, till, tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    link = HqLink(keep=1)
    try:
        assert sync(db, hq_dsn, cfg, link=link).online
        conn, kept = link.take(hq_dsn, 3.0)
        pid = conn.info.backend_pid
        link.give(hq_dsn, 3.0, conn)
        assert kept
        sync(db, hq_dsn, cfg, link=link)
        conn, _ = link.take(hq_dsn, 3.0)
        assert conn.info.backend_pid == pid  # the same HQ server process: not reconnected
        link.give(hq_dsn, 3.0, conn)

        hq_conn.execute("SELECT pg_terminate_backend(%s)", [pid])  # HQ restarted, say
        sale_id, (line,), _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
        summary = sync(db, hq_dsn, cfg, link=link)
        assert summary.online and summary.error == ""
        assert db.execute("SELECT count(*) FROM sale_lines WHERE id = ?", [line]).fetchone()[0]
        commit_return(db, cfg, sale_id, [(line, 1)], offline=True)
        assert sync(db, hq_dsn, cfg, link=link).ok == 1
    finally:
        link.close()


def test_R02_a_reservation_waiting_on_the_lock_sees_the_hold_committed_meanwhile(
        hq_conn, hq_dsn):
    """The sums are read AFTER the row locks are held. Before (main), they were read
    in the locking statement itself, whose snapshot is taken before it waits: a
    reservation that waited for another's lock did not see the hold it had just
    committed, and both held the single unit."""
    import threading

    _, (line,), _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900)])
    holder = hq_schema.connect(hq_dsn)  # another till's reservation, mid-transaction
    waiter = hq_schema.connect(hq_dsn, autocommit=True)
    try:
        holder.execute("SELECT 1 FROM sale_lines WHERE id = %s FOR UPDATE", [line])
        first = str(uuidlib.uuid4())
        holder.execute("INSERT INTO reservations (uuid, store_id, till_no, lines, tenders) "
                       "VALUES (%s, 2, 4, '[]', '[]')", [first])
        holder.execute("INSERT INTO reservation_lines (uuid, sale_line_id, quantity, amount) "
                       "VALUES (%s, %s, 1, 18900)", [first, line])
        box: dict[str, hq_receive.Reservation] = {}
        asker = threading.Thread(target=lambda: box.setdefault("answer", hq_receive.reserve(
            waiter, str(uuidlib.uuid4()), 1, 1, [(line, 1, 18900)])))
        asker.start()
        for _ in range(100):  # bounded: until the asker waits on the line's lock
            if hq_count(hq_conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s "
                        "AND wait_event_type = 'Lock'", [waiter.info.backend_pid]):
                break
            threading.Event().wait(0.05)
        holder.commit()
        asker.join(10)
        assert box["answer"].result == "conflict"
        assert box["answer"].problems[0]["reason"] == "over_return"
        assert hq_count(hq_conn, "SELECT count(*) FROM reservation_lines "
                        "WHERE sale_line_id = %s", [line]) == 1
    finally:
        holder.close()
        waiter.close()


def test_the_pushed_rows_column_types_match_hq(hq_conn):
    """The push inserts a ticket's rows with ``%s::type`` casts (one statement):
    the types it casts to are HQ's, and it fills every column the push takes."""
    names = {"return_lines": hq_receive._LINE_COLS, "refunds": hq_receive._REFUND_COLS,
             "approvals": hq_receive._APPROVAL_COLS, "gift_cards": hq_receive._GIFT_CARD_COLS}
    for table, types in hq_receive._COL_TYPES.items():
        assert tuple(types) == names[table]
        at_hq = dict(hq_conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %s", [table]).fetchall())
        assert {c: at_hq[c] for c in types} == types
