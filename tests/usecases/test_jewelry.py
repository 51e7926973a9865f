"""R14: fine jewelry checks (mode, store, staff, proof, serial, inspection, value)."""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from dataclasses import replace
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw
from pypdf import PdfReader

from pos_returns.cache import jewelry as jewelry_records
from pos_returns.cache import lookup
from pos_returns.cache.reference import all_stores, get_store
from pos_returns.config import TillConfig
from pos_returns.documents import render_ticket_pdf, ticket_document_from_db
from pos_returns.engine import jewelry
from pos_returns.engine.approvals import manager_can_act, pending_approvals
from pos_returns.engine.jewelry import Inspection, Proof
from pos_returns.engine.plan import Approval, LineRequest, ReturnRequest, Verdict
from pos_returns.errors import InvalidInput, PermissionDenied, PolicyRefused
from pos_returns.journal import chain as journal
from pos_returns.usecases import jewelry_mode
from pos_returns.usecases.auth import find_staff
from pos_returns.usecases.planning import plan_return
from pos_returns.usecases.tickets import commit_plan
from tests.helpers import L, T, add_sale, granted

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


# ------------------------------------------------------------------ decide() integration

# made at import, before tests/conftest.py gives each test its own data home: its keys
# go to a folder of this module's own, never the machine's till keys
CFG = TillConfig(store_id=1, till_no=1,
                 key_path=Path(tempfile.mkdtemp(prefix="alamara-test-keys-")) / "j.pem")


def _req(db, sale, *, store_id=1, staff="B001", mode=True, serial="BG-2025-000417",
         inspection=OK, last4="4242", fingerprint="fp-ring", slip="", approvals=(),
         signature=b"png"):
    return ReturnRequest(
        store_id=store_id, till_no=1, staff_id=int(find_staff(db, staff).id), sale_id=sale.id,
        lines=(LineRequest(1, sale_line_id=sale.lines[0].id, serial_number=serial,
                           inspection=inspection),),
        jewelry_mode=mode, presented_card_last4=last4, presented_card_fingerprint=fingerprint,
        packing_slip=slip, approvals=approvals, signature_png=signature,
    )


def _plan(db, req, cfg=CFG, *, threshold=None):
    if threshold is not None:
        cfg = replace(cfg, policy=replace(cfg.policy, jewelry_manager_threshold=threshold))
    return plan_return(db, cfg, req)


def _levels(line) -> set[tuple[str, str]]:
    return {(r.rule, r.level) for r in line.reasons}


def test_R14_decide_accepts_a_fully_checked_piece_below_the_threshold(db):
    sale = _ring_sale(db)
    p = _plan(db, _req(db, sale), threshold=700_000)
    assert p.lines[0].verdict == Verdict.ACCEPTED and p.net == 640000
    assert ("R14", "info") in _levels(p.lines[0])


def test_R14_decide_wrong_serial_is_refused(db):
    sale = _ring_sale(db)
    p = _plan(db, _req(db, sale, serial="BG-2025-999999"), threshold=700_000)
    assert p.lines[0].verdict == Verdict.REFUSED
    assert any("BG-2025-999999" in r.message and r.level == "refused" for r in p.lines[0].reasons)
    # No serial read at all is refused too: the engraving must be read off the piece.
    p = _plan(db, _req(db, sale, serial=""), threshold=700_000)
    assert p.lines[0].verdict == Verdict.REFUSED
    assert any("numéro de série" in r.message for r in p.lines[0].reasons)


def test_R14_decide_wrong_card_is_refused(db):
    sale = _ring_sale(db)
    same_last4 = _plan(db, _req(db, sale, fingerprint="fp-another-card"), threshold=700_000)
    assert same_last4.lines[0].verdict == Verdict.REFUSED
    assert any("carte présentée" in r.message for r in same_last4.lines[0].reasons)
    other = _plan(db, _req(db, sale, last4="1111", fingerprint="fp-ring"), threshold=700_000)
    assert other.lines[0].verdict == Verdict.REFUSED
    not_read = _plan(db, _req(db, sale, fingerprint=""), threshold=700_000)
    assert not_read.lines[0].verdict == Verdict.REFUSED
    assert any("terminal" in r.message.lower() or "TPE" in r.message
               for r in not_read.lines[0].reasons)


