"""The fiscal journal: an append-only, signed record of everything the till does.

Each till keeps one chain (``store_id``, ``till_no``) of records numbered
``seq`` = 1, 2, 3… with no gap. A record is canonical JSON (sorted keys, no
spaces, UTF-8)::

    {"at":…,"key":…,"kind":…,"payload":{…},"prev_hash":…,"prev_sig":…,
     "seq":…,"store":…,"ticket":…,"till":…,"v":1}

``prev_sig`` is the previous record's signature and ``prev_hash`` the SHA-256
of the previous record's bytes; the record's own ``signature`` is Ed25519 over
those bytes, made with the till's private key (:mod:`pos_returns.journal.keys`). So
every signature covers the previous signature and the record, and the last
signature covers, through the hashes, every record before it.

The fiscal tables refuse UPDATE and DELETE (SQLite triggers); corrections are
new, opposite records. See ``docs/journal.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache import outbox
from pos_returns.cache.db import atomic
from pos_returns.engine.vat import add_records as add_vat_rows
from pos_returns.engine.vat import vat_by_rate
from pos_returns.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from pos_returns.i18n import STORE_TZ, _, ngettext
from pos_returns.journal.keys import Signer, load_signer, public_key_from_hex, verify_signature

if TYPE_CHECKING:
    from pos_returns.config import TillConfig

FORMAT_VERSION = 1

TICKET = "ticket"
DUPLICATE = "duplicate"
CLOSURE = "closure"
TECHNICAL_KINDS = frozenset(
    {
        "start",
        "stop",
        "login",
        "login_failed",
        "lockout",
        "unlock",
        "override",
        "sync",
        "config_change",
        "integrity_failure",
        "jewelry_mode_on",
        "jewelry_mode_off",
        "privacy_purge",
        "archive",
    }
)
RECORD_KINDS = frozenset({TICKET, DUPLICATE, CLOSURE}) | TECHNICAL_KINDS

# Tables whose rows are fiscal documents: never updated, never deleted.
# --------------------------------------------------------------------------- records


# json.dumps(text, ensure_ascii=False) for a str, without json.dumps' overhead (the C encoder)
_js: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def record_bytes(
    *,
    store_id: int,
    till_no: int,
    seq: int,
    kind: str,
    created_at: str,
    ticket_uuid: str,
    key_id: str,
    prev_hash: str,
    prev_signature: str,
    payload_json: str,
) -> bytes:
    """The exact bytes a record's signature covers: the canonical JSON of the
    record (``payload_json`` must itself be canonical JSON)."""
    return (
        f'{{"at":{_js(created_at)},"key":{_js(key_id)},"kind":{_js(kind)},'
        f'"payload":{payload_json},"prev_hash":{_js(prev_hash)},'
        f'"prev_sig":{_js(prev_signature)},"seq":{int(seq)},"store":{int(store_id)},'
        f'"ticket":{_js(ticket_uuid)},"till":{int(till_no)},"v":{FORMAT_VERSION}}}'
    ).encode()


def record_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_ROW_COLUMNS = (
    "id, store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, payload, "
    "prev_hash, prev_signature, signature"
)
# positions in a row tuple
_ID, _STORE, _TILL, _SEQ, _KIND, _AT, _TICKET, _KEY, _PAYLOAD, _PHASH, _PSIG, _SIG = range(12)


def _row_bytes(row: Sequence[Any]) -> bytes:
    return record_bytes(
        store_id=row[_STORE],
        till_no=row[_TILL],
        seq=row[_SEQ],
        kind=row[_KIND],
        created_at=row[_AT],
        ticket_uuid=row[_TICKET],
        key_id=row[_KEY],
        prev_hash=row[_PHASH],
        prev_signature=row[_PSIG],
        payload_json=row[_PAYLOAD],
    )


@dataclass(frozen=True, slots=True)
class JournalRecord:
    id: int
    store_id: int
    till_no: int
    seq: int
    kind: str
    created_at: str
    ticket_uuid: str
    key_id: str
    payload_json: str
    prev_hash: str
    prev_signature: str
    signature: str

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)

    @property
    def data(self) -> bytes:
        """The signed bytes."""
        return _row_bytes(self._row())

    @property
    def hash(self) -> str:
        return record_hash(self.data)

    def _row(self) -> tuple[Any, ...]:
        return (
            self.id, self.store_id, self.till_no, self.seq, self.kind, self.created_at,
            self.ticket_uuid, self.key_id, self.payload_json, self.prev_hash,
            self.prev_signature, self.signature,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> JournalRecord:
        return cls(*row)


def _utc_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_midnight_utc(day: date) -> str:
    return _utc_text(datetime(day.year, day.month, day.day, tzinfo=STORE_TZ))


# --------------------------------------------------------------------------- journal


@dataclass(frozen=True, slots=True)
class Closure:
    store_id: int
    till_no: int
    period_kind: str
    period: str
    created_at: str
    first_number: int
    last_number: int
    ticket_count: int
    net: int
    grand_total: int
    grand_total_abs: int
    totals: dict[str, Any]
    journal_seq: int
    signature: str


class Journal:
    """One till's chain. ``append`` must run inside the caller's transaction
    (``store.atomic``) so that the record commits with the document it records."""

    def __init__(self, db: Database, signer: Signer, store_id: int, till_no: int) -> None:
        self.db = db
        self.signer = signer
        self.store_id = int(store_id)
        self.till_no = int(till_no)
        self._key_checked = False

    @classmethod
    def for_config(
        cls,
        db: Database,
        cfg: TillConfig,
        *,
        store_id: int | None = None,
        till_no: int | None = None,
    ) -> Journal:
        """The journal of the till configured in ``cfg`` (key from ``cfg.key_path``)."""
        return cls(
            db,
            load_signer(cfg.key_path),
            cfg.store_id if store_id is None else store_id,
            cfg.till_no if till_no is None else till_no,
        )

    # -- key ---------------------------------------------------------------

    def _ensure_key(self) -> None:
        if self._key_checked:
            return
        rows = self.db.execute(
            "SELECT key_id FROM journal_keys WHERE store_id = ? AND till_no = ?",
            [self.store_id, self.till_no],
        ).fetchall()
        known = {r[0] for r in rows}
        if not known:
            self.db.execute(
                "INSERT INTO journal_keys(store_id, till_no, key_id, public_key, public_pem, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    self.store_id, self.till_no, self.signer.key_id, self.signer.public_hex,
                    self.signer.public_pem(), _utc_text(),
                ],
            )
        elif self.signer.key_id not in known:
            raise IntegrityFailure(
                _(
                    "The journal key file does not match the key of this till's chain "
                    "(store {store}, till {till}): restore the till's key file; "
                    "the journal cannot be continued with another key."
                ).format(store=self.store_id, till=self.till_no),
                code="key_mismatch",
            )
        self._key_checked = True

    # -- append ------------------------------------------------------------

    def last(self) -> JournalRecord | None:
        row = self.db.execute(
            f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? "
            "ORDER BY seq DESC LIMIT 1",
            [self.store_id, self.till_no],
        ).fetchone()
        return JournalRecord.from_row(row) if row else None

    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        ticket_uuid: str = "",
        now: datetime | None = None,
    ) -> JournalRecord:
        """Sign and add one record; call inside the caller's ``store.atomic``."""
        if not self.db.conn.in_transaction:
            raise RuntimeError("Journal.append must run inside the caller's transaction")
        if kind not in RECORD_KINDS:
            raise InvalidInput(
                _("Unknown journal record kind “{kind}”.").format(kind=kind), code="kind"
            )
        self._ensure_key()
        previous = self.last()
        seq = previous.seq + 1 if previous else 1
        prev_hash = previous.hash if previous else ""
        prev_sig = previous.signature if previous else ""
        created_at = _utc_text(now)
        payload_json = outbox.canonical_json(payload)
        data = record_bytes(
            store_id=self.store_id, till_no=self.till_no, seq=seq, kind=kind,
            created_at=created_at, ticket_uuid=ticket_uuid, key_id=self.signer.key_id,
            prev_hash=prev_hash, prev_signature=prev_sig, payload_json=payload_json,
        )
        signature = self.signer.sign(data)
        cur = self.db.execute(
            "INSERT INTO journal(store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, "
            "payload, prev_hash, prev_signature, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                self.store_id, self.till_no, seq, kind, created_at, ticket_uuid,
                self.signer.key_id, payload_json, prev_hash, prev_sig, signature,
            ],
        )
        self.db.execute(
            "INSERT INTO journal_heads(store_id, till_no, seq, signature) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(store_id, till_no) DO UPDATE SET seq = excluded.seq, "
            "signature = excluded.signature",
            [self.store_id, self.till_no, seq, signature],
        )
        return JournalRecord(
            int(cur.lastrowid or 0), self.store_id, self.till_no, seq, kind, created_at,
            ticket_uuid, self.signer.key_id, payload_json, prev_hash, prev_sig, signature,
        )

    def event(
        self, kind: str, payload: dict[str, Any] | None = None, *, now: datetime | None = None
    ) -> JournalRecord:
        """Record a technical event in its own transaction (or the caller's)."""
        if kind not in TECHNICAL_KINDS:
            raise InvalidInput(
                _("“{kind}” is not a technical event.").format(kind=kind), code="kind"
            )
        with atomic(self.db):
            return self.append(kind, dict(payload or {}), now=now)

    def head(self) -> tuple[int, str] | None:
        """(seq, signature) of the chain head, as HQ should know it."""
        row = self.db.execute(
            "SELECT seq, signature FROM journal_heads WHERE store_id = ? AND till_no = ?",
            [self.store_id, self.till_no],
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def head_document(self) -> dict[str, Any]:
        """The chain head as sent to HQ (with every ticket, closure and sync)."""
        head = self.head()
        return {
            "store_id": self.store_id,
            "till_no": self.till_no,
            "seq": head[0] if head else 0,
            "signature": head[1] if head else "",
            "key_id": self.signer.key_id,
            "public_key": self.signer.public_hex,
        }

    def enqueue_head(self) -> None:
        """Put the chain head in the outbox (call inside a transaction, e.g. at sync)."""
        doc = self.head_document()
        outbox.enqueue(
            self.db,
            kind="journal_head",
            uuid=f"head-{self.store_id}-{self.till_no}-{doc['seq']}",
            payload=doc,
        )

    # -- duplicates --------------------------------------------------------

    def record_duplicate(self, ticket_id: int, staff_id: int) -> JournalRecord:
        """Journal a reprint (DUPLICATA) of a ticket; returns the record."""
        with atomic(self.db):
            row = self.db.execute(
                "SELECT uuid, number, store_id, till_no, created_at FROM return_tickets "
                "WHERE id = ?",
                [ticket_id],
            ).fetchone()
            if row is None:
                raise NotFound(_("This return ticket does not exist."), code="ticket")
            copies = self.db.execute(
                "SELECT COUNT(*) FROM journal WHERE kind = 'duplicate' AND ticket_uuid = ?",
                [row[0]],
            ).fetchone()[0]
            return self.append(
                DUPLICATE,
                {
                    "mention": "DUPLICATA",
                    "ticket_uuid": row[0],
                    "ticket_number": row[1],
                    "ticket_store_id": row[2],
                    "ticket_till_no": row[3],
                    "ticket_created_at": row[4],
                    "copy": int(copies) + 1,
                    "staff_id": int(staff_id),
                },
                ticket_uuid=row[0],
            )

    # -- closures ----------------------------------------------------------

    def close_day(
        self, day: date, *, staff_id: int | None = None, now: datetime | None = None
    ) -> Closure:
        """Close one business day (store local time)."""
        return self._close("day", day.isoformat(), day, day + timedelta(days=1), staff_id, now)

    def close_month(
        self, year: int, month: int, *, staff_id: int | None = None, now: datetime | None = None
    ) -> Closure:
        if not 1 <= month <= 12:
            raise InvalidInput(_("A month is a number from 1 to 12."), code="month")
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1)
        return self._close("month", f"{year:04d}-{month:02d}", start, end, staff_id, now)

    def close_year(
        self, year: int, *, staff_id: int | None = None, now: datetime | None = None
    ) -> Closure:
        return self._close(
            "year", f"{year:04d}", date(year, 1, 1), date(year + 1, 1, 1), staff_id, now
        )

    def _close(
        self,
        period_kind: str,
        period: str,
        start: date,
        end: date,
        staff_id: int | None,
        now: datetime | None,
    ) -> Closure:
        moment = now or datetime.now(UTC)
        if moment.astimezone(STORE_TZ).date() < start:
            raise InvalidInput(
                _("The period {period} has not begun: it cannot be closed yet.").format(
                    period=period
                ),
                code="future",
            )
        end_utc = _local_midnight_utc(end)
        with atomic(self.db):
            prev = self.db.execute(
                "SELECT period, last_number, grand_total, grand_total_abs FROM closures "
                "WHERE store_id = ? AND till_no = ? AND period_kind = ? "
                "ORDER BY period DESC LIMIT 1",
                [self.store_id, self.till_no, period_kind],
            ).fetchone()
            if prev is not None and prev[0] >= period:
                if prev[0] == period:
                    msg = _("The period {period} is already closed.").format(period=period)
                else:
                    msg = _(
                        "A later period ({later}) is already closed: {period} cannot be "
                        "closed after it."
                    ).format(later=prev[0], period=period)
                raise Conflict(msg, code="closed")
            after_number = int(prev[1]) if prev else 0
            totals, first, last, count, net, abs_total = self._period_totals(
                after_number, end_utc
            )
            grand_total = (int(prev[2]) if prev else 0) + net
            grand_total_abs = (int(prev[3]) if prev else 0) + abs_total
            payload = {
                "period_kind": period_kind,
                "period": period,
                "previous_period": prev[0] if prev else "",
                "first_number": first,
                "last_number": last,
                "tickets": count,
                "totals": totals,
                "net": net,
                "grand_total": grand_total,
                "grand_total_abs": grand_total_abs,
                "staff_id": staff_id,
            }
            record = self.append(CLOSURE, payload, now=now)
            self.db.execute(
                "INSERT INTO closures(store_id, till_no, period_kind, period, created_at, "
                "staff_id, first_number, last_number, ticket_count, net, grand_total, "
                "grand_total_abs, totals, journal_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    self.store_id, self.till_no, period_kind, period, record.created_at,
                    staff_id, first, last, count, net, grand_total, grand_total_abs,
                    outbox.canonical_json(totals), record.seq,
                ],
            )
            doc = dict(payload)
            doc.update(
                store_id=self.store_id,
                till_no=self.till_no,
                journal={"seq": record.seq, "signature": record.signature},
            )
            outbox.enqueue(self.db, kind="closure", uuid=str(uuidlib.uuid4()), payload=doc)
        return Closure(
            self.store_id, self.till_no, period_kind, period, record.created_at, first, last,
            count, net, grand_total, grand_total_abs, totals, record.seq, record.signature,
        )

    def _period_totals(
        self, after_number: int, end_utc: str
    ) -> tuple[dict[str, Any], int, int, int, int, int]:
        """Totals of this till's tickets numbered after ``after_number`` and made
        before ``end_utc``: every ticket is in exactly one closure of each kind."""
        where = (
            "t.store_id = ? AND t.till_no = ? AND t.origin = 'local' "
            "AND t.number > ? AND t.created_at < ?"
        )
        params = [self.store_id, self.till_no, after_number, end_utc]
        row = self.db.execute(
            "SELECT COUNT(*), MIN(t.number), MAX(t.number), COALESCE(SUM(t.refund_total), 0), "
            "COALESCE(SUM(t.charge_total), 0), COALESCE(SUM(t.restocking_fees), 0), "
            f"COALESCE(SUM(t.net), 0) FROM return_tickets t WHERE {where}",
            params,
        ).fetchone()
        count = int(row[0])
        first = int(row[1]) if count else after_number + 1
        last = int(row[2]) if count else after_number
        by_tender: dict[str, int] = {}
        for kind, amount in self.db.execute(
            "SELECT f.kind, SUM(f.amount) FROM refunds f JOIN return_tickets t "
            f"ON t.id = f.ticket_id WHERE {where} GROUP BY f.kind ORDER BY f.kind",
            params,
        ):
            by_tender[kind] = int(amount)
        # VAT: each ticket's rows as printed and journaled (pos_returns.engine.vat), added up
        vat: dict[str, dict[str, int]] = {}
        abs_total = 0
        ticket_lines: dict[int, list[tuple[int, int]]] = {}
        for ticket_id, rate, amount, fee in self.db.execute(
            "SELECT l.ticket_id, l.vat_rate_bp, l.amount, COALESCE(l.restocking_fee, 0) "
            f"FROM return_lines l JOIN return_tickets t ON t.id = l.ticket_id WHERE {where} "
            "ORDER BY l.ticket_id",
            params,
        ):
            ticket_lines.setdefault(int(ticket_id), []).append(
                (int(amount) + int(fee), int(rate)))
            abs_total += abs(int(amount))
        for amounts in ticket_lines.values():
            add_vat_rows(vat, vat_by_rate(amounts))
        totals = {
            "tickets": count,
            "merchandise_returned": int(row[3]),
            "merchandise_sold": int(row[4]),
            "restocking_fees": int(row[5]),
            "net": int(row[6]),
            "refunds_by_tender": by_tender,
            "vat_by_rate": vat,
        }
        return totals, first, last, count, int(row[6]), abs_total


