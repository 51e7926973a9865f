"""Functions that run on the database worker (through :mod:`ui.ops`).

Each takes the worker's connection first and returns plain core objects. The
decisions stay in the core; these only gather what a screen shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from pos_returns.cache import reference
from pos_returns.documents import print_ticket as save_and_print
from pos_returns.engine.codes import CodeKind, classify
from pos_returns.engine.domain import Product
from pos_returns.engine.plan import Approval, ReturnPlan, ReturnRequest
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _
from pos_returns.journal import chain as journal
from pos_returns.journal.chain import Journal
from pos_returns.usecases import auth, planning, tickets
from pos_returns.usecases.returns import complete_return

from .services import TillContext


def load_context(db: Database, store_id: int, till_no: int) -> TillContext:
    stores = {int(store.id): store for store in reference.all_stores(db)}
    label_row = db.conn.execute(
        "SELECT label FROM tills WHERE store_id = ? AND till_no = ?", [store_id, till_no]
    ).fetchone()
    return TillContext(
        store=stores.get(store_id), till_no=till_no,
        till_label=label_row[0] if label_row and label_row[0] else "", stores=stores,
    )


def start_till(db: Database, cfg: Any) -> Any:
    """When the till opens: verify the fiscal journal, record a configuration
    change if any, then the ``start`` event (pos_returns.journal.chain.startup)."""

    return journal.startup(db, cfg)


def login(db: Database, cfg: Any, code: str, pin: str) -> Any:
    """Check a staff code and PIN; the login, a wrong PIN or a lockout is journaled."""

    return auth.authenticate(db, code, pin, journal=Journal.for_config(db, cfg))


def product_by_code(db: Database, code: str) -> Product:
    """An item scanned for an exchange (EAN or SKU) -> its Product; a receipt or an
    order number scanned there is explained instead of being an unknown article."""
    text = (code or "").strip().upper()
    if not text or len(text) > 32:
        raise InvalidInput(_("Scan the item or type its reference."), code="sku")
    if text[:1] in ("R", "W") or (text.isdigit() and len(text) == 17):
        try:
            kind, _code = classify(text)
        except InvalidInput:
            kind = None
        if kind in (CodeKind.RECEIPT, CodeKind.ORDER):
            raise InvalidInput(
                _("This is a receipt, not an item. Finish this return first, then scan "
                  "that receipt on the search screen."),
                code="receipt",
            )
    return reference.find_product(db, text)


def manager_decision(
    db: Database, code: str, pin: str, items: list[tuple[int | None, str]], decision: str,
    reason: str, store_id: int | None = None,
) -> list[Approval]:
    """A manager's PIN-checked decision on ``items`` ((line_no, rule) pairs) -> Approvals.

    ``pos_returns.usecases.auth.authorize_override`` checks the PIN, the role and the written
    reason; the UI only gathers the inputs.
    """
    return [
        auth.authorize_override(db, code, pin, rule=rule, decision=decision, reason=reason,
                                line_no=line_no, store_id=store_id)
        for line_no, rule in items
    ]


def ask_policy(services: Any, request: ReturnRequest, seq: int,
               planned: Callable[[int, ReturnPlan], None],
               failed: Callable[[int, BaseException], None]) -> None:
    """Ask the policy engine for ``request`` on the database worker. The answer comes
    back with ``seq`` so that a screen that asked again since keeps only the newest."""
    (
        services.ops.op(planning.plan_return, services.cfg, request)
        .success(lambda plan: planned(seq, plan))
        .failure(lambda exc: failed(seq, exc))
        .run()
    )


def scan_item(services: Any, field: Any, banner: Any,
              found: Callable[[Product], None]) -> None:
    """Look up the article typed or scanned in ``field`` on the database worker.

    Found: the field is emptied, the banner cleared, ``found(product)`` called. Not
    found: the banner says why and the code stays in the field, selected, so that the
    next scan replaces it (the no-receipt items and the exchange's new items)."""
    code = field.text()
    if not code.strip():
        return

    def ok(product: Product) -> None:
        field.clear()
        banner.clear_message()
        found(product)

    def failed(exc: BaseException) -> None:
        from .ops import error_message

        banner.show_message(error_message(exc))
        field.setFocus()
        field.selectAll()

    services.ops.op(product_by_code, code).success(ok).failure(failed).run()


def commit_return(db: Database, cfg: Any, plan: Any) -> Any:
    """Decide again on the worker with the same request, ask HQ when one is
    configured, then commit the ticket (pos_returns.usecases.returns.complete_return).

    Nothing is written unless the engine's fresh answer is clear (a line or a
    refund still waiting for a manager raises :class:`PolicyRefused`).
    """

    return complete_return(db, cfg, plan.request)


def print_ticket(db: Database, cfg: Any, ticket: Any, requested: bool,
                 duplicate: bool = False, staff_id: int | None = None) -> Any:
    """Save the return ticket (80 mm roll) in the documents folder and print it when
    asked or when the core says it must (card refunds). A reprint is a DUPLICATA,
    recorded in the journal by the ticket writer first."""

    if duplicate:
        tickets.reprint(db, cfg, ticket.ticket_id, staff_id)
    codes = {number: code for number, code, _amount in ticket.gift_cards}
    return save_and_print(db, ticket.ticket_id, cfg, duplicate=duplicate, requested=requested,
                          security_codes=codes or None)
