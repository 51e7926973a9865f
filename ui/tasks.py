"""Functions that run on the database worker (through :mod:`ui.ops`).

Each takes the worker's connection first and returns plain core objects. The
decisions stay in the core; these only gather what a screen shows.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlite_utils import Database

from pos_returns.domain import Store, StoreId

from .services import TillContext


def _store_from_row(r: Any) -> Store:
    return Store(
        id=StoreId(r[0]), code=r[1], name=r[2], address=r[3], postcode=r[4], city=r[5],
        siret=r[6], vat_number=r[7], has_fine_jewelry=bool(r[8]), latitude=r[9],
        longitude=r[10],
    )


def load_context(db: Database, store_id: int, till_no: int) -> TillContext:
    rows = db.conn.execute(
        "SELECT id, code, name, address, postcode, city, siret, vat_number, has_fine_jewelry, "
        "latitude, longitude FROM stores ORDER BY id"
    ).fetchall()
    stores = {r[0]: _store_from_row(r) for r in rows}
    label_row = db.conn.execute(
        "SELECT label FROM tills WHERE store_id = ? AND till_no = ?", [store_id, till_no]
    ).fetchone()
    return TillContext(
        store=stores.get(store_id), till_no=till_no,
        till_label=label_row[0] if label_row and label_row[0] else "", stores=stores,
    )


def start_till(db: Database, cfg: Any) -> Any:
    """When the till opens: verify the fiscal journal, record a configuration
    change if any, then the ``start`` event (pos_returns.journal.startup)."""
    from pos_returns import journal

    return journal.startup(db, cfg)


def login(db: Database, cfg: Any, code: str, pin: str) -> Any:
    """Check a staff code and PIN; the login, a wrong PIN or a lockout is journaled."""
    from pos_returns import auth
    from pos_returns.journal import Journal

    return auth.authenticate(db, code, pin, journal=Journal.for_config(db, cfg))


def optional_module(name: str) -> Any | None:
    """A core module another helper may not have written yet (policy, tickets...)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def product_by_code(db: Database, code: str) -> Any:
    """An item scanned for an exchange (EAN or SKU) -> its Product."""
    from pos_returns.domain import Department, Product
    from pos_returns.errors import InvalidInput, NotFound
    from pos_returns.i18n import _

    text = (code or "").strip().upper()
    if not text or len(text) > 32:
        raise InvalidInput(_("Scan the item or type its reference."), code="sku")
    if text[:1] in ("R", "W") or (text.isdigit() and len(text) == 17):
        from pos_returns.codes import CodeKind, classify

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
    row = db.conn.execute(
        "SELECT sku, ean, name, department, vat_rate_bp, current_price, return_tag_required, "
        "fine_jewelry, gift_card FROM products WHERE ean = ? OR sku = ?", [text, text]
    ).fetchone()
    if row is None:
        raise NotFound(_("Unknown article “{sku}”.").format(sku=text), code="sku")
    return Product(
        sku=row[0], ean=row[1], name=row[2], department=Department(row[3]), vat_rate_bp=row[4],
        current_price=row[5], return_tag_required=bool(row[6]), fine_jewelry=bool(row[7]),
        gift_card=bool(row[8]),
    )


def manager_decision(
    db: Database, code: str, pin: str, items: list[tuple[int | None, str]], decision: str,
    reason: str, store_id: int | None = None,
) -> list[Any]:
    """A manager's PIN-checked decision on ``items`` ((line_no, rule) pairs) -> Approvals.

    Uses ``pos_returns.auth.authorize_override`` (the core checks the PIN, the role
    and the written reason); the UI only gathers the inputs.
    """
    from pos_returns import auth
    from pos_returns.errors import InvalidInput
    from pos_returns.i18n import _
    from pos_returns.plan import Approval

    authorize = getattr(auth, "authorize_override", None)
    if authorize is not None:
        return [
            authorize(db, code, pin, rule=rule, decision=decision, reason=reason,
                      line_no=line_no, store_id=store_id)
            for line_no, rule in items
        ]
    # Until the core offers authorize_override: the same checks, with the core's parts.
    if len((reason or "").strip()) < 3:
        raise InvalidInput(_("Write the reason for the decision."), code="reason")
    manager = auth.authenticate(db, code, pin)
    auth.require_role(manager, auth.Role.MANAGER)
    return [
        Approval(rule=rule, manager_id=int(manager.id), decision=decision,
                 reason=reason.strip(), line_no=line_no)
        for line_no, rule in items
    ]


def commit_return(db: Database, cfg: Any, plan: Any) -> Any:
    """Decide again on the worker with the same request, ask HQ when one is
    configured, then commit the ticket (pos_returns.service.complete_return).

    Nothing is written unless the engine's fresh answer is clear (a line or a
    refund still waiting for a manager raises :class:`PolicyRefused`).
    """
    from pos_returns.service import complete_return

    return complete_return(db, cfg, plan.request)


def print_ticket(db: Database, cfg: Any, ticket: Any, requested: bool,
                 duplicate: bool = False, staff_id: int | None = None) -> Any:
    """Save the return ticket (80 mm roll) in the documents folder and print it when
    asked or when the core says it must (card refunds). A reprint is a DUPLICATA,
    recorded in the journal by the ticket writer first."""
    from pos_returns.errors import ConfigError
    from pos_returns.i18n import _

    documents = optional_module("pos_returns.documents")
    fn = getattr(documents, "print_ticket", None) if documents is not None else None
    if fn is None:
        raise ConfigError(_("Ticket printing is not installed on this till."), code="setup")
    if duplicate:
        tickets = optional_module("pos_returns.tickets")
        reprint = getattr(tickets, "reprint", None) if tickets is not None else None
        if reprint is not None:
            reprint(db, cfg, ticket.ticket_id, staff_id)
    codes = {number: code for number, code, _amount in ticket.gift_cards}
    return fn(db, ticket.ticket_id, cfg, duplicate=duplicate, requested=requested,
              security_codes=codes or None)
