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

import hashlib
import json
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache import outbox
from pos_returns.cache.db import after_commit, atomic
from pos_returns.engine.vat import add_records as add_vat_rows
from pos_returns.engine.vat import vat_by_rate
from pos_returns.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from pos_returns.i18n import STORE_TZ, _
from pos_returns.journal.anchor import integrity_block
from pos_returns.journal.head import advance as advance_head
from pos_returns.journal.keys import Signer, load_pinned, load_signer
from pos_returns.journal.records import (
    _ROW_COLUMNS,
    CLOSURE,
    DUPLICATE,
    RECORD_KINDS,
    TECHNICAL_KINDS,
    JournalRecord,
    _local_midnight_utc,
    _utc_text,
    record_bytes,
)
from pos_returns.journal.verify import BrokenRecord, Pin, VerifyReport, verify

if TYPE_CHECKING:
    from pos_returns.config import TillConfig


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
    key_fingerprint: str = ""


class Journal:
    """One till's chain. ``append`` must run inside the caller's transaction
    (``store.atomic``) so that the record commits with the document it records."""

    def __init__(self, db: Database, signer: Signer, store_id: int, till_no: int) -> None:
        self.db = db
        self.signer = signer
        self.store_id = int(store_id)
        self.till_no = int(till_no)
        self._key_checked = False
        self.key_path: Path | None = None  # the key files' place (for_config): the anchor

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
        journal = cls(
            db,
            load_signer(cfg.key_path),
            cfg.store_id if store_id is None else store_id,
            cfg.till_no if till_no is None else till_no,
        )
        journal.key_path = Path(cfg.key_path)
        return journal

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
        # the head moves forward by UPDATE (journal_heads_forward); UPSERT and REPLACE
        # are refused on every fiscal table (cache/schema/journal.py, m002)
        moved = self.db.execute(
            "UPDATE journal_heads SET seq = ?, signature = ? WHERE store_id = ? AND till_no = ?",
            [seq, signature, self.store_id, self.till_no],
        ).rowcount
        if not moved:
            self.db.execute(
                "INSERT INTO journal_heads(store_id, till_no, seq, signature) VALUES (?, ?, ?, ?)",
                [self.store_id, self.till_no, seq, signature],
            )
        if self.key_path is not None:
            # once committed, the head is written beside the keys (journal/head.py)
            after_commit(self.db, ("journal_head", self.store_id, self.till_no),
                         self._advance_head)
        return JournalRecord(
            int(cur.lastrowid or 0), self.store_id, self.till_no, seq, kind, created_at,
            ticket_uuid, self.signer.key_id, payload_json, prev_hash, prev_sig, signature,
        )

    def _advance_head(self) -> None:
        if self.key_path is not None:
            advance_head(self.db, self.key_path, self.signer, self.store_id, self.till_no)

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

    def pin(self) -> Pin:
        """This chain and the key it must be signed with (the signer's key was checked
        against the ``.pub`` pinned beside it when it was loaded)."""
        return Pin(self.store_id, self.till_no, self.signer.public_hex, self.signer.key_id)

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
            "fingerprint": self.signer.fingerprint,
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
                "SELECT COUNT(*) FROM journal WHERE kind = 'duplicate' AND ticket_uuid = ? "
                "AND ticket_uuid != ''",  # != '': the partial index journal_ticket
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
    #
    # A day closure (Z) covers this till's tickets numbered after the previous
    # day closure and made before the end of the day (store local time): a
    # ticket made after the Z belongs to the next day. Closing day D first closes
    # every earlier open day, each on its own, in order. A month closure is the
    # sum of its day closures, a year closure the sum of its month closures; they
    # are made at the first closure after their period ends (or asked for once
    # the period is over), so every ticket is in exactly one closure of each kind.

    def close_day(
        self, day: date, *, staff_id: int | None = None, now: datetime | None = None
    ) -> Closure:
        """Close ``day`` (store local time), after every earlier open day; then the
        months and years that have ended. Returns ``day``'s closure."""
        made = self.close_through(day, staff_id=staff_id, now=now)
        return next(c for c in made if c.period_kind == "day" and c.period == day.isoformat())

    def close_through(
        self, day: date, *, staff_id: int | None = None, now: datetime | None = None
    ) -> list[Closure]:
        """Every closure made by closing ``day``: the earlier open days, ``day``,
        then the months and years that ended, in the order they were made."""
        moment = now or datetime.now(UTC)
        today = moment.astimezone(STORE_TZ).date()
        if day > today:
            raise InvalidInput(
                _("The period {period} has not begun: it cannot be closed yet.").format(
                    period=day.isoformat()),
                code="future",
            )
        with atomic(self.db):
            self._refuse_closed("day", day.isoformat())
            made = self._close_days_until(day, staff_id, now)
            made.extend(self._close_ended_periods(today, staff_id, now))
        return made

    def close_month(
        self, year: int, month: int, *, staff_id: int | None = None, now: datetime | None = None
    ) -> Closure:
        """Close a month that is over (its open days first, each on its own)."""
        if not 1 <= month <= 12:
            raise InvalidInput(_("A month is a number from 1 to 12."), code="month")
        end = date(year + (month == 12), month % 12 + 1, 1)
        return self._close_over("month", f"{year:04d}-{month:02d}", end, staff_id, now)

    def close_year(
        self, year: int, *, staff_id: int | None = None, now: datetime | None = None
    ) -> Closure:
        """Close a year that is over (its open days and months first)."""
        return self._close_over("year", f"{year:04d}", date(year + 1, 1, 1), staff_id, now)

    def open_days(self, until: date) -> list[date]:
        """The days that closing ``until`` closes: every open day up to it, in order."""
        last = self._last_period("day")
        if last is not None:
            start = date.fromisoformat(last) + timedelta(days=1)
        else:
            first = self._first_ticket_day()
            start = min(first, until) if first else until
        days = []
        day = start
        while day <= until:
            days.append(day)
            day += timedelta(days=1)
        return days

    def business_day(self, now: datetime | None = None) -> date:
        return business_day(self.db, self.store_id, self.till_no, now)

    def _close_over(
        self, kind: str, period: str, end: date, staff_id: int | None, now: datetime | None
    ) -> Closure:
        moment = now or datetime.now(UTC)
        today = moment.astimezone(STORE_TZ).date()
        if end > today:
            raise InvalidInput(
                _("The period {period} is not over: it is closed at the first closure "
                  "after it ends.").format(period=period),
                code="not_over",
            )
        with atomic(self.db):
            self._refuse_closed(kind, period)
            last_day = end - timedelta(days=1)
            made: list[Closure] = []
            closed = self._last_period("day")
            if closed is None or closed < last_day.isoformat():
                made.extend(self._close_days_until(last_day, staff_id, now))
            made.extend(self._close_ended_periods(today, staff_id, now))
            found = [c for c in made if c.period_kind == kind and c.period == period]
            if not found:  # nothing of that period on this till: an empty closure
                found = [self._close_summary(kind, period, staff_id, now)]
        return found[0]

    def last_day_closure(self) -> tuple[str, str] | None:
        """(day closed, when) of this till's last day closure (Z), as its signed journal
        record says it (not the ``closures`` table), None when none."""
        row = self.db.execute(
            "SELECT json_extract(payload, '$.period'), created_at FROM journal "
            "WHERE store_id = ? AND till_no = ? AND kind = 'closure' "
            "AND json_extract(payload, '$.period_kind') = 'day' ORDER BY seq DESC LIMIT 1",
            [self.store_id, self.till_no]).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def _last_period(self, kind: str) -> str | None:
        row = self.db.execute(
            "SELECT MAX(period) FROM closures WHERE store_id = ? AND till_no = ? "
            "AND period_kind = ?",
            [self.store_id, self.till_no, kind],
        ).fetchone()
        return row[0] if row and row[0] is not None else None

    def _first_period(self, kind: str) -> str | None:
        row = self.db.execute(
            "SELECT MIN(period) FROM closures WHERE store_id = ? AND till_no = ? "
            "AND period_kind = ?",
            [self.store_id, self.till_no, kind],
        ).fetchone()
        return row[0] if row and row[0] is not None else None

    def _first_ticket_day(self) -> date | None:
        row = self.db.execute(
            "SELECT MIN(created_at) FROM return_tickets WHERE store_id = ? AND till_no = ? "
            "AND origin = 'local'",
            [self.store_id, self.till_no],
        ).fetchone()
        if not row or not row[0]:
            return None
        return datetime.fromisoformat(row[0].replace("Z", "+00:00")).astimezone(STORE_TZ).date()

    def _refuse_closed(self, kind: str, period: str) -> None:
        last = self._last_period(kind)
        if last is None or last < period:
            return
        if last == period:
            msg = _("The period {period} is already closed.").format(period=period)
        else:
            msg = _(
                "A later period ({later}) is already closed: {period} cannot be "
                "closed after it."
            ).format(later=last, period=period)
        raise Conflict(msg, code="closed")

    def _close_days_until(
        self, day: date, staff_id: int | None, now: datetime | None
    ) -> list[Closure]:
        made = []
        for each in self.open_days(day):
            made.append(self._close_one_day(each, staff_id, now))
        return made

    def _close_ended_periods(
        self, today: date, staff_id: int | None, now: datetime | None
    ) -> list[Closure]:
        """Close every month, then year, that is over and whose days (months) are
        all closed: "at the first closure after their period ends"."""
        made: list[Closure] = []
        last_day = self._last_period("day")
        if last_day is None:
            return made
        last_month = self._last_period("month")
        if last_month is not None:
            y, m = (int(x) for x in last_month.split("-"))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        else:
            first = date.fromisoformat(self._first_period("day") or last_day)
            y, m = first.year, first.month
        while True:
            end = date(y + (m == 12), m % 12 + 1, 1)
            if end > today or (end - timedelta(days=1)).isoformat() > last_day:
                break
            made.append(self._close_summary("month", f"{y:04d}-{m:02d}", staff_id, now))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        last_month = self._last_period("month")
        if last_month is None:
            return made
        last_year = self._last_period("year")
        y = int(last_year) + 1 if last_year else int((self._first_period("month") or "0")[:4])
        while date(y + 1, 1, 1) <= today and last_month >= f"{y:04d}-12":
            made.append(self._close_summary("year", f"{y:04d}", staff_id, now))
            y += 1
        return made

    def _close_one_day(self, day: date, staff_id: int | None, now: datetime | None) -> Closure:
        prev = self._previous("day")
        after_number = int(prev[1]) if prev else 0
        totals, first, last, count, net, abs_total = self._period_totals(
            after_number, _local_midnight_utc(day + timedelta(days=1))
        )
        totals["abs_total"] = abs_total
        return self._record_closure("day", day.isoformat(), prev, totals, first, last, count,
                                    net, abs_total, staff_id, now)

    def _close_summary(
        self, kind: str, period: str, staff_id: int | None, now: datetime | None
    ) -> Closure:
        """A month (the sum of its day closures) or a year (of its months)."""
        child = "day" if kind == "month" else "month"
        prev = self._previous(kind)
        rows = self.db.execute(
            "SELECT period, first_number, last_number, ticket_count, net, grand_total_abs, "
            "totals FROM closures WHERE store_id = ? AND till_no = ? AND period_kind = ? "
            "AND period < ? ORDER BY period",
            [self.store_id, self.till_no, child, period + "~"],
        ).fetchall()
        totals: dict[str, Any] = {
            "tickets": 0, "merchandise_returned": 0, "merchandise_sold": 0,
            "restocking_fees": 0, "net": 0, "refunds_by_tender": {}, "vat_by_rate": {},
        }
        first = last = None
        count = net = abs_total = 0
        previous_abs = 0
        for c_period, c_first, c_last, c_count, c_net, c_abs, c_totals in rows:
            own_abs = int(c_abs) - previous_abs
            previous_abs = int(c_abs)
            if not c_period.startswith(period):
                continue
            data = json.loads(c_totals)
            for key in ("tickets", "merchandise_returned", "merchandise_sold",
                        "restocking_fees", "net"):
                totals[key] += int(data.get(key, 0))
            for tender, amount in data.get("refunds_by_tender", {}).items():
                totals["refunds_by_tender"][tender] = (
                    totals["refunds_by_tender"].get(tender, 0) + int(amount))
            for rate, parts in data.get("vat_by_rate", {}).items():
                entry = totals["vat_by_rate"].setdefault(rate, {"ttc": 0, "ht": 0, "vat": 0})
                for part in ("ttc", "ht", "vat"):
                    entry[part] += int(parts.get(part, 0))
            first = int(c_first) if first is None else first
            last = int(c_last)
            count += int(c_count)
            net += int(c_net)
            abs_total += own_abs
        after_number = int(prev[1]) if prev else 0
        totals["refunds_by_tender"] = dict(sorted(totals["refunds_by_tender"].items()))
        totals["abs_total"] = abs_total
        return self._record_closure(
            kind, period, prev, totals, after_number + 1 if first is None else first,
            after_number if last is None else last, count, net, abs_total, staff_id, now)

    def _previous(self, kind: str) -> tuple[str, int, int, int] | None:
        row = self.db.execute(
            "SELECT period, last_number, grand_total, grand_total_abs FROM closures "
            "WHERE store_id = ? AND till_no = ? AND period_kind = ? "
            "ORDER BY period DESC LIMIT 1",
            [self.store_id, self.till_no, kind],
        ).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    def _record_closure(
        self, period_kind: str, period: str, prev: tuple[str, int, int, int] | None,
        totals: dict[str, Any], first: int, last: int, count: int, net: int, abs_total: int,
        staff_id: int | None, now: datetime | None,
    ) -> Closure:
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
            # the key pinned for this chain, on every Z (and at HQ with the head)
            "key_fingerprint": self.signer.fingerprint,
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
            self.signer.fingerprint,
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


