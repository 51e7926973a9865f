"""Completing a return: decide again, ask HQ, commit — the till's one entry point.

The till shows a plan while the salesperson works; when they confirm, this
module decides once more on the worker's connection (the cache may have changed),
asks HQ whether the lines can still be returned chain-wide when an HQ is
configured (DESIGN.md, "HQ sync"): HQ *reserves* the lines under the ticket's
uuid before any money moves; then commits the ticket and pushes it at once (the
push confirms the reservation). Offline, the till works from its cache and the
ticket is marked offline; any conflict found at push time goes to the manager's
review.
"""

from __future__ import annotations

import json
import logging
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.engine.plan import CommittedTicket, ReturnPlan, ReturnRequest
from pos_returns.errors import Conflict, PolicyRefused
from pos_returns.failures import french_failures
from pos_returns.i18n import _, format_datetime, ngettext
from pos_returns.sync import push as sync_push
from pos_returns.sync import reserve as sync_reserve
from pos_returns.sync.reserve import ReservationAnswer
from pos_returns.usecases import card_payments
from pos_returns.usecases.planning import plan_for_commit
from pos_returns.usecases.tickets import commit_plan

OnlineChecker = Callable[..., Any]
log = logging.getLogger(__name__)

HQ_DEADLINE_SECONDS = 3.0  # default of cfg.hq_deadline_seconds; past it the till goes offline


@dataclass(frozen=True)
class _Offline:
    """HQ's answer when it did not answer in time."""

    status: str = "offline"
    problems: tuple[Any, ...] = ()


OFFLINE = _Offline()


def hq_deadline(cfg: TillConfig) -> float:
    """The till's deadline for one HQ call (seconds, config key hq_deadline_seconds)."""
    return float(getattr(cfg, "hq_deadline_seconds", HQ_DEADLINE_SECONDS) or HQ_DEADLINE_SECONDS)


def ui_deadline(cfg: TillConfig) -> float:
    """The I/O pool's timeout around :func:`ask_hq`: the HQ deadline plus a margin
    (ask_hq answers ``offline`` by itself at the deadline)."""
    return hq_deadline(cfg) + 1.0


