"""Bench: the salesperson's path and the till's own speed, with the real widgets offscreen.

    python bench/ui.py [--part all|path|speed] [--demo-sales 20000]
                       [--sales 1000000] [--seed 1] [--dir DIR] [--reuse] [--scans 300]

The salesperson's path (``--part path``, issue 16), on a demo cache like the one
``make run`` builds, through the real window and its two real workers:

- the user's actions of each scenario, driven with real key events sent to whatever
  has the focus, from the receipt scan to the till ready for the next customer (the
  next scenario starts with its own scan on the done screen, with no key in between).
  Counted as one action: a scan (a burst + Enter), a key press (a digit, F10, Ctrl+2),
  a value typed into a field with its Enter (the card's last 4 digits, an ID number,
  a name, the manager's code, the manager's PIN). Targets: one-line card return <= 5;
  two lines with different reasons <= 8; even exchange <= 7; no-receipt return with
  an ID <= 14 (the manager's PIN is one);
- receipt lookup p99 while HQ answers after 5 s and the printer blocks <= 100 ms:
  two jobs that sleep 5 s hold the I/O pool (``ops.io``, resubmitted as they end)
  while receipts are scanned and opened on the database worker (``ops.op``).

The till's own speed (``--part speed``, issue 4) on the big cache; targets:
- scan to sale displayed <= 100 ms (p99): from the Enter of a scanner burst on the
  lookup screen to the sale screen painted with its lines, through the real database
  worker thread and its own connection;
- cold start to the login screen <= 1.5 s: a new Python process that imports the
  app, opens the cache as ``pos-returns run`` does, builds the QApplication
  (translations, style), the main window and the worker, and paints the login
  screen with the store's name in the header (the worst of three starts is
  compared with the target).

The cache is the one ``bench/lookup.py`` builds (``DIR/bench-N.sqlite``); with
``--reuse`` an existing one with the same number of sales is used as is. Receipts
are real ones picked at random (seeded). Each figure is printed beside its target;
exit code 1 on a miss.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_BENCH = str(Path(__file__).resolve().parent)
sys.path.insert(0, _BENCH)

import lookup as lookup_bench  # noqa: E402 - builds the 1,000,000-sale cache
from common import ROOT, Report, cache_parser, percentile, print_load  # noqa: E402

# This file is bench/ui.py: take bench/ off the path so that "ui" is the app's package.
sys.path.remove(_BENCH)
sys.path.insert(0, str(ROOT))


class _Quiet(Report):
    """The cache builder's own figures belong to bench/lookup.py: shown, not judged."""

    def at_least(self, name, value, target, unit, *, digits=0):  # type: ignore[override]
        self.info(f"({name}, see bench/lookup.py)", value, unit, digits=digits)
        return True

SCAN_P99_MS = 100.0
COLD_START_S = 1.5
LOOKUP_UNDER_LOAD_P99_MS = 100.0
ACTION_TARGETS = {
    "one-line card return": 5,
    "two lines, different reasons": 8,
    "even exchange": 7,
    "no-receipt return with ID": 14,
}

_CHILD = r"""
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from pos_returns.config import TillConfig
from pos_returns.cache.db import open_cache
from ui.app import build_window, create_application, process_events
open_cache(Path(sys.argv[1])).close()  # as `pos-returns run` does (pending migrations)
cfg = TillConfig(store_id=1, till_no=1, cache_path=Path(sys.argv[1]),
                 documents_dir=Path(sys.argv[2]), idle_lock_seconds=0,
                 key_path=Path(sys.argv[1]).parent / "ui-keys" / "journal.pem")
app = create_application(cfg, ["bench"])
window = build_window(cfg)
window.resize(1366, 860)
window.show()
deadline = time.perf_counter() + 30
while window.header.store_label.text() in ("", "Magasin inconnu", "Unknown store") \
        and time.perf_counter() < deadline:
    process_events()
window.repaint()
process_events()
print("READY", window.current, window.header.store_label.text(), time.perf_counter() - t0,
      flush=True)
window.close()
"""


