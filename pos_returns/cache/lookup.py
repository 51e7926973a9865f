"""Finding the sale: by receipt (scanned or typed), web order, card, customer, SKU.

Every lookup returns complete :class:`~pos_returns.engine.domain.Sale` objects: lines
with what was already returned (chain-wide, derived from the return lines),
tenders with what was already refunded onto them, and the customer. Searches
load their results in a few batched queries, newest sale first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlite_utils import Database

from pos_returns.cache.giftcards import balance, format_number
from pos_returns.engine.codes import CodeKind, classify, parse_order_number, parse_receipt
from pos_returns.engine.domain import (
    Channel,
    Customer,
    CustomerId,
    Department,
    Sale,
    SaleId,
    SaleLine,
    SaleLineId,
    StoreId,
    Tender,
    TenderId,
    TenderKind,
)
from pos_returns.engine.normalize import email_key, fold, phone_digits
from pos_returns.engine.text import clean_date, clean_id, clean_text, shown
from pos_returns.errors import InvalidInput, NotFound
from pos_returns.i18n import STORE_TZ, _, format_money

DEFAULT_LIMIT = 50
_MAX_SEARCH_DAYS = 366 * 10


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def load_sales(db: Database, sale_ids: Sequence[int]) -> list[Sale]:
    """Load complete sales, in the order of ``sale_ids`` (unknown ids are skipped)."""
    ids = list(dict.fromkeys(int(i) for i in sale_ids))
    if not ids:
        return []
    ph = _placeholders(len(ids))
    conn = db.conn
    sale_rows = conn.execute(
        "SELECT id, receipt_number, order_number, channel, store_id, till_no, sold_at, "
        "customer_id, international, gift_receipt, shipping, duties, total, packing_slip "
        f"FROM sales WHERE id IN ({ph})",
        ids,
    ).fetchall()
    line_rows = conn.execute(
        "SELECT l.id, l.sale_id, l.line_no, l.sku, COALESCE(p.name, l.sku), "
        "COALESCE(p.department, 'women'), l.quantity, l.unit_price, l.list_price, "
        "l.vat_rate_bp, l.serial_number, "
        "(SELECT COALESCE(SUM(r.quantity), 0) FROM return_lines r "
        "  WHERE r.sale_line_id = l.id AND r.direction = 'return'), "
        "(SELECT COALESCE(-SUM(r.amount), 0) FROM return_lines r "
        "  WHERE r.sale_line_id = l.id AND r.direction = 'return') "
        "FROM sale_lines l LEFT JOIN products p ON p.sku = l.sku "
        f"WHERE l.sale_id IN ({ph}) ORDER BY l.sale_id, l.line_no",
        ids,
    ).fetchall()
    tender_rows = conn.execute(
        "SELECT t.id, t.sale_id, t.kind, t.amount, t.card_last4, t.card_fingerprint, "
        "t.card_brand, t.gift_card_number, "
        "(SELECT COALESCE(SUM(f.amount), 0) FROM refunds f WHERE f.sale_tender_id = t.id) "
        f"FROM tenders t WHERE t.sale_id IN ({ph}) ORDER BY t.sale_id, t.id",
        ids,
    ).fetchall()
    customer_ids = sorted({r[7] for r in sale_rows if r[7] is not None})
    customers: dict[int, Customer] = {}
    if customer_ids:
        for c in conn.execute(
            "SELECT id, account_number, first_name, last_name, phone, email FROM customers "
            f"WHERE id IN ({_placeholders(len(customer_ids))})",
            customer_ids,
        ):
            customers[c[0]] = Customer(CustomerId(c[0]), c[1], c[2], c[3], c[4], c[5])
    lines: dict[int, list[SaleLine]] = {}
    for r in line_rows:
        lines.setdefault(r[1], []).append(
            SaleLine(
                id=SaleLineId(r[0]), sale_id=SaleId(r[1]), line_no=r[2], sku=r[3], name=r[4],
                department=Department(r[5]), quantity=r[6], unit_price=r[7], list_price=r[8],
                vat_rate_bp=r[9], serial_number=r[10], returned_qty=r[11], refunded_amount=r[12],
            )
        )
    tenders: dict[int, list[Tender]] = {}
    for r in tender_rows:
        tenders.setdefault(r[1], []).append(
            Tender(
                id=TenderId(r[0]), sale_id=SaleId(r[1]), kind=TenderKind(r[2]), amount=r[3],
                card_last4=r[4], card_fingerprint=r[5], card_brand=r[6], gift_card_number=r[7],
                refunded=r[8],
            )
        )
    by_id: dict[int, Sale] = {}
    for r in sale_rows:
        by_id[r[0]] = Sale(
            id=SaleId(r[0]), receipt_number=r[1] or "", order_number=r[2] or "",
            channel=Channel(r[3]), store_id=StoreId(r[4]), till_no=r[5], sold_at=r[6],
            customer_id=CustomerId(r[7]) if r[7] is not None else None,
            international=bool(r[8]), gift_receipt=bool(r[9]), shipping=r[10], duties=r[11],
            total=r[12], packing_slip=r[13],
            lines=tuple(lines.get(r[0], ())), tenders=tuple(tenders.get(r[0], ())),
            customer=customers.get(r[7]) if r[7] is not None else None,
        )
    return [by_id[i] for i in ids if i in by_id]


def get_sale(db: Database, sale_id: int) -> Sale:
    sales = load_sales(db, [clean_id(sale_id, field=_("Sale"))])
    if not sales:
        raise NotFound(_("This sale is not in the local cache."), code="sale")
    return sales[0]


def find_by_receipt(db: Database, text: str) -> Sale:
    """A scanned receipt barcode or a typed receipt number -> the sale."""
    receipt = parse_receipt(text)
    row = db.conn.execute(
        "SELECT id FROM sales WHERE receipt_number = ?", [receipt.digits]
    ).fetchone()
    if row is None:
        store = db.conn.execute("SELECT 1 FROM stores WHERE id = ?", [receipt.store_id]).fetchone()
        if store is None:
            raise NotFound(
                _("Receipt {number}: store {store} does not exist in the chain.").format(
                    number=receipt.display, store=f"{receipt.store_id:03d}"
                ),
                code="store",
            )
        raise NotFound(
            _(
                "No sale with receipt number {number}. Check the number, "
                "or find the sale another way (card, customer, date)."
            ).format(number=receipt.display),
            code="receipt",
        )
    return get_sale(db, row[0])


def find_by_order(db: Database, text: str) -> Sale:
    order = parse_order_number(text)
    row = db.conn.execute("SELECT id FROM sales WHERE order_number = ?", [order]).fetchone()
    if row is None:
        raise NotFound(
            _("No AlamaraStore.com order {number} in the cache.").format(number=order),
            code="order",
        )
    return get_sale(db, row[0])


def find_by_code(db: Database, text: str) -> Sale:
    """What the scanner or the salesperson sent: a receipt or an order number."""
    kind, code = classify(text)
    if kind == CodeKind.RECEIPT:
        return find_by_receipt(db, code)
    if kind == CodeKind.ORDER:
        return find_by_order(db, code)
    if kind == CodeKind.EAN:
        raise InvalidInput(
            _(
                "This is a product barcode, not a receipt. To find the sale from the item, "
                "search by article and date."
            ),
            code="ean",
        )
    raise InvalidInput(gift_card_message(db, code), code="R09")


def gift_card_message(db: Database, number: str) -> str:
    """A gift card scanned at the returns till: its balance, and why it cannot
    come back (R09, R17)."""

    number = clean_text(number, field=_("The gift card number"), max_length=10_000)
    number = number.replace(" ", "")
    if not (len(number) == 19 and number.isascii() and number.isdigit()):
        raise InvalidInput(
            _("“{number}” is not an Alamara gift card number (19 digits).").format(
                number=shown(number)),
            code="gift_card",
        )
    info = balance(db, number)
    if info is None:
        known = _("Gift card {number}: not known to this till.").format(
            number=format_number(number)
        )
    elif info.initial_amount:
        known = _("Gift card {number}: balance {balance} (of {initial}).").format(
            number=format_number(number), balance=format_money(info.balance),
            initial=format_money(info.initial_amount),
        )
    else:
        known = _("Gift card {number}: {spent} spent with it in the chain.").format(
            number=format_number(number), spent=format_money(info.spent)
        )
    return known + " " + _(
        "Gift cards cannot be returned nor paid out in cash (R09, R17)."
    )


def _utc_bounds(date_from: date | None, date_to: date | None) -> tuple[str, str]:
    """Local (Paris) calendar dates, inclusive -> UTC text bounds [start, end)."""
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(_("The start date is after the end date."), code="dates")
    if date_from and date_to and (date_to - date_from).days > _MAX_SEARCH_DAYS:
        raise InvalidInput(_("Search at most ten years at once."), code="dates")
    start = "0000"
    end = "9999"
    if date_from:
        start = (
            datetime.combine(date_from, time.min, STORE_TZ).astimezone(UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    if date_to:
        end = (
            datetime.combine(date_to + timedelta(days=1), time.min, STORE_TZ).astimezone(UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    return start, end


def _newest_first(db: Database, sale_ids: Iterable[int], limit: int) -> list[Sale]:
    ids = list(sale_ids)
    if not ids:
        return []
    rows = db.conn.execute(
        f"SELECT id FROM sales WHERE id IN ({_placeholders(len(ids))}) "
        "ORDER BY sold_at DESC, id DESC LIMIT ?",
        [*ids, limit],
    ).fetchall()
    return load_sales(db, [r[0] for r in rows])


def search_by_card(
    db: Database, last4: str, date_from: date | None = None, date_to: date | None = None,
    *, limit: int = DEFAULT_LIMIT,
) -> list[Sale]:
    """Sales paid with a card ending in ``last4`` between two local dates, newest first."""
    date_from = clean_date(date_from, field=_("From"))
    date_to = clean_date(date_to, field=_("To"))
    last4 = clean_text(last4, field=_("Card"), max_length=40)
    if len(last4) != 4 or not (last4.isascii() and last4.isdigit()):
        raise InvalidInput(_("Type the last 4 digits of the card."), code="last4")
    start, end = _utc_bounds(date_from, date_to)
    rows = db.conn.execute(
        "SELECT s.id FROM tenders t JOIN sales s ON s.id = t.sale_id "
        "WHERE t.kind = 'card' AND t.card_last4 = ? AND s.sold_at >= ? AND s.sold_at < ? "
        "ORDER BY s.sold_at DESC, s.id DESC LIMIT ?",
        [last4, start, end, limit],
    ).fetchall()
    return load_sales(db, [r[0] for r in rows])


def search_customers(db: Database, query: str, *, limit: int = 20) -> list[Customer]:
    """Customers by e-mail, phone or name ("dupont", "dupont marie", "Marie Dupont")."""
    q = clean_text(query, field=_("The search"), max_length=10_000)
    if len(q) < 2:
        raise InvalidInput(_("Type at least 2 characters of the name, phone or e-mail."),
                           code="query")
    if len(q) > 120:
        raise InvalidInput(_("This search is too long."), code="query")
    conn = db.conn
    if "@" in q:
        rows = conn.execute(
            "SELECT id, account_number, first_name, last_name, phone, email FROM customers "
            # "!= ''" lets SQLite use the partial index (it cannot prove it of a parameter)
            "WHERE email = ? AND email != '' LIMIT ?", [email_key(q), limit]).fetchall()
    elif sum(c.isdigit() for c in q) >= 6 and not any(c.isalpha() for c in q):
        rows = conn.execute(
            "SELECT id, account_number, first_name, last_name, phone, email FROM customers "
            "WHERE phone = ? AND phone != '' LIMIT ?", [phone_digits(q), limit]).fetchall()
    else:
        key = fold(q)
        words = key.split(" ")
        candidates = [key]
        if len(words) == 2:  # "Marie Dupont" as well as "Dupont Marie"
            candidates.append(f"{words[1]} {words[0]}")
        rows = []
        seen: set[int] = set()
        for cand in candidates:
            # Prefix search on the name key, served by its index (range on the key).
            for r in conn.execute(
                "SELECT id, account_number, first_name, last_name, phone, email FROM customers "
                "WHERE name_key >= ? AND name_key < ? ORDER BY name_key LIMIT ?",
                [cand, cand + "\uffff", limit],
            ):
                if r[0] not in seen:
                    seen.add(r[0])
                    rows.append(r)
    return [Customer(CustomerId(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows[:limit]]


def search_by_customer(
    db: Database, query: str, date_from: date | None = None, date_to: date | None = None,
    *, limit: int = DEFAULT_LIMIT,
) -> list[Sale]:
    """Sales of the customers matching ``query`` (name, phone or e-mail), newest first."""
    date_from = clean_date(date_from, field=_("From"))
    date_to = clean_date(date_to, field=_("To"))
    customers = search_customers(db, query)
    if not customers:
        return []
    start, end = _utc_bounds(date_from, date_to)
    ids = [c.id for c in customers]
    rows = db.conn.execute(
        "SELECT id FROM sales WHERE customer_id IN "
        f"({_placeholders(len(ids))}) AND sold_at >= ? AND sold_at < ? "
        "ORDER BY sold_at DESC, id DESC LIMIT ?",
        [*ids, start, end, limit],
    ).fetchall()
    return load_sales(db, [r[0] for r in rows])


def search_by_sku(
    db: Database, sku_or_ean: str, date_from: date | None = None, date_to: date | None = None,
    *, limit: int = DEFAULT_LIMIT,
) -> list[Sale]:
    """Sales with an article (SKU, or its EAN scanned from the item) between two dates."""
    date_from = clean_date(date_from, field=_("From"))
    date_to = clean_date(date_to, field=_("To"))
    text = clean_text(sku_or_ean, field=_("The article"), max_length=10_000, upper=True)
    if not text or len(text) > 32:
        raise InvalidInput(_("Scan the item or type its reference."), code="sku")
    conn = db.conn
    row = conn.execute("SELECT sku FROM products WHERE sku = ? OR ean = ?", [text, text]).fetchone()
    if row is None:
        raise NotFound(_("Unknown article “{sku}”.").format(sku=shown(text)), code="sku")
    start, end = _utc_bounds(date_from, date_to)
    # One range of the (sku, sold_at, sale_id) index, newest first; a sale with the
    # article on two lines appears twice, hence the margin before de-duplicating.
    rows = conn.execute(
        "SELECT sale_id FROM sale_lines "
        "WHERE sku = ? AND sold_at >= ? AND sold_at < ? "
        "ORDER BY sold_at DESC, sale_id DESC LIMIT ?",
        [row[0], start, end, limit * 2],
    ).fetchall()
    return load_sales(db, list(dict.fromkeys(r[0] for r in rows))[:limit])
