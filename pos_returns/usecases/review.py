"""The manager's daily review: every return of a day, its flags and its totals.

Everything here reads the return documents of the cache (``return_tickets``,
``return_lines``, ``refunds``, ``approvals``, ``gift_cards``) and, when they
exist, the tables other parts of the till add (``sync_conflicts`` for offline
conflicts found at push, an identity table for R19). Only a manager may read
it: :func:`day_review` calls :func:`pos_returns.usecases.auth.require_role`.

A *day* is a calendar day in the stores' time zone (Europe/Paris), the same day
the Z closure covers. Filters select whole tickets (a ticket matches the
department filter when one of its lines is of that department); the totals are
those of the tickets selected, so with no filter they are the day's totals.

Amounts are integer cents. Refund amounts are money *to the customer*
(negative: the customer paid, e.g. an exchange for a dearer item, R16), so the
cash figure is exactly what left the drawer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.documents import (
    DocumentSettings,
    TicketPrintJob,
    print_ticket,
    ticket_documents,
)
from pos_returns.engine.codes import ticket_display
from pos_returns.engine.domain import Role, Staff
from pos_returns.engine.reasons import reason_label as label
from pos_returns.errors import InvalidInput, NotFound
from pos_returns.i18n import (
    N_,
    STORE_TZ,
    _,
    babel_locale,
    current_language,
    format_date,
    format_datetime,
    format_money,
    ngettext,
    to_local,
)
from pos_returns.journal import chain as journal
from pos_returns.journal.chain import Journal
from pos_returns.journal.pins import seal_ok
from pos_returns.sync.reserve import StaleReservation, stale_reservations
from pos_returns.sync.state import table_label
from pos_returns.sync.validate import QuarantinedRow, quarantined
from pos_returns.usecases import card_payments, delivery
from pos_returns.usecases.auth import locked_until, pepper_of, require_role
from pos_returns.usecases.idcheck import purge
from pos_returns.usecases.tickets import reprint

FLAG_NO_RECEIPT = "no_receipt"
FLAG_OVERRIDE = "override"
FLAG_CONFLICT = "conflict"  # found by HQ at push, for a return made offline
FLAG_CONFLICT_ONLINE = "conflict_online"  # found by HQ for a return made online
FLAG_JEWELRY = "jewelry_high"
FLAG_REPEAT = "repeat_returner"
FLAGS = (FLAG_NO_RECEIPT, FLAG_OVERRIDE, FLAG_CONFLICT, FLAG_CONFLICT_ONLINE, FLAG_JEWELRY,
         FLAG_REPEAT)

FLAG_LABELS = {
    FLAG_NO_RECEIPT: N_("No receipt"),
    FLAG_OVERRIDE: N_("Manager override"),
    FLAG_CONFLICT: N_("Offline conflict"),
    FLAG_CONFLICT_ONLINE: N_("Conflict found online"),
    FLAG_JEWELRY: N_("High-value jewelry"),
    FLAG_REPEAT: N_("Repeat returner"),
}

TENDERS = ("cash", "card", "gift_card", "notes")
TENDER_LABELS = {
    "cash": N_("Cash out of the drawer"),
    "card": N_("Card credits"),
    "gift_card": N_("Gift cards issued"),
    "notes": N_("Alamara Notes"),
}
TENDER_SHORT = {
    "cash": N_("Cash"),
    "card": N_("Card"),
    "gift_card": N_("Gift card"),
    "notes": N_("Notes"),
}
KIND_LABELS = {
    "receipt": N_("With receipt"),
    "no_receipt": N_("No receipt"),
    "exchange": N_("Exchange"),
}
NO_REASON = ""  # return lines without a reason code are grouped under this key



@cache
def _money_parts(locale: str) -> tuple[str, str, str, str, str, str]:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    dec, grp = get_decimal_symbol(locale), get_group_symbol(locale)
    pre, _sep, post = format_money(0, locale=locale).partition(f"0{dec}00")
    npre, _sep, npost = format_money(-1, locale=locale).partition(f"0{dec}01")
    return pre, post, npre, npost, dec, grp


def money_text(cents: int, *, locale: str | None = None) -> str:
    """Exactly :func:`pos_returns.i18n.format_money`, about 30 times faster.

    The review formats thousands of amounts at once (a busy day's list and its
    PDF); babel's general formatter is the slow part, so the locale's pattern
    (sign, currency place, separators, babel's own no-break spaces) is read from
    babel once per locale. Tests check both give the same text.
    """
    pre, post, npre, npost, dec, grp = _money_parts(locale or babel_locale())
    value = abs(int(cents))
    body = f"{value // 100:,}".replace(",", grp) + f"{dec}{value % 100:02d}"
    return f"{npre}{body}{npost}" if cents < 0 else f"{pre}{body}{post}"


def flag_label(flag: str) -> str:
    return _(FLAG_LABELS[flag]) if flag in FLAG_LABELS else flag


def tender_label(kind: str, *, short: bool = False) -> str:
    labels = TENDER_SHORT if short else TENDER_LABELS
    return _(labels[kind]) if kind in labels else kind


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def reason_label(code: str) -> str:
    """The translated label of a return reason code (``pos_returns.engine.reasons``)."""
    if not code:
        return _("No reason given")

    return label(code)


@dataclass(frozen=True, slots=True)
class ReviewFilters:
    """What the manager narrows the day down to; ``None`` means "any"."""

    staff_id: int | None = None
    department: str | None = None
    reason: str | None = None  # a reason code; "" selects lines without a reason
    tender: str | None = None  # a refund kind: cash, card, gift_card, notes
    flag: str | None = None  # one of FLAGS
    till_no: int | None = None

    def validate(self) -> None:
        if self.flag is not None and self.flag not in FLAGS:
            raise InvalidInput(_("Unknown review flag “{flag}”.").format(flag=self.flag),
                               code="flag")
        if self.tender is not None and self.tender not in TENDERS:
            raise InvalidInput(_("Unknown tender “{tender}”.").format(tender=self.tender),
                               code="tender")


@dataclass(frozen=True, slots=True)
class ReviewLine:
    line_no: int
    direction: str
    sku: str
    name: str
    department: str
    quantity: int
    amount: int  # signed: returned lines negative
    reason: str
    condition: str
    rule_codes: str


@dataclass(frozen=True, slots=True)
class ReviewApproval:
    rule: str
    manager_name: str
    decision: str
    reason: str
    line_no: int | None


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One return ticket as the manager sees it in the day's list."""

    ticket_id: int
    uuid: str
    store_id: int
    till_no: int
    number: int
    created_at: str  # UTC text
    staff_id: int
    staff_name: str
    kind: str
    gift: bool
    offline: bool
    refund_total: int
    charge_total: int
    restocking_fees: int
    net: int
    receipt_number: str
    lines: tuple[ReviewLine, ...]
    tenders: dict[str, int]  # refund kind -> cents to the customer
    approvals: tuple[ReviewApproval, ...]
    flags: tuple[str, ...]
    earlier_no_receipt: int = 0  # R19: earlier no-receipt refunds of this identity

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(line.department for line in self.lines))

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(line.reason for line in self.lines if line.direction == "return")
        )

    @property
    def items_returned(self) -> int:
        return sum(line.quantity for line in self.lines if line.direction == "return")

    @property
    def display_number(self) -> str:
        return ticket_display(self.store_id, self.till_no, self.number)