def closures(
    db: Database, *, store_id: int | None = None, till_no: int | None = None,
    period_kind: str | None = None,
) -> list[dict[str, Any]]:
    """Closures, oldest first (for the manager's screens and reports)."""
    where, params = ["1 = 1"], []
    for col, value in (("store_id", store_id), ("till_no", till_no), ("period_kind", period_kind)):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    rows = db.query(
        f"SELECT * FROM closures WHERE {' AND '.join(where)} ORDER BY period_kind, period",
        params,
    )
    out = []
    for r in rows:
        r = dict(r)
        r["totals"] = json.loads(r["totals"])
        out.append(r)
    return out


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """The first record of a chain that does not verify."""

    store_id: int
    till_no: int
    seq: int
    record_id: int | None
    reason: str  # "signature", "link", "missing", "truncated", "head", "key", "head_missing"
    message: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records: int
    chains: int
    seconds: float
    full: bool
    broken: BrokenRecord | None = None
    heads: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)

    def summary(self) -> str:
        if self.ok:
            return ngettext(
                "Journal verified: {count} record in {chains} chain(s), all signatures hold.",
                "Journal verified: {count} records in {chains} chain(s), all signatures hold.",
                self.records,
            ).format(count=self.records, chains=self.chains)
        assert self.broken is not None
        return _(
            "Journal BROKEN at record no. {seq} (store {store}, till {till}): {message}"
        ).format(
            seq=self.broken.seq,
            store=self.broken.store_id,
            till=self.broken.till_no,
            message=self.broken.message,
        )

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


