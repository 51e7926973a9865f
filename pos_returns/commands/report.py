"""``pos-returns report``: the manager's daily report, headless.

    pos-returns report --date YYYY-MM-DD [--db PATH] --out DIR [--store ID] [--manager CODE]

writes ``retours-YYYY-MM-DD.pdf``, ``retours-YYYY-MM-DD.csv`` (one row per
ticket) and ``retours-YYYY-MM-DD-totaux.csv`` into DIR and prints their paths.

The report is a manager's document: the core checks the role. On the command
line nobody types a PIN (it runs from a script at night): the command acts as
the manager named by ``--manager`` (who must be a manager), or else as the
store's first active manager. Whoever runs it already holds the cache file.
"""

from __future__ import annotations

import argparse

from pos_returns.cli import add_common, config_from, whole_number
from pos_returns.commands import existing_cache
from pos_returns.engine.domain import Role
from pos_returns.errors import NotFound
from pos_returns.i18n import _
from pos_returns.usecases.auth import find_staff, get_staff, require_role
from pos_returns.usecases.reports import write_daily_report
from pos_returns.usecases.review import parse_day


def register(sub: argparse._SubParsersAction) -> None:

    parser = sub.add_parser("report", help=_("write the daily returns report (PDF and CSV)"))
    add_common(parser)
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD",
                        help=_("the day to report (store time)"))
    parser.add_argument("--out", required=True, metavar="DIR",
                        help=_("the folder to write the PDF and CSV files into"))
    parser.add_argument("--store", type=whole_number(minimum=1, maximum=999), metavar="ID",
                        help=_("the store (default: the till's store)"))
    parser.add_argument("--manager", metavar="CODE",
                        help=_("the manager the report is made for (staff code)"))
    parser.set_defaults(func=run_report)


def command_manager(db, store_id: int, code: str | None):  # type: ignore[no-untyped-def]
    """The manager a headless command acts as (see the module's docstring)."""

    if code:
        staff = find_staff(db, code)
        require_role(staff, Role.MANAGER)
        return staff
    row = db.execute(
        "SELECT id FROM staff WHERE role = 'manager' AND active = 1 AND store_id = ? "
        "ORDER BY id LIMIT 1",
        [store_id],
    ).fetchone()
    if row is None:
        raise NotFound(_("No active manager in store {store}.").format(store=store_id),
                       code="manager")
    return get_staff(db, row[0])


def run_report(args: argparse.Namespace) -> int:

    cfg = config_from(args)
    day = parse_day(args.date)
    with existing_cache(cfg.cache_path) as db:
        store_id = args.store or cfg.store_id
        manager = command_manager(db, store_id, args.manager)
        files = write_daily_report(db, manager, day, args.out, store_id=store_id,
                                   policy=cfg.policy)
    for path in (files.pdf, files.csv, files.totals_csv):
        print(path)
    return 0
