"""Issue 12, the red team's second round: the end of the chain and the terminal's rows.

A. The till's own head is kept beside its keys after every commit (journal/head.py):
   a cache whose last ticket was erased (records, rows, outbox, ``journal_heads`` set
   back), a copy restored after an offline refund, a deleted head or anchor file — all
   block returns, with a French message that says what to do.
B. ``terminal_operations`` rows are checked against the journal's signed ``terminal``
   records (usecases/card_payments.py, journal/terminal.py).

Each test is an attack that went through before (named test_issue12_…)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from pos_returns.cache.db import atomic, open_cache
from pos_returns.cli import main
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.errors import Conflict, IntegrityFailure, PermissionDenied, PolicyRefused
from pos_returns.journal.anchor import (
    anchor_path,
    head_seq,
    record_hash_at,
    restore_block,
    write_anchor,
)
from pos_returns.journal.chain import Journal, startup
from pos_returns.journal.keys import forget_cached_signers, load_signer
from pos_returns.journal.keyset import backup_keys, restore_keys
from pos_returns.usecases import tickets
from tests.helpers import PINS, L, T, add_sale
from tests.usecases.test_integrity import _drop_triggers


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


# What issue 12's second round added is imported inside the tests, so that on the old
# code each test fails on its own attack, not on an import.


def integrity_block(db, key_path, store_id, till_no):
    from pos_returns.journal.anchor import integrity_block as block

    return block(db, key_path, store_id, till_no)


def head_path(key_path):
    from pos_returns.journal.head import head_path as path

    return path(key_path)


def read_head(key_path, signer):
    from pos_returns.journal.head import read_head as read

    return read(key_path, signer)


def _anchored(db, cfg):
    """What a sync does when HQ accepts the head: the anchor beside the keys."""
    seq = head_seq(db, 1, 1)
    write_anchor(cfg.key_path, seq, record_hash_at(db, 1, 1, seq))


def _sale(db, n: int = 1):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 34990)] * n, [T("cash", 34990 * n)])
    lines = [r[0] for r in db.execute(
        "SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no", [sale])]
    return sale, lines


def _refund(db, cfg, sale, line):
    # the engine's plan: 349,90 € back onto the sale's cash payment (the writer commits
    # nothing else, test_forged_requests.py)
    return tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(line, 1)],
                                                    cfg=cfg))


def _erase_last_ticket(db, ticket) -> None:
    """The red team's attack: triggers dropped, the ticket's records, rows and outbox
    document deleted, journal_heads set back to the record before."""
    _drop_triggers(db)
    first = db.execute("SELECT MIN(seq) FROM journal WHERE ticket_uuid = ?",
                       [ticket.uuid]).fetchone()[0]
    db.execute("DELETE FROM journal WHERE seq >= ?", [first])
    prev = db.execute("SELECT seq, signature FROM journal WHERE seq = ?",
                      [first - 1]).fetchone()
    db.execute("UPDATE journal_heads SET seq = ?, signature = ?", list(prev))
    for table in ("return_lines", "refunds", "approvals"):
        db.execute(f"DELETE FROM {table} WHERE ticket_id = ?", [ticket.ticket_id])
    db.execute("DELETE FROM return_tickets WHERE id = ?", [ticket.ticket_id])
    db.execute("DELETE FROM outbox WHERE uuid = ?", [ticket.uuid])
    _guards_put_back(db)


def _guards_put_back(db) -> None:
    """The insider re-creates the triggers they dropped, so that the guards (compared
    with the migrations at start-up and before each return) do not give them away."""
    try:
        from pos_returns.cache import guards
    except ImportError:  # before the guards were watched
        return
    guards.repair(db)
    assert not guards.schema_differences(db)


def _copy_cache(db, cache: Path, dest: Path) -> None:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(cache, dest)


def _put_back(db, copy: Path, cache: Path):
    db.conn.close()
    shutil.copyfile(copy, cache)
    for ext in ("-wal", "-shm"):
        (cache.parent / (cache.name + ext)).unlink(missing_ok=True)
    return open_cache(cache)


def _journaled_failures(db) -> list[dict]:
    return [json.loads(p) for (p,) in db.execute(
        "SELECT payload FROM journal WHERE kind = 'integrity_failure' ORDER BY seq")]


# --------------------------------------------------------------------------- A: the tail


def test_issue12_last_ticket_erased_with_the_head_moved_back_blocks_returns(db, cfg):
    Journal.for_config(db, cfg).event("start")
    _anchored(db, cfg)  # the last sync: HQ never saw the ticket below
    sale, [line] = _sale(db)
    ticket = _refund(db, cfg, sale, line)
    lost = head_seq(db, 1, 1)
    _erase_last_ticket(db, ticket)

    with pytest.raises(IntegrityFailure) as refused:  # not refunded a second time
        _refund(db, cfg, sale, line)
    assert refused.value.code == "behind_local_head"
    assert "accept-head" in str(refused.value) and "Les retours sont bloqués" in str(
        refused.value)
    report = startup(db, cfg)
    assert not report.ok and report.broken.reason == "behind_local_head"
    assert _journaled_failures(db)[-1]["reason"] == "behind_local_head"
    # the start records appended to the shortened cache never move the head back
    written, _problem = read_head(cfg.key_path, load_signer(cfg.key_path))
    assert written.seq == lost == integrity_block(db, cfg.key_path, 1, 1).seq


def test_issue12_a_copy_taken_after_the_last_sync_restored_after_an_offline_refund_is_blocked(
        db, cfg, tmp_cache, tmp_path):
    Journal.for_config(db, cfg).event("start")
    _anchored(db, cfg)
    sale, [line] = _sale(db)
    copy = tmp_path / "copy.sqlite"
    _copy_cache(db, tmp_cache, copy)
    _refund(db, cfg, sale, line)  # offline: HQ never received it
    db2 = _put_back(db, copy, tmp_cache)
    try:
        assert restore_block(db2, cfg.key_path, 1, 1)  # HQ's older anchor still matches
        with pytest.raises(IntegrityFailure, match="copie plus ancienne"):
            _refund(db2, cfg, sale, line)
        assert not startup(db2, cfg).ok
    finally:
        db2.conn.close()


def test_issue12_a_deleted_anchor_file_blocks_once_the_till_was_anchored(
        db, cfg, tmp_cache, tmp_path):
    sale, [line] = _sale(db)
    Journal.for_config(db, cfg).event("start")
    copy = tmp_path / "copy.sqlite"
    _copy_cache(db, tmp_cache, copy)
    _refund(db, cfg, sale, line)
    _anchored(db, cfg)  # synced: HQ and the anchor file know the refund
    db2 = _put_back(db, copy, tmp_cache)
    try:
        assert restore_block(db2, cfg.key_path, 1, 1)  # the anchor file catches it
        anchor_path(cfg.key_path).unlink()  # "never anchored", it used to say
        with pytest.raises(IntegrityFailure, match="keys restore") as refused:
            _refund(db2, cfg, sale, line)
        assert refused.value.code == "anchor_missing"
        # and the head file with it: still blocked
        head_path(cfg.key_path).unlink()
        assert integrity_block(db2, cfg.key_path, 1, 1).code == "head_missing"
        assert not startup(db2, cfg).ok
    finally:
        db2.conn.close()


def test_issue12_a_forged_or_edited_anchor_file_blocks(db, cfg):
    journal = Journal.for_config(db, cfg)
    journal.event("start")
    journal.event("login", {"staff_id": 1})
    _anchored(db, cfg)
    path = anchor_path(cfg.key_path)
    data = json.loads(path.read_text())
    data["seq"] = 1
    data["record_hash"] = record_hash_at(db, 1, 1, 1)  # a pair any restored cache holds
    path.write_text(json.dumps(data))
    assert integrity_block(db, cfg.key_path, 1, 1).code == "anchor_damaged"


def test_issue12_a_deleted_or_edited_head_file_blocks_returns(db, cfg):
    Journal.for_config(db, cfg).event("start")
    sale, lines = _sale(db, 2)
    _refund(db, cfg, sale, lines[0])
    path = head_path(cfg.key_path)
    good = path.read_text()
    path.unlink()
    block = integrity_block(db, cfg.key_path, 1, 1)
    assert block.code == "head_missing" and "keys restore" in block.message
    with pytest.raises(IntegrityFailure):
        _refund(db, cfg, sale, lines[1])
    assert not path.exists()  # a commit or an event never recreates it
    Journal.for_config(db, cfg).event("login", {"staff_id": 1})
    assert not path.exists()

    # set back to a record any older copy holds (both slots): the MAC no longer holds
    path.write_text(_edited_slots(good, seq=1, record_hash=record_hash_at(db, 1, 1, 1)))
    assert integrity_block(db, cfg.key_path, 1, 1).code == "head_damaged"
    path.write_text(good)
    assert integrity_block(db, cfg.key_path, 1, 1) is None
    _refund(db, cfg, sale, lines[1])


def _edited_slots(text: str, **changes) -> str:
    """The head file's two slots (512 bytes each), each edited."""
    out = []
    for i in range(0, len(text), 512):
        data = json.loads(text[i:i + 512])
        data.update(changes)
        out.append(json.dumps(data).ljust(511) + "\n")
    return "".join(out)


