"""``pos-returns demo``: fill a local cache with the synthetic demo chain.

    pos-returns demo [--sales N] [--seed S] [--returns N] [--db PATH] [--force]

Refuses a cache that already holds data unless ``--force``, which starts again
from a fresh file. See :mod:`pos_returns.demo` and ``docs/data.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pos_returns.cache.db import open_cache
from pos_returns.cli import add_common, config_from, whole_number
from pos_returns.demo.chain import build_demo
from pos_returns.demo.returns import add_demo_returns
from pos_returns.i18n import _, format_decimal

DEFAULT_SALES = 20_000
DEFAULT_SEED = 1


def register(sub: argparse._SubParsersAction) -> None:

    parser = sub.add_parser("demo", help=_("build a synthetic demo chain in the local cache"))
    add_common(parser)
    parser.add_argument("--sales", type=_count, default=DEFAULT_SALES, metavar="N",
                        help=_("number of sales to generate (default: {n})").format(
                            n=DEFAULT_SALES))
    parser.add_argument("--seed", type=whole_number(), default=DEFAULT_SEED, metavar="S",
                        help=_("random seed: the same seed gives the same chain"))
    parser.add_argument("--returns", type=_count, default=0, metavar="N",
                        help=_("also record this many demo returns"))
    parser.add_argument("--force", action="store_true",
                        help=_("replace an existing cache with a fresh one"))
    parser.set_defaults(func=run_demo)


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("“{text}” is not a whole number.").format(text=text)) from None
    if value < 0:
        raise argparse.ArgumentTypeError(_("The number must be 0 or more."))
    return value


def _cache_has_data(path: Path) -> bool:
    import sqlite3

    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
            "('stores', 'sales', 'return_tickets')")]
        return any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]
                   for t in tables)
    except sqlite3.DatabaseError:
        return True  # not a cache we can read: do not overwrite it without --force
    finally:
        conn.close()


def _remove_cache(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(args: argparse.Namespace) -> int:

    cfg = config_from(args)
    path = Path(cfg.cache_path)
    if _cache_has_data(path):
        if not args.force:
            print(_("The cache {path} already holds data. Use --force to replace it with a "
                    "fresh demo chain, or --db to build one elsewhere.").format(path=path),
                  file=sys.stderr)
            return 1
        _remove_cache(path)
    elif args.force:
        _remove_cache(path)

    def show_progress(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        text = _("Generating sales… {percent} %").format(percent=pct)
        print(f"\r{text}", end="", file=sys.stderr, flush=True)

    progress = show_progress if sys.stderr.isatty() else None

    db = open_cache(path)
    try:
        stats = build_demo(db, sales=args.sales, seed=args.seed, progress=progress)
        if progress:
            print(file=sys.stderr)
        n = format_decimal
        print(_("Demo chain built in {path}").format(path=path))
        print(_("  Stores: {stores} ({tills} tills)").format(stores=n(stats.stores),
                                                           tills=n(stats.tills)))
        print(_("  Staff: {count}").format(count=n(stats.staff)))
        print(_("  Articles: {count}").format(count=n(stats.products)))
        print(_("  Customers: {count}").format(count=n(stats.customers)))
        print(_("  Sales: {count} ({lines} lines, {tenders} payments)").format(
            count=n(stats.sales), lines=n(stats.sale_lines), tenders=n(stats.tenders)))
        print(_("  {rows} rows written in {seconds} s ({rate} rows/s)").format(
            rows=n(stats.rows), seconds=n(round(stats.seconds, 1)),
            rate=n(round(stats.rows_per_second))))
        if args.returns > 0:
            _add_returns(db, cfg, n=args.returns, seed=args.seed)
        print(_("Log in with V001 (PIN 1111), B001 (PIN 2222, fine jewelry) or "
                "M001 (PIN 9999, manager)."))
    finally:
        db.close()
    return 0


def _add_returns(db, cfg, *, n: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    result = add_demo_returns(db, cfg, n=n, seed=seed)
    count = getattr(result, "tickets", result if isinstance(result, int) else n)
    print(_("  Demo returns: {count}").format(count=format_decimal(count)))
