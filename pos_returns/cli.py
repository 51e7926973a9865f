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
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pos_returns import __version__
from pos_returns.config import TillConfig, load_config
from pos_returns.failures import as_alamara, unexpected_message
from pos_returns.i18n import N_, _, catalogue_present, ngettext, set_language
from pos_returns.logs import setup_logging
from pos_returns.resources import locale_dir

log = logging.getLogger("pos_returns.cli")

# Exit codes of every command.
EXIT_OK = 0
EXIT_REFUSED = 1  # the command ran and said no (journal broken, cache already filled)
EXIT_ERROR = 2  # a failure, told in French (also argparse's usage errors)
EXIT_OFFLINE = 3  # sync: HQ unreachable, the till stays offline
EXIT_UNEXPECTED = 70  # a bug: generic French message, the details in the log
EXIT_INTERRUPTED = 130

# argparse's own messages, translated through our catalogue (argparse looks its
# ``_`` and ``ngettext`` up at call time, so the command line speaks French too).
ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("ignored explicit argument %r"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("positional arguments"),
    N_("options"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
)


def _french_argparse() -> None:
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def whole_number(*, minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number in a range, with French messages."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(
                _("“{text}” is not a whole number.").format(text=text[:40])) from None
        if value < minimum or (maximum is not None and value > maximum):
            if maximum is None:
                msg = _("The number must be {minimum} or more.").format(minimum=minimum)
            else:
                msg = _("The number must be between {minimum} and {maximum}.").format(
                    minimum=minimum, maximum=maximum)
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = "whole_number"
    return parse

COMMAND_MODULES = (
    "pos_returns.commands.app",
    "pos_returns.commands.demo",
    "pos_returns.commands.journal",
    "pos_returns.commands.keys",
    "pos_returns.commands.report",
    "pos_returns.commands.privacy",
    "pos_returns.commands.sync",
    "pos_returns.commands.support",
    "pos_returns.commands.terminal",
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help=_("show the version and quit"))
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


def _paths(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """The cache and configuration file a command works on, to name them in a message."""
    config = getattr(args, "config", None)
    cache = getattr(args, "db", None)
    if not cache:
        try:
            cache = load_config(config).cache_path
        except Exception:
            cache = None
    return (Path(cache) if cache else None, Path(config) if config else None)


def report_failure(exc: BaseException, args: argparse.Namespace | None) -> int:
    """Print ``exc`` as one French sentence on stderr and give the exit code; an
    unexpected error goes, with its traceback, to the log only."""
    cache, config = _paths(args) if args is not None else (None, None)
    error = as_alamara(exc, cache=cache, config=config)
    if error is None:
        log_path = setup_logging()
        log.error("unexpected error in %s", " ".join(sys.argv[:2]), exc_info=exc)
        print(_("Error: {message}").format(message=unexpected_message(log_path)),
              file=sys.stderr)
        return EXIT_UNEXPECTED
    if error is not exc:
        log.warning("%s: %s", type(exc).__name__, exc)
    print(_("Error: {message}").format(message=error), file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure becomes a French message and an exit code
    (see the ``EXIT_*`` constants), never a traceback."""
    cfg_lang = "fr"
    try:
        cfg_lang = load_config(None).language
    except Exception:  # a broken default configuration is reported by the command
        pass
    set_language(cfg_lang)
    if not catalogue_present("fr"):
        # No catalogue, so no gettext: the one message written in French in the code.
        print("Erreur : le catalogue français de la caisse est introuvable ("
              f"{locale_dir()}). L'installation est incomplète : réinstallez "
              "Alamara Retours (French catalogue missing: reinstall).", file=sys.stderr)
        return 3
    _french_argparse()
    args: argparse.Namespace | None = None
    try:
        setup_logging()
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_ERROR
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help, --version, a usage error
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except KeyboardInterrupt:
        print(_("Interrupted."), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return report_failure(exc, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
