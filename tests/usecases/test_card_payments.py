"""Card money on the payment terminal, tender by tender (pos_returns.usecases.card_payments):
committed only when the terminal confirmed, « à vérifier » never guessed, never paid twice.

The terminal is the simulator, a real TCP server on 127.0.0.1 speaking Caisse-AP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from pos_returns.config import TillConfig
from pos_returns.devices.caisse_ap import CaisseAPClient
from pos_returns.devices.ticket_text import Text, ticket_ops
from pos_returns.devices.tpe_simulator import Step, TerminalSimulator
from pos_returns.documents import render_ticket_pdf, ticket_document_from_db
from pos_returns.engine.plan import LineRequest, NewItem, ReturnRequest
from pos_returns.errors import Conflict, InvalidInput, PermissionDenied, PolicyRefused
from pos_returns.usecases import card_payments as cp
from pos_returns.usecases.auth import get_staff
from pos_returns.usecases.returns import commit_prepared, prepare_return
from pos_returns.usecases.review import day_review
from tests.helpers import L, T, add_sale, install_test_pepper

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg(tmp_path, tmp_cache):
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "j.pem")


def _request(db, *, tenders=None, price=4940):
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, price)], tenders)
    line_id = db.execute("SELECT id FROM sale_lines WHERE sale_id = ?", [sale_id]).fetchone()[0]
    return ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale_id,
                         presented_card_last4="4242",
                         lines=(LineRequest(quantity=1, reason="size", sale_line_id=line_id),))


def _drive(db, cfg, prepared, draft, terminal):
    """What the refund screen does, step by step: row, call, answer."""
    out = []
    for amount in cp.card_amounts(prepared.plan):
        op = cp.start_operation(db, cfg, draft_uuid=draft, amount=amount, staff_id=1)
        if not op.approved:
            op = cp.record_result(db, cfg, op.uuid, cp.send_to_terminal(terminal, op))
        out.append(op)
    return out


def _journal_kinds(db):
    return [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]


def test_R03_card_refund_approved_by_the_terminal_is_committed_with_its_identifiers(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    with TerminalSimulator(script=[Step("approve", card="00B", read_mode="2")],
                           log=lambda _m: None) as sim:
        terminal = CaisseAPClient("127.0.0.1", sim.port, timeout_seconds=5)
        [op] = _drive(db, cfg, prepared, draft, terminal)
    assert op.approved and op.amount == 4940 and op.transaction_id.startswith("AA-")
    ticket = commit_prepared(db, cfg, prepared, card_draft=draft)
    row = db.execute("SELECT kind, amount, terminal_status, card_application, read_mode, "
                     "transaction_id, terminal_operation FROM refunds WHERE ticket_id = ?",
                     [ticket.ticket_id]).fetchone()
    assert row == ("card", 4940, "terminal", "00B", "2", op.transaction_id, op.uuid)
    signed = json.loads(db.execute("SELECT payload FROM journal WHERE kind = 'ticket'")
                        .fetchone()[0])
    assert signed["refunds"][0]["transaction_id"] == op.transaction_id  # under the signature
    assert cp.get_operation(db, op.uuid).ticket_uuid == ticket.uuid  # on this ticket
    # sent, answered, and on its ticket (signed: the truth a row edit cannot take back)
    assert _journal_kinds(db).count("terminal") == 3
    assert [r["CB"] for r in sim.requests] == ["4940"]


def test_R03_a_decline_is_not_committed_and_a_retry_is_allowed(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    with TerminalSimulator(script=[Step("decline", af="05")], log=lambda _m: None) as sim:
        terminal = CaisseAPClient("127.0.0.1", sim.port, timeout_seconds=5)
        [declined] = _drive(db, cfg, prepared, draft, terminal)
        assert declined.status == cp.DECLINED and "interdite" in declined.message
        with pytest.raises(PolicyRefused):  # a ticket never shows an unconfirmed card refund
            commit_prepared(db, cfg, prepared, card_draft=draft)
        assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0
        [approved] = _drive(db, cfg, prepared, draft, terminal)  # another try, or card
    assert approved.approved and approved.uuid != declined.uuid
    commit_prepared(db, cfg, prepared, card_draft=draft)
    assert len(sim.requests) == 2


def test_an_unknown_outcome_blocks_a_second_attempt_until_a_manager_confirms(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    with TerminalSimulator(script=[Step("hang")], log=lambda _m: None) as sim:
        terminal = CaisseAPClient("127.0.0.1", sim.port, timeout_seconds=0.3)
        [unknown] = _drive(db, cfg, prepared, draft, terminal)
        assert unknown.status == cp.UNKNOWN and unknown.reason_code == "timeout"
        amount = cp.card_amounts(prepared.plan)[0]
        with pytest.raises(Conflict) as err:
            cp.start_operation(db, cfg, draft_uuid=draft, amount=amount, staff_id=1)
        assert err.value.code == "terminal_to_check" and "vérifier" in str(err.value)
        assert [op.uuid for op in cp.to_check(db)] == [unknown.uuid]  # the manager's list
        with pytest.raises(PermissionDenied):
            cp.confirm_checked(db, cfg, unknown.uuid, manager_code="V001", pin="1111",
                               approved=True, note="ticket TPE lu", auth_number="123456")
        checked = cp.confirm_checked(db, cfg, unknown.uuid, manager_code="M001", pin="9999",
                                     approved=True, note="ticket TPE: accepté",
                                     auth_number="123 456")
        assert (checked.status, checked.auth_number, checked.checked_by) == (
            cp.APPROVED, "123456", 3)
        assert cp.to_check(db) == []
        again = cp.start_operation(db, cfg, draft_uuid=draft, amount=amount, staff_id=1)
    assert again.uuid == unknown.uuid  # already done: nothing sent again
    assert len(sim.requests) == 1
    ticket = commit_prepared(db, cfg, prepared, card_draft=draft)
    assert db.execute("SELECT terminal_status, auth_number FROM refunds WHERE ticket_id = ?",
                      [ticket.ticket_id]).fetchone() == ("checked", "123456")
    assert "terminal_check" in _journal_kinds(db)


def test_the_manager_says_not_done_and_the_card_can_be_tried_again(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    with TerminalSimulator(script=[Step("disconnect")], log=lambda _m: None) as sim:
        terminal = CaisseAPClient("127.0.0.1", sim.port, timeout_seconds=5)
        [unknown] = _drive(db, cfg, prepared, draft, terminal)
        assert unknown.reason_code == "disconnected"
        cp.confirm_checked(db, cfg, unknown.uuid, manager_code="M001", pin="9999",
                           approved=False, note="rien sur le ticket TPE")
        [approved] = _drive(db, cfg, prepared, draft, terminal)
    assert approved.approved and len(sim.requests) == 2


def test_no_terminal_the_salesperson_confirms_with_the_authorisation_number(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    [amount] = cp.card_amounts(prepared.plan)
    assert cp.terminal_for(cfg) is None  # the demo's default
    with pytest.raises(InvalidInput):
        cp.record_manual(db, cfg, draft_uuid=draft, amount=amount, staff_id=1, auth_number="")
    op = cp.record_manual(db, cfg, draft_uuid=draft, amount=amount, staff_id=1,
                          auth_number="a1b2c3")
    ticket = commit_prepared(db, cfg, prepared, card_draft=draft)
    assert db.execute("SELECT terminal_status, auth_number FROM refunds WHERE ticket_id = ?",
                      [ticket.ticket_id]).fetchone() == ("manual", "A1B2C3")
    assert op.mode == "manual"


def test_with_a_terminal_configured_a_card_refund_cannot_skip_it(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    with pytest.raises(PolicyRefused):
        commit_prepared(db, replace(cfg, terminal_host="127.0.0.1"), prepared)


def test_an_approved_amount_of_another_value_does_not_settle_the_card(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    [amount] = cp.card_amounts(prepared.plan)
    cp.record_manual(db, cfg, draft_uuid=draft, amount=replace(amount, amount=100),
                     staff_id=1, auth_number="X1")
    with pytest.raises(PolicyRefused):
        commit_prepared(db, cfg, prepared, card_draft=draft)


def test_R16_exchange_payment_is_a_debit_on_the_terminal(db, cfg):
    request = replace(_request(db, price=7900), new_items=(NewItem("SKU-ESCA-01"),))
    prepared = prepare_return(db, cfg, request)
    assert prepared.plan.net == 7900 - 22000  # the customer pays the difference
    [amount] = cp.card_amounts(prepared.plan)
    assert (amount.action, amount.amount, amount.key) == (cp.Action.DEBIT, 14100, "debit")
    draft = str(uuid.uuid4())
    with TerminalSimulator(log=lambda _m: None) as sim:
        terminal = CaisseAPClient("127.0.0.1", sim.port, timeout_seconds=5)
        [op] = _drive(db, cfg, prepared, draft, terminal)
    assert op.approved and sim.requests[0]["CD"] == "0"  # a debit
    ticket = commit_prepared(db, cfg, prepared, card_draft=draft)
    assert db.execute("SELECT amount, terminal_status FROM refunds WHERE ticket_id = ?",
                      [ticket.ticket_id]).fetchone() == (-14100, "terminal")


def test_split_card_tenders_are_driven_one_by_one(db, cfg):
    request = _request(db, tenders=[T("card", 3000, "4242", "fp1"), T("card", 1940, "4242",
                                                                       "fp1")])
    prepared = prepare_return(db, cfg, request)
    amounts = cp.card_amounts(prepared.plan)
    assert sorted(a.amount for a in amounts) == [1940, 3000]
    assert len({a.key for a in amounts}) == 2


def test_a_till_stopped_during_the_call_leaves_an_operation_to_check(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    amount = cp.card_amounts(prepared.plan)[0]
    op = cp.start_operation(db, cfg, draft_uuid="d-1", amount=amount, staff_id=1)
    assert cp.recover_interrupted(db, cfg) == 1
    op = cp.get_operation(db, op.uuid)
    assert (op.status, op.reason_code) == (cp.UNKNOWN, "interrupted")
    assert cp.recover_interrupted(db, cfg) == 0


KILLED_CHILD = r"""
import sys
from pathlib import Path
from pos_returns.cache.db import connect
from pos_returns.config import TillConfig
from pos_returns.devices.caisse_ap import CaisseAPClient
from pos_returns.devices.ticket_text import Text, ticket_ops
from pos_returns.engine.plan import LineRequest, NewItem, ReturnRequest
from pos_returns.usecases import card_payments as cp
from pos_returns.usecases.returns import prepare_return

