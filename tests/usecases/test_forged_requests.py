"""Issue 12, forged requests: the core commits only what it decides itself.

Two defects found by the audit's red team:

1. the ticket writer (``tickets.commit_plan``, so ``returns.commit_prepared``) trusted
   the plan it was given: a plan built or changed by hand — a worn item accepted with no
   manager, a card sale refunded in cash, a fee dropped, an amount raised, a manager's
   decision left out, a no-receipt return without its ID check — was committed. The
   writer now decides the request again from the cache inside the ticket's transaction
   and refuses any difference (``planning.require_decided``);
2. a manager's approval token did not cover where the money goes: approved as a gift
   card, the same token committed a card refund. ``engine.approvals.draft_digest`` now
   covers every field of the request that changes the outcome or the money's
   destination.

Each attack is committed the way a tool calling the core would commit it; each test
failed on the code before the fix (the ticket was written).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from pos_returns.cache.db import atomic
from pos_returns.cache.lookup import get_sale
from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.engine.approvals import (
    bound_approvals,
    draft_digest,
    pending_approvals,
    sale_cards,
)
from pos_returns.engine.domain import Condition, TenderKind
from pos_returns.engine.plan import (
    Approval,
    Inspection,
    LineRequest,
    NewItem,
    PlannedRefund,
    ReturnRequest,
    Verdict,
    plan_difference,
)
from pos_returns.errors import PermissionDenied, PolicyRefused
from pos_returns.i18n import STORE_TZ
from pos_returns.journal.chain import Journal
from pos_returns.journal.verify import verify
from pos_returns.usecases import idcheck, tickets
from pos_returns.usecases.auth import grant_approvals
from pos_returns.usecases.planning import plan_return
from pos_returns.usecases.returns import PreparedReturn, commit_prepared, complete_return
from tests.helpers import PINS, L, T, add_sale


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


def _line(db, sale_id: int, n: int = 0) -> int:
    return db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
                      [sale_id]).fetchall()[n][0]


def _tender(db, sale_id: int, kind: str) -> int:
    return db.execute("SELECT id FROM tenders WHERE sale_id = ? AND kind = ?",
                      [sale_id, kind]).fetchone()[0]


def _counts(db) -> tuple[int, ...]:
    return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("return_tickets", "return_lines", "refunds", "approvals",
                           "gift_cards", "journal", "outbox"))


def _request(sale_id: int, *lines: LineRequest, **kw) -> ReturnRequest:
    kw.setdefault("presented_card_last4", "4242")
    return ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale_id, lines=lines, **kw)


def _grant(db, cfg, plan, *, reason="Robe portée une fois, cliente fidèle", request=None):
    """Every point the engine asks a manager about, approved with M001's PIN for
    ``request`` (default: the plan's), then the engine's plan with those decisions."""
    request = request or plan.request
    items = [(p.line_no, p.rule) for p in pending_approvals(plan)
             + pending_approvals(plan, "refunds")]
    approvals = grant_approvals(db, cfg, "M001", PINS["M001"], items, decision="approved",
                                reason=reason, request=request)
    return plan_return(db, cfg, replace(request, approvals=tuple(approvals)))


def _refused(db, cfg, plan, *, via_prepared: bool = False, code: str = "not_decided"):
    """Commit ``plan`` as a caller of the core would; assert it is refused with ``code``
    and that nothing at all was written."""
    before = _counts(db)
    with pytest.raises((PolicyRefused, PermissionDenied)) as refused:
        if via_prepared:
            commit_prepared(db, cfg, PreparedReturn(plan, ask_hq=False))
        else:
            tickets.commit_plan(db, cfg, plan)
    assert refused.value.code == code, refused.value
    assert _counts(db) == before
    return refused.value


def _worn(db, cfg):
    """A worn dress (R12): the engine waits for a manager."""
    sale = add_sale(db, [L("SKU-CERE-01", 2, 89000)], [T("card", 178000, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(
        1, condition=Condition.WORN, reason="defective", sale_line_id=_line(db, sale))))
    assert plan.blocked and pending_approvals(plan)
    return sale, plan


# --------------------------------------------------------------------------- 1. hand-made plans


@pytest.mark.parametrize("via_prepared", [False, True], ids=["commit_plan", "commit_prepared"])
def test_issue12_R12_a_worn_item_accepted_by_hand_without_a_manager_commits_nothing(
    db, cfg, via_prepared
):
    _sale, plan = _worn(db, cfg)
    forged = replace(plan, lines=tuple(replace(pl, verdict=Verdict.ACCEPTED, reasons=())
                                       for pl in plan.lines),
                     refunds=tuple(replace(r, reasons=()) for r in plan.refunds))
    assert not forged.blocked  # what the old writer looked at
    error = _refused(db, cfg, forged, via_prepared=via_prepared)
    assert "ligne 1 : la décision" in str(error)  # says what is not the engine's, in French
    assert "rien n’a été enregistré" in str(error)


def _card_and_cash_sale(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 17495)],
                    [T("cash", 10000), T("card", 24990, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(
        1, reason="size", sale_line_id=_line(db, sale))))
    assert not plan.blocked
    return sale, plan


_ROUTES = {
    # a card sale's money, all in cash, no tender named (the red team's 349,90 €)
    "cash_no_tender": lambda db, sale, plan: (PlannedRefund(TenderKind.CASH, plan.net),),
    # the split between the sale's tenders moved (each within what it can take back)
    "moved_to_cash": lambda db, sale, plan: (
        PlannedRefund(TenderKind.CASH, 10000, sale_tender_id=_tender(db, sale, "cash")),
        replace(plan.refunds[1], amount=plan.net - 10000)),
    # the card share to another card
    "another_card": lambda db, sale, plan: (
        plan.refunds[0], replace(plan.refunds[1], card_last4="9999")),
    # a new gift card nobody asked for (a card that can be spent by whoever holds it)
    "gift_card": lambda db, sale, plan: (
        PlannedRefund(TenderKind.GIFT_CARD, plan.net, new_gift_card=True),),
    # the card's share without the card's own reasons (what the ticket records)
    "reasons_dropped": lambda db, sale, plan: (
        plan.refunds[0], replace(plan.refunds[1], reasons=())),
}


@pytest.mark.parametrize("route", list(_ROUTES))
def test_issue12_R03_a_refund_route_changed_by_hand_commits_nothing(db, cfg, route):
    sale, plan = _card_and_cash_sale(db, cfg)
    assert [(r.kind, r.amount) for r in plan.refunds] == [("cash", 5000), ("card", 12495)]
    forged = replace(plan, refunds=_ROUTES[route](db, sale, plan))
    assert sum(r.amount for r in forged.refunds) == forged.net
    error = _refused(db, cfg, forged, via_prepared=True)
    assert "argent" in str(error) or "remboursés" in str(error) or "règles" in str(error)
    tickets.commit_plan(db, cfg, plan)  # the engine's own route commits


def test_issue12_R03_the_red_teams_card_sale_refunded_in_cash_commits_nothing(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 34990)], [T("card", 34990, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(1, reason="size",
                                                           sale_line_id=_line(db, sale))))
    _refused(db, cfg, replace(plan, refunds=(PlannedRefund(TenderKind.CASH, 34990),)),
             via_prepared=True)


def test_issue12_R02_an_amount_raised_by_hand_within_what_the_line_paid_commits_nothing(db, cfg):
    """One shirt of two comes back, refunded as both: within what the line was paid, so
    the quantities' re-check alone lets it through."""
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)], [T("card", 15800, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(1, reason="size",
                                                           sale_line_id=_line(db, sale))))
    forged = replace(plan, lines=(replace(plan.lines[0], amount=-15800, unit_amount=15800),),
                     refunds=(replace(plan.refunds[0], amount=15800),))
    assert "ligne 1 : le montant" in str(_refused(db, cfg, forged))


