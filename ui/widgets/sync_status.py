"""HQ sync in the background, and its state in the header.

:class:`SyncRunner` runs :func:`pos_returns.sync.round.run_sync` off the UI thread
(every ``interval_s`` seconds and on demand) on its own SQLite connection, and
reports through signals; :class:`SyncStatusWidget` shows online / offline, the
last sync, the documents waiting and, during a first full sync, a progress bar.
The widget decides nothing: it renders what the core's sync returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from pos_returns.config import TillConfig
from pos_returns.i18n import _, format_datetime, ngettext
from pos_returns.usecases.hq_link import (
    PIN_EXCHANGE_SECONDS,
    Progress,
    SyncSummary,
    exchange_pin_events,
    read_sync_status,
    sync_round,
    table_label,
)
from pos_returns.usecases.hq_link import SyncStatus as CoreSyncStatus

from .common import shortcut_text

log = logging.getLogger(__name__)

Executor = Callable[[Callable[[], None]], None]


def thread_executor(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="hq-sync", daemon=True).start()


def inline_executor(fn: Callable[[], None]) -> None:
    """Runs the round on the calling thread (tests)."""
    fn()


class SyncRunner(QObject):
    """One sync round at a time, in the background; results come back as signals."""

    started = Signal()
    progress = Signal(object)  # pos_returns.sync.state.Progress
    finished = Signal(object)  # pos_returns.sync.state.SyncSummary
    status_changed = Signal(object)  # pos_returns.sync.status.SyncStatus
    failed = Signal(str)

    def __init__(
        self,
        cfg: TillConfig,
        *,
        executor: Executor = thread_executor,
        sync_fn: Callable[..., SyncSummary] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.cfg = cfg
        self.executor = executor
        self.sync_fn = sync_fn  # None: the real round
        self._busy = threading.Lock()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.run_now)
        # wrong PINs to HQ and the chain's counts back, between rounds (issue 12)
        self._pins_busy = threading.Lock()
        self.pin_timer = QTimer(self)
        self.pin_timer.timeout.connect(self.exchange_pins_now)

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.hq_dsn)

    @property
    def running(self) -> bool:
        return self._busy.locked()

    def start(self, interval_s: int = 60) -> None:
        """Sync now, then every ``interval_s`` seconds (nothing without an HQ)."""
        if not self.enabled:
            return
        self.timer.start(interval_s * 1000)
        self.pin_timer.start(PIN_EXCHANGE_SECONDS * 1000)
        self.run_now()

    def stop(self) -> None:
        self.timer.stop()
        self.pin_timer.stop()

    @Slot()
    def exchange_pins_now(self) -> bool:
        """The short PIN exchange, unless it or a round is running (a round does it).
        A replaced round (``sync_fn``: tests, screenshots) has no exchange either."""
        if not self.enabled or self.sync_fn is not None or self.running \
                or not self._pins_busy.acquire(blocking=False):
            return False
        self.executor(self._exchange_pins)
        return True

    def _exchange_pins(self) -> None:
        try:
            exchange_pin_events(self.cfg)
        except Exception:  # HQ away: the events wait in the outbox for the next round
            log.info("PIN exchange with HQ failed", exc_info=True)
        finally:
            self._pins_busy.release()

    @Slot()
    def run_now(self) -> bool:
        """Start a round unless one is running; False when none was started."""
        if not self.enabled or not self._busy.acquire(blocking=False):
            return False
        self.started.emit()
        self.executor(self._round)
        return True

    def _round(self) -> None:
        try:
            summary, status = sync_round(self.cfg, progress=self.progress.emit,
                                         sync_fn=self.sync_fn)
        except Exception as exc:  # shown in the widget; the till goes on offline
            log.exception("sync round failed")
            self._busy.release()
            self.failed.emit(str(exc) or exc.__class__.__name__)
            return
        self._busy.release()
        self.finished.emit(summary)
        self.status_changed.emit(status)

    def read_status(self) -> CoreSyncStatus | None:
        """The cache's sync state now (small queries; the UI calls it once at start)."""
        return read_sync_status(self.cfg)


