"""The ``pos-returns`` subcommands; each module registers its own (see ``pos_returns.cli``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pos_returns.cache.db import connect, migrate

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