def test_issue12_R18_a_restocking_fee_dropped_by_hand_commits_nothing(db, cfg):
    fees = replace(cfg, policy=PolicyConfig(restocking_fee_bp={"shoes": 1500}))
    sale = add_sale(db, [L("SKU-ESCA-01", 1, 22000)], [T("card", 22000, "4242", "fp")])
    plan = plan_return(db, fees, _request(sale, LineRequest(1, reason="size",
                                                            sale_line_id=_line(db, sale))))
    assert plan.lines[0].restocking_fee == 3300 and plan.net == 18700
    forged = replace(plan, lines=(replace(plan.lines[0], restocking_fee=0),),
                     refunds=(replace(plan.refunds[0], amount=22000),))
    assert "frais de remise en stock" in str(_refused(db, fees, forged))
    tickets.commit_plan(db, fees, plan)


def test_issue12_R01_a_manager_decision_left_out_of_the_plan_commits_nothing(db, cfg):
    """The manager approved the worn dress; the plan committed without the decision would
    leave no approval row and no override in the journal: a trace erased."""
    _sale, plan = _worn(db, cfg)
    approved = _grant(db, cfg, plan)
    assert not approved.blocked and approved.approvals
    hidden = replace(approved, approvals=())
    assert "décisions du responsable" in str(_refused(db, cfg, hidden))
    tickets.commit_plan(db, cfg, approved)
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'override'").fetchone()[0] == 1