def _reason_message(reason: str, seq: int, extra: str = "") -> str:
    messages = {
        "signature": _("its signature does not match its content (altered record)."),
        "link": _("it does not follow the previous record (chain broken)."),
        "missing": _("the record is missing (deleted)."),
        "truncated": _(
            "the chain ends before its recorded head (records deleted at the end, up to no. "
            "{head})."
        ).format(head=extra),
        "head": _("the last record differs from the recorded chain head."),
        "head_missing": _("the chain head is missing."),
        "key": _("signed with a key that is not this till's."),
    }
    return messages[reason]


def _chain_links_ok(
    prev: Sequence[Any] | None, prev_hash: str, row: Sequence[Any], position: int,
    keys: dict[str, Any],
) -> str:
    """'' when ``row`` (the position-th record, 1-based) is correctly linked, else a reason."""
    if row[_SEQ] != position:
        return "missing"
    if row[_KEY] not in keys:
        return "key"
    if prev is None:
        if row[_PHASH] != "" or row[_PSIG] != "":
            return "link"
        return ""
    if row[_PSIG] != prev[_SIG] or row[_PHASH] != prev_hash:
        return "link"
    return ""


def _signature_ok(row: Sequence[Any], keys: dict[str, Any]) -> bool:
    key = keys.get(row[_KEY])
    if key is None:
        return False
    return verify_signature(key, _row_bytes(row), row[_SIG])


