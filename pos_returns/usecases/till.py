"""The till's session use cases: open the cache, start, log in, scan an item,
find a sale, the manager's decision, and the ticket's documents.

The UI runs the functions that take ``db`` first on its database worker, and the
ones that do network, device or PDF work (no ``db``) on its I/O pool. They take
and return core objects only: the screens show what these answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.cache import lookup, reference
from pos_returns.cache.db import connect, open_cache
from pos_returns.config import TillConfig
from pos_returns.documents import (
    DocumentSettings,
    TicketPrintJob,
    ticket_documents,
)
from pos_returns.engine.codes import CodeKind, classify
from pos_returns.engine.domain import Customer, Product, Sale, Staff, Store
from pos_returns.engine.plan import Approval, ReturnRequest
from pos_returns.engine.text import clean_text
from pos_returns.errors import InvalidInput, PermissionDenied
from pos_returns.i18n import _
from pos_returns.journal.chain import Journal, startup
from pos_returns.journal.verify import VerifyReport
from pos_returns.usecases import auth, card_payments, delivery, tickets
from pos_returns.usecases.staff import needs_new_pin

MAX_CODE_LENGTH = 64  # a scanned code longer than this is not one of ours
PRINT_TIMEOUT_SECONDS = 45.0  # rendering + the printer queue's own 30 s



@dataclass(frozen=True)
class TillContext:
    """The till's identity and the chain's stores (small, loaded once at start)."""

    store: Store | None
    till_no: int
    till_label: str
    stores: dict[int, Store] = field(default_factory=dict)

    def store_name(self, store_id: int) -> str:
        store = self.stores.get(store_id)
        return store.name if store else f"#{store_id:03d}"


def open_worker_cache(path: Path | str) -> Database:
    """The database worker's own connection to an existing cache."""
    return connect(path, create=False)


def open_or_create_cache(path: Path | str) -> Database:
    """A connection to the cache, created and migrated when it is not there yet."""
    return open_cache(path)


def load_context(db: Database, store_id: int, till_no: int) -> TillContext:
    stores = {int(store.id): store for store in reference.all_stores(db)}
    label_row = db.conn.execute(
        "SELECT label FROM tills WHERE store_id = ? AND till_no = ?", [store_id, till_no]
    ).fetchone()
    return TillContext(
        store=stores.get(store_id), till_no=till_no,
        till_label=label_row[0] if label_row and label_row[0] else "", stores=stores,
    )


def start_till(db: Database, cfg: TillConfig) -> VerifyReport:
    """When the till opens: verify the fiscal journal, record a configuration
    change if any, then the ``start`` event; a card operation left pending by a
    till stopped during a terminal call becomes « à vérifier »."""
    report = startup(db, cfg)
    card_payments.recover_interrupted(db, cfg)
    return report


def login(db: Database, cfg: TillConfig, code: str, pin: str) -> Staff:
    """Check a staff code and PIN; the login, a wrong PIN or a lockout is journaled.
    A PIN reset by a manager is refused with ``code="pin_reset"``: the login screen
    then asks for a new one (:func:`pos_returns.usecases.staff.set_new_pin`)."""
    if needs_new_pin(db, code):
        raise PermissionDenied(
            _("Your PIN was reset by a manager: choose a new one (4 to 8 digits) and type "
              "it twice."),
            code="pin_reset",
        )
    return auth.authenticate(db, code, pin, pepper=auth.pepper_of(cfg),
                             journal=Journal.for_config(db, cfg))


def _scan_text(code: str) -> str:
    text = clean_text(code, field=_("The code"), max_length=10_000, upper=True)
    if not text or len(text) > MAX_CODE_LENGTH:
        raise InvalidInput(_("Scan the item or type its reference."), code="sku")
    return text