def test_issue12_R01_a_granted_decision_added_to_a_plan_that_does_not_need_it_commits_nothing(
    db, cfg
):
    """A real token (for this draft), pinned on a plan the engine accepts by itself: the
    ticket would name a manager for a decision the engine never applied."""
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(1, reason="size",
                                                           sale_line_id=_line(db, sale))))
    (approval,) = grant_approvals(db, cfg, "M001", PINS["M001"], [(1, "R12")],
                                  decision="approved", reason="Je valide au cas où",
                                  request=plan.request)
    _refused(db, cfg, replace(plan, approvals=(approval,)))


def _earlier_no_receipt_returns(db, cfg, n: int) -> None:
    for i in range(n):
        earlier = idcheck.capture(db, cfg, doc_type="cni", number="X7Q9ZK4L2",
                                  name="Marie Dupont")
        idcheck.link_ticket(db, earlier.uuid, ticket_uuid=f"elsewhere-{i}", amount=5000)


def _no_receipt(db, cfg, **kw):
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=None,
                            lines=(LineRequest(1, sku="SKU-ROBE-01", reason="size"),),
                            other_ways_searched=True, id_checked=True, **kw)
    plan = plan_return(db, cfg, request)
    return _grant(db, cfg, plan, reason="Robe neuve, cliente connue")


def test_issue12_R07_a_no_receipt_plan_without_its_id_check_commits_nothing(db, cfg):
    plan = _no_receipt(db, cfg)  # "id_checked": the caller's word only
    assert not plan.blocked
    _refused(db, cfg, plan, code="R07")


def test_issue12_R19_a_no_receipt_history_lowered_by_hand_commits_nothing(db, cfg):
    """Three earlier refunds of this identity: a manager must review (R19). The request
    says zero; the writer reads the history again from the ID check."""
    _earlier_no_receipt_returns(db, cfg, 3)
    check = idcheck.capture(db, cfg, doc_type="cni", number="X7Q9ZK4L2", name="Marie Dupont")
    plan = _no_receipt(db, cfg, id_check_uuid=check.uuid, no_receipt_history_count=0,
                       no_receipt_history_amount=0)
    assert not plan.blocked
    _refused(db, cfg, plan)


def test_issue12_plan_difference_names_the_first_point_that_is_not_the_engines(db, cfg):
    _sale, plan = _card_and_cash_sale(db, cfg)
    assert plan_difference(plan, plan) == ""
    line = plan.lines[0]
    cases = [
        (replace(line, verdict=Verdict.REFUSED), "ligne 1 : la décision"),
        (replace(line, restocking_fee=100), "ligne 1 : les frais de remise en stock"),
        (replace(line, vat_rate_bp=550), "ligne 1 : le taux de TVA"),
        (replace(line, quantity=2), "ligne 1 : l’article, la quantité ou l’état"),
        (replace(line, reasons=()), "ligne 1 : les règles appliquées"),
    ]
    for changed, words in cases:
        assert plan_difference(replace(plan, lines=(changed,)), plan) == words
    assert plan_difference(replace(plan, refunds=plan.refunds[:1]), plan) == \
        "la destination de l’argent"
    assert plan_difference(replace(plan, refunds=(
        plan.refunds[0], replace(plan.refunds[1], needs_manager=True))), plan) == \
        "les décisions du responsable nécessaires"


