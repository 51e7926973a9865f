"""Pulled rows are validated before they are written (docs/sync.md, "Bad rows").

HQ's data is not trusted blindly: a row that breaks a local CHECK (a negative
price, a staff role ``admin``, a tender ``bitcoin``), an amount or quantity out of
bounds (a unit price of 9·10¹⁸ cents), or a date that is not one (``not-a-date``)
goes to ``sync_quarantine`` with its reason, is shown to the manager and in
``pos-returns sync``, and the other rows go on syncing; the cursor moves past it,
and a corrected version (a new ``txid`` at HQ) is pulled and written later.

Two nets:

1. **Rules**, computed by PostgreSQL in the pull's own SELECT: one extra column
   ``CASE WHEN <rule 1 broken> THEN 'table.column:rule' ... END``, NULL for a good
   row. PostgreSQL evaluates it in C while the till writes the previous batch; the
   till keeps the good rows with one list comprehension per batch (measured: an
   ``INSERT ... SELECT ... WHERE ?N IS NULL`` that lets SQLite skip them costs 2×
   the plain ``VALUES`` insert), so the first full sync keeps its speed.
2. **SQLite itself**: a batch that still fails (a foreign key to a quarantined
   sale, a UNIQUE clash, a NOT NULL) is rolled back to its savepoint and written
   row by row, each failure quarantined with SQLite's reason.

Types need no rule: the HQ columns are typed (bigint, integer, text) and the
values arrive as such.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from pos_returns.sync.state import now_iso

DEFAULT_MAX_AMOUNT = 10_000_000  # cents: 100 000 €
DEFAULT_MAX_QUANTITY = 9_999
MAX_VAT_BP = 10_000

_DATE_RE = (
    r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
)



@dataclass(frozen=True)
class Limits:
    """The bounds of pulled amounts (cents) and quantities (config keys
    ``sync_max_amount``, ``sync_max_quantity``)."""

    max_amount: int = DEFAULT_MAX_AMOUNT
    max_quantity: int = DEFAULT_MAX_QUANTITY

    @classmethod
    def from_config(cls, cfg: Any) -> Limits:
        return cls(int(getattr(cfg, "sync_max_amount", DEFAULT_MAX_AMOUNT)),
                   int(getattr(cfg, "sync_max_quantity", DEFAULT_MAX_QUANTITY)))


def _enum(values: Sequence[str]) -> str:
    return "({col} IN (" + ", ".join(f"'{v}'" for v in values) + "))"


def _between(low: str, high: str) -> str:
    return "({col} BETWEEN " + low + " AND " + high + ")"


def _date() -> str:
    """A UTC timestamp ``YYYY-MM-DDTHH:MM:SSZ`` whose day exists in its month: one
    regular expression and a text comparison of the day with the month's length
    (29 February passes every year; the planning refuses it when it is not a date).
    About 2 µs a row at HQ, which is why ``sale_lines.sold_at`` (a copy of the
    sale's date, used only to order a search) is not checked."""
    return (
        "({col} ~ '" + _DATE_RE + "' AND substr({col}, 9, 2) <= CASE substr({col}, 6, 2) "
        "WHEN '02' THEN '29' WHEN '04' THEN '30' WHEN '06' THEN '30' WHEN '09' THEN '30' "
        "WHEN '11' THEN '30' ELSE '31' END)"
    )


#: table -> [(column, rule name, SQL predicate that is TRUE for a good value)].
#: ``{M}`` is the amount bound, ``{Q}`` the quantity bound.
RULES: dict[str, list[tuple[str, str, str]]] = {
    "vat_rates": [("rate_bp", "bounds", _between("0", str(MAX_VAT_BP)))],
    "products": [
        ("current_price", "bounds", _between("0", "{M}")),
        ("vat_rate_bp", "bounds", _between("0", str(MAX_VAT_BP))),
    ],
    "staff": [
        ("role", "enum", _enum(("salesperson", "jewelry", "manager"))),
        ("active", "enum", "({col} IN (0, 1))"),
    ],
    "staff_pin_state": [
        ("failed", "bounds", _between("0", "1000")),
        ("locked_until", "date", "({col} = '' OR " + _date() + ")"),
    ],
    "sales": [
        ("channel", "enum", _enum(("store", "online"))),
        ("sold_at", "date", _date()),
        ("merchandise", "bounds", _between("0", "{M}")),
        ("shipping", "bounds", _between("0", "{M}")),
        ("duties", "bounds", _between("0", "{M}")),
        ("total", "bounds", _between("0", "{M}")),
    ],
    "sale_lines": [
        ("quantity", "bounds", _between("1", "{Q}")),
        ("unit_price", "bounds", _between("0", "{M}")),
        ("list_price", "bounds", _between("0", "{M}")),
        ("vat_rate_bp", "bounds", _between("0", str(MAX_VAT_BP))),
    ],
    "tenders": [
        ("kind", "enum", _enum(("cash", "card", "gift_card", "notes"))),
        ("amount", "bounds", _between("1", "{M}")),
    ],
    "return_tickets": [
        ("kind", "enum", _enum(("receipt", "no_receipt", "exchange"))),
        ("created_at", "date", _date()),
        ("refund_total", "bounds", _between("0", "{M}")),
        ("charge_total", "bounds", _between("0", "{M}")),
        ("restocking_fees", "bounds", _between("0", "{M}")),
        ("net", "bounds", _between("-{M}", "{M}")),
    ],
    "id_ledger": [
        ("amount", "bounds", _between("-{M}", "{M}")),
        ("created_at", "date", _date()),
    ],
}


def reason_sql(table: str, columns: Iterable[str], limits: Limits) -> str | None:
    """The SELECT expression naming the first rule a row breaks (NULL: none)."""
    have = set(columns)
    whens = []
    for col, rule, predicate in RULES.get(table, []):
        if col not in have:
            continue
        text = predicate.replace("{M}", str(int(limits.max_amount))).replace(
            "{Q}", str(int(limits.max_quantity))).replace("{col}", col)
        whens.append(f"WHEN {text} IS NOT TRUE THEN '{table}.{col}:{rule}'")
    if not whens:
        return None
    return "CASE " + " ".join(whens) + " END"


# -- the rules again, in Python, for the few rows of other tills' returns ------------


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 20 or not value.endswith("Z"):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_return_child(table: str, row: dict[str, Any], limits: Limits) -> str | None:
    """The reason a line, refund, approval or gift card of a pulled return is bad."""
    m, q = limits.max_amount, limits.max_quantity
    checks: list[tuple[str, str, bool]] = []
    if table == "return_lines":
        checks = [
            ("direction", "enum", row.get("direction") in ("return", "sale")),
            ("quantity", "bounds", _int_in(row.get("quantity"), 1, q)),
            ("unit_amount", "bounds", _int_in(row.get("unit_amount"), 0, m)),
            ("amount", "bounds", _int_in(row.get("amount"), -m * q, m * q)),
            ("vat_rate_bp", "bounds", _int_in(row.get("vat_rate_bp"), 0, MAX_VAT_BP)),
        ]
    elif table == "refunds":
        checks = [
            ("kind", "enum", row.get("kind") in ("cash", "card", "gift_card", "notes")),
            ("amount", "bounds", _int_in(row.get("amount"), -m, m)
             and (row.get("sale_tender_id") is None or row.get("amount", 0) > 0)),
        ]
    elif table == "approvals":
        checks = [
            ("decision", "enum", row.get("decision") in ("approved", "refused")),
            ("decided_at", "date", _is_date(row.get("decided_at"))),
        ]
    elif table == "gift_cards":
        checks = [("initial_amount", "bounds", _int_in(row.get("initial_amount"), 1, m))]
    for col, rule, good in checks:
        if not good:
            return f"{table}.{col}:{rule}"
    return None


# -- the quarantine ------------------------------------------------------------------


def quarantine(db: Database, table: str, key: Sequence[Any], reason: str,
               detail: dict[str, Any] | None = None) -> None:
    """Keep a refused row (inside the batch's transaction, with its cursor)."""
    row_key = json.dumps(list(key), default=str)
    # a new version of a row already refused replaces the old entry (a new id: the
    # round that met it reports it)
    db.execute("DELETE FROM sync_quarantine WHERE tbl = ? AND row_key = ?", [table, row_key])
    db.execute(
        "INSERT INTO sync_quarantine (tbl, row_key, reason, detail, detected_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [table, row_key, reason, json.dumps(detail or {}, default=str, sort_keys=True),
         now_iso()],
    )


