"""What is pulled, the local cursors, progress and the round's summary."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.failures import known_message
from pos_returns.i18n import N_, _, ngettext

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # pragma: no cover
    pass


DEFAULT_BATCH = 20_000
DEFER_INDEXES_FROM = 50_000  # rows to pull into a table before its indexes are rebuilt after
CONNECT_TIMEOUT = 3  # seconds: a till does not wait long for an HQ that is away
CHECK_TIMEOUT = 2  # the online check before a refund


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- what is pulled -----------------------------------------------------------------


@dataclass(frozen=True)
class PullTable:
    """A table pulled from HQ into the local table of the same name.

    ``mode``: ``upsert`` (reference data, HQ is the master), ``insert_only``
    (documents: ``ON CONFLICT DO NOTHING``, never an UPDATE), ``returns`` (other
    tills' return tickets with their lines, refunds, approvals and gift cards).
    ``optional`` tables are skipped while the local table does not exist.
    """

    name: str
    key: tuple[str, ...] = ("id",)
    mode: str = "upsert"
    optional: bool = False
    exclude: tuple[str, ...] = ()  # HQ columns never copied (HQ-local ids)
    conflict: tuple[str, ...] = ()  # local unique columns (default: key)
    skip_own_till: bool = False  # rows with this till's store_id/till_no stay out

    @property
    def conflict_cols(self) -> tuple[str, ...]:
        return self.conflict or self.key


PULL_TABLES: list[PullTable] = [
    PullTable("stores"),
    PullTable("tills", key=("store_id", "till_no")),
    PullTable("vat_rates", key=("rate_bp",)),
    PullTable("departments", key=("code",)),
    PullTable("products", key=("sku",)),
    PullTable("customers"),
    PullTable("staff"),
    PullTable("sales"),
    PullTable("sale_lines"),
    PullTable("tenders"),
    PullTable("return_tickets", mode="returns", skip_own_till=True),
    # The no-receipt identity ledger (pos_returns.usecases.idcheck): insert-only, by uuid.
    PullTable(
        "id_ledger", mode="insert_only", optional=True, exclude=("id",), conflict=("uuid",),
        skip_own_till=True,
    ),
    # The chain's count of wrong PINs per staff member (pos_returns.usecases.auth).
    PullTable("staff_pin_state", key=("staff_id",), optional=True),
]

#: What each pulled table is, for people (progress lines and the status widget).
TABLE_LABELS: dict[str, str] = {
    "stores": N_("stores"),
    "tills": N_("tills"),
    "vat_rates": N_("VAT rates"),
    "departments": N_("departments"),
    "products": N_("products and prices"),
    "customers": N_("customers"),
    "staff": N_("staff"),
    "sales": N_("sales"),
    "sale_lines": N_("sale lines"),
    "tenders": N_("payments"),
    "return_tickets": N_("other tills' returns"),
    "id_ledger": N_("identity ledger"),
    "staff_pin_state": N_("wrong PINs across the chain"),
    "outbox": N_("documents to send"),
}


def table_label(name: str) -> str:
    return _(TABLE_LABELS[name]) if name in TABLE_LABELS else name


@dataclass(frozen=True)
class Progress:
    """Where a sync round is: ``phase`` "push" or "pull", a table, rows done / total."""

    phase: str
    table: str
    done: int
    total: int
    full_sync: bool = False

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


@dataclass
class SyncSummary:
    online: bool = False
    full_sync: bool = False
    pulled: dict[str, int] = field(default_factory=dict)
    pushed: int = 0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    journal_head_ok: bool | None = None
    released: int = 0  # reservations this till never committed, freed at HQ
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)  # table, key, reason
    seconds: float = 0.0
    error: str = ""
    anchor_status: str = ""  # HQ's answer to the head: "ok", "rollback", "fork", "key"
    behind_hq: bool = False  # the till's chain did not hold HQ's anchored record
    recovered_tickets: int = 0  # own tickets pulled back from HQ after a restore

    @property
    def pulled_total(self) -> int:
        return sum(self.pulled.values())

    def french_lines(self) -> list[str]:
        """The summary for people (translated)."""
        if not self.online:
            lines = [_("HQ unreachable: the till works offline from its cache.")]
            if self.error:
                lines.append(_("Reason: {error}").format(error=self.error))
            return lines
        lines = [
            ngettext(
                "{n} document sent to HQ", "{n} documents sent to HQ", self.pushed
            ).format(n=self.pushed),
            ngettext(
                "{n} row received from HQ", "{n} rows received from HQ", self.pulled_total
            ).format(n=self.pulled_total),
        ]
        if self.conflicts:
            lines.append(
                ngettext(
                    "{n} conflict for the manager's review",
                    "{n} conflicts for the manager's review",
                    self.conflicts,
                ).format(n=self.conflicts)
            )
        if self.errors:
            lines.append(
                ngettext(
                    "{n} document refused by HQ as malformed: it stays waiting, for review",
                    "{n} documents refused by HQ as malformed: they stay waiting, for review",
                    self.errors,
                ).format(n=self.errors)
            )
        if self.released:
            lines.append(
                ngettext(
                    "{n} reservation this till never committed was freed at HQ",
                    "{n} reservations this till never committed were freed at HQ",
                    self.released,
                ).format(n=self.released)
            )
        if self.quarantined:
            lines.append(
                ngettext(
                    "{n} row from HQ refused as invalid (quarantined, for the manager's review):",
                    "{n} rows from HQ refused as invalid (quarantined, for the manager's review):",
                    len(self.quarantined),
                ).format(n=len(self.quarantined))
            )
            for table, key, reason in self.quarantined[:20]:
                lines.append(_("  {table} {key}: {reason}").format(
                    table=table_label(table), key=key, reason=reason))
            if len(self.quarantined) > 20:
                lines.append(_("  … and {n} more").format(n=len(self.quarantined) - 20))
        if self.journal_head_ok is False:
            lines.append(_("HQ knew a longer journal for this till: an alert was raised."))
        if self.behind_hq:
            lines.append(ngettext(
                "This till was behind HQ (a restored cache?): {n} of its own tickets pulled "
                "back from HQ before any refund.",
                "This till was behind HQ (a restored cache?): {n} of its own tickets pulled "
                "back from HQ before any refund.",
                self.recovered_tickets,
            ).format(n=self.recovered_tickets))
        if self.anchor_status in ("rollback", "fork", "key"):
            lines.append(_("HQ did not anchor this till's journal head: an alert waits for "
                           "a manager at HQ."))
        lines.append(_("Sync finished in {seconds} s.").format(seconds=f"{self.seconds:.1f}"))
        return lines


# -- local cursors ------------------------------------------------------------------


def _local_columns(db: Database, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()]


def _local_exists(db: Database, table: str) -> bool:
    return bool(
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
        .fetchone()
    )


def get_cursor(db: Database, name: str) -> tuple[int, list[Any] | None]:
    row = db.execute("SELECT txid, key FROM sync_cursors WHERE name = ?", [name]).fetchone()
    if not row or not row[1]:
        return (0, None)
    return int(row[0]), json.loads(row[1])


def _save_cursor(db: Database, name: str, txid: int, key: Sequence[Any], rows: int) -> None:
    db.execute(
        "INSERT INTO sync_cursors(name, txid, key, rows, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET txid = excluded.txid, key = excluded.key, "
        "rows = sync_cursors.rows + excluded.rows, updated_at = excluded.updated_at",
        [name, txid, json.dumps(list(key)), rows, now_iso()],
    )


def first_sync_done(db: Database) -> bool:
    row = db.execute(
        "SELECT 1 FROM sync_runs WHERE online = 1 AND finished_at != '' AND error = '' LIMIT 1"
    ).fetchone()
    return row is not None

def offline_reason(exc: BaseException) -> str:
    """Why HQ could not be used, in French (shown by ``pos-returns sync`` and the
    header); the driver's own English text goes to the log only."""
    text = str(exc).strip().splitlines()
    log.warning("HQ: %s: %s", exc.__class__.__name__, text[0] if text else "")
    return known_message(exc) or _(
        "HQ could not be used ({error}).").format(error=exc.__class__.__name__)
