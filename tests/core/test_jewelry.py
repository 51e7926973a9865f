"""R14: fine jewelry checks (mode, store, staff, proof, serial, inspection, value)."""

from __future__ import annotations

from datetime import date

from pos_returns import jewelry, lookup
from pos_returns.auth import find_staff
from pos_returns.jewelry import Inspection, Proof
from pos_returns.plan import Verdict
from pos_returns.reference import all_stores, get_store
from tests.factories import L, T, add_sale

OK = Inspection(condition=True, hallmark=True, clasp=True, stones=True)


def _ring_sale(db, **kw):
    sale_id = add_sale(
        db, [L("SKU-BAGU-01", 1, 640000, serial="BG-2025-000417")],
        kw.pop("tenders", [T("card", 640000, "4242", "fp-ring")]), **kw,
    )
    return lookup.get_sale(db, sale_id)


def _check(db, sale, *, store_id=1, staff="B001", mode=True, proof=None, serial="BG-2025-000417",
           inspection=OK, threshold=100_000_000):
    store = get_store(db, store_id)
    return jewelry.check_line(
        sale=sale, line=sale.lines[0], store=store, staff=find_staff(db, staff),
        jewelry_mode=mode, proof=proof or Proof(card_last4="4242", card_fingerprint="fp-ring"),
        serial_number=serial, inspection=inspection, amount=sale.lines[0].unit_price,
        threshold=threshold,
        nearest=[s for s, _km in jewelry.nearest_jewelry_stores(all_stores(db), store)],
    )


def test_R14_all_checks_pass_for_the_specialist_in_mode(db):
    check = _check(db, _ring_sale(db))
    assert check.verdict == Verdict.ACCEPTED


def test_R14_store_without_department_refused_and_names_nearest(db):
    check = _check(db, _ring_sale(db), store_id=2, staff="M201")
    assert check.verdict == Verdict.REFUSED
    text = " ".join(r.message for r in check.reasons)
    assert "Joaillerie" in text and "Paris Haussmann" in text


def test_R14_salesperson_and_mode_off_refused(db):
    sale = _ring_sale(db)
    assert _check(db, sale, staff="V001").verdict == Verdict.REFUSED
    off = _check(db, sale, mode=False)
    assert off.verdict == Verdict.REFUSED
    assert any("mode joaillerie" in r.message for r in off.reasons)


def test_R14_wrong_serial_refused(db):
    check = _check(db, _ring_sale(db), serial="BG-2025-000418")
    assert check.verdict == Verdict.REFUSED
    assert any("BG-2025-000418" in r.message for r in check.reasons)
    # The engraving read with spaces or lower case still matches.
    assert _check(db, _ring_sale(db), serial="bg 2025 000417").verdict == Verdict.ACCEPTED


def test_R14_wrong_card_refused_even_with_the_same_last4(db):
    sale = _ring_sale(db)
    other_card = Proof(card_last4="4242", card_fingerprint="fp-someone-else")
    check = _check(db, sale, proof=other_card)
    assert check.verdict == Verdict.REFUSED
    assert any("carte présentée" in r.message for r in check.reasons)


def test_R14_online_order_proven_by_packing_slip(db):
    sale = _ring_sale(db, channel="online", order_number="W100000001", packing_slip="PS-778812")
    assert _check(db, sale, proof=Proof(packing_slip="ps-778812")).verdict == Verdict.ACCEPTED
    bad = _check(db, sale, proof=Proof(packing_slip="PS-000000"))
    assert bad.verdict == Verdict.REFUSED


def test_R14_incomplete_inspection_refused_failed_item_goes_to_manager(db):
    sale = _ring_sale(db)
    assert _check(db, sale, inspection=Inspection(condition=True)).verdict == Verdict.REFUSED
    failed = _check(db, sale, inspection=Inspection(True, True, False, True))
    assert failed.verdict == Verdict.NEEDS_MANAGER
    assert any(r.rule == "R12" for r in failed.reasons)


def test_R14_above_threshold_needs_manager(db):
    sale = _ring_sale(db)
    assert _check(db, sale, threshold=100_000).verdict == Verdict.NEEDS_MANAGER
    assert _check(db, sale, threshold=640_000).verdict == Verdict.ACCEPTED


def test_R14_cash_store_sale_is_proven_by_its_receipt(db):
    sale = _ring_sale(db, tenders=[T("cash", 640000)], sold_on=date(2024, 5, 2))
    assert _check(db, sale, proof=Proof()).verdict == Verdict.ACCEPTED


def test_R14_mode_entry_rules(db):
    paris, lyon = get_store(db, 1), get_store(db, 2)
    assert jewelry.may_enter_mode(paris, find_staff(db, "B001")) is None
    assert jewelry.may_enter_mode(paris, find_staff(db, "M001")) is None
    assert jewelry.may_enter_mode(paris, find_staff(db, "V001")) is not None
    assert jewelry.may_enter_mode(lyon, find_staff(db, "M201")) is not None