@dataclass(frozen=True, slots=True)
class Bucket:
    """A line of a breakdown: key (code), label, count and amount in cents."""

    key: str
    label: str
    count: int
    amount: int


@dataclass(frozen=True, slots=True)
class ReviewTotals:
    tickets: int = 0
    items_returned: int = 0
    refund_total: int = 0  # merchandise credited
    charge_total: int = 0  # new items of exchanges
    restocking_fees: int = 0
    net: int = 0  # refund_total - fees - charge_total
    by_tender: dict[str, int] = field(default_factory=dict)  # kind -> cents to the customer
    gift_cards_issued_count: int = 0
    by_reason: tuple[Bucket, ...] = ()  # returned merchandise per reason (count = items)
    by_department: tuple[Bucket, ...] = ()  # returned merchandise per department
    by_staff: tuple[Bucket, ...] = ()  # tickets and net per member of staff
    by_flag: dict[str, int] = field(default_factory=dict)  # flag -> tickets

    @property
    def cash_out(self) -> int:
        return self.by_tender.get("cash", 0)

    @property
    def card_credits(self) -> int:
        return self.by_tender.get("card", 0)

    @property
    def gift_cards_issued(self) -> int:
        return self.by_tender.get("gift_card", 0)

    @property
    def refunds_total(self) -> int:
        """All the money to the customers, every tender (equals ``net``)."""
        return sum(self.by_tender.values())


