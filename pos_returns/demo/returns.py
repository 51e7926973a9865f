"""Demo returns: a history of realistic return tickets for the manager's screens.

:func:`add_demo_returns` picks sales from the demo cache and commits returns
through the real engine (:func:`pos_returns.engine.planning.plan_return`) and the real
ticket writer (:func:`pos_returns.usecases.tickets.commit_plan`): receipt returns, gift
receipts, split tenders, a partial return then the rest, exchanges, and a few
manager overrides (with a PIN-checked manager and a written reason), spread
over the last days.

:func:`direct_plan` builds a simple request and asks the engine in one call: for
tests of the writer, the benches and the reliability test's child process (the
writer commits only the engine's plans).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlite_utils import Database

from pos_returns.cache.lookup import get_sale
from pos_returns.config import TillConfig
from pos_returns.demo.chain import DEMO_PINS
from pos_returns.engine.domain import Condition, Sale, SaleLine, TenderKind
from pos_returns.engine.plan import (
    Approval,
    LineRequest,
    NewItem,
    PlannedRefund,
    ReturnPlan,
    ReturnRequest,
    Verdict,
)
from pos_returns.engine.refunds import main_card
from pos_returns.errors import AlamaraError
from pos_returns.i18n import STORE_TZ
from pos_returns.journal.chain import Journal
from pos_returns.usecases.auth import grant_approvals
from pos_returns.usecases.planning import plan_for_commit, plan_return
from pos_returns.usecases.tickets import commit_plan


def direct_plan(
    db: Database,
    *,
    sale_id: int | None,
    picks: Sequence[tuple[int, int]] = (),
    store_id: int = 1,
    till_no: int = 1,
    staff_id: int = 1,
    gift: bool = False,
    new_items: Sequence[tuple[str, int]] = (),
    approvals: Sequence[Approval] = (),
    no_receipt_skus: Sequence[tuple[str, int]] = (),
    condition: Condition = Condition.NEW_WITH_TAGS,
    reason: str = "changed_mind",
    prefer_gift_card: bool = False,
    presented_card: str | None = None,
    exchange_payment_kind: TenderKind = TenderKind.CARD,
    id_check_uuid: str = "",
    cfg: TillConfig | None = None,
    refunds: Sequence[PlannedRefund] | None = None,
) -> ReturnPlan:
    """The engine's plan for a simple request, built in one call (tests of the writer,
    the benches, the reliability test's child process): ``picks`` are (sale line id,
    quantity), each returned in ``condition`` for ``reason``; ``no_receipt_skus`` come
    back without a record of sale (with ``id_check_uuid``, R07); ``new_items`` are
    taken in exchange. The customer presents the card that paid the sale unless
    ``presented_card`` says otherwise. The plan is :func:`plan_return`'s — the ticket
    writer commits nothing else (issue 12) — so it may wait for a manager
    (``approvals``, granted with the manager's PIN to be committed). ``refunds``
    replaces the engine's refunds: a plan changed by hand, which the writer refuses
    (for the tests of that refusal).
    """
    sale = get_sale(db, sale_id) if sale_id is not None else None
    if presented_card is None:
        card = main_card(sale) if sale is not None else None
        presented_card = card.card_last4 if card is not None else ""
    requests = [LineRequest(quantity=qty, sale_line_id=line_id, condition=condition,
                            reason=reason) for line_id, qty in picks]
    requests += [LineRequest(quantity=qty, sku=sku, condition=condition, reason=reason)
                 for sku, qty in no_receipt_skus]
    request = ReturnRequest(
        store_id=store_id, till_no=till_no, staff_id=staff_id, sale_id=sale_id,
        lines=tuple(requests), new_items=tuple(NewItem(s, q) for s, q in new_items),
        gift=gift, approvals=tuple(approvals), presented_card_last4=presented_card,
        prefer_gift_card=prefer_gift_card, exchange_payment_kind=exchange_payment_kind,
        other_ways_searched=sale_id is None, id_checked=sale_id is None,
        id_check_uuid=id_check_uuid,
    )
    # without a record of sale, its ID check's history is read as at commit (R19)
    planner = plan_for_commit if sale_id is None and id_check_uuid else plan_return
    plan = planner(db, cfg or TillConfig(store_id=store_id, till_no=till_no), request)
    return plan if refunds is None else replace(plan, refunds=tuple(refunds))


# --------------------------------------------------------------------------- demo history

SCENARIOS = (
    ("receipt", 40),
    ("split", 12),
    ("gift", 12),
    ("partial", 10),
    ("exchange", 12),
    ("online", 6),
    ("override", 8),
)

OVERRIDE_REASONS = (
    "Cliente fidèle, article à peine porté",
    "Défaut de fabrication constaté en magasin",
    "Geste commercial validé par le responsable",
    "Étiquette retirée par erreur à la caisse",
    "Client régulier, article en parfait état",
)

_SKIPPED_DEPARTMENTS = ("jewelry", "gift_cards")  # R14 needs the jewelry counter, R09


@dataclass(frozen=True, slots=True)
class DemoReturns:
    tickets: int
    closures: int
    by_scenario: dict[str, int]


def _moments(rng: random.Random, n: int, days: int, today: date) -> list[datetime]:
    """``n`` shop-hour moments over the last ``days`` days (local time), oldest first."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    days = max(days, 2)  # today may not have opened yet: yesterday always has
    out: list[datetime] = []
    while len(out) < n:
        day = today - timedelta(days=rng.randint(0, max(0, days - 1)))
        minute = rng.randint(9 * 60 + 45, 19 * 60 + 15)
        local = datetime.combine(day, time(minute // 60, minute % 60, rng.randint(0, 59)),
                                 tzinfo=STORE_TZ)
        if local.astimezone(UTC) <= now:  # never a ticket in the future
            out.append(local.astimezone(UTC))
    return sorted(out)


def _returnable(sale: Sale) -> list:  # type: ignore[type-arg]
    return [
        line for line in sale.lines
        if line.refundable_qty > 0 and str(line.department) not in _SKIPPED_DEPARTMENTS
    ]


def _blocking(plan: ReturnPlan) -> tuple[list[tuple[str, int | None]], bool]:
    """(rule, line_no) pairs a manager would have to approve; True if a line is refused."""
    out: list[tuple[str, int | None]] = []
    refused = False
    for line in plan.lines:
        if line.verdict == Verdict.ACCEPTED:
            continue
        for r in line.reasons:
            if r.level in ("manager", "refused"):
                out.append((r.rule, line.line_no))
                refused = refused or r.level == "refused"
    for refund in plan.refunds:
        if refund.needs_manager:
            for r in refund.reasons:
                if r.level == "manager":
                    out.append((r.rule, None))
    return list(dict.fromkeys(out)), refused


@dataclass(frozen=True, slots=True)
class _Sources:
    """What the demo returns are drawn from, at one store."""

    sellers: list[int]
    managers: list[int]
    candidates: list[int]  # sales of the 200 days before the window (or the last 5,000)
    online: list[int]  # the last 2,000 web orders before the window
    exchange_skus: list[tuple[str, str]]  # (sku, department) an exchange may take


def add_demo_returns(
    db: Database,
    cfg: TillConfig,
    *,
    n: int,
    seed: int,
    days: int = 21,
    today: date | None = None,
    close_days: bool = True,
) -> DemoReturns:
    """Commit ``n`` demo returns at the till of ``cfg`` through the policy engine
    and the ticket writer, spread over the last ``days`` days; close every day
    before yesterday (so the manager sees closed days and open ones).

    Returns the number of tickets, of closures, and of tickets per scenario.
    """

    rng = random.Random(seed * 7919 + 3)
    today = today or datetime.now(STORE_TZ).date()
    yesterday = today - timedelta(days=1)
    journal = Journal.for_config(db, cfg)
    src = _sources(db, cfg.store_id, today - timedelta(days=days))
    names, weights = zip(*SCENARIOS, strict=True)
    moments = _moments(rng, n, days, today)
    rest_later: list[tuple[int, int]] = []  # (sale id, earliest slot) of partial returns
    counts: dict[str, int] = {}
    committed = attempts = slot = closed = 0
    while committed < n and attempts < n * 20:
        attempts += 1
        moment = moments[slot]
        if close_days and slot > 0:  # the first return of a day: close the days before
            local_day = moment.astimezone(STORE_TZ).date()
            if local_day > moments[slot - 1].astimezone(STORE_TZ).date():
                closed += _close_days(db, journal, moments[0].astimezone(STORE_TZ).date(),
                                      min(local_day, yesterday), src.managers[0])
        scenario, sale, rest = _pick_sale(db, rng, rng.choices(names, weights)[0], src,
                                          rest_later, slot)
        chosen = _choose_lines(rng, scenario, sale, rest, rest_later, slot)
        if not chosen:
            continue
        request = _request(rng, cfg, src, scenario, sale, chosen)
        plan = _plan_and_commit(db, cfg, journal, rng, request, scenario, src.managers, moment)
        if plan is None:
            continue
        label = "exchange" if request.new_items else (
            "override" if plan.approvals else scenario)
        counts[label] = counts.get(label, 0) + 1
        committed += 1
        slot += 1
    if close_days and committed:
        closed += _close_days(db, journal, moments[0].astimezone(STORE_TZ).date(), yesterday,
                              src.managers[0])
    return DemoReturns(tickets=committed, closures=closed, by_scenario=counts)


def _sources(db: Database, store_id: int, window_end_day: date) -> _Sources:
    """The store's staff, and the sales to return: those of the 200 days before
    ``window_end_day`` (returns come a while after the sale), recent web orders."""
    staff_rows = db.execute(
        "SELECT id, role FROM staff WHERE store_id = ? AND active = 1 ORDER BY id", [store_id]
    ).fetchall()
    sellers = [r[0] for r in staff_rows if r[1] == "salesperson"] or [r[0] for r in staff_rows]
    managers = [r[0] for r in staff_rows if r[1] == "manager"]
    if not sellers or not managers:
        raise AlamaraError(f"store {store_id} has no salesperson or no manager")
    window_end = datetime.combine(window_end_day, time(0), tzinfo=STORE_TZ)
    window_start = window_end - timedelta(days=200)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    end = window_end.astimezone(UTC).strftime(fmt)
    candidates = [
        r[0] for r in db.execute(
            "SELECT id FROM sales WHERE sold_at >= ? AND sold_at < ?",
            [window_start.astimezone(UTC).strftime(fmt), end],
        )
    ]
    if not candidates:
        candidates = [r[0] for r in db.execute("SELECT id FROM sales ORDER BY id DESC LIMIT 5000")]
    online = [
        r[0] for r in db.execute(
            "SELECT id FROM sales WHERE channel = 'online' AND sold_at < ? ORDER BY id DESC "
            "LIMIT 2000", [end],
        )
    ]
    exchange_skus = [
        (r[0], r[1]) for r in db.execute(
            "SELECT sku, department FROM products WHERE department NOT IN (?, ?) "
            "AND return_tag_required = 0 ORDER BY sku",
            list(_SKIPPED_DEPARTMENTS),
        )
    ]
    return _Sources(sellers, managers, candidates, online, exchange_skus)


def _pick_sale(db: Database, rng: random.Random, scenario: str, src: _Sources,
               rest_later: list[tuple[int, int]], slot: int) -> tuple[str, Sale, bool]:
    """(scenario, sale, the rest of a partial return?): a partial return whose rest is
    due comes first; a web order for the online scenario; else any candidate."""
    rest = False
    if rest_later and rest_later[0][1] <= slot:
        sale_id, _slot = rest_later.pop(0)
        scenario, rest = "partial", True
    elif scenario == "online" and src.online:
        sale_id = rng.choice(src.online)
    else:
        sale_id = rng.choice(src.candidates)
    return scenario, get_sale(db, sale_id), rest


def _choose_lines(rng: random.Random, scenario: str, sale: Sale, rest: bool,
                  rest_later: list[tuple[int, int]], slot: int) -> list[tuple[SaleLine, int]]:
    """(line, quantity) to return, or [] when the sale does not fit the scenario. A
    partial return takes one article now and schedules the rest a few returns later."""
    lines = _returnable(sale)
    if not lines:
        return []
    if scenario == "split" and len(sale.tenders) < 2:
        return []
    if scenario == "gift" and not sale.gift_receipt and rng.random() < 0.5:
        return []  # half the gift returns come with a gift receipt
    if rest:
        return [(line, line.refundable_qty) for line in lines]
    if scenario == "partial":
        if len(lines) < 2 and lines[0].refundable_qty < 2:
            return []
        first = lines[0]
        rest_later.append((sale.id, slot + rng.randint(3, 12)))
        return [(first, 1)] if first.refundable_qty >= 2 else [(first, first.quantity)]
    k = 1 if rng.random() < 0.7 else min(len(lines), 2)
    return [(line, 1) for line in rng.sample(lines, k)]


def _request(rng: random.Random, cfg: TillConfig, src: _Sources, scenario: str, sale: Sale,
             chosen: list[tuple[SaleLine, int]]) -> ReturnRequest:
    """The salesperson's request: the condition (worn or damaged for an override), an
    article of the same department for an exchange, a reason per line."""
    condition = Condition.NEW_WITH_TAGS
    if scenario == "override":
        condition = rng.choice([Condition.WORN, Condition.DAMAGED])
    new_items: tuple[NewItem, ...] = ()
    if scenario == "exchange" and src.exchange_skus:
        dept = str(chosen[0][0].department)
        same = ([s for s, d in src.exchange_skus if d == dept]
                or [s for s, _d in src.exchange_skus])
        new_items = (NewItem(rng.choice(same), 1),)
    card = next((t for t in sale.tenders if t.kind == TenderKind.CARD), None)
    staff_id = rng.choice(src.sellers)
    reasons = ["size", "fit", "colour", "changed_mind", "gift" if scenario == "gift" else "size",
               "defective" if condition != Condition.NEW_WITH_TAGS else "not_as_described"]
    return ReturnRequest(
        store_id=cfg.store_id, till_no=cfg.till_no, staff_id=staff_id, sale_id=sale.id,
        lines=tuple(
            LineRequest(quantity=q, condition=condition, sale_line_id=line.id,
                        reason=rng.choice(reasons))
            for line, q in chosen
        ),
        new_items=new_items,
        gift=scenario == "gift",
        presented_card_last4=card.card_last4 if card else "",
        packing_slip=sale.packing_slip,
    )


def _plan_and_commit(db: Database, cfg: TillConfig, journal: Journal, rng: random.Random,
                     request: ReturnRequest, scenario: str, managers: list[int],
                     moment: datetime) -> ReturnPlan | None:
    """Plan through the policy engine; a manager approves what only needs a manager
    (R12, cash; R13 and R03 for an override scenario) with a written reason (R01); commit
    at ``moment``. None when the engine refuses or the writer fails."""
    try:
        plan = plan_return(db, cfg, request)
        if plan.blocked:
            needed, refused = _blocking(plan)
            allowed = {"R12", "CASH"} | ({"R13", "R03"} if scenario == "override" else set())
            if refused or not needed or {rule for rule, _l in needed} - allowed:
                return None
            manager = rng.choice(managers)
            # granted as at the till (issue 12): the demo manager's PIN, a token per item
            code = db.execute("SELECT code FROM staff WHERE id = ?", [manager]).fetchone()[0]
            approvals = tuple(
                grant_approvals(db, cfg, code, DEMO_PINS["manager"], [(line_no, rule)],
                                decision="approved", reason=rng.choice(OVERRIDE_REASONS),
                                request=request, now=moment)[0]
                for rule, line_no in needed
            )
            plan = plan_return(db, cfg, replace(request, approvals=approvals))
            if plan.blocked:
                return None
        commit_plan(db, cfg, plan, journal=journal, now=moment)
    except AlamaraError:
        return None
    return plan


def _close_days(db: Database, journal, first: date, until: date, manager_id: int) -> int:  # type: ignore[no-untyped-def]
    """Close every day from ``first`` to before ``until`` not closed yet, each at
    20:30 that evening (or now, for a day that is over and was never closed)."""
    last = db.execute(
        "SELECT MAX(period) FROM closures WHERE store_id = ? AND till_no = ? AND "
        "period_kind = 'day'", [journal.store_id, journal.till_no]).fetchone()[0]
    last_record = db.execute(
        "SELECT MAX(created_at) FROM journal WHERE store_id = ? AND till_no = ?",
        [journal.store_id, journal.till_no]).fetchone()[0] or ""
    closed = 0
    day = first
    while day < until:
        if last is None or day.isoformat() > last:
            close_at = datetime.combine(day, time(20, 30), tzinfo=STORE_TZ).astimezone(UTC)
            if close_at.strftime("%Y-%m-%dT%H:%M:%SZ") < last_record:
                close_at = datetime.now(UTC)  # never back in time in the chain
            try:
                journal.close_day(day, staff_id=manager_id, now=close_at)
                closed += 1
            except AlamaraError:
                pass
        day += timedelta(days=1)
    return closed