def cold_start(path: Path, runs: int = 3) -> list[float]:
    """Seconds from process launch to the login screen painted, for ``runs`` starts."""
    out = []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as docs:
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), docs],
                                    stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            elapsed = time.perf_counter() - t0
            proc.wait(timeout=60)
            if not line.startswith("READY login"):
                raise SystemExit(f"the till did not reach its login screen: {line!r}")
            out.append(elapsed)
    return out


def scan_to_sale(path: Path, scans: int, seed: int) -> tuple[list[float], int]:
    """Milliseconds from Enter to the sale screen painted, per scanned receipt."""
    from pos_returns.cache import db as store
    from pos_returns.cache.lookup import get_sale
    from pos_returns.config import TillConfig
    from pos_returns.engine.codes import parse_receipt
    from ui.app import build_window, create_application, process_events

    db = store.connect(path, create=False)
    max_id = db.conn.execute("SELECT MAX(id) FROM sales").fetchone()[0]
    rng = random.Random(seed)
    codes: list[tuple[str, int]] = []
    while len(codes) < scans:
        sale_id = rng.randint(1, max_id)
        row = db.conn.execute("SELECT receipt_number FROM sales WHERE id = ?",
                              [sale_id]).fetchone()
        if row and row[0]:
            codes.append((parse_receipt(row[0]).barcode_content, sale_id))
    staff = db.conn.execute(
        "SELECT code FROM staff WHERE store_id = 1 AND role = 'salesperson' ORDER BY id LIMIT 1"
    ).fetchone()[0]
    lines = sum(len(get_sale(db, s).lines) for _c, s in codes[:50]) / 50
    db.close()

    with tempfile.TemporaryDirectory() as docs:
        cfg = TillConfig(store_id=1, till_no=1, cache_path=path, documents_dir=Path(docs),
                         idle_lock_seconds=0, key_path=bench_keys(path))
        _app = create_application(cfg, ["bench"])  # kept alive for the run
        window = build_window(cfg)
        window.resize(1366, 860)
        window.show()

        def wait(cond, what: str) -> None:
            deadline = time.perf_counter() + 30
            while not cond():
                process_events()
                if time.perf_counter() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")

        window.login.code.setText(staff)
        window.login.pin.setText("1111")  # the demo salespeople's PIN
        window.login.submit()
        wait(lambda: window.current == "lookup", "the login")
        timings: list[float] = []
        for n, (code, sale_id) in enumerate(codes):
            window.lookup.scan.setText(code)  # the burst itself is the scanner's time
            t0 = time.perf_counter()
            window.lookup.submit_code()
            wait(lambda sid=sale_id: window.current == "sale" and window.sale.sale is not None
                 and window.sale.sale.id == sid, "the sale screen")
            window.repaint()  # painted, not only laid out
            process_events()
            elapsed = (time.perf_counter() - t0) * 1000
            if n >= 5:  # a short warm-up, as on a till open for a while
                timings.append(elapsed)
            window.back_to_lookup_fresh()
            process_events()
        window.close()
        window.services.ops.shutdown()
    return timings, round(lines, 1)


def bench_keys(path: Path) -> Path:
    """The bench till's keys, in a folder of its own beside its cache (one key folder is
    one till's: never the machine's own till keys, nor bench/commit.py's till)."""
    return path.parent / "ui-keys" / "journal.pem"


def ensure_cache(args: argparse.Namespace, report: Report) -> Path:
    from pos_returns.cache.db import atomic, connect
    from pos_returns.demo.chain import demo_pepper, reseal_demo_staff

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"bench-{args.sales}.sqlite"
    if not (args.reuse and path.exists()):
        lookup_bench.build(path, args.sales, args.seed, args.reuse, _Quiet())
    db = connect(path, create=False)
    try:  # a demo chain: its staff under the bench till's pepper (the bench logs in)
        with atomic(db):
            reseal_demo_staff(db, demo_pepper(bench_keys(path)))
    finally:
        db.close()
    return path


