"""Completing a return: decide again, ask HQ, commit — the till's one entry point.

The till shows a plan while the salesperson works; when they confirm, this
module decides once more on the worker's connection (the cache may have changed),
asks HQ whether the lines can still be returned chain-wide when an HQ is
configured (DESIGN.md, "HQ sync"), then commits the ticket. Offline, the till
works from its cache and the ticket is marked offline; any conflict found at
push time goes to the manager's review.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlite_utils import Database

from pos_returns.config import TillConfig
from pos_returns.engine.plan import CommittedTicket, ReturnPlan, ReturnRequest
from pos_returns.errors import Conflict, PolicyRefused
from pos_returns.failures import french_failures
from pos_returns.i18n import _, ngettext
from pos_returns.sync.online import (
    check_return_online,
    local_waiting_quantities,
    wanted_quantities,
)
from pos_returns.usecases.idcheck import get_check, history_for
from pos_returns.usecases.planning import plan_return
from pos_returns.usecases.tickets import commit_plan

OnlineChecker = Callable[..., Any]

HQ_DEADLINE_SECONDS = 3.0  # past it, the till says it works offline and goes on


@dataclass(frozen=True)
class _Offline:
    """HQ's answer when it did not answer in time."""

    status: str = "offline"
    problems: tuple[Any, ...] = ()


OFFLINE = _Offline()


def _default_checker(dsn: str, plan: ReturnPlan, *, local_waiting: dict[int, int]) -> Any:
    return check_return_online(dsn, plan, local_waiting=local_waiting)


def decide_for_commit(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnPlan:
    """The engine's fresh answer; refuses (PolicyRefused) while anything still waits."""

    plan = plan_return(db, cfg, request)
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


def _require_id_check(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnRequest:
    """R07/R19: a return without a record of sale names the ID check recorded for it
    (``id_check_uuid``), so the ticket writer counts it in the identity's history;
    ``id_checked`` alone is the caller's word. The identity's history is read again
    from the cache (a sync may have brought other stores' returns since the capture)."""

    if not request.id_check_uuid:
        raise PolicyRefused(
            _("A return without a record of sale needs the customer's identification: "
              "record the ID document first (R07)."),
            code="R07",
        )
    check = get_check(db, request.id_check_uuid)  # NotFound when purged or cancelled
    history = history_for(db, check, cfg.policy)
    return replace(request, no_receipt_history_count=history.count,
                   no_receipt_history_amount=history.amount)


@dataclass(frozen=True)
class PreparedReturn:
    """A return decided on the database worker, ready for HQ's check and the commit."""

    plan: ReturnPlan
    ask_hq: bool  # an HQ is configured and the return has a record of sale
    local_waiting: dict[int, int] = field(default_factory=dict)  # this till's unpushed


@french_failures
def prepare_return(db: Database, cfg: TillConfig, request: ReturnRequest) -> PreparedReturn:
    """Step 1, database worker: decide again (refused while anything waits for a
    manager); read this till's returns not yet pushed for the same lines."""
    if request.sale_id is None:
        request = _require_id_check(db, cfg, request)
    plan = decide_for_commit(db, cfg, request)
    ask = bool(cfg.hq_dsn) and plan.request.sale_id is not None
    waiting = local_waiting_quantities(db, wanted_quantities(plan)) if ask else {}
    return PreparedReturn(plan, ask, waiting)


def ask_hq(cfg: TillConfig, prepared: PreparedReturn,
           *, check_online: OnlineChecker | None = None) -> Any:
    """Step 2, I/O pool (no cache): ask HQ whether the lines can still be returned
    chain-wide. HQ unreachable within its deadline: ``offline``."""
    if not prepared.ask_hq:
        return None
    checker = check_online or _default_checker
    return checker(cfg.hq_dsn, prepared.plan, local_waiting=prepared.local_waiting)


@french_failures
def commit_prepared(db: Database, cfg: TillConfig, prepared: PreparedReturn,
                    answer: Any = None) -> CommittedTicket:
    """Step 3, database worker: refuse on HQ's conflict, mark offline when HQ was
    away, commit the ticket (the ticket writer checks the quantities again under
    the write lock)."""
    plan = prepared.plan
    if answer is not None:
        if answer.status == "conflict":
            count = len(answer.problems)
            raise Conflict(
                ngettext(
                    "HQ says {count} line of this sale was already returned at another till. "
                    "Look the sale up again.",
                    "HQ says {count} lines of this sale were already returned at another till. "
                    "Look the sale up again.",
                    count,
                ).format(count=count),
                code="hq_conflict",
            )
        if answer.status == "offline":
            plan = replace(plan, request=replace(plan.request, offline=True))
    return commit_plan(db, cfg, plan)


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
    return commit_prepared(db, cfg, prepared, answer)
