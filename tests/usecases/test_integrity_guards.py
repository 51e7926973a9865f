"""Issue 12, the auditor's red team: what the signature and the append-only guards did not
cover. Each test is an attack that went through before (named test_issue12_<defect>_…):

A. guards dropped or bypassed (a UNIQUE index added, a view, a trigger changed): never
   noticed; B. a gift card issued by no ticket; C. the refund's card-terminal columns
   (and any column) outside the digest; D. used approval tokens erased; E. the
   no-receipt identity history (R19) erased or changed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from pos_returns.cache import giftcards, guards
from pos_returns.cache.db import atomic, open_cache
from pos_returns.cache.schema import migration_sets
from pos_returns.cache.schema.journal import GUARDED_TABLES
from pos_returns.cli import main
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import Approval
from pos_returns.errors import IntegrityFailure, PermissionDenied
from pos_returns.journal import digest
from pos_returns.journal.chain import Journal, pin_for_config, startup
from pos_returns.journal.keys import forget_cached_signers
from pos_returns.journal.verify import verify
from pos_returns.usecases import idcheck, privacy, tickets
from pos_returns.usecases.auth import get_staff
from tests.helpers import L, T, add_sale, approve, granted, new_cache
from tests.usecases.test_integrity import _drop_triggers, _line, cfg, ledger

SHARED_FIXTURES = (cfg, ledger)  # test_integrity's till and its ledger (every fiscal table)
NUMBER = "X4RTBPFW4"


def _pv(db, cfg, full=True):
    return verify(db, full=full, pinned=pin_for_config(cfg))


def _toml(tmp_path: Path, cfg: TillConfig) -> Path:
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{cfg.cache_path}"\n')
    return toml


def _count(db, table: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _no_receipt(db, cfg, number: str = NUMBER, *, now=None):
    """A committed no-receipt return (R07) with its identity check: (ticket, check)."""
    check = idcheck.capture(db, cfg, doc_type="cni", number=number, name="Zoé N’Diaye",
                            staff_id=1, now=now)
    plan = granted(db, cfg, direct_plan(
        db, sale_id=None, no_receipt_skus=[("SKU-CHEM-01", 1)], id_check_uuid=check.uuid,
        approvals=[Approval("R07", 3, "approved", "Chemise neuve, client connu", 1)]))
    return tickets.commit_plan(db, cfg, plan, now=now), check


# --------------------------------------------------------------------------- A. guards


def test_issue12_A_every_trigger_dropped_is_recorded_at_startup_and_blocks_returns(ledger, cfg):
    sale = add_sale(ledger, [L("SKU-CHEM-01", 1, 7900)])
    before = _count(ledger, "return_tickets")
    _drop_triggers(ledger)
    report = startup(ledger, cfg)
    assert not report.ok and report.broken is not None and report.broken.reason == "schema"
    first = report.schema[0].name  # the first five named, then how many more
    assert first in report.summary() and "n’existe plus" in report.summary()
    assert f"(et {len(report.schema) - 5} autres)" in report.summary()
    failure = json.loads(ledger.execute(
        "SELECT payload FROM journal WHERE kind = 'integrity_failure' ORDER BY seq DESC"
    ).fetchone()[0])
    assert failure["reason"] == "schema"
    assert "missing trigger refunds_no_delete on refunds" in failure["differences"]
    with pytest.raises(IntegrityFailure) as err:  # the till no longer refunds unguarded
        tickets.commit_plan(ledger, cfg, direct_plan(ledger, sale_id=sale,
                                                     picks=[(_line(ledger, sale), 1)]))
    assert err.value.code == "schema"
    assert "retours sont bloqués" in str(err.value) and first in str(err.value)
    assert _count(ledger, "return_tickets") == before


def test_issue12_A_journal_verify_names_a_dropped_guard(ledger, cfg, tmp_path, capsys):
    ledger.execute("DROP TRIGGER approvals_no_update")
    assert main(["journal", "verify", "--config", str(_toml(tmp_path, cfg))]) == 1
    err = capsys.readouterr().err
    assert "approvals_no_update" in err and "n’existe plus" in err


@pytest.mark.parametrize(("table", "index", "sql"), [
    ("refunds", "ticket_id", "INSERT OR REPLACE INTO refunds(ticket_id, kind, amount) "
                             "SELECT ticket_id, kind, amount * 10 FROM refunds LIMIT 1"),
    ("approvals", "ticket_id", "INSERT OR REPLACE INTO approvals(ticket_id, line_no, rule, "
                               "manager_id, decision, reason, decided_at) SELECT ticket_id, "
                               "line_no, rule, 1, decision, reason, decided_at FROM approvals"),
    ("return_lines", "sale_line_id", "INSERT OR REPLACE INTO return_lines(ticket_id, line_no, "
                                     "direction, sale_line_id, sku, quantity, unit_amount, "
                                     "amount, vat_rate_bp) SELECT ticket_id, line_no + 50, "
                                     "direction, sale_line_id, sku, quantity, unit_amount, "
                                     "amount, vat_rate_bp FROM return_lines LIMIT 1"),
    ("approval_tokens", "ticket_uuid", "INSERT OR REPLACE INTO approval_tokens(token_id, "
                                       "ticket_uuid, manager_id, rule, used_at) SELECT 'new', "
                                       "ticket_uuid, 3, 'R13', used_at FROM approval_tokens"),
    ("journal_heads", "(seq * 0)", "INSERT OR REPLACE INTO journal_heads VALUES (9, 9, 1, 'x')"),
    ("id_ledger", "store_id", "INSERT OR REPLACE INTO id_ledger(uuid, id_hash, amount, "
                              "store_id, till_no, created_at) VALUES ('n', 'h', 0, 1, 1, 'x')"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_issue12_A_REPLACE_through_a_new_unique_index_is_refused_and_the_index_named(
    ledger, cfg, table, index, sql
):
    if table == "id_ledger":
        _no_receipt(ledger, cfg)
    ledger.execute("PRAGMA recursive_triggers = OFF")  # the attacker's own connection
    ledger.execute(f"CREATE UNIQUE INDEX redteam ON {table}({index})")
    before = ledger.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE index"):
        ledger.execute(sql)
    assert ledger.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall() == before
    report = _pv(ledger, cfg)
    assert report.broken is not None and report.broken.reason == "schema"
    assert f"redteam (sur {table})" in report.summary()


def test_issue12_A_a_view_with_its_trigger_or_a_guard_rewritten_under_its_name_is_named(
    ledger, cfg
):
    ledger.executescript(
        "CREATE VIEW v_refunds AS SELECT * FROM refunds;"
        "CREATE TRIGGER v_refunds_del INSTEAD OF DELETE ON v_refunds "
        "BEGIN DELETE FROM refunds WHERE id = OLD.id; END;"
        "DROP TRIGGER refunds_no_update;"
        "CREATE TRIGGER refunds_no_update BEFORE UPDATE ON refunds WHEN 0 "
        "BEGIN SELECT RAISE(ABORT, 'no'); END;")
    found = {(d.change, d.type, d.name) for d in guards.schema_differences(ledger)}
    assert found == {("extra", "view", "v_refunds"), ("extra", "trigger", "v_refunds_del"),
                     ("changed", "trigger", "refunds_no_update")}
    assert _pv(ledger, cfg).broken.reason == "schema"


def test_issue12_A_the_expected_schema_is_the_migrations_even_for_an_older_cache(tmp_path):
    assert guards.schema_differences(new_cache(tmp_path / "new.sqlite")) == []
    # a cache migrated before these guards (e.g. verified by an auditor's newer program):
    # its schema is compared with the migrations it applied, never accused of lacking ours
    old = Database(sqlite3.connect(tmp_path / "old.sqlite", isolation_level=None))
    newer = {"m004_unique_index_and_gift_card_guards", "m002_id_guards",
             "m003_ticket_signatures_unique_index_guard"}
    for migrations in migration_sets():
        migrations.apply(old, stop_before=newer & {m.name for m in migrations._migrations})
    assert guards.schema_differences(old) == []
    old.execute("DROP TRIGGER refunds_no_delete")  # still guarded by what it has
    assert [d.name for d in guards.schema_differences(old)] == ["refunds_no_delete"]


def test_issue12_A_journal_guards_repair_puts_them_back_journaled_and_returns_resume(
    ledger, cfg, tmp_path, capsys
):
    toml = str(_toml(tmp_path, cfg))
    sale = add_sale(ledger, [L("SKU-CHEM-01", 1, 7900)])
    _drop_triggers(ledger)
    ledger.execute("CREATE UNIQUE INDEX redteam ON refunds(ticket_id)")
    assert main(["journal", "guards", "--config", toml]) == 1
    assert "redteam" in capsys.readouterr().out
    assert main(["journal", "guards", "--config", toml, "--repair", "--manager", "M001"]) == 0
    assert guards.schema_differences(ledger) == []
    record = json.loads(ledger.execute(
        "SELECT payload FROM journal WHERE kind = 'guards_repair'").fetchone()[0])
    assert record["staff_id"] == 3 and "extra index redteam on refunds" in record["repaired"]
    assert _pv(ledger, cfg).ok
    tickets.commit_plan(ledger, cfg, direct_plan(ledger, sale_id=sale,
                                                 picks=[(_line(ledger, sale), 1)]))
    assert _pv(ledger, cfg).ok


# --------------------------------------------------------------------------- B. gift cards


@pytest.mark.parametrize("ticket_id", [None, 999_999], ids=["no_ticket", "missing_ticket"])
def test_issue12_B_a_gift_card_no_ticket_issued_is_refused_then_named_by_verify(
    ledger, cfg, ticket_id
):
    ledger.execute("PRAGMA foreign_keys = OFF")  # the attacker's own connection
    insert = ("INSERT INTO gift_cards(number, security_hash, initial_amount, issued_ticket_id, "
              "issued_at, store_id, till_no) VALUES (?, 'x', 50000, ?, "
              "'2026-01-01T00:00:00Z', 1, 1)")
    number = giftcards.new_number()
    with pytest.raises(sqlite3.IntegrityError, match="issued by a return ticket"):
        ledger.execute(insert, [number, ticket_id])
    assert giftcards.balance(ledger, number) is None
    ledger.execute("DROP TRIGGER gift_cards_issued_by_a_ticket")
    ledger.execute(insert, [number, ticket_id])
    guards.repair(ledger)  # even with the guard put back, the card is named
    report = _pv(ledger, cfg)
    assert report.broken is not None and report.broken.reason == "unsigned_gift_card"
    assert number[-4:] in report.summary() and "500,00" in report.summary()


def test_issue12_B_a_gift_card_on_a_ticket_no_chain_signs_is_named(ledger, cfg):
    ledger.execute(
        "INSERT INTO return_tickets(uuid, store_id, till_no, number, created_at, staff_id, "
        "kind) VALUES ('forged', 1, 42, 1, '2026-01-01T00:00:00Z', 1, 'receipt')")
    tid = ledger.execute("SELECT id FROM return_tickets WHERE uuid = 'forged'").fetchone()[0]
    giftcards.issue(ledger, secret=b"k" * 32, amount=50000, ticket_id=tid, store_id=1,
                    till_no=42, issued_at="2026-01-01T00:00:00Z")
    assert _pv(ledger, cfg).broken.reason == "unsigned_gift_card"


def test_issue12_B_a_gift_card_added_to_a_v1_ticket_is_named(db, cfg):
    """Tickets signed before format v2 have no digest, but their record lists the cards
    they issued: a card added under one of them is named."""
    journal = Journal.for_config(db, cfg)
    with atomic(db):
        db.execute("INSERT INTO return_tickets(uuid, store_id, till_no, number, created_at, "
                   "staff_id, kind) VALUES ('old-1', 1, 1, 1, '2025-01-01T00:00:00Z', 1, "
                   "'receipt')")
        journal.append("ticket", {"uuid": "old-1", "number": 1, "lines": [],
                                  "gift_cards": []}, ticket_uuid="old-1")
    assert _pv(db, cfg).ok
    tid = db.execute("SELECT id FROM return_tickets WHERE uuid = 'old-1'").fetchone()[0]
    giftcards.issue(db, secret=b"k" * 32, amount=50000, ticket_id=tid, store_id=1, till_no=1,
                    issued_at="2025-01-01T00:00:00Z")
    report = _pv(db, cfg)
    assert report.broken is not None and report.broken.reason == "rows"
    assert "gift_cards" in report.summary()


# --------------------------------------------------------------------------- C. digest v3


@pytest.mark.parametrize("column", digest.TERMINAL_COLS)
def test_issue12_C_a_refunds_terminal_column_changed_is_named(ledger, cfg, column):
    assert _pv(ledger, cfg).ok
    _drop_triggers(ledger)
    ledger.execute(f"UPDATE refunds SET {column} = 'forged' WHERE amount = 34990")
    guards.repair(ledger)
    for full in (False, True):
        report = _pv(ledger, cfg, full=full)
        assert report.broken is not None and report.broken.reason == "rows"
        assert "refunds" in report.summary()


def test_issue12_C_v2_records_still_verify_as_v2_and_new_tickets_are_v3(db, cfg, monkeypatch):
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900), L("SKU-PARF-01", 1, 9500)],
                    [T("card", 17400, "4242", "fp")])
    lines = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ? "
                                      "ORDER BY line_no", [sale])]
    # a ticket written by the code of issue 12 (format v2)
    v2_rows = digest.ticket_rows
    with pytest.MonkeyPatch.context() as mp:  # undone alone (not the tests' own patches)
        mp.setattr(digest, "ROWS_VERSION", 2)
        mp.setattr(digest, "ticket_rows", lambda db, tid, v=2: v2_rows(db, tid, 2))
        old = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale,
                                                       picks=[(lines[0], 1)]))
    new = tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(lines[1], 1)]))
    versions = [json.loads(p)["rows"]["v"] for (p,) in db.execute(
        "SELECT payload FROM journal WHERE kind = 'ticket' ORDER BY seq")]
    assert versions == [2, 3]
    assert _pv(db, cfg).ok and _pv(db, cfg, full=False).ok
    _drop_triggers(db)
    # v2 did not cover the terminal's columns (documented); v3 does
    db.execute("UPDATE refunds SET auth_number = 'forged' WHERE ticket_id = "
               "(SELECT id FROM return_tickets WHERE uuid = ?)", [old.uuid])
    guards.repair(db)
    assert _pv(db, cfg).ok
    _drop_triggers(db)
    db.execute("UPDATE refunds SET auth_number = 'forged' WHERE ticket_id = "
               "(SELECT id FROM return_tickets WHERE uuid = ?)", [new.uuid])
    guards.repair(db)
    report = _pv(db, cfg)
    assert report.broken is not None and report.broken.reason == "rows"
    assert f"n° {new.number}" in report.summary()


def test_issue12_C_every_column_of_every_guarded_table_is_covered_or_excluded_with_a_reason(db):
    """A column added to a guarded table must say how the signature covers it, or why it
    is left out (journal.digest.COVERAGE)."""
    for table in GUARDED_TABLES:
        columns = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        assert columns, table
        assert set(digest.COVERAGE.get(table, {})) == columns, table
        for column, why in digest.COVERAGE[table].items():
            assert why.startswith(("covered: ", "excluded: ")) and len(why) > 20, (table, column)


# The rich cache of the covered-column test: one row at least in every guarded table.
_TEMPLATE: dict[str, Path] = {}


def _build_rich(folder: Path) -> None:
    cfg = TillConfig(cache_path=folder / "cache.sqlite", key_path=folder / "keys" / "j.pem")
    db = new_cache(cfg.cache_path)
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 34990)], [T("card", 34990, "4242", "fp")])
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(_line(db, sale), 1)]))
    gift = add_sale(db, [L("SKU-PARF-01", 1, 9500)], gift_receipt=True)
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=gift, picks=[(_line(db, gift), 1)],
                                             gift=True))
    cere = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    plan = direct_plan(db, sale_id=cere, picks=[(_line(db, cere), 1)],
                       condition=Condition.TAG_REMOVED)
    tickets.commit_plan(db, cfg, approve(db, cfg, plan, rule="R13", line_no=1))
    # the customer's signature of a ticket (as the jewelry mode writes it, before the ticket)
    db.execute("INSERT INTO ticket_signatures(ticket_uuid, png, sha256, inspections, "
               "created_at) VALUES ('signed', x'89504e47', 'abc', '[]', "
               "'2026-01-01T00:00:00Z')")
    other = add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=other, picks=[(_line(db, other), 1)]),
                        ticket_uuid="signed")
    _no_receipt(db, cfg)
    _no_receipt(db, cfg, "Y9KLMN234")
    privacy.erase_records(db, cfg, get_staff(db, 3), "Y9KLMN234")  # an erasure grant
    idcheck.purge(db, cfg)  # a retention grant
    Journal.for_config(db, cfg).close_day(datetime.now(UTC).date())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


@pytest.fixture
def rich(tmp_path: Path):
    if "folder" not in _TEMPLATE:
        folder = Path(__import__("tempfile").mkdtemp(prefix="alamara-rich-"))
        _build_rich(folder)
        _TEMPLATE["folder"] = folder
    shutil.copytree(_TEMPLATE["folder"], tmp_path / "rich")
    os.chmod(tmp_path / "rich" / "keys", 0o700)
    forget_cached_signers()
    cfg = TillConfig(cache_path=tmp_path / "rich" / "cache.sqlite",
                     key_path=tmp_path / "rich" / "keys" / "j.pem")
    db = open_cache(cfg.cache_path)
    yield db, cfg
    db.close()


_COVERED = [(t, c) for t, cols in digest.COVERAGE.items() for c, why in cols.items()
            if why.startswith("covered")]
_VALUES = ("cash", "card", "gift_card", "notes", "receipt", "no_receipt", "exchange", "return",
           "sale", "approved", "refused", "pending", "refunded", "local", "hq", "day", "month",
           "year", "retention", "erasure")


def _mutate(db, table: str, column: str) -> None:
    """Change ``column`` of one row of ``table`` to another value the table accepts."""
    declared = {r[1]: r[2].upper() for r in db.execute(f"PRAGMA table_info({table})")}[column]
    rowid = db.execute(f"SELECT MIN(rowid) FROM {table}").fetchone()[0]
    before = db.execute(f"SELECT {column}, typeof({column}) FROM {table} WHERE rowid = ?",
                        [rowid]).fetchone()
    numeric = [f"{column} + 1", f"{column} - 1", "1", "2", f"{column} + 1000"]
    text = [f"{column} || 'x'", *(f"'{v}'" for v in _VALUES)]
    blob = [f"CAST({column} || x'00' AS BLOB)"]
    db.execute("PRAGMA foreign_keys = OFF")  # the attacker's own connection
    candidates = [*{"INTEGER": numeric, "BLOB": blob}.get(declared, text), "NULL"]
    for expr in candidates:
        db.execute("SAVEPOINT mutate")
        try:
            db.execute(f"UPDATE {table} SET {column} = {expr} WHERE rowid = ?", [rowid])
            after = db.execute(f"SELECT {column}, typeof({column}) FROM {table} "
                               "WHERE rowid = ?", [rowid]).fetchone()
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK TO mutate")
            db.execute("RELEASE mutate")
            continue
        db.execute("RELEASE mutate")
        if after != before:
            return
    raise AssertionError(f"no value found to change {table}.{column}")


@pytest.mark.parametrize(("table", "column"), _COVERED, ids=[f"{t}.{c}" for t, c in _COVERED])
def test_issue12_C_any_covered_column_changed_behind_the_journal_is_named(rich, table, column):
    db, cfg = rich
    assert _pv(db, cfg).ok, _pv(db, cfg).summary()
    _drop_triggers(db)
    _mutate(db, table, column)
    repaired, left = guards.repair(db)  # the guards put back: only the signature can tell
    assert repaired and not left
    report = _pv(db, cfg)
    assert not report.ok and report.broken is not None, (table, column)
    assert report.broken.reason != "schema", report.summary()


# --------------------------------------------------------------------------- D. tokens


def test_issue12_D_a_used_approval_token_erased_is_named_and_never_usable_again(db, cfg):
    cere = add_sale(db, [L("SKU-CERE-01", 1, 89000), L("SKU-CERE-01", 1, 89000)])
    lines = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ? "
                                      "ORDER BY line_no", [cere])]
    plan = approve(db, cfg, direct_plan(db, sale_id=cere, picks=[(lines[0], 1)],
                                        condition=Condition.TAG_REMOVED),
                   rule="R13", line_no=1)
    tickets.commit_plan(db, cfg, plan)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM approval_tokens")
    _drop_triggers(db)
    assert db.execute("DELETE FROM approval_tokens").rowcount == 1
    guards.repair(db)
    report = _pv(db, cfg)
    assert report.broken is not None and report.broken.reason == "approval_token"
    # the token is still spent: the signed override record says so
    with pytest.raises(PermissionDenied) as err:
        tickets.commit_plan(db, cfg, plan)
    assert err.value.code == "approval_used"


def test_issue12_D_a_used_token_added_behind_the_journal_is_named(ledger, cfg):
    ledger.execute("INSERT INTO approval_tokens(token_id, ticket_uuid, manager_id, rule, "
                   "used_at) VALUES ('forged', 'x', 3, 'R13', '2026-01-01T00:00:00Z')")
    assert _pv(ledger, cfg).broken.reason == "unsigned_token"


# --------------------------------------------------------------------------- E. R19 history


def test_issue12_E_the_no_receipt_history_cannot_be_erased_or_lowered(db, cfg):
    ticket, check = _no_receipt(db, cfg)
    assert idcheck.history(db, check.id_hash) == (1, ticket.plan.refund_total)
    for sql in ("DELETE FROM id_ledger", "UPDATE id_ledger SET amount = 0",
                "UPDATE id_checks SET amount = 0", "DELETE FROM id_checks",
                "UPDATE id_checks SET status = 'pending'",
                "INSERT OR REPLACE INTO id_ledger(uuid, id_hash, amount, store_id, till_no, "
                "created_at) SELECT uuid, id_hash, 0, store_id, till_no, created_at "
                "FROM id_ledger"):
        try:
            db.execute(sql)
        except sqlite3.IntegrityError:
            pass
    assert idcheck.history(db, check.id_hash) == (1, ticket.plan.refund_total)
    assert db.execute("SELECT status, amount FROM id_checks").fetchone() == (
        "refunded", ticket.plan.refund_total)


@pytest.mark.parametrize("sql", [
    "DELETE FROM id_ledger", "UPDATE id_ledger SET amount = 0",
    "UPDATE id_checks SET amount = 0", "DELETE FROM id_checks",
    "UPDATE id_ledger SET origin = 'hq'",
], ids=["ledger_deleted", "ledger_amount", "check_amount", "check_deleted", "ledger_origin"])
def test_issue12_E_the_history_changed_with_the_guards_dropped_is_named(db, cfg, sql):
    ticket, _check = _no_receipt(db, cfg)
    assert _pv(db, cfg).ok
    _drop_triggers(db)
    db.execute(sql)
    guards.repair(db)
    report = _pv(db, cfg)
    assert report.broken is not None and report.broken.reason == "rows"
    assert f"n° {ticket.number}" in report.summary()
    assert "id_check" in report.summary() or "id_ledger" in report.summary()


def test_issue12_E_the_retention_purge_and_an_erasure_still_delete_and_verify(db, cfg):
    long_ago = datetime.now(UTC) - timedelta(days=500)
    old_ticket, _old = _no_receipt(db, cfg, now=long_ago)
    _ticket, erased = _no_receipt(db, cfg, "Y9KLMN234")
    kept_ticket, kept = _no_receipt(db, cfg, "Z7PQRS581")
    assert idcheck.purge(db, cfg) == 2  # the old check and its ledger row, past 13 months
    assert privacy.erase_records(db, cfg, get_staff(db, 3), "Y9KLMN234") == (1, 1)
    left = {r[0] for r in db.execute("SELECT uuid FROM id_checks UNION "
                                     "SELECT uuid FROM id_ledger")}
    assert left == {kept.uuid}
    report = _pv(db, cfg)
    assert report.ok, report.summary()
    erase = json.loads(db.execute("SELECT payload FROM journal WHERE kind = 'privacy_request' "
                                  "ORDER BY seq DESC").fetchone()[0])
    assert erase["uuids"] == [erased.uuid] and "id_hash" not in json.dumps(erase)
    assert erased.id_hash not in json.dumps(erase)
    # a grant forged behind the journal is named; so is one the record did not sign
    db.execute("INSERT INTO id_deletions(purge_id, kind, cutoff, created_at) "
               "VALUES ('forged', 'retention', '2099-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    assert _pv(db, cfg).broken.reason == "unsigned_id_deletion"
    with pytest.raises(sqlite3.IntegrityError):  # and the grant cannot be taken back
        db.execute("DELETE FROM id_deletions WHERE purge_id = 'forged'")
    assert kept_ticket.number > old_ticket.number


def test_issue12_E_a_purge_dated_in_the_future_is_refused(db, cfg):
    from pos_returns.errors import InvalidInput

    _no_receipt(db, cfg)
    with pytest.raises(InvalidInput):
        idcheck.purge(db, cfg, now=datetime.now(UTC) + timedelta(days=800))
    assert _count(db, "id_ledger") == 1