def _verify_chain(
    rows: Iterable[Sequence[Any]],
    keys: dict[str, Any],
    *,
    full: bool,
    fetch: Callable[[int], Sequence[Any] | None],
    first_expected: int = 1,
    first_prev: tuple[str, str] | None = None,
) -> tuple[int, Sequence[Any] | None, tuple[int, str, int | None] | None]:
    """Walk one chain. Returns (records, last row, broken) where broken is
    (seq, reason, record id).

    Fast mode checks every link (sequence, previous signature, previous hash)
    and the Ed25519 signature of the last record, which covers every record
    before it through the hashes; ``full`` checks every signature too. When
    something is wrong, the first broken record is found by bisection: a record
    whose links back to the start hold and whose signature is valid proves
    every record before it.
    """
    count = 0
    prev: Sequence[Any] | None = None
    prev_hash = ""
    break_at: tuple[int, str, int | None] | None = None  # (position, reason, id): first bad
    for row in rows:
        position = first_expected + count
        count += 1
        if prev is None and first_prev is not None:
            reason = ""
            if row[_SEQ] != position:
                reason = "missing"
            elif row[_KEY] not in keys:
                reason = "key"
        else:
            reason = _chain_links_ok(prev, prev_hash, row, position, keys)
        if not reason and full and not _signature_ok(row, keys):
            reason = "signature"
        if reason:
            break_at = (position, reason, row[_ID])
            break
        prev = row
        prev_hash = record_hash(_row_bytes(row))
    if break_at is None:
        if prev is None:
            return 0, None, None
        if full or _signature_ok(prev, keys):
            return count, prev, None
        # the head's signature fails: some record before it was altered
        hi = first_expected + count - 1
    else:
        position, reason, record_id = break_at
        if full and reason in ("missing", "signature"):
            # every record before was proven by the walk
            return count, prev, (position, reason, record_id if reason == "signature" else None)
        hi = position
    # bisection over [first_expected, hi]: the first position whose record is not
    # proven by (links ok up to it) + (its signature valid)
    lo = first_expected
    while lo < hi:
        mid = (lo + hi) // 2
        probe = fetch(mid)
        if probe is not None and probe[_SEQ] == mid and _signature_ok(probe, keys):
            lo = mid + 1
        else:
            hi = mid
    found = fetch(lo)
    if found is None or found[_SEQ] != lo:
        return count, prev, (lo, "missing", None)
    if break_at and break_at[0] == lo and break_at[1] == "key":
        return count, prev, (lo, "key", found[_ID])
    if not _signature_ok(found, keys):
        return count, prev, (lo, "signature", found[_ID])
    reason = break_at[1] if break_at and break_at[0] == lo else "link"
    return count, prev, (lo, reason, found[_ID])


