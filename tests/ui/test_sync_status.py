"""The sync status widget: online / offline, last sync, documents waiting, and a
progress bar during a first full sync, driven by the background runner's signals."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from pos_returns.cache import outbox
from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.sync.state import Progress, SyncSummary
from ui.widgets.sync_status import SyncRunner, SyncStatusWidget, inline_executor


@pytest.fixture
def cfg(tmp_cache) -> TillConfig:
    # port 1 on the loopback: nothing listens, the connection is refused at once
    return TillConfig(cache_path=tmp_cache,
                      hq_dsn="host=127.0.0.1 port=1 user=postgres connect_timeout=1")


def _enqueue(db, n: int) -> None:
    with atomic(db):
        for i in range(n):
            outbox.enqueue(db, kind="return_ticket", uuid=f"u{i}", payload={"uuid": f"u{i}"})


def test_offline_round_shows_offline_and_the_documents_waiting(qtbot, db, cfg):
    _enqueue(db, 2)
    runner = SyncRunner(cfg)  # the real background thread and the real core
    widget = SyncStatusWidget(runner)
    qtbot.add_widget(widget)
    assert widget.state_label.text() == "Pas encore synchronisée"
    with qtbot.wait_signal(runner.status_changed, timeout=20_000):
        assert runner.run_now()
    assert widget.online is False
    assert "Hors ligne" in widget.state_label.text()
    assert widget.waiting_label.text() == "2 documents en attente"
    assert widget.last_label.text() == "Jamais synchronisée"
    assert "hors ligne" in widget.toolTip()
    assert widget.sync_button.isEnabled()


def test_first_full_sync_shows_a_progress_bar_then_online_and_last_sync(qtbot, db, cfg):
    _enqueue(db, 1)
    seen: list[int] = []

    def fake_round(database, dsn, *, store_id, till_no, progress):
        # what run_sync reports on a first full sync, then a successful round in the cache
        progress(Progress("pull", "sales", 250, 1000, full_sync=True))
        seen.append(widget.progress_bar.value())
        seen.append(int(widget.progress_bar.isVisible()))
        with atomic(database):
            database.execute("UPDATE outbox SET sent_at = '2025-06-01T08:00:00Z', result = 'ok'")
            database.execute(
                "INSERT INTO sync_runs (started_at, finished_at, online, full_sync) "
                "VALUES ('2025-06-01T08:00:00Z', '2025-06-01T08:05:00Z', 1, 1)")
        return SyncSummary(online=True, full_sync=True, pushed=1, ok=1,
                                     pulled={"sales": 1000})

    runner = SyncRunner(cfg, executor=inline_executor, sync_fn=fake_round)
    widget = SyncStatusWidget(runner)
    qtbot.add_widget(widget)
    widget.show()
    with qtbot.wait_signal(runner.finished):
        runner.run_now()
    assert seen == [250, 1]  # 25 % shown while the round ran
    bar_text = widget.progress_bar.format()
    assert bar_text.startswith("Première synchro") and "25" in bar_text
    assert "ventes" in widget.progress_bar.toolTip()
    assert not widget.progress_bar.isVisible()
    assert "En ligne" in widget.state_label.text()
    assert widget.waiting_label.text() == "0 document en attente"
    assert widget.last_label.text().startswith("Dernière synchro")
    assert "1 document envoyé" in widget.toolTip()


def test_an_incremental_round_shows_no_progress_bar(qtbot, db, cfg):
    def fake_round(database, dsn, *, store_id, till_no, progress):
        progress(Progress("pull", "sales", 5, 10, full_sync=False))
        return SyncSummary(online=True)

    runner = SyncRunner(cfg, executor=inline_executor, sync_fn=fake_round)
    widget = SyncStatusWidget(runner)
    qtbot.add_widget(widget)
    widget.show()
    with qtbot.assert_not_emitted(runner.failed), qtbot.wait_signal(runner.finished):
        runner.run_now()
    assert widget.progress_bar.value() in (-1, 0)
    assert not widget.progress_bar.isVisible()


def test_a_failing_round_is_reported_and_the_till_stays_usable(qtbot, db, cfg):
    def broken(database, dsn, **kw):
        raise RuntimeError("disk full")

    runner = SyncRunner(cfg, executor=inline_executor, sync_fn=broken)
    widget = SyncStatusWidget(runner)
    qtbot.add_widget(widget)
    with qtbot.wait_signal(runner.failed) as blocker:
        runner.run_now()
    assert blocker.args == ["disk full"]
    assert "Hors ligne" in widget.state_label.text()
    assert widget.sync_button.isEnabled() and not runner.running


def test_without_hq_the_widget_says_demo_mode_and_never_syncs(qtbot, tmp_cache):
    runner = SyncRunner(TillConfig(cache_path=tmp_cache))
    widget = SyncStatusWidget(runner)
    qtbot.add_widget(widget)
    with qtbot.assert_not_emitted(runner.started):
        assert runner.run_now() is False
    assert widget.state_label.text() == "Démo — non reliée au siège"
    assert not widget.sync_button.isEnabled()


def test_F12_syncs_now_from_the_keyboard(qtbot, db, cfg):
    def fake_round(database, dsn, **kw):
        return SyncSummary(online=True)

    runner = SyncRunner(cfg, executor=inline_executor, sync_fn=fake_round)
    widget = SyncStatusWidget(runner)
    qtbot.add_widget(widget)
    widget.show()
    widget.activateWindow()
    qtbot.wait_until(widget.isActiveWindow)
    assert "F12" in widget.sync_button.toolTip()
    with qtbot.wait_signal(runner.finished):
        qtbot.keyClick(widget, Qt.Key.Key_F12)
