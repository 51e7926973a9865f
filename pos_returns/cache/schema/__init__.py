"""The cache's one schema registry: every part's migrations, in the order they apply.

Each part of the till that owns tables has its migration set in this package, so
that the cache sits at the bottom of the import graph and nothing below it needs
the modules built on it. The set names (``pos_returns.core`` …) are stored in
each cache's ``_sqlite_migrations`` table: never rename them.
"""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

from pos_returns.cache.schema.core import CORE
from pos_returns.cache.schema.idcheck import MIGRATIONS as IDCHECK
from pos_returns.cache.schema.jewelry import MIGRATIONS as JEWELRY
from pos_returns.cache.schema.journal import FISCAL_TABLES, JOURNAL
from pos_returns.cache.schema.mail import MIGRATIONS as MAIL
from pos_returns.cache.schema.store import MIGRATIONS as STORE
from pos_returns.cache.schema.sync import MIGRATIONS as SYNC
from pos_returns.cache.schema.terminal import MIGRATIONS as TERMINAL

__all__ = ["FISCAL_TABLES", "migration_sets"]


def migration_sets() -> list[Migrations]:
    """Every migration set, in the order they must be applied."""
    return [CORE, IDCHECK, JOURNAL, SYNC, JEWELRY, MAIL, STORE, TERMINAL]