class Driver:
    """Real key events to whatever has the focus; counts the user's actions."""

    def __init__(self, window) -> None:
        self.window = window
        self.actions = 0

    def _target(self):
        from PySide6.QtWidgets import QApplication

        from ui.app import process_events

        modal = QApplication.activeModalWidget()
        if modal is not None:
            # a dialog that just opened (or came back on top) gets the keyboard first
            deadline = time.perf_counter() + 2
            while not modal.isActiveWindow() and time.perf_counter() < deadline:
                modal.activateWindow()
                process_events()
            focus = QApplication.focusWidget()
            return focus if focus is not None and focus.window() is modal else (
                modal.focusWidget() or modal)
        deadline = time.perf_counter() + 2
        while not self.window.isActiveWindow() and time.perf_counter() < deadline:
            self.window.activateWindow()
            process_events()
        return QApplication.focusWidget() or self.window

    def _click(self, key, modifier=None, text: str = "") -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        from ui.app import process_events

        modifier = modifier if modifier is not None else Qt.KeyboardModifier.NoModifier
        if text:
            QTest.keyClicks(self._target(), text)
        else:
            QTest.keyClick(self._target(), key, modifier)
        process_events()

    def key(self, key, modifier=None) -> None:
        """One key press (a digit, F10, Ctrl+2...): one action."""
        self.actions += 1
        self._click(key, modifier)

    def entry(self, text: str, *, enter: bool = True) -> None:
        """A value typed into the focused field (+ Enter), or a scanner burst: one action."""
        from PySide6.QtCore import Qt

        self.actions += 1
        for char in text:  # char by char: each goes where the focus is now
            self._click(None, text=char)
        if enter:
            self._click(Qt.Key.Key_Return)

    scan = entry

    def wait(self, cond, what: str, seconds: float = 30) -> None:
        from ui.app import process_events

        deadline = time.perf_counter() + seconds
        while not cond():
            process_events()
            if time.perf_counter() > deadline:
                from ui.widgets.common import Banner

                said = [b.text() for b in self.window.findChildren(Banner) if b.isVisible()]
                card = self.window.refund.card_field.text()
                sale = self.window.sale.sale.id if self.window.sale.sale else None
                raise SystemExit(f"timed out waiting for {what} (screen "
                                 f"{self.window.current}; sale {sale}; card typed {card!r}; "
                                 f"actions so far {self.actions}; new items "
                                 f"{len(self.window.sale.new_items)}; exchange field "
                                 f"{self.window.sale.exchange_scan.text()!r}; messages: {said})")


def _demo_cache(folder: Path, sales: int, seed: int) -> Path:
    from pos_returns.config import TillConfig
    from pos_returns.demo import chain as demo
    from pos_returns.usecases.auth import pepper_of
    from pos_returns.usecases.till import open_or_create_cache

    path = folder / "demo.sqlite"
    db = open_or_create_cache(path)
    # the staff's PINs under the pepper of the till's keys (the path part logs in)
    pepper = pepper_of(TillConfig(key_path=folder / "keys" / "journal.pem"))
    demo.build_demo(db, sales=sales, seed=seed, pepper=pepper)
    db.close()
    return path


_PLAIN = ("(SELECT COUNT(*) FROM sale_lines l JOIN products p ON p.sku = l.sku "
          "WHERE l.sale_id = s.id AND (p.gift_card = 1 OR p.fine_jewelry = 1 "
          "OR p.return_tag_required = 1 OR l.quantity > 9)) = 0")
_UNTOUCHED = ("NOT EXISTS (SELECT 1 FROM return_lines r JOIN sale_lines l ON l.id = "
              "r.sale_line_id WHERE l.sale_id = s.id)")
_ONE_CARD = ("(SELECT COUNT(*) FROM tenders t WHERE t.sale_id = s.id) = 1 AND EXISTS "
             "(SELECT 1 FROM tenders t WHERE t.sale_id = s.id AND t.kind = 'card')")


