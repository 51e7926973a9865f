"""``pos-returns hq ...`` (the HQ database) and ``pos-returns sync`` (one round, headless).

    pos-returns hq init --dsn DSN [--demo [--sales N] [--seed S]]
    pos-returns hq feed --dsn DSN --sales N [--seed S]
    pos-returns sync [--dsn DSN] [--db PATH] [--store ID --till N] [--batch-size N]

``sync`` pushes the outbox, raises the journal's chain head at HQ and pulls
what changed, printing its progress and a summary in French. ``--dsn``
defaults to the till's configuration (``hq_dsn``). Exit code 0 when the round
went through, 3 when HQ was unreachable (the till stays offline), 1 on error.
"""

from __future__ import annotations

import argparse
import sys

from pos_returns.cache.db import open_cache
from pos_returns.cli import add_common, config_from, whole_number
from pos_returns.demo.chain import demo_pepper
from pos_returns.demo.hq import feed_sales, init_demo_hq
from pos_returns.errors import ConfigError
from pos_returns.hq.schema import connect, init_hq
from pos_returns.i18n import _
from pos_returns.journal.pins import load_pepper
from pos_returns.sync.round import run_sync, till_journal
from pos_returns.sync.seal import seal_hq_staff
from pos_returns.sync.state import DEFAULT_BATCH, table_label
from pos_returns.sync.validate import Limits

EXIT_OFFLINE = 3


def register(sub: argparse._SubParsersAction) -> None:

    hq_parser = sub.add_parser("hq", help=_("create or feed the HQ database (PostgreSQL)"))
    hq_sub = hq_parser.add_subparsers(dest="hq_command", metavar="ACTION")
    init = hq_sub.add_parser("init", help=_("create the HQ schema, optionally with the demo chain"))
    add_common(init)
    init.add_argument("--dsn", required=True, help=_("PostgreSQL connection string of HQ"))
    init.add_argument("--demo", action="store_true", help=_("load the demo chain into HQ"))
    init.add_argument("--sales", type=whole_number(maximum=10_000_000), default=2000, metavar="N",
                      help=_("number of demo sales (with --demo)"))
    init.add_argument("--seed", type=whole_number(),
                      default=1, help=_("random seed of the demo data"))
    init.set_defaults(func=run_hq_init)
    feed = hq_sub.add_parser("feed", help=_("add new sales at HQ, as the other tills would"))
    feed.add_argument("--dsn", required=True, help=_("PostgreSQL connection string of HQ"))
    feed.add_argument("--sales", type=whole_number(minimum=1, maximum=10_000_000),
                      required=True, metavar="N",
                      help=_("number of new sales"))
    feed.add_argument("--seed", type=whole_number(), default=None, help=_("random seed"))
    feed.set_defaults(func=run_hq_feed)
    seal = hq_sub.add_parser("seal-staff",
                             help=_("seal HQ's staff rows with the chain's PIN secret"))
    add_common(seal)
    seal.add_argument("--dsn", required=True, help=_("PostgreSQL connection string of HQ"))
    seal.add_argument("--force", action="store_true",
                      help=_("also seal the rows whose seal does not match (after checking "
                             "them)"))
    seal.set_defaults(func=run_hq_seal_staff)
    hq_parser.set_defaults(func=lambda args: (hq_parser.print_help(), 2)[1])

    sync = sub.add_parser("sync", help=_("sync with HQ now: send the returns, receive the sales"))
    add_common(sync)
    sync.add_argument("--dsn", help=_("PostgreSQL connection string of HQ (default: hq_dsn)"))
    sync.add_argument("--store", type=whole_number(minimum=1, maximum=999),
                      metavar="ID", help=_("this till's store"))
    sync.add_argument("--till", type=whole_number(minimum=1, maximum=99),
                      metavar="N", help=_("this till's number"))
    sync.add_argument("--batch-size", type=whole_number(minimum=1, maximum=100_000),
                      default=None, metavar="N",
                      help=_("rows per batch (each batch is committed with its cursor)"))
    sync.set_defaults(func=run_sync_command)


def run_hq_seal_staff(args: argparse.Namespace) -> int:
    pepper = load_pepper(config_from(args).key_path)
    with connect(args.dsn) as conn:
        converted, sealed, left = seal_hq_staff(conn, pepper, force=args.force)
    print(_("HQ's staff: {sealed} rows sealed ({converted} PIN hashes converted).").format(
        sealed=sealed, converted=converted))
    if left:
        print(_("Rows left as they are, their seal does not match (changed outside the "
                "tills, or another chain's secret): {codes}. Check them, then run again "
                "with --force.").format(codes=", ".join(left)), file=sys.stderr)
        return 1
    return 0


def run_hq_init(args: argparse.Namespace) -> int:
    counts: dict[str, int] = {}
    if args.demo:
        # the demo staff's PINs under the demo chain's pepper, kept with the keys of
        # the configuration's till (the same file the demo tills use)
        counts = init_demo_hq(args.dsn, sales=args.sales, seed=args.seed,
                              pepper=demo_pepper(config_from(args).key_path))
    else:
        init_hq(args.dsn)
    print(_("HQ schema ready."))
    if counts:
        print(
            _("Demo chain loaded: {sales} sales, {lines} lines, {products} products.").format(
                sales=counts.get("sales", 0), lines=counts.get("sale_lines", 0),
                products=counts.get("products", 0),
            )
        )
    return 0


def run_hq_feed(args: argparse.Namespace) -> int:
    with connect(args.dsn, autocommit=True) as conn:
        result = feed_sales(conn, args.sales, seed=args.seed)
    print(
        _("{sales} new sales added at HQ ({lines} lines).").format(
            sales=result.sales, lines=result.lines
        )
    )
    return 0


class _Printer:
    """Progress on stderr, one line per table (rewritten in place on a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, p) -> None:  # type: ignore[no-untyped-def]

        if p.phase == "push":
            text = _("Sending: {done}/{total}").format(done=p.done, total=p.total)
        else:
            text = _("Receiving {table}: {percent} %").format(
                table=table_label(p.table), percent=int(p.fraction * 100)
            )
        if self.tty:
            print("\r" + text.ljust(60), end="", file=sys.stderr, flush=True)
        elif text != self.last and (p.phase == "push" or p.done == p.total or
                                    int(p.fraction * 10) != int(self._prev_fraction * 10)):
            print(text, file=sys.stderr, flush=True)
        self._prev_fraction = p.fraction
        self.last = text

    _prev_fraction = 0.0

    def close(self) -> None:
        if self.tty and self.last:
            print(file=sys.stderr)


def run_sync_command(args: argparse.Namespace) -> int:

    cfg = config_from(args)
    dsn = args.dsn or cfg.hq_dsn
    if not dsn:
        raise ConfigError(
            _("No HQ to sync with: give --dsn or set hq_dsn in the configuration."),
            code="hq_dsn",
        )
    store_id, till_no = args.store or cfg.store_id, args.till or cfg.till_no
    db = open_cache(cfg.cache_path)
    printer = _Printer()
    try:
        journal = None
        if (store_id, till_no) == (cfg.store_id, cfg.till_no):
            journal = till_journal(db, cfg)
        summary = run_sync(
            db, dsn, store_id=store_id, till_no=till_no, progress=printer,
            batch_size=args.batch_size or DEFAULT_BATCH, journal=journal,
            deadline=float(cfg.hq_deadline_seconds), limits=Limits.from_config(cfg),
        )
    finally:
        printer.close()
        db.close()
    for line in summary.french_lines():
        print(line)
    return 0 if summary.online else EXIT_OFFLINE