def chain_keys(db: Database, store_id: int, till_no: int) -> dict[str, Any]:
    """The chain's public keys; a damaged one is left out, so that ``verify`` names
    the records it signed (reason ``key``) instead of failing with a ValueError."""
    keys: dict[str, Any] = {}
    for key_id, public_hex in db.execute(
        "SELECT key_id, public_key FROM journal_keys WHERE store_id = ? AND till_no = ?",
        [store_id, till_no],
    ):
        try:
            keys[key_id] = public_key_from_hex(public_hex)
        except (ValueError, TypeError):
            continue
    return keys


def verify(
    db: Database,
    *,
    full: bool = False,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None = None,
) -> VerifyReport:
    """Verify every chain in the cache; name the first broken record.

    ``expected_heads`` are the heads HQ last received ((store, till) -> (seq,
    signature)); the cache's own ``journal_heads`` are checked too, so a journal
    truncated at its end is noticed.
    """
    started = time.perf_counter()
    chains = sorted(
        {
            (int(r[0]), int(r[1]))
            for r in db.execute(
                "SELECT DISTINCT store_id, till_no FROM journal "
                "UNION SELECT store_id, till_no FROM journal_heads"
            )
        }
        | set(expected_heads or {})
    )
    total = 0
    heads: dict[tuple[int, int], tuple[int, str]] = {}
    conn = db.conn
    for store_id, till_no in chains:
        keys = chain_keys(db, store_id, till_no)

        def fetch(seq: int, _s: int = store_id, _t: int = till_no) -> Sequence[Any] | None:
            return conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? "
                "AND seq = ?",
                [_s, _t, seq],
            ).fetchone()

        first = fetch(1)
        if first is not None and first[_KEY] in keys:
            # No key rotation (docs/journal.md): the chain's one key is the key of its first
            # record. journal_keys takes INSERTs, so another key registered there later
            # must not make records signed with it pass.
            keys = {first[_KEY]: keys[first[_KEY]]}
        cursor = conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? ORDER BY seq",
            [store_id, till_no],
        )
        count, last, broken = _verify_chain(cursor, keys, full=full, fetch=fetch)
        cursor.close()
        total += count
        if broken is None:
            broken = _check_heads(db, store_id, till_no, last, expected_heads)
        if broken is not None:
            seq, reason, record_id = broken
            extra = ""
            if reason == "truncated":
                extra = str(_known_head(db, store_id, till_no, expected_heads)[0])
            return VerifyReport(
                ok=False,
                records=total,
                chains=len(chains),
                seconds=time.perf_counter() - started,
                full=full,
                broken=BrokenRecord(
                    store_id, till_no, seq, record_id, reason, _reason_message(reason, seq, extra)
                ),
            )
        if last is not None:
            heads[(store_id, till_no)] = (int(last[_SEQ]), str(last[_SIG]))
    return VerifyReport(
        ok=True,
        records=total,
        chains=len(chains),
        seconds=time.perf_counter() - started,
        full=full,
        heads=heads,
    )


