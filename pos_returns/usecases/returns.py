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
from dataclasses import replace
from typing import Any

from sqlite_utils import Database

from pos_returns.config import TillConfig
from pos_returns.engine.plan import CommittedTicket, ReturnPlan, ReturnRequest
from pos_returns.errors import Conflict, PolicyRefused
from pos_returns.i18n import _, ngettext
from pos_returns.sync.online import check_return_online
from pos_returns.usecases.idcheck import get_check, history_for
from pos_returns.usecases.planning import plan_return
from pos_returns.usecases.tickets import commit_plan

OnlineChecker = Callable[..., Any]


def _default_checker(dsn: str, plan: ReturnPlan, *, db: Database) -> Any:

    return check_return_online(dsn, plan, db=db)


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


def complete_return(
    db: Database,
    cfg: TillConfig,
    request: ReturnRequest,
    *,
    check_online: OnlineChecker | None = None,
) -> CommittedTicket:
    """Decide, check with HQ (when configured and the return has a record of sale),
    and commit the ticket. HQ unreachable: the ticket is committed offline."""

    if request.sale_id is None:
        request = _require_id_check(db, cfg, request)
    plan = decide_for_commit(db, cfg, request)
    if cfg.hq_dsn and plan.request.sale_id is not None:
        checker = check_online or _default_checker
        answer = checker(cfg.hq_dsn, plan, db=db)
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