def test_issue12_a_till_first_start_writes_its_head_with_its_keys(db, cfg):
    assert not cfg.key_path.exists()
    assert integrity_block(db, cfg.key_path, 1, 1) is None  # no key set yet
    report = startup(db, cfg)  # creates the key set, and the head beside it
    assert report.ok
    head, problem = read_head(cfg.key_path, load_signer(cfg.key_path))
    assert problem == "" and head.seq == head_seq(db, 1, 1) and head.bound


def test_issue12_a_key_set_without_its_head_file_is_not_a_first_start(db, cfg):
    """A till whose key set exists (its pinned .pub) but whose head file never was, or
    was deleted with its cache's chain emptied: blocked, never 'nothing written yet'."""
    load_signer(cfg.key_path)
    head_path(cfg.key_path).unlink()
    assert integrity_block(db, cfg.key_path, 1, 1).code == "head_missing"


def test_issue12_the_head_file_lags_one_commit_after_a_crash_and_catches_up(
        db, cfg, monkeypatch):
    """Killed between the SQLite commit and the file write: the file is one commit
    behind, the cache extends it — no false alarm; it is brought forward before the
    next return."""
    from pos_returns.journal import chain

    sale, lines = _sale(db, 3)
    _refund(db, cfg, sale, lines[0])
    before, _p = read_head(cfg.key_path, load_signer(cfg.key_path))
    monkeypatch.setattr(chain, "advance_head", lambda *_a, **_k: None)  # killed here
    _refund(db, cfg, sale, lines[1])  # committed; the file was not written
    monkeypatch.undo()
    lagging, _p = read_head(cfg.key_path, load_signer(cfg.key_path))
    assert lagging == before and lagging.seq < head_seq(db, 1, 1)
    assert integrity_block(db, cfg.key_path, 1, 1) is None  # and it caught up
    assert read_head(cfg.key_path, load_signer(cfg.key_path))[0].seq == head_seq(db, 1, 1)
    assert startup(db, cfg).ok
    _refund(db, cfg, sale, lines[2])
    assert read_head(cfg.key_path, load_signer(cfg.key_path))[0].seq == head_seq(db, 1, 1)


