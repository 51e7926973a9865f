"""Completing a return: fresh decision, HQ's answer, commit (pos_returns.usecases.returns)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from pos_returns.config import TillConfig
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.errors import Conflict, PolicyRefused
from pos_returns.usecases.returns import complete_return
from tests.helpers import L, add_sale, granted


@dataclass
class Answer:
    status: str
    problems: tuple = ()


@pytest.fixture
def cfg(tmp_path, tmp_cache):
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "j.pem",
                      hq_dsn="host=hq.invalid")


def _request(sale_id, line_id, *, condition=Condition.NEW_WITH_TAGS):
    return ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=sale_id, presented_card_last4="4242",
        lines=(LineRequest(quantity=1, condition=condition, reason="size",
                           sale_line_id=line_id),),
    )


def _sale(db):
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    line_id = db.execute("SELECT id FROM sale_lines WHERE sale_id = ?", [sale_id]).fetchone()[0]
    return sale_id, line_id


def _tickets(db):
    return db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0]


def test_R03_hq_agrees_ticket_committed_online(db, cfg):
    sale_id, line_id = _sale(db)
    asked = []
    ticket = complete_return(db, cfg, _request(sale_id, line_id),
                             check_online=lambda dsn, plan, **_k: asked.append(dsn) or Answer("ok"))
    assert asked == ["host=hq.invalid"]
    assert db.execute("SELECT offline, refund_total FROM return_tickets WHERE id = ?",
                      [ticket.ticket_id]).fetchone() == (0, 7900)


def test_R02_hq_conflict_writes_nothing(db, cfg):
    sale_id, line_id = _sale(db)
    with pytest.raises(Conflict) as err:
        complete_return(db, cfg, _request(sale_id, line_id),
                        check_online=lambda *a, **k: Answer("conflict", ({"sale_line_id": 1},)))
    assert "siège" in str(err.value)
    assert _tickets(db) == 0


def test_hq_offline_ticket_marked_offline(db, cfg):
    sale_id, line_id = _sale(db)
    ticket = complete_return(db, cfg, _request(sale_id, line_id),
                             check_online=lambda *a, **k: Answer("offline"))
    assert db.execute("SELECT offline FROM return_tickets WHERE id = ?",
                      [ticket.ticket_id]).fetchone()[0] == 1


def test_no_hq_configured_no_question_asked(db, cfg):
    sale_id, line_id = _sale(db)

    def never(*_a, **_k):
        raise AssertionError("HQ must not be asked without an HQ address")

    complete_return(db, replace(cfg, hq_dsn=""), _request(sale_id, line_id), check_online=never)
    assert _tickets(db) == 1


def test_R12_worn_item_still_waiting_for_a_manager_is_not_committed(db, cfg):
    sale_id, line_id = _sale(db)
    with pytest.raises(PolicyRefused) as err:
        complete_return(db, cfg, _request(sale_id, line_id, condition=Condition.WORN),
                        check_online=lambda *a, **k: Answer("ok"))
    assert err.value.code == "blocked" and err.value.message
    assert _tickets(db) == 0


def _no_receipt(db, cfg, **kw):
    from pos_returns.engine.plan import Approval

    return granted(db, cfg, ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=None,
        lines=(LineRequest(quantity=1, sku="SKU-ROBE-01"),),
        approvals=(Approval(rule="R07", manager_id=3, decision="approved",
                            reason="Cliente connue", line_no=1),),
        other_ways_searched=True, id_checked=True, **kw,
    ))


def test_R07_R19_a_no_receipt_return_commits_only_with_its_recorded_id_check(db, cfg):
    from pos_returns.errors import NotFound
    from pos_returns.usecases import idcheck

    local = replace(cfg, hq_dsn="")
    with pytest.raises(PolicyRefused) as refused:
        complete_return(db, local, _no_receipt(db, cfg))
    assert refused.value.code == "R07"
    with pytest.raises(NotFound):
        complete_return(db, local, _no_receipt(db, cfg, id_check_uuid="no-such-check"))
    assert _tickets(db) == 0
    check = idcheck.capture(db, local, doc_type="cni", number="X7Q9ZK4L2", name="Marie Dupont")
    ticket = complete_return(db, local, _no_receipt(db, cfg, id_check_uuid=check.uuid))
    assert _tickets(db) == 1
    assert idcheck.get_check(db, check.uuid).ticket_uuid == ticket.uuid


def test_R19_the_identity_history_is_read_again_from_the_cache_at_commit(db, cfg):
    """Three earlier no-receipt refunds of this identity reached the cache (e.g. by sync)
    after the till read a clean history: a manager must still review (R19)."""
    from pos_returns.usecases import idcheck

    local = replace(cfg, hq_dsn="")
    for n in range(3):
        earlier = idcheck.capture(db, local, doc_type="cni", number="X7Q9ZK4L2",
                                  name="Marie Dupont")
        idcheck.link_ticket(db, earlier.uuid, ticket_uuid=f"elsewhere-{n}", amount=5000)
    check = idcheck.capture(db, local, doc_type="cni", number="X7Q9ZK4L2", name="Marie Dupont")
    stale = _no_receipt(db, cfg, id_check_uuid=check.uuid, no_receipt_history_count=0,
                        no_receipt_history_amount=0)
    with pytest.raises(PolicyRefused):
        complete_return(db, local, stale)
    assert _tickets(db) == 0
