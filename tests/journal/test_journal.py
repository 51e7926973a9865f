"""The fiscal journal: append-only tables, the signed chain, verification that
names the first broken record, closures with the perpetual grand total, the
yearly archive, technical events and the CLI."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pos_returns.cache.db import atomic
from pos_returns.cache.outbox import canonical_json
from pos_returns.cache.schema import FISCAL_TABLES
from pos_returns.cli import main
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.engine.domain import Condition
from pos_returns.engine.plan import Approval
from pos_returns.errors import ConfigError, Conflict, IntegrityFailure, InvalidInput
from pos_returns.journal.archive import export_year, verify_archive
from pos_returns.journal.chain import Journal, closures, startup
from pos_returns.journal.keys import forget_cached_signers, load_signer
from pos_returns.journal.records import record_bytes
from pos_returns.journal.verify import verify
from pos_returns.usecases import tickets
from pos_returns.usecases.auth import authenticate
from tests.helpers import PINS, TEST_PEPPER, L, T, add_sale, granted


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


@pytest.fixture
def journal(db, cfg) -> Journal:
    return Journal.for_config(db, cfg)


def _line(db, sale_id: int) -> int:
    return db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
                      [sale_id]).fetchone()[0]


def _return(db, cfg, sku="SKU-CHEM-01", price=7900, *, qty=1, gift=False, approvals=(),
            tenders=None, now=None, condition=Condition.NEW_WITH_TAGS):
    sale = add_sale(db, [L(sku, qty, price)], tenders, gift_receipt=gift)
    plan = granted(db, cfg, direct_plan(db, sale_id=sale, picks=[(_line(db, sale), qty)],
                                        gift=gift, approvals=approvals, condition=condition))
    return tickets.commit_plan(db, cfg, plan, now=now)


def _events(journal: Journal, n: int) -> None:
    for i in range(n):
        journal.event("login", {"staff_id": i % 5 + 1})


# --------------------------------------------------------------------------- records


def test_records_are_canonical_json_chained_by_signatures(db, cfg, journal):
    _events(journal, 3)
    _return(db, cfg)
    rows = db.execute(
        "SELECT seq, kind, created_at, ticket_uuid, key_id, payload, prev_hash, prev_signature, "
        "signature FROM journal ORDER BY seq"
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert rows[0][6] == rows[0][7] == ""
    for prev, row in itertools.pairwise(rows):
        assert row[7] == prev[8]  # each signature covers the previous one
    data = record_bytes(store_id=1, till_no=1, seq=rows[3][0], kind=rows[3][1],
                        created_at=rows[3][2], ticket_uuid=rows[3][3], key_id=rows[3][4],
                        prev_hash=rows[3][6], prev_signature=rows[3][7], payload_json=rows[3][5])
    # the signed bytes are the canonical JSON of the whole record
    assert canonical_json(json.loads(data)).encode("utf-8") == data
    assert json.loads(data)["prev_sig"] == rows[2][8]
    # the public key in the cache verifies the signature without the private key
    from pos_returns.journal.keys import public_key_from_hex, verify_signature

    pub = db.execute("SELECT public_key FROM journal_keys").fetchone()[0]
    assert verify_signature(public_key_from_hex(pub), data, rows[3][8])
    assert not verify_signature(public_key_from_hex(pub), data + b" ", rows[3][8])


def test_append_outside_a_transaction_is_refused(journal):
    with pytest.raises(RuntimeError):
        journal.append("login", {"staff_id": 1})


def test_unknown_record_kind_is_refused(db, journal):
    with pytest.raises(InvalidInput), atomic(db):
        journal.append("coffee_break", {})


def test_verify_works_without_the_private_key(db, cfg, journal):
    _events(journal, 5)
    os.remove(cfg.key_path)
    forget_cached_signers()
    report = verify(db, full=True)
    assert report.ok and report.records == 5


# --------------------------------------------------------------------------- append-only


@pytest.fixture
def full_db(db, cfg, journal):
    """A cache with rows in every fiscal table."""
    _return(db, cfg, "SKU-PARF-01", 9500, gift=True)  # gift card issued
    _return(db, cfg, "SKU-CERE-01", 89000, condition=Condition.TAG_REMOVED, approvals=[
        Approval("R13", 3, "approved", "Robe jamais portée", 1)])
    journal.close_day(datetime.now(UTC).date())
    for table in FISCAL_TABLES:
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0, table
    return db


@pytest.mark.parametrize("table", FISCAL_TABLES)
def test_UPDATE_on_a_fiscal_table_is_refused(full_db, table):
    col = full_db.execute(f"PRAGMA table_info({table})").fetchall()[1][1]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        full_db.execute(f"UPDATE {table} SET {col} = {col}")


@pytest.mark.parametrize("table", FISCAL_TABLES)
def test_DELETE_on_a_fiscal_table_is_refused(full_db, table):
    before = full_db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        full_db.execute(f"DELETE FROM {table}")
    assert full_db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == before


def test_INSERT_OR_REPLACE_cannot_overwrite_a_journal_record(full_db):
    with pytest.raises(sqlite3.IntegrityError):
        full_db.execute(
            "INSERT OR REPLACE INTO journal(store_id, till_no, seq, kind, created_at, key_id, "
            "payload, prev_hash, prev_signature, signature) "
            "SELECT store_id, till_no, seq, kind, created_at, key_id, '{}', prev_hash, "
            "prev_signature, signature FROM journal WHERE seq = 1"
        )


def test_the_chain_head_only_moves_forward(full_db):
    with pytest.raises(sqlite3.IntegrityError):
        full_db.execute("UPDATE journal_heads SET seq = seq - 1")
    with pytest.raises(sqlite3.IntegrityError):
        full_db.execute("DELETE FROM journal_heads")


def test_id_tables_are_guarded_too_their_purge_goes_through_a_signed_grant(full_db):
    # issue 12 (audit, R19): the ID tables carry delete guards as well; the privacy purge
    # and the erasure delete through a grant (id_deletions) that the journal signs
    # (tests/usecases/test_integrity_guards.py)
    triggers = {r[0] for r in full_db.execute(
        "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%no_delete'")}
    assert set(FISCAL_TABLES) | {"journal_heads"} <= triggers
    id_tables = {r[0] for r in full_db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'id\\_%' ESCAPE '\\'")}
    assert id_tables == {"id_checks", "id_ledger", "id_deletions"} <= triggers


# --------------------------------------------------------------------------- tampering


def _drop_triggers(db) -> None:
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")


def _flip_one_byte(text: str, at: int) -> str:
    ch = text[at]
    new = "0" if ch != "0" else "1"
    return text[:at] + new + text[at + 1:]


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("column", ["payload", "signature", "created_at", "prev_signature",
                                    "prev_hash", "ticket_uuid"])
def test_one_byte_changed_in_one_record_is_named_by_verify(db, cfg, journal, column, full):
    _events(journal, 10)
    _return(db, cfg)
    _events(journal, 10)
    victim = 11  # the ticket record
    assert db.execute("SELECT kind FROM journal WHERE seq = ?", [victim]).fetchone()[0] == "ticket"
    _drop_triggers(db)
    value = db.execute(f"SELECT {column} FROM journal WHERE seq = ?", [victim]).fetchone()[0]
    at = value.find("7900") if column == "payload" else len(value) // 2  # a digit of an amount
    db.execute(f"UPDATE journal SET {column} = ? WHERE seq = ?",
               [_flip_one_byte(value, at), victim])
    report = verify(db, full=full)
    assert not report.ok
    assert report.broken is not None
    assert (report.broken.store_id, report.broken.till_no, report.broken.seq) == (1, 1, victim)
    assert "11" in report.summary()


@pytest.mark.parametrize("victim", [1, 7, 20])
def test_an_altered_record_is_named_even_when_the_links_after_it_were_rewritten(
    db, journal, victim
):
    """An attacker who re-chains the hashes after the altered record is still
    caught: the first record whose signature fails is named."""
    from pos_returns.journal.records import _row_bytes, record_hash

    _events(journal, 25)
    _drop_triggers(db)
    db.execute("UPDATE journal SET payload = '{\"staff_id\":99}' WHERE seq = ?", [victim])
    cols = ("id, store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, payload, "
            "prev_hash, prev_signature, signature")
    rows = db.execute(f"SELECT {cols} FROM journal ORDER BY seq").fetchall()
    # zip over the list itself (not pairwise): ``prev`` must see the row rewritten just before
    for prev, row in zip(rows, rows[1:], strict=False):  # noqa: RUF007
        if row[3] > victim:
            db.execute("UPDATE journal SET prev_hash = ? WHERE seq = ?",
                       [record_hash(_row_bytes(prev)), row[3]])
            rows[row[3] - 1] = (*row[:9], record_hash(_row_bytes(prev)), *row[10:])
    report = verify(db)
    assert report.broken is not None and report.broken.seq == victim


def test_a_record_deleted_in_the_middle_is_named(db, journal):
    _events(journal, 12)
    _drop_triggers(db)
    db.execute("DELETE FROM journal WHERE seq = 6")
    report = verify(db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (6, "missing")


def test_truncation_at_the_end_is_caught_by_the_chain_head(db, journal):
    _events(journal, 12)
    _drop_triggers(db)
    db.execute("DELETE FROM journal WHERE seq >= 10")
    report = verify(db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (10, "truncated")


def test_truncation_with_a_rewound_head_is_caught_by_HQ_s_head(db, journal):
    _events(journal, 12)
    hq_head = journal.head()
    assert hq_head is not None and hq_head[0] == 12
    _drop_triggers(db)
    db.execute("DELETE FROM journal WHERE seq >= 10")
    sig9 = db.execute("SELECT signature FROM journal WHERE seq = 9").fetchone()[0]
    db.execute("UPDATE journal_heads SET seq = 9, signature = ?", [sig9])
    alone = verify(db)  # the cache alone cannot tell which records went (only that the
    assert alone.broken is not None and alone.broken.reason == "schema"  # guards are gone)…
    report = verify(db, expected_heads={(1, 1): hq_head})  # …the head sent to HQ can
    assert report.broken is not None and report.broken.seq == 10


def test_a_record_forged_with_another_key_is_named(db, cfg, journal, tmp_path):
    _events(journal, 4)
    intruder = Journal(db, load_signer(tmp_path / "intruder.pem"), 1, 1)
    intruder._key_checked = True  # bypass the key check, as a forger would
    with atomic(db):
        intruder.append("login", {"staff_id": 3})
    report = verify(db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (5, "key")


def test_a_forger_who_registers_his_own_key_is_still_named(db, cfg, journal, tmp_path):
    """journal_keys takes INSERTs (append-only, not closed): a second key registered
    for the chain does not make records signed with it pass, since a chain has one key."""
    _events(journal, 4)
    signer = load_signer(tmp_path / "intruder.pem")
    db.execute(
        "INSERT INTO journal_keys(store_id, till_no, key_id, public_key, public_pem, "
        "created_at) VALUES (1, 1, ?, ?, ?, '2026-01-01T00:00:00Z')",
        [signer.key_id, signer.public_hex, signer.public_pem()],
    )
    intruder = Journal(db, signer, 1, 1)
    with atomic(db):
        intruder.append("login", {"staff_id": 3})
        intruder.append("login", {"staff_id": 3})
    for full in (False, True):
        report = verify(db, full=full)
        assert report.broken is not None
        assert (report.broken.seq, report.broken.reason) == (5, "key")


def test_a_damaged_public_key_is_reported_not_a_crash(db, cfg, journal):
    _events(journal, 3)
    _drop_triggers(db)
    db.execute("UPDATE journal_keys SET public_key = 'not hex'")
    for full in (False, True):
        report = verify(db, full=full)
        assert report.broken is not None
        assert (report.broken.seq, report.broken.reason) == (1, "key")


def test_the_till_refuses_to_continue_its_chain_with_another_key(db, cfg, journal, tmp_path):
    _events(journal, 2)
    other = replace(cfg, key_path=tmp_path / "other" / "key.pem")
    with pytest.raises(IntegrityFailure):
        Journal.for_config(db, other).event("login", {"staff_id": 1})


# --------------------------------------------------------------------------- key file


def test_the_key_file_is_0600_in_a_0700_directory(cfg, journal):
    assert stat.S_IMODE(os.stat(cfg.key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cfg.key_path.parent).st_mode) == 0o700
    assert b"PRIVATE KEY" in cfg.key_path.read_bytes()


def test_the_private_key_never_enters_the_cache(db, cfg, journal):
    _events(journal, 1)
    pem = cfg.key_path.read_text()
    body = "".join(pem.strip().splitlines()[1:-1])
    raw = Path(cfg.cache_path).read_bytes() + Path(str(cfg.cache_path) + "-wal").read_bytes()
    assert body.encode() not in raw


def test_a_key_file_readable_by_others_is_refused(cfg, journal):
    os.chmod(cfg.key_path, 0o644)
    forget_cached_signers()
    with pytest.raises(ConfigError):
        load_signer(cfg.key_path)


# --------------------------------------------------------------------------- closures


def _day(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def test_a_day_cannot_be_closed_twice(db, cfg, journal):
    _return(db, cfg, now=_day(date(2026, 3, 2)))
    journal.close_day(date(2026, 3, 2))
    with pytest.raises(Conflict):
        journal.close_day(date(2026, 3, 2))
    with pytest.raises(Conflict):
        journal.close_day(date(2026, 3, 1))  # an earlier day after a later one
    assert len(closures(db, period_kind="day")) == 1


def test_a_day_that_has_not_begun_cannot_be_closed(journal):
    with pytest.raises(InvalidInput):
        journal.close_day(date.today().replace(year=date.today().year + 1))


def test_closure_totals_by_tender_and_vat_and_the_perpetual_grand_total(db, cfg, journal):
    d1, d2, d3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
    _return(db, cfg, "SKU-CHEM-01", 7900, now=_day(d1))  # card
    _return(db, cfg, "SKU-LIVR-01", 3500, now=_day(d1),
            tenders=[T("cash", 3500)])  # cash, VAT 20 % (the factory's default rate)
    _return(db, cfg, "SKU-PARF-01", 9500, gift=True, now=_day(d1))  # gift card
    c1 = journal.close_day(d1)
    assert (c1.ticket_count, c1.first_number, c1.last_number) == (3, 1, 3)
    assert c1.totals["refunds_by_tender"] == {"card": 7900, "cash": 3500, "gift_card": 9500}
    assert c1.totals["merchandise_returned"] == 20900 and c1.net == 20900
    assert c1.totals["vat_by_rate"]["2000"]["ttc"] == -20900
    vat = c1.totals["vat_by_rate"]["2000"]
    assert vat["ht"] + vat["vat"] == vat["ttc"]
    assert c1.grand_total == 20900

    c2 = journal.close_day(d2)  # a day without returns still closes
    assert (c2.ticket_count, c2.net, c2.grand_total) == (0, 0, 20900)

    _return(db, cfg, "SKU-ESCA-01", 22000, now=_day(d3))
    c3 = journal.close_day(d3)
    assert (c3.ticket_count, c3.first_number, c3.net) == (1, 4, 22000)
    assert c3.grand_total == 42900  # perpetual: never reset
    assert c3.grand_total_abs == 42900

    # the month closes once it is over: its open days first (5 to 31 March, each
    # its own Z), then the month, the sum of its days (issue 17)
    month = journal.close_month(2026, 3, now=_day(date(2026, 4, 1)))
    assert (month.ticket_count, month.net, month.grand_total) == (4, 42900, 42900)
    assert month.totals["refunds_by_tender"] == {"card": 7900 + 22000, "cash": 3500,
                                                 "gift_card": 9500}
    assert month.totals["vat_by_rate"]["2000"]["ttc"] == -42900
    assert (month.first_number, month.last_number, month.grand_total_abs) == (1, 4, 42900)
    days = closures(db, period_kind="day")
    assert [d["period"] for d in days][-1] == "2026-03-31" and len(days) == 30
    with pytest.raises(Conflict):
        journal.close_month(2026, 3, now=_day(date(2026, 4, 1)))
    # every closure is a signed journal record and goes to HQ
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'closure'").fetchone()[0] == 31
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'closure'").fetchone()[0] == 31
    assert verify(db, full=True).ok


def test_a_ticket_made_after_the_day_was_closed_goes_into_the_next_closure(db, cfg, journal):
    d1, d2 = date(2026, 3, 2), date(2026, 3, 3)
    _return(db, cfg, now=_day(d1, 9))
    journal.close_day(d1, now=_day(d1, 17))
    _return(db, cfg, now=_day(d1, 18))  # late return, same day
    c2 = journal.close_day(d2)
    assert (c2.ticket_count, c2.first_number, c2.last_number) == (1, 2, 2)
    assert c2.grand_total == 2 * 7900


# --------------------------------------------------------------------------- archive


def test_the_yearly_archive_is_signed_and_verifies_on_its_own(db, cfg, journal, tmp_path):
    now = datetime.now(UTC)
    _events(journal, 3)
    _return(db, cfg)
    journal.close_day(now.date())
    out = tmp_path / "archive"
    result = export_year(db, now.year, out, signer=journal.signer, journal=journal)
    assert result.records == 5  # 3 events, the ticket, the closure
    rows = list(csv.reader(io.StringIO(result.csv_path.read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["store_id", "till_no", "seq"] and len(rows) == 6
    schema = json.loads(result.schema_path.read_text(encoding="utf-8"))
    assert schema["csv_columns"] == rows[0]
    assert result.public_key_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert verify_archive(out, now.year).ok
    # the archive itself is journaled
    last = db.execute("SELECT kind, payload FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    assert last[0] == "archive" and json.loads(last[1])["sha256"] == result.sha256
    # one byte changed in the CSV: the detached signature no longer matches
    data = bytearray(result.csv_path.read_bytes())
    data[-10] = ord("0") if data[-10] != ord("0") else ord("1")
    result.csv_path.write_bytes(bytes(data))
    with pytest.raises(IntegrityFailure):
        verify_archive(out, now.year)


# --------------------------------------------------------------------------- events


def test_startup_records_start_config_change_once_and_integrity_failures(db, cfg):
    assert startup(db, cfg, version="1.0").ok
    startup(db, cfg, version="1.0")
    kinds = [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]
    assert kinds == ["config_change", "start", "start"]
    changed = replace(cfg, policy=replace(cfg.policy, cash_refund_ceiling=50_000))
    startup(db, changed)
    kinds = [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]
    assert kinds[-2:] == ["config_change", "start"]
    payload = json.loads(db.execute(
        "SELECT payload FROM journal WHERE kind = 'config_change' ORDER BY seq DESC").fetchone()[0])
    assert payload["config"]["policy"]["cash_refund_ceiling"] == 50_000
    _drop_triggers(db)
    db.execute("UPDATE journal SET payload = '{}' WHERE seq = 2")
    report = startup(db, cfg)
    assert not report.ok
    failure = db.execute(
        "SELECT payload FROM journal WHERE kind = 'integrity_failure'").fetchone()
    assert json.loads(failure[0])["seq"] == 2


def test_logins_wrong_pins_and_lockouts_are_journaled(db, cfg, journal):
    from pos_returns.errors import PermissionDenied

    authenticate(db, "V001", PINS["V001"], journal=journal, pepper=TEST_PEPPER)
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            authenticate(db, "V001", "0000", journal=journal, pepper=TEST_PEPPER)
    kinds = [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]
    assert kinds == ["login"] + ["login_failed"] * 4 + ["lockout"]
    payloads = [json.loads(r[0]) for r in db.execute("SELECT payload FROM journal ORDER BY seq")]
    assert all(p["staff_id"] == 1 for p in payloads)
    assert all("pin" not in json.dumps(p).lower() or "0000" not in json.dumps(p)
               for p in payloads)


# --------------------------------------------------------------------------- CLI


def test_cli_journal_verify_exits_non_zero_and_names_the_broken_record(db, cfg, journal, capsys):
    _events(journal, 5)
    assert main(["journal", "verify", "--db", str(cfg.cache_path)]) == 0
    assert "5" in capsys.readouterr().out
    _drop_triggers(db)
    db.execute("UPDATE journal SET payload = '{\"staff_id\":4}' WHERE seq = 3")
    assert main(["journal", "verify", "--db", str(cfg.cache_path)]) == 1
    err = capsys.readouterr().err
    assert "3" in err and "ROMPU" in err.upper()


def test_cli_journal_export_and_close(db, cfg, journal, tmp_path, capsys):
    _return(db, cfg)
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{cfg.cache_path}"\n')
    today = datetime.now(UTC).date()
    assert main(["journal", "close", "--config", str(toml), "--day", today.isoformat()]) == 0
    assert main(["journal", "close", "--config", str(toml), "--day", today.isoformat()]) == 2
    out = tmp_path / "archive"
    assert main(["journal", "export", "--config", str(toml), "--year", str(today.year),
                 "--out", str(out)]) == 0
    assert verify_archive(out, today.year).ok
    assert main(["journal", "head", "--config", str(toml)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("1\t1\t")


def test_record_event_journals_in_the_callers_transaction(db, cfg):
    from pos_returns.journal.chain import record_event

    with atomic(db):
        record_event(db, cfg, "privacy_purge", {"id_checks": 3, "id_ledger": 1})
        db.execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")
    row = db.execute("SELECT kind, payload FROM journal").fetchone()
    assert row[0] == "privacy_purge" and json.loads(row[1]) == {"id_checks": 3, "id_ledger": 1}
    with pytest.raises(InvalidInput):
        record_event(db, cfg, "ticket", {})  # documents are not events


def test_cli_journal_close_is_for_managers_only(db, cfg, journal, tmp_path, capsys):
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{cfg.cache_path}"\n')
    today = datetime.now(UTC).date().isoformat()
    assert main(["journal", "close", "--config", str(toml), "--day", today,
                 "--manager", "V001"]) == 2
    assert db.execute("SELECT COUNT(*) FROM closures").fetchone()[0] == 0
    assert main(["journal", "close", "--config", str(toml), "--day", today,
                 "--manager", "M001"]) == 0
    row = db.execute("SELECT staff_id FROM closures").fetchone()
    assert row[0] == 3
