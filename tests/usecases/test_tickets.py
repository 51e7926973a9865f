"""The ticket writer: one transaction, gap-free numbers, derived quantities re-checked
under the write lock, gift cards, journal record, outbox document."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_returns.cache.db import open_cache
from pos_returns.cache.giftcards import SECRET_LABEL, check_security_code
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.engine.codes import luhn_valid
from pos_returns.engine.domain import Condition, TenderKind
from pos_returns.engine.plan import Approval, PlannedRefund, Reason, Verdict
from pos_returns.errors import Conflict, InvalidInput, PermissionDenied, PolicyRefused, StorageError
from pos_returns.journal import chain as journal_mod
from pos_returns.journal.chain import Journal
from pos_returns.journal.keys import load_signer
from pos_returns.journal.verify import verify
from pos_returns.usecases import tickets
from tests.helpers import L, T, add_sale, granted


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


def _lines(db, sale_id):
    return [r[0] for r in db.execute(
        "SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no", [sale_id])]


def _tenders(db, sale_id):
    return [r[0] for r in db.execute(
        "SELECT id FROM tenders WHERE sale_id = ? ORDER BY id", [sale_id])]


def _counts(db) -> dict[str, int]:
    return {
        t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("return_tickets", "return_lines", "refunds", "approvals", "gift_cards",
                  "journal", "outbox")
    }


def test_R02_R03_commit_writes_every_part_in_one_ticket(db, cfg):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900), L("SKU-CHEM-01", 2, 7900)])
    l1, l2 = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1), (l2, 1)])
    committed = tickets.commit_plan(db, cfg, plan)

    assert committed.number == 1
    t = db.execute("SELECT * FROM return_tickets WHERE id = ?", [committed.ticket_id]).fetchone()
    assert t is not None
    view = tickets.get_ticket(db, committed.ticket_id)
    assert [x["sale_line_id"] for x in view.lines] == [l1, l2]
    assert [x["amount"] for x in view.lines] == [-18900, -7900]
    assert [(x["kind"], x["amount"], x["sale_tender_id"]) for x in view.refunds] == [
        ("card", 26800, _tenders(db, sale)[0])
    ]
    assert view.ticket["net"] == 26800
    assert view.sale is not None and len(view.sale["receipt_number"]) == 17
    assert view.staff is not None and view.staff.code == "V001"
    assert view.store is not None and view.store.city == "Paris"
    # the journal record, signed, names the ticket and is what the writer returned
    rec = db.execute(
        "SELECT kind, signature, payload FROM journal WHERE ticket_uuid = ?", [committed.uuid]
    ).fetchone()
    assert rec[0] == "ticket" and rec[1] == committed.signature == view.signature
    payload = json.loads(rec[2])
    assert payload["number"] == 1 and payload["totals"]["net"] == 26800
    assert payload["totals"]["vat_by_rate"]["2000"] == {"ttc": -26800, "ht": -22333, "vat": -4467}
    assert verify(db).ok


def test_R02_outbox_document_lets_HQ_check_over_returns(db, cfg):
    sale = add_sale(db, [L("SKU-ROBE-01", 2, 18900)],
                    [T("cash", 10000), T("card", 27800, "4242", "fp")])
    (l1,) = _lines(db, sale)
    cash, card = _tenders(db, sale)
    committed = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)]))
    row = db.execute(
        "SELECT kind, payload, sent_at FROM outbox WHERE uuid = ?", [committed.uuid]
    ).fetchone()
    assert row[0] == "return_ticket" and row[2] == ""
    doc = json.loads(row[1])
    assert doc["lines"][0]["sale_line_id"] == l1 and doc["lines"][0]["quantity"] == 1
    # shared among the tenders in proportion to what each paid (R03, docs/policy.md)
    assert [(r["sale_tender_id"], r["amount"]) for r in doc["refunds"]] == [
        (cash, 5000), (card, 13900)
    ]
    assert doc["journal"]["signature"] == committed.signature
    assert doc["journal"]["head_seq"] >= doc["journal"]["seq"]


def test_ticket_numbers_are_gap_free_per_till_even_after_a_refused_commit(db, cfg, tmp_path):
    sale = add_sale(db, [L("SKU-CHEM-01", 3, 7900)])
    (l1,) = _lines(db, sale)
    numbers = [tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)])).number]
    stale = direct_plan(db, sale_id=sale, picks=[(l1, 2)])
    numbers.append(
        tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)])).number
    )
    with pytest.raises(Conflict):
        tickets.commit_plan(db, cfg, stale)  # 1 + 1 + 2 > 3 sold
    numbers.append(
        tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)])).number
    )
    assert numbers == [1, 2, 3]
    # another till of the same store numbers its own tickets from 1
    cfg2 = replace(cfg, till_no=2, key_path=tmp_path / "keys" / "till2.pem")
    sale2 = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    (m1,) = _lines(db, sale2)
    plan2 = direct_plan(db, sale_id=sale2, picks=[(m1, 1)], till_no=2)
    assert tickets.commit_plan(db, cfg2, plan2).number == 1
    assert verify(db).ok


def test_R01_a_plan_waiting_for_a_manager_is_not_committed(db, cfg):
    sale = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    (l1,) = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])
    waiting = replace(plan, lines=(replace(
        plan.lines[0], verdict=Verdict.NEEDS_MANAGER,
        reasons=(Reason("R13", "Étiquette retirée", "manager"),),
    ),))
    before = _counts(db)
    with pytest.raises(PolicyRefused):
        tickets.commit_plan(db, cfg, waiting)
    assert _counts(db) == before


def test_R01_manager_approvals_are_recorded_and_journaled_as_overrides(db, cfg):
    sale = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    (l1,) = _lines(db, sale)
    approval = Approval(rule="R13", manager_id=3, decision="approved",
                        reason="Cliente fidèle, robe jamais portée", line_no=1)
    plan = granted(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)],
                                        condition=Condition.TAG_REMOVED,
                                        approvals=[approval]))
    assert not plan.blocked and plan.approvals  # the engine applies the decision
    committed = tickets.commit_plan(db, cfg, plan)
    view = tickets.get_ticket(db, committed.uuid)
    assert [(a["rule"], a["manager_id"], a["manager_name"], a["reason"]) for a in view.approvals] \
        == [("R13", 3, "Sophie Bernard", "Cliente fidèle, robe jamais portée")]
    overrides = [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM journal WHERE kind = 'override' AND ticket_uuid = ?",
        [committed.uuid])]
    token_id = overrides[0].pop("token_id")  # the proof that was used (issue 12)
    assert len(token_id) == 32
    assert overrides == [{
        "ticket_uuid": committed.uuid, "ticket_number": 1, "line_no": 1, "rule": "R13",
        "manager_id": 3, "decision": "approved", "reason": "Cliente fidèle, robe jamais portée",
    }]


def test_R01_an_approval_by_someone_who_is_not_a_manager_is_refused(db, cfg):
    sale = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    (l1,) = _lines(db, sale)
    approval = Approval(rule="R13", manager_id=1, decision="approved", reason="Je valide")
    before = _counts(db)
    with pytest.raises(PermissionDenied):
        tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)],
                                                 approvals=[approval]))
    assert _counts(db) == before


def test_R02_a_line_never_comes_back_more_than_it_was_sold(db, cfg):
    sale = add_sale(db, [L("SKU-ESCA-01", 2, 22000)])
    (l1,) = _lines(db, sale)
    plan_a = direct_plan(db, sale_id=sale, picks=[(l1, 2)])
    plan_b = direct_plan(db, sale_id=sale, picks=[(l1, 1)])  # built from the same cache state
    tickets.commit_plan(db, cfg, plan_a)
    before = _counts(db)
    with pytest.raises(Conflict) as err:
        tickets.commit_plan(db, cfg, plan_b)
    assert "déjà" in str(err.value)  # a French message the salesperson can act on
    assert _counts(db) == before


def test_R02_the_same_line_twice_on_one_plan_is_counted_together(db, cfg):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)])
    (l1,) = _lines(db, sale)
    with pytest.raises(InvalidInput):  # the engine counts them together
        direct_plan(db, sale_id=sale, picks=[(l1, 1), (l1, 1)])
    # a plan doubled by hand: the writer counts them together under the write lock
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])
    twice = replace(plan, lines=(plan.lines[0], replace(plan.lines[0], line_no=2)),
                    refunds=(replace(plan.refunds[0], amount=2 * plan.net),))
    with pytest.raises(Conflict):
        tickets.commit_plan(db, cfg, twice)


def test_R03_a_tender_never_gets_back_more_than_it_paid_minus_earlier_refunds(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)], [T("cash", 5000), T("card", 10800, "1234")])
    l1 = _lines(db, sale)[0]
    cash, card = _tenders(db, sale)
    # first return: 7900 shared in proportion, 2500 cash + 5400 card
    first = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)]))
    assert [(r.sale_tender_id, r.amount) for r in first.plan.refunds] == [
        (cash, 2500), (card, 5400)]
    # a second return changed by hand to put 7900 on the cash tender (2500 left)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])
    forged = replace(plan, refunds=(PlannedRefund(TenderKind.CASH, 7900, sale_tender_id=cash),))
    before = _counts(db)
    with pytest.raises(Conflict):
        tickets.commit_plan(db, cfg, forged)
    assert _counts(db) == before


def test_R05_the_card_may_be_credited_beyond_its_charge_but_the_sale_never_beyond_paid(db, cfg):
    # card 6000 + gift card 10000 for two items of 8000
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 8000)],
                    [T("card", 6000, "4242"), T("gift_card", 10000, gift_card_number="6" * 19)])
    (l1,) = _lines(db, sale)
    card, _gc = _tenders(db, sale)
    for _return in range(2):
        plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])
        assert [(r.kind, r.amount, r.sale_tender_id, r.beyond_original)
                for r in plan.refunds] == [(TenderKind.CARD, 8000, card, True)]
        tickets.commit_plan(db, cfg, plan)
    refunded = db.execute(
        "SELECT SUM(amount), MIN(beyond_original) FROM refunds WHERE sale_tender_id = ?", [card]
    ).fetchone()
    assert refunded == (16000, 1)  # the whole merchandise to the card, marked as such


def test_R05_beyond_original_is_bounded_by_what_the_sale_was_paid(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 8000)],
                    [T("card", 3000, "4242"), T("notes", 5000)])
    (l1,) = _lines(db, sale)
    card, _notes = _tenders(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])
    assert [(r.amount, r.sale_tender_id, r.beyond_original) for r in plan.refunds] == [
        (8000, card, True)]
    # a forged plan that credits more than the line is worth is refused as a whole
    forged = replace(plan, lines=(replace(plan.lines[0], amount=-9000, unit_amount=9000),),
                     refunds=(replace(plan.refunds[0], amount=9000),))
    with pytest.raises(Conflict):
        tickets.commit_plan(db, cfg, forged)
    tickets.commit_plan(db, cfg, plan)


def test_R05_only_the_card_of_a_card_and_gift_card_sale_may_go_beyond(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 8000)], [T("card", 3000, "4242"), T("cash", 5000)])
    (l1,) = _lines(db, sale)
    card, _cash = _tenders(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])  # 3000 card + 5000 cash
    forged = replace(plan, refunds=(PlannedRefund(TenderKind.CARD, 8000, sale_tender_id=card,
                                                  beyond_original=True),))
    with pytest.raises(InvalidInput):
        tickets.commit_plan(db, cfg, forged)


def test_refunds_must_add_up_to_the_net(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    (l1,) = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)])
    with pytest.raises(InvalidInput):
        tickets.commit_plan(db, cfg, replace(plan, refunds=(PlannedRefund(
            TenderKind.CARD, 7000, sale_tender_id=_tenders(db, sale)[0]),)))


def test_R06_gift_return_issues_a_gift_card_whose_code_is_never_stored(db, cfg):
    sale = add_sale(db, [L("SKU-PARF-01", 1, 9500)], gift_receipt=True)
    (l1,) = _lines(db, sale)
    committed = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)],
                                                         gift=True))
    ((number, code, amount),) = committed.gift_cards
    assert amount == 9500 and luhn_valid(number) and number.startswith("6") and len(number) == 19
    assert len(code) == 4 and code.isdigit()
    row = db.execute("SELECT * FROM gift_cards WHERE number = ?", [number]).fetchone()
    assert code not in json.dumps(row).replace(number, "")
    refund = db.execute("SELECT kind, gift_card_number FROM refunds WHERE ticket_id = ?",
                        [committed.ticket_id]).fetchone()
    assert refund == ("gift_card", number)
    secret = load_signer(cfg.key_path).derive_secret(SECRET_LABEL)
    assert check_security_code(db, secret, number, code)
    assert not check_security_code(db, secret, number, f"{(int(code) + 1) % 10000:04d}")
    assert not check_security_code(db, b"another till's secret", number, code)
    view = tickets.get_ticket(db, committed.ticket_id)
    assert [c["number"] for c in view.gift_cards] == [number]


def test_R16_exchange_with_new_items_and_the_customer_paying_the_difference(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    (l1,) = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)], new_items=[("SKU-PARF-01", 1)])
    assert plan.net == 7900 - 9500
    committed = tickets.commit_plan(db, cfg, plan)
    view = tickets.get_ticket(db, committed.ticket_id)
    assert view.ticket["kind"] == "exchange"
    assert [(x["direction"], x["amount"]) for x in view.lines] == [
        ("return", -7900), ("sale", 9500)
    ]
    assert [(x["kind"], x["amount"]) for x in view.refunds] == [("card", -1600)]
    assert view.ticket["charge_total"] == 9500 and view.ticket["net"] == -1600


def test_R07_no_receipt_return_goes_on_a_gift_card_at_current_price(db, cfg):
    from pos_returns.usecases import idcheck

    check = idcheck.capture(db, cfg, doc_type="cni", number="X7Q9ZK4L2", name="Marie Dupont")
    plan = granted(db, cfg, direct_plan(
        db, sale_id=None, no_receipt_skus=[("SKU-ROBE-01", 1)], id_check_uuid=check.uuid,
        approvals=[Approval("R07", 3, "approved", "Robe neuve, cliente connue", 1)]))
    committed = tickets.commit_plan(db, cfg, plan)
    view = tickets.get_ticket(db, committed.ticket_id)
    assert view.ticket["kind"] == "no_receipt" and view.sale is None
    assert view.lines[0]["sale_line_id"] is None and view.lines[0]["amount"] == -18900
    assert view.refunds[0]["gift_card_number"] == committed.gift_cards[0][0]


def test_all_or_nothing_when_the_journal_fails_midway(db, cfg, monkeypatch):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], gift_receipt=True)
    (l1,) = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)], gift=True)
    before = _counts(db)

    def broken_append(self, kind, payload, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_mod.Journal, "append", broken_append)
    with pytest.raises(StorageError) as err:  # said in French (issue 17)
        tickets.commit_plan(db, cfg, plan)
    assert isinstance(err.value.__cause__, OSError) and "disque est plein" in str(err.value)
    monkeypatch.undo()
    assert _counts(db) == before
    assert tickets.commit_plan(db, cfg, plan).number == 1


def test_reprint_records_a_numbered_DUPLICATA(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    (l1,) = _lines(db, sale)
    committed = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(l1, 1)]))
    first = tickets.reprint(db, cfg, committed.ticket_id, staff_id=1)
    second = tickets.reprint(db, cfg, committed.ticket_id, staff_id=3)
    assert first.kind == second.kind == "duplicate"
    assert (first.payload["mention"], first.payload["copy"], second.payload["copy"]) == (
        "DUPLICATA", 1, 2
    )
    assert second.payload["staff_id"] == 3 and second.ticket_uuid == committed.uuid
    view = tickets.get_ticket(db, committed.ticket_id)
    assert view.duplicates == 2 and view.signature == committed.signature
    assert verify(db).ok


def test_the_journal_of_another_till_is_not_mixed_up(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    (l1,) = _lines(db, sale)
    plan = direct_plan(db, sale_id=sale, picks=[(l1, 1)], till_no=2)
    with pytest.raises(InvalidInput):
        tickets.commit_plan(db, cfg, plan, journal=Journal.for_config(db, cfg))


# --------------------------------------------------------------------------- two processes


def _commit_worker(cache: str, key: str, sale_id: int, line_id: int, barrier, results) -> None:
    db = open_cache(cache)
    cfg = TillConfig(cache_path=Path(cache), key_path=Path(key))
    plan = direct_plan(db, sale_id=sale_id, picks=[(line_id, 1)], cfg=cfg)
    barrier.wait()
    ok = 0
    conflicts = 0
    for _ in range(3):
        try:
            tickets.commit_plan(db, cfg, plan)  # the same stale plan, again and again
            ok += 1
        except Conflict:
            conflicts += 1
    results.put((ok, conflicts))
    db.close()


def test_R02_two_processes_returning_the_same_line_never_exceed_the_quantity_sold(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)])
    (l1,) = _lines(db, sale)
    load_signer(cfg.key_path)  # create the key before the workers start
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_commit_worker,
                    args=(str(cfg.cache_path), str(cfg.key_path), sale, l1, barrier, results))
        for _ in range(3)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert sum(ok for ok, _c in outcomes) == 2  # exactly the two sold, whoever got there
    assert sum(c for _ok, c in outcomes) == 7
    returned = db.execute(
        "SELECT SUM(quantity) FROM return_lines WHERE sale_line_id = ?", [l1]
    ).fetchone()[0]
    assert returned == 2
    numbers = [r[0] for r in db.execute("SELECT number FROM return_tickets ORDER BY number")]
    assert numbers == [1, 2]
    assert verify(db).ok


# --------------------------------------------------------------------------- property


_SKUS = ["SKU-ROBE-01", "SKU-CHEM-01", "SKU-ESCA-01", "SKU-PARF-01", "SKU-LIVR-01"]
_MIXES = [("card",), ("cash",), ("card", "gift_card"), ("cash", "card"), ("gift_card",),
          ("notes", "card"), ("cash", "notes"), ("card", "card")]


def _invariants(db, sale_id: int) -> None:
    over_qty = db.execute(
        "SELECT COUNT(*) FROM sale_lines l WHERE l.sale_id = ? AND (l.quantity < "
        "(SELECT COALESCE(SUM(r.quantity), 0) FROM return_lines r WHERE r.sale_line_id = l.id "
        "AND r.direction = 'return') OR l.quantity * l.unit_price < (SELECT "
        "COALESCE(-SUM(r.amount), 0) FROM return_lines r WHERE r.sale_line_id = l.id AND "
        "r.direction = 'return'))", [sale_id]).fetchone()[0]
    assert over_qty == 0  # R02: never more than sold, never more than paid, per line
    tenders = db.execute(
        "SELECT t.id, t.kind, t.amount, COALESCE(SUM(f.amount), 0), "
        "COALESCE(MAX(f.beyond_original), 0) FROM tenders t LEFT JOIN refunds f "
        "ON f.sale_tender_id = t.id WHERE t.sale_id = ? GROUP BY t.id", [sale_id]).fetchall()
    kinds = {t[1] for t in tenders}
    r05 = "card" in kinds and bool(kinds & {"gift_card", "notes"})
    for _tid, kind, paid, refunded, beyond in tenders:
        if beyond:
            assert r05 and kind == "card"  # R05's card is the only exception
        else:
            assert refunded <= paid  # R03: a tender never gets back more than it paid
    assert sum(t[3] for t in tenders) <= sum(t[2] for t in tenders)
    assert verify(db).ok


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_R02_R03_R05_whatever_plans_come_the_cache_never_over_returns(tmp_path_factory, data):
    """Engine plans, exchanges, stale plans and forged plans, in any order: the writer
    commits or refuses, and the derived quantities always stay within the sale."""
    from pos_returns.cache.lookup import get_sale
    from pos_returns.engine.plan import LineRequest, NewItem, ReturnRequest
    from pos_returns.usecases.planning import plan_return
    from tests.helpers import new_cache

    base = tmp_path_factory.mktemp("prop")
    db = new_cache(base / "cache.sqlite")
    cfg = TillConfig(cache_path=base / "cache.sqlite", key_path=base / "k" / "journal.pem")
    try:
        lines = [L(data.draw(st.sampled_from(_SKUS)), data.draw(st.integers(1, 3)),
                   data.draw(st.integers(100, 30000))) for _ in range(data.draw(st.integers(1, 3)))]
        total = sum(x.qty * x.price for x in lines)
        mix = data.draw(st.sampled_from(_MIXES))
        cut = data.draw(st.integers(1, max(1, total - 1))) if len(mix) == 2 and total > 1 else total
        amounts = [total] if len(mix) == 1 or total == 1 else [cut, total - cut]
        tenders = [T(k, a, "4242" if k == "card" else "") for k, a in zip(mix, amounts,
                                                                         strict=False)]
        sale_id = add_sale(db, lines, tenders)
        saved = []
        for _step in range(data.draw(st.integers(1, 6))):
            sale = get_sale(db, sale_id)
            open_lines = [x for x in sale.lines if x.refundable_qty > 0]
            if not open_lines:
                break
            chosen = data.draw(st.lists(st.sampled_from(open_lines), min_size=1, max_size=2,
                                        unique_by=lambda x: x.id))
            picks = [(x.id, data.draw(st.integers(1, x.refundable_qty))) for x in chosen]
            action = data.draw(st.sampled_from(["engine", "exchange", "stale", "forged"]))
            if action in ("engine", "exchange"):
                request = ReturnRequest(
                    store_id=1, till_no=1, staff_id=1, sale_id=sale_id,
                    lines=tuple(LineRequest(quantity=q, sale_line_id=i) for i, q in picks),
                    new_items=(NewItem(data.draw(st.sampled_from(_SKUS))),)
                    if action == "exchange" else (),
                    presented_card_last4="4242",
                )
                plan = plan_return(db, cfg, request)
                if plan.blocked:
                    continue
            elif action == "stale" and saved:
                plan = data.draw(st.sampled_from(saved))
            else:
                plan = direct_plan(db, sale_id=sale_id, picks=picks)
                if plan.net > 0 and data.draw(st.booleans()):
                    tender = data.draw(st.sampled_from(sale.tenders))
                    plan = replace(plan, refunds=(PlannedRefund(
                        TenderKind(tender.kind), plan.net, sale_tender_id=tender.id,
                        beyond_original=data.draw(st.booleans())),))
            saved.append(plan)
            try:
                tickets.commit_plan(db, cfg, plan)
            except (Conflict, InvalidInput, PolicyRefused):
                pass  # a stale or forged plan, or one a manager must approve
            _invariants(db, sale_id)
    finally:
        db.close()