def _local_time(iso: str) -> str:
    try:
        return format_datetime(iso, fmt="short")
    except (ValueError, TypeError):
        return iso


class SyncStatusWidget(QWidget):
    """● En ligne · Dernière synchro : … · 2 documents en attente [progress] [⟳]."""

    def __init__(self, services_or_runner: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if isinstance(services_or_runner, SyncRunner):
            self.runner = services_or_runner
        else:
            cfg = getattr(services_or_runner, "cfg", services_or_runner)
            self.runner = SyncRunner(cfg, parent=self)
            # built by the app from its services: sync in the background from now on
            QTimer.singleShot(0, self.runner.start)
        self.setObjectName("syncStatus")
        self._build_labels()
        self._build_sync_button()
        self._build_layout()
        self._connect_signals()
        self.online: bool | None = None
        self._show_initial_state()

    def _build_labels(self) -> None:
        self.state_label = QLabel(self)
        self.state_label.setObjectName("syncState")
        self.last_label = QLabel(self)
        self.waiting_label = QLabel(self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()

    def _build_sync_button(self) -> None:
        self.sync_button = QToolButton(self)
        self.sync_button.setText("⟳")
        self.sync_button.setShortcut(QKeySequence("F12"))
        self.sync_button.setToolTip(
            "{} ({})".format(_("Sync with HQ now"), shortcut_text("F12")))
        self.sync_button.setAccessibleName(_("Sync with HQ now"))
        self.sync_button.clicked.connect(self.runner.run_now)

    def _build_layout(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.state_label, self.last_label, self.waiting_label, self.progress_bar,
                  self.sync_button):
            row.addWidget(w, 0, Qt.AlignmentFlag.AlignVCenter)

    def _connect_signals(self) -> None:
        self.runner.started.connect(self._on_started)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.status_changed.connect(self.show_status)
        self.runner.failed.connect(self._on_failed)

    def _show_initial_state(self) -> None:
        if not self.runner.enabled:
            self.state_label.setText(_("No HQ (demo mode)"))
            self.sync_button.setEnabled(False)
        else:
            status = self.runner.read_status()
            if status is not None:
                self.show_status(status)
            else:
                self.state_label.setText(_("Not synced yet"))

    # -- rendering ----------------------------------------------------------------
    @Slot(object)
    def show_status(self, status: CoreSyncStatus) -> None:
        self.online = status.online
        if status.online is None:
            self.state_label.setText(_("Not synced yet"))
        elif status.online:
            self.state_label.setText("● " + _("Online"))
        else:
            self.state_label.setText("○ " + _("Offline"))
        self.state_label.setProperty("online", bool(status.online))
        if status.last_sync_at:
            self.last_label.setText(
                _("Last sync: {when}").format(when=_local_time(status.last_sync_at))
            )
        else:
            self.last_label.setText(_("Never synced"))
        text = ngettext(
            "{n} document waiting", "{n} documents waiting", status.waiting
        ).format(n=status.waiting)
        if status.conflicts_open:
            text += " · " + ngettext(
                "{n} conflict to review", "{n} conflicts to review", status.conflicts_open
            ).format(n=status.conflicts_open)
        self.waiting_label.setText(text)

    @Slot()
    def _on_started(self) -> None:
        self.sync_button.setEnabled(False)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if not p.full_sync or p.phase != "pull":
            return
        self.progress_bar.show()
        self.progress_bar.setValue(int(p.fraction * 1000))
        percent = int(p.fraction * 100)
        self.progress_bar.setFormat(_("First sync: {percent} %").format(percent=percent))
        self.progress_bar.setToolTip(
            _("First sync: {table} {percent} %").format(
                table=table_label(p.table), percent=percent
            )
        )

    @Slot(object)
    def _on_finished(self, summary: SyncSummary) -> None:
        self.progress_bar.hide()
        self.sync_button.setEnabled(True)
        tip = "\n".join(summary.french_lines())
        self.setToolTip(tip)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.progress_bar.hide()
        self.sync_button.setEnabled(True)
        self.online = False
        self.state_label.setText("○ " + _("Offline"))
        self.setToolTip(_("Sync failed: {error}").format(error=message))


SyncStatus = SyncStatusWidget  # the name the header looks for first