@dataclass(frozen=True, slots=True)
class DayReview:
    day: date
    store_id: int
    store_name: str
    filters: ReviewFilters
    rows: tuple[ReviewRow, ...]
    totals: ReviewTotals
    day_count: int  # tickets of the day before filtering
    staff_choices: tuple[tuple[int, str], ...]  # who made returns that day
    department_choices: tuple[tuple[str, str], ...]
    reason_choices: tuple[tuple[str, str], ...]
    # ticket e-mails waiting for a retry or given up (usecases.delivery), any day
    mail_problems: tuple[str, ...] = ()
    # Card operations « à vérifier » of the store, whatever their day (issue 14): they
    # stay listed until a manager confirms what the payment terminal printed.
    terminal_checks: tuple[card_payments.CardOperation, ...] = ()
    # Card money moved on the terminal that no ticket carries (a return abandoned after it).
    terminal_unticketed: tuple[card_payments.CardOperation, ...] = ()
    # Operations whose row differs from what the journal signed (issue 12): the lists
    # above follow the journal; these say which rows were changed behind it.
    terminal_integrity: tuple[str, ...] = ()


# --------------------------------------------------------------------------- helpers


def day_bounds(day: date) -> tuple[str, str]:
    """A local (Paris) calendar day -> UTC text bounds ``[start, end)`` of ``created_at``."""
    start = datetime.combine(day, time.min, STORE_TZ).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, STORE_TZ).astimezone(UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return start.strftime(fmt), end.strftime(fmt)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(
            _("“{text}” is not a date (expected YYYY-MM-DD).").format(text=str(text)[:40]),
            code="date",
        ) from exc


def _table_columns(db: Database, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _chunks(ids: Sequence[int], size: int = 900) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _department_names(db: Database) -> dict[str, str]:
    col = "name_en" if current_language() == "en" else "name_fr"
    return {row[0]: row[1] for row in db.execute(f"SELECT code, {col} FROM departments")}


def department_label(db: Database, code: str) -> str:
    return _department_names(db).get(code, code)


def _conflict_found(answer: str) -> str:
    """``online`` / ``offline``: where HQ's answer says the conflicting return was made
    (answers from before reservations say nothing: those were offline checks)."""
    try:
        found = json.loads(answer or "{}").get("found")
    except (ValueError, AttributeError):
        found = None
    return "online" if found == "online" else "offline"


def _conflict_ticket_ids(db: Database, ticket_ids: Sequence[int]) -> dict[int, str]:
    """Tickets HQ answered "conflict" at push (``sync_conflicts``, see :mod:`pos_returns.sync`),
    each with whether the return was made ``online`` or ``offline``.

    A conflict stays flagged once reviewed: it happened on that day's ticket.
    """
    cols = _table_columns(db, "sync_conflicts")
    if not cols:
        return {}
    found: dict[int, str] = {}
    answer = "c.answer" if "answer" in cols else "''"
    for chunk in _chunks(ticket_ids):
        ph = _placeholders(len(chunk))
        if "ticket_uuid" in cols:
            for tid, text in db.execute(
                f"SELECT t.id, {answer} FROM return_tickets t JOIN sync_conflicts c "
                f"ON c.ticket_uuid = t.uuid WHERE t.id IN ({ph})",
                list(chunk)):
                found[tid] = _conflict_found(text)
        if "ticket_id" in cols:
            for tid, text in db.execute(
                f"SELECT c.ticket_id, {answer} FROM sync_conflicts c WHERE c.ticket_id IN ({ph})",
                list(chunk)):
                found.setdefault(tid, _conflict_found(text))
    return found


def _repeat_counts(db: Database, tickets: dict[int, dict], window_days: int) -> dict[int, int]:
    """R19: for each no-receipt ticket, the earlier no-receipt refunds of the same identity.

    The identity is the keyed hash of the ID document captured for the ticket
    (``id_checks.ticket_uuid``, see :mod:`pos_returns.usecases.idcheck`); the earlier
    refunds are counted chain-wide in ``id_ledger`` (this till's and those
    pulled from HQ) within the R19 rolling window before the capture. Tickets
    whose ID data was purged (RGPD retention) have no count.
    """
    no_receipt = {t["uuid"]: tid for tid, t in tickets.items() if t["kind"] == "no_receipt"}
    if not no_receipt or not _table_columns(db, "id_checks") or not _table_columns(
        db, "id_ledger"
    ):
        return {}
    counts: dict[int, int] = {}
    uuids = list(no_receipt)
    modifier = f"-{int(window_days)} days"
    for i in range(0, len(uuids), 900):
        chunk = uuids[i : i + 900]
        sql = (
            "SELECT c.ticket_uuid, (SELECT COUNT(*) FROM id_ledger e WHERE e.id_hash = c.id_hash "
            "AND e.uuid != c.uuid AND e.created_at < c.created_at "
            "AND e.created_at > strftime('%Y-%m-%dT%H:%M:%SZ', c.created_at, ?)) "
            f"FROM id_checks c WHERE c.ticket_uuid IN ({_placeholders(len(chunk))})"
        )
        for ticket_uuid, count in db.execute(sql, [modifier, *chunk]):
            if count:
                counts[no_receipt[ticket_uuid]] = int(count)
    return counts


# --------------------------------------------------------------------------- queries


def _load_rows(
    db: Database, *, day: date, store_id: int, policy: PolicyConfig
) -> list[ReviewRow]:
    start, end = day_bounds(day)
    tickets: dict[int, dict] = {}
    sql = (
        "SELECT t.*, COALESCE(s.name, '#' || t.staff_id) AS staff_name, "
        "COALESCE(sa.receipt_number, sa.order_number, '') AS receipt_number "
        "FROM return_tickets t LEFT JOIN staff s ON s.id = t.staff_id "
        "LEFT JOIN sales sa ON sa.id = t.sale_id "
        "WHERE t.created_at >= ? AND t.created_at < ? AND t.store_id = ? "
        "ORDER BY t.created_at, t.till_no, t.number"
    )
    cur = db.execute(sql, [start, end, store_id])
    names = [d[0] for d in cur.description]
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        tickets[row["id"]] = row
    if not tickets:
        return []
    ids = list(tickets)
    lines: dict[int, list[ReviewLine]] = defaultdict(list)
    refunds: dict[int, dict[str, int]] = defaultdict(dict)
    approvals: dict[int, list[ReviewApproval]] = defaultdict(list)
    for chunk in _chunks(ids):
        ph = _placeholders(len(chunk))
        for r in db.execute(
            "SELECT l.ticket_id, l.line_no, l.direction, l.sku, COALESCE(p.name, l.sku), "
            "COALESCE(p.department, ''), l.quantity, l.amount, l.reason, l.condition, "
            f"l.rule_codes FROM return_lines l LEFT JOIN products p ON p.sku = l.sku "
            f"WHERE l.ticket_id IN ({ph}) ORDER BY l.ticket_id, l.line_no",
            list(chunk),
        ):
            lines[r[0]].append(ReviewLine(*r[1:]))
        for tid, kind, amount in db.execute(
            f"SELECT ticket_id, kind, SUM(amount) FROM refunds WHERE ticket_id IN ({ph}) "
            "GROUP BY ticket_id, kind",
            list(chunk),
        ):
            refunds[tid][kind] = int(amount)
        for r in db.execute(
            "SELECT a.ticket_id, a.rule, COALESCE(s.name, '#' || a.manager_id), a.decision, "
            f"a.reason, a.line_no FROM approvals a LEFT JOIN staff s ON s.id = a.manager_id "
            f"WHERE a.ticket_id IN ({ph}) ORDER BY a.ticket_id, a.id",
            list(chunk),
        ):
            approvals[r[0]].append(ReviewApproval(*r[1:]))
    conflicts = _conflict_ticket_ids(db, ids)
    repeats = _repeat_counts(db, tickets, policy.no_receipt_window_days)
    threshold = policy.jewelry_manager_threshold
    rows: list[ReviewRow] = []
    for tid, t in tickets.items():
        tlines = tuple(lines.get(tid, ()))
        tapprovals = tuple(approvals.get(tid, ()))
        flags: list[str] = []
        if t["kind"] == "no_receipt":
            flags.append(FLAG_NO_RECEIPT)
        if tapprovals:
            flags.append(FLAG_OVERRIDE)
        if tid in conflicts:
            flags.append(FLAG_CONFLICT_ONLINE if conflicts[tid] == "online" else FLAG_CONFLICT)
        jewelry = -sum(
            ln.amount for ln in tlines if ln.direction == "return" and ln.department == "jewelry"
        )
        if jewelry > threshold:
            flags.append(FLAG_JEWELRY)
        r19 = any("R19" in ln.rule_codes.split(",") for ln in tlines) or any(
            a.rule == "R19" for a in tapprovals
        )
        if tid in repeats or (t["kind"] == "no_receipt" and r19):
            flags.append(FLAG_REPEAT)
        rows.append(
            ReviewRow(
                ticket_id=tid, uuid=t["uuid"], store_id=t["store_id"], till_no=t["till_no"],
                number=t["number"], created_at=t["created_at"], staff_id=t["staff_id"],
                staff_name=t["staff_name"], kind=t["kind"], gift=bool(t["gift"]),
                offline=bool(t["offline"]), refund_total=t["refund_total"],
                charge_total=t["charge_total"], restocking_fees=t["restocking_fees"],
                net=t["net"], receipt_number=t["receipt_number"] or "", lines=tlines,
                tenders=dict(refunds.get(tid, {})), approvals=tapprovals, flags=tuple(flags),
                earlier_no_receipt=repeats.get(tid, 0),
            )
        )
    return rows


def _matches(row: ReviewRow, f: ReviewFilters) -> bool:
    if f.staff_id is not None and row.staff_id != f.staff_id:
        return False
    if f.till_no is not None and row.till_no != f.till_no:
        return False
    if f.department is not None and f.department not in row.departments:
        return False
    if f.reason is not None and f.reason not in row.reasons:
        return False
    if f.tender is not None and not row.tenders.get(f.tender):
        return False
    return not (f.flag is not None and f.flag not in row.flags)


def compute_totals(db: Database, rows: Sequence[ReviewRow]) -> ReviewTotals:
    """The totals of ``rows`` (by tender, reason, department, staff, flag)."""
    by_tender: dict[str, int] = dict.fromkeys(TENDERS, 0)
    reason_count: dict[str, int] = defaultdict(int)
    reason_amount: dict[str, int] = defaultdict(int)
    dept_count: dict[str, int] = defaultdict(int)
    dept_amount: dict[str, int] = defaultdict(int)
    staff_count: dict[int, int] = defaultdict(int)
    staff_net: dict[int, int] = defaultdict(int)
    staff_names: dict[int, str] = {}
    by_flag: dict[str, int] = dict.fromkeys(FLAGS, 0)
    gift_count = 0
    for row in rows:
        for kind, amount in row.tenders.items():
            by_tender[kind] = by_tender.get(kind, 0) + amount
            if kind == "gift_card" and amount > 0:
                gift_count += 1
        for line in row.lines:
            if line.direction != "return":
                continue
            reason_count[line.reason] += line.quantity
            reason_amount[line.reason] += -line.amount
            dept_count[line.department] += line.quantity
            dept_amount[line.department] += -line.amount
        staff_count[row.staff_id] += 1
        staff_net[row.staff_id] += row.net
        staff_names[row.staff_id] = row.staff_name
        for flag in row.flags:
            by_flag[flag] += 1
    depts = _department_names(db)

    def ordered(buckets: list[Bucket]) -> tuple[Bucket, ...]:
        return tuple(sorted(buckets, key=lambda b: (-b.amount, b.label)))

    return ReviewTotals(
        tickets=len(rows),
        items_returned=sum(r.items_returned for r in rows),
        refund_total=sum(r.refund_total for r in rows),
        charge_total=sum(r.charge_total for r in rows),
        restocking_fees=sum(r.restocking_fees for r in rows),
        net=sum(r.net for r in rows),
        by_tender=by_tender,
        gift_cards_issued_count=gift_count,
        by_reason=ordered(
            [Bucket(k, reason_label(k), reason_count[k], reason_amount[k]) for k in reason_count]
        ),
        by_department=ordered(
            [Bucket(k, depts.get(k, k), dept_count[k], dept_amount[k]) for k in dept_count]
        ),
        by_staff=ordered(
            [Bucket(str(k), staff_names[k], staff_count[k], staff_net[k]) for k in staff_count]
        ),
        by_flag=by_flag,
    )


def day_review(
    db: Database,
    manager: Staff,
    day: date,
    *,
    filters: ReviewFilters | None = None,
    store_id: int | None = None,
    policy: PolicyConfig | None = None,
) -> DayReview:
    """The day's returns of the manager's store (or ``store_id``), filtered, with totals.

    Raises :class:`~pos_returns.errors.PermissionDenied` unless ``manager`` is a manager.
    """
    require_role(manager, Role.MANAGER)
    filters = filters or ReviewFilters()
    filters.validate()
    store = int(store_id if store_id is not None else manager.store_id)
    policy = policy or PolicyConfig()
    all_rows = _load_rows(db, day=day, store_id=store, policy=policy)
    rows = tuple(r for r in all_rows if _matches(r, filters))
    store_row = db.execute("SELECT name FROM stores WHERE id = ?", [store]).fetchone()
    depts = _department_names(db)
    staff_choices = sorted({(r.staff_id, r.staff_name) for r in all_rows}, key=lambda s: s[1])
    dept_codes = sorted({d for r in all_rows for d in r.departments if d})
    reason_codes = sorted({c for r in all_rows for c in r.reasons})
    return DayReview(
        day=day,
        store_id=store,
        store_name=store_row[0] if store_row else str(store),
        filters=filters,
        rows=rows,
        totals=compute_totals(db, rows),
        day_count=len(all_rows),
        staff_choices=tuple(staff_choices),
        department_choices=tuple(
            sorted(((c, depts.get(c, c)) for c in dept_codes), key=lambda d: d[1])
        ),
        reason_choices=tuple((c, reason_label(c)) for c in reason_codes),
        mail_problems=tuple(delivery.mail_problem_text(m) for m in delivery.mail_problems(db)),
        terminal_checks=tuple(card_payments.to_check(db, store_id=store)),
        terminal_unticketed=tuple(card_payments.unticketed(db, store_id=store)),
        terminal_integrity=tuple(card_payments.integrity_problems(db, store_id=store)),
    )


def ticket_detail(db: Database, manager: Staff, ticket_id: int,
                  *, policy: PolicyConfig | None = None) -> ReviewRow:
    """One ticket of the review, with its lines, refunds, approvals and flags."""

    require_role(manager, Role.MANAGER)
    row = db.execute(
        "SELECT created_at, store_id FROM return_tickets WHERE id = ?", [ticket_id]
    ).fetchone()
    if row is None:
        raise NotFound(_("Return ticket not found."), code="ticket")

    day = to_local(row[0]).date()
    for r in _load_rows(db, day=day, store_id=row[1], policy=policy or PolicyConfig()):
        if r.ticket_id == ticket_id:
            return r
    raise NotFound(_("Return ticket not found."), code="ticket")  # pragma: no cover


# --------------------------------------------------------------------------- journal


@dataclass(frozen=True, slots=True)
class ClosureState:
    """Whether this till's day is closed (Z), and a sentence for the manager."""

    closed: bool
    text: str
    closure: dict | None = None


def day_closure(db: Database, day: date, cfg: TillConfig) -> ClosureState:
    """The Z closure of ``day`` for the till of ``cfg``, from the fiscal journal."""

    found = [
        c for c in journal.closures(db, store_id=cfg.store_id, till_no=cfg.till_no,
                                    period_kind="day")
        if c["period"] == day.isoformat()
    ]
    if not found:
        return ClosureState(False, _("Day not closed yet (till {till}).").format(
            till=cfg.till_no))
    c = found[-1]
    return ClosureState(
        True,
        ngettext(
            "Day closed (Z) on {moment}: {count} ticket, net {net}, perpetual grand total "
            "{grand}.",
            "Day closed (Z) on {moment}: {count} tickets, net {net}, perpetual grand total "
            "{grand}.",
            c["ticket_count"],
        ).format(moment=format_datetime(c["created_at"], fmt="short"),
                 count=c["ticket_count"], net=format_money(c["net"]),
                 grand=format_money(c["grand_total"])),
        c,
    )


def close_day(db: Database, manager: Staff, day: date, cfg: TillConfig, *,
              now: datetime | None = None) -> Any:
    """Close ``day`` (Z) in this till's fiscal journal; a manager only. Every
    earlier open day is closed first, each on its own; the months and years that
    ended are closed after it. The RGPD purge of the ID data runs with it.

    The journal refuses a second closure of the same day (:class:`Conflict`).
    """

    require_role(manager, Role.MANAGER)
    closure = Journal.for_config(db, cfg).close_day(day, staff_id=manager.id, now=now)
    after_closure(db, cfg, now=now)
    return closure


def days_to_close(db: Database, day: date, cfg: TillConfig) -> list[date]:
    """The days a Z of ``day`` closes (the earlier open days, then ``day``), for the
    confirmation the manager reads first."""
    return Journal.for_config(db, cfg).open_days(day)


def business_day_notice(db: Database, cfg: TillConfig, now: datetime | None = None) -> str:
    """What the till says once today's Z is made: a return made now counts in the
    next day's closure. Empty while today is open."""
    moment = now or datetime.now(UTC)
    today = moment.astimezone(STORE_TZ).date()
    day = journal.business_day(db, cfg.store_id, cfg.till_no, moment)
    if day <= today:
        return ""
    return _("Today's Z is made (day closed): a return made now counts in the day of "
             "{day}.").format(day=format_date(day, fmt="long"))


def after_closure(db: Database, cfg: TillConfig, *, now: datetime | None = None) -> None:
    """What runs by itself at each closure: the RGPD purge of the ID data past
    its retention (docs/privacy.md)."""
    purge(db, cfg, now=now)


def close_month(db: Database, manager: Staff, year: int, month: int, cfg: TillConfig, *,
                now: datetime | None = None) -> Any:

    require_role(manager, Role.MANAGER)
    return Journal.for_config(db, cfg).close_month(year, month, staff_id=manager.id, now=now)


def close_year(db: Database, manager: Staff, year: int, cfg: TillConfig, *,
               now: datetime | None = None) -> Any:

    require_role(manager, Role.MANAGER)
    return Journal.for_config(db, cfg).close_year(year, staff_id=manager.id, now=now)


def prepare_duplicate(db: Database, manager: Staff, ticket_id: int,
                      cfg: TillConfig) -> TicketPrintJob:
    """The database part of a manager's reprint: the DUPLICATA journal record first,
    then the documents (printed on the I/O pool by ``usecases.delivery.deliver``)."""
    require_role(manager, Role.MANAGER)
    reprint(db, cfg, ticket_id, manager.id)  # the DUPLICATA record, on this till's chain
    return ticket_documents(db, ticket_id, duplicate=True,
                            settings=DocumentSettings.from_config(cfg))


def reprint_duplicate(db: Database, manager: Staff, ticket_id: int, cfg: TillConfig) -> Path:
    """Reprint a ticket as a DUPLICATA: journaled first, then rendered and saved
    (and sent to the printer queue when one is configured). Returns the PDF path."""
    require_role(manager, Role.MANAGER)

    reprint(db, cfg, ticket_id, manager.id)  # the DUPLICATA record, on this till's chain
    return print_ticket(db, ticket_id, cfg, duplicate=True).ticket_pdf


# --------------------------------------------------------------------------- HQ link


RESERVATION_STATES = {
    "asking": N_("HQ asked, no answer"),
    "reserved": N_("reserved, not committed"),
    "offline": N_("HQ too slow, committed offline"),
    "committed": N_("committed, not yet at HQ"),
    "abandoned": N_("commit failed, to be freed"),
}


@dataclass(frozen=True)
class SyncIssues:
    """What the HQ link leaves for the manager: reservations HQ has not confirmed
    after ``reservation_review_minutes`` (a ticket not pushed yet, or a till that
    stopped between HQ's answer and its commit), and rows refused at pull."""

    minutes: int
    stale: tuple[StaleReservation, ...] = ()
    quarantined: tuple[QuarantinedRow, ...] = ()
    accounts: tuple[AccountIssue, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.stale and not self.quarantined and not self.accounts

    def lines(self, *, limit: int = 8) -> list[str]:
        """The French lines the review shows."""
        out: list[str] = []
        if self.accounts:
            out.append(ngettext("{n} staff account to check:", "{n} staff accounts to check:",
                                len(self.accounts)).format(n=len(self.accounts)))
            for a in self.accounts[:limit]:
                what = (_("changed outside the till (its seal does not match): it cannot log "
                          "in; the chain's IT must check it") if not a.sealed else
                        _("locked until {time} (wrong PINs here or at another till)").format(
                            time=format_datetime(a.locked_until, fmt="short")))
                out.append(_("  {code} {name}: {what}").format(code=a.code, name=a.name,
                                                                what=what))
        if self.stale:
            out.append(ngettext(
                "{n} reservation at HQ not confirmed after {minutes} min:",
                "{n} reservations at HQ not confirmed after {minutes} min:",
                len(self.stale)).format(n=len(self.stale), minutes=self.minutes))
            for r in self.stale[:limit]:
                what = (_("ticket {number}").format(number=r.ticket_number)
                        if r.ticket_number is not None else _("never committed"))
                out.append(_("  {when}: {what} ({state})").format(
                    when=format_datetime(r.created_at, fmt="short"), what=what,
                    state=_(RESERVATION_STATES.get(r.state, r.state))))
        if self.quarantined:
            out.append(ngettext(
                "{n} row from HQ refused as invalid (quarantine):",
                "{n} rows from HQ refused as invalid (quarantine):",
                len(self.quarantined)).format(n=len(self.quarantined)))
            for q in self.quarantined[:limit]:
                out.append(_("  {table} {key}: {reason}").format(
                    table=table_label(q.table), key=q.key, reason=q.reason))
        return out


@dataclass(frozen=True)
class AccountIssue:
    """A staff account of the store the manager should know about now."""

    code: str
    name: str
    sealed: bool  # False: changed outside the till, it cannot log in
    locked_until: str = ""  # UTC; '' when not locked


def account_issues(db: Database, store_id: int, cfg: TillConfig,
                   now: datetime | None = None) -> tuple[AccountIssue, ...]:
    """The store's active accounts locked now (here or in the chain) or whose seal does
    not match (pos_returns.journal.pins)."""
    pepper = pepper_of(cfg)
    rows = db.query("SELECT * FROM staff WHERE store_id = ? AND active = 1 ORDER BY code",
                    [store_id])
    out = []
    for row in rows:
        sealed = seal_ok(row, pepper)
        until = locked_until(db, int(row["id"]), now)
        if not sealed or until:
            out.append(AccountIssue(str(row["code"]), str(row["name"]), sealed, until))
    return tuple(out)


def sync_issues(db: Database, manager: Staff, cfg: TillConfig | None = None) -> SyncIssues:
    """The HQ link's open issues and the accounts to check, for the manager's review
    (managers only)."""
    require_role(manager, Role.MANAGER)
    minutes = int(getattr(cfg, "reservation_review_minutes", 10) if cfg else 10)
    stale: tuple[StaleReservation, ...] = ()
    if _table_columns(db, "pending_reservations"):
        stale = tuple(stale_reservations(db, older_than_minutes=minutes))
    accounts = account_issues(db, manager.store_id, cfg) if cfg is not None else ()
    return SyncIssues(minutes, stale, tuple(quarantined(db)), accounts)
