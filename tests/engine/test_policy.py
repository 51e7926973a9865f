"""Rules R01–R19 through the policy engine, on a real SQLite cache seeded by
tests/factories.py (store 1 Paris with Fine Jewelry, store 2 Lyon without; staff
1 V001 salesperson, 2 B001 jewelry, 3 M001 manager in Paris, 4 V201 and 5 M201
manager in Lyon). Every amount in an assertion can be read off the test."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from pos_returns.cache.lookup import get_sale
from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.engine.domain import Condition, TenderKind
from pos_returns.engine.plan import (
    Approval,
    Inspection,
    LineRequest,
    NewItem,
    ReturnPlan,
    ReturnRequest,
    TicketKind,
    Verdict,
)
from pos_returns.engine.policy import decide
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied, PolicyRefused
from pos_returns.usecases import auth
from pos_returns.usecases.planning import plan_return
from tests.helpers import PINS, TEST_PEPPER, L, T, add_sale

# made at import, before tests/conftest.py gives each test its own data home: its keys
# go to a folder of this module's own, never the machine's till keys
CFG = TillConfig(store_id=1, till_no=1,
                 key_path=Path(tempfile.mkdtemp(prefix="alamara-test-keys-")) / "j.pem")
REASON = "Cliente fidèle, article en parfait état"
SALESPERSON, JEWELER, MANAGER, LYON_SALES, LYON_MANAGER = 1, 2, 3, 4, 5


def line_ids(db, sale_id: int) -> list[int]:
    return [line.id for line in get_sale(db, sale_id).lines]


def request(db, sale_id: int | None, *lines: LineRequest, **kw) -> ReturnRequest:
    kw.setdefault("presented_card_last4", "4242")
    return ReturnRequest(
        store_id=kw.pop("store_id", 1), till_no=kw.pop("till_no", 1),
        staff_id=kw.pop("staff_id", SALESPERSON), sale_id=sale_id, lines=tuple(lines), **kw
    )


def ret(db, sale_id: int, n: int = 1, qty: int = 1, **kw) -> LineRequest:
    return LineRequest(quantity=qty, sale_line_id=line_ids(db, sale_id)[n - 1], **kw)


def ok(rule: str, line_no: int | None = None, manager: int = MANAGER) -> Approval:
    return Approval(rule=rule, manager_id=manager, decision="approved", reason=REASON,
                    line_no=line_no)


def plan(db, req: ReturnRequest, cfg: TillConfig = CFG) -> ReturnPlan:
    return plan_return(db, cfg, req)


def rules(plan_line) -> set[str]:
    return {r.rule for r in plan_line.reasons}


def refunds_by_kind(p: ReturnPlan) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in p.refunds:
        out[str(r.kind)] = out.get(str(r.kind), 0) + r.amount
    return out


def record_earlier_return(db, sale_line_id: int, qty: int, amount: int,
                          tender_id: int | None, refund: int, *, till_no: int = 2) -> None:
    """A return committed earlier on another till (as the sync would bring it)."""
    ticket = db["return_tickets"].insert({
        "uuid": f"earlier-{sale_line_id}-{qty}-{till_no}", "store_id": 1, "till_no": till_no,
        "number": 1, "created_at": "2025-04-01T10:00:00Z", "staff_id": 1, "sale_id": None,
        "kind": "receipt", "refund_total": amount, "net": refund, "origin": "hq",
    }).last_pk
    db["return_lines"].insert({
        "ticket_id": ticket, "line_no": 1, "direction": "return", "sale_line_id": sale_line_id,
        "sku": "x", "quantity": qty, "unit_amount": amount // qty, "amount": -amount,
        "vat_rate_bp": 2000,
    })
    db["refunds"].insert({"ticket_id": ticket, "kind": "card", "amount": refund,
                          "sale_tender_id": tender_id})


# ------------------------------------------------------------------ R01 overrides


def test_R01_manager_override_keeps_refusal_and_override_reasons(db):
    sale = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    p = plan(db, request(db, sale, ret(db, sale, condition=Condition.TAG_REMOVED),
                         approvals=(ok("R13", 1),)))
    line = p.lines[0]
    assert line.verdict == Verdict.ACCEPTED
    levels = {(r.rule, r.level) for r in line.reasons}
    assert ("R13", "refused") in levels and ("R01", "override") in levels
    assert "Sophie Bernard" in " ".join(r.message for r in line.reasons)
    assert p.approvals == (ok("R13", 1),)
    assert not p.blocked


def test_R01_manager_can_refuse_a_line_the_engine_accepts(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900), L("SKU-CHEM-01", 1, 7900)])
    refusal = Approval("R01", MANAGER, "refused", "Article déjà retourné en boutique", 2)
    p = plan(db, request(db, sale, ret(db, sale, 1), ret(db, sale, 2), approvals=(refusal,)))
    assert [line.verdict for line in p.lines] == [Verdict.ACCEPTED, Verdict.REFUSED]
    assert ("R01", "refused") in {(r.rule, r.level) for r in p.lines[1].reasons}
    assert p.blocked and p.approvals == (refusal,)


def test_R01_salesperson_cannot_approve(db):
    sale = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    req = request(db, sale, ret(db, sale, condition=Condition.TAG_REMOVED),
                  approvals=(ok("R13", 1, manager=SALESPERSON),))
    with pytest.raises(PermissionDenied, match="Camille Martin"):
        plan(db, req)


def test_R01_jewelry_specialist_cannot_approve(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    req = request(db, sale, ret(db, sale, condition=Condition.WORN),
                  approvals=(ok("R12", 1, manager=JEWELER),))
    with pytest.raises(PermissionDenied):
        plan(db, req)


def test_R01_manager_of_another_store_cannot_approve(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    req = request(db, sale, ret(db, sale, condition=Condition.WORN),
                  approvals=(ok("R12", 1, manager=LYON_MANAGER),))
    with pytest.raises(PermissionDenied, match="Hugo Moreau"):
        plan(db, req)


@pytest.mark.parametrize("reason", ["", "   ", "ok"])
def test_R01_override_needs_a_written_reason(db, reason):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    req = request(db, sale, ret(db, sale, condition=Condition.WORN),
                  approvals=(Approval("R12", MANAGER, "approved", reason, 1),))
    with pytest.raises(InvalidInput, match="motif écrit"):
        plan(db, req)


def test_R01_unknown_staff_as_approver_is_denied(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    req = request(db, sale, ret(db, sale, condition=Condition.WORN),
                  approvals=(ok("R12", 1, manager=999),))
    with pytest.raises(PermissionDenied):
        plan(db, req)


def test_R01_approval_of_one_rule_does_not_cover_another(db):
    # A worn gift card: R09 refuses, R12 asks a manager; approving R12 leaves R09.
    sale = add_sale(db, [L("SKU-GIFT-50", 1, 5000)])
    p = plan(db, request(db, sale, ret(db, sale, condition=Condition.WORN),
                         approvals=(ok("R12", 1),)))
    assert p.lines[0].verdict == Verdict.REFUSED
    p = plan(db, request(db, sale, ret(db, sale, condition=Condition.WORN),
                         approvals=(ok("R12", 1), ok("R09", 1))))
    assert p.lines[0].verdict == Verdict.ACCEPTED


def test_R01_blanket_approval_covers_every_reason_of_its_line_only(db):
    sale = add_sale(db, [L("SKU-GIFT-50", 1, 5000), L("SKU-ROBE-01", 1, 18900)])
    p = plan(db, request(db, sale, ret(db, sale, 1, condition=Condition.WORN),
                         ret(db, sale, 2, condition=Condition.WORN), approvals=(ok("R01", 1),)))
    assert [line.verdict for line in p.lines] == [Verdict.ACCEPTED, Verdict.NEEDS_MANAGER]


def test_R01_unused_approvals_are_not_recorded(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    p = plan(db, request(db, sale, ret(db, sale), approvals=(ok("R13", 1),)))
    assert p.lines[0].verdict == Verdict.ACCEPTED
    assert p.approvals == ()


def test_R01_approval_for_a_line_not_on_the_ticket_is_invalid(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    with pytest.raises(InvalidInput):
        plan(db, request(db, sale, ret(db, sale), approvals=(ok("R12", 7),)))


def test_R01_authorize_override_checks_pin_role_and_reason(db):
    approval = auth.authorize_override(db, "M001", PINS["M001"], rule="R13", reason=REASON,
                                       line_no=1, pepper=TEST_PEPPER)
    assert approval == Approval("R13", MANAGER, "approved", REASON, 1)
    with pytest.raises(PermissionDenied, match="Camille Martin"):
        auth.authorize_override(db, "V001", PINS["V001"], rule="R13", reason=REASON,
                                pepper=TEST_PEPPER)
    with pytest.raises(InvalidInput):
        auth.authorize_override(db, "M001", PINS["M001"], rule="R13", reason=" ",
                                pepper=TEST_PEPPER)
    with pytest.raises(PermissionDenied):
        auth.authorize_override(db, "M201", PINS["M201"], rule="R13", reason=REASON,
                                store_id=1, pepper=TEST_PEPPER)


def test_R01_authorize_override_locks_out_after_five_wrong_pins(db):
    for _ in range(4):
        with pytest.raises(PermissionDenied) as err:
            auth.authorize_override(db, "M001", "0000", rule="R13", reason=REASON,
                                    pepper=TEST_PEPPER)
        assert err.value.code == "wrong_pin"
    with pytest.raises(PermissionDenied) as err:
        auth.authorize_override(db, "M001", "0000", rule="R13", reason=REASON, pepper=TEST_PEPPER)
    assert err.value.code == "locked"
    with pytest.raises(PermissionDenied) as err:  # even the right PIN, while locked
        auth.authorize_override(db, "M001", PINS["M001"], rule="R13", reason=REASON,
                                pepper=TEST_PEPPER)
    assert err.value.code == "locked"


def test_R01_missing_reason_costs_no_pin_try(db):
    for _ in range(6):
        with pytest.raises(InvalidInput):
            auth.authorize_override(db, "M001", "0000", rule="R13", reason="", pepper=TEST_PEPPER)
    assert auth.authorize_override(db, "M001", PINS["M001"], rule="R13", reason=REASON,
                                   pepper=TEST_PEPPER)


# ------------------------------------------------------------------ permissions


def test_staff_of_another_store_cannot_return_here(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    with pytest.raises(PermissionDenied, match="Lucas Petit"):
        plan(db, request(db, sale, ret(db, sale), staff_id=LYON_SALES))


def test_request_for_another_till_is_invalid(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    with pytest.raises(InvalidInput):
        plan(db, request(db, sale, ret(db, sale), till_no=2))


def test_a_return_needs_at_least_one_line(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    with pytest.raises(InvalidInput):
        plan(db, request(db, sale))


def test_unknown_return_reason_is_invalid(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    with pytest.raises(InvalidInput, match="Motif de retour inconnu"):
        plan(db, request(db, sale, ret(db, sale, reason="bored")))
    assert plan(db, request(db, sale, ret(db, sale, reason="size"))).lines[0].reason == "size"


# ------------------------------------------------------------------ R02 price paid


def test_R02_refund_is_the_price_paid_after_discount(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 3, 5900, list_price=7900)])
    p = plan(db, request(db, sale, ret(db, sale, qty=2)))
    assert p.lines[0].amount == -2 * 5900
    assert p.lines[0].unit_amount == 5900
    assert p.refund_total == 11800 and p.net == 11800
    assert "R02" in rules(p.lines[0])


@pytest.mark.parametrize("qty", [0, -1, 100])
def test_R02_absurd_quantity_is_invalid(db, qty):
    sale = add_sale(db, [L("SKU-CHEM-01", 3, 7900)])
    with pytest.raises(InvalidInput):
        plan(db, request(db, sale, ret(db, sale, qty=qty)))


def test_R02_more_than_sold_is_invalid_with_a_clear_message(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)])
    with pytest.raises(InvalidInput, match="2") as err:
        plan(db, request(db, sale, ret(db, sale, qty=3)))
    assert err.value.code == "quantity"


def test_R02_earlier_return_on_another_till_counts_chain_wide(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 3, 7900)])
    sale_obj = get_sale(db, sale)
    record_earlier_return(db, sale_obj.lines[0].id, 2, 15800, sale_obj.tenders[0].id, 15800)
    with pytest.raises(InvalidInput, match="1"):
        plan(db, request(db, sale, ret(db, sale, qty=2)))
    p = plan(db, request(db, sale, ret(db, sale, qty=1)))
    assert p.net == 7900


def test_R02_the_same_line_twice_in_one_request_counts_together(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)])
    with pytest.raises(InvalidInput):
        plan(db, request(db, sale, ret(db, sale, qty=1), ret(db, sale, qty=2)))
    p = plan(db, request(db, sale, ret(db, sale, qty=1),
                         ret(db, sale, qty=1, condition=Condition.WORN)))
    assert [line.verdict for line in p.lines] == [Verdict.ACCEPTED, Verdict.NEEDS_MANAGER]


def test_R02_never_more_than_what_is_left_unrefunded_on_the_line(db):
    # 3 × 33,33 € paid as 100,00 € (rounding on the till): earlier returns took 66,67 €.
    sale_id = add_sale(db, [L("SKU-LIVR-01", 3, 3334)])
    sale = get_sale(db, sale_id)
    earlier = replace(sale, lines=(replace(sale.lines[0], returned_qty=2, refunded_amount=6670),))
    p = decide(request(db, sale_id, ret(db, sale_id, qty=1)), sale=earlier,
               store=_store(db), staff=auth.get_staff(db, 1), products={}, config=PolicyConfig())
    assert p.lines[0].amount == -(3 * 3334 - 6670)
    assert ("R02", "warning") in {(r.rule, r.level) for r in p.lines[0].reasons}


def test_R02_unknown_sale_line_is_not_found(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    other = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    with pytest.raises(NotFound):
        plan(db, request(db, sale, ret(db, other)))


# ------------------------------------------------------------------ R03 same tender


def test_R03_card_refund_goes_to_the_same_card(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], [T("card", 18900, "4242", "fp")])
    p = plan(db, request(db, sale, ret(db, sale)))
    (refund,) = p.refunds
    tender = get_sale(db, sale).tenders[0]
    assert (refund.kind, refund.amount, refund.sale_tender_id, refund.card_last4) == (
        TenderKind.CARD, 18900, tender.id, "4242")
    assert not refund.needs_manager and not p.blocked


def test_R03_cash_refund_in_cash(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("cash", 7900)])
    p = plan(db, request(db, sale, ret(db, sale), presented_card_last4=""))
    assert [(r.kind, r.amount) for r in p.refunds] == [(TenderKind.CASH, 7900)]
    assert not p.blocked


def test_R03_card_mismatch_needs_a_manager(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], [T("card", 18900, "4242", "fp")])
    p = plan(db, request(db, sale, ret(db, sale), presented_card_last4="1111"))
    (refund,) = p.refunds
    assert refund.needs_manager and p.blocked
    assert ("R03", "manager") in {(r.rule, r.level) for r in refund.reasons}
    assert p.lines[0].verdict == Verdict.ACCEPTED


def test_R03_card_not_presented_needs_a_manager(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    p = plan(db, request(db, sale, ret(db, sale), presented_card_last4=""))
    assert p.refunds[0].needs_manager


def test_R03_manager_approves_refund_to_the_card_presented(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], [T("card", 18900, "4242", "fp")])
    p = plan(db, request(db, sale, ret(db, sale), presented_card_last4="1111",
                         approvals=(ok("R03"),)))
    (refund,) = p.refunds
    assert not refund.needs_manager and not p.blocked
    assert refund.card_last4 == "1111"
    assert p.approvals == (ok("R03"),)


def test_R03_customer_may_take_a_gift_card_instead(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    p = plan(db, request(db, sale, ret(db, sale), presented_card_last4="",
                         prefer_gift_card=True))
    assert [(r.kind, r.amount, r.new_gift_card) for r in p.refunds] == [
        (TenderKind.GIFT_CARD, 18900, True)]
    assert not p.blocked


# ------------------------------------------------------------------ R04 R05 stored value


def test_R04_gift_card_only_sale_refunded_on_a_new_gift_card(db):
    sale = add_sale(db, [L("SKU-PARF-01", 1, 9500)], [T("gift_card", 9500)])
    p = plan(db, request(db, sale, ret(db, sale)))
    assert [(r.kind, r.amount, r.new_gift_card) for r in p.refunds] == [
        (TenderKind.GIFT_CARD, 9500, True)]
    assert "R04" in {x.rule for x in p.refunds[0].reasons}


def test_R04_gift_card_and_notes_sale_refunded_on_new_gift_cards_only(db):
    sale = add_sale(db, [L("SKU-PARF-01", 2, 9500)], [T("gift_card", 12000), T("notes", 7000)])
    p = plan(db, request(db, sale, ret(db, sale, qty=2)))
    assert {r.kind for r in p.refunds} == {TenderKind.GIFT_CARD}
    assert all(r.new_gift_card for r in p.refunds)
    assert sum(r.amount for r in p.refunds) == 19000


def test_R05_card_plus_gift_card_all_to_card(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)],
                    [T("card", 8900, "4242", "fp"), T("gift_card", 10000)])
    p = plan(db, request(db, sale, ret(db, sale)))
    (refund,) = p.refunds
    assert (refund.kind, refund.amount) == (TenderKind.CARD, 18900)
    assert refund.beyond_original
    assert "R05" in {x.rule for x in refund.reasons}


def test_R05_card_plus_notes_all_to_card(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)],
                    [T("notes", 2000), T("card", 13800, "4242", "fp")])
    p = plan(db, request(db, sale, ret(db, sale, qty=1)))
    assert [(r.kind, r.amount) for r in p.refunds] == [(TenderKind.CARD, 7900)]
    assert not p.refunds[0].beyond_original  # the card paid more than this


def test_R05_card_credited_beyond_its_charge_on_a_later_return_is_flagged(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 10000)],
                    [T("card", 10000, "4242", "fp"), T("gift_card", 10000)])
    s = get_sale(db, sale)
    record_earlier_return(db, s.lines[0].id, 1, 10000, s.tenders[0].id, 10000)
    p = plan(db, request(db, sale, ret(db, sale, qty=1)))
    (refund,) = p.refunds
    assert (refund.kind, refund.amount, refund.beyond_original) == (TenderKind.CARD, 10000, True)


# ------------------------------------------------------------------ R06 gifts


def test_R06_gift_receipt_refund_only_on_gift_card(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], gift_receipt=True)
    p = plan(db, request(db, sale, ret(db, sale), presented_card_last4=""))
    assert [(r.kind, r.amount, r.new_gift_card) for r in p.refunds] == [
        (TenderKind.GIFT_CARD, 18900, True)]
    assert "R06" in {n.rule for n in p.notices}
    assert not p.blocked


def test_R06_customer_says_it_was_a_gift(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("cash", 7900)])
    p = plan(db, request(db, sale, ret(db, sale), gift=True))
    assert [(r.kind, r.new_gift_card) for r in p.refunds] == [(TenderKind.GIFT_CARD, True)]


# ------------------------------------------------------------------ R07 R08 no receipt


def no_receipt(*lines: LineRequest, **kw) -> ReturnRequest:
    kw.setdefault("other_ways_searched", True)
    kw.setdefault("id_checked", True)
    return request(None, None, *lines, presented_card_last4="", **kw)


def test_R07_no_receipt_needs_manager_at_current_price_on_gift_card(db):
    p = plan(db, no_receipt(LineRequest(2, sku="SKU-CHEM-01")))
    line = p.lines[0]
    assert line.verdict == Verdict.NEEDS_MANAGER and "R07" in rules(line)
    assert (line.unit_amount, line.amount) == (7900, -15800)  # the catalogue's current price
    assert [(r.kind, r.amount, r.new_gift_card) for r in p.refunds] == [
        (TenderKind.GIFT_CARD, 15800, True)]
    assert p.kind == TicketKind.NO_RECEIPT and p.blocked


def test_R07_manager_decision_accepts_the_no_receipt_return(db):
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), LineRequest(1, sku="SKU-PARF-01"),
                            approvals=(ok("R07"),)))
    assert all(line.verdict == Verdict.ACCEPTED for line in p.lines)
    assert not p.blocked and p.net == 7900 + 9500


def test_R07_no_receipt_needs_the_customers_id(db):
    with pytest.raises(PolicyRefused) as err:
        plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), id_checked=False))
    assert err.value.code == "R07"


def test_R07_unknown_article_without_receipt_is_not_found(db):
    with pytest.raises(NotFound):
        plan(db, no_receipt(LineRequest(1, sku="SKU-NOPE")))


def test_R08_no_receipt_only_after_searching_another_way(db):
    with pytest.raises(PolicyRefused, match="R08") as err:
        plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), other_ways_searched=False))
    assert err.value.code == "R08"


# ------------------------------------------------------------------ R09 R10 R11


def test_R09_gift_cards_cannot_be_returned(db):
    sale = add_sale(db, [L("SKU-GIFT-50", 1, 5000)])
    p = plan(db, request(db, sale, ret(db, sale)))
    assert p.lines[0].verdict == Verdict.REFUSED and "R09" in rules(p.lines[0])
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-GIFT-50"), approvals=(ok("R07"),)))
    assert p.lines[0].verdict == Verdict.REFUSED


def test_R10_shipping_is_never_refunded(db):
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], channel="online",
                    order_number="W000012345", shipping=690)
    p = plan(db, request(db, sale, ret(db, sale)))
    assert p.net == 18900 and sum(r.amount for r in p.refunds) == 18900
    assert "R10" in {n.rule for n in p.notices}


def test_R11_ten_year_old_sale_accepted(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], sold_on=date(2015, 2, 3))
    p = decide(request(db, sale, ret(db, sale)), sale=get_sale(db, sale), store=_store(db),
               staff=auth.get_staff(db, 1), products={}, config=PolicyConfig(),
               today=date(2026, 11, 26))
    assert p.lines[0].verdict == Verdict.ACCEPTED and not p.blocked
    assert "R11" in {n.rule for n in p.notices}


# ------------------------------------------------------------------ R12 R13 condition


@pytest.mark.parametrize("condition", [Condition.WORN, Condition.DAMAGED])
def test_R12_worn_or_damaged_needs_manager_and_condition_is_recorded(db, condition):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)])
    p = plan(db, request(db, sale, ret(db, sale, condition=condition)))
    assert p.lines[0].verdict == Verdict.NEEDS_MANAGER and "R12" in rules(p.lines[0])
    assert p.lines[0].condition == str(condition)
    p = plan(db, request(db, sale, ret(db, sale, condition=condition), approvals=(ok("R12", 1),)))
    assert p.lines[0].verdict == Verdict.ACCEPTED


def test_R13_tag_removed_refused(db):
    sale = add_sale(db, [L("SKU-CREA-01", 1, 145000)])
    p = plan(db, request(db, sale, ret(db, sale, condition=Condition.TAG_REMOVED)))
    assert p.lines[0].verdict == Verdict.REFUSED and "R13" in rules(p.lines[0])
    (r13,) = [r for r in p.lines[0].reasons if r.rule == "R13"]
    assert r13.level == "refused" and "étiquette de retour" in r13.message  # in French


def test_R13_manager_override_accepts(db):
    sale = add_sale(db, [L("SKU-CREA-01", 1, 145000)])
    p = plan(db, request(db, sale, ret(db, sale, condition=Condition.TAG_REMOVED),
                         approvals=(ok("R13", 1),)))
    assert p.lines[0].verdict == Verdict.ACCEPTED and p.net == 145000


def test_R13_tag_removed_on_an_ordinary_item_is_no_reason_to_refuse(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    p = plan(db, request(db, sale, ret(db, sale, condition=Condition.TAG_REMOVED)))
    assert p.lines[0].verdict == Verdict.ACCEPTED


# ------------------------------------------------------------------ R14 fine jewelry


def jewel_sale(db, **kw) -> int:
    return add_sale(db, [L("SKU-COLL-01", 1, 65000, serial="PRL-0042")], **kw)


# H9 (fine-jewelry mode): the engine now runs pos_returns.engine.jewelry.check_line, so a
# jewelry line also needs the serial read off the piece, the inspection checklist and,
# for the card, the fingerprint read by the terminal (tests/usecases/test_jewelry.py).
INSPECTED = Inspection(condition=True, hallmark=True, clasp=True, stones=True)
CARD_READ = {"presented_card_fingerprint": "fp-4242"}


def test_R14_jewelry_specialist_with_proof_in_jewelry_mode_accepted(db):
    sale = jewel_sale(db)
    p = plan(db, request(db, sale, ret(db, sale, serial_number="prl-0042", inspection=INSPECTED),
                         staff_id=JEWELER, jewelry_mode=True, **CARD_READ))
    assert p.lines[0].verdict == Verdict.ACCEPTED and p.net == 65000


def test_R14_store_without_fine_jewelry_refuses(db):
    sale = jewel_sale(db)
    cfg = TillConfig(store_id=2, till_no=1)
    p = plan(db, request(db, sale, ret(db, sale), store_id=2, staff_id=LYON_MANAGER,
                         jewelry_mode=True), cfg)
    assert p.lines[0].verdict == Verdict.REFUSED
    assert any("rayon Joaillerie" in r.message for r in p.lines[0].reasons)


def test_R14_salesperson_cannot_return_fine_jewelry(db):
    sale = jewel_sale(db)
    p = plan(db, request(db, sale, ret(db, sale), staff_id=SALESPERSON, jewelry_mode=True))
    assert p.lines[0].verdict == Verdict.REFUSED and "R14" in rules(p.lines[0])


def test_R14_needs_jewelry_mode(db):
    sale = jewel_sale(db)
    p = plan(db, request(db, sale, ret(db, sale), staff_id=JEWELER, jewelry_mode=False))
    assert p.lines[0].verdict == Verdict.REFUSED


def test_R14_needs_the_packing_slip_or_the_card_used(db):
    sale = add_sale(db, [L("SKU-COLL-01", 1, 65000)], channel="online",
                    order_number="W000000777", packing_slip="PS-777")
    base = dict(staff_id=JEWELER, jewelry_mode=True)

    def line():
        return ret(db, sale, inspection=INSPECTED)

    assert plan(db, request(db, sale, line(), presented_card_last4="",
                            **base)).lines[0].verdict == Verdict.REFUSED
    assert plan(db, request(db, sale, line(), presented_card_last4="9999",
                            **base)).lines[0].verdict == Verdict.REFUSED
    by_slip = plan(db, request(db, sale, line(), presented_card_last4="",
                               packing_slip="ps-777", prefer_gift_card=True, **base))
    assert by_slip.lines[0].verdict == Verdict.ACCEPTED
    # The last 4 digits alone no longer prove the card: the terminal's fingerprint must match.
    last4_only = plan(db, request(db, sale, line(), presented_card_last4="4242", **base))
    assert last4_only.lines[0].verdict == Verdict.REFUSED
    by_card = plan(db, request(db, sale, line(), presented_card_last4="4242", **base,
                               **CARD_READ))
    assert by_card.lines[0].verdict == Verdict.ACCEPTED


def test_R14_serial_number_mismatch_refused(db):
    sale = jewel_sale(db)
    p = plan(db, request(db, sale, ret(db, sale, serial_number="PRL-9999"), staff_id=JEWELER,
                         jewelry_mode=True))
    assert p.lines[0].verdict == Verdict.REFUSED
    assert any("PRL-9999" in r.message for r in p.lines[0].reasons)


def test_R14_jewelry_above_threshold_needs_manager(db):
    sale = add_sale(db, [L("SKU-BAGU-01", 1, 640000)])
    p = plan(db, request(db, sale, ret(db, sale, inspection=INSPECTED), staff_id=JEWELER,
                         jewelry_mode=True, **CARD_READ))
    assert p.lines[0].verdict == Verdict.NEEDS_MANAGER and "R14" in rules(p.lines[0])
    p = plan(db, request(db, sale, ret(db, sale, inspection=INSPECTED), staff_id=JEWELER,
                         jewelry_mode=True, approvals=(ok("R14", 1),), **CARD_READ))
    assert p.lines[0].verdict == Verdict.ACCEPTED


def test_R14_no_fine_jewelry_without_record_of_sale(db):
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-COLL-01"), staff_id=JEWELER,
                            jewelry_mode=True, approvals=(ok("R07"),)))
    assert p.lines[0].verdict == Verdict.REFUSED


# ------------------------------------------------------------------ R15 online


def test_R15_online_order_returned_in_store(db):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], channel="online",
                    order_number="W000000123")
    p = plan(db, request(db, sale, ret(db, sale)))
    assert p.lines[0].verdict == Verdict.ACCEPTED and p.net == 22000
    assert "R15" in {n.rule for n in p.notices}


def test_R15_international_order_merchandise_only_never_duties(db):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], channel="online",
                    order_number="W000000124", international=True, shipping=2500, duties=4400)
    p = plan(db, request(db, sale, ret(db, sale)))
    assert sum(r.amount for r in p.refunds) == 22000  # not 22000 + 2500 + 4400
    notices = {n.rule for n in p.notices}
    assert {"R10", "R15"} <= notices
    assert any("44,00" in n.message for n in p.notices if n.rule == "R15")


# ------------------------------------------------------------------ R16 exchange


def test_R16_even_exchange_no_money_changes_hands(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    p = plan(db, request(db, sale, ret(db, sale), new_items=(NewItem("SKU-CHEM-01"),)))
    assert p.kind == TicketKind.EXCHANGE
    assert p.net == 0 and p.refunds == ()
    assert [(line.direction, line.amount) for line in p.lines] == [("return", -7900),
                                                                  ("sale", 7900)]


def test_R16_customer_pays_the_difference_by_card_by_default(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    p = plan(db, request(db, sale, ret(db, sale), new_items=(NewItem("SKU-ESCA-01"),)))
    assert p.net == 7900 - 22000
    assert [(r.kind, r.amount) for r in p.refunds] == [(TenderKind.CARD, -14100)]
    assert p.lines[1].line_no == 2 and p.lines[1].unit_amount == 22000  # current price


def test_R16_customer_may_pay_the_difference_in_cash(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    p = plan(db, request(db, sale, ret(db, sale), new_items=(NewItem("SKU-ESCA-01"),),
                         exchange_payment_kind=TenderKind.CASH))
    assert [(r.kind, r.amount) for r in p.refunds] == [(TenderKind.CASH, -14100)]


def test_R16_difference_in_the_customers_favour_goes_back_by_the_rules(db):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], [T("cash", 22000)])
    p = plan(db, request(db, sale, ret(db, sale), new_items=(NewItem("SKU-CHEM-01", 2),)))
    assert [(r.kind, r.amount) for r in p.refunds] == [(TenderKind.CASH, 22000 - 15800)]


# ------------------------------------------------------------------ R17 gift cards


def test_R17_gift_card_share_never_paid_out_in_cash(db):
    sale = add_sale(db, [L("SKU-PARF-01", 2, 9500)], [T("cash", 4000), T("gift_card", 15000)])
    p = plan(db, request(db, sale, ret(db, sale, qty=2)))
    by_kind = refunds_by_kind(p)
    assert by_kind == {"cash": 4000, "gift_card": 15000}
    assert all(r.new_gift_card for r in p.refunds if r.kind == TenderKind.GIFT_CARD)


# ------------------------------------------------------------------ R18 restocking


def test_R18_no_restocking_fee_by_default(db):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)])
    p = plan(db, request(db, sale, ret(db, sale)))
    assert p.lines[0].restocking_fee == 0 and p.net == 22000


def test_R18_restocking_fee_per_department_shown_on_the_line(db):
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000), L("SKU-CHEM-01", 1, 7900)])
    cfg = replace(CFG, policy=PolicyConfig(restocking_fee_bp={"shoes": 1000}))
    p = plan(db, request(db, sale, ret(db, sale, 1), ret(db, sale, 2)), cfg)
    assert [line.restocking_fee for line in p.lines] == [2200, 0]
    assert "R18" in rules(p.lines[0]) and "R18" not in rules(p.lines[1])
    assert p.net == 22000 + 7900 - 2200 == sum(r.amount for r in p.refunds)


# ------------------------------------------------------------------ R19 history


def test_R19_below_thresholds_no_remark(db):
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), no_receipt_history_count=1,
                            approvals=(ok("R07"),)))
    assert "R19" not in {n.rule for n in p.notices} and not p.blocked


def test_R19_repeat_returner_warning(db):
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), no_receipt_history_count=2,
                            no_receipt_history_amount=12000, approvals=(ok("R07"),)))
    assert ("R19", "warning") in {(n.rule, n.level) for n in p.notices}
    assert not p.blocked


def test_R19_repeat_returner_needs_manager_review(db):
    req = no_receipt(LineRequest(1, sku="SKU-CHEM-01"), no_receipt_history_count=3,
                     approvals=(ok("R07"),))
    p = plan(db, req)
    assert p.lines[0].verdict == Verdict.NEEDS_MANAGER and "R19" in rules(p.lines[0])
    p = plan(db, replace(req, approvals=(ok("R07"), ok("R19"))))
    assert p.lines[0].verdict == Verdict.ACCEPTED


def test_R19_too_many_no_receipt_returns_refused(db):
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), no_receipt_history_count=5,
                            approvals=(ok("R07"),)))
    assert p.lines[0].verdict == Verdict.REFUSED and "R19" in rules(p.lines[0])


def test_R19_amount_threshold_counts_this_return_too(db):
    # 1 400 € earlier + 79 € now stays below 1 500 €; + 189 € reaches it.
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), no_receipt_history_count=1,
                            no_receipt_history_amount=140000, approvals=(ok("R07"),)))
    assert p.lines[0].verdict == Verdict.ACCEPTED
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-ROBE-01"), no_receipt_history_count=1,
                            no_receipt_history_amount=140000, approvals=(ok("R07"),)))
    assert p.lines[0].verdict == Verdict.REFUSED


def test_R19_refusal_can_be_overridden_by_a_manager(db):
    p = plan(db, no_receipt(LineRequest(1, sku="SKU-CHEM-01"), no_receipt_history_count=9,
                            approvals=(ok("R07"), ok("R19", 1))))
    assert p.lines[0].verdict == Verdict.ACCEPTED


# ------------------------------------------------------------------ cash ceiling


def test_cash_above_ceiling_needs_a_manager(db):
    sale = add_sale(db, [L("SKU-CREA-01", 1, 145000)], [T("cash", 145000)])
    p = plan(db, request(db, sale, ret(db, sale)))
    (refund,) = p.refunds
    assert refund.kind == TenderKind.CASH and refund.needs_manager and p.blocked
    approved = plan(db, request(db, sale, ret(db, sale), approvals=(ok("CASH"),)))
    assert not approved.blocked and approved.approvals == (ok("CASH"),)
    as_gift_card = plan(db, request(db, sale, ret(db, sale), prefer_gift_card=True))
    assert not as_gift_card.blocked
    assert as_gift_card.refunds[0].kind == TenderKind.GIFT_CARD


def test_cash_at_the_ceiling_needs_no_manager(db):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 100000)], [T("cash", 100000)])
    assert not plan(db, request(db, sale, ret(db, sale))).blocked


def _store(db):
    from pos_returns.cache.reference import get_store

    return get_store(db, 1)