def business_day(db: Database, store_id: int, till_no: int,
                 now: datetime | None = None) -> date:
    """The day a ticket made at ``now`` counts in (its Z): today, or, once today's
    Z is made, the day after the last closed day."""
    today = (now or datetime.now(UTC)).astimezone(STORE_TZ).date()
    row = db.execute(
        "SELECT MAX(period) FROM closures WHERE store_id = ? AND till_no = ? "
        "AND period_kind = 'day'",
        [store_id, till_no],
    ).fetchone()
    last = row[0] if row else None
    if last is not None and last >= today.isoformat():
        return date.fromisoformat(last) + timedelta(days=1)
    return today


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
    ``integrity_failure`` when it does not hold, and one naming every guard of the
    fiscal tables that is not what the migrations create), record a configuration change
    when the fiscal configuration differs from the last one journaled, then
    record ``start``. Returns the verification report."""
    journal = Journal.for_config(db, cfg)
    report = verify(db, pinned=journal.pin())
    if report.ok:
        # the cache against the heads kept beside the keys: the till's own, HQ's anchor
        block = integrity_block(db, cfg.key_path, journal.store_id, journal.till_no)
        if block is not None:
            report = replace(report, ok=False, broken=BrokenRecord(
                journal.store_id, journal.till_no, block.seq, None, block.code, block.message))
    snapshot = _config_snapshot(cfg)
    digest = hashlib.sha256(outbox.canonical_json(snapshot).encode()).hexdigest()
    with atomic(db):
        if not report.ok and report.broken is not None and report.broken.reason != "schema":
            journal.append(
                "integrity_failure",
                {
                    "store_id": report.broken.store_id,
                    "till_no": report.broken.till_no,
                    "seq": report.broken.seq,
                    "reason": report.broken.reason,
                },
            )
        if report.schema:  # the guards themselves, each difference named (cache/guards.py)
            journal.append(
                "integrity_failure",
                {
                    "store_id": journal.store_id,
                    "till_no": journal.till_no,
                    "seq": 0,
                    "reason": "schema",
                    "differences": [f"{d.change} {d.type} {d.name} on {d.table}"
                                    for d in report.schema],
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


def pin_for_config(cfg: TillConfig) -> Pin | None:
    """The till's chain and the public key pinned beside its key files (None: no pin,
    e.g. an auditor's machine without the till's keys)."""
    pinned = load_pinned(cfg.key_path)
    if pinned is None:
        return None
    return Pin(cfg.store_id, cfg.till_no, pinned.public_hex, pinned.key_id)


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

