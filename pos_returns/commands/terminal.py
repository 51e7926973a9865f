"""``pos-returns tpe-simulator``: a payment terminal speaking Caisse-AP over IP, for the
demo and the tests (docs/payment-terminal.md).

    pos-returns tpe-simulator [--host 127.0.0.1] [--port PORT] [--script FILE] [--delay S]
                              [--config PATH]

Point the till at it with ``terminal_host = "127.0.0.1"``; without ``--port`` it
listens on the till's ``terminal_port`` (8888 by default). It reads no cache
(``--db`` is accepted like on every command, and unused).
"""

from __future__ import annotations

import argparse

from pos_returns.cli import add_common, config_from
from pos_returns.devices import tpe_simulator
from pos_returns.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tpe-simulator",
        help=_("a payment terminal simulator speaking Caisse-AP over IP (demo, tests)"))
    tpe_simulator.add_arguments(parser)
    add_common(parser)
    parser.set_defaults(func=run, port=None)


def run(args: argparse.Namespace) -> int:
    cfg = config_from(args)  # a bad configuration is told like on every command
    if args.port is None:
        args.port = cfg.terminal_port
    return tpe_simulator.run(args)