def test_issue12_a_head_file_that_cannot_be_written_stops_returns(db, cfg, monkeypatch):
    """The keys folder full or made read-only: the commit is done but the use case
    fails, and the next return is refused until the head can be written (a head left
    behind in silence would let the last ticket be erased)."""
    from pos_returns.journal import head as head_file

    sale, lines = _sale(db, 3)
    _refund(db, cfg, sale, lines[0])

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(head_file, "_store", full)
    with pytest.raises(IntegrityFailure) as failed:
        _refund(db, cfg, sale, lines[1])
    assert failed.value.code == "head_unwritable" and "clés" in str(failed.value)
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 2  # committed
    with pytest.raises(IntegrityFailure) as refused:
        _refund(db, cfg, sale, lines[2])
    assert refused.value.code == "head_unwritable"
    monkeypatch.undo()
    _refund(db, cfg, sale, lines[2])
    assert read_head(cfg.key_path, load_signer(cfg.key_path))[0].seq == head_seq(db, 1, 1)


def test_issue12_a_crash_inside_the_head_write_falls_back_to_the_head_before(db, cfg):
    """Torn while its first slot was written: the second slot (one commit older) holds,
    the cache extends it — no false alarm."""
    Journal.for_config(db, cfg).event("start")
    sale, lines = _sale(db, 2)
    path = head_path(cfg.key_path)
    older = path.read_bytes()
    _refund(db, cfg, sale, lines[0])
    torn = b"\0" * 200 + older[200:]  # first slot torn, second still the older head
    path.write_bytes(torn)
    head, problem = read_head(cfg.key_path, load_signer(cfg.key_path))
    assert problem == "" and head.seq == head_seq(db, 1, 1) - 1
    assert integrity_block(db, cfg.key_path, 1, 1) is None
    _refund(db, cfg, sale, lines[1])