def test_R14_decide_store_without_department_names_the_nearest(db):
    sale = _ring_sale(db)
    p = _plan(db, _req(db, sale, store_id=2, staff="M201"), TillConfig(store_id=2, till_no=1))
    assert p.lines[0].verdict == Verdict.REFUSED
    text = " ".join(r.message for r in p.lines[0].reasons if r.level == "refused")
    assert "rayon Joaillerie" in text and "Alamara Paris Haussmann (Paris)" in text


def test_R14_R12_decide_failed_inspection_goes_to_a_manager(db):
    sale = _ring_sale(db)
    loose = Inspection(condition=True, hallmark=True, clasp=False, stones=True,
                       notes="fermoir lâche")
    p = _plan(db, _req(db, sale, inspection=loose), threshold=700_000)
    assert p.lines[0].verdict == Verdict.NEEDS_MANAGER
    assert ("R12", "manager") in _levels(p.lines[0])
    approved = _plan(db, _req(db, sale, inspection=loose, approvals=(
        Approval("R12", 3, "approved", "Fermoir à resserrer, pièce intacte", 1),)),
        threshold=700_000)
    assert approved.lines[0].verdict == Verdict.ACCEPTED
    missing = _plan(db, _req(db, sale, inspection=None), threshold=700_000)
    assert missing.lines[0].verdict == Verdict.REFUSED


def test_R14_decide_above_threshold_needs_a_manager(db):
    sale = _ring_sale(db)
    p = _plan(db, _req(db, sale))  # default threshold 1 000 €, ring 6 400 €
    assert p.lines[0].verdict == Verdict.NEEDS_MANAGER
    assert ("R14", "manager") in _levels(p.lines[0])
    assert any("1 000" in r.message.replace("\u202f", " ").replace("\u00a0", " ")
               for r in p.lines[0].reasons)
    ok = _plan(db, _req(db, sale, approvals=(
        Approval("R14", 3, "approved", "Cliente connue, bague intacte", 1),)))
    assert ok.lines[0].verdict == Verdict.ACCEPTED


def test_R14_decide_outside_the_mode_and_by_a_salesperson_is_refused(db):
    sale = _ring_sale(db)
    off = _plan(db, _req(db, sale, mode=False), threshold=700_000)
    assert off.lines[0].verdict == Verdict.REFUSED
    assert any("mode joaillerie" in r.message for r in off.lines[0].reasons)
    sales = _plan(db, _req(db, sale, staff="V001"), threshold=700_000)
    assert sales.lines[0].verdict == Verdict.REFUSED


def test_R14_decide_unsigned_is_a_warning_until_the_customer_signs(db):
    sale = _ring_sale(db)
    p = _plan(db, _req(db, sale, signature=b""), threshold=700_000)
    assert p.lines[0].verdict == Verdict.ACCEPTED
    assert ("R14", "warning") in _levels(p.lines[0])


# ------------------------------------------------------------------ the mode, journaled


@pytest.fixture
def cfg(tmp_path, tmp_cache) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


def _mode_records(db):
    return [(r.kind, r.payload) for r in journal.iter_records(db, 1, 1)
            if r.kind.startswith("jewelry_mode")]


