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
