"""``pos-returns support-bundle``: a zip for support.

    pos-returns support-bundle [--out FILE_OR_DIR] [--db PATH] [--config PATH]

The log files (rotating, without personal data), the configuration without
secrets, the fiscal journal's verification (or why it could not run) and the
versions. It works also when the cache is broken: that is when support needs it.
"""

from __future__ import annotations

import argparse

from pos_returns.cli import add_common, config_from
from pos_returns.i18n import _
from pos_returns.usecases.support import support_bundle


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("support-bundle",
                            help=_("write a zip for support: logs, configuration without "
                                   "secrets, journal verification, versions"))
    add_common(parser)
    parser.add_argument("--out", metavar="FILE", help=_("the zip to write (or a folder)"))
    parser.set_defaults(func=run_bundle)


def run_bundle(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    path = support_bundle(cfg, args.out)
    print(path)
    return 0