def test_issue12_spoiling_one_slot_of_the_head_file_never_brings_back_an_older_head(db, cfg):
    Journal.for_config(db, cfg).event("start")
    sale, [line] = _sale(db)
    ticket = _refund(db, cfg, sale, line)
    path = head_path(cfg.key_path)
    raw = path.read_bytes()
    path.write_bytes(b"\0" * 512 + raw[512:])  # either slot alone holds the newest head
    _erase_last_ticket(db, ticket)
    assert integrity_block(db, cfg.key_path, 1, 1).code == "behind_local_head"
    path.write_bytes(raw[:512] + b"\0" * 512)
    assert integrity_block(db, cfg.key_path, 1, 1).code == "behind_local_head"


def test_issue12_the_head_file_is_never_ahead_of_a_committed_record(db, cfg):
    journal = Journal.for_config(db, cfg)
    journal.event("start")
    before = head_path(cfg.key_path).read_text()
    with pytest.raises(RuntimeError), atomic(db):
        journal.append("login", {"staff_id": 1})
        raise RuntimeError("the transaction rolls back")
    assert head_path(cfg.key_path).read_text() == before
    assert integrity_block(db, cfg.key_path, 1, 1) is None


def test_issue12_keys_restored_with_an_older_head_file_leave_a_cache_ahead_unblocked(
        db, cfg, tmp_path):
    sale, lines = _sale(db, 3)
    _refund(db, cfg, sale, lines[0])
    _anchored(db, cfg)
    backup = backup_keys(cfg, tmp_path / "keys.backup", "une phrase de passe longue")
    _refund(db, cfg, sale, lines[1])  # the cache is now ahead of the backup's heads
    _anchored(db, cfg)
    shutil.rmtree(cfg.key_path.parent)  # the till's key folder is lost
    forget_cached_signers()
    restore_keys(cfg, backup, "une phrase de passe longue")
    restored, _p = read_head(cfg.key_path, load_signer(cfg.key_path))
    assert restored.seq < head_seq(db, 1, 1)
    assert integrity_block(db, cfg.key_path, 1, 1) is None  # ahead: not blocked
    assert startup(db, cfg).ok
    _refund(db, cfg, sale, lines[2])
    assert read_head(cfg.key_path, load_signer(cfg.key_path))[0].seq == head_seq(db, 1, 1)


def test_issue12_a_restore_keeps_a_newer_head_file_still_in_the_folder(db, cfg, tmp_path):
    Journal.for_config(db, cfg).event("start")
    sale, lines = _sale(db, 2)
    backup = backup_keys(cfg, tmp_path / "keys.backup", "une phrase de passe longue")
    _refund(db, cfg, sale, lines[0])
    newer = head_path(cfg.key_path).read_text()
    cfg.key_path.unlink()  # only the private key is lost
    cfg.key_path.with_suffix(".pub").unlink()
    (cfg.key_path.parent / "id_hmac.key").unlink()
    forget_cached_signers()
    restore_keys(cfg, backup, "une phrase de passe longue")
    assert head_path(cfg.key_path).read_text() == newer