def test_R14_entering_and_leaving_the_mode_are_journaled(db, cfg):
    specialist = find_staff(db, "B001")
    jewelry_mode.enter_mode(db, cfg, specialist.id)
    assert jewelry_mode.mode_state(db, 1, 1).on
    jewelry_mode.leave_mode(db, cfg, specialist.id, reason="lock")
    assert not jewelry_mode.mode_state(db, 1, 1).on
    assert jewelry_mode.leave_mode(db, cfg, specialist.id) is None  # already off: nothing written
    records = _mode_records(db)
    assert [k for k, _p in records] == ["jewelry_mode_on", "jewelry_mode_off"]
    assert records[0][1]["staff_code"] == "B001" and records[1][1]["reason"] == "lock"
    assert journal.verify(db).ok


def test_R14_only_specialists_and_managers_of_a_jewelry_store_enter_the_mode(db, cfg, tmp_path):
    with pytest.raises(PermissionDenied) as err:
        jewelry_mode.enter_mode(db, cfg, find_staff(db, "V001").id)
    assert "spécialistes" in str(err.value)
    lyon = TillConfig(store_id=2, till_no=1, cache_path=cfg.cache_path,
                      key_path=tmp_path / "keys" / "lyon.pem")
    with pytest.raises(PermissionDenied) as err:
        jewelry_mode.enter_mode(db, lyon, find_staff(db, "M201").id)
    assert "Joaillerie" in str(err.value)
    assert _mode_records(db) == []
    jewelry_mode.enter_mode(db, cfg, find_staff(db, "M001").id)
    assert [k for k, _p in _mode_records(db)] == ["jewelry_mode_on"]


def test_R14_a_mode_left_open_by_a_crash_is_closed_at_start(db, cfg):
    jewelry_mode.enter_mode(db, cfg, find_staff(db, "B001").id)
    jewelry_mode.close_left_open(db, cfg)
    assert _mode_records(db)[-1][1]["reason"] == "restart"
    assert jewelry_mode.close_left_open(db, cfg) is None


# ------------------------------------------------------------------ the ticket


def signature_png(width=300, height=100) -> bytes:
    image = PILImage.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(10, 70), (80, 20), (150, 80), (290, 30)], fill="black", width=4)
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _accepted_ring(db, cfg, *, mode=True):
    if mode:
        jewelry_mode.enter_mode(db, cfg, find_staff(db, "B001").id)
    sale = _ring_sale(db)
    png = signature_png()
    loose = Inspection(condition=True, hallmark=True, clasp=False, stones=True,
                       notes="fermoir lâche")
    req = granted(db, cfg, _req(db, sale, inspection=loose, signature=png, approvals=(
        Approval("R01", 3, "approved", "Cliente connue, fermoir à resserrer", 1),)))
    return _plan(db, req), png


def test_R14_ticket_keeps_the_signature_and_inspection_signed_in_the_journal(db, cfg):
    plan, png = _accepted_ring(db, cfg)
    assert not plan.blocked
    ticket = commit_plan(db, cfg, plan)
    record = jewelry_records.load_ticket_record(db, ticket.uuid)
    assert record is not None and record.png == png
    assert record.sha256 == hashlib.sha256(png).hexdigest()
    [piece] = record.inspections
    assert piece["serial_number"] == "BG-2025-000417" and piece["clasp"] is False
    [rec] = [r for r in journal.iter_records(db, 1, 1, kind="ticket")]
    assert rec.payload["jewelry"]["signature_sha256"] == record.sha256
    assert rec.payload["jewelry"]["inspections"][0]["notes"] == "fermoir lâche"
    assert journal.verify(db).ok
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE ticket_signatures SET sha256 = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM ticket_signatures")


def test_R14_ticket_cannot_complete_without_the_signature(db, cfg):
    plan, _png = _accepted_ring(db, cfg)
    unsigned = replace(plan, request=replace(plan.request, signature_png=b""))
    with pytest.raises(PolicyRefused) as err:
        commit_plan(db, cfg, unsigned)
    assert "signe" in str(err.value)
    with pytest.raises(InvalidInput):
        commit_plan(db, cfg, plan, signature_png=b"not a png at all, really not")
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM ticket_signatures").fetchone()[0] == 0


