"""One new gift card per ticket under R04, and a manager asked only what needs a
manager (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.documents.model import ticket_document_from_db
from pos_returns.engine.approvals import pending_approvals
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.engine.refunds import gift_card_total, shown_refunds
from pos_returns.usecases import tickets
from pos_returns.usecases.planning import plan_return
from tests.helpers import L, T, add_sale


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "j.pem")


def _lines(db, sale_id):  # type: ignore[no-untyped-def]
    return [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY id",
                                     [sale_id])]


def test_R04_notes_and_a_gift_card_refund_onto_one_new_gift_card(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 10000)],
                    [T("notes", 6000), T("gift_card", 4000)])
    (line,) = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(line, 1)])
    legs = [r for r in plan.refunds if r.new_gift_card]
    assert sorted(r.amount for r in legs) == [4000, 6000]  # one leg per tender paid
    assert len(shown_refunds(plan.refunds)) == 1  # the customer sees one card
    assert shown_refunds(plan.refunds)[0].amount == gift_card_total(plan.refunds) == 10000
    ticket = tickets.commit_plan(db, cfg, plan)
    assert len(ticket.gift_cards) == 1
    number, code, amount = ticket.gift_cards[0]
    assert amount == 10000 and len(code) == 4
    rows = db.execute("SELECT sale_tender_id, amount, gift_card_number FROM refunds "
                      "WHERE ticket_id = ? ORDER BY id", [ticket.ticket_id]).fetchall()
    assert {r[2] for r in rows} == {number} and len(rows) == 2
    assert sorted(r[1] for r in rows) == [4000, 6000]  # each tender still accounted for
    assert db.execute("SELECT COUNT(*) FROM gift_cards WHERE issued_ticket_id = ?",
                      [ticket.ticket_id]).fetchone()[0] == 1
    doc = ticket_document_from_db(db, ticket.ticket_id)
    assert [(c.number, c.amount) for c in doc.gift_cards] == [(number, 10000)]


def test_R04_a_partial_return_then_the_rest_each_get_one_card_and_never_over_refund(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 5000)], [T("notes", 6000), T("gift_card", 4000)])
    (line,) = _lines(db, sale)
    first = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(line, 1)]))
    second = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(line, 1)]))
    assert len(first.gift_cards) == len(second.gift_cards) == 1
    assert first.gift_cards[0][2] + second.gift_cards[0][2] == 10000
    per_tender = dict(db.execute(
        "SELECT sale_tender_id, SUM(amount) FROM refunds GROUP BY sale_tender_id").fetchall())
    assert sorted(per_tender.values()) == [4000, 6000]


def _cash_request(sale, lines, last4=""):  # type: ignore[no-untyped-def]
    return ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=sale, presented_card_last4=last4,
        lines=tuple(LineRequest(quantity=1, condition=Condition.NEW_WITH_TAGS, reason="size",
                                sale_line_id=i) for i in lines))


def test_R03_cash_ceiling_approval_lists_only_CASH(db, cfg):
    cfg = TillConfig(cache_path=cfg.cache_path, key_path=cfg.key_path,
                     policy=PolicyConfig(cash_refund_ceiling=10_000))
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900), L("SKU-ROBE-01", 1, 18900)],
                    [T("cash", 26800)])
    plan = plan_return(db, cfg, _cash_request(sale, _lines(db, sale)))
    assert [p.rule for p in pending_approvals(plan, "refunds")] == ["CASH"]
    assert pending_approvals(plan, "lines") == []
    # card + cash, the card presented: still only the cash ceiling
    sale2 = add_sale(db, [L("SKU-CHEM-01", 1, 7900), L("SKU-ROBE-01", 1, 18900)],
                     [T("card", 5000, "4242", "fp"), T("cash", 21800)])
    plan2 = plan_return(db, cfg, _cash_request(sale2, _lines(db, sale2), "4242"))
    assert [p.rule for p in pending_approvals(plan2, "refunds")] == ["CASH"]
    # without the card, R03 is a real question beside CASH
    plan3 = plan_return(db, cfg, _cash_request(sale2, _lines(db, sale2)))
    assert sorted(p.rule for p in pending_approvals(plan3, "refunds")) == ["CASH", "R03"]
