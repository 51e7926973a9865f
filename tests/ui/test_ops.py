"""ui.ops: the builder, the inline and threaded executors, the one error handler."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from pos_returns.errors import NotFound
from ui.ops import InlineExecutor, Ops, ThreadExecutor, error_message


def test_inline_op_runs_at_once_and_calls_success(db):
    ops = Ops(InlineExecutor(db))
    got = []
    ops.op(lambda conn, x: (conn is db, x * 2), 21).success(got.append).run()
    assert got == [(True, 42)]


def test_errors_without_failure_go_to_the_one_handler(db):
    ops = Ops(InlineExecutor(db))
    seen = []
    ops.set_error_handler(lambda message, exc: seen.append((message, type(exc))))

    def not_found(_db):
        raise NotFound("Aucune vente avec ce numéro.")

    def crash(_db):
        raise RuntimeError("disk I/O error")

    ops.op(not_found).run()
    ops.op(crash).run()
    assert seen[0] == ("Aucune vente avec ce numéro.", NotFound)
    assert seen[1][0].startswith("Un problème technique")
    assert "disk" not in seen[1][0]


def test_sqlite_and_disk_errors_reach_the_screens_in_french(db):
    """A full disk or a corrupt cache is not a bug: the screens get a French
    AlamaraError (their failure callbacks show str(exc)), never SQLite's English."""
    import sqlite3

    from pos_returns.errors import AlamaraError

    ops = Ops(InlineExecutor(db))
    seen, failed = [], []
    ops.set_error_handler(lambda message, exc: seen.append((message, exc)))

    def full(_db):
        raise sqlite3.OperationalError("database or disk is full")

    def corrupt(_db):
        raise sqlite3.DatabaseError("database disk image is malformed")

    ops.op(full).run()
    ops.op(corrupt).failure(failed.append).run()
    assert "disque est plein" in seen[0][0] and isinstance(seen[0][1], AlamaraError)
    assert isinstance(failed[0], AlamaraError) and "abîmé" in str(failed[0])
    assert "disk" not in seen[0][0] and "malformed" not in str(failed[0])


def test_a_bug_in_a_callback_is_reported_not_raised(db):
    ops = Ops(InlineExecutor(db))
    seen = []
    ops.set_error_handler(lambda message, exc: seen.append(message))
    ops.op(lambda _db: 1).success(lambda _r: 1 / 0).run()
    assert seen == [error_message(ZeroDivisionError())]


def test_thread_executor_runs_on_its_own_thread_and_connection(qtbot, db, tmp_cache):
    ops = Ops(ThreadExecutor(tmp_cache))
    try:
        with qtbot.wait_signal(ops.job_finished, timeout=10_000) as done:
            ops.op(lambda conn: (threading.get_ident(), conn is db,
                                 conn.execute("SELECT COUNT(*) FROM stores").fetchone()[0])
                   ).run()
        job = done.args[0]
        worker, same_conn, stores = job.result
        assert worker != threading.get_ident() and not same_conn and stores == 2
        # Jobs run in order on the one worker.
        order = []
        for n in range(5):
            ops.op(lambda _c, n=n: n).success(order.append).run()
        qtbot.wait_until(lambda: len(order) == 5, timeout=10_000)
        assert order == [0, 1, 2, 3, 4]
    finally:
        ops.shutdown()


def test_missing_cache_is_an_error_in_french_not_a_crash(qtbot, tmp_path):
    ops = Ops(ThreadExecutor(tmp_path / "nope.sqlite"))
    try:
        with qtbot.wait_signal(ops.error, timeout=10_000) as err:
            ops.op(lambda conn: 1).run()
        assert "n’existe pas" in err.args[0]
    finally:
        ops.shutdown()


class _Emitter(QObject):
    fired = Signal(object)


@pytest.mark.parametrize("n", [200])  # small: the broken build would abort, not fail
def test_qt_bindings_keep_their_references(qapp, n):
    """Guards against PySide6-Essentials 6.12.0, whose bindings drop a reference to
    True at every Python signal emit and to None at every void call: the till
    aborts after a few hundred operations (see pyproject.toml)."""
    emitter = _Emitter()
    emitter.fired.connect(lambda _x: None)
    lab = QLabel()
    before = (sys.getrefcount(True), sys.getrefcount(None))
    for i in range(n):
        emitter.fired.emit(i)
        lab.setText("x")
    after = (sys.getrefcount(True), sys.getrefcount(None))
    assert before[0] - after[0] < 20 and before[1] - after[1] < 20


# -- the two workers --------------------------------------------------------------------


class _SilentHQ:
    """A TCP server on the loopback that accepts and never answers: HQ hanging."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)  # held open, never a byte back

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_a_lookup_answers_while_hq_hangs_and_the_printer_blocks(qtbot, db, till_cfg, tmp_path,
                                                                monkeypatch):
    """HQ's check and printing run on the I/O pool: a receipt lookup on the database
    worker comes back while both are still stuck (and each fails at its deadline)."""
    from dataclasses import replace

    from pos_returns.engine.plan import LineRequest, ReturnRequest
    from pos_returns.usecases.planning import plan_return
    from pos_returns.usecases.returns import ask_hq, prepare_return
    from pos_returns.usecases.tickets import commit_plan
    from pos_returns.usecases.till import (
        deliver_ticket_print,
        find_sale_by_code,
        prepare_ticket_print,
    )
    from tests.helpers import L, T, add_sale
    from tests.helpers.ui import receipt_of
    from ui.ops import IoTimeout

    # A printer queue whose `lp` never returns (a stuck CUPS).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lp").write_text("#!/bin/sh\nsleep 30\n")
    (bin_dir / "lp").chmod(0o755)
    from pos_returns.documents import printing

    monkeypatch.setattr(printing, "LP_TIMEOUT_SECONDS", 4)  # the stuck thread ends soon after
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    hq = _SilentHQ()
    cfg = replace(till_cfg, printer_queue="stuck",
                  hq_dsn=f"host=127.0.0.1 port={hq.port} dbname=hq user=x connect_timeout=5")
    try:
        sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")])
        other = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
        line_id = db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                             [sale_id]).fetchone()[0]
        request = ReturnRequest(
            store_id=1, till_no=1, staff_id=1, sale_id=sale_id, presented_card_last4="4242",
            lines=(LineRequest(quantity=1, sale_line_id=line_id, reason="size"),),
        )
        prepared = prepare_return(db, cfg, request)
        assert prepared.ask_hq
        ticket = commit_plan(db, cfg, plan_return(db, cfg, request))
        job = prepare_ticket_print(db, cfg, ticket)

        ops = Ops(ThreadExecutor(cfg.cache_path))
        events: list[str] = []
        def note(what):
            return lambda result: events.append(
                f"{what}:{type(result).__name__}" if isinstance(result, BaseException) else what)

        ops.io(ask_hq, cfg, prepared, timeout=1.5).success(note("hq")).failure(note("hq")).run()
        ops.io(deliver_ticket_print, cfg, job, True, timeout=2.0).success(note("print")).failure(
            note("print")).run()
        found = []
        ops.op(find_sale_by_code, receipt_of(db, other).barcode_content).success(
            lambda sale: (found.append(sale.id), events.append("lookup"))).run()
        qtbot.wait_until(lambda: len(events) == 3, timeout=10_000)
        assert found == [other]
        assert events[0] == "lookup"  # the lookup did not wait for HQ nor for the printer
        assert sorted(events[1:]) == ["hq:IoTimeout", "print:IoTimeout"]
        assert IoTimeout.__name__ in events[1]
        ops.shutdown()
    finally:
        hq.close()
