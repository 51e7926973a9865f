"""Reservations at HQ before any money moves (issue 13, R02 chain-wide): one
refund per line whatever the timing between tills, tenders added up as the till
does (R05), a till that never committed frees its holds, conflicts found online
are told apart from those found offline."""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import replace

import pytest

from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.errors import Conflict
from pos_returns.hq import receive as hq_receive
from pos_returns.usecases import returns
from pos_returns.usecases.review import FLAG_CONFLICT, FLAG_CONFLICT_ONLINE, flag_label
from tests.helpers.hq import commit_return, hq_count, hq_sale, sync, till_config

pytestmark = pytest.mark.postgres


def _uuid() -> str:
    return str(uuidlib.uuid4())


def _request(cfg, sale_id, line_id, *, staff_id=1, qty=1):
    return ReturnRequest(
        store_id=cfg.store_id, till_no=cfg.till_no, staff_id=staff_id, sale_id=sale_id,
        lines=(LineRequest(quantity=qty, condition=Condition.NEW_WITH_TAGS, reason="size",
                           sale_line_id=line_id),),
        presented_card_last4="4242",
    )


def test_R02_a_reserved_line_is_refused_to_another_till_with_where_and_when(hq_conn):
    _sale, lines, tenders = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    first, second = _uuid(), _uuid()
    got = hq_receive.reserve(hq_conn, first, 1, 1, [(lines[0], 1, 22000)],
                             [(tenders[0], 22000)])
    assert got.result == "reserved"
    again = hq_receive.reserve(hq_conn, first, 1, 1, [(lines[0], 1, 22000)])
    assert again.result == "reserved" and again.duplicate  # idempotent by uuid
    other = hq_receive.reserve(hq_conn, second, 2, 1, [(lines[0], 1, 22000)])
    assert other.result == "conflict"
    assert other.problems[0]["reason"] == "over_return"
    assert other.earlier[0]["state"] == "reserved"
    assert (other.earlier[0]["store_id"], other.earlier[0]["till_no"]) == (1, 1)
    assert other.earlier[0]["at"].endswith("Z")
    assert hq_count(hq_conn, "SELECT count(*) FROM reservation_lines") == 1


def test_R02_online_return_reserves_commits_and_its_push_confirms(hq_conn, hq_dsn, till,
                                                                   tmp_path):
    cfg = replace(till_config(tmp_path, "a"), hq_dsn=hq_dsn)
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(db, hq_dsn, cfg)
    ticket = returns.complete_return(db, cfg, _request(cfg, sale, lines[0]))
    # pushed at once, the reservation confirmed, its holds gone
    status = hq_conn.execute("SELECT status, settled_by FROM reservations WHERE uuid = %s",
                             [ticket.uuid]).fetchone()
    assert status == ("confirmed", "push")
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets WHERE uuid = %s",
                    [ticket.uuid]) == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM reservation_lines") == 0
    assert db.execute("SELECT state FROM pending_reservations WHERE uuid = ?",
                      [ticket.uuid]).fetchone()[0] == "confirmed"
    assert db.execute("SELECT sent_at != '' FROM outbox WHERE uuid = ?",
                      [ticket.uuid]).fetchone()[0] == 1
    assert db.execute("SELECT offline FROM return_tickets WHERE uuid = ?",
                      [ticket.uuid]).fetchone()[0] == 0
    # the sync round that follows pushes nothing twice
    summary = sync(db, hq_dsn, cfg)
    assert summary.pushed == 0 and summary.conflicts == 0


def test_R02_two_tills_online_without_any_sync_between_one_refund(hq_conn, hq_dsn, till,
                                                                  tmp_path):
    """The issue's case: both tills see the line free in their cache; only one refunds."""
    cfg_a = replace(till_config(tmp_path, "a"), hq_dsn=hq_dsn)
    cfg_b = replace(till_config(tmp_path, "b", store_id=2, till_no=1), hq_dsn=hq_dsn)
    a, b = till("a"), till("b")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    prepared_a = returns.prepare_return(a, cfg_a, _request(cfg_a, sale, lines[0]))
    prepared_b = returns.prepare_return(b, cfg_b, _request(cfg_b, sale, lines[0], staff_id=4))
    answer_a = returns.ask_hq(cfg_a, prepared_a)
    answer_b = returns.ask_hq(cfg_b, prepared_b)  # before A has even committed
    assert answer_a.status == "reserved" and answer_b.status == "conflict"
    returns.commit_prepared(a, cfg_a, prepared_a, answer_a)
    with pytest.raises(Conflict) as err:
        returns.commit_prepared(b, cfg_b, prepared_b, answer_b)
    assert err.value.code == "hq_conflict" and "1" in str(err.value)
    assert b.execute("SELECT count(*) FROM return_tickets").fetchone()[0] == 0
    assert b.execute("SELECT state FROM pending_reservations").fetchone()[0] == "conflict"