def test_issue12_R02_a_prepared_return_committing_other_lines_than_hq_reserved_commits_nothing(
    db, cfg
):
    """HQ reserved the shirt (prepare_return); the plan swapped in for the commit returns
    the dress: the chain-wide check would have been made for another line."""
    from pos_returns.usecases.returns import prepare_return

    hq = replace(cfg, hq_dsn="host=hq.invalid")
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900), L("SKU-ROBE-01", 1, 18900)],
                    [T("card", 26800, "4242", "fp")])
    prepared = prepare_return(db, hq, _request(sale, LineRequest(
        1, reason="size", sale_line_id=_line(db, sale))))
    assert prepared.ask_hq and prepared.lines
    dress = plan_return(db, hq, _request(sale, LineRequest(1, reason="size",
                                                           sale_line_id=_line(db, sale, 1))))
    before = _counts(db)
    with pytest.raises(PolicyRefused) as refused:
        commit_prepared(db, hq, replace(prepared, plan=dress))
    assert refused.value.code == "not_reserved" and _counts(db) == before
    state = db.execute("SELECT state FROM pending_reservations WHERE uuid = ?",
                       [prepared.ticket_uuid]).fetchone()[0]
    assert state == "abandoned"  # the next sync frees HQ's reservation


# --------------------------------------------------------------------------- legitimate plans


def test_issue12_the_engines_plans_still_commit_receipt_split_exchange_and_gift_card(db, cfg):
    """What the till decides commits as before: a return onto a split payment, an
    exchange paid in cash, a gift card asked for, a manager's approval (R12)."""
    sale = add_sale(db, [L("SKU-CHEM-01", 4, 7900)],
                    [T("cash", 11600), T("card", 20000, "4242", "fp")])
    shirt = _line(db, sale)
    asks = {
        "split": {},
        "exchange": {"new_items": (NewItem("SKU-PARF-01"),),
                     "exchange_payment_kind": TenderKind.CASH},
        "credit": {"prefer_gift_card": True},
    }
    kinds = {}
    for name, fields in asks.items():
        plan = plan_return(db, cfg, _request(sale, LineRequest(1, reason="size",
                                                               sale_line_id=shirt), **fields))
        kinds[name] = [(str(r.kind), r.new_gift_card) for r in
                       tickets.commit_plan(db, cfg, plan).plan.refunds]
    assert kinds == {"split": [("cash", False), ("card", False)],
                     "exchange": [("cash", False)], "credit": [("gift_card", True)]}
    _sale, worn = _worn(db, cfg)
    tickets.commit_plan(db, cfg, _grant(db, cfg, worn))
    assert verify(db, full=True, pinned=Journal.for_config(db, cfg).pin()).ok


def test_issue12_R07_R19_a_no_receipt_return_through_the_till_still_commits(db, cfg):
    _earlier_no_receipt_returns(db, cfg, 2)  # a warning only (R19)
    check = idcheck.capture(db, cfg, doc_type="cni", number="X7Q9ZK4L2", name="Marie Dupont")
    plan = _no_receipt(db, cfg, id_check_uuid=check.uuid)
    ticket = complete_return(db, cfg, plan.request)
    assert ticket.plan.kind == "no_receipt" and ticket.gift_cards


# --------------------------------------------------------------------------- 2. what a token binds


def test_issue12_R01_an_approval_granted_for_a_gift_card_does_not_commit_a_card_refund(db, cfg):
    """The red team's case: the manager accepts the worn dress as store credit; the same
    token committed it back to the customer's card."""
    _sale, plan = _worn(db, cfg)
    as_credit = plan_return(db, cfg, replace(plan.request, prefer_gift_card=True))
    approved = _grant(db, cfg, as_credit, reason="Avoir seulement, robe portée")
    assert approved.refunds[0].new_gift_card and not approved.blocked
    to_card = plan_return(db, cfg, replace(approved.request, prefer_gift_card=False))
    assert to_card.refunds[0].kind == "card" and not to_card.blocked
    _refused(db, cfg, to_card, code="approval_token")
    _refused(db, cfg, to_card, via_prepared=True, code="approval_token")
    tickets.commit_plan(db, cfg, approved)  # what the manager approved commits


