"""Where the money goes: a ticket's net amount spread onto tenders (R03–R07, R15–R17).

Pure functions, no database. :func:`route_refund` takes the ticket's *net*
(merchandise credited − restocking fees − new items of an exchange) and the sale
as the cache knows it (``Tender.refunded`` is what earlier returns already put
back on each tender, chain-wide) and returns the :class:`PlannedRefund` list.

The choices, written down in ``docs/policy.md``:

* **No record of sale (R07), a gift (R06), or the customer asks for it**: one new
  Alamara Gift Card for the whole net. Nothing is taken from the sale's tenders.
* **Split tender: proportional.** The net is shared among the sale's tenders in
  proportion to what each can still take back (paid − already refunded), to the
  cent (largest remainder, ties to the first tender). So a tender never gets more
  than it paid minus earlier refunds, and the last return of a sale empties every
  tender exactly. A card tender's share goes back to that card (R03), a cash
  tender's to cash (R03), a gift card's or Notes' share to a new Alamara Gift Card
  (R04, never cash: R17) — except R05.
* **R05**: when a card was used together with a gift card or Notes, the gift
  card / Notes share goes to the card as well (to the card that paid the most);
  the card may then be credited beyond what it was charged, and that refund says
  so (``beyond_original``). A cash tender of such a sale still gets its share in
  cash (R03: cash → cash).
* **The customer pays** (an exchange whose new items cost more, R16): one
  negative entry of the kind asked (card by default).
* Order of the list: the sale's tenders in their order, then anything else.
* **Checks that need a manager** (``needs_manager``): a card refund when the card
  presented is not the card used (R03), and cash above the ceiling (``CASH``).
* **One new gift card per ticket** (R04), however many tenders paid: a sale paid
  with Alamara Notes and a gift card keeps one refund leg per tender (so each
  tender's refunded amount stays derivable and never exceeds what it paid), but
  the ticket writer issues **one** card for the sum of the legs, and every leg
  names it. :func:`shown_refunds` gives the legs as the customer sees them (one
  gift-card line).
"""

from __future__ import annotations

from collections.abc import Sequence

from pos_returns.engine.domain import Sale, Tender, TenderKind
from pos_returns.engine.money import apportion
from pos_returns.engine.plan import PlannedRefund, Reason
from pos_returns.i18n import _, format_money

CASH_CEILING_RULE = "CASH"  # not a policy rule: the store's cash ceiling (docs/policy.md)

_STORED_VALUE = (TenderKind.GIFT_CARD, TenderKind.NOTES)


def tender_capacity(tender: Tender) -> int:
    """What this tender can still take back: paid − refunded by earlier returns."""
    return max(0, tender.amount - tender.refunded)


def is_r05_sale(sale: Sale) -> bool:
    """A card used together with an Alamara Gift Card or Alamara Notes (R05)."""
    kinds = {t.kind for t in sale.tenders}
    return TenderKind.CARD in kinds and bool(kinds & set(_STORED_VALUE))


def main_card(sale: Sale) -> Tender | None:
    """The card that paid the most (the first one on a tie)."""
    cards = [t for t in sale.tenders if t.kind == TenderKind.CARD]
    if not cards:
        return None
    return max(cards, key=lambda t: (t.amount, -sale.tenders.index(t)))


def _gift_card(amount: int, reason: Reason, tender_id: int | None = None) -> PlannedRefund:
    return PlannedRefund(
        kind=TenderKind.GIFT_CARD, amount=amount, sale_tender_id=tender_id,
        new_gift_card=True, reasons=(reason,),
    )


def route_refund(
    net: int,
    *,
    sale: Sale | None,
    gift: bool = False,
    prefer_gift_card: bool = False,
    presented_card_last4: str = "",
    payment_kind: TenderKind = TenderKind.CARD,
    cash_ceiling: int | None = None,
) -> tuple[PlannedRefund, ...]:
    """Spread ``net`` cents (positive: to the customer) onto refunds; they sum to ``net``."""
    if net == 0:
        return ()
    if net < 0:
        return (_payment(net, payment_kind, presented_card_last4),)
    if sale is None:
        return (_gift_card(net, Reason("R07", _(
            "No record of sale: the refund is made on a new Alamara Gift Card."
        ))),)
    if gift:
        return (_gift_card(net, Reason("R06", _(
            "Gift return: the refund is made only on a new Alamara Gift Card."
        ))),)
    if prefer_gift_card:
        return (_gift_card(net, Reason("R03", _(
            "At the customer's request, the refund is made on a new Alamara Gift Card."
        ))),)
    refunds = _split(net, sale, presented_card_last4.strip())
    return _cash_ceiling(refunds, cash_ceiling)


def _payment(net: int, kind: TenderKind, last4: str) -> PlannedRefund:
    return PlannedRefund(
        kind=kind, amount=net, card_last4=last4.strip() if kind == TenderKind.CARD else "",
        reasons=(Reason("R16", _(
            "Exchange: the new items cost more; the customer pays the difference of {amount}."
        ).format(amount=format_money(-net))),),
    )