def test_a_till_that_died_before_committing_frees_its_reservation_at_next_sync(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg = replace(till_config(tmp_path, "a"), hq_dsn=hq_dsn)
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(db, hq_dsn, cfg)
    prepared = returns.prepare_return(db, cfg, _request(cfg, sale, lines[0]))
    assert returns.ask_hq(cfg, prepared).status == "reserved"
    # ... the till dies here: no commit. Its next round (the pending row is older
    # than the grace) tells HQ, which frees the line.
    db.execute("UPDATE pending_reservations SET created_at = '2020-01-01T00:00:00Z'")
    summary = sync(db, hq_dsn, cfg)
    assert summary.released == 1
    assert hq_conn.execute("SELECT status FROM reservations WHERE uuid = %s",
                           [prepared.ticket_uuid]).fetchone()[0] == "released"
    free = hq_receive.reserve(hq_conn, _uuid(), 2, 1, [(lines[0], 1, 22000)])
    assert free.result == "reserved"


def test_a_failed_commit_leaves_its_reservation_abandoned_and_freed(hq_conn, hq_dsn, till,
                                                                    tmp_path):
    cfg = replace(till_config(tmp_path, "a"), hq_dsn=hq_dsn)
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(db, hq_dsn, cfg)
    prepared = returns.prepare_return(db, cfg, _request(cfg, sale, lines[0]))
    answer = returns.ask_hq(cfg, prepared)
    commit_return(db, cfg, sale, [(lines[0], 1)], offline=True)  # the cache moved meanwhile
    with pytest.raises(Conflict):
        returns.commit_prepared(db, cfg, prepared, answer)
    assert db.execute("SELECT state FROM pending_reservations WHERE uuid = ?",
                      [prepared.ticket_uuid]).fetchone()[0] == "abandoned"
    summary = sync(db, hq_dsn, cfg)  # abandoned: freed at once, no grace needed
    assert summary.released == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM reservation_lines") == 0


def test_R05_hq_adds_up_a_tender_as_the_till_does_beyond_original_included(hq_conn):
    """A card credited beyond its charge (R05) counts in what the sale has refunded."""
    _sale, lines, tenders = hq_sale(
        hq_conn, [("SKU-ESCA-01", 1, 6000), ("SKU-ESCA-01", 1, 4000)],
        tenders=[("card", 3000), ("gift_card", 7000)],
    )
    card, gift = tenders
    beyond = hq_receive.reserve(hq_conn, _uuid(), 1, 1, [(lines[0], 1, 6000)],
                                [(card, 6000, True)])
    assert beyond.result == "reserved"  # beyond the card's 30 €: allowed by R05
    rest = hq_receive.reserve(hq_conn, _uuid(), 2, 1, [(lines[1], 1, 4000)], [(gift, 4000)])
    assert rest.result == "reserved"  # 60 + 40 = the 100 € the sale was paid
    more = hq_receive.reserve(hq_conn, _uuid(), 2, 2, [], [(gift, 1000)])
    assert more.result == "conflict"
    assert {p["reason"] for p in more.problems} == {"over_refund_sale"}
    # and the card of a sale paid by card only is never credited beyond it
    _sale2, lines2, (card2,) = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 5000)])
    refused = hq_receive.reserve(hq_conn, _uuid(), 1, 1, [(lines2[0], 1, 5000)],
                                 [(card2, 6000, True)])
    assert refused.result == "conflict"
    assert refused.problems[0]["reason"] == "beyond_original_refused"


def test_R05_two_offline_tills_within_the_sale_no_false_over_refund(hq_conn, hq_dsn, till,
                                                                    tmp_path):
    sale, lines, tenders = hq_sale(
        hq_conn, [("SKU-ESCA-01", 1, 6000), ("SKU-ESCA-01", 1, 4000)],
        tenders=[("card", 3000), ("gift_card", 7000)],
    )
    card, gift = tenders

    def doc(lines_, refunds):
        return {"store_id": 1, "till_no": 1, "number": 1, "staff_id": 1, "sale_id": sale,
                "kind": "receipt", "offline": True,
                "lines": [{"direction": "return", "sale_line_id": sid, "sku": "SKU-ESCA-01",
                           "quantity": 1, "unit_amount": amt, "amount": -amt,
                           "vat_rate_bp": 2000} for sid, amt in lines_],
                "refunds": refunds}

    one = hq_receive.receive_return(hq_conn, {"uuid": _uuid(), **doc(
        [(lines[0], 6000)], [{"kind": "card", "amount": 6000, "sale_tender_id": card,
                              "beyond_original": True}])}, store_id=1, till_no=1)
    two = hq_receive.receive_return(hq_conn, {"uuid": _uuid(), **doc(
        [(lines[1], 4000)], [{"kind": "gift_card", "amount": 4000, "sale_tender_id": gift}])},
        store_id=2, till_no=1)
    assert (one.result, two.result) == ("ok", "ok")


def test_conflicts_say_whether_found_online_or_offline_and_the_review_tells_them_apart(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg_a = till_config(tmp_path, "a")
    cfg_b = till_config(tmp_path, "b", store_id=1, till_no=2)
    a, b = till("a"), till("b")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    commit_return(a, cfg_a, sale, [(lines[0], 1)], offline=True)
    online = commit_return(b, cfg_b, sale, [(lines[0], 1)])  # online, but not reserved
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    answer = json.loads(b.execute("SELECT answer FROM sync_conflicts WHERE ticket_uuid = ?",
                                  [online.uuid]).fetchone()[0])
    assert answer["found"] == "online"
    assert answer["earlier"][0]["store_id"] == 1 and answer["earlier"][0]["till_no"] == 1
    assert hq_conn.execute("SELECT found FROM return_conflicts WHERE uuid = %s",
                           [online.uuid]).fetchone()[0] == "online"
    assert flag_label(FLAG_CONFLICT_ONLINE) != flag_label(FLAG_CONFLICT)
    assert "hors ligne" not in flag_label(FLAG_CONFLICT_ONLINE)