def _known_head(
    db: Database,
    store_id: int,
    till_no: int,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None,
) -> tuple[int, str]:
    row = db.execute(
        "SELECT seq, signature FROM journal_heads WHERE store_id = ? AND till_no = ?",
        [store_id, till_no],
    ).fetchone()
    best = (int(row[0]), str(row[1])) if row else (0, "")
    hq = (expected_heads or {}).get((store_id, till_no))
    if hq is not None and hq[0] > best[0]:
        best = (int(hq[0]), str(hq[1]))
    return best


def _check_heads(
    db: Database,
    store_id: int,
    till_no: int,
    last: Sequence[Any] | None,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None,
) -> tuple[int, str, int | None] | None:
    row = db.execute(
        "SELECT seq, signature FROM journal_heads WHERE store_id = ? AND till_no = ?",
        [store_id, till_no],
    ).fetchone()
    candidates: list[tuple[int, str]] = []
    if row is not None:
        candidates.append((int(row[0]), str(row[1])))
    elif last is not None:
        return (int(last[_SEQ]), "head_missing", int(last[_ID]))
    hq = (expected_heads or {}).get((store_id, till_no))
    if hq is not None:
        candidates.append((int(hq[0]), str(hq[1])))
    last_seq = int(last[_SEQ]) if last is not None else 0
    for head_seq, head_sig in candidates:
        if head_seq > last_seq:
            return (last_seq + 1, "truncated", None)
        if head_seq == last_seq and last is not None and head_sig != last[_SIG]:
            return (last_seq, "head", int(last[_ID]))
        if head_seq < last_seq and row is not None and head_seq == int(row[0]):
            # the cache's head must be the last record; HQ's may lag behind
            return (head_seq + 1, "head", None)
    return None


