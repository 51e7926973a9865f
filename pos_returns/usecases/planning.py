"""Plan a return: load what the policy engine needs from the cache, and ask it.

The engine (:func:`pos_returns.engine.policy.decide`) is pure; this use case reads
the sale, the store, the staff and the products it needs, then decides. Reads only.

What is committed is what this module decides: :func:`plan_for_commit` is the plan
the till confirms (``returns.prepare_return``), and :func:`require_decided` is run
again by the ticket writer inside the ticket's transaction, so that a plan built or
changed by hand is never recorded (issue 12).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlite_utils import Database

from pos_returns.cache import reference
from pos_returns.cache.lookup import get_sale
from pos_returns.config import TillConfig
from pos_returns.engine.domain import Sale, Staff
from pos_returns.engine.plan import ReturnPlan, ReturnRequest, plan_difference
from pos_returns.engine.policy import decide
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied, PolicyRefused
from pos_returns.i18n import _
from pos_returns.usecases.auth import pepper_of, sealed_staff
from pos_returns.usecases.idcheck import get_check, history_for


def _check_sale_record(sale: Sale, cfg: TillConfig) -> None:
    """A sale whose record cannot be right (a date that is not one, an amount or a
    quantity beyond the chain's bounds: a row written before pulled rows were
    validated, or a damaged cache) is never returned at the till: the engine would
    crash on the date or refund the absurd amount. The support desk corrects it."""
    max_amount = int(getattr(cfg, "sync_max_amount", 10_000_000))
    max_qty = int(getattr(cfg, "sync_max_quantity", 9_999))
    problem = ""
    try:
        datetime.strptime(sale.sold_at, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        problem = _("its date “{value}” is not a date").format(value=sale.sold_at)
    if not problem and not 0 <= sale.total <= max_amount:
        problem = _("its total is out of bounds")
    for line in sale.lines:
        if problem:
            break
        if not (0 < line.quantity <= max_qty and 0 <= line.unit_price <= max_amount):
            problem = _("line {line} has a quantity or a price out of bounds").format(
                line=line.line_no)
    if problem:
        raise InvalidInput(
            _("This sale's record is damaged ({problem}): it cannot be returned at the till. "
              "Call the support desk.").format(problem=problem),
            code="damaged_sale",
        )


def plan_return(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnPlan:
    """Load what :func:`decide` needs from the cache and decide (reads only)."""
    if request.store_id != cfg.store_id or request.till_no != cfg.till_no:
        raise InvalidInput(_("This return is not for this till."), code="till")
    store = reference.get_store(db, request.store_id)
    pepper = pepper_of(cfg)
    staff = sealed_staff(db, request.staff_id, pepper)  # its role as sealed, not as edited
    sale = get_sale(db, request.sale_id) if request.sale_id is not None else None
    if sale is not None:
        _check_sale_record(sale, cfg)
    skus = {lr.sku for lr in request.lines if lr.sku} | {i.sku for i in request.new_items}
    if sale is not None:
        skus |= {line.sku for line in sale.lines}
    products = reference.get_products(db, {s for s in skus if s})
    approvers: dict[int, Staff] = {staff.id: staff}
    for a in request.approvals:
        if a.manager_id not in approvers:
            try:
                approvers[a.manager_id] = sealed_staff(db, a.manager_id, pepper)
            except NotFound:
                raise PermissionDenied(
                    _("Only a manager can approve or refuse a return."), code="approval"
                ) from None
    stores = [] if store.has_fine_jewelry else reference.all_stores(db)
    return decide(request, sale=sale, store=store, staff=staff, products=products,
                  config=cfg.policy, approvers=approvers, stores=stores)


def _with_id_history(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnRequest:
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


def plan_for_commit(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnPlan:
    """The plan the core decides for ``request`` when it is to be recorded: a return
    without a record of sale with its ID check and the identity's history read again
    from the cache (never the caller's figures), then :func:`plan_return`."""
    if request.sale_id is None:
        request = _with_id_history(db, cfg, request)
    return plan_return(db, cfg, request)


def require_decided(db: Database, cfg: TillConfig, plan: ReturnPlan) -> ReturnPlan:
    """The ticket writer's check (issue 12), inside the ticket's transaction: decide the
    plan's request again from the cache, with the manager decisions it carries, and
    refuse a plan that differs in anything recorded — a verdict, an amount, a
    restocking fee, the rules, a refund's kind, amount, tender or card, a gift card to
    issue, a manager needed or a decision applied. Nothing a caller builds or changes
    by hand is committed; only what the engine decides."""
    decided = plan_for_commit(db, cfg, plan.request)
    what = plan_difference(plan, decided)
    if what:
        raise PolicyRefused(
            _("This return is not what the till decides for it ({what}): nothing was "
              "recorded. Look at the return again, then confirm it.").format(what=what),
            code="not_decided",
        )
    return decided
