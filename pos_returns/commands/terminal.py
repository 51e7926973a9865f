"""``pos-returns tpe-simulator``: a payment terminal speaking Caisse-AP over IP, for the
demo and the tests (docs/payment-terminal.md).

    pos-returns tpe-simulator [--host 127.0.0.1] [--port 8888] [--script FILE] [--delay S]

Point the till at it with ``terminal_host = "127.0.0.1"`` (and ``terminal_port``).
"""

from __future__ import annotations

import argparse

from pos_returns.devices import tpe_simulator
from pos_returns.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tpe-simulator",
        help=_("a payment terminal simulator speaking Caisse-AP over IP (demo, tests)"))
    tpe_simulator.add_arguments(parser)
    parser.set_defaults(func=tpe_simulator.run)