def _split(net: int, sale: Sale, presented: str) -> list[PlannedRefund]:
    tenders: Sequence[Tender] = sale.tenders
    caps = [tender_capacity(t) for t in tenders]
    r05 = is_r05_sale(sale)
    if r05:
        # What earlier returns credited a card beyond its charge stood in for the gift
        # card / Notes: it uses up their capacity, in tender order, so that the split
        # stays proportional to what each way of paying can still take back.
        excess = sum(max(0, t.refunded - t.amount) for t in tenders if t.kind == TenderKind.CARD)
        for i, tender in enumerate(tenders):
            if tender.kind in _STORED_VALUE and excess > 0:
                take = min(caps[i], excess)
                caps[i] -= take
                excess -= take
    room = sum(caps)
    if room > 0 and net <= room:
        shares = apportion(net, caps)
        overflow = 0
    else:
        shares = list(caps)
        overflow = net - room
    card = main_card(sale)
    # destination key -> amount; the card of R05 collects the stored-value shares.
    to_tender: dict[int, int] = {}
    for tender, share in zip(tenders, shares, strict=True):
        if share <= 0:
            continue
        target = tender
        if tender.kind in _STORED_VALUE and r05 and card is not None:
            target = card
        to_tender[target.id] = to_tender.get(target.id, 0) + share
    if overflow > 0 and r05 and card is not None:
        to_tender[card.id] = to_tender.get(card.id, 0) + overflow
        overflow = 0
    out: list[PlannedRefund] = []
    for tender in tenders:
        amount = to_tender.get(tender.id, 0)
        if amount <= 0:
            continue
        if tender.kind == TenderKind.CARD:
            out.append(_card_refund(tender, amount, presented, r05))
        elif tender.kind == TenderKind.CASH:
            out.append(PlannedRefund(
                kind=TenderKind.CASH, amount=amount, sale_tender_id=tender.id,
                reasons=(Reason("R03", _("Paid in cash: refunded in cash.")),),
            ))
        else:
            out.append(_gift_card(amount, Reason("R04", _(
                "Paid with an Alamara Gift Card or Alamara Notes: refunded on a new "
                "Alamara Gift Card, which is never paid out in cash (R17)."
            )), tender.id))
    if overflow > 0:
        out.append(_gift_card(overflow, Reason("R02", _(
            "The sale's payments cannot take back more: the rest is refunded on a new "
            "Alamara Gift Card."
        ), "warning")))
    return out


def _card_refund(tender: Tender, amount: int, presented: str, r05: bool) -> PlannedRefund:
    masked = f"•••• {tender.card_last4}" if tender.card_last4 else _("the card used")
    reasons = [Reason("R03", _("Paid by card: refunded to the same card ({card}).").format(
        card=masked
    ))]
    beyond = amount > tender_capacity(tender)
    if r05:
        reasons.append(Reason("R05", _(
            "Card used together with a gift card or Notes: the entire merchandise amount "
            "goes back to the card."
        )))
    if beyond:
        reasons.append(Reason("R05", _(
            "This card is credited {amount} beyond what it was charged (R05)."
        ).format(amount=format_money(amount - tender_capacity(tender))), "warning"))
    needs_manager = False
    if not presented:
        needs_manager = True
        reasons.append(Reason("R03", _(
            "Ask for the card used for the purchase ({card}). Without it, a manager may "
            "approve the card refund, or the customer may take a gift card."
        ).format(card=masked), "manager"))
    elif tender.card_last4 and presented != tender.card_last4:
        needs_manager = True
        reasons.append(Reason("R03", _(
            "The card presented (•••• {presented}) is not the card used ({card}): a manager "
            "may approve a refund to the card presented, or the customer may take a gift card."
        ).format(presented=presented, card=masked), "manager"))
    return PlannedRefund(
        kind=TenderKind.CARD, amount=amount, sale_tender_id=tender.id,
        card_last4=presented or tender.card_last4, beyond_original=beyond,
        reasons=tuple(reasons), needs_manager=needs_manager,
    )


def _cash_ceiling(refunds: list[PlannedRefund], ceiling: int | None) -> tuple[PlannedRefund, ...]:
    cash = sum(r.amount for r in refunds if r.kind == TenderKind.CASH and r.amount > 0)
    if ceiling is None or cash <= ceiling:
        return tuple(refunds)
    reason = Reason(CASH_CEILING_RULE, _(
        "Cash refund of {amount} above the ceiling of {ceiling}: a manager approves, or the "
        "customer takes a gift card."
    ).format(amount=format_money(cash), ceiling=format_money(ceiling)), "manager")
    out = []
    for r in refunds:
        if r.kind == TenderKind.CASH and r.amount > 0:
            r = PlannedRefund(
                kind=r.kind, amount=r.amount, sale_tender_id=r.sale_tender_id,
                card_last4=r.card_last4, new_gift_card=r.new_gift_card,
                beyond_original=r.beyond_original, reasons=(*r.reasons, reason),
                needs_manager=True,
            )
        out.append(r)
    return tuple(out)


def gift_card_total(refunds: Sequence[PlannedRefund]) -> int:
    """The amount of the one new gift card a ticket issues (R04, R06, R07, R02)."""
    return sum(r.amount for r in refunds if r.new_gift_card and r.amount > 0)


def shown_refunds(refunds: Sequence[PlannedRefund]) -> tuple[PlannedRefund, ...]:
    """The refunds as the customer sees them: the new-gift-card legs (one per tender
    paid with a gift card or Notes) merged into one, at the first leg's place."""
    legs = [r for r in refunds if r.new_gift_card and r.amount > 0]
    if len(legs) < 2:
        return tuple(refunds)
    reasons = tuple(dict.fromkeys(x for r in legs for x in r.reasons))
    merged = PlannedRefund(
        kind=TenderKind.GIFT_CARD, amount=gift_card_total(legs), sale_tender_id=None,
        new_gift_card=True, reasons=reasons, needs_manager=any(r.needs_manager for r in legs),
    )
    out: list[PlannedRefund] = []
    for r in refunds:
        if r in legs:
            if r is legs[0]:
                out.append(merged)
            continue
        out.append(r)
    return tuple(out)