def test_issue12_R03_an_approval_for_one_card_presented_does_not_send_the_money_to_another(
    db, cfg
):
    """The customer shows a card that is not the one used (R03): the manager approves a
    refund to that card; the same token then refunded a third card."""
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 34990)], [T("card", 34990, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(1, reason="size",
                                                           sale_line_id=_line(db, sale)),
                                         presented_card_last4="1111"))
    assert [p.rule for p in pending_approvals(plan, "refunds")] == ["R03"]
    approved = _grant(db, cfg, plan, reason="Carte de la conjointe, vérifiée")
    elsewhere = plan_return(db, cfg, replace(approved.request, presented_card_last4="9999"))
    assert not elsewhere.blocked and elsewhere.refunds[0].card_last4 == "9999"
    _refused(db, cfg, elsewhere, code="approval_token")
    assert tickets.commit_plan(db, cfg, approved).plan.refunds[0].card_last4 == "1111"


def test_issue12_R16_an_approval_for_an_exchange_paid_by_card_does_not_cover_cash(db, cfg):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")])
    plan = plan_return(db, cfg, _request(sale, LineRequest(1, condition=Condition.WORN,
                                                           reason="defective",
                                                           sale_line_id=_line(db, sale)),
                                         new_items=(NewItem("SKU-ESCA-01"),)))
    approved = _grant(db, cfg, plan)
    in_cash = plan_return(db, cfg, replace(approved.request,
                                           exchange_payment_kind=TenderKind.CASH))
    assert not in_cash.blocked and in_cash.refunds[0].kind == "cash"
    _refused(db, cfg, in_cash, code="approval_token")


def test_issue12_R07_an_approval_for_one_identity_does_not_cover_another(db, cfg):
    """R07 approved for a customer whose ID was checked; the token reused with the ID
    check of someone else."""
    first = idcheck.capture(db, cfg, doc_type="cni", number="X7Q9ZK4L2", name="Marie Dupont")
    other = idcheck.capture(db, cfg, doc_type="cni", number="K4L2X7Q9Z", name="Jean Martin")
    plan = _no_receipt(db, cfg, id_check_uuid=first.uuid)
    swapped = plan_return(db, cfg, replace(plan.request, id_check_uuid=other.uuid))
    assert not swapped.blocked
    _refused(db, cfg, swapped, code="approval_token")


_SALE_CARD = ("4242",)
_BASE = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=7, lines=(
    LineRequest(1, condition=Condition.WORN, reason="defective", sale_line_id=70),))


@pytest.mark.parametrize(("field", "value"), [
    ("prefer_gift_card", True),
    ("presented_card_last4", "9999"),
    ("presented_card_fingerprint", "fp-other"),
    ("exchange_payment_kind", TenderKind.CASH),
    ("new_items", (NewItem("SKU-PARF-01"),)),
    ("gift", True),
    ("id_check_uuid", "another-check"),
    ("id_checked", True),
    ("other_ways_searched", True),
    ("packing_slip", "BL-123456"),
    ("jewelry_mode", True),
    ("staff_id", 2),
    ("sale_id", 8),
    ("lines", (replace(_BASE.lines[0], quantity=2),)),
    ("lines", (replace(_BASE.lines[0], condition=Condition.DAMAGED),)),
    ("lines", (replace(_BASE.lines[0], reason="size"),)),
    ("lines", (replace(_BASE.lines[0], serial_number="SN-1"),)),
    ("lines", (replace(_BASE.lines[0], inspection=Inspection(True, True, True, False)),)),
])
def test_issue12_R01_draft_digest_covers_what_changes_the_outcome_or_the_money(field, value):
    assert draft_digest(replace(_BASE, **{field: value})) != draft_digest(_BASE)


def test_issue12_R01_draft_digest_leaves_out_what_the_core_sets_or_reads_again():
    before = draft_digest(_BASE, _SALE_CARD)
    same = replace(_BASE, offline=True, no_receipt_history_count=4,
                   no_receipt_history_amount=90000, signature_png=b"\x89PNG",
                   approvals=(Approval("R12", 3, "approved", "Robe portée une fois", 1),))
    assert draft_digest(same, _SALE_CARD) == before
    # the one card that paid the sale, presented or not, sends the money to that card
    assert draft_digest(replace(_BASE, presented_card_last4="4242"), _SALE_CARD) == before
    # with two cards on the sale, presenting one of them is a choice
    two = ("4242", "1881")
    assert draft_digest(replace(_BASE, presented_card_last4="4242"), two) != \
        draft_digest(_BASE, two)