def _pick_sales(db, n_lines: int, extra: str = "", limit: int = 1) -> list[int]:
    rows = db.conn.execute(
        "SELECT s.id FROM sales s WHERE s.store_id = 1 AND s.channel = 'store' "
        "AND s.gift_receipt = 0 AND s.receipt_number != '' AND "
        f"(SELECT COUNT(*) FROM sale_lines l WHERE l.sale_id = s.id) = {n_lines} AND "
        f"{_PLAIN} AND {_UNTOUCHED} {extra} ORDER BY s.sold_at DESC LIMIT {limit}").fetchall()
    return [int(r[0]) for r in rows]


def salesperson_path(path: Path, report: Report) -> None:
    """Each scenario from the receipt scan to the till ready for the next customer."""
    from PySide6.QtCore import Qt

    from pos_returns.cache import db as store
    from pos_returns.cache.lookup import get_sale
    from pos_returns.config import TillConfig
    from ui.app import build_window, create_application

    F = Qt.Key
    db = store.connect(path, create=False)
    [one_line] = _pick_sales(db, 1, f"AND {_ONE_CARD}")
    [two_lines] = _pick_sales(db, 2, f"AND {_ONE_CARD} AND (SELECT COUNT(DISTINCT sku) FROM "
                                     "sale_lines l WHERE l.sale_id = s.id) = 2")
    # an even exchange: the same article (another size) at the price it was paid
    [even] = _pick_sales(db, 1, "AND (SELECT p.current_price = l.unit_price FROM sale_lines l "
                                "JOIN products p ON p.sku = l.sku WHERE l.sale_id = s.id)",
                         limit=1) or [None]
    sales = {sid: get_sale(db, sid) for sid in (one_line, two_lines, even) if sid}
    ean_even = db.conn.execute("SELECT p.ean FROM sale_lines l JOIN products p ON "
                               "p.sku = l.sku WHERE l.sale_id = ?", [even]).fetchone()[0]
    no_receipt_ean = db.conn.execute(
        "SELECT ean FROM products WHERE gift_card = 0 AND fine_jewelry = 0 AND "
        "return_tag_required = 0 AND current_price BETWEEN 2000 AND 9000 ORDER BY sku "
        "LIMIT 1").fetchone()[0]
    db.close()
    card_of = {sid: next(t.card_last4 for t in s.tenders if t.card_last4)
               for sid, s in sales.items() if any(t.card_last4 for t in s.tenders)}

    # The store's payment terminal: the Caisse-AP simulator (it approves every card
    # operation at once), as a till with its terminal: F10 sends the amount, no key more.
    from pos_returns.devices.tpe_simulator import TerminalSimulator

    terminal = TerminalSimulator(log=lambda _m: None).start()
    # (a ticket may still be written by the I/O pool when the folder goes)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as docs:
        cfg = TillConfig(store_id=1, till_no=1, cache_path=path, documents_dir=Path(docs),
                         key_path=path.parent / "keys" / "journal.pem", idle_lock_seconds=0,
                         terminal_host=terminal.host, terminal_port=terminal.port)
        _app = create_application(cfg, ["bench"])  # kept alive for the run
        window = build_window(cfg)
        window.resize(1366, 768)
        window.show()
        window.activateWindow()
        d = Driver(window)
        d.wait(lambda: window.current == "login", "the login screen")
        d.wait(lambda: window.login.code.hasFocus() or window.activateWindow(), "the code")
        d.entry("V001")
        d.wait(window.login.pin.hasFocus, "the PIN field")
        d.entry("1111")
        d.wait(lambda: window.current == "lookup", "the login")

        def on(screen: str) -> None:
            d.wait(lambda: window.current == screen, f"the {screen} screen")

        def settled() -> None:
            d.wait(lambda: window.sale.is_settled() and window.refund.is_settled(),
                   "the engine's answer")

        def receipt(sale_id: int) -> str:
            return sales[sale_id].receipt_number

        def done_and_ready() -> None:
            on("done")
            d.wait(lambda: window.done.print_count >= 0 and window.done.ticket is not None,
                   "the ticket")

        counts: dict[str, int] = {}
        # 1. one line, back to the card: scan, reason, F10, card, F10
        d.actions = 0
        d.scan(receipt(one_line))
        on("sale")
        settled()
        d.key(F.Key_1)  # the reason (the one line comes selected)
        settled()
        d.key(F.Key_F10)
        on("refund")
        d.entry(card_of[one_line], enter=False)
        settled()
        d.key(F.Key_F10)
        done_and_ready()
        counts["one-line card return"] = d.actions

        # 2. two lines, two reasons: scan, 1, 3, 1, 2, F10, card, F10 (from the done screen)
        d.actions = 0
        d.scan(receipt(two_lines))
        on("sale")
        settled()
        for key in (F.Key_1, F.Key_3, F.Key_1, F.Key_2):
            d.key(key)
            settled()
        d.key(F.Key_F10)
        on("refund")
        d.entry(card_of[two_lines], enter=False)
        settled()
        d.key(F.Key_F10)
        done_and_ready()
        counts["two lines, different reasons"] = d.actions

        # 3. even exchange: scan, reason, F7, scan the new item, F10, F10
        d.actions = 0
        d.scan(receipt(even))
        on("sale")
        settled()
        d.key(F.Key_1)
        settled()
        d.key(F.Key_F7)
        d.scan(ean_even)
        settled()
        d.key(F.Key_F10)
        on("refund")
        settled()
        d.key(F.Key_F10)
        done_and_ready()
        counts["even exchange"] = d.actions

        # 4. no receipt (R08 search first, R07 ID, manager): from the done screen
        d.actions = 0
        d.key(F.Key_2, Qt.KeyboardModifier.ControlModifier)  # search by customer
        d.wait(lambda: window.lookup.customer_query.hasFocus(), "the customer search")
        d.entry("Zzyzx Nobody")
        d.wait(window.lookup.no_receipt_button.isEnabled, "the search's answer")
        d.key(F.Key_F8)
        d.wait(lambda: window.no_receipt_flow is not None, "the no-receipt flow")
        flow = window.no_receipt_flow
        d.wait(lambda: flow.capture is not None and flow.capture.isVisible()
               and flow.capture.number.hasFocus(), "ID capture")
        d.entry("X7Q9ZK4L2")  # the national identity card is chosen already
        d.entry("Marie Dupont")  # Enter records the ID
        d.wait(lambda: flow.panel is not None and flow.panel.isVisible(), "the items")
        d.scan(no_receipt_ean)
        d.wait(lambda: flow.panel.reason.hasFocus(), "the reason")
        d.key(F.Key_4)
        d.wait(lambda: flow.panel.plan is not None and flow.panel.manager_button.isEnabled(),
               "the engine's answer")
        d.key(F.Key_F6)
        d.wait(lambda: flow.panel.manager_dialog is not None
               and flow.panel.manager_dialog.isVisible(), "the manager")
        d.entry("M001")
        d.entry("9999")  # the manager's PIN: one action
        d.entry("Client connu, article neuf", enter=False)
        d.key(F.Key_F10)  # approve
        d.wait(flow.panel.continue_button.isEnabled, "the approval")
        d.key(F.Key_F10)
        on("refund")
        settled()
        d.key(F.Key_F10)
        done_and_ready()
        counts["no-receipt return with ID"] = d.actions

        # the till is ready: a scan on the done screen opens the next sale at once
        d.scan(receipt(one_line))
        on("sale")
        window.close()
        window.services.ops.shutdown()
    terminal.stop()

    for name, target in ACTION_TARGETS.items():
        report.at_most(f"actions: {name}", counts[name], target, "actions", digits=0)