def test_issue12_a_manager_accepts_the_cache_as_it_is_journaled_and_sent_to_hq(db, cfg):
    from pos_returns.usecases.recovery import accept_cache_head

    Journal.for_config(db, cfg).event("start")
    sale, [line] = _sale(db)
    ticket = _refund(db, cfg, sale, line)
    lost = head_seq(db, 1, 1)
    with pytest.raises(Conflict, match="Rien à accepter"):
        accept_cache_head(db, cfg, manager_code="M001", pin=PINS["M001"], note="Rien")
    _erase_last_ticket(db, ticket)
    with pytest.raises(PermissionDenied):  # a salesperson cannot
        accept_cache_head(db, cfg, manager_code="V001", pin=PINS["V001"],
                          note="Caisse restaurée, ticket perdu")
    with pytest.raises(PermissionDenied):
        accept_cache_head(db, cfg, manager_code="M001", pin="0000",
                          note="Caisse restaurée, ticket perdu")
    assert integrity_block(db, cfg.key_path, 1, 1).code == "behind_local_head"
    accepted = accept_cache_head(db, cfg, manager_code="M001", pin=PINS["M001"],
                                 note="Caisse restaurée, ticket perdu")
    assert accepted.block == "behind_local_head" and accepted.lost_seq == lost
    event = _journaled_failures(db)[-1]
    assert event["reason"] == "head_accepted" and event["manager_id"] == 3
    assert event["lost_seq"] == lost and event["note"] == "Caisse restaurée, ticket perdu"
    sent = db.execute("SELECT payload FROM outbox WHERE kind = 'integrity_event'").fetchone()
    assert json.loads(sent[0])["journal"]["seq"] == accepted.record_seq
    assert integrity_block(db, cfg.key_path, 1, 1) is None
    assert startup(db, cfg).ok


def test_issue12_cli_verify_names_the_block_and_accept_head_lifts_it(
        db, cfg, tmp_cache, tmp_path, monkeypatch, capsys):
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{tmp_cache}"\n')
    Journal.for_config(db, cfg).event("start")
    sale, [line] = _sale(db)
    ticket = _refund(db, cfg, sale, line)
    assert main(["journal", "verify", "--config", str(toml)]) == 0
    _erase_last_ticket(db, ticket)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    capsys.readouterr()
    assert main(["journal", "verify", "--config", str(toml)]) == 1
    assert "copie plus ancienne" in capsys.readouterr().err
    assert main(["journal", "accept-head", "--config", str(toml), "--manager", "M001",
                 "--note", "Caisse restaurée"]) == 2  # no PIN on a terminal: said in French
    assert "POS_RETURNS_MANAGER_PIN" in capsys.readouterr().err
    monkeypatch.setenv("POS_RETURNS_MANAGER_PIN", PINS["M001"])
    assert main(["journal", "accept-head", "--config", str(toml), "--manager", "M001",
                 "--note", "Caisse restaurée"]) == 0
    assert main(["journal", "verify", "--config", str(toml)]) == 0


# --------------------------------------------------------------------------- B: terminal rows


def _card_return(db, *, lines: int = 1):
    """A card sale (4242) of ``lines`` shirts at 49,40 €, and a request for the first."""
    from tests.usecases.test_card_payments import _request

    request = _request(db)
    if lines == 1:
        return request, None
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 4940)] * lines, [T("card", 4940 * lines, "4242")])
    ids = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY "
                                    "line_no", [sale])]
    return replace(request, sale_id=sale, lines=(replace(request.lines[0],
                                                         sale_line_id=ids[0]),)), ids


def _verify(db, cfg):
    from pos_returns.journal.verify import verify

    return verify(db, full=True, pinned=Journal.for_config(db, cfg).pin())


def test_issue12_a_card_credit_relabelled_declined_cannot_go_again_on_a_gift_card(db, cfg):
    """Approved (the card was credited), the return abandoned; the row set 'declined':
    the same return on a gift card would pay twice. Refused; the review lists the money
    (from the journal); verify names the operation."""
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.auth import get_staff
    from pos_returns.usecases.returns import commit_prepared, prepare_return
    from pos_returns.usecases.review import day_review

    request, _ids = _card_return(db)
    [amount] = cp.card_amounts(prepare_return(db, cfg, request).plan)
    op = cp.record_manual(db, cfg, draft_uuid="abandoned", amount=amount, staff_id=1,
                          auth_number="ZZ9")
    db.execute("UPDATE terminal_operations SET status = 'declined' WHERE uuid = ?", [op.uuid])
    on_gift_card = prepare_return(db, cfg, replace(request, prefer_gift_card=True))
    with pytest.raises(PolicyRefused) as refused:
        commit_prepared(db, cfg, on_gift_card)
    assert refused.value.code == "terminal_integrity" and "statut" not in str(refused.value)
    assert "status" in str(refused.value) and "49,40" in str(refused.value)
    assert db.execute("SELECT COUNT(*) FROM gift_cards").fetchone()[0] == 0
    report = _verify(db, cfg)
    assert not report.ok and report.broken.reason == "terminal_operation"
    review = day_review(db, get_staff(db, 3), date(2020, 1, 1))
    assert [o.uuid for o in review.terminal_unticketed] == [op.uuid]  # not hidden
    assert review.terminal_unticketed[0].status == "approved"
    assert any(op.uuid in text for text in review.terminal_integrity)


