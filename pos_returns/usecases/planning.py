"""Plan a return: load what the policy engine needs from the cache, and ask it.

The engine (:func:`pos_returns.engine.policy.decide`) is pure; this use case reads
the sale, the store, the staff and the products it needs, then decides. Reads only.
"""

from __future__ import annotations

from sqlite_utils import Database

from pos_returns.cache import reference
from pos_returns.cache.lookup import get_sale
from pos_returns.config import TillConfig
from pos_returns.engine.domain import Staff
from pos_returns.engine.plan import ReturnPlan, ReturnRequest
from pos_returns.engine.policy import decide
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied
from pos_returns.i18n import _
from pos_returns.usecases.auth import get_staff


def plan_return(db: Database, cfg: TillConfig, request: ReturnRequest) -> ReturnPlan:
    """Load what :func:`decide` needs from the cache and decide (reads only)."""
    if request.store_id != cfg.store_id or request.till_no != cfg.till_no:
        raise InvalidInput(_("This return is not for this till."), code="till")
    store = reference.get_store(db, request.store_id)
    staff = get_staff(db, request.staff_id)
    sale = get_sale(db, request.sale_id) if request.sale_id is not None else None
    skus = {lr.sku for lr in request.lines if lr.sku} | {i.sku for i in request.new_items}
    if sale is not None:
        skus |= {line.sku for line in sale.lines}
    products = reference.get_products(db, {s for s in skus if s})
    approvers: dict[int, Staff] = {staff.id: staff}
    for a in request.approvals:
        if a.manager_id not in approvers:
            try:
                approvers[a.manager_id] = get_staff(db, a.manager_id)
            except NotFound:
                raise PermissionDenied(
                    _("Only a manager can approve or refuse a return."), code="approval"
                ) from None
    stores = [] if store.has_fine_jewelry else reference.all_stores(db)
    return decide(request, sale=sale, store=store, staff=staff, products=products,
                  config=cfg.policy, approvers=approvers, stores=stores)
