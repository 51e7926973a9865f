"""``pos-returns run`` (open the till) and ``pos-returns screenshots`` (every screen to PNG).

Qt is imported only inside the command functions: the core never loads PySide6.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from pos_returns.cache.db import open_cache
from pos_returns.cli import add_common, config_from
from pos_returns.commands import existing_cache
from pos_returns.commands.demo import cache_state
from pos_returns.errors import ConfigError, NotFound, StorageError
from pos_returns.failures import diagnose_cache
from pos_returns.i18n import _, set_language
from pos_returns.journal.keys import missing_key_message
from pos_returns.journal.pins import load_pepper
from pos_returns.usecases.settings import effective_config


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help=_("open the till"))
    add_common(run)
    run.set_defaults(func=cmd_run)

    shots = sub.add_parser("screenshots", help=_("render every screen and dialog to PNG"))
    add_common(shots)
    shots.add_argument("--out", metavar="DIR", required=True,
                       help=_("folder for the PNG files"))
    shots.set_defaults(func=cmd_screenshots)


def _check_cache(path: Path) -> None:
    if not path.exists():
        raise NotFound(
            _("The local cache {path} does not exist. Run “make run” (it builds a demo "
              "cache the first time) or “pos-returns demo --db {path}”.").format(path=path),
            code="cache",
        )
    problem = diagnose_cache(path)
    if problem:
        raise StorageError(problem, code="cache")
    if cache_state(path) == "incomplete":
        raise StorageError(
            _("The local cache {path} is incomplete (an interrupted build). Run “make run” "
              "or “pos-returns demo --ensure --db {path}” to finish it.").format(path=path),
            code="cache",
        )
    # a cache SQLite cannot read, or a folder that cannot be written, stops here,
    # before any window opens (the message is French, see pos_returns.failures)
    open_cache(path).close()


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    _check_cache(Path(cfg.cache_path))  # also applies any migration a newer version brings
    if not Path(cfg.key_path).expanduser().exists():  # never created behind the till's back
        raise ConfigError(missing_key_message(cfg.key_path), code="key_missing")
    load_pepper(cfg.key_path)  # no PIN can be checked without it: said now, in French
    with existing_cache(cfg.cache_path) as db:  # the store's settings over the TOML file
        cfg = effective_config(db, cfg)
    set_language(cfg.language)
    # The Qt layer is loaded only here (and not followed by mypy, which checks the core).
    app = importlib.import_module("ui.app")
    return int(app.run(cfg))


def cmd_screenshots(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    cfg = config_from(args)
    if args.db:
        _check_cache(Path(cfg.cache_path))
    screenshots = importlib.import_module("ui.screenshots")
    paths = screenshots.render_all(cfg, Path(args.out), use_db=bool(args.db))
    for path in paths:
        print(path)
    return 0