def test_issue12_a_declined_card_credit_relabelled_approved_is_never_committed(db, cfg):
    from pos_returns.devices.terminal import Action, Outcome, TerminalResult
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import commit_prepared, prepare_return

    request, _ids = _card_return(db)
    prepared = prepare_return(db, cfg, request)
    [amount] = cp.card_amounts(prepared.plan)
    op = cp.start_operation(db, cfg, draft_uuid="d1", amount=amount, staff_id=1)
    cp.record_result(db, cfg, op.uuid, TerminalResult(
        Outcome.DECLINED, Action.CREDIT, amount.amount, "ref", reason_code="05"))
    db.execute("UPDATE terminal_operations SET status = 'approved' WHERE uuid = ?", [op.uuid])
    with pytest.raises(PolicyRefused) as refused:
        commit_prepared(db, cfg, prepared, card_draft="d1")
    assert refused.value.code == "terminal_integrity"
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0
    assert not _verify(db, cfg).ok


def test_issue12_a_card_operation_whose_ticket_is_cleared_is_not_adopted_twice(db, cfg):
    """Approved and carried by ticket A; its row's ticket cleared: the next return of the
    same card and amount would adopt it — a card refund on ticket B the terminal never
    made. Refused: the journal signed that ticket A carries it."""
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import commit_prepared, prepare_return

    request, ids = _card_return(db, lines=2)
    prepared = prepare_return(db, cfg, request)
    [amount] = cp.card_amounts(prepared.plan)
    op = cp.record_manual(db, cfg, draft_uuid="a", amount=amount, staff_id=1,
                          auth_number="A1")
    commit_prepared(db, cfg, prepared, card_draft="a")
    db.execute("UPDATE terminal_operations SET ticket_uuid = NULL WHERE uuid = ?", [op.uuid])
    second = prepare_return(db, cfg, replace(request, lines=(replace(
        request.lines[0], sale_line_id=ids[1]),)))
    [again] = cp.card_amounts(second.plan)
    with pytest.raises(PolicyRefused) as refused:
        cp.start_operation(db, cfg, draft_uuid="b", amount=again, staff_id=1)
    assert refused.value.code == "terminal_integrity" and "ticket_uuid" in str(refused.value)
    assert db.execute("SELECT draft_uuid FROM terminal_operations").fetchone()[0] == "a"


def test_issue12_a_deleted_operation_row_hides_no_card_money(db, cfg):
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import commit_prepared, prepare_return

    request, _ids = _card_return(db)
    [amount] = cp.card_amounts(prepare_return(db, cfg, request).plan)
    op = cp.record_manual(db, cfg, draft_uuid="abandoned", amount=amount, staff_id=1,
                          auth_number="ZZ9")
    db.execute("DELETE FROM terminal_operations WHERE uuid = ?", [op.uuid])
    with pytest.raises(PolicyRefused, match="supprimée"):
        commit_prepared(db, cfg, prepare_return(db, cfg, replace(request,
                                                                 prefer_gift_card=True)))
    assert not _verify(db, cfg).ok


def test_issue12_an_operation_row_added_behind_the_journal_is_refused(db, cfg):
    """A hand-written 'approved' row for the draft: a card refund no terminal made."""
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import commit_prepared, prepare_return

    request, _ids = _card_return(db)
    prepared = prepare_return(db, cfg, request)
    [amount] = cp.card_amounts(prepared.plan)
    db.execute(
        "INSERT INTO terminal_operations(uuid, draft_uuid, tender_key, sale_tender_id, "
        "store_id, till_no, staff_id, action, amount, mode, status, auth_number, created_at) "
        "VALUES ('forged', 'd1', ?, ?, 1, 1, 1, 'credit', ?, 'manual', 'approved', 'X1', "
        "'2026-01-01T00:00:00Z')", [amount.key, amount.sale_tender_id, amount.amount])
    with pytest.raises(PolicyRefused, match="sans aucun enregistrement"):
        commit_prepared(db, cfg, prepared, card_draft="d1")
    assert not _verify(db, cfg).ok