def open_keys(db: Database, table: str) -> set[str]:
    """The keys of ``table`` waiting in quarantine (to notice their correction)."""
    return {r[0] for r in db.execute(
        "SELECT row_key FROM sync_quarantine WHERE tbl = ? AND resolved_at = ''", [table])}


def resolve(db: Database, table: str, keys: Iterable[str]) -> None:
    db.conn.executemany(
        "UPDATE sync_quarantine SET resolved_at = ? WHERE tbl = ? AND row_key = ? "
        "AND resolved_at = ''", [(now_iso(), table, k) for k in keys])


@dataclass(frozen=True)
class QuarantinedRow:
    table: str
    key: str
    reason: str
    detected_at: str
    detail: str
    id: int = 0


def last_id(db: Database) -> int:
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM sync_quarantine").fetchone()[0])


def quarantined(db: Database, *, limit: int = 200, after_id: int = 0) -> list[QuarantinedRow]:
    """Rows refused at pull and not corrected since (newest first); ``after_id``:
    only those a round met after that point."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_quarantine'"
    ).fetchone()
    if not exists:
        return []
    return [QuarantinedRow(*r) for r in db.execute(
        "SELECT tbl, row_key, reason, detected_at, detail, id FROM sync_quarantine "
        "WHERE resolved_at = '' AND id > ? ORDER BY id DESC LIMIT ?",
        [int(after_id), int(limit)])]