def test_issue12_R01_bound_approvals_keeps_only_the_decisions_granted_for_this_draft(db, cfg):
    sale, plan = _worn(db, cfg)
    approved = _grant(db, cfg, plan)
    request = approved.request
    sale_card = sale_cards(get_sale(db, sale))
    assert sale_card == ("4242",) and sale_cards(None) == ()
    assert bound_approvals(request, sale_card) == request.approvals
    assert bound_approvals(replace(request, presented_card_last4=""), sale_card) == \
        request.approvals  # the sale's own card, presented or not
    assert bound_approvals(replace(request, prefer_gift_card=True), sale_card) == ()
    assert bound_approvals(replace(request, approvals=(replace(
        request.approvals[0], draft=""),)), sale_card) == ()  # never granted


def _yesterday_closed(db, cfg):
    """A card sale of three days ago planned for return, and yesterday closed (its Z
    signed): (the plan, yesterday)."""
    today = datetime.now(STORE_TZ).date()
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp-4242")],
                    sold_on=today - timedelta(days=3))
    plan = plan_return(db, cfg, _request(sale, LineRequest(
        quantity=1, reason="size", sale_line_id=_line(db, sale))))
    with atomic(db):
        Journal.for_config(db, cfg).close_day(today - timedelta(days=1))
    return plan, today - timedelta(days=1)


def test_issue12_a_return_dated_in_a_closed_day_commits_nothing(db, cfg):
    """A caller's ``now`` cannot slip a return into a day whose Z is signed."""
    from pos_returns.usecases.tickets import commit_plan

    plan, yesterday = _yesterday_closed(db, cfg)
    before = _counts(db)
    noon = datetime.combine(yesterday, time(12), tzinfo=STORE_TZ).astimezone(UTC)
    with pytest.raises(PolicyRefused) as err:
        commit_plan(db, cfg, plan, now=noon)
    assert err.value.code == "day_closed" and "clôturée" in str(err.value)
    assert _counts(db) == before
    assert commit_plan(db, cfg, plan).number  # today, still open


def test_issue12_the_closed_day_is_read_from_the_signed_journal(db, cfg):
    """The closures row deleted (its guard dropped, then put back exactly): the writer
    still knows the day is closed, from the closure's signed journal record."""
    from pos_returns.usecases.tickets import commit_plan

    plan, yesterday = _yesterday_closed(db, cfg)
    guards = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = 'closures'").fetchall()
    for name, _sql in guards:
        db.execute(f"DROP TRIGGER {name}")
    db.execute("DELETE FROM closures")
    for _name, sql in guards:
        db.execute(sql)
    noon = datetime.combine(yesterday, time(12), tzinfo=STORE_TZ).astimezone(UTC)
    with pytest.raises(PolicyRefused) as err:
        commit_plan(db, cfg, plan, now=noon)
    assert err.value.code == "day_closed"


@pytest.mark.parametrize("edit", [
    "UPDATE return_lines SET sale_line_id = NULL",
    "DELETE FROM return_lines",
])
def test_issue12_R02_a_line_freed_behind_the_guards_is_not_refunded_again(db, cfg, edit):
    """Audit round 3: the guards dropped, the returned line freed, the guards put back
    exactly (so the schema check sees nothing): the writer checks the earlier tickets
    of the sale against their signed records and refunds nothing."""
    from pos_returns.errors import IntegrityFailure
    from pos_returns.usecases.tickets import commit_plan

    sale = add_sale(db, [L("SKU-ROBE-01", 1, 34990)], [T("card", 34990, "4242", "fp-4242")])
    request = _request(sale, LineRequest(quantity=1, reason="size",
                                         sale_line_id=_line(db, sale)))
    commit_plan(db, cfg, plan_return(db, cfg, request))
    guards = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = 'return_lines'").fetchall()
    for name, _sql in guards:
        db.execute(f"DROP TRIGGER {name}")
    db.execute(edit)
    for _name, sql in guards:
        db.execute(sql)
    before = _counts(db)
    with pytest.raises((IntegrityFailure, PolicyRefused)) as err:
        commit_plan(db, cfg, plan_return(db, cfg, request))
    assert err.value.code in ("rows", "not_decided")
    assert _counts(db) == before