def test_issue12_an_unknown_operation_relabelled_declined_still_blocks_a_new_attempt(db, cfg):
    """« À vérifier » blocks a second attempt on that card; set 'declined', it would not."""
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import prepare_return

    request, _ids = _card_return(db)
    [amount] = cp.card_amounts(prepare_return(db, cfg, request).plan)
    op = cp.start_operation(db, cfg, draft_uuid="d1", amount=amount, staff_id=1)
    cp.record_lost_answer(db, cfg, op.uuid)
    db.execute("UPDATE terminal_operations SET status = 'declined' WHERE uuid = ?", [op.uuid])
    with pytest.raises(PolicyRefused):
        cp.start_operation(db, cfg, draft_uuid="d2", amount=amount, staff_id=1)
    assert [o.uuid for o in cp.to_check(db)] == [op.uuid]  # the manager still sees it


def test_issue12_a_terminal_record_altered_with_its_row_fails_its_signature(db, cfg):
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import commit_prepared, prepare_return

    request, _ids = _card_return(db)
    [amount] = cp.card_amounts(prepare_return(db, cfg, request).plan)
    op = cp.record_manual(db, cfg, draft_uuid="abandoned", amount=amount, staff_id=1,
                          auth_number="ZZ9")
    _drop_triggers(db)
    db.execute("UPDATE terminal_operations SET status = 'declined' WHERE uuid = ?", [op.uuid])
    db.execute("UPDATE journal SET payload = replace(payload, '\"approved\"', '\"declined\"') "
               "WHERE kind = 'terminal'")
    _guards_put_back(db)
    with pytest.raises(PolicyRefused, match="signature"):
        commit_prepared(db, cfg, prepare_return(db, cfg, replace(request,
                                                                 prefer_gift_card=True)))
    assert not _verify(db, cfg).ok


def test_issue12_a_demo_chain_built_again_with_the_same_keys_is_not_blocked(tmp_path):
    keys = tmp_path / "keys" / "journal.pem"
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{keys}"\ndocuments_dir = "{tmp_path / "docs"}"\n')
    cache = tmp_path / "demo.sqlite"
    args = ["demo", "--sales", "30", "--returns", "2", "--seed", "3", "--db", str(cache),
            "--config", str(toml)]
    assert main(args) == 0
    assert main([*args, "--force"]) == 0  # a new chain, signed with the same keys
    db = open_cache(cache)
    try:
        assert integrity_block(db, keys, 1, 1) is None
    finally:
        db.conn.close()


def test_issue12_a_relabelled_operation_handed_straight_to_the_writer_is_refused(db, cfg):
    """The writer's own ``card_operations`` (a caller that skips commit_prepared and its
    settled-check): a declined credit relabelled approved is refused when attached."""
    from pos_returns.devices.terminal import Action, Outcome, TerminalResult
    from pos_returns.usecases import card_payments as cp
    from pos_returns.usecases.returns import prepare_return
    from pos_returns.usecases.tickets import commit_plan

    request, _ids = _card_return(db)
    prepared = prepare_return(db, cfg, request)
    [amount] = cp.card_amounts(prepared.plan)
    op = cp.start_operation(db, cfg, draft_uuid="d1", amount=amount, staff_id=1)
    cp.record_result(db, cfg, op.uuid, TerminalResult(
        Outcome.DECLINED, Action.CREDIT, amount.amount, "ref", reason_code="05"))
    db.execute("UPDATE terminal_operations SET status = 'approved' WHERE uuid = ?", [op.uuid])
    forged = {amount.index: cp.get_operation(db, op.uuid)}
    with pytest.raises(PolicyRefused) as refused:
        commit_plan(db, cfg, prepared.plan, card_operations=forged)
    assert refused.value.code == "terminal_integrity"
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == 0
