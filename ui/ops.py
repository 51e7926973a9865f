"""Background operations, Anki style: ``ops.op(fn, *args).success(cb).failure(cb).run()``.

Two workers:

* ``ops.op(fn, *args)``: ``fn`` runs on ONE database worker thread that owns its
  own SQLite connection (opened on the cache path); it receives that connection
  as its first argument and core objects only, never widgets. Its result (or
  error) comes back to the UI thread through a Qt signal, where the
``success`` / ``failure`` callbacks run.

Errors without a ``failure`` callback go to one handler (the main window shows
them in a banner, keeping what was typed). :class:`~pos_returns.errors.AlamaraError`
carries its own French message; anything else becomes a generic French message
and is logged with its traceback.

* ``ops.io(fn, *args, timeout=s)``: ``fn`` runs on the I/O pool (a few threads, no
  database connection): HQ checks, printing, PDF rendering, e-mail, the payment
  terminal. Each call has a deadline: past ``timeout`` seconds its failure
  callback gets :class:`IoTimeout` (a French message) and a late answer is dropped.
  So a lookup on the database worker never waits behind a slow HQ or a stuck printer.

The executor is injectable: tests use :class:`InlineExecutor` (the op runs at
once, on the calling thread, with the test's connection) or the real
:class:`ThreadExecutor` and wait with ``qtbot.wait_signal`` / ``wait_until``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from pos_returns.errors import AlamaraError
from pos_returns.i18n import _
from pos_returns.usecases.support import french_error
from pos_returns.usecases.till import open_worker_cache

from .format import staff_text

log = logging.getLogger(__name__)

ErrorHandler = Callable[[str, BaseException], None]


def error_message(exc: BaseException) -> str:
    """The French sentence to show for ``exc``."""
    if isinstance(exc, AlamaraError):
        return staff_text(str(exc))  # the rule ids are for the review and the logs
    known = french_error(exc)  # SQLite, disk, HQ: said in French too
    if known is not None:
        return str(known)
    return _(
        "Something went wrong in the till (technical error). Nothing was saved; "
        "try again, and call support if it happens again."
    )


@dataclass
class Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    on_success: Callable[[Any], None] | None = None
    on_failure: Callable[[BaseException], None] | None = None
    label: str = ""
    timeout: float = 0.0  # I/O jobs: seconds before IoTimeout (0: none)
    result: Any = None
    error: BaseException | None = None
    done: bool = field(default=False)


class _Worker(QObject):
    """Lives on the worker thread; opens its connection lazily, runs jobs in order."""

    finished = Signal(object)

    def __init__(self, connect: Callable[[], Any]) -> None:
        super().__init__()
        self._connect = connect
        self._db: Any = None

    @Slot(object)
    def run(self, job: Job) -> None:
        try:
            if self._db is None:
                self._db = self._connect()
            job.result = job.fn(self._db, *job.args)
        except BaseException as exc:
            job.error = exc
        job.done = True
        self.finished.emit(job)

    @Slot()
    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            finally:
                self._db = None


class Executor(QObject):
    """Runs jobs and emits ``finished(job)`` on the UI thread."""

    finished = Signal(object)
    busy_changed = Signal(bool)

    def submit(self, job: Job) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def shutdown(self) -> None:
        pass


class InlineExecutor(Executor):
    """Runs each job at once on the calling thread with a given connection (tests)."""

    def __init__(self, db: Any) -> None:
        super().__init__()
        self.db = db

    def submit(self, job: Job) -> None:
        try:
            job.result = job.fn(self.db, *job.args)
        except BaseException as exc:
            job.error = exc
        job.done = True
        self.finished.emit(job)


class ThreadExecutor(Executor):
    """One QThread, one connection, jobs in submission order."""

    _dispatch = Signal(object)
    _close = Signal()

    def __init__(self, db_path: Path | str, *, connect: Callable[[], Any] | None = None) -> None:
        super().__init__()

        path = Path(db_path)
        self._thread = QThread()
        self._thread.setObjectName("alamara-db-worker")
        self._worker = _Worker(connect or (lambda: open_worker_cache(path)))
        self._worker.moveToThread(self._thread)
        self._dispatch.connect(self._worker.run)
        self._close.connect(self._worker.close)
        self._worker.finished.connect(self._on_finished)
        self._pending = 0
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        self._dispatch.emit(job)

    @Slot(object)
    def _on_finished(self, job: Job) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.busy_changed.emit(False)
        self.finished.emit(job)

    @property
    def pending(self) -> int:
        return self._pending

    def shutdown(self) -> None:
        if self._thread.isRunning():
            self._close.emit()
            self._thread.quit()
            self._thread.wait(5000)


class IoTimeout(AlamaraError):
    """An I/O call (HQ, printer, terminal, e-mail) did not answer within its deadline."""

    def __init__(self, label: str, seconds: float) -> None:
        what = label or _("The device or HQ")
        super().__init__(
            _("{what} did not answer within {seconds} seconds.").format(
                what=what, seconds=f"{seconds:g}"),
            code="io_timeout",
        )


class IoExecutor(QObject):
    """The I/O pool: jobs run on a few threads without a database connection, each
    with a deadline; results come back to the UI thread through ``finished``."""

    finished = Signal(object)
    _done = Signal(object)

    def __init__(self, *, threads: int = 4) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alamara-io")
        self._done.connect(self._on_done)  # emitted from a pool thread: queued to the UI
        self._timers: dict[int, QTimer] = {}

    def submit(self, job: Job) -> None:
        if job.timeout:
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda j=job: self._expire(j))
            timer.start(int(job.timeout * 1000))
            self._timers[id(job)] = timer
        self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        try:
            result = job.fn(*job.args)
            job.result = result
        except BaseException as exc:
            job.error = exc
        self._done.emit(job)

    @Slot(object)
    def _on_done(self, job: Job) -> None:
        timer = self._timers.pop(id(job), None)
        if timer is not None:
            timer.stop()
            timer.deleteLater()
        if job.done:  # the deadline passed first: the late answer is dropped
            log.warning("late answer of an I/O call dropped: %s", job.label or job.fn)
            return
        job.done = True
        self.finished.emit(job)

    def _expire(self, job: Job) -> None:
        self._timers.pop(id(job), None)
        if job.done:
            return
        job.done = True
        job.result = None
        job.error = IoTimeout(job.label, job.timeout)
        self.finished.emit(job)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class InlineIoExecutor(IoExecutor):
    """Runs each I/O job at once on the calling thread (tests with InlineExecutor)."""

    def __init__(self) -> None:
        QObject.__init__(self)

    def submit(self, job: Job) -> None:
        try:
            job.result = job.fn(*job.args)
        except BaseException as exc:
            job.error = exc
        job.done = True
        self.finished.emit(job)

    def shutdown(self) -> None:
        pass


class OpBuilder:
    def __init__(self, ops: Ops, fn: Callable[..., Any], args: tuple[Any, ...],
                 *, io: bool = False, timeout: float = 0.0) -> None:
        self._ops = ops
        self._io = io
        self._job = Job(fn=fn, args=args, timeout=timeout)

    def success(self, cb: Callable[[Any], None]) -> OpBuilder:
        self._job.on_success = cb
        return self

    def failure(self, cb: Callable[[BaseException], None]) -> OpBuilder:
        self._job.on_failure = cb
        return self

    def label(self, text: str) -> OpBuilder:
        self._job.label = text
        return self

    def run(self) -> Job:
        if self._io:
            self._ops.submit_io(self._job)
        else:
            self._ops.submit(self._job)
        return self._job

    run_in_background = run


class Ops(QObject):
    """The UI's door to the database worker."""

    job_finished = Signal(object)  # every job, after its callbacks ran
    error = Signal(str)  # the French message of an error sent to the handler
    busy_changed = Signal(bool)

    DEFAULT_IO_TIMEOUT = 30.0

    def __init__(self, executor: Executor, io_executor: IoExecutor | None = None) -> None:
        super().__init__()
        self.executor = executor
        if io_executor is None:
            inline = isinstance(executor, InlineExecutor)
            io_executor = InlineIoExecutor() if inline else IoExecutor()
        self.io_executor = io_executor
        executor.finished.connect(self._deliver)
        io_executor.finished.connect(self._deliver)
        executor.busy_changed.connect(self.busy_changed)
        self._handler: ErrorHandler | None = None
        self._ui_thread = threading.get_ident()

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        self._handler = handler

    def op(self, fn: Callable[..., Any], *args: Any) -> OpBuilder:
        return OpBuilder(self, fn, args)

    def io(self, fn: Callable[..., Any], *args: Any,
           timeout: float = DEFAULT_IO_TIMEOUT) -> OpBuilder:
        """``fn(*args)`` on the I/O pool (no database connection), with a deadline."""
        return OpBuilder(self, fn, args, io=True, timeout=timeout)

    def submit(self, job: Job) -> None:
        self.executor.submit(job)

    def submit_io(self, job: Job) -> None:
        self.io_executor.submit(job)

    def report(self, exc: BaseException) -> None:
        """Send an error to the one handler (logging unexpected ones)."""
        message = error_message(exc)
        if not isinstance(exc, AlamaraError):
            log.error("unexpected error in a till operation", exc_info=exc)
        if self._handler is not None:
            self._handler(message, exc)
        self.error.emit(message)

    @Slot(object)
    def _deliver(self, job: Job) -> None:
        try:
            if job.error is not None and not isinstance(job.error, AlamaraError):
                known = french_error(job.error)  # a full disk, a corrupt cache, HQ…
                if known is not None:
                    log.warning("%s: %s", type(job.error).__name__, job.error)
                    job.error = known
            if job.error is not None:
                if job.on_failure is not None:
                    if not isinstance(job.error, AlamaraError):
                        log.error("unexpected error in a till operation", exc_info=job.error)
                    job.on_failure(job.error)
                else:
                    self.report(job.error)
            elif job.on_success is not None:
                job.on_success(job.result)
        except Exception as exc:
            self.report(exc)
        self.job_finished.emit(job)

    def shutdown(self) -> None:
        self.executor.shutdown()
        self.io_executor.shutdown()