def is_sale_code(text: str) -> bool:
    """True when ``text`` is a receipt or an order number (not an article)."""
    text = clean_text(text, max_length=10_000, upper=True) if isinstance(text, str) else ""
    if not text or len(text) > MAX_CODE_LENGTH:
        return False
    try:
        kind, _code = classify(text)
    except InvalidInput:
        return False
    return kind in (CodeKind.RECEIPT, CodeKind.ORDER)


def product_by_code(db: Database, code: str) -> Product:
    """An item scanned for an exchange or a no-receipt return (EAN or SKU) -> its
    Product; a receipt or an order number scanned there is explained instead of
    being an unknown article."""
    text = _scan_text(code)
    if is_sale_code(text):
        raise InvalidInput(
            _("This is a receipt, not an item. Finish this return first, then scan "
              "that receipt on the search screen."),
            code="receipt",
        )
    return reference.find_product(db, text)


# -- finding a sale (R08) ---------------------------------------------------------------


def get_sale(db: Database, sale_id: int) -> Sale:
    return lookup.get_sale(db, sale_id)


def find_sale_by_code(db: Database, text: str) -> Sale:
    """A receipt barcode or number, or an AlamaraStore.com order number."""
    return lookup.find_by_code(db, text)


def find_sales_by_card(db: Database, last4: str, date_from: date | None,
                       date_to: date | None) -> list[Sale]:
    return lookup.search_by_card(db, last4, date_from, date_to)


def find_sales_by_customer(db: Database, query: str) -> list[Sale]:
    return lookup.search_by_customer(db, query)


def find_sales_by_article(db: Database, code: str, date_from: date | None,
                          date_to: date | None) -> list[Sale]:
    return lookup.search_by_sku(db, code, date_from, date_to)


def find_customers(db: Database, query: str) -> list[Customer]:
    return lookup.search_customers(db, query)


def gift_card_message(db: Database, number: str) -> str:
    return lookup.gift_card_message(db, number)


# -- a manager's decision (R01) ----------------------------------------------------------


def manager_decision(
    db: Database, cfg: TillConfig, code: str, pin: str, items: list[tuple[int | None, str]],
    decision: str, reason: str, request: ReturnRequest,
) -> list[Approval]:
    """A manager's PIN-checked decision on ``items`` ((line_no, rule) pairs) -> Approvals.

    :func:`pos_returns.usecases.auth.grant_approvals` checks the PIN once for every item,
    the role and the written reason, and binds each approval to this draft with a
    single-use token (a wrong PIN is journaled); the UI only gathers the inputs.
    """
    return auth.grant_approvals(
        db, cfg, code, pin, items, decision=decision, reason=reason, request=request,
        journal=Journal.for_config(db, cfg),
    )


# -- documents -----------------------------------------------------------------------------


def prepare_ticket_print(db: Database, cfg: TillConfig, ticket: Any, duplicate: bool = False,
                         staff_id: int | None = None) -> TicketPrintJob:
    """The database part of printing (on the database worker): a reprint is first
    recorded as a DUPLICATA in the journal, then the documents are read."""
    if duplicate:
        tickets.reprint(db, cfg, ticket.ticket_id, staff_id)
    codes = {number: code for number, code, _amount in ticket.gift_cards}
    return ticket_documents(db, ticket.ticket_id, duplicate=duplicate,
                            security_codes=codes or None,
                            settings=DocumentSettings.from_config(cfg))


def deliver_ticket_print(cfg: TillConfig, job: TicketPrintJob, requested: bool, *,
                         email: str = "", keep_email: bool = False,
                         open_drawer: bool = False) -> delivery.Delivery:
    """The I/O part of printing (on the I/O pool): save, print, e-mail, cash drawer
    (:func:`pos_returns.usecases.delivery.deliver`); then run
    :func:`pos_returns.usecases.delivery.record_delivery` on the database worker."""
    choice = delivery.TicketChoice(paper=requested, email=email, keep_email=keep_email)
    return delivery.deliver(cfg, job, choice, open_drawer=open_drawer)
