"""The ``pos-returns`` subcommands; each module registers its own (see ``pos_returns.cli``)."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pos_returns.cache.db import connect, migrate
from pos_returns.errors import InvalidInput

if TYPE_CHECKING:
    from sqlite_utils import Database


@contextmanager
def existing_cache(path: Path | str) -> Iterator[Database]:
    """The till's cache, which must exist already (NotFound otherwise), brought up to
    date (migrations) and closed on the way out, whatever happens."""

    db = connect(path, create=False)
    try:
        migrate(db)
        yield db
    finally:
        db.close()


def ask_secret(env: str, prompt: str, no_terminal: str, *, code: str) -> str:
    """A secret for a command (a PIN, a passphrase): from the environment variable
    ``env`` (scripts), else typed unseen on the terminal after ``prompt``; without a
    terminal, :class:`InvalidInput` with the French ``no_terminal``."""
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise InvalidInput(no_terminal, code=code)
    return getpass.getpass(prompt)