# --------------------------------------------------------------------------- export


CSV_COLUMNS = (
    "store_id", "till_no", "seq", "kind", "created_at", "ticket_uuid", "key_id",
    "prev_hash", "prev_signature", "signature", "payload",
)


def archive_schema(year: int) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Alamara Retours fiscal journal archive {year}",
        "description": (
            "One CSV row per journal record (RFC 4180, UTF-8, comma separated, header row). "
            "The bytes a record's signature covers are the canonical JSON (sorted keys, no "
            "spaces, UTF-8) of the object {at, key, kind, payload, prev_hash, prev_sig, seq, "
            "store, ticket, till, v} built from the columns created_at, key_id, kind, payload "
            "(already canonical JSON, embedded as is), prev_hash, prev_signature, seq, store_id, "
            "ticket_uuid, till_no and v = 1. signature is Ed25519 over those bytes (hex); "
            "prev_signature is the previous record's signature and prev_hash the SHA-256 (hex) "
            "of the previous record's bytes. The file <csv>.sig holds the Ed25519 signature "
            "(hex) of the CSV file's bytes; the .pem file is the public key."
        ),
        "format_version": FORMAT_VERSION,
        "csv_columns": list(CSV_COLUMNS),
        "type": "object",
        "required": list(CSV_COLUMNS),
        "properties": {
            "store_id": {"type": "integer", "description": "store number"},
            "till_no": {"type": "integer", "description": "till number in the store"},
            "seq": {"type": "integer", "minimum": 1, "description": "gap-free per till"},
            "kind": {
                "type": "string",
                "enum": sorted(RECORD_KINDS),
                "description": "ticket, duplicate (DUPLICATA reprint), closure, or an event",
            },
            "created_at": {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SSZ"},
            "ticket_uuid": {"type": "string", "description": "the return ticket, or empty"},
            "key_id": {"type": "string", "description": "first 16 hex of SHA-256(public key)"},
            "prev_hash": {"type": "string", "pattern": "^([0-9a-f]{64})?$"},
            "prev_signature": {"type": "string", "pattern": "^([0-9a-f]{128})?$"},
            "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
            "payload": {"type": "string", "description": "canonical JSON of the record body"},
        },
    }


@dataclass(frozen=True, slots=True)
class ExportResult:
    csv_path: Path
    schema_path: Path
    signature_path: Path
    public_key_path: Path
    records: int
    sha256: str


