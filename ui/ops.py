"""Background operations, Anki style: ``ops.op(fn, *args).success(cb).failure(cb).run()``.

``fn`` runs on ONE database worker thread that owns its own SQLite connection
(:func:`pos_returns.cache.db.connect` on the cache path); it receives that
connection as its first argument and core objects only, never widgets. Its
result (or error) comes back to the UI thread through a Qt signal, where the
``success`` / ``failure`` callbacks run.

Errors without a ``failure`` callback go to one handler (the main window shows
them in a banner, keeping what was typed). :class:`~pos_returns.errors.AlamaraError`
carries its own French message; anything else becomes a generic French message
and is logged with its traceback.

The executor is injectable: tests use :class:`InlineExecutor` (the op runs at
once, on the calling thread, with the test's connection) or the real
:class:`ThreadExecutor` and wait with ``qtbot.wait_signal`` / ``wait_until``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from pos_returns.cache import db as store
from pos_returns.errors import AlamaraError
from pos_returns.i18n import _

log = logging.getLogger(__name__)

ErrorHandler = Callable[[str, BaseException], None]


def error_message(exc: BaseException) -> str:
    """The French sentence to show for ``exc``."""
    if isinstance(exc, AlamaraError):
        return str(exc)
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
        self._worker = _Worker(connect or (lambda: store.connect(path, create=False)))
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


class OpBuilder:
    def __init__(self, ops: Ops, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._ops = ops
        self._job = Job(fn=fn, args=args)

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
        self._ops.submit(self._job)
        return self._job

    run_in_background = run


class Ops(QObject):
    """The UI's door to the database worker."""

    job_finished = Signal(object)  # every job, after its callbacks ran
    error = Signal(str)  # the French message of an error sent to the handler
    busy_changed = Signal(bool)

    def __init__(self, executor: Executor) -> None:
        super().__init__()
        self.executor = executor
        executor.finished.connect(self._deliver)
        executor.busy_changed.connect(self.busy_changed)
        self._handler: ErrorHandler | None = None
        self._ui_thread = threading.get_ident()

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        self._handler = handler

    def op(self, fn: Callable[..., Any], *args: Any) -> OpBuilder:
        return OpBuilder(self, fn, args)

    def submit(self, job: Job) -> None:
        self.executor.submit(job)

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
