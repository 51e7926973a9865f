"""``pos-returns demo``: fill a local cache with the synthetic demo chain.

    pos-returns demo [--sales N] [--seed S] [--returns N] [--db PATH] [--force | --ensure]

The cache is built in a temporary file beside the target (``<cache>.building``)
and renamed over it only when complete, with a completion mark in its ``meta``
table (``demo_complete``): an interrupted build leaves the target untouched and
the next run starts the temporary file again. Refuses a cache that already holds
data unless ``--force`` (a fresh one replaces it). ``--ensure`` (what ``make run``
uses) builds only when the cache is missing or incomplete and otherwise says it
is ready. See :mod:`pos_returns.demo` and ``docs/data.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from pos_returns.cache.db import atomic, open_cache, set_meta
from pos_returns.cli import EXIT_REFUSED, add_common, config_from, whole_number
from pos_returns.demo.chain import build_demo, demo_pepper, reseal_demo_staff
from pos_returns.demo.returns import add_demo_returns
from pos_returns.errors import StorageError
from pos_returns.failures import diagnose_cache
from pos_returns.i18n import _, format_decimal
from pos_returns.journal.head import head_path, reset_head
from pos_returns.journal.keys import load_signer
from pos_returns.journal.keyset import init_keys

DEFAULT_SALES = 20_000
DEFAULT_SEED = 1
COMPLETE_KEY = "demo_complete"

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
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true",
                      help=_("replace an existing cache with a fresh one"))
    mode.add_argument("--ensure", action="store_true",
                      help=_("build only when the cache is missing or incomplete"))
    parser.set_defaults(func=run_demo)


_count = whole_number(minimum=0, maximum=10_000_000)


def cache_state(path: Path) -> str:
    """``missing``, ``complete`` (a finished demo, or a till's cache with sales),
    ``incomplete`` (a schema or nothing but no sales and no completion mark) or
    ``unreadable`` (not a cache SQLite can read: never overwritten without --force)."""
    if not path.exists():
        return "missing"
    if diagnose_cache(path) is not None and not path.is_file():
        return "unreadable"
    if path.stat().st_size == 0:
        return "incomplete"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return "unreadable"
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" in tables and conn.execute(
                "SELECT 1 FROM meta WHERE key = ?", [COMPLETE_KEY]).fetchone():
            return "complete"
        has_sales = "sales" in tables and conn.execute(
            "SELECT EXISTS (SELECT 1 FROM sales)").fetchone()[0]
        # A cache filled by sync (a real till), or a demo made before the mark existed.
        return "complete" if has_sales else "incomplete"
    except sqlite3.DatabaseError:
        return "unreadable"
    finally:
        conn.close()


def _remove_cache(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def building_path(path: Path) -> Path:
    return path.with_name(path.name + ".building")


def run_demo(args: argparse.Namespace) -> int:

    cfg = config_from(args)
    path = Path(cfg.cache_path)
    state = cache_state(path)
    if state == "unreadable" and not args.force:
        problem = diagnose_cache(path) or _("The cache {path} cannot be read.").format(
            path=path)
        raise StorageError(problem + " " + _("Use --force to replace it with a fresh demo "
                                             "chain."), code="cache")
    if args.ensure and state == "complete":
        _upgrade_demo(cfg, path)
        print(_("The cache {path} is complete: nothing to build.").format(path=path))
        return 0
    if state == "complete" and not args.force and not args.ensure:
        print(_("The cache {path} already holds data. Use --force to replace it with a "
                "fresh demo chain, or --db to build one elsewhere.").format(path=path),
              file=sys.stderr)
        return EXIT_REFUSED
    if state == "incomplete" and not args.force:
        print(_("The cache {path} is incomplete (an interrupted build): it is built "
                "again.").format(path=path), file=sys.stderr)
    if path.is_dir():
        raise StorageError(diagnose_cache(path) or str(path), code="cache")

    def show_progress(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        text = _("Generating sales… {percent} %").format(percent=pct)
        print(f"\r{text}", end="", file=sys.stderr, flush=True)

    progress = show_progress if sys.stderr.isatty() else None

    if not Path(cfg.key_path).expanduser().exists():
        # the demo till's keys, created explicitly, as `pos-returns keys init` does
        keyset = init_keys(cfg)
        print(_("The till's keys were created in {folder}.").format(folder=keyset.folder))
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = building_path(path)
    _remove_cache(temp)  # what an interrupted build left
    db = open_cache(temp)
    try:
        stats = build_demo(db, sales=args.sales, seed=args.seed, progress=progress,
                           pepper=demo_pepper(cfg.key_path))
        if progress:
            print(file=sys.stderr)
        n = format_decimal
        print(_("Demo chain built in {path}").format(path=path))  # the name it will have
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
            _add_returns(db, cfg.with_cache(temp), n=args.returns, seed=args.seed)
        # a fresh demo chain is a new start for the demo till: its head beside the keys
        # is this cache's (else a rebuilt demo would be "behind" the previous one)
        reset_head(db, cfg.key_path, load_signer(cfg.key_path), cfg.store_id, cfg.till_no)
        set_meta(db, COMPLETE_KEY, json.dumps(
            {"sales": args.sales, "returns": args.returns, "seed": args.seed}))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    _remove_cache(path)  # --force, or an incomplete cache
    os.replace(temp, path)  # the complete cache appears at once, or not at all
    for suffix in ("-wal", "-shm"):
        Path(f"{temp}{suffix}").unlink(missing_ok=True)
    print(_("Log in with V001 (PIN 1111), B001 (PIN 2222, fine jewelry) or "
            "M001 (PIN 9999, manager)."))
    return 0


def _upgrade_demo(cfg, path: Path) -> None:  # type: ignore[no-untyped-def]
    """A demo cache built by an older version: its staff sealed with the demo chain's
    PIN pepper, and its head written beside the demo till's keys (demo caches only)."""
    db = open_cache(path)
    try:
        if db.execute("SELECT 1 FROM meta WHERE key = 'demo_seed'").fetchone() is None:
            return  # a real till's cache: never re-sealed here
        with atomic(db):
            changed = reseal_demo_staff(db, demo_pepper(cfg.key_path))
        if changed:
            print(_("The demo staff's PINs were sealed with the demo chain's PIN secret "
                    "({count} accounts).").format(count=format_decimal(changed)))
        if Path(cfg.key_path).expanduser().exists() and not head_path(cfg.key_path).exists():
            reset_head(db, cfg.key_path, load_signer(cfg.key_path), cfg.store_id,
                       cfg.till_no)
            print(_("The demo till's journal head was written beside its keys."))
    finally:
        db.close()


def _add_returns(db, cfg, *, n: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    result = add_demo_returns(db, cfg, n=n, seed=seed)
    count = getattr(result, "tickets", result if isinstance(result, int) else n)
    print(_("  Demo returns: {count}").format(count=format_decimal(count)))
