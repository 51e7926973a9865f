"""How the screens write sales, tenders and amounts (all French by default)."""

from __future__ import annotations

import re

from pos_returns.engine.domain import Sale, Tender, TenderKind
from pos_returns.i18n import N_, _, format_date, format_datetime, format_money

TENDER_NAMES = {
    TenderKind.CASH: N_("Cash"),
    TenderKind.CARD: N_("Card"),
    TenderKind.GIFT_CARD: N_("Alamara Gift Card"),
    TenderKind.NOTES: N_("Alamara Notes"),
}


def receipt_display(digits: str) -> str:
    d = digits
    if len(d) != 17:
        return d
    return f"{d[0:3]}-{d[3:5]}-{d[5:11]}-{d[11:15]}-{d[15:17]}"


def sale_reference(sale: Sale) -> str:
    """ "Ticket 001-01-250315-0042-87" or "Commande W204815162"."""
    if sale.receipt_number:
        return _("Receipt {number}").format(number=receipt_display(sale.receipt_number))
    return _("Order {number}").format(number=sale.order_number)


def sale_short_ref(sale: Sale) -> str:
    return receipt_display(sale.receipt_number) if sale.receipt_number else sale.order_number


def tender_name(kind: TenderKind | str) -> str:
    return _(TENDER_NAMES[TenderKind(kind)])


def tender_text(tender: Tender) -> str:
    name = tender_name(tender.kind)
    if tender.kind == TenderKind.CARD and tender.card_last4:
        brand = f"{tender.card_brand} " if tender.card_brand else ""
        name = f"{name} {brand}•••• {tender.card_last4}"
    elif tender.kind == TenderKind.GIFT_CARD and tender.gift_card_number:
        name = f"{name} •••• {tender.gift_card_number[-4:]}"
    return name


def money(cents: int) -> str:
    return format_money(cents)


def sale_date(sale: Sale) -> str:
    return format_date(sale.sold_at, fmt="medium")


def sale_datetime(sale: Sale) -> str:
    return format_datetime(sale.sold_at, fmt="short")


_RULE_CODES = re.compile(r"\s*\((?:R\d{2}(?:\s*,\s*R\d{2})*)\)")


def staff_text(message: str) -> str:
    """A core message as the sales floor reads it: without the rule ids (« (R07) »),
    which are for the manager's review details and the logs (docs/glossaire.md)."""
    return _RULE_CODES.sub("", message)