def lookup_under_load(path: Path, scans: int, seed: int, report: Report) -> None:
    """Receipt lookups on the database worker while the I/O pool is held by a 5 s HQ
    answer and a blocked printer."""
    from pos_returns.cache import db as store
    from pos_returns.config import TillConfig
    from pos_returns.engine.codes import parse_receipt
    from ui.app import build_window, create_application, process_events

    db = store.connect(path, create=False)
    rng = random.Random(seed)
    rows = db.conn.execute("SELECT id, receipt_number FROM sales WHERE receipt_number != ''"
                           ).fetchall()
    db.close()
    picks = [rows[rng.randrange(len(rows))] for _ in range(scans)]
    codes = [(parse_receipt(r[1]).barcode_content, int(r[0])) for r in picks]

    # (a ticket may still be written by the I/O pool when the folder goes)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as docs:
        cfg = TillConfig(store_id=1, till_no=1, cache_path=path, documents_dir=Path(docs),
                         key_path=path.parent / "keys" / "journal.pem", idle_lock_seconds=0)
        _app = create_application(cfg, ["bench"])
        window = build_window(cfg)
        window.resize(1366, 768)
        window.show()
        ops = window.services.ops
        d = Driver(window)
        d.wait(lambda: window.current == "login", "the login screen")
        window.login.code.setText("V001")
        window.login.pin.setText("1111")
        window.login.submit()
        d.wait(lambda: window.current == "lookup", "the login")

        held = {"hq": 0, "printer": 0}
        running = {"on": True}

        def hold(what: str) -> None:  # HQ answers after 5 s; the printer blocks 5 s
            if not running["on"]:
                return
            held[what] += 1
            (ops.io(time.sleep, 5.0, timeout=8.0)
             .success(lambda _r, w=what: hold(w)).failure(lambda _e, w=what: hold(w)).run())

        hold("hq")
        hold("printer")
        timings: list[float] = []
        for n, (code, sale_id) in enumerate(codes):
            window.lookup.scan.setText(code)
            t0 = time.perf_counter()
            window.lookup.submit_code()
            d.wait(lambda sid=sale_id: window.current == "sale" and window.sale.sale is not None
                   and window.sale.sale.id == sid, "the sale screen")
            window.repaint()
            process_events()
            if n >= 5:
                timings.append((time.perf_counter() - t0) * 1000)
            window.back_to_lookup_fresh()
            process_events()
        running["on"] = False
        window.close()
        ops.shutdown()
    report.info("I/O jobs of 5 s held meanwhile (HQ, printer)", sum(held.values()), "",
                digits=0)
    report.info(f"receipt lookup under load, median ({len(timings)})",
                percentile(timings, 50), "ms")
    report.at_most("receipt lookup p99, HQ 5 s + printer blocked", percentile(timings, 99),
                   LOOKUP_UNDER_LOAD_P99_MS, "ms")


