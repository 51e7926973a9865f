"""ID capture for no-receipt returns (R07, R19) and its RGPD guarantees."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pos_returns.cache.db import connect
from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.errors import ConfigError, InvalidInput
from pos_returns.usecases import idcheck
from pos_returns.usecases.idcheck import HistoryLevel
from tests.helpers import granted

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NUMBER = "X7Q9ZK4L2"
VARIANTS = ("X7Q9ZK4L2", "X7Q 9ZK 4L2", "x7q-9zk-4l2", "X7Q.9ZK.4L2", " x7q9zk4l2 ")


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(
        store_id=1, till_no=1, cache_path=tmp_cache,
        key_path=tmp_path / "keys" / "journal_ed25519.pem",
    )


def _capture(db, cfg, number=NUMBER, *, name="Marie Dupont", doc="cni", now=NOW, **kw):
    return idcheck.capture(db, cfg, doc_type=doc, number=number, name=name, now=now, **kw)


def _refund(db, cfg, number, amount, *, at):
    check = _capture(db, cfg, number, now=at)
    return idcheck.link_ticket(db, check.uuid, ticket_uuid=f"t-{check.uuid}", amount=amount,
                               now=at)


# ------------------------------------------------------------------ never the raw number


def _file_bytes(path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def _raw_forms(number: str) -> list[bytes]:
    forms = set()
    for v in (*VARIANTS, number, number.lower()):
        for enc in ("utf-8", "utf-16-le", "utf-16-be"):
            forms.add(v.strip().encode(enc))
    return sorted(forms)


def test_R07_raw_id_number_never_in_database_nor_wal(db, cfg, tmp_cache):
    checks = [_capture(db, cfg, variant) for variant in VARIANTS]
    idcheck.link_ticket(db, checks[0].uuid, ticket_uuid="t-1", amount=4500, now=NOW)
    idcheck.mark_refused(db, checks[1].uuid, now=NOW)
    # Files as they are while the till runs: the WAL holds the latest pages.
    wal = Path(str(tmp_cache) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    live = _file_bytes(tmp_cache)
    for form in _raw_forms(NUMBER):
        assert form not in live, form
    assert b"K4L2" in live  # the last 4 characters are stored...
    assert checks[0].id_hash.encode() in live  # ...and the keyed hash
    assert all(c.id_hash == checks[0].id_hash for c in checks)  # variants normalise alike
    assert all(c.last4 == "K4L2" for c in checks)
    # Once checkpointed and closed: the main file alone.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    closed = _file_bytes(tmp_cache)
    for form in _raw_forms(NUMBER):
        assert form not in closed
    assert b"K4L2" in closed


def test_R07_key_is_outside_the_database(db, cfg, tmp_cache):
    check = _capture(db, cfg)
    key = idcheck.load_secret(cfg)
    data = _file_bytes(tmp_cache)
    assert key not in data and key.hex().encode() not in data
    path = idcheck.key_path(cfg)
    assert path.parent == cfg.key_path.parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert idcheck.id_hash(key, "X7Q9ZK4L2") == check.id_hash


# ------------------------------------------------------------------ keyed hash


def test_R19_hmac_is_keyed_and_stable(db, cfg, tmp_path):
    a = _capture(db, cfg, "X7Q 9ZK 4L2")
    b = _capture(db, cfg, "x7q9zk4l2")
    c = _capture(db, cfg, "X7Q9ZK4L3")
    assert a.id_hash == b.id_hash
    assert a.id_hash != c.id_hash
    other_cfg = replace(cfg, key_path=tmp_path / "other-keys" / "journal.pem")
    d = _capture(db, other_cfg, "X7Q9ZK4L2")
    assert idcheck.load_secret(other_cfg) != idcheck.load_secret(cfg)
    assert d.id_hash != a.id_hash  # a different chain secret gives another hash
    assert len(a.id_hash) == 64 and NUMBER.lower() not in a.id_hash


def test_R19_secret_is_created_once_and_reused(cfg):
    first = idcheck.load_secret(cfg)
    assert len(first) == 32
    assert idcheck.load_secret(cfg) == first


def test_R19_secret_readable_by_others_is_refused(cfg):
    idcheck.load_secret(cfg)
    os.chmod(idcheck.key_path(cfg), 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        idcheck.load_secret(cfg)


def test_R19_damaged_secret_is_refused(cfg):
    path = idcheck.key_path(cfg)
    path.parent.mkdir(parents=True)
    path.write_text("not hex")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="endommagé"):
        idcheck.load_secret(cfg)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("doc", "number", "name", "words"),
    [
        ("visa", NUMBER, "Marie Dupont", "type de pièce"),
        ("", NUMBER, "Marie Dupont", "type de pièce"),
        ("cni", NUMBER, "", "nom"),
        ("cni", NUMBER, "  ", "nom"),
        ("cni", NUMBER, "X", "nom"),
        ("cni", "", "Marie Dupont", "numéro"),
        ("cni", "123", "Marie Dupont", "9 à 12"),
        ("passport", "1234567890123456789", "Marie Dupont", "6 à 12"),
        ("cni", "ABCDEFGHJK", "Marie Dupont", "ne ressemble pas"),
        ("cni", "000000000", "Marie Dupont", "ne ressemble pas"),
        ("cni", "X7Q9ZK4L2;--", "Marie Dupont", "lettres et des chiffres"),
        ("driving_licence", "ÉÉÉ123456", "Marie Dupont", "lettres et des chiffres"),
        ("cni", NUMBER, "M" * 121, "trop long"),
    ],
)
def test_R07_bad_input_is_refused_in_french_and_writes_nothing(db, cfg, doc, number, name, words):
    with pytest.raises(InvalidInput) as err:
        _capture(db, cfg, number, name=name, doc=doc)
    assert words in str(err.value)
    assert NUMBER not in str(err.value)  # the number is never echoed back
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM id_ledger").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("doc", "number"),
    [
        ("cni", "880692310285"),  # card issued before 2021: 12 characters
        ("cni", "X7Q9ZK4L2"),  # since 2021: 9 characters
        ("passport", "19AB12345"),
        ("passport", "C01X00T47"),
        ("residence_permit", "7501234567"),
        ("driving_licence", "13AA00002"),
        ("driving_licence", "921275200123"),
    ],
)
def test_R07_plausible_numbers_are_accepted(db, cfg, doc, number):
    check = _capture(db, cfg, number, doc=doc)
    assert check.last4 == number[-4:]
    assert check.doc_type == doc
    assert check.status == "pending"
    row = db.execute("SELECT doc_type, last4, name FROM id_checks").fetchone()
    assert row == (doc, number[-4:], "Marie Dupont")


def test_R07_name_is_trimmed(db, cfg):
    check = _capture(db, cfg, name="  Marie   Dupont ")
    assert check.name == "Marie Dupont"


# ------------------------------------------------------------------ R19 thresholds

POLICY = PolicyConfig(
    no_receipt_warn_count=2, no_receipt_manager_count=3, no_receipt_refuse_count=5,
    no_receipt_refuse_amount=150_000,
)


@pytest.mark.parametrize(
    ("count", "level"),
    [
        (0, HistoryLevel.OK),
        (1, HistoryLevel.OK),
        (2, HistoryLevel.WARN),
        (3, HistoryLevel.MANAGER),
        (4, HistoryLevel.MANAGER),
        (5, HistoryLevel.REFUSE),
        (6, HistoryLevel.REFUSE),
    ],
)
def test_R19_count_thresholds_at_and_around_each_limit(count, level):
    assert idcheck.classify_history(count, 0, POLICY) == level


@pytest.mark.parametrize(
    ("amount", "level"),
    [(149_999, HistoryLevel.OK), (150_000, HistoryLevel.REFUSE), (150_001, HistoryLevel.REFUSE)],
)
def test_R19_amount_threshold_at_and_around_the_limit(amount, level):
    assert idcheck.classify_history(1, amount, POLICY) == level


def test_R19_thresholds_follow_the_chain_configuration():
    strict = PolicyConfig(
        no_receipt_warn_count=1, no_receipt_manager_count=1, no_receipt_refuse_count=2,
        no_receipt_refuse_amount=10_000,
    )
    assert idcheck.classify_history(0, 0, strict) == HistoryLevel.OK
    assert idcheck.classify_history(1, 0, strict) == HistoryLevel.MANAGER
    assert idcheck.classify_history(2, 0, strict) == HistoryLevel.REFUSE
    assert idcheck.classify_history(1, 9_999, strict) == HistoryLevel.MANAGER
    assert idcheck.classify_history(0, 10_000, strict) == HistoryLevel.REFUSE


def test_R19_history_counts_refunds_of_the_same_identity_only(db, cfg):
    _refund(db, cfg, "X7Q 9ZK 4L2", 4500, at=NOW - timedelta(days=10))
    _refund(db, cfg, "x7q9zk4l2", 12000, at=NOW - timedelta(days=5))
    _refund(db, cfg, "AB1234567", 9900, at=NOW - timedelta(days=5))  # someone else
    refused = _capture(db, cfg, NUMBER, now=NOW - timedelta(days=3))
    idcheck.mark_refused(db, refused.uuid, now=NOW - timedelta(days=3))  # not a refund
    _capture(db, cfg, NUMBER, now=NOW - timedelta(days=1))  # pending: not a refund either
    current = _capture(db, cfg, NUMBER)
    assert idcheck.history(db, current.id_hash, now=NOW, window_days=365) == (2, 16500)
    hist = idcheck.history_for(db, current, POLICY, now=NOW)
    assert (hist.count, hist.amount, hist.level) == (2, 16500, HistoryLevel.WARN)


def test_R19_rolling_window_edges(db, cfg):
    window = 365
    edge = NOW - timedelta(days=window)
    _refund(db, cfg, NUMBER, 1000, at=edge)  # exactly the window's age: out
    _refund(db, cfg, NUMBER, 2000, at=edge + timedelta(seconds=1))  # one second younger: in
    _refund(db, cfg, NUMBER, 4000, at=edge - timedelta(days=1))  # older: out
    _refund(db, cfg, NUMBER, 8000, at=NOW - timedelta(days=1))  # recent: in
    key_hash = idcheck.id_hash(idcheck.load_secret(cfg), NUMBER)
    assert idcheck.history(db, key_hash, now=NOW, window_days=window) == (2, 10000)
    # The window rolls: a day later the edge refund has left it.
    later = NOW + timedelta(days=1)
    assert idcheck.history(db, key_hash, now=later, window_days=window) == (1, 8000)
    assert idcheck.history(db, key_hash, now=NOW, window_days=30) == (1, 8000)


def test_R19_chain_wide_history_includes_hq_ledger_rows(db, cfg):
    key_hash = idcheck.id_hash(idcheck.load_secret(cfg), NUMBER)
    rows = [
        {"uuid": f"hq-{i}", "id_hash": key_hash, "amount": 30_000, "store_id": 2,
         "till_no": 1, "created_at": f"2026-10-0{i + 1}T09:00:00Z"}
        for i in range(5)
    ]
    assert idcheck.insert_ledger_rows(db, rows) == 5
    assert idcheck.insert_ledger_rows(db, rows) == 0  # idempotent by uuid
    count, amount = idcheck.history(db, key_hash, now=NOW, window_days=365)
    assert (count, amount) == (5, 150_000)
    assert idcheck.classify_history(count, amount, POLICY) == HistoryLevel.REFUSE


# ------------------------------------------------------------------ ledger for HQ sync


def test_ledger_rows_since_gives_local_rows_in_order_with_a_cursor(db, cfg):
    first = _refund(db, cfg, NUMBER, 1000, at=NOW - timedelta(days=2))
    idcheck.insert_ledger_rows(db, [{"uuid": "hq-1", "id_hash": "ab" * 32, "amount": 5,
                                     "store_id": 2, "till_no": 1,
                                     "created_at": "2026-11-01T10:00:00Z"}])
    second = _refund(db, cfg, "AB1234567", 2000, at=NOW - timedelta(days=1))
    rows = idcheck.ledger_rows_since(db)
    assert [r["uuid"] for r in rows] == [first.uuid, second.uuid]
    assert set(rows[0]) == {"seq", *idcheck.LEDGER_FIELDS}
    assert "name" not in rows[0] and "last4" not in rows[0]  # minimisation
    assert idcheck.ledger_rows_since(db, rows[0]["seq"]) == rows[1:]
    assert idcheck.ledger_rows_since(db, rows[1]["seq"]) == []
    assert len(idcheck.ledger_rows_since(db, origin="")) == 3


def test_insert_ledger_rows_refuses_incomplete_rows_atomically(db):
    good = {"uuid": "hq-1", "id_hash": "ab" * 32, "amount": 5, "store_id": 2, "till_no": 1,
            "created_at": "2026-11-01T10:00:00Z"}
    with pytest.raises(InvalidInput):
        idcheck.insert_ledger_rows(db, [good, {"uuid": "hq-2"}])
    assert db.execute("SELECT COUNT(*) FROM id_ledger").fetchone()[0] == 0


def test_link_ticket_is_idempotent_and_counts_once(db, cfg):
    check = _capture(db, cfg)
    idcheck.link_ticket(db, check.uuid, ticket_uuid="t-1", amount=4500, now=NOW)
    again = idcheck.link_ticket(db, check.uuid, ticket_uuid="t-1", amount=4500, now=NOW)
    assert again.status == "refunded" and again.ticket_uuid == "t-1" and again.amount == 4500
    assert idcheck.history(db, check.id_hash, now=NOW + timedelta(seconds=1)) == (1, 4500)
    with pytest.raises(InvalidInput):
        idcheck.mark_refused(db, check.uuid)


def test_discard_forgets_an_undecided_capture(db, cfg):
    check = _capture(db, cfg)
    assert idcheck.discard(db, check.uuid)
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0


# ------------------------------------------------------------------ purge


def test_months_before_clamps_to_the_end_of_month():
    assert idcheck.months_before(datetime(2026, 3, 31, tzinfo=UTC), 13) == datetime(
        2025, 2, 28, tzinfo=UTC)
    assert idcheck.months_before(datetime(2026, 11, 26, 12, tzinfo=UTC), 13) == datetime(
        2025, 10, 26, 12, tzinfo=UTC)


def test_R19_purge_at_the_retention_edges(db, cfg):
    retention_start = datetime(2025, 10, 26, 12, 0, 0, tzinfo=UTC)  # NOW - 13 months
    old = _refund(db, cfg, NUMBER, 1000, at=retention_start - timedelta(days=1))
    kept = _refund(db, cfg, NUMBER, 2000, at=retention_start + timedelta(days=1))
    edge = _refund(db, cfg, NUMBER, 4000, at=retention_start)  # exactly 13 months: kept
    idcheck.insert_ledger_rows(db, [
        {"uuid": "hq-old", "id_hash": old.id_hash, "amount": 7, "store_id": 2, "till_no": 1,
         "created_at": "2025-10-25T12:00:00Z"},
        {"uuid": "hq-new", "id_hash": old.id_hash, "amount": 9, "store_id": 2, "till_no": 1,
         "created_at": "2025-10-27T12:00:00Z"},
    ])
    deleted = idcheck.purge(db, cfg, now=NOW)
    assert deleted == 3  # the old check, its ledger row, the old HQ ledger row
    uuids = {r[0] for r in db.execute("SELECT uuid FROM id_checks")}
    assert uuids == {kept.uuid, edge.uuid}
    ledger = {r[0] for r in db.execute("SELECT uuid FROM id_ledger")}
    assert ledger == {kept.uuid, edge.uuid, "hq-new"}
    assert idcheck.purge(db, cfg, now=NOW) == 0


def test_R19_purge_follows_the_configured_retention(db, cfg):
    six = replace(cfg, policy=PolicyConfig(id_retention_months=6))
    _refund(db, cfg, NUMBER, 1000, at=NOW - timedelta(days=200))
    _refund(db, cfg, NUMBER, 1000, at=NOW - timedelta(days=100))
    assert idcheck.purge(db, cfg, now=NOW) == 0  # within 13 months
    assert idcheck.purge(db, six, now=NOW) == 2  # the check and its ledger row
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 1


def test_purge_drops_abandoned_captures_after_a_day(db, cfg):
    _capture(db, cfg, now=NOW - timedelta(hours=25))
    fresh = _capture(db, cfg, now=NOW - timedelta(hours=23))
    assert idcheck.purge(db, cfg, now=NOW) == 1
    assert [r[0] for r in db.execute("SELECT uuid FROM id_checks")] == [fresh.uuid]


def test_purged_data_is_gone_from_the_files(db, cfg, tmp_cache):
    _refund(db, cfg, NUMBER, 1000, at=NOW - timedelta(days=500))
    assert b"Marie Dupont" in _file_bytes(tmp_cache)
    idcheck.purge(db, cfg, now=NOW)
    db.close()
    assert b"Marie Dupont" not in _file_bytes(tmp_cache)


# ------------------------------------------------------------------ notice


def test_R07_notice_text_is_french_and_complete(cfg):
    text = idcheck.notice_text(replace(cfg, policy=PolicyConfig(id_retention_months=13)))
    for words in ("abus", "6(1)(f)", "intérêt légitime", "13 mois", "CNIL", "accès",
                  "rectification", "effacement", "opposer", "dpo@alamara.fr"):
        assert words in text, words
    assert "4 derniers caractères" in text
    assert "13 mois" not in idcheck.notice_text(
        replace(cfg, policy=PolicyConfig(id_retention_months=24)))


# ------------------------------------------------------------------ CLI


def test_cli_privacy_purge(db, cfg, tmp_cache, tmp_path):
    _refund(db, cfg, NUMBER, 1000, at=NOW - timedelta(days=500))
    _refund(db, cfg, NUMBER, 1000, at=NOW - timedelta(days=5))
    db.close()
    env = {**os.environ, "POS_RETURNS_CONFIG": str(tmp_path / "none.toml"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "pos_returns.cli", "privacy", "purge", "--db", str(tmp_cache),
         "--now", "2026-11-26"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 enregistrements" in proc.stdout and "13 mois" in proc.stdout
    db2 = connect(tmp_cache)
    assert db2.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 1
    db2.close()


def test_cli_privacy_purge_rejects_a_bad_date(tmp_cache, tmp_path):
    env = {**os.environ, "POS_RETURNS_CONFIG": str(tmp_path / "none.toml"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    connect(tmp_cache).close()
    proc = subprocess.run(
        [sys.executable, "-m", "pos_returns.cli", "privacy", "purge", "--db", str(tmp_cache),
         "--now", "hier"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 2
    assert "n’est pas une date" in proc.stderr or "n'est pas une date" in proc.stderr


# ------------------------------------------------------------------ with the fiscal journal


def _no_receipt_ticket(db, cfg, number=NUMBER, *, name="Marie Dupont", at=NOW):
    """A committed no-receipt return (R07) through the engine and the ticket writer."""
    from pos_returns.engine.plan import Approval, LineRequest, ReturnRequest
    from pos_returns.usecases import planning, tickets

    check = _capture(db, cfg, number, name=name, now=at)
    count, amount = idcheck.history(db, check.id_hash, now=at)
    request = granted(db, cfg, ReturnRequest(
        store_id=1, till_no=1, staff_id=1, sale_id=None,
        lines=(LineRequest(quantity=1, sku="SKU-ROBE-01"),),
        approvals=(Approval(rule="R07", manager_id=3, decision="approved",
                            reason="Cliente connue", line_no=1),),
        no_receipt_history_count=count, no_receipt_history_amount=amount,
        other_ways_searched=True, id_checked=True, id_check_uuid=check.uuid,
    ))
    plan = planning.plan_return(db, cfg, request)
    assert not plan.blocked
    return check, tickets.commit_plan(db, cfg, plan, now=at)


def test_R07_committed_ticket_links_the_check_and_counts_it(db, cfg):
    check, ticket = _no_receipt_ticket(db, cfg, at=NOW - timedelta(days=3))
    row = idcheck.get_check(db, check.uuid)
    assert (row.status, row.ticket_uuid, row.amount) == ("refunded", ticket.uuid, 18900)
    assert idcheck.history(db, check.id_hash, now=NOW) == (1, 18900)
    assert idcheck.link_committed(db, ticket).status == "refunded"  # idempotent
    assert idcheck.history(db, check.id_hash, now=NOW) == (1, 18900)


def test_R19_one_id_check_cannot_be_reused_for_a_second_refund(db, cfg):
    """A second no-receipt ticket naming an already refunded check is refused, all or
    nothing, so every refunded no-receipt return counts in the history (R19)."""
    from pos_returns.errors import Conflict
    from pos_returns.usecases.planning import plan_return
    from pos_returns.usecases.tickets import commit_plan

    check, first = _no_receipt_ticket(db, cfg, at=NOW - timedelta(days=3))
    tickets_before = db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0]
    plan = plan_return(db, cfg, granted(db, cfg, first.plan.request))  # a fresh approval
    with pytest.raises(Conflict):
        commit_plan(db, cfg, plan, now=NOW)
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == tickets_before
    assert idcheck.get_check(db, check.uuid).ticket_uuid == first.uuid
    assert idcheck.history(db, check.id_hash, now=NOW) == (1, 18900)


def test_R07_id_data_stays_out_of_the_fiscal_journal_and_the_outbox(db, cfg, tmp_cache):
    _no_receipt_ticket(db, cfg, name="Hortense Quillebeuf")
    for table in ("journal", "outbox", "return_tickets", "return_lines", "approvals"):
        cur = db.execute(f"SELECT * FROM {table}")
        text = "\n".join(str(v) for row in cur.fetchall() for v in row)
        assert "Quillebeuf" not in text, table
        assert "K4L2" not in text, table
    for form in _raw_forms(NUMBER):
        assert form not in _file_bytes(tmp_cache)


def test_R19_journal_verifies_after_a_purge_and_records_it(db, cfg):
    from pos_returns.journal import chain as journal
    _old_check, old_ticket = _no_receipt_ticket(db, cfg, at=NOW - timedelta(days=420))
    new_check, _new = _no_receipt_ticket(db, cfg, "AB1234567", at=NOW - timedelta(days=10))
    assert journal.verify(db).ok
    deleted = idcheck.purge(db, cfg, now=NOW)
    assert deleted == 2  # the old check and its ledger row
    assert db.execute("SELECT uuid FROM id_checks").fetchall() == [(new_check.uuid,)]
    # The fiscal record of the old return is untouched; the journal still verifies.
    assert db.execute("SELECT COUNT(*) FROM return_tickets WHERE uuid = ?",
                      [old_ticket.uuid]).fetchone()[0] == 1
    report = journal.verify(db)
    assert report.ok, report.summary()
    events = list(journal.iter_records(db, 1, 1, kind="privacy_purge"))
    assert len(events) == 1
    payload = str(events[0])
    assert "Marie" not in payload and "K4L2" not in payload
