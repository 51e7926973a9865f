"""A real PostgreSQL for the HQ sync tests, started once per session.

The server comes from the machine's PostgreSQL 15 binaries
(tools/system-deps.sh installs them); as root it runs as the ``postgres`` user
(see tests/integration/pgserver.py). When it cannot start, every test here
FAILS with the reason: a sync suite that silently skips proves nothing.

Each test gets a fresh HQ database cloned from a template that holds the HQ
schema and the reference data of tests/factories.py (stores, catalogue, staff).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.pgserver import LocalPostgres, PostgresUnavailable

TEMPLATE = "hq_template"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    try:
        server.init()
        server.start()
    except PostgresUnavailable as exc:
        server.cleanup()
        pytest.fail(f"PostgreSQL could not be started for the HQ tests: {exc}", pytrace=False)
    try:
        _make_template(server, tmp_path_factory.mktemp("hq-template"))
        yield server
    finally:
        server.cleanup()


def _make_template(server: LocalPostgres, tmp: Path) -> None:
    from pos_returns.hq import schema as hq_schema
    from tests.helpers import new_cache

    with hq_schema.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    source = new_cache(tmp / "reference.sqlite")
    try:
        with hq_schema.connect(server.dsn(TEMPLATE), autocommit=True) as conn:
            hq_schema.create_schema(conn)
            hq_schema.load_from_cache(conn, source)
    finally:
        source.close()


@pytest.fixture
def hq_dsn(pg_server: LocalPostgres) -> Iterator[str]:
    """A fresh HQ database (schema + reference data, no sales yet)."""
    from pos_returns.hq import schema as hq_schema

    if not pg_server.running:  # a test stopped it (HQ away) and failed before restarting
        pg_server.start()
    name = f"hq_test_{next(_names)}"
    with hq_schema.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield pg_server.dsn(name)
    if not pg_server.running:
        pg_server.start()
    with hq_schema.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def hq_conn(hq_dsn: str):
    from pos_returns.hq import schema as hq_schema

    conn = hq_schema.connect(hq_dsn, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def till(tmp_path: Path):
    """Factory of till caches: ``till("a")`` -> an empty migrated SQLite cache."""
    from pos_returns.cache.db import open_cache

    opened = []

    def make(name: str = "till"):
        db = open_cache(tmp_path / f"{name}.sqlite")
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()