cache, key, port, sale_id, line_id = sys.argv[1:6]
cfg = TillConfig(cache_path=Path(cache), key_path=Path(key))
db = connect(cache, create=False)
request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=int(sale_id),
                        presented_card_last4="4242",
                        lines=(LineRequest(quantity=1, reason="size", sale_line_id=int(line_id)),))
prepared = prepare_return(db, cfg, request)
[amount] = cp.card_amounts(prepared.plan)
op = cp.start_operation(db, cfg, draft_uuid="draft-killed", amount=amount, staff_id=1)
print("SENDING", flush=True)
result = cp.send_to_terminal(CaisseAPClient("127.0.0.1", int(port), timeout_seconds=60), op)
print("ANSWERED", result.outcome, flush=True)  # never reached: killed during the call
"""


def test_kill_9_during_the_terminal_call_leaves_it_to_check_neither_lost_nor_doubled(db, cfg):
    install_test_pepper(cfg.key_path)  # the child process makes the till's keys
    request = _request(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with TerminalSimulator(script=[Step("approve", delay=30)], log=lambda _m: None) as sim:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_CHILD, str(cfg.cache_path), str(cfg.key_path),
             str(sim.port), str(request.sale_id), str(request.lines[0].sale_line_id)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "SENDING", child.stderr.read()
            deadline = time.monotonic() + 10
            while not sim.requests and time.monotonic() < deadline:  # the terminal has it
                time.sleep(0.01)
            assert len(sim.requests) == 1
            child.kill()  # kill -9 while the terminal works
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
        # The till starts again.
        assert cp.recover_interrupted(db, cfg) == 1
        [left] = cp.to_check(db)  # not lost: the manager's review lists it
        assert (left.status, left.reason_code, left.amount) == (cp.UNKNOWN, "interrupted", 4940)
        prepared = prepare_return(db, cfg, request)
        [amount] = cp.card_amounts(prepared.plan)
        with pytest.raises(Conflict):  # not doubled: no second attempt on that card
            cp.start_operation(db, cfg, draft_uuid="draft-2", amount=amount, staff_id=1)
        # The terminal's receipt says it was done: the manager confirms it...
        cp.confirm_checked(db, cfg, left.uuid, manager_code="M001", pin="9999", approved=True,
                           note="ticket TPE: accepté", auth_number="654321")
        # ...and the return, done again, takes that operation instead of a new one.
        op = cp.start_operation(db, cfg, draft_uuid="draft-2", amount=amount, staff_id=1)
        assert op.uuid == left.uuid and op.approved
        ticket = commit_prepared(db, cfg, prepared, card_draft="draft-2")
    assert len(sim.requests) == 1  # the terminal was asked once
    assert db.execute("SELECT COUNT(*), SUM(amount) FROM refunds WHERE ticket_id = ?",
                      [ticket.ticket_id]).fetchone() == (1, 4940)
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 1
    kinds = _journal_kinds(db)
    assert kinds.count("terminal") >= 3 and "terminal_check" in kinds  # sent, interrupted…


def test_R03_the_printed_ticket_shows_what_the_terminal_confirmed(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    draft = str(uuid.uuid4())
    with TerminalSimulator(script=[Step("approve", card="00B")], log=lambda _m: None) as sim:
        terminal = CaisseAPClient("127.0.0.1", sim.port, timeout_seconds=5)
        [op] = _drive(db, cfg, prepared, draft, terminal)
    ticket = commit_prepared(db, cfg, prepared, card_draft=draft)
    doc = ticket_document_from_db(db, ticket.ticket_id)
    assert doc.refunds[0].transaction_id == op.transaction_id
    pdf = render_ticket_pdf(doc)
    text = " ".join("\n".join(p.extract_text() or "" for p in PdfReader(BytesIO(pdf)).pages)
                    .replace("\u00a0", " ").replace("\u202f", " ").split())
    assert "TPE : CB sans contact" in text
    assert op.transaction_id.split("|")[0] in text
    roll = " ".join(o.text for o in ticket_ops(doc, columns=48) if isinstance(o, Text))
    assert "TPE" in roll and op.transaction_id.split("|")[0] in roll  # the ESC/POS ticket


def test_the_managers_review_lists_every_operation_to_check(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    amount = cp.card_amounts(prepared.plan)[0]
    op = cp.start_operation(db, cfg, draft_uuid="d-1", amount=amount, staff_id=1)
    cp.recover_interrupted(db, cfg)
    manager = get_staff(db, 3)
    review = day_review(db, manager, date(2020, 1, 1))  # whatever the day shown
    assert [o.uuid for o in review.terminal_checks] == [op.uuid]
    cp.confirm_checked(db, cfg, op.uuid, manager_code="M001", pin="9999", approved=False,
                       note="rien sur le ticket TPE")
    assert day_review(db, manager, date(2020, 1, 1)).terminal_checks == ()


def test_card_money_moved_for_an_abandoned_return_shows_in_the_review_until_adopted(db, cfg):
    prepared = prepare_return(db, cfg, _request(db))
    [amount] = cp.card_amounts(prepared.plan)
    done = cp.record_manual(db, cfg, draft_uuid="abandoned", amount=amount, staff_id=1,
                            auth_number="ZZ9")
    manager = get_staff(db, 3)
    assert [o.uuid for o in day_review(db, manager, date(2020, 1, 1)).terminal_unticketed] \
        == [done.uuid]
    # The return made again adopts it: nothing sent twice, and it is on the ticket.
    adopted = cp.start_operation(db, cfg, draft_uuid="again", amount=amount, staff_id=1)
    assert adopted.uuid == done.uuid
    commit_prepared(db, cfg, prepared, card_draft="again")
    assert day_review(db, manager, date(2020, 1, 1)).terminal_unticketed == ()


def test_card_money_already_moved_is_never_refunded_a_second_way(db, cfg):
    """A return abandoned after its card refund, then made again otherwise: refused."""
    request = _request(db)
    prepared = prepare_return(db, cfg, request)
    [amount] = cp.card_amounts(prepared.plan)
    cp.record_manual(db, cfg, draft_uuid="abandoned", amount=amount, staff_id=1,
                     auth_number="ZZ9")
    # Another amount on the same card: sending it would pay twice.
    with pytest.raises(Conflict) as err:
        cp.start_operation(db, cfg, draft_uuid="again", amount=replace(amount, amount=100),
                           staff_id=1)
    assert err.value.code == "terminal_unticketed"
    # The same return on a gift card instead: the card was already refunded.
    on_gift_card = prepare_return(db, cfg, replace(request, prefer_gift_card=True))
    assert cp.card_amounts(on_gift_card.plan) == []
    with pytest.raises(PolicyRefused) as err:
        commit_prepared(db, cfg, on_gift_card)
    assert err.value.code == "terminal_unticketed"
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0
