"""HQ sync against a real PostgreSQL: the pull cursor, resumable first sync,
offline mode, cross-till conflicts (R02: a line is never returned twice), idempotent push."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pos_returns.demo import hq as demo_hq
from pos_returns.errors import InvalidInput
from pos_returns.hq import receive as hq_receive
from pos_returns.hq import schema as hq_schema
from pos_returns.sync import pull as sync_pull
from pos_returns.sync.online import check_return_online
from pos_returns.sync.round import till_journal
from pos_returns.sync.state import Progress
from pos_returns.sync.status import open_conflicts, sync_status
from tests.helpers.hq import commit_return, hq_count, hq_sale, sync, till_config

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


def _ids(db, table: str) -> list[int]:
    return [r[0] for r in db.execute(f"SELECT id FROM {table} ORDER BY id")]


def _hq_ids(conn, table: str) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


# -- the pull cursor ------------------------------------------------------------------


def test_two_hq_transactions_committing_in_reverse_order_nothing_skipped(hq_dsn, till, tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    first = hq_schema.connect(hq_dsn)  # explicit transactions (autocommit off)
    second = hq_schema.connect(hq_dsn)
    try:
        sale_a, _, _ = hq_sale(first, [("SKU-ROBE-01", 1, 18900)])  # takes the lower id
        sale_b, _, _ = hq_sale(second, [("SKU-CHEM-01", 1, 7900)])
        assert sale_a < sale_b
        second.commit()  # the higher sequence number commits first

        sync(db, hq_dsn, cfg)
        # a plain "id > last id" cursor would now stand at sale_b and never see sale_a;
        # the snapshot fence holds sale_b back while sale_a's transaction is open
        assert _ids(db, "sales") == []

        first.commit()
        summary = sync(db, hq_dsn, cfg)
        assert summary.online
        assert _ids(db, "sales") == [sale_a, sale_b]
        assert db.execute("SELECT count(*) FROM sale_lines").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM tenders").fetchone()[0] == 2
    finally:
        first.close()
        second.close()


def test_rows_committed_while_a_pull_runs_arrive_at_the_next_pull(hq_dsn, hq_conn, till,
                                                                   tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    demo_hq.feed_sales(hq_conn, 300, seed=1)
    late = hq_schema.connect(hq_dsn)
    try:
        late_sale, _, _ = hq_sale(late, [("SKU-ESCA-01", 1, 22000)])

        def commit_late(p: Progress) -> None:
            if p.table == "sales" and not late.closed and late.info.transaction_status:
                late.commit()  # commits in the middle of the pull, below no fence yet

        sync(db, hq_dsn, cfg, progress=commit_late, batch_size=100)
        sync(db, hq_dsn, cfg)
    finally:
        late.close()
    assert _ids(db, "sales") == _hq_ids(hq_conn, "sales")
    assert late_sale in _ids(db, "sales")
    assert _ids(db, "sale_lines") == _hq_ids(hq_conn, "sale_lines")


def test_products_price_change_and_new_staff_are_pulled(hq_conn, hq_dsn, till, tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sync(db, hq_dsn, cfg)
    assert db.execute("SELECT current_price FROM products WHERE sku = 'SKU-ROBE-01'"
                      ).fetchone()[0] == 18900
    hq_conn.execute("UPDATE products SET current_price = 14900 WHERE sku = 'SKU-ROBE-01'")
    hq_conn.execute(
        "INSERT INTO staff (id, code, name, role, store_id, pin_hash) "
        "VALUES (6, 'V002', 'Léa Roux', 'salesperson', 1, 'x')"
    )
    summary = sync(db, hq_dsn, cfg)
    assert summary.pulled["products"] == 1 and summary.pulled["staff"] == 1
    assert db.execute("SELECT current_price FROM products WHERE sku = 'SKU-ROBE-01'"
                      ).fetchone()[0] == 14900
    assert db.execute("SELECT name FROM staff WHERE code = 'V002'").fetchone()[0] == "Léa Roux"


# -- a first full sync, interrupted and resumed -----------------------------------------


def _assert_same_as_hq(db, conn) -> None:
    for table in ("sales", "sale_lines", "tenders"):
        local = _ids(db, table)
        assert len(local) == len(set(local))
        assert local == _hq_ids(conn, table), table
    totals = conn.execute("SELECT sum(total) FROM sales").fetchone()[0]
    assert db.execute("SELECT sum(total) FROM sales").fetchone()[0] == totals


def test_first_sync_interrupted_after_n_batches_resumes_without_duplicates(
    hq_conn, hq_dsn, till, tmp_path, monkeypatch
):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    demo_hq.feed_sales(hq_conn, 3000, seed=2)
    monkeypatch.setattr(sync_pull, "DEFER_INDEXES_FROM", 1000)  # exercise the bulk path
    seen: list[Progress] = []

    class Boom(Exception):
        pass

    def explode(p: Progress) -> None:
        seen.append(p)
        if p.table == "sale_lines" and len([s for s in seen if s.table == "sale_lines"]) == 3:
            raise Boom

    with pytest.raises(Boom):
        sync(db, hq_dsn, cfg, progress=explode, batch_size=500)
    assert seen[0].full_sync and seen[-1].total > seen[-1].done  # progress shown, not finished
    assert len(_ids(db, "sale_lines")) == 1500  # three committed batches, not more
    assert db.execute("SELECT count(*) FROM sync_deferred_indexes").fetchone()[0] == 0
    assert db.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'sale_lines_sale'").fetchone()[0] == 1

    progress: list[Progress] = []
    summary = sync(db, hq_dsn, cfg, progress=progress.append, batch_size=500)
    assert summary.online and summary.full_sync
    assert progress[-1].done == progress[-1].total
    _assert_same_as_hq(db, hq_conn)
    assert not sync(db, hq_dsn, cfg).full_sync  # the first full sync is now done


def test_first_sync_killed_mid_batch_with_kill_9_then_resumed(hq_conn, hq_dsn, till, tmp_path):
    cfg = till_config(tmp_path, "a")
    demo_hq.feed_sales(hq_conn, 40_000, seed=3)
    cache = tmp_path / "a.sqlite"
    db = till("a")  # migrated before the child process starts
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POS_RETURNS_CONFIG": str(tmp_path / "none")}
    child = subprocess.Popen(
        [sys.executable, "-m", "pos_returns.cli", "sync", "--dsn", hq_dsn, "--db", str(cache),
         "--store", "1", "--till", "1", "--batch-size", "300"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        watcher = sqlite3.connect(str(cache), timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            row = watcher.execute(
                "SELECT rows FROM sync_cursors WHERE name = 'sale_lines'").fetchone()
            if row and row[0] >= 3000:
                break
            time.sleep(0.01)
        watcher.close()
        assert child.poll() is None, "the sync ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    partial = len(_ids(db, "sale_lines"))
    assert 3000 <= partial < hq_count(hq_conn, "SELECT count(*) FROM sale_lines")

    summary = sync(db, hq_dsn, cfg)
    assert summary.online and summary.error == ""
    _assert_same_as_hq(db, hq_conn)
    assert db.execute("SELECT count(*) FROM sync_deferred_indexes").fetchone()[0] == 0
    indexes = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sale_lines'")}
    assert {"sale_lines_sale", "sale_lines_sku"} <= indexes  # rebuilt after the bulk load
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- offline, then HQ back ----------------------------------------------------------


def test_hq_stopped_returns_made_offline_then_the_queue_drains(
    pg_server, hq_conn, hq_dsn, till, tmp_path
):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _tenders = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900), ("SKU-CHEM-01", 2, 7900)])
    hq_conn.close()
    sync(db, hq_dsn, cfg)
    pg_server.stop()
    try:
        check = check_return_online(hq_dsn, [(lines[0], 1)], db=db, timeout=1)
        assert check.status == "offline" and check.offline
        first = commit_return(db, cfg, sale, [(lines[0], 1)], offline=True)
        second = commit_return(db, cfg, sale, [(lines[1], 2)], offline=True)
        summary = sync(db, hq_dsn, cfg, connect_timeout=1)
        assert not summary.online and summary.error
        status = sync_status(db)
        assert status.online is False and status.waiting == 2
    finally:
        pg_server.start()
    summary = sync(db, hq_dsn, cfg)
    assert summary.online and summary.pushed == 2 and summary.ok == 2
    status = sync_status(db)
    assert status.online is True and status.waiting == 0 and status.conflicts_open == 0
    with hq_schema.connect(hq_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT uuid, offline FROM return_tickets ORDER BY number").fetchall()
        assert rows == [(first.uuid, 1), (second.uuid, 1)]
        assert hq_count(conn, "SELECT sum(quantity) FROM return_lines") == 3
        head = conn.execute("SELECT seq, signature FROM journal_heads "
                            "WHERE store_id = 1 AND till_no = 1").fetchone()
    assert head == db.execute("SELECT seq, signature FROM journal ORDER BY seq DESC LIMIT 1"
                              ).fetchone()


# -- two tills, the same line (R02: never returned twice) ------------------------------


def test_R02_two_tills_online_the_first_wins_the_second_gets_conflict(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg_a = till_config(tmp_path, "a")
    cfg_b = till_config(tmp_path, "b", store_id=2, till_no=1)
    a, b = till("a"), till("b")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ESCA-01", 1, 22000)])
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)

    assert check_return_online(hq_dsn, [(lines[0], 1)], db=a).ok
    won = commit_return(a, cfg_a, sale, [(lines[0], 1)])
    assert sync(a, hq_dsn, cfg_a).ok == 1

    check = check_return_online(hq_dsn, [(lines[0], 1)], db=b)
    assert check.status == "conflict"
    assert check.problems == ({"sale_line_id": lines[0], "reason": "over_return", "sold": 1,
                               "returned": 1, "requested": 1},)
    # once B has pulled A's return, its own cache refuses the line too
    sync(b, hq_dsn, cfg_b)
    pulled = b.execute("SELECT origin, store_id FROM return_tickets WHERE uuid = ?",
                       [won.uuid]).fetchone()
    assert pulled == ("hq", 1)
    with pytest.raises(InvalidInput, match="déjà repris"):  # the engine counts it returned
        commit_return(b, cfg_b, sale, [(lines[0], 1)], staff_id=4)


def test_R02_online_check_counts_this_tills_returns_not_yet_sent(hq_conn, hq_dsn, till,
                                                                  tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 2, 7900)])
    sync(db, hq_dsn, cfg)
    commit_return(db, cfg, sale, [(lines[0], 1)], offline=True)  # waiting in the outbox
    assert check_return_online(hq_dsn, [(lines[0], 1)], db=db).ok
    assert check_return_online(hq_dsn, [(lines[0], 2)], db=db).status == "conflict"
    assert check_return_online(hq_dsn, [(lines[0], 2)]).ok  # HQ alone: 0 back yet


def test_R02_two_tills_offline_both_commit_push_one_ok_one_conflict_flagged(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg_a = till_config(tmp_path, "a")
    cfg_b = till_config(tmp_path, "b", store_id=2, till_no=1)
    a, b = till("a"), till("b")
    sale, lines, _tenders = hq_sale(hq_conn, [("SKU-PARF-01", 1, 9500)])
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    # HQ away for both: each till commits from its own cache
    ticket_a = commit_return(a, cfg_a, sale, [(lines[0], 1)], offline=True)
    ticket_b = commit_return(b, cfg_b, sale, [(lines[0], 1)], offline=True, staff_id=4)

    assert sync(a, hq_dsn, cfg_a).ok == 1
    summary_b = sync(b, hq_dsn, cfg_b)
    assert summary_b.pushed == 1 and summary_b.conflicts == 1
    assert any("conflit" in line for line in summary_b.french_lines())

    outbox = b.execute("SELECT result FROM outbox WHERE uuid = ?", [ticket_b.uuid]).fetchone()
    assert outbox == ("conflict",)
    conflicts = open_conflicts(b)
    assert [(c["ticket_uuid"], c["ticket_id"]) for c in conflicts] == [
        (ticket_b.uuid, ticket_b.ticket_id)]
    assert conflicts[0]["answer"]["problems"][0]["reason"] == "over_return"
    assert sync_status(b).conflicts_open == 1
    # HQ counts the line once, and keeps B's refused ticket whole for the review
    assert hq_count(hq_conn, "SELECT sum(quantity) FROM return_lines WHERE sale_line_id = %s",
                    [lines[0]]) == 1
    kept = hq_conn.execute("SELECT payload->>'uuid', answer->>'result' FROM return_conflicts"
                           ).fetchall()
    assert kept == [(ticket_b.uuid, "conflict")]
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets WHERE uuid = %s",
                    [ticket_a.uuid]) == 1
    # the manager's review (pos_returns.usecases.review) sees B's ticket flagged
    from pos_returns.usecases import review

    assert review._conflict_ticket_ids(b, [ticket_b.ticket_id]) == {ticket_b.ticket_id: "offline"}


def test_R02_concurrent_pushes_of_the_same_line_one_ok_one_conflict(hq_conn, hq_dsn):
    sale, lines, tenders = hq_sale(hq_conn, [("SKU-COLL-01", 1, 65000)])
    answers: list[str] = []
    barrier = threading.Barrier(6)

    def push(n: int) -> None:
        payload = {
            "uuid": f"race-{n}", "number": 1, "store_id": 1, "till_no": 10 + n,
            "created_at": "2025-06-02T10:00:00Z", "staff_id": 1, "kind": "receipt",
            "sale_id": sale,
            "lines": [{"line_no": 1, "direction": "return", "sale_line_id": lines[0],
                       "sku": "SKU-COLL-01", "quantity": 1, "unit_amount": 65000,
                       "amount": -65000, "vat_rate_bp": 2000}],
            "refunds": [{"kind": "card", "amount": 65000, "sale_tender_id": tenders[0]}],
        }
        with hq_schema.connect(hq_dsn, autocommit=True) as conn:
            barrier.wait()
            answers.append(hq_receive.receive_document(
                conn, "return_ticket", payload["uuid"], payload, store_id=1, till_no=10 + n
            ).result)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["conflict"] * 5 + ["ok"]
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets") == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM return_conflicts") == 5


# -- idempotent push ------------------------------------------------------------------


def test_the_same_push_replayed_100_times_leaves_exactly_one_row_at_hq(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-ROBE-01", 1, 18900), ("SKU-CHEM-01", 1, 7900)])
    sync(db, hq_dsn, cfg)
    ticket = commit_return(db, cfg, sale, [(lines[0], 1), (lines[1], 1)])
    uuid, kind, payload = db.execute(
        "SELECT uuid, kind, payload FROM outbox WHERE uuid = ?", [ticket.uuid]).fetchone()
    document = json.loads(payload)
    results = []
    for _ in range(100):  # a till that crashed between HQ's commit and its own mark
        results.append(hq_receive.receive_document(hq_conn, kind, uuid, document, store_id=1,
                                           till_no=1))
    assert {r.result for r in results} == {"ok"}
    assert [r.duplicate for r in results].count(False) == 1
    summary = sync(db, hq_dsn, cfg)  # and the real push, once more
    assert summary.ok == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets WHERE uuid = %s", [uuid]) == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM return_lines") == 2
    assert hq_count(hq_conn, "SELECT count(*) FROM refunds") == 1
    assert hq_count(hq_conn, "SELECT refund_total FROM return_tickets") == 26800
    assert sync(db, hq_dsn, cfg).pushed == 0  # nothing left waiting


def test_a_replayed_conflict_gets_the_same_answer(hq_conn, hq_dsn):
    sale, lines, tenders = hq_sale(hq_conn, [("SKU-LIVR-01", 1, 3500)])

    def doc(uuid: str) -> dict:
        return {"uuid": uuid, "number": 1, "store_id": 1, "till_no": 1, "staff_id": 1,
                "created_at": "2025-06-02T10:00:00Z", "kind": "receipt", "sale_id": sale,
                "lines": [{"direction": "return", "sale_line_id": lines[0], "sku": "SKU-LIVR-01",
                           "quantity": 1, "unit_amount": 3500, "amount": -3500,
                           "vat_rate_bp": 550}],
                "refunds": [{"kind": "card", "amount": 3500, "sale_tender_id": tenders[0]}]}

    assert hq_receive.receive_document(hq_conn, "return_ticket", "t1", doc("t1"), store_id=1,
                               till_no=1).result == "ok"
    answers = {hq_receive.receive_document(hq_conn, "return_ticket", "t2", doc("t2"), store_id=1,
                                   till_no=2).result for _ in range(10)}
    assert answers == {"conflict"}
    assert hq_count(hq_conn, "SELECT count(*) FROM return_conflicts") == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM return_lines") == 1


# -- other tills' documents come down --------------------------------------------------


def test_other_tills_returns_are_pulled_insert_only_and_own_ones_skipped(
    hq_conn, hq_dsn, till, tmp_path
):
    cfg_a = till_config(tmp_path, "a")
    cfg_b = till_config(tmp_path, "b", store_id=2, till_no=1)
    a, b = till("a"), till("b")
    sale, lines, tenders = hq_sale(hq_conn, [("SKU-ROBE-01", 2, 18900)])
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    ticket = commit_return(a, cfg_a, sale, [(lines[0], 1)])
    sync(a, hq_dsn, cfg_a)
    sync(a, hq_dsn, cfg_a)  # A pulls its own ticket back from HQ: skipped
    assert a.execute("SELECT count(*), max(origin) FROM return_tickets").fetchone() == (1, "local")

    summary = sync(b, hq_dsn, cfg_b)
    assert summary.pulled["return_tickets"] == 1
    row = b.execute("SELECT id, origin, number, refund_total FROM return_tickets WHERE uuid = ?",
                    [ticket.uuid]).fetchone()
    assert row[1:] == ("hq", 1, 18900)
    assert b.execute("SELECT sale_line_id, quantity, amount FROM return_lines WHERE ticket_id = ?",
                     [row[0]]).fetchall() == [(lines[0], 1, -18900)]
    assert b.execute("SELECT sale_tender_id, amount FROM refunds WHERE ticket_id = ?",
                     [row[0]]).fetchall() == [(tenders[0], 18900)]
    assert sync(b, hq_dsn, cfg_b).pulled["return_tickets"] == 0
    # B may still return the second unit, and no more
    commit_return(b, cfg_b, sale, [(lines[0], 1)], staff_id=4)
    with pytest.raises(InvalidInput, match="déjà repris"):
        commit_return(b, cfg_b, sale, [(lines[0], 1)], staff_id=4)


def test_R19_id_ledger_goes_up_and_other_tills_rows_come_down(hq_conn, hq_dsn, till, tmp_path):
    from pos_returns.usecases.idcheck import insert_ledger_rows

    cfg = till_config(tmp_path, "a")
    db = till("a")
    insert_ledger_rows(db, [{"uuid": "local-1", "id_hash": "h" * 64, "amount": 4500,
                             "store_id": 1, "till_no": 1, "created_at": "2025-06-01T10:00:00Z"}],
                       origin="local")
    hq_conn.execute(
        "INSERT INTO id_ledger (uuid, id_hash, amount, created_at, store_id, till_no) VALUES "
        "('lyon-1', %s, 3000, '2025-05-01T10:00:00Z', 2, 1)", ["h" * 64])
    sync(db, hq_dsn, cfg)
    assert hq_count(hq_conn, "SELECT count(*) FROM id_ledger WHERE uuid = 'local-1'") == 1
    rows = db.execute("SELECT uuid, origin, amount FROM id_ledger ORDER BY uuid").fetchall()
    assert rows == [("local-1", "local", 4500), ("lyon-1", "hq", 3000)]
    sync(db, hq_dsn, cfg)
    assert hq_count(hq_conn, "SELECT count(*) FROM id_ledger") == 2
    assert db.execute("SELECT count(*) FROM id_ledger").fetchone()[0] == 2


def test_id_ledger_pull_hook_is_skipped_without_the_local_table(hq_conn, hq_dsn, till,
                                                                 tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    db.execute("DROP TABLE id_ledger")  # a cache from before the identity ledger existed
    hq_conn.execute("INSERT INTO id_ledger (uuid, id_hash, created_at) VALUES ('x', 'h', 'd')")
    summary = sync(db, hq_dsn, cfg)
    assert summary.online and "id_ledger" not in summary.pulled
    assert summary.pulled["stores"] == 2


def test_a_journal_head_below_the_one_hq_knows_raises_an_alert(hq_conn, hq_dsn, till,
                                                                tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    hq_receive.raise_journal_head(hq_conn, store_id=1, till_no=1, seq=500, signature="ab")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 1, 7900)])
    sync(db, hq_dsn, cfg)
    commit_return(db, cfg, sale, [(lines[0], 1)])
    summary = sync(db, hq_dsn, cfg)
    assert summary.journal_head_ok is False
    assert any("alerte" in line for line in summary.french_lines())
    assert hq_count(hq_conn, "SELECT count(*) FROM journal_alerts") == 1
    assert hq_count(hq_conn, "SELECT seq FROM journal_heads") == 500


# -- the command line -------------------------------------------------------------------


def test_cli_hq_init_feed_and_sync_print_a_french_summary(pg_server, till, tmp_path, capsys):
    from pos_returns.cli import main

    with hq_schema.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS hq_cli WITH (FORCE)")
        conn.execute("CREATE DATABASE hq_cli")
    dsn = pg_server.dsn("hq_cli")
    assert main(["hq", "init", "--dsn", dsn, "--demo", "--sales", "40", "--seed", "4"]) == 0
    assert "Schéma du siège prêt" in capsys.readouterr().out
    assert main(["hq", "init", "--dsn", dsn, "--demo"]) == 2  # never twice into one HQ
    assert "déjà une chaîne" in capsys.readouterr().err
    assert main(["hq", "feed", "--dsn", dsn, "--sales", "25", "--seed", "4"]) == 0
    assert "25 nouvelles ventes" in capsys.readouterr().out
    with hq_schema.connect(dsn, autocommit=True) as conn:
        hq_sales = hq_count(conn, "SELECT count(*) FROM sales")
        assert hq_sales >= 65
        # every receipt number fed has its MOD 97-10 check digits right
        receipts = [r[0] for r in conn.execute(
            "SELECT receipt_number FROM sales WHERE till_no >= 90 AND receipt_number IS NOT NULL")]
    from pos_returns.engine.codes import mod97_check

    assert receipts and all(mod97_check(r[:15]) == r[15:] for r in receipts)
    cache = tmp_path / "cli.sqlite"
    code = main(["sync", "--dsn", dsn, "--db", str(cache), "--store", "1", "--till", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "reçue" in out or "reçues" in out
    db = till("cli")
    assert db.execute("SELECT count(*) FROM sales").fetchone()[0] == hq_sales
    code = main(["sync", "--dsn", "host=127.0.0.1 port=1 user=postgres connect_timeout=1",
                 "--db", str(cache)])
    assert code == sync_mod_exit_offline()
    assert "hors ligne" in capsys.readouterr().out
    with hq_schema.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE hq_cli WITH (FORCE)")


def sync_mod_exit_offline() -> int:
    from pos_returns.commands.sync import EXIT_OFFLINE

    return EXIT_OFFLINE


def test_a_round_that_moved_documents_is_journaled_and_hq_gets_that_head(
    hq_conn, hq_dsn, till, tmp_path
):
    from pos_returns.journal.chain import Journal
    from pos_returns.journal.verify import verify

    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 1, 7900)])
    sync(db, hq_dsn, cfg)
    commit_return(db, cfg, sale, [(lines[0], 1)])  # creates the till's key and chain
    journal = Journal.for_config(db, cfg)
    journal.enqueue_head()  # the journal's own head document goes up too
    summary = sync(db, hq_dsn, cfg, journal=till_journal(db, cfg))
    assert summary.pushed == 2 and summary.journal_head_ok is True
    record = db.execute("SELECT seq, signature, payload FROM journal WHERE kind = 'sync'"
                        ).fetchall()
    assert len(record) == 1 and json.loads(record[0][2])["pushed"] == 2
    head = hq_conn.execute("SELECT seq, signature, key_id, public_key FROM journal_heads"
                           ).fetchone()
    assert head[:2] == record[0][:2]  # HQ knows the chain up to the sync record
    assert head[2] == journal.signer.key_id and head[3] == journal.signer.public_hex
    assert verify(db).ok
    sync(db, hq_dsn, cfg, journal=till_journal(db, cfg))  # a quiet round
    assert db.execute("SELECT count(*) FROM journal WHERE kind = 'sync'").fetchone()[0] == 1


def test_a_document_hq_cannot_take_waits_flagged_and_does_not_block_the_queue(
    hq_conn, hq_dsn, till, tmp_path
):
    from pos_returns.cache import outbox
    from pos_returns.cache.db import atomic

    cfg = till_config(tmp_path, "a")
    db = till("a")
    sale, lines, _ = hq_sale(hq_conn, [("SKU-CHEM-01", 2, 7900)])
    sync(db, hq_dsn, cfg)
    with atomic(db):  # a document from a buggy version: its line has no SKU
        outbox.enqueue(db, kind="return_ticket", uuid="broken-1", payload={
            "number": 99, "staff_id": 1, "kind": "receipt", "sale_id": sale,
            "lines": [{"direction": "return", "sale_line_id": lines[0], "quantity": 1,
                       "unit_amount": 7900, "amount": -7900, "vat_rate_bp": 2000}]})
    good = commit_return(db, cfg, sale, [(lines[0], 1)])
    summary = sync(db, hq_dsn, cfg)
    assert summary.online and summary.ok == 1 and summary.errors == 1
    assert any("mal formé" in line for line in summary.french_lines())
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets WHERE uuid = %s",
                    [good.uuid]) == 1
    assert hq_count(hq_conn, "SELECT count(*) FROM return_tickets WHERE uuid = 'broken-1'") == 0
    assert sync_status(db).waiting == 1
    flagged = open_conflicts(db)
    assert [(c["ticket_uuid"], c["answer"]["result"]) for c in flagged] == [("broken-1", "error")]


def test_a_small_round_lands_whole_never_a_sale_without_its_lines(hq_conn, hq_dsn, till,
                                                                   tmp_path):
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sync(db, hq_dsn, cfg)
    demo_hq.feed_sales(hq_conn, 50, seed=5)

    def stop_after_sales(p: Progress) -> None:
        if p.table == "sale_lines":
            raise KeyboardInterrupt  # the till is switched off between two tables

    with pytest.raises(KeyboardInterrupt):
        sync(db, hq_dsn, cfg, progress=stop_after_sales)
    assert _ids(db, "sales") == [] and _ids(db, "sale_lines") == []  # all or nothing
    sync(db, hq_dsn, cfg)
    _assert_same_as_hq(db, hq_conn)
