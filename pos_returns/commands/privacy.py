"""``pos-returns privacy``: the RGPD chores of the ID data of no-receipt returns.

    pos-returns privacy purge [--db PATH] [--now DATE]   delete ID data past retention
    pos-returns privacy key                              fingerprint of the chain's ID key

Run ``purge`` daily (the till also runs it at day's close); ``--now`` (ISO date or
date-time, UTC) lets a test or an auditor replay a purge at a given moment.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pos_returns.cli import add_common, config_from
from pos_returns.commands import existing_cache
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _, ngettext
from pos_returns.usecases import idcheck


def register(sub: argparse._SubParsersAction) -> None:

    parser = sub.add_parser("privacy", help=_("personal data of no-receipt returns (RGPD)"))
    inner = parser.add_subparsers(dest="privacy_command", metavar="COMMAND")
    purge = inner.add_parser("purge", help=_("delete ID data past its retention period"))
    add_common(purge)
    purge.add_argument(
        "--now", metavar="DATE", help=_("purge as of this date (ISO, UTC; default: now)")
    )
    purge.set_defaults(func=run_purge)
    key = inner.add_parser("key", help=_("show the fingerprint of the chain's ID key"))
    add_common(key)
    key.set_defaults(func=run_key)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            _("“{text}” is not a date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS).").format(
                text=text
            ),
            code="date",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def run_purge(args: argparse.Namespace) -> int:

    cfg = config_from(args)
    now = parse_now(args.now)
    with existing_cache(cfg.cache_path) as db:
        count = idcheck.purge(db, cfg, now=now)
    print(
        ngettext(
            "{count} ID record deleted (retention: {months} months).",
            "{count} ID records deleted (retention: {months} months).",
            count,
        ).format(count=count, months=cfg.policy.id_retention_months)
    )
    return 0


def run_key(args: argparse.Namespace) -> int:

    cfg = config_from(args)
    key = idcheck.load_secret(cfg)
    print(
        _("ID key {path}: fingerprint {fingerprint}").format(
            path=idcheck.key_path(cfg), fingerprint=idcheck.key_fingerprint(key)
        )
    )
    return 0
