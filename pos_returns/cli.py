"""``pos-returns``: the till's command line.

Each command group lives in its own module under :mod:`pos_returns.commands`
and exposes ``register(subparsers)``; every command takes ``--db PATH`` (the
local cache; default from the till's configuration) and ``--config PATH``.
``run`` and ``screenshots`` open the Qt layer, imported only inside them so
that the core stays free of Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pos_returns import __version__
from pos_returns.config import TillConfig, load_config
from pos_returns.errors import AlamaraError
from pos_returns.i18n import _, catalogue_present, set_language
from pos_returns.resources import locale_dir

COMMAND_MODULES = (
    "pos_returns.commands.app",
    "pos_returns.commands.demo",
    "pos_returns.commands.journal",
    "pos_returns.commands.report",
    "pos_returns.commands.privacy",
    "pos_returns.commands.sync",
)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help=_("the local cache (SQLite file)"))
    parser.add_argument("--config", metavar="PATH", help=_("the till's TOML configuration"))


def config_from(args: argparse.Namespace) -> TillConfig:
    """The till's configuration, with ``--db`` taking precedence over the file."""
    cfg = load_config(getattr(args, "config", None))
    if getattr(args, "db", None):
        cfg = cfg.with_cache(args.db)
    return cfg


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pos-returns", description=_("Alamara returns till"))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    cfg_lang = "fr"
    try:
        cfg_lang = load_config(None).language
    except AlamaraError:
        pass
    set_language(cfg_lang)
    if not catalogue_present("fr"):
        # No catalogue, so no gettext: the one message written in French in the code.
        print("Erreur : le catalogue français de la caisse est introuvable ("
              f"{locale_dir()}). L'installation est incomplète : réinstallez "
              "Alamara Retours (French catalogue missing: reinstall).", file=sys.stderr)
        return 3
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AlamaraError as exc:
        print(_("Error: {message}").format(message=exc), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