def main(argv: list[str] | None = None) -> int:
    parser = cache_parser(__doc__.split("\n")[0])
    parser.add_argument("--reuse", action="store_true",
                        help="use DIR/bench-N.sqlite as it is when it exists")
    parser.add_argument("--scans", type=int, default=300)
    parser.add_argument("--part", choices=("all", "path", "speed"), default="all",
                        help="path: the salesperson's actions and the lookup under load "
                             "(demo cache); speed: cold start and scan to sale (big cache)")
    parser.add_argument("--demo-sales", type=int, default=20_000,
                        help="sales of the demo cache of the path part (as make run builds)")
    args = parser.parse_args(argv)

    report = Report()
    print_load()
    if args.part in ("all", "path"):
        with tempfile.TemporaryDirectory(prefix="alamara-bench-ui-",
                                         ignore_cleanup_errors=True) as tmp:
            demo_path = _demo_cache(Path(tmp), args.demo_sales, args.seed)
            print(f"demo cache: {args.demo_sales:,} sales".replace(",", " "))
            salesperson_path(demo_path, report)
            lookup_under_load(demo_path, min(args.scans, 200), args.seed, report)
    if args.part in ("all", "speed"):
        path = ensure_cache(args, report)
        print(f"cache: {path} ({args.sales:,} sales)".replace(",", " "))

        starts = cold_start(path)
        print("cold starts: " + ", ".join(f"{s:.2f} s" for s in starts))
        report.at_most("cold start to login screen (worst of 3)", max(starts), COLD_START_S,
                       "s")

        timings, lines = scan_to_sale(path, args.scans, args.seed)
        report.info(f"scan to sale, median ({len(timings)} scans)", percentile(timings, 50),
                    "ms")
        report.info("scan to sale, max", max(timings), "ms")
        report.info("lines per sale (sample)", lines, "")
        report.at_most("scan to sale displayed p99", percentile(timings, 99), SCAN_P99_MS, "ms")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
