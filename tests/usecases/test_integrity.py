"""Issue 12: integrity no insider can break. Each test is an attack that went through
before; it is named after the attack (and the rule where one applies)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pos_returns.cache.schema.journal import FISCAL_KEYS
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.engine.domain import TenderKind
from pos_returns.engine.plan import PlannedRefund
from pos_returns.errors import Conflict
from pos_returns.journal.chain import Journal
from pos_returns.usecases import tickets
from tests.helpers import L, T, add_sale, approve


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


def _line(db, sale_id: int) -> int:
    return db.execute("SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
                      [sale_id]).fetchone()[0]


@pytest.fixture
def ledger(db, cfg):
    """A cache with rows in every fiscal table: a 349,90 € card refund, a gift card, an
    R13 approval, a jewelry signature and a day closure."""
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 34990)], [T("card", 34990, "4242", "fp")])
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(_line(db, sale), 1)]))
    gift = add_sale(db, [L("SKU-PARF-01", 1, 9500)], gift_receipt=True)
    tickets.commit_plan(db, cfg, direct_plan(db, sale_id=gift, picks=[(_line(db, gift), 1)],
                                             gift=True))
    cere = add_sale(db, [L("SKU-CERE-01", 1, 89000)])
    plan = direct_plan(db, sale_id=cere, picks=[(_line(db, cere), 1)])
    plan = approve(db, cfg, plan, rule="R13", line_no=1)
    tickets.commit_plan(db, cfg, plan)
    db.execute(
        "INSERT INTO ticket_signatures(ticket_uuid, png, sha256, inspections, created_at) "
        "VALUES ('u-jewel', x'89504e47', 'abc', '[]', '2026-01-01T00:00:00Z')"
    )
    Journal.for_config(db, cfg).close_day(datetime.now(UTC).date())
    return db


# the column an insider would change, per table
_TARGET = {
    "journal": ("payload", "'{}'"),
    "journal_keys": ("public_key", "'00'"),
    "journal_heads": ("seq", "1"),
    "closures": ("grand_total", "grand_total - 100"),
    "return_tickets": ("net", "net * 10"),
    "return_lines": ("sale_line_id", "NULL"),
    "refunds": ("amount", "349900"),
    "approvals": ("manager_id", "1"),
    "gift_cards": ("initial_amount", "initial_amount * 10"),
    "ticket_signatures": ("sha256", "'forged'"),
}
_KEYS = [*FISCAL_KEYS, ("ticket_signatures", ("rowid",)), ("ticket_signatures", ("ticket_uuid",))]


def _columns(db, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _snapshot(db, table: str) -> list[tuple]:
    return db.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()


def _copy_sql(db, table: str, key: tuple[str, ...], verb: str, tail: str = "") -> str:
    """An INSERT that copies the first row with the target column changed, conflicting
    on ``key`` only (the INTEGER PRIMARY KEY / rowid is left to SQLite unless it is
    the key)."""
    col, expr = _TARGET[table]
    cols = [c for c in _columns(db, table)
            if not (c == "id" and key != ("rowid",))]
    if key == ("rowid",):
        cols = ["rowid", *[c for c in cols if c != "id"]]
    values = [expr if c == col else c for c in cols]
    if key != ("rowid",):
        # only the natural key may conflict: the other unique columns get fresh values
        for c in ("uuid", "number", "seq", "line_no", "key_id", "period", "ticket_uuid"):
            if c in cols and c not in key and c != col:
                values[cols.index(c)] = f"{c} || 'x'" if c not in ("number", "seq",
                                                                    "line_no") else f"{c} + 1000"
    return (f"{verb} INTO {table} ({', '.join(cols)}) SELECT {', '.join(values)} "
            f"FROM {table} WHERE rowid = (SELECT MIN(rowid) FROM {table}) {tail}")


@pytest.mark.parametrize("recursive", ["OFF", "ON"])
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
@pytest.mark.parametrize(("table", "key"), _KEYS, ids=lambda v: "-".join(v) if
                         isinstance(v, tuple) else v)
def test_REPLACE_on_a_fiscal_table_is_refused_whatever_recursive_triggers(
    ledger, table, key, verb, recursive
):
    ledger.execute(f"PRAGMA recursive_triggers = {recursive}")
    before = _snapshot(ledger, table)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute(_copy_sql(ledger, table, key, verb))
    assert _snapshot(ledger, table) == before


@pytest.mark.parametrize(("table", "key"), _KEYS, ids=lambda v: "-".join(v) if
                         isinstance(v, tuple) else v)
def test_UPSERT_DO_UPDATE_on_a_fiscal_table_is_refused(ledger, table, key):
    col, _expr = _TARGET[table]
    before = _snapshot(ledger, table)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute(_copy_sql(ledger, table, key, "INSERT",
                                 f"ON CONFLICT DO UPDATE SET {col} = excluded.{col}"))
    assert _snapshot(ledger, table) == before


def test_REPLACE_cannot_turn_a_refund_of_349_90_into_3499_00(ledger):
    ledger.execute("PRAGMA recursive_triggers = OFF")
    row = ledger.execute("SELECT id, ticket_id, kind, sale_tender_id, card_last4 FROM refunds "
                         "WHERE amount = 34990").fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute("INSERT OR REPLACE INTO refunds(id, ticket_id, kind, amount, "
                       "sale_tender_id, card_last4) VALUES (?, ?, ?, 349900, ?, ?)",
                       [row[0], row[1], row[2], row[3], row[4]])
    assert ledger.execute("SELECT amount FROM refunds WHERE id = ?", [row[0]]).fetchone() == (
        34990,)


def test_R02_REPLACE_cannot_free_a_returned_sale_line_for_a_second_refund(ledger, cfg):
    ledger.execute("PRAGMA recursive_triggers = OFF")
    line = ledger.execute("SELECT id, sale_line_id FROM return_lines WHERE amount = -34990"
                          ).fetchone()
    cols = [c for c in _columns(ledger, "return_lines") if c != "id"]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute(
            f"INSERT OR REPLACE INTO return_lines(id, {', '.join(cols)}) SELECT id, "
            + ", ".join("NULL" if c == "sale_line_id" else c for c in cols)
            + " FROM return_lines WHERE id = ?", [line[0]])
    sale = ledger.execute("SELECT sale_id FROM sale_lines WHERE id = ?", [line[1]]).fetchone()[0]
    again = direct_plan(ledger, sale_id=sale, picks=[(line[1], 1)],
                        refunds=[PlannedRefund(TenderKind.CASH, 34990)])
    with pytest.raises(Conflict):
        tickets.commit_plan(ledger, cfg, again)


def test_REPLACE_cannot_move_the_chain_head_backwards(ledger):
    ledger.execute("PRAGMA recursive_triggers = OFF")
    head = ledger.execute("SELECT seq FROM journal_heads").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.execute("INSERT OR REPLACE INTO journal_heads(store_id, till_no, seq, signature) "
                       "VALUES (1, 1, 2, 'x')")
    assert ledger.execute("SELECT seq FROM journal_heads").fetchone()[0] == head