def export_year(
    db: Database, year: int, out_dir: Path | str, *, signer: Signer,
    journal: Journal | None = None,
) -> ExportResult:
    """Write the yearly archive of every chain in the cache: CSV of the records
    of ``year`` (store local time), its JSON schema, a detached Ed25519
    signature of the CSV bytes and the public key. When ``journal`` is given,
    the archive itself is journaled (kind ``archive``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = _local_midnight_utc(date(year, 1, 1))
    end = _local_midnight_utc(date(year + 1, 1, 1))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in db.execute(
        "SELECT store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, prev_hash, "
        "prev_signature, signature, payload FROM journal WHERE created_at >= ? AND "
        "created_at < ? ORDER BY store_id, till_no, seq",
        [start, end],
    ):
        writer.writerow(row)
        count += 1
    data = buf.getvalue().encode("utf-8")
    stem = f"journal-{year}"
    csv_path = out / f"{stem}.csv"
    schema_path = out / f"{stem}.schema.json"
    sig_path = out / f"{stem}.csv.sig"
    pem_path = out / f"{stem}.pub.pem"
    csv_path.write_bytes(data)
    schema = archive_schema(year)
    schema["public_keys"] = {
        r[0]: r[1] for r in db.execute("SELECT key_id, public_key FROM journal_keys ORDER BY 1")
    }
    schema["archive_key_id"] = signer.key_id
    schema_path.write_text(
        json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    sig_path.write_text(signer.sign(data) + "\n", encoding="ascii")
    pem_path.write_text(signer.public_pem(), encoding="ascii")
    digest = hashlib.sha256(data).hexdigest()
    if journal is not None:
        journal.event(
            "archive", {"year": year, "records": count, "sha256": digest, "file": csv_path.name}
        )
    return ExportResult(csv_path, schema_path, sig_path, pem_path, count, digest)


def verify_archive(directory: Path | str, year: int) -> VerifyReport:
    """Check an archive written by :func:`export_year` without the cache: the
    detached signature of the CSV, then every chain in it (links, and the
    signatures of every record)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    started = time.perf_counter()
    d = Path(directory)
    stem = f"journal-{year}"
    data = (d / f"{stem}.csv").read_bytes()
    pub = serialization.load_pem_public_key((d / f"{stem}.pub.pem").read_bytes())
    assert isinstance(pub, Ed25519PublicKey)
    sig = (d / f"{stem}.csv.sig").read_text(encoding="ascii").strip()
    if not verify_signature(pub, data, sig):
        raise IntegrityFailure(
            _("The archive file does not match its signature: it was altered."),
            code="archive_signature",
        )
    schema = json.loads((d / f"{stem}.schema.json").read_text(encoding="utf-8"))
    keys = {k: public_key_from_hex(v) for k, v in schema["public_keys"].items()}
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    if tuple(header) != CSV_COLUMNS:
        raise IntegrityFailure(_("The archive's columns are not the expected ones."))
    by_chain: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for rec in reader:
        store, till, seq = int(rec[0]), int(rec[1]), int(rec[2])
        row = (None, store, till, seq, rec[3], rec[4], rec[5], rec[6], rec[10], rec[7], rec[8],
               rec[9])
        by_chain.setdefault((store, till), []).append(row)
    total = 0
    for (store, till), rows in sorted(by_chain.items()):
        first_seq = int(rows[0][_SEQ])
        index = {int(r[_SEQ]): r for r in rows}
        count, _last, broken = _verify_chain(
            rows, keys, full=True, fetch=index.get, first_expected=first_seq,
            first_prev=(rows[0][_PHASH], rows[0][_PSIG]) if first_seq > 1 else None,
        )
        total += count
        if broken is not None:
            seq, reason, _rid = broken
            return VerifyReport(
                ok=False, records=total, chains=len(by_chain),
                seconds=time.perf_counter() - started, full=True,
                broken=BrokenRecord(store, till, seq, None, reason, _reason_message(reason, seq)),
            )
    return VerifyReport(
        ok=True, records=total, chains=len(by_chain), seconds=time.perf_counter() - started,
        full=True,
    )


# --------------------------------------------------------------------------- start-up


def _config_snapshot(cfg: TillConfig) -> dict[str, Any]:
    from dataclasses import asdict

    snap = asdict(cfg)

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    out: dict[str, Any] = clean(snap)
    out.pop("hq_dsn", None)  # may hold a password
    return out


def startup(db: Database, cfg: TillConfig, *, version: str = "") -> VerifyReport:
    """What the till does when it opens: verify the journal (recording an
    ``integrity_failure`` when it does not hold), record a configuration change
    when the fiscal configuration differs from the last one journaled, then
    record ``start``. Returns the verification report."""
    journal = Journal.for_config(db, cfg)
    report = verify(db)
    snapshot = _config_snapshot(cfg)
    digest = hashlib.sha256(outbox.canonical_json(snapshot).encode()).hexdigest()
    with atomic(db):
        if not report.ok and report.broken is not None:
            journal.append(
                "integrity_failure",
                {
                    "store_id": report.broken.store_id,
                    "till_no": report.broken.till_no,
                    "seq": report.broken.seq,
                    "reason": report.broken.reason,
                },
            )
        last_cfg = db.execute(
            "SELECT payload FROM journal WHERE store_id = ? AND till_no = ? AND "
            "kind = 'config_change' ORDER BY seq DESC LIMIT 1",
            [journal.store_id, journal.till_no],
        ).fetchone()
        if last_cfg is None or json.loads(last_cfg[0]).get("sha256") != digest:
            journal.append("config_change", {"sha256": digest, "config": snapshot})
        journal.append("start", {"version": version, "verified": report.ok})
    return report


def record_event(
    db: Database,
    cfg: TillConfig,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> JournalRecord:
    """Record a technical event in the journal of the till of ``cfg`` (inside the
    caller's transaction when there is one, else in its own)."""
    return Journal.for_config(db, cfg).event(kind, payload, now=now)


def iter_records(
    db: Database, store_id: int, till_no: int, *, kind: str | None = None
) -> Iterator[JournalRecord]:
    sql = f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ?"
    params: list[Any] = [store_id, till_no]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    for row in db.execute(sql + " ORDER BY seq", params):
        yield JournalRecord.from_row(row)
