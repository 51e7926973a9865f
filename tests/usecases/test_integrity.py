"""Issue 12: integrity no insider can break. Each test is an attack that went through
before; it is named after the attack (and the rule where one applies)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pos_returns.cache.db import atomic, open_cache
from pos_returns.cache.outbox import canonical_json
from pos_returns.cache.schema.journal import FISCAL_KEYS
from pos_returns.cli import main
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.engine.approvals import pending_approvals
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import Approval, LineRequest, ReturnRequest
from pos_returns.errors import ConfigError, InvalidInput, PermissionDenied
from pos_returns.journal import digest
from pos_returns.journal.chain import Journal, pin_for_config, startup
from pos_returns.journal.keys import (
    Signer,
    forget_cached_signers,
    format_fingerprint,
    load_pinned,
    load_signer,
    public_path,
    public_pem_from_hex,
)
from pos_returns.journal.records import record_bytes, record_hash
from pos_returns.journal.verify import verify
from pos_returns.usecases import auth, tickets
from pos_returns.usecases.auth import grant_approvals
from pos_returns.usecases.planning import plan_return
from tests.helpers import PINS, TEST_PEPPER, L, T, add_sale, approve


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


def _line(db, sale_id: int) -> int:
    return db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
                      [sale_id]).fetchone()[0]


@pytest.fixture
def ledger(db, cfg):
    """A cache with rows in every fiscal table: a 349,90 € card refund, a gift card, an
    R13 approval, a jewelry signature and a day closure."""
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 34990)], [T("card", 34990, "4242", "fp")])
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(_line(db, sale), 1)]))
    gift = add_sale(db, [L("SKU-PARF-01", 1, 9500)], gift_receipt=True)
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=gift, picks=[(_line(db, gift), 1)],
                                             gift=True))
    cere = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    plan = direct_plan(db, sale_id=cere, picks=[(_line(db, cere), 1)],
                       condition=Condition.TAG_REMOVED)
    plan = approve(db, cfg, plan, rule="R13", line_no=1)
    assert plan.approvals and not plan.blocked
    tickets.commit_plan(db, cfg, plan)
    db.execute(
        "INSERT INTO ticket_signatures(ticket_uuid, png, sha256, inspections, created_at) "
        "VALUES ('u-jewel', x'89504e47', 'abc', '[]', '2026-01-01T00:00:00Z')"
    )
    Journal.for_config(db, cfg).close_day(datetime.now(UTC).date())
    return db


# the column an insider would change, per table
_TARGET = {
    "journal": ("payload", "'{}'"),
    "journal_keys": ("public_key", "'00'"),
    "journal_heads": ("seq", "1"),
    "closures": ("grand_total", "grand_total - 100"),
    "return_tickets": ("net", "net * 10"),
    "return_lines": ("sale_line_id", "NULL"),
    "refunds": ("amount", "349900"),
    "approvals": ("manager_id", "1"),
    "gift_cards": ("initial_amount", "initial_amount * 10"),
    "ticket_signatures": ("sha256", "'forged'"),
}
_KEYS = [*FISCAL_KEYS, ("ticket_signatures", ("rowid",)), ("ticket_signatures", ("ticket_uuid",))]


def _columns(db, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _snapshot(db, table: str) -> list[tuple]:
    return db.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()


def _copy_sql(db, table: str, key: tuple[str, ...], verb: str, tail: str = "") -> str:
    """An INSERT that copies the first row with the target column changed, conflicting
    on ``key`` only (the INTEGER PRIMARY KEY / rowid is left to SQLite unless it is
    the key)."""
    col, expr = _TARGET[table]
    cols = [c for c in _columns(db, table)
            if not (c == "id" and key != ("rowid",))]
    if key == ("rowid",):
        cols = ["rowid", *[c for c in cols if c != "id"]]
    values = [expr if c == col else c for c in cols]
    if key != ("rowid",):
        # only the natural key may conflict: the other unique columns get fresh values
        for c in ("uuid", "number", "seq", "line_no", "key_id", "period", "ticket_uuid"):
            if c in cols and c not in key and c != col:
                values[cols.index(c)] = f"{c} || 'x'" if c not in ("number", "seq",
                                                                    "line_no") else f"{c} + 1000"
    return (f"{verb} INTO {table} ({', '.join(cols)}) SELECT {', '.join(values)} "
            f"FROM {table} WHERE rowid = (SELECT MIN(rowid) FROM {table}) {tail}")


@pytest.mark.parametrize("recursive", ["OFF", "ON"])
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
@pytest.mark.parametrize(("table", "key"), _KEYS, ids=lambda v: "-".join(v) if
                         isinstance(v, tuple) else v)
def test_REPLACE_on_a_fiscal_table_is_refused_whatever_recursive_triggers(
    ledger, table, key, verb, recursive
):
    ledger.execute(f"PRAGMA recursive_triggers = {recursive}")
    before = _snapshot(ledger, table)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute(_copy_sql(ledger, table, key, verb))
    assert _snapshot(ledger, table) == before


@pytest.mark.parametrize(("table", "key"), _KEYS, ids=lambda v: "-".join(v) if
                         isinstance(v, tuple) else v)
def test_UPSERT_DO_UPDATE_on_a_fiscal_table_is_refused(ledger, table, key):
    col, _expr = _TARGET[table]
    before = _snapshot(ledger, table)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute(_copy_sql(ledger, table, key, "INSERT",
                                 f"ON CONFLICT DO UPDATE SET {col} = excluded.{col}"))
    assert _snapshot(ledger, table) == before


def test_REPLACE_cannot_turn_a_refund_of_349_90_into_3499_00(ledger):
    ledger.execute("PRAGMA recursive_triggers = OFF")
    row = ledger.execute("SELECT id, ticket_id, kind, sale_tender_id, card_last4 FROM refunds "
                         "WHERE amount = 34990").fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute("INSERT OR REPLACE INTO refunds(id, ticket_id, kind, amount, "
                       "sale_tender_id, card_last4) VALUES (?, ?, ?, 349900, ?, ?)",
                       [row[0], row[1], row[2], row[3], row[4]])
    assert ledger.execute("SELECT amount FROM refunds WHERE id = ?", [row[0]]).fetchone() == (
        34990,)


def test_R02_REPLACE_cannot_free_a_returned_sale_line_for_a_second_refund(ledger, cfg):
    ledger.execute("PRAGMA recursive_triggers = OFF")
    line = ledger.execute("SELECT id, sale_line_id FROM return_lines WHERE amount = -34990"
                          ).fetchone()
    cols = [c for c in _columns(ledger, "return_lines") if c != "id"]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute(
            f"INSERT OR REPLACE INTO return_lines(id, {', '.join(cols)}) SELECT id, "
            + ", ".join("NULL" if c == "sale_line_id" else c for c in cols)
            + " FROM return_lines WHERE id = ?", [line[0]])
    sale = ledger.execute("SELECT sale_id FROM sale_lines WHERE id = ?", [line[1]]).fetchone()[0]
    with pytest.raises(InvalidInput, match="déjà repris"):  # the line is still returned
        direct_plan(ledger, sale_id=sale, picks=[(line[1], 1)])


def test_REPLACE_cannot_move_the_chain_head_backwards(ledger):
    ledger.execute("PRAGMA recursive_triggers = OFF")
    head = ledger.execute("SELECT seq FROM journal_heads").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute("INSERT OR REPLACE INTO journal_heads(store_id, till_no, seq, signature) "
                       "VALUES (1, 1, 2, 'x')")
    assert ledger.execute("SELECT seq FROM journal_heads").fetchone()[0] == head


# --------------------------------------------------------------------------- rows signed


def _drop_triggers(db) -> None:
    """What an insider with the file does first."""
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")


def _ticket_no(db, where: str) -> int:
    return db.execute(f"SELECT t.number FROM return_tickets t WHERE {where}").fetchone()[0]


@pytest.mark.parametrize("full", [False, True], ids=["fast", "full"])
@pytest.mark.parametrize(("sql", "table"), [
    ("UPDATE return_lines SET amount = amount - 100 WHERE amount = -34990", "lines"),
    ("UPDATE refunds SET amount = 349900 WHERE amount = 34990", "refunds"),
    ("UPDATE return_tickets SET net = net - 100 WHERE net = 34990", "ticket"),
    ("UPDATE return_lines SET sale_line_id = NULL WHERE amount = -34990", "lines"),
    ("DELETE FROM refunds WHERE amount = 34990", "refunds"),
    ("INSERT INTO refunds(ticket_id, kind, amount) SELECT id, 'cash', 5000 FROM return_tickets "
     "WHERE net = 34990", "refunds"),
], ids=["line_amount", "refund_amount", "ticket_net", "sale_line_freed", "refund_deleted",
        "refund_added"])
def test_verify_names_the_ticket_whose_rows_were_changed_with_the_triggers_dropped(
    ledger, sql, table, full
):
    assert verify(ledger, full=full).ok
    number = _ticket_no(ledger, "t.net = 34990")
    _drop_triggers(ledger)
    ledger.execute(sql)
    report = verify(ledger, full=full)
    assert not report.ok and report.broken is not None
    assert report.broken.reason == "rows"
    assert f"n° {number}" in report.broken.message and table in report.broken.message
    rec = ledger.execute("SELECT kind, ticket_uuid FROM journal WHERE seq = ?",
                         [report.broken.seq]).fetchone()
    assert rec[0] == "ticket"
    assert rec[1] == ledger.execute("SELECT uuid FROM return_tickets WHERE number = ?",
                                    [number]).fetchone()[0]


@pytest.mark.parametrize("full", [False, True], ids=["fast", "full"])
def test_R01_an_approval_changed_behind_the_journal_is_named(ledger, full):
    _drop_triggers(ledger)
    ledger.execute("UPDATE approvals SET manager_id = 5")
    report = verify(ledger, full=full)
    assert report.broken is not None and report.broken.reason == "rows"
    assert "approvals" in report.broken.message


def test_a_gift_card_amount_raised_behind_the_journal_is_named(ledger):
    _drop_triggers(ledger)
    ledger.execute("UPDATE gift_cards SET initial_amount = initial_amount * 10")
    report = verify(ledger)
    assert report.broken is not None and report.broken.reason == "rows"
    assert "gift_cards" in report.broken.message


@pytest.mark.parametrize("full", [False, True], ids=["fast", "full"])
@pytest.mark.parametrize("column", ["grand_total", "net", "totals"])
def test_a_closure_changed_behind_the_journal_is_named(ledger, full, column):
    _drop_triggers(ledger)
    value = "'{}'" if column == "totals" else f"{column} - 100"
    ledger.execute(f"UPDATE closures SET {column} = {value}")
    report = verify(ledger, full=full)
    assert report.broken is not None and report.broken.reason == "closure"
    assert ledger.execute("SELECT kind FROM journal WHERE seq = ?",
                          [report.broken.seq]).fetchone()[0] == "closure"


def test_a_ticket_added_without_a_record_is_reported(ledger):
    cols = "store_id, till_no, created_at, staff_id, sale_id, kind, refund_total, net"
    ledger.execute(
        f"INSERT INTO return_tickets(uuid, number, {cols}) SELECT 'forged', 99, {cols} "
        "FROM return_tickets WHERE net = 34990")
    report = verify(ledger)
    assert report.broken is not None and report.broken.reason == "unsigned_ticket"
    assert "99" in report.summary()


def test_a_closure_added_without_a_record_is_reported(ledger):
    cols = ("store_id, till_no, period_kind, created_at, staff_id, first_number, last_number, "
            "ticket_count, net, grand_total, grand_total_abs, totals")
    ledger.execute(f"INSERT INTO closures(period, journal_seq, {cols}) SELECT '2099-01-01', "
                   f"9999, {cols} FROM closures")
    report = verify(ledger)
    assert report.broken is not None and report.broken.reason == "unsigned_closure"


def test_the_first_altered_ticket_is_named_when_several_are(ledger):
    _drop_triggers(ledger)
    ledger.execute("UPDATE return_tickets SET net = net + 1")
    report = verify(ledger)
    first = ledger.execute("SELECT MIN(seq) FROM journal WHERE kind = 'ticket'").fetchone()[0]
    assert report.broken is not None and report.broken.seq == first


def test_v1_tickets_without_digest_are_reported_not_covered_in_full_only(db, cfg):
    """Tickets signed before format v2 carry no digest of their rows: ``verify --full``
    says how many are not covered; the fast verify stays as it was."""
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    journal = Journal.for_config(db, cfg)
    with atomic(db):  # a v1 ticket record, as the till wrote them before issue 12
        journal.append("ticket", {"uuid": "old-1", "number": 1, "lines": []},
                       ticket_uuid="old-1")
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(_line(db, sale), 1)]))
    fast, full = verify(db), verify(db, full=True)
    assert fast.ok and full.ok
    assert (full.tickets, full.uncovered) == (1, 1)
    assert "not covered" not in fast.summary() and "v2" not in fast.summary()
    assert "1 ticket" in full.summary() and "v2" in full.summary()


# --------------------------------------------------------------------------- pinned key


def _resign_chain_with(db, signer, *, key_id: str, net_delta: int) -> None:
    """The attack of issue 12: the public key replaced in ``journal_keys`` under the same
    key id, the records moved aside and every one re-signed with another key, each
    ticket's net lowered (the tables and the rows' digests made to agree)."""
    _drop_triggers(db)
    rows = db.execute("SELECT store_id, till_no, seq, kind, created_at, ticket_uuid, payload "
                      "FROM journal ORDER BY seq").fetchall()
    db.execute("UPDATE return_tickets SET net = net + ?", [net_delta])
    db.execute("DELETE FROM journal")
    db.execute("UPDATE journal_keys SET public_key = ?, public_pem = ?",
               [signer.public_hex, signer.public_pem()])
    prev_hash = prev_sig = ""
    for store_id, till_no, seq, kind, created_at, ticket_uuid, payload_json in rows:
        payload = json.loads(payload_json)
        if kind == "ticket" and "rows" in payload:
            payload["totals"]["net"] += net_delta
            tid = db.execute("SELECT id FROM return_tickets WHERE uuid = ?",
                             [ticket_uuid]).fetchone()[0]
            payload["rows"] = {"v": digest.ROWS_VERSION, **digest.ticket_rows(db, tid)}
        pj = canonical_json(payload)
        data = record_bytes(store_id=store_id, till_no=till_no, seq=seq, kind=kind,
                            created_at=created_at, ticket_uuid=ticket_uuid, key_id=key_id,
                            prev_hash=prev_hash, prev_signature=prev_sig, payload_json=pj)
        sig = signer.sign(data)
        db.execute("INSERT INTO journal(store_id, till_no, seq, kind, created_at, ticket_uuid, "
                   "key_id, payload, prev_hash, prev_signature, signature) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   [store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, pj,
                    prev_hash, prev_sig, sig])
        prev_hash, prev_sig = record_hash(data), sig
    db.execute("UPDATE journal_heads SET signature = ?", [prev_sig])


def test_a_chain_resigned_with_another_key_under_the_same_key_id_is_never_valid(ledger, cfg):
    key_id = ledger.execute("SELECT key_id FROM journal_keys").fetchone()[0]
    _resign_chain_with(ledger, Signer.generate(), key_id=key_id, net_delta=-100)
    # without the pin the chain itself looks right (the cache trusted itself): only the
    # dropped guards give it away
    unpinned = verify(ledger, full=True)
    assert unpinned.broken is not None and unpinned.broken.reason == "schema"
    pin = pin_for_config(cfg)
    assert pin is not None
    for full in (False, True):
        report = verify(ledger, full=full, pinned=pin)
        assert not report.ok and report.broken is not None
        assert report.broken.reason == "foreign_key"  # the key in the cache is not the pin
    # and with the cache's key row left alone, every forged record fails the pinned key
    report = verify(ledger, full=True, pinned=pin)
    assert "clé publique" in report.summary()


def test_records_resigned_with_a_foreign_key_fail_against_the_pin_even_if_keys_look_right(
    ledger, cfg
):
    pin = pin_for_config(cfg)
    key_id = ledger.execute("SELECT key_id FROM journal_keys").fetchone()[0]
    forger = Signer.generate()
    _resign_chain_with(ledger, forger, key_id=key_id, net_delta=-100)
    pub = ledger.execute("SELECT public_key FROM journal_keys").fetchone()[0]
    ledger.execute("UPDATE journal_keys SET public_key = ?, public_pem = ?",  # restore row
                   [pin.public_hex, public_pem_from_hex(pin.public_hex)])
    assert pub == forger.public_hex
    report = verify(ledger, pinned=pin)
    assert not report.ok and report.broken is not None
    assert report.broken.seq == 1 and report.broken.reason in ("signature", "key", "link")


def test_a_second_key_in_the_cache_is_reported_never_valid(ledger, cfg):
    intruder = Signer.generate()
    ledger.execute(
        "INSERT INTO journal_keys(store_id, till_no, key_id, public_key, public_pem, created_at) "
        "VALUES (1, 1, ?, ?, ?, '2026-01-01T00:00:00Z')",
        [intruder.key_id, intruder.public_hex, intruder.public_pem()])
    report = verify(ledger, pinned=pin_for_config(cfg))
    assert report.broken is not None and report.broken.reason == "foreign_key"
    assert intruder.key_id in report.broken.message


def test_a_second_chain_in_the_tills_cache_is_reported_never_valid(ledger, cfg):
    Journal(ledger, Signer.generate(), 1, 7).event("login", {"staff_id": 1})
    assert verify(ledger).ok
    report = verify(ledger, pinned=pin_for_config(cfg))
    assert report.broken is not None and report.broken.reason == "foreign_chain"
    assert (report.broken.store_id, report.broken.till_no) == (1, 7)


def test_startup_verifies_against_the_pinned_key_and_journals_the_failure(ledger, cfg):
    key_id = ledger.execute("SELECT key_id FROM journal_keys").fetchone()[0]
    _resign_chain_with(ledger, Signer.generate(), key_id=key_id, net_delta=-100)
    report = startup(ledger, cfg)
    assert not report.ok and report.broken is not None
    failure = ledger.execute("SELECT payload FROM journal WHERE kind = 'integrity_failure'"
                             ).fetchone()
    assert json.loads(failure[0])["reason"] == "foreign_key"


def test_the_public_key_is_pinned_beside_the_key_file_with_its_fingerprint(ledger, cfg):
    pub = public_path(cfg.key_path)
    signer = load_signer(cfg.key_path)
    assert pub.parent == cfg.key_path.parent and pub.suffix == ".pub"
    text = pub.read_text()
    assert signer.fingerprint in text and "BEGIN PUBLIC KEY" in text
    assert load_pinned(cfg.key_path).fingerprint == signer.fingerprint


def test_a_swapped_private_key_file_is_refused_against_its_pin(ledger, cfg):
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    cfg.key_path.unlink()
    cfg.key_path.write_bytes(pem)
    os.chmod(cfg.key_path, 0o600)
    forget_cached_signers()
    with pytest.raises(ConfigError, match="épingl"):
        load_signer(cfg.key_path)


def test_the_key_fingerprint_is_on_every_Z_and_in_the_closure_document(ledger, cfg, tmp_path,
                                                                        capsys):
    signer = load_signer(cfg.key_path)
    payload = json.loads(ledger.execute(
        "SELECT payload FROM journal WHERE kind = 'closure'").fetchone()[0])
    assert payload["key_fingerprint"] == signer.fingerprint  # signed with the Z
    doc = json.loads(ledger.execute("SELECT payload FROM outbox WHERE kind = 'closure'"
                                    ).fetchone()[0])
    assert doc["key_fingerprint"] == signer.fingerprint  # and sent to HQ
    assert Journal.for_config(ledger, cfg).head_document()["fingerprint"] == signer.fingerprint


def test_cli_journal_close_prints_the_key_fingerprint(db, cfg, tmp_path, capsys):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(_line(db, sale), 1)]))
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{cfg.cache_path}"\n')
    assert main(["journal", "close", "--config", str(toml), "--day",
                 datetime.now(UTC).astimezone().date().isoformat(), "--manager", "M001"]) == 0
    fingerprint = load_signer(cfg.key_path).fingerprint
    assert format_fingerprint(fingerprint) in capsys.readouterr().out


def test_cli_verify_with_another_pinned_key_fails(ledger, cfg, tmp_path, capsys):
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{cfg.cache_path}"\n')
    assert main(["journal", "verify", "--config", str(toml)]) == 0
    assert format_fingerprint(load_signer(cfg.key_path).fingerprint) in capsys.readouterr().out
    other = tmp_path / "other.pub"
    other.write_text(Signer.generate().public_pem())
    assert main(["journal", "verify", "--config", str(toml), "--pub", str(other)]) == 1


# --------------------------------------------------------------------------- approvals


def _worn_plan(db, cfg, *, qty: int = 1):
    """A worn-item return (R12): the engine waits for a manager."""
    sale = add_sale(db, [L("SKU-CERE-01", 2, 89000)])
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale, lines=(
        LineRequest(qty, condition=Condition.WORN, reason="defective",
                    sale_line_id=_line(db, sale)),), presented_card_last4="4242")
    plan = plan_return(db, cfg, request)
    assert plan.blocked and pending_approvals(plan)
    return plan


def _with(db, cfg, plan, approvals):
    return plan_return(db, cfg, replace(plan.request, approvals=tuple(approvals)))


def _counts(db) -> tuple[int, int, int]:
    return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("return_tickets", "approvals", "journal"))


def test_R01_a_forged_request_naming_a_manager_without_PIN_commits_nothing(db, cfg):
    plan = _worn_plan(db, cfg)
    items = pending_approvals(plan)
    forged = _with(db, cfg, plan, [Approval(p.rule, 3, "approved", "Je valide, signé M001",
                                            p.line_no) for p in items])
    assert not forged.blocked  # the engine alone would take it
    before = _counts(db)
    with pytest.raises(PermissionDenied) as refused:
        tickets.commit_plan(db, cfg, forged)
    assert refused.value.code == "approval_token"
    assert _counts(db) == before
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'override'").fetchone()[0] == 0


def _grant(db, cfg, plan, **kw):
    items = [(p.line_no, p.rule) for p in pending_approvals(plan)]
    return grant_approvals(db, cfg, "M001", PINS["M001"], items, decision="approved",
                           reason="Robe portée une fois, cliente fidèle",
                           request=plan.request, **kw)


def test_R01_a_granted_approval_commits_once_and_is_never_reused(db, cfg):
    plan = _worn_plan(db, cfg)
    approvals = _grant(db, cfg, plan)
    committed = tickets.commit_plan(db, cfg, _with(db, cfg, plan, approvals))
    used = db.execute("SELECT token_id, ticket_uuid FROM approval_tokens").fetchall()
    assert [u[1] for u in used] == [committed.uuid] * len(approvals)
    # the same approvals on a second return of the other piece: refused
    again = _with(db, cfg, plan, approvals)
    with pytest.raises(PermissionDenied) as refused:
        tickets.commit_plan(db, cfg, again)
    assert refused.value.code == "approval_used"


def test_R01_an_approval_granted_for_one_draft_does_not_cover_another(db, cfg):
    plan = _worn_plan(db, cfg)
    approvals = _grant(db, cfg, plan)
    bigger = replace(plan.request, lines=(replace(plan.request.lines[0], quantity=2),),
                     approvals=tuple(approvals))
    with pytest.raises(PermissionDenied) as refused:
        tickets.commit_plan(db, cfg, plan_return(db, cfg, bigger))
    assert refused.value.code == "approval_token"


def test_R01_an_altered_or_expired_approval_is_refused(db, cfg):
    plan = _worn_plan(db, cfg)
    (approval, *rest) = _grant(db, cfg, plan)
    other = replace(approval, manager_id=5)  # the token names M001
    with pytest.raises(PermissionDenied):
        tickets.commit_plan(db, cfg, _with(db, cfg, plan, [other, *rest]))
    body = approval.token.split(".")
    forged = replace(approval, token=".".join([body[0], body[1], "0" * 64]))
    with pytest.raises(PermissionDenied):
        tickets.commit_plan(db, cfg, _with(db, cfg, plan, [forged, *rest]))
    old = _grant(db, cfg, plan, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(PermissionDenied) as refused:
        tickets.commit_plan(db, cfg, _with(db, cfg, plan, old))
    assert refused.value.code == "approval_expired"


def test_R01_another_tills_approval_is_refused(db, cfg, tmp_path):
    plan = _worn_plan(db, cfg)
    elsewhere = replace(cfg, key_path=tmp_path / "other" / "journal.pem")
    approvals = _grant(db, elsewhere, plan)  # minted with another till's secret
    with pytest.raises(PermissionDenied):
        tickets.commit_plan(db, cfg, _with(db, cfg, plan, approvals))


def test_R01_the_manager_PIN_is_asked_once_for_every_item_and_a_wrong_one_is_journaled(db, cfg):
    plan = _worn_plan(db, cfg)
    items = [(1, "R12"), (1, "R13"), (None, "R01")]
    journal = Journal.for_config(db, cfg)
    with pytest.raises(PermissionDenied):
        grant_approvals(db, cfg, "M001", "0000", items, decision="approved",
                        reason="Robe portée une fois", request=plan.request, journal=journal)
    assert db.execute("SELECT failed_attempts FROM staff_lockout WHERE staff_id = 3"
                      ).fetchone()[0] == 1  # one PIN typed, one failure, not three
    failed = db.execute("SELECT payload FROM journal WHERE kind = 'login_failed'").fetchall()
    assert len(failed) == 1 and json.loads(failed[0][0])["purpose"] == "approval"
    granted_now = grant_approvals(db, cfg, "M001", PINS["M001"], items, decision="approved",
                                  reason="Robe portée une fois", request=plan.request)
    assert len({a.token for a in granted_now}) == 3


# --------------------------------------------------------------------------- secrets at rest


def test_the_cache_and_its_wal_and_shm_are_0600_in_a_0700_folder(tmp_path):
    path = tmp_path / "till" / "data" / "cache.sqlite"
    db = open_cache(path)
    try:
        db.execute("CREATE TABLE IF NOT EXISTS probe(x)")  # the WAL and SHM files exist now
        for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        db.close()


def test_a_cache_found_world_readable_is_narrowed(tmp_path):
    path = tmp_path / "cache.sqlite"
    open_cache(path).close()
    os.chmod(path, 0o644)
    open_cache(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unknown_code_wrong_pin_and_locked_account_get_the_same_answer_and_work(db, cfg,
                                                                               monkeypatch):
    hashed: list[str] = []
    real = auth.check_pin_hash
    monkeypatch.setattr(auth, "check_pin_hash",
                        lambda pin, stored, pepper: hashed.append(pin) or real(pin, stored,
                                                                               pepper))
    journal = Journal.for_config(db, cfg)
    answers = {}
    for label, code, pin in (("unknown", "ZZ999", "1234"), ("wrong", "V001", "0000")):
        with pytest.raises(PermissionDenied) as err:
            auth.authenticate(db, code, pin, journal=journal, pepper=TEST_PEPPER)
        answers[label] = str(err.value)
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            auth.authenticate(db, "V001", "0000", journal=journal, pepper=TEST_PEPPER)
    with pytest.raises(PermissionDenied) as err:
        auth.authenticate(db, "V001", PINS["V001"], journal=journal,
                          pepper=TEST_PEPPER)  # locked: right PIN
    answers["locked"] = str(err.value)
    assert len(set(answers.values())) == 1
    assert len(hashed) == 2 + auth.MAX_FAILED_ATTEMPTS + 1  # one PIN hash every time
    kinds = [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]
    # every failure journaled: the unknown code, wrong PINs 1-4, the lockout at the 5th,
    # then the two tries on the locked account (a wrong PIN, the right one)
    assert kinds.count("login_failed") == 1 + (auth.MAX_FAILED_ATTEMPTS - 1) + 2
    assert kinds.count("lockout") == 1


def test_a_manager_unlocks_an_account_with_their_PIN_and_it_is_journaled(db, cfg):
    journal = Journal.for_config(db, cfg)
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            auth.authenticate(db, "V001", "0000", journal=journal, pepper=TEST_PEPPER)
    with pytest.raises(PermissionDenied):  # a salesperson cannot
        auth.unlock_with_pin(db, "B001", PINS["B001"], "V001", journal=journal, pepper=TEST_PEPPER)
    unlocked = auth.unlock_with_pin(db, "M001", PINS["M001"], "V001", journal=journal,
                                    pepper=TEST_PEPPER)
    assert unlocked.code == "V001"
    assert auth.authenticate(db, "V001", PINS["V001"],
                             pepper=TEST_PEPPER).code == "V001"  # before 15 minutes
    unlock = db.execute("SELECT payload FROM journal WHERE kind = 'unlock'").fetchone()
    assert json.loads(unlock[0]) == {"staff_id": 1, "manager_id": 3}


# --------------------------------------------------------------------------- keys


def test_a_deleted_ID_key_is_never_recreated_silently(db, cfg):
    from pos_returns.usecases import idcheck

    secret = idcheck.load_secret(cfg)  # a first start: the whole key set at once
    assert load_signer(cfg.key_path) and len(secret) == 32
    idcheck.key_path(cfg).unlink()
    with pytest.raises(ConfigError, match="keys restore") as err:
        idcheck.load_secret(cfg)
    assert err.value.code == "key_missing" and not idcheck.key_path(cfg).exists()


def test_a_deleted_journal_key_is_never_recreated_silently(db, cfg):
    load_signer(cfg.key_path)
    cfg.key_path.unlink()
    forget_cached_signers()
    with pytest.raises(ConfigError, match="keys restore"):
        Journal.for_config(db, cfg)
    assert not cfg.key_path.exists()


def test_cli_keys_init_once_backup_and_restore(tmp_path, monkeypatch, capsys):
    keys_dir = tmp_path / "till-keys"
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{keys_dir / "journal.pem"}"\n'
                    f'cache_path = "{tmp_path / "cache.sqlite"}"\n')
    assert main(["keys", "init", "--config", str(toml)]) == 0
    fingerprint = load_signer(keys_dir / "journal.pem").fingerprint
    assert format_fingerprint(fingerprint) in capsys.readouterr().out
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert (keys_dir / "id_hmac.key").exists() and (keys_dir / "journal.pub").exists()
    assert main(["keys", "init", "--config", str(toml)]) != 0  # once only
    id_key = (keys_dir / "id_hmac.key").read_bytes()

    monkeypatch.setenv("POS_RETURNS_KEYS_PASSPHRASE", "une phrase de passe longue")
    backup = tmp_path / "keys.backup"
    assert main(["keys", "backup", "--config", str(toml), "--out", str(backup)]) == 0
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in backup.read_bytes() and id_key not in backup.read_bytes()

    for f in keys_dir.iterdir():  # the till's disk is lost
        f.unlink()
    forget_cached_signers()
    monkeypatch.setenv("POS_RETURNS_KEYS_PASSPHRASE", "pas la bonne phrase")
    assert main(["keys", "restore", "--config", str(toml), str(backup)]) != 0
    assert "Phrase de passe erronée" in capsys.readouterr().err
    monkeypatch.setenv("POS_RETURNS_KEYS_PASSPHRASE", "une phrase de passe longue")
    assert main(["keys", "restore", "--config", str(toml), str(backup)]) == 0
    assert load_signer(keys_dir / "journal.pem").fingerprint == fingerprint
    assert (keys_dir / "id_hmac.key").read_bytes() == id_key
    assert stat.S_IMODE((keys_dir / "journal.pem").stat().st_mode) == 0o600
    # restoring over keys that exist overwrites nothing
    assert main(["keys", "restore", "--config", str(toml), str(backup)]) != 0


def test_cli_run_without_keys_says_what_to_do(db, tmp_cache, tmp_path, capsys):
    add_sale(db, [L("SKU-CHEM-01", 1, 7900)])  # a till's cache with sales
    cache = tmp_cache
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{tmp_path / "k" / "journal.pem"}"\ncache_path = "{cache}"\n')
    assert main(["run", "--config", str(toml)]) != 0
    assert "keys init" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()
