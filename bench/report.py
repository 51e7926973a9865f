"""Bench: the manager's review on a busy day.

    python bench/report.py [--returns 2000] [--db PATH] [--screenshots DIR]

Targets (DESIGN / issue 8): the review screen opens on a day with 2,000 returns
in <= 500 ms (screen built, day loaded, table and totals filled); that day's
PDF report in <= 2 s. Each figure is printed beside its target; the exit code
is 1 when a target is missed.

The day is written straight into the cache's return tables by
:func:`populate_day` (realistic mix: receipts, exchanges, no-receipt returns with
ID checks and repeat returners, overrides, fine jewelry, every tender), so the
bench does not depend on the policy engine's speed. ``--screenshots`` renders the
screen on a smaller day to ``docs/screenshots/review*.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
import uuid as uuidlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pos_returns.cache.db import atomic  # noqa: E402
from pos_returns.i18n import STORE_TZ  # noqa: E402

BENCH_DAY = date(2025, 3, 15)
SCREEN_TARGET_MS = 500
PDF_TARGET_MS = 2000

REASON_WEIGHTS = {
    "size": 30, "fit": 16, "colour": 9, "changed_mind": 14, "gift": 8, "not_as_described": 5,
    "defective": 7, "damaged_delivery": 3, "late_delivery": 2, "duplicate": 2, "other": 4,
}


def populate_day(db, day: date, n: int, *, seed: int = 1, store_id: int = 1,
                 till_no: int = 1) -> int:
    """Write ``n`` return tickets on ``day`` (local time) for ``store_id``; return n."""
    rng = random.Random(seed)
    staff = [r[0] for r in db.execute(
        "SELECT id FROM staff WHERE store_id = ? AND active = 1 ORDER BY id", [store_id])]
    managers = [r[0] for r in db.execute(
        "SELECT id FROM staff WHERE store_id = ? AND role = 'manager' ORDER BY id", [store_id])]
    products = db.execute(
        "SELECT sku, department, current_price, vat_rate_bp FROM products WHERE gift_card = 0"
    ).fetchall()
    jewelry = [p for p in products if p[1] == "jewelry"]
    others = [p for p in products if p[1] != "jewelry"]
    reasons, weights = list(REASON_WEIGHTS), list(REASON_WEIGHTS.values())
    number = db.execute(
        "SELECT COALESCE(MAX(number), 0) FROM return_tickets WHERE store_id = ? AND till_no = ?",
        [store_id, till_no]).fetchone()[0]
    has_ids = bool(db.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'id_checks'").fetchone())
    identities = [hashlib.sha256(f"id-{i}".encode()).hexdigest() for i in range(max(8, n // 6))]
    opening = datetime(day.year, day.month, day.day, 9, 30, tzinfo=STORE_TZ)
    seconds = sorted(rng.randrange(0, 10 * 3600) for _ in range(n))
    tickets, lines, refunds, approvals, checks, ledger = [], [], [], [], [], []
    next_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM return_tickets").fetchone()[0]
    for s in seconds:
        next_id += 1
        number += 1
        at_dt = (opening + timedelta(seconds=s)).astimezone(UTC)
        at = at_dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        r = rng.random()
        kind = "receipt" if r < 0.70 else ("exchange" if r < 0.88 else "no_receipt")
        who = rng.choice(staff)
        refund_total = 0
        line_no = 0
        for _ in range(1 if rng.random() < 0.7 else rng.choice((2, 3))):
            line_no += 1
            sku, _dept, price, vat = (rng.choice(jewelry) if jewelry and rng.random() < 0.06
                                     else rng.choice(others))
            qty = 1 if rng.random() < 0.9 else 2
            paid = price if kind == "no_receipt" else int(price * rng.choice((1, 1, 1, 0.8, 0.7)))
            amount = paid * qty
            refund_total += amount
            lines.append((next_id, line_no, "return", sku, qty, paid, -amount, vat,
                          rng.choice(("new_with_tags",) * 8 + ("worn", "tag_removed")),
                          rng.choices(reasons, weights)[0], "R02" if kind != "no_receipt"
                          else "R07"))
        charge = 0
        if kind == "exchange":
            sku, _dept, price, vat = rng.choice(others)
            charge = price
            line_no += 1
            lines.append((next_id, line_no, "sale", sku, 1, price, price, vat, "", "", "R16"))
        net = refund_total - charge
        if kind == "no_receipt":
            refunds.append((next_id, "gift_card", net, f"6036{next_id:015d}"))
        elif kind == "exchange":
            refunds.append((next_id, rng.choice(("cash", "card")), net, ""))
        else:
            tender = rng.choices(("card", "cash", "gift_card"), (58, 28, 14))[0]
            if tender == "card" and rng.random() < 0.1:  # split card + cash sale
                part = net // 3
                refunds.append((next_id, "card", net - part, ""))
                refunds.append((next_id, "cash", part, ""))
            else:
                refunds.append((next_id, tender, net,
                                f"6036{next_id:015d}" if tender == "gift_card" else ""))
        if kind == "no_receipt":
            approvals.append((next_id, "R07", rng.choice(managers), "approved",
                              "Article neuf, pièce d'identité vérifiée", at))
            if has_ids:
                ident = rng.choice(identities)
                check = str(uuidlib.uuid4())
                uuid = str(uuidlib.uuid4())
                checks.append((check, "cni", "4X2B", ident, "Client démo", store_id, till_no,
                               who, "refunded", uuid, net, at, at))
                ledger.append((check, ident, net, store_id, till_no, at))
            else:
                uuid = str(uuidlib.uuid4())
        else:
            uuid = str(uuidlib.uuid4())
            if rng.random() < 0.07:
                approvals.append((next_id, rng.choice(("R12", "R13", "R01")),
                                  rng.choice(managers), "approved",
                                  "Geste commercial, cliente fidèle", at))
        tickets.append((next_id, uuid, store_id, till_no, number, at, who, kind,
                        int(rng.random() < 0.03), refund_total, charge, net))
    with atomic(db):
        db.conn.executemany(
            "INSERT INTO return_tickets(id, uuid, store_id, till_no, number, created_at, "
            "staff_id, kind, offline, refund_total, charge_total, net) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", tickets)
        db.conn.executemany(
            "INSERT INTO return_lines(ticket_id, line_no, direction, sku, quantity, "
            "unit_amount, amount, vat_rate_bp, condition, reason, rule_codes) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)", lines)
        db.conn.executemany(
            "INSERT INTO refunds(ticket_id, kind, amount, gift_card_number) VALUES (?,?,?,?)",
            refunds)
        db.conn.executemany(
            "INSERT INTO approvals(ticket_id, rule, manager_id, decision, reason, decided_at) "
            "VALUES (?,?,?,?,?,?)", approvals)
        if checks:
            db.conn.executemany(
                "INSERT INTO id_checks(uuid, doc_type, last4, id_hash, name, store_id, till_no, "
                "staff_id, status, ticket_uuid, amount, created_at, decided_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", checks)
            db.conn.executemany(
                "INSERT INTO id_ledger(uuid, id_hash, amount, store_id, till_no, created_at) "
                "VALUES (?,?,?,?,?,?)", ledger)
    return n


def make_services(db, cfg):
    from pos_returns.usecases.till import load_context
    from ui.ops import InlineExecutor, Ops
    from ui.services import Services, TillContext

    services = Services(cfg, Ops(InlineExecutor(db)))
    context: TillContext = load_context(db, cfg.store_id, cfg.till_no)
    services.set_context(context)
    return services


def check(name: str, ms: float, target: float) -> bool:
    ok = ms <= target
    print(f"{name:<48} {ms:8.0f} ms   target <= {target:.0f} ms   {'OK' if ok else 'MISS'}")
    return ok


def screenshots(out: Path, workdir: Path) -> list[Path]:
    """Render the review screen (full day, a filter, a ticket) to PNG files."""
    from PySide6.QtWidgets import QApplication

    from pos_returns.config import TillConfig
    from pos_returns.usecases.auth import get_staff
    from tests.helpers import new_cache
    from ui.screens.review import ReviewScreen

    app = QApplication.instance() or QApplication([])
    try:  # the till's own look and Qt's French buttons (ui.app, when it is there)
        from ui.app import install_translations, style_sheet

        install_translations(app, "fr")
        app.setStyleSheet(style_sheet())
    except ImportError:
        pass
    db = new_cache(workdir / "shots.sqlite")
    populate_day(db, BENCH_DAY, 60, seed=7)
    cfg = TillConfig(key_path=workdir / "keys" / "journal.pem", documents_dir=workdir / "docs")
    services = make_services(db, cfg)
    services.set_staff(get_staff(db, 3))
    screen = ReviewScreen(services)
    screen.resize(1366, 860)  # the till's screen (ui/screenshots.py SIZE)
    screen.show()
    screen.set_day(BENCH_DAY)
    app.processEvents()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "review.png", out / "review-filtered.png", out / "review-ticket.png"]
    screen.grab().save(str(paths[0]))
    screen.flag_box.setCurrentIndex(screen.flag_box.findData("no_receipt"))
    app.processEvents()
    screen.grab().save(str(paths[1]))
    dialogs = []
    screen.ticket_shown.connect(dialogs.append)
    screen.open_ticket()
    app.processEvents()
    if dialogs:
        dialogs[0].adjustSize()
        app.processEvents()
        dialogs[0].grab().save(str(paths[2]))
        dialogs[0].close()
    screen.close()
    db.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=2000)
    parser.add_argument("--screenshots", metavar="DIR")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        workdir = Path(tmp)
        if args.screenshots:
            for path in screenshots(Path(args.screenshots), workdir):
                print(path)
            return 0
        from PySide6.QtWidgets import QApplication

        from pos_returns.config import TillConfig
        from pos_returns.usecases.auth import get_staff
        from pos_returns.usecases.reports import write_daily_report
        from tests.helpers import new_cache
        from ui.screens.review import ReviewScreen

        app = QApplication.instance() or QApplication([])
        db = new_cache(workdir / "bench.sqlite")
        t0 = time.perf_counter()
        populate_day(db, BENCH_DAY, args.returns, seed=1)
        populate_day(db, BENCH_DAY - timedelta(days=1), args.returns // 2, seed=2)
        print(f"setup: {args.returns} returns written in "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        cfg = TillConfig(key_path=workdir / "keys" / "journal.pem")
        manager = get_staff(db, 3)
        services = make_services(db, cfg)
        services.set_staff(manager)
        ok = True
        # warm-up (imports, fonts) is not what a manager waits for on the second day
        warm = ReviewScreen(services)
        warm.set_day(BENCH_DAY - timedelta(days=1))
        warm.close()
        start = time.perf_counter()
        screen = ReviewScreen(services)
        screen.resize(1600, 1000)
        screen.set_day(BENCH_DAY)
        screen.show()
        app.processEvents()
        elapsed = (time.perf_counter() - start) * 1000
        rows = screen.model.rowCount()
        print(f"screen rows: {rows}, net {screen.figure_labels['net'].text()}")
        ok &= rows == args.returns
        ok &= check(f"review screen opens on {args.returns} returns", elapsed, SCREEN_TARGET_MS)
        screen.close()
        start = time.perf_counter()
        files = write_daily_report(db, manager, BENCH_DAY, workdir / "out")
        elapsed = (time.perf_counter() - start) * 1000
        print(f"pdf: {files.pdf.stat().st_size // 1024} KiB")
        ok &= check(f"daily report PDF + CSV of {args.returns} returns", elapsed, PDF_TARGET_MS)
        db.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