def test_R14_ticket_pdf_shows_the_inspection_and_draws_the_signature(db, cfg):
    plan, png = _accepted_ring(db, cfg)
    ticket = commit_plan(db, cfg, plan)
    doc = ticket_document_from_db(db, ticket.ticket_id)
    assert PILImage.open(BytesIO(png)).size == (300, 100)
    for paper in ("80mm", "a4"):
        pdf = render_ticket_pdf(doc, paper=paper)
        reader = PdfReader(BytesIO(pdf))
        text = " ".join((page.extract_text() or "") for page in reader.pages)
        text = " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())
        assert "Signature du client" in text and "BG-2025-000417" in text
        assert "Fermoir non conforme" in text and "Pierres conforme" in text
        assert "fermoir lâche" in text
        sizes = [img.image.size for page in reader.pages for img in page.images]
        assert (300, 100) in sizes  # the signature, embedded at its own pixel size
    # an ordinary ticket draws no signature
    other = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    sale = lookup.get_sale(db, other)
    plain = plan_return(db, CFG, ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=other,
        lines=(LineRequest(1, sale_line_id=sale.lines[0].id),), presented_card_last4="4242"))
    t2 = commit_plan(db, cfg, plain)
    pdf = render_ticket_pdf(ticket_document_from_db(db, t2.ticket_id))
    sizes = [img.image.size for page in PdfReader(BytesIO(pdf)).pages for img in page.images]
    assert (300, 100) not in sizes


def test_R14_R01_no_manager_override_brings_a_jewel_back_in_a_store_without_department(db):
    sale = _ring_sale(db)
    req = _req(db, sale, store_id=2, staff="M201", approvals=(
        Approval("R01", 5, "approved", "La cliente ne peut pas aller à Paris", 1),))
    p = _plan(db, req, TillConfig(store_id=2, till_no=1))
    assert p.lines[0].verdict == Verdict.REFUSED and p.blocked
    assert not p.lines[0].overridable  # the till says so instead of offering F6
    assert [r.message.replace("\u00a0", " ") for r in p.lines[0].reasons
            if r.rule == "R14"] == [
        "La joaillerie ne peut être reprise que dans un magasin doté d’un rayon Joaillerie. "
        "Les plus proches : Alamara Paris Haussmann (Paris)."
    ]


def test_R14_ticket_is_recorded_only_while_the_journal_says_the_mode_is_on(db, cfg):
    plan, _png = _accepted_ring(db, cfg, mode=False)  # the request claims the mode
    with pytest.raises(PolicyRefused) as err:
        commit_plan(db, cfg, plan)
    assert "mode joaillerie" in str(err.value)
    jewelry_mode.enter_mode(db, cfg, find_staff(db, "B001").id)
    jewelry_mode.leave_mode(db, cfg, find_staff(db, "B001").id)
    with pytest.raises(PolicyRefused):
        commit_plan(db, cfg, plan)
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0
    jewelry_mode.enter_mode(db, cfg, find_staff(db, "M001").id)
    assert commit_plan(db, cfg, plan).number == 1


@pytest.mark.parametrize("rule", ["R14", "R01"])
def test_R14_SERIAL_mismatch_is_its_own_rule_never_covered_by_an_approval(db, rule):
    """Issue 12: one R14 approval covered a serial-number mismatch and 6 000 € went back
    to the card for a different piece."""
    sale = _ring_sale(db)
    req = _req(db, sale, serial="BG-2025-999999", approvals=(
        Approval(rule, 3, "approved", "Cliente connue, je valide", 1),))
    p = _plan(db, req)  # above the threshold: R14 needs a manager as well
    line = p.lines[0]
    assert line.verdict == Verdict.REFUSED and p.blocked
    assert ("SERIAL", "refused") in _levels(line)
    assert not line.overridable
    assert not manager_can_act(replace(p, lines=(line,)))  # F6 is not offered
    assert pending_approvals(p) == []
