"""Issue 12: chain heads anchored at HQ (real PostgreSQL). A cache restored from an
older backup is noticed, blocks returns, and pulls its own tickets back before any
refund; a rollback or a fork raises an alert that stays until a manager resolves it."""

from __future__ import annotations

import sqlite3

import pytest

from pos_returns.cache.db import open_cache
from pos_returns.errors import IntegrityFailure, InvalidInput
from pos_returns.hq import receive as hq_receive
from pos_returns.journal.anchor import record_hash_at
from pos_returns.journal.chain import Journal
from pos_returns.journal.keys import load_signer
from pos_returns.sync.round import till_journal
from tests.helpers.hq import commit_return, hq_count, hq_sale, sync, till_config

pytestmark = pytest.mark.postgres


def _round(db, dsn, cfg):
    return sync(db, dsn, cfg, journal=till_journal(db, cfg))


def _backup(db, path) -> None:
    dest = sqlite3.connect(path)
    db.conn.backup(dest)
    dest.close()


def test_each_push_anchors_seq_record_hash_and_key_fingerprint(hq_conn, hq_dsn, till, tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 2, 7900)])
    sync(db, hq_dsn, cfg)
    commit_return(db, cfg, sale, [(lines[0], 1)])
    assert _round(db, hq_dsn, cfg).anchor_status == "ok"
    commit_return(db, cfg, sale, [(lines[0], 1)])
    assert _round(db, hq_dsn, cfg).anchor_status == "ok"
    rows = hq_conn.execute("SELECT seq, record_hash, fingerprint FROM journal_anchors "
                           "ORDER BY id").fetchall()
    assert len(rows) == 2 and rows[0][0] < rows[1][0]  # the history is kept
    seq, record_hash, fingerprint = rows[-1]
    assert record_hash == record_hash_at(db, 1, 1, seq)
    assert fingerprint == load_signer(cfg.key_path).fingerprint
    assert hq_receive.open_alerts(hq_conn) == []


def test_a_restored_backup_blocks_returns_then_pulls_its_own_tickets_back_nothing_refunded_twice(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 1, 7900)] * 7)
    sync(db, hq_dsn, cfg)
    commit_return(db, cfg, sale, [(lines[0], 1)])
    _round(db, hq_dsn, cfg)
    backup = tmp_path / "backup.sqlite"
    _backup(db, backup)
    for line in lines[1:6]:  # five returns made after the backup
        commit_return(db, cfg, sale, [(line, 1)])
    assert _round(db, hq_dsn, cfg).anchor_status == "ok"
    anchored = hq_receive.last_anchor(hq_conn, 1, 1)

    # the insider restores the old cache (the keys folder stays as it is)
    db.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"a.sqlite{suffix}").unlink(missing_ok=True)
    (tmp_path / "a.sqlite").write_bytes(backup.read_bytes())
    db = open_cache(tmp_path / "a.sqlite")
    try:
        # before any sync, offline: the head anchored beside the keys is not in the cache
        with pytest.raises(IntegrityFailure, match="en retard sur le siège") as refused:
            commit_return(db, cfg, sale, [(lines[1], 1)])
        assert refused.value.code == "behind_hq"

        summary = _round(db, hq_dsn, cfg)
        assert summary.behind_hq and summary.recovered_tickets == 5
        assert any("retard" in line for line in summary.french_lines())
        # the five tickets are back: their lines count as returned, nothing goes twice
        for line in lines[1:6]:
            with pytest.raises(InvalidInput, match="déjà repris"):
                commit_return(db, cfg, sale, [(line, 1)])
        failure = db.execute("SELECT payload FROM journal WHERE kind = 'integrity_failure'"
                             ).fetchone()
        assert failure is not None and '"behind_hq"' in failure[0]
        # HQ did not anchor the restored chain: an alert waits for a manager
        alerts = hq_receive.open_alerts(hq_conn, 1, 1)
        assert [a["kind"] for a in alerts] in (["rollback"], ["fork"])
        assert hq_receive.last_anchor(hq_conn, 1, 1) == anchored

        # the restored chain grows longer than the anchor: still a fork, never accepted
        commit_return(db, cfg, sale, [(lines[6], 1)])
        journal = Journal.for_config(db, cfg)
        while db.execute("SELECT MAX(seq) FROM journal").fetchone()[0] <= anchored.seq:
            journal.event("login", {"staff_id": 1})
        summary = _round(db, hq_dsn, cfg)
        assert summary.anchor_status == "fork"
        assert db.execute("SELECT MAX(seq) FROM journal").fetchone()[0] > anchored.seq
        assert hq_receive.last_anchor(hq_conn, 1, 1) == anchored
        assert hq_receive.open_alerts(hq_conn, 1, 1)  # it stays

        # a manager resolves it at HQ, accepting the till's rebuilt chain from here
        for alert in hq_receive.open_alerts(hq_conn, 1, 1):
            hq_receive.resolve_alert(hq_conn, alert["id"], manager_id=3, rebase=True,
                                     note="Caisse restaurée, tickets récupérés")
        assert _round(db, hq_dsn, cfg).anchor_status == "ok"
        assert hq_receive.open_alerts(hq_conn) == []
    finally:
        db.close()


def _anchor(conn, seq, h, fp="fp", at_seq=0, at_hash=""):
    return hq_receive.anchor_head(conn, store_id=1, till_no=2, seq=seq, record_hash=h,
                                  signature="s", fingerprint=fp, at_seq=at_seq, at_hash=at_hash)


def test_hq_refuses_a_rollback_a_fork_and_another_key_and_the_alert_stays(hq_conn):
    assert _anchor(hq_conn, 10, "h10").status == "ok"
    assert _anchor(hq_conn, 15, "h15", at_seq=10, at_hash="h10").status == "ok"
    # rollback: a head behind the anchor (a truncated or restored journal)
    assert _anchor(hq_conn, 12, "x12", at_seq=15, at_hash="").status == "rollback"
    # fork: longer, but its record no. 15 is not the anchored one (re-signed / restored)
    fork = _anchor(hq_conn, 40, "x40", at_seq=15, at_hash="other")
    assert fork.status == "fork"
    assert _anchor(hq_conn, 40, "x40", at_seq=15, at_hash="other").alert_id == fork.alert_id
    # another key signs the chain
    assert _anchor(hq_conn, 20, "h20", fp="intruder", at_seq=15, at_hash="h15").status == "key"
    assert hq_receive.last_anchor(hq_conn, 1, 2).seq == 15
    assert sorted(a["kind"] for a in hq_receive.open_alerts(hq_conn, 1, 2)) == [
        "fork", "key", "rollback"]
    # the genuine chain still extends its anchor; the alerts stay until resolved
    assert _anchor(hq_conn, 20, "h20", at_seq=15, at_hash="h15").status == "ok"
    assert len(hq_receive.open_alerts(hq_conn, 1, 2)) == 3
    with pytest.raises(ValueError):
        hq_receive.resolve_alert(hq_conn, fork.alert_id, manager_id=3, note=" ")
    hq_receive.resolve_alert(hq_conn, fork.alert_id, manager_id=3, note="Vérifié sur place")
    assert len(hq_receive.open_alerts(hq_conn, 1, 2)) == 2
    assert hq_count(hq_conn, "SELECT count(*) FROM journal_anchor_alerts "
                    "WHERE resolved_by = 3") == 1
