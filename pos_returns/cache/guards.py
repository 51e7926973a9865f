"""The guards themselves under watch: the schema of the guarded tables, compared with
exactly what the migrations create (issue 12, audit).

The append-only triggers only hold while they are there: an insider with the file
drops them, or adds a UNIQUE index through which REPLACE deletes rows, or a view
with its own triggers. SQLite cannot stop a schema change, so the till notices
it: :func:`schema_differences` lists every trigger, index and view of the guarded
tables (``GUARDED_TABLES``), every trigger and view of the whole cache (the till
creates none at run time) and the guarded tables' own definitions, against a
cache built in memory by the same migrations. ``journal verify`` and the till's
start-up record a difference as an integrity failure; the ticket writer refuses
every return while there is one (:func:`guard_block`).

The expected schema is that of the migrations the cache says it has applied (its
``_sqlite_migrations``; the till applies every pending one when it opens the
cache), so an older cache verified by a newer program is not accused of lacking
objects it never had.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlite_utils import Database

from pos_returns.cache.schema import migration_sets
from pos_returns.cache.schema.journal import GUARDED_TABLES
from pos_returns.i18n import _

_GUARDED = frozenset(GUARDED_TABLES)
# (type, name) -> (table, sql)
Objects = dict[tuple[str, str], tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class SchemaDifference:
    """One schema object that is not what the migrations create."""

    change: str  # "missing", "changed", "extra"
    type: str  # "table", "index", "trigger", "view"
    name: str
    table: str

    def describe(self) -> str:
        kind = {"table": _("table"), "index": _("index"), "trigger": _("trigger"),
                "view": _("view")}.get(self.type, self.type)
        if self.change == "missing":
            text = _("{kind} {name} (on {table}): no longer there")
        elif self.change == "changed":
            text = _("{kind} {name} (on {table}): not what the till created")
        else:
            text = _("{kind} {name} (on {table}): not created by the till")
        return text.format(kind=kind, name=self.name, table=self.table)


def _watched(rows: Iterable[tuple[str, str, str, str | None]]) -> Objects:
    """The objects under watch among sqlite_master's rows (type, name, tbl_name, sql)."""
    out: Objects = {}
    for type_, name, table, sql in rows:
        guarded = str(table).lower() in _GUARDED
        if type_ in ("trigger", "view") or (type_ in ("index", "table") and guarded):
            out[(str(type_), str(name))] = (str(table), sql)
    return out


def _master(conn: sqlite3.Connection) -> Objects:
    return _watched(conn.execute("SELECT type, name, tbl_name, sql FROM main.sqlite_master"))


def applied_prefix(db: Database) -> tuple[int, ...]:
    """For each migration set, how many of its migrations the expected schema includes:
    up to the last one the cache records as applied (the ones before it are implied)."""
    try:
        rows = db.conn.execute("SELECT migration_set, name FROM _sqlite_migrations").fetchall()
    except sqlite3.OperationalError:  # not a migrated cache
        rows = []
    applied: dict[str, set[str]] = {}
    for set_name, name in rows:
        applied.setdefault(str(set_name), set()).add(str(name))
    counts = []
    for migrations in migration_sets():
        names = [m.name for m in migrations._migrations]
        done = applied.get(migrations.name, set())
        counts.append(max((i + 1 for i, n in enumerate(names) if n in done), default=0))
    return tuple(counts)


@lru_cache(maxsize=8)
def expected_objects(prefix: tuple[int, ...]) -> Objects:
    """The watched objects of a cache built in memory by the first ``prefix[i]``
    migrations of each set (all of them: ``prefix`` None-like full counts)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        mem = Database(conn)
        for migrations, count in zip(migration_sets(), prefix, strict=True):
            for migration in migrations._migrations[:count]:
                migration.fn(mem)
        return _master(conn)
    finally:
        conn.close()


def schema_differences(db: Database) -> list[SchemaDifference]:
    """Every watched object that differs from what the migrations create, in a stable
    order (missing first, then changed, then extra)."""
    expected = expected_objects(applied_prefix(db))
    actual = _master(db.conn)
    out: list[SchemaDifference] = []
    for key in sorted(expected.keys() - actual.keys()):
        out.append(SchemaDifference("missing", key[0], key[1], expected[key][0]))
    for key in sorted(expected.keys() & actual.keys()):
        if _norm(expected[key]) != _norm(actual[key]):
            out.append(SchemaDifference("changed", key[0], key[1], actual[key][0]))
    for key in sorted(actual.keys() - expected.keys()):
        out.append(SchemaDifference("extra", key[0], key[1], actual[key][0]))
    return out


def _norm(obj: tuple[str, str | None]) -> tuple[str, str | None]:
    return (obj[0].lower(), obj[1])


def describe(differences: Iterable[SchemaDifference], limit: int = 5) -> str:
    """The differences for people: the first ``limit`` named, then how many more."""
    items = list(differences)
    text = "; ".join(d.describe() for d in items[:limit])
    if len(items) > limit:
        text += " " + _("(and {count} more)").format(count=len(items) - limit)
    return text


def block_message(differences: list[SchemaDifference]) -> str:
    """The French message that refuses a return while the guards are not intact."""
    return _(
        "The guards of the fiscal tables were changed behind the till's back ({details}). "
        "Returns are blocked: call support, who will check the journal (pos-returns journal "
        "verify) and restore the guards (pos-returns journal guards --repair)."
    ).format(details=describe(differences))


def guard_block(db: Database) -> str:
    """'' when the guards are as the migrations made them; else the message that
    refuses the return (the ticket writer calls it inside its transaction)."""
    differences = schema_differences(db)
    return block_message(differences) if differences else ""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def repair(db: Database) -> tuple[list[SchemaDifference], list[SchemaDifference]]:
    """Put the guards back as the migrations create them, in one transaction: extra
    triggers, indexes and views dropped, missing or changed ones created again from
    the migrations' SQL. A guarded table itself that differs (renamed, recreated) or
    one of SQLite's own indexes cannot be repaired here (the cache is restored from a
    backup, or HQ): it is returned in ``left``. Returns (repaired, left).

    Repairing hides nothing: the rows changed while the guards were down are still
    named by ``journal verify`` (every fiscal row is under the signature).
    """
    from pos_returns.cache.db import atomic  # cache.db imports the schema registry

    expected = expected_objects(applied_prefix(db))
    repaired: list[SchemaDifference] = []
    left: list[SchemaDifference] = []
    with atomic(db):
        for diff in schema_differences(db):
            key = (diff.type, diff.name)
            sql = expected[key][1] if key in expected else None
            if diff.type == "table" or (diff.change != "extra" and sql is None) \
                    or diff.name.startswith("sqlite_"):
                left.append(diff)
                continue
            if diff.change in ("extra", "changed"):
                db.execute(f"DROP {diff.type.upper()} IF EXISTS {_quoted(diff.name)}")
            if diff.change in ("missing", "changed") and sql is not None:
                db.execute(sql)
            repaired.append(diff)
    return repaired, left