def decide_for_commit(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnPlan:
    """The engine's fresh answer; refuses (PolicyRefused) while anything still waits."""

    plan = plan_for_commit(db, cfg, request)
    if plan.blocked:
        waiting = [
            reason.message
            for refund in plan.refunds if refund.needs_manager
            for reason in refund.reasons if reason.level == "manager"
        ] + [
            reason.message
            for line in plan.lines if line.verdict != "accepted"
            for reason in line.reasons if reason.level in ("manager", "refused")
        ]
        raise PolicyRefused(
            waiting[0] if waiting else _("The return still needs a manager's decision."),
            code="blocked",
        )
    return plan


def reservation_lines(plan: ReturnPlan) -> list[tuple[int, int, int]]:
    """``(sale_line_id, quantity, cents refunded)`` of the lines coming back."""
    return [
        (int(line.sale_line_id), int(line.quantity), -int(line.amount))
        for line in plan.lines
        if line.direction == "return" and line.sale_line_id is not None
    ]


def reservation_tenders(plan: ReturnPlan) -> list[tuple[int, int, int]]:
    """``(tender_id, cents, beyond_original)`` of the refunds onto the sale's payments."""
    return [
        (int(r.sale_tender_id), int(r.amount), int(bool(r.beyond_original)))
        for r in plan.refunds
        if r.sale_tender_id is not None and r.amount > 0
    ]


@dataclass(frozen=True)
class PreparedReturn:
    """A return decided on the database worker, ready for HQ's reservation and the
    commit. ``ticket_uuid`` is chosen here: HQ reserves under it, the ticket is
    committed under it, its push confirms the reservation."""

    plan: ReturnPlan
    ask_hq: bool  # an HQ is configured and the return has a record of sale
    local_waiting: dict[int, int] = field(default_factory=dict)  # kept for callers
    ticket_uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    lines: tuple[tuple[int, int, int], ...] = ()
    tenders: tuple[tuple[int, int, int], ...] = ()


@french_failures
def prepare_return(db: Database, cfg: TillConfig, request: ReturnRequest) -> PreparedReturn:
    """Step 1, database worker: decide again (refused while anything waits for a
    manager); choose the ticket's uuid and, when HQ will be asked, write the
    pending reservation BEFORE asking (a till that dies after HQ's answer tells
    HQ at its next contact that it never committed)."""
    plan = decide_for_commit(db, cfg, request)
    lines = tuple(reservation_lines(plan))
    ask = bool(cfg.hq_dsn) and plan.request.sale_id is not None and bool(lines)
    prepared = PreparedReturn(plan, ask, lines=lines, tenders=tuple(reservation_tenders(plan)))
    if ask:
        sync_reserve.record_pending(db, prepared.ticket_uuid, sale_id=plan.request.sale_id,
                                    lines=prepared.lines, tenders=prepared.tenders)
    return prepared


def ask_hq(cfg: TillConfig, prepared: PreparedReturn,
           *, check_online: OnlineChecker | None = None) -> Any:
    """Step 2, I/O pool (no cache): reserve the lines at HQ before any money moves.
    ``reserved``, ``conflict`` (already returned or reserved elsewhere: where and
    when), or ``offline`` when HQ did not answer within ``hq_deadline_seconds``."""
    if not prepared.ask_hq:
        return None
    if check_online is not None:  # a test's or the demo's stand-in for HQ
        return check_online(cfg.hq_dsn, prepared.plan, local_waiting=prepared.local_waiting)
    return sync_reserve.reserve_at_hq(
        cfg.hq_dsn, prepared.ticket_uuid, cfg.store_id, cfg.till_no,
        prepared.lines, prepared.tenders, deadline=hq_deadline(cfg),
    )


def _answer_json(answer: Any) -> str:
    if isinstance(answer, ReservationAnswer):
        return answer.as_json()
    return json.dumps({"result": getattr(answer, "status", ""),
                       "problems": list(getattr(answer, "problems", ()))}, default=str)


def conflict_message(answer: Any) -> str:
    """What the salesperson reads when HQ refuses: how many lines, and where and
    when the first was returned (or is being returned)."""
    count = max(1, len(getattr(answer, "problems", ()) or ()))
    text = ngettext(
        "HQ says {count} line of this sale was already returned at another till. "
        "Look the sale up again.",
        "HQ says {count} lines of this sale were already returned at another till. "
        "Look the sale up again.",
        count,
    ).format(count=count)
    earlier = list(getattr(answer, "earlier", ()) or ())
    if earlier:
        first = earlier[0]
        where = _("store {store}, till {till}").format(store=first.get("store_id"),
                                                        till=first.get("till_no"))
        moment = str(first.get("at", ""))
        try:
            when = format_datetime(datetime.fromisoformat(moment.replace("Z", "+00:00")))
        except ValueError:
            when = moment
        if first.get("state") == "reserved":
            text += " " + _("Being returned now at {where} (since {when}).").format(
                where=where, when=when)
        else:
            text += " " + _("Returned at {where} on {when}.").format(where=where, when=when)
    return text


@french_failures
def commit_prepared(db: Database, cfg: TillConfig, prepared: PreparedReturn,
                    answer: Any = None, card_draft: str = "") -> CommittedTicket:
    """Step 3, database worker: refuse on HQ's conflict, mark offline when HQ was
    away, commit the ticket under the reserved uuid (the ticket writer checks the
    quantities again under the write lock). A commit that fails leaves its
    reservation ``abandoned``: the next sync tells HQ to free it.

    ``card_draft``: the return's key under which its card amounts were done on the
    payment terminal (:mod:`pos_returns.usecases.card_payments`); the ticket is
    committed only when every card amount is approved, and carries them. With a
    terminal configured, a card amount without it is refused. The ticket writer
    decides the plan again (issue 12); what HQ reserved must be the plan's lines and
    payments."""
    plan = prepared.plan
    pending = prepared.ask_hq
    if answer is not None:
        if answer.status == "conflict":
            if pending:
                with atomic(db):
                    sync_reserve.set_pending(db, prepared.ticket_uuid, "conflict",
                                             _answer_json(answer))
            raise Conflict(conflict_message(answer), code="hq_conflict")
        if answer.status == "offline":
            plan = replace(plan, request=replace(plan.request, offline=True))
    elif pending:  # HQ was never asked (or the caller dropped its answer): offline
        plan = replace(plan, request=replace(plan.request, offline=True))
    try:
        with atomic(db):
            if pending and (prepared.lines, prepared.tenders) != (
                    tuple(reservation_lines(plan)), tuple(reservation_tenders(plan))):
                raise PolicyRefused(
                    _("This return is not the one reserved at HQ: nothing was recorded. "
                      "Look at the return again, then confirm it."), code="not_reserved")
            operations = None
            if card_draft:
                operations = card_payments.require_settled(db, plan, card_draft, cfg=cfg)
            elif cfg.terminal_host and card_payments.card_amounts(plan):
                raise PolicyRefused(
                    _("The card amounts of this return must go through the payment "
                      "terminal first."), code="terminal_unsettled")
            card_payments.check_no_loose_money(db, plan, operations, cfg=cfg)
            ticket = commit_plan(db, cfg, plan, ticket_uuid=prepared.ticket_uuid,
                                 card_operations=operations)
            if pending:
                sync_reserve.set_pending(db, prepared.ticket_uuid, "committed",
                                         _answer_json(answer) if answer is not None else "")
    except BaseException:
        if pending:
            with atomic(db):
                sync_reserve.set_pending(db, prepared.ticket_uuid, "abandoned")
        raise
    return ticket


def push_after_commit(cfg: TillConfig, document: sync_push.OutboxDocument | None) -> Any:
    """I/O pool, right after the commit: send that one ticket to HQ (its push
    confirms the reservation). ``None`` when HQ did not take it in time: the sync
    round sends it later, and HQ's answer is the same (idempotent by uuid)."""
    if document is None or document.sent or not cfg.hq_dsn:
        return None
    deadline = hq_deadline(cfg)

    def send(conn: Any) -> Any:
        return sync_push.send_document(conn, document.kind, document.uuid, document.payload,
                                       store_id=cfg.store_id, till_no=cfg.till_no)

    try:
        return sync_reserve.LINK.call(cfg.hq_dsn, deadline, send)
    except Exception as exc:  # offline, slow, or refused as malformed: the sync round retries
        log.info("push after commit of %s not done: %s", document.uuid, exc)
        return None


def prepare_push(db: Database, ticket_uuid: str) -> sync_push.OutboxDocument | None:
    """Database worker: the committed ticket's outbox document, for the push."""
    return sync_push.outbox_document(db, ticket_uuid)


def record_push(db: Database, document: sync_push.OutboxDocument | None,
                answer: Any) -> bool:
    """Database worker: HQ's answer to the push after commit (None: not sent)."""
    if document is None or answer is None:
        return False
    sync_push.record_answer(db, document.outbox_id, document.uuid, document.kind, answer)
    return True


@french_failures
def complete_return(
    db: Database,
    cfg: TillConfig,
    request: ReturnRequest,
    *,
    check_online: OnlineChecker | None = None,
) -> CommittedTicket:
    """Decide, check with HQ (when configured and the return has a record of sale),
    and commit the ticket, in one call (command line, demo, tests). HQ unreachable:
    the ticket is committed offline. The UI runs the three steps on its two workers."""
    prepared = prepare_return(db, cfg, request)
    answer = ask_hq(cfg, prepared, check_online=check_online) if prepared.ask_hq else None
    ticket = commit_prepared(db, cfg, prepared, answer)
    if prepared.ask_hq and answer is not None and answer.status == "reserved":
        document = prepare_push(db, ticket.uuid)
        record_push(db, document, push_after_commit(cfg, document))
    return ticket
