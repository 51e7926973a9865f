"""Bench: the till's own speed, with the real widgets offscreen (issue 4, item 8).

    python bench/ui.py [--sales 1000000] [--seed 1] [--dir DIR] [--reuse] [--scans 300]

Targets:
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

_CHILD = r"""
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from pos_returns.config import TillConfig
from pos_returns.cache.db import open_cache
from ui.app import build_window, create_application, process_events
open_cache(Path(sys.argv[1])).close()  # as `pos-returns run` does (pending migrations)
cfg = TillConfig(store_id=1, till_no=1, cache_path=Path(sys.argv[1]),
                 documents_dir=Path(sys.argv[2]), idle_lock_seconds=0)
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
                         idle_lock_seconds=0)
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


def ensure_cache(args: argparse.Namespace, report: Report) -> Path:
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"bench-{args.sales}.sqlite"
    if not (args.reuse and path.exists()):
        lookup_bench.build(path, args.sales, args.seed, args.reuse, _Quiet())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = cache_parser(__doc__.split("\n")[0])
    parser.add_argument("--reuse", action="store_true",
                        help="use DIR/bench-N.sqlite as it is when it exists")
    parser.add_argument("--scans", type=int, default=300)
    args = parser.parse_args(argv)

    report = Report()
    print_load()
    path = ensure_cache(args, report)
    print(f"cache: {path} ({args.sales:,} sales)".replace(",", " "))

    starts = cold_start(path)
    print("cold starts: " + ", ".join(f"{s:.2f} s" for s in starts))
    report.at_most("cold start to login screen (worst of 3)", max(starts), COLD_START_S, "s")

    timings, lines = scan_to_sale(path, args.scans, args.seed)
    report.info(f"scan to sale, median ({len(timings)} scans)", percentile(timings, 50), "ms")
    report.info("scan to sale, max", max(timings), "ms")
    report.info("lines per sale (sample)", lines, "")
    report.at_most("scan to sale displayed p99", percentile(timings, 99), SCAN_P99_MS, "ms")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
