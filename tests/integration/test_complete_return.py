"""The till's completion path asks HQ before the refund (DESIGN.md, HQ sync):
a line already returned at another till is refused online; HQ away, the return is
committed offline and marked so."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.errors import Conflict
from pos_returns.usecases.returns import complete_return
from tests.helpers.hq import commit_return, hq_sale, sync, till_config

pytestmark = pytest.mark.postgres


def _request(cfg, sale_id, line_id, *, staff_id):
    return ReturnRequest(
        store_id=cfg.store_id, till_no=cfg.till_no, staff_id=staff_id, sale_id=sale_id,
        lines=(LineRequest(quantity=1, condition=Condition.NEW_WITH_TAGS, reason="size",
                           sale_line_id=line_id),),
        presented_card_last4="4242",
    )


def test_R02_online_completion_refuses_a_line_another_till_returned(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg_a = replace(till_config(tmp_path, "a"), hq_dsn=hq_dsn)
    cfg_b = replace(till_config(tmp_path, "b", store_id=2, till_no=1), hq_dsn=hq_dsn)
    a, b = till("a"), till("b")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    commit_return(a, cfg_a, sale, [(lines[0], 1)])
    sync(a, hq_dsn, cfg_a)  # A's return reaches HQ; B has not pulled it yet

    before = b.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0]
    with pytest.raises(Conflict) as err:
        complete_return(b, cfg_b, _request(cfg_b, sale, lines[0], staff_id=4))
    assert err.value.code == "hq_conflict" and "siège" in str(err.value)
    assert b.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == before


def test_hq_away_the_return_is_committed_offline(hq_conn, hq_dsn, till, tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 1, 7900)])
    sync(db, hq_dsn, cfg)
    away = replace(cfg, hq_dsn="host=127.0.0.1 port=1 dbname=hq user=postgres connect_timeout=1")
    ticket = complete_return(db, away, _request(away, sale, lines[0], staff_id=1))
    offline = db.execute("SELECT offline FROM return_tickets WHERE uuid = ?",
                         [ticket.uuid]).fetchone()[0]
    assert offline == 1
    online = complete_return  # with HQ reachable, the same kind of return is online
    sale2, lines2, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 1, 7900)])
    sync(db, hq_dsn, cfg)
    ticket2 = online(db, replace(cfg, hq_dsn=hq_dsn), _request(cfg, sale2, lines2[0], staff_id=1))
    assert db.execute("SELECT offline FROM return_tickets WHERE uuid = ?",
                      [ticket2.uuid]).fetchone()[0] == 0
