"""The returns policy (rules R01–R19 of ``policy/RULES.md``) as a pure function.

:func:`decide` takes a :class:`~pos_returns.engine.plan.ReturnRequest` and everything it
needs already loaded (the sale or None, the store, the staff member, the products,
the policy configuration) and returns a :class:`~pos_returns.engine.plan.ReturnPlan`:
per line a :class:`Verdict` with its :class:`Reason` list (rule id + French
explanation), the refund basis and amount, and where the money goes
(:mod:`pos_returns.engine.refunds`). No database, no clock unless ``today`` is omitted.

:func:`plan_return` is the thin loader the till and the CLI call.

Line numbers: the request's returned lines are 1…n in request order, then the new
items of an exchange n+1…n+m. An :class:`Approval` names one of these line numbers,
or None for the whole ticket. An approval's ``rule`` is the rule it overrides
(``R13``, ``R07``, ``R03``, ``CASH``…) or ``R01`` for "every reason on that line" (or,
with ``line_no=None``, on the whole ticket). Every choice the policy leaves open is
written down in ``docs/policy.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from pos_returns.config import PolicyConfig
from pos_returns.engine import jewelry
from pos_returns.engine.domain import (
    Channel,
    Condition,
    Department,
    Product,
    Sale,
    SaleLine,
    Staff,
    Store,
)
from pos_returns.engine.plan import (
    Approval,
    LineRequest,
    PlannedLine,
    PlannedRefund,
    Proof,
    Reason,
    ReturnPlan,
    ReturnRequest,
    TicketKind,
    Verdict,
)
from pos_returns.engine.reasons import check_reason, condition_label
from pos_returns.engine.refunds import CASH_CEILING_RULE, route_refund
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied, PolicyRefused
from pos_returns.i18n import _, format_date, format_money, format_percent, ngettext

__all__ = ["MIN_APPROVAL_REASON", "decide"]

MIN_APPROVAL_REASON = 5  # characters of written reason a manager must give (R01)
_RULE_RE = re.compile(r"^R(0[1-9]|1[0-9])$")
_BLOCKING = ("manager", "refused")
#: Rules no manager's approval covers (issue 12): the line stays refused.
NEVER_OVERRIDDEN = frozenset({jewelry.SERIAL_MISMATCH_RULE})
APPROVED, REFUSED = "approved", "refused"


@dataclass
class _Draft:
    """A line being decided (mutable while the rules run)."""

    line_no: int
    sku: str
    name: str
    department: str
    quantity: int
    unit_amount: int
    amount: int  # positive here; negated for a returned line in the plan
    vat_rate_bp: int
    sale_line_id: int | None = None
    condition: str = ""
    reason: str = ""
    serial_number: str = ""
    restocking_fee: int = 0
    reasons: list[Reason] = field(default_factory=list)


def _refuse(rule: str, message: str) -> Reason:
    return Reason(rule, message, "refused")


def _manager(rule: str, message: str) -> Reason:
    return Reason(rule, message, "manager")


def _verdict(reasons: list[Reason] | tuple[Reason, ...]) -> Verdict:
    levels = {r.level for r in reasons}
    if "refused" in levels:
        return Verdict.REFUSED
    if "manager" in levels:
        return Verdict.NEEDS_MANAGER
    return Verdict.ACCEPTED


# --------------------------------------------------------------------------- checks


def _check_context(request: ReturnRequest, sale: Sale | None, store: Store, staff: Staff) -> None:
    if request.store_id != store.id:
        raise InvalidInput(_("This return is not for this store."), code="store")
    if request.staff_id != staff.id:
        raise InvalidInput(_("The member of staff does not match the return."), code="staff")
    if staff.store_id != store.id:
        raise PermissionDenied(
            _("{name} does not belong to this store and cannot make returns here.").format(
                name=staff.name
            ),
            code="store",
        )
    if sale is None and request.sale_id is not None:
        raise InvalidInput(_("The sale of this return was not loaded."), code="sale")
    if sale is not None and request.sale_id != sale.id:
        raise InvalidInput(_("The sale does not match the return."), code="sale")
    if not request.lines:
        raise InvalidInput(_("Choose at least one article to return."), code="lines")


def _check_quantity(quantity: int, config: PolicyConfig) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidInput(_("The quantity must be a whole number above zero."), code="quantity")
    if quantity > config.max_line_quantity:
        raise InvalidInput(
            _("A quantity of {quantity} is not plausible (at most {max} per line).").format(
                quantity=quantity, max=config.max_line_quantity
            ),
            code="quantity",
        )


def _condition(value: str) -> Condition:
    try:
        return Condition(value)
    except ValueError:
        raise InvalidInput(
            _("Unknown condition “{condition}”.").format(condition=value), code="condition"
        ) from None


def _validate_approvals(
    approvals: tuple[Approval, ...],
    approvers: Mapping[int, Staff],
    store: Store,
    n_lines: int,
) -> None:
    """Every approval comes from a manager of this store, with a written reason (R01)."""
    for a in approvals:
        if a.decision not in (APPROVED, REFUSED):
            raise InvalidInput(
                _("A manager's decision is “approved” or “refused”."), code="approval"
            )
        if not (_RULE_RE.match(a.rule) or a.rule == CASH_CEILING_RULE):
            raise InvalidInput(
                _("Unknown rule “{rule}” in a manager's decision.").format(rule=a.rule),
                code="approval",
            )
        if len((a.reason or "").strip()) < MIN_APPROVAL_REASON:
            raise InvalidInput(
                _("A manager's decision needs a written reason (R01)."), code="approval"
            )
        if a.line_no is not None and not 1 <= a.line_no <= n_lines:
            raise InvalidInput(
                _("A manager's decision names line {line}, which is not on this return.").format(
                    line=a.line_no
                ),
                code="approval",
            )
        manager = approvers.get(a.manager_id)
        if manager is None:
            raise PermissionDenied(
                _("Only a manager can approve or refuse a return."), code="approval"
            )
        if not manager.is_manager:
            raise PermissionDenied(
                _("{name} is not a manager and cannot approve or refuse a return.").format(
                    name=manager.name
                ),
                code="approval",
            )
        if manager.store_id != store.id:
            raise PermissionDenied(
                _("{name} is not a manager of this store.").format(name=manager.name),
                code="approval",
            )


def _product_for(line: SaleLine, products: Mapping[str, Product]) -> Product:
    """The catalogue entry of a sold line; a line whose article left the catalogue is
    judged by its department (docs/policy.md)."""
    product = products.get(line.sku)
    if product is not None:
        return product
    dept = line.department
    return Product(
        sku=line.sku, ean="", name=line.name, department=dept, vat_rate_bp=line.vat_rate_bp,
        current_price=line.unit_price,
        return_tag_required=dept in (Department.OCCASION, Department.DESIGNER),
        fine_jewelry=dept == Department.JEWELRY, gift_card=dept == Department.GIFT_CARDS,
    )


# --------------------------------------------------------------------------- rules


def _common_rules(
    d: _Draft, product: Product, condition: Condition, config: PolicyConfig
) -> None:
    """R09, R12, R13 and R18: the same with or without a record of sale."""
    if product.gift_card or product.department == Department.GIFT_CARDS:
        d.reasons.append(_refuse("R09", _("Gift cards cannot be returned.")))
    if condition in (Condition.WORN, Condition.DAMAGED):
        d.reasons.append(_manager("R12", _(
            "Condition recorded: {condition}. Worn or damaged items are accepted case by "
            "case: a manager decides."
        ).format(condition=condition_label(condition))))
    if product.return_tag_required and condition == Condition.TAG_REMOVED:
        d.reasons.append(_refuse("R13", _(
            "The return tag of this special-occasion or designer item was removed: it cannot "
            "be returned (only a manager can override)."
        )))
    bp = config.restocking_fee_bp.get(str(product.department), 0)
    if bp > 0 and d.amount > 0:
        d.restocking_fee = min(d.amount, (d.amount * bp + 5000) // 10000)
        d.reasons.append(Reason("R18", _(
            "Restocking fee of {rate} for this department: {fee} kept on the refund."
        ).format(rate=format_percent(bp), fee=format_money(d.restocking_fee)), "warning"))


def _line_rules(
    d: _Draft,
    product: Product,
    condition: Condition,
    *,
    request: ReturnRequest,
    line_request: LineRequest,
    sale: Sale | None,
    sale_line: SaleLine | None,
    store: Store,
    staff: Staff,
    config: PolicyConfig,
    nearest: Sequence[Store],
) -> None:
    """The rules of a returned line once its amount is known, with or without a record
    of sale: R09, R12, R13, R18, then for fine jewelry R14 through
    :func:`pos_returns.engine.jewelry.check_line` (store, staff, mode, proof, serial,
    inspection, value); its reasons carry their level (refused / manager / info)."""
    _common_rules(d, product, condition, config)
    if not (product.fine_jewelry or product.department == Department.JEWELRY):
        return
    check = jewelry.check_line(
        sale=sale, line=sale_line, store=store, staff=staff, jewelry_mode=request.jewelry_mode,
        proof=Proof(packing_slip=request.packing_slip,
                    card_last4=request.presented_card_last4,
                    card_fingerprint=request.presented_card_fingerprint),
        serial_number=line_request.serial_number, inspection=line_request.inspection,
        amount=d.amount, threshold=config.jewelry_manager_threshold, nearest=nearest,
    )
    d.reasons.extend(check.reasons)
    if check.verdict != Verdict.REFUSED and not request.signature_png:
        d.reasons.append(Reason("R14", _(
            "The customer signs on screen before the ticket is recorded."
        ), "warning"))


def _line_input(lr: LineRequest, config: PolicyConfig) -> Condition:
    """The checks of a returned line's input, with or without a record of sale."""
    _check_quantity(lr.quantity, config)
    condition = _condition(lr.condition)
    check_reason(lr.reason)
    return condition


def _receipt_lines(
    request: ReturnRequest,
    sale: Sale,
    store: Store,
    staff: Staff,
    products: Mapping[str, Product],
    config: PolicyConfig,
    nearest: Sequence[Store] = (),
) -> list[_Draft]:
    drafts: list[_Draft] = []
    taken_qty: dict[int, int] = {}
    taken_amount: dict[int, int] = {}
    for n, lr in enumerate(request.lines, 1):
        if lr.sale_line_id is None:
            raise InvalidInput(
                _("Choose the line of the sale that comes back."), code="sale_line"
            )
        try:
            sl = sale.line(lr.sale_line_id)
        except KeyError:
            raise NotFound(_("This line is not part of the sale."), code="sale_line") from None
        condition = _line_input(lr, config)
        already = taken_qty.get(sl.id, 0)
        if already + lr.quantity > sl.refundable_qty:
            left = max(0, sl.refundable_qty - already)
            raise InvalidInput(
                ngettext(
                    "Only {count} “{name}” can still be returned ({returned} of {sold} "
                    "already returned).",
                    "Only {count} “{name}” can still be returned ({returned} of {sold} "
                    "already returned).",
                    left,
                ).format(count=left, name=sl.name, returned=sl.returned_qty, sold=sl.quantity),
                code="quantity",
            )
        taken_qty[sl.id] = already + lr.quantity
        product = _product_for(sl, products)
        # R02: the price paid, never more than what is still unrefunded on the line.
        remaining = sl.line_total - sl.refunded_amount - taken_amount.get(sl.id, 0)
        amount = max(0, min(lr.quantity * sl.unit_price, remaining))
        taken_amount[sl.id] = taken_amount.get(sl.id, 0) + amount
        serial = lr.serial_number.strip()
        d = _Draft(
            line_no=n, sku=sl.sku, name=sl.name, department=str(sl.department),
            quantity=lr.quantity, unit_amount=amount // lr.quantity, amount=amount,
            vat_rate_bp=sl.vat_rate_bp, sale_line_id=sl.id, condition=str(condition),
            reason=lr.reason, serial_number=serial or sl.serial_number,
        )
        if amount == lr.quantity * sl.unit_price:
            d.reasons.append(Reason("R02", _(
                "Refund at the price paid: {quantity} × {unit} = {amount}."
            ).format(quantity=lr.quantity, unit=format_money(sl.unit_price),
                     amount=format_money(amount))))
        else:
            d.reasons.append(Reason("R02", _(
                "Refund limited to what is still unrefunded on this line: {amount}."
            ).format(amount=format_money(amount)), "warning"))
        _line_rules(d, product, condition, request=request, line_request=lr, sale=sale,
                    sale_line=sl, store=store, staff=staff, config=config, nearest=nearest)
        drafts.append(d)
    return drafts


def _no_receipt_lines(
    request: ReturnRequest,
    store: Store,
    staff: Staff,
    products: Mapping[str, Product],
    config: PolicyConfig,
    nearest: Sequence[Store] = (),
) -> list[_Draft]:
    if not request.other_ways_searched:
        raise PolicyRefused(
            _("Before a return without a record of sale, look for the sale another way: order "
              "number, payment card, customer account, or date, store and amount (R08)."),
            code="R08",
        )
    if not request.id_checked:
        raise PolicyRefused(
            _("A return without a record of sale needs the customer's identification: "
              "record the ID document first (R07)."),
            code="R07",
        )
    drafts: list[_Draft] = []
    for n, lr in enumerate(request.lines, 1):
        if lr.sale_line_id is not None:
            raise InvalidInput(_("This line belongs to a sale that was not loaded."),
                               code="sale_line")
        condition = _line_input(lr, config)
        product = products.get(lr.sku)
        if product is None:
            raise NotFound(_("Unknown article “{sku}”.").format(sku=lr.sku), code="sku")
        amount = lr.quantity * product.current_price
        d = _Draft(
            line_no=n, sku=product.sku, name=product.name, department=str(product.department),
            quantity=lr.quantity, unit_amount=product.current_price, amount=amount,
            vat_rate_bp=product.vat_rate_bp, condition=str(condition), reason=lr.reason,
            serial_number=lr.serial_number.strip(),
        )
        d.reasons.append(_manager("R07", _(
            "No record of sale: only if a manager agrees, at the current price ({price} each), "
            "on a new Alamara Gift Card."
        ).format(price=format_money(product.current_price))))
        _line_rules(d, product, condition, request=request, line_request=lr, sale=None,
                    sale_line=None, store=store, staff=staff, config=config, nearest=nearest)
        drafts.append(d)
    return drafts


def _r19(request: ReturnRequest, drafts: list[_Draft], config: PolicyConfig) -> Reason | None:
    """Repeat no-receipt returns of one identity: warn, ask a manager, or refuse."""
    count = request.no_receipt_history_count
    total = request.no_receipt_history_amount + sum(d.amount for d in drafts)
    history = ngettext(
        "{count} earlier return without a record of sale ({amount}) for this identity.",
        "{count} earlier returns without a record of sale ({amount}) for this identity.",
        count,
    ).format(count=count, amount=format_money(request.no_receipt_history_amount))
    if count >= config.no_receipt_refuse_count or total >= config.no_receipt_refuse_amount:
        reason = _refuse("R19", history + " " + _(
            "Above the limits: refused (only a manager can override)."
        ))
    elif count >= config.no_receipt_manager_count:
        reason = _manager("R19", history + " " + _("A manager reviews the history."))
    elif count >= config.no_receipt_warn_count:
        return Reason("R19", history, "warning")
    else:
        return None
    for d in drafts:
        d.reasons.append(reason)
    return None


def _new_items(
    request: ReturnRequest, products: Mapping[str, Product], config: PolicyConfig, first: int
) -> list[_Draft]:
    drafts = []
    for n, item in enumerate(request.new_items, first):
        _check_quantity(item.quantity, config)
        product = products.get(item.sku)
        if product is None:
            raise NotFound(_("Unknown article “{sku}”.").format(sku=item.sku), code="sku")
        amount = item.quantity * product.current_price
        d = _Draft(
            line_no=n, sku=product.sku, name=product.name, department=str(product.department),
            quantity=item.quantity, unit_amount=product.current_price, amount=amount,
            vat_rate_bp=product.vat_rate_bp,
        )
        d.reasons.append(Reason("R16", _(
            "Exchange: new item at its current price ({price} each)."
        ).format(price=format_money(product.current_price))))
        drafts.append(d)
    return drafts


def _sale_notices(sale: Sale, request: ReturnRequest, today: date | None) -> list[Reason]:
    notices: list[Reason] = []
    if sale.shipping > 0:
        notices.append(Reason("R10", _("Shipping charges ({amount}) are never refunded.").format(
            amount=format_money(sale.shipping)
        )))
    if sale.channel == Channel.ONLINE:
        notices.append(Reason("R15", _(
            "AlamaraStore.com order {order}, returned in store."
        ).format(order=sale.order_number or "")))
    if sale.international or sale.duties > 0:
        notices.append(Reason("R15", _(
            "International order: the merchandise is refunded, not the duties, taxes and "
            "tariffs ({amount})."
        ).format(amount=format_money(sale.duties))))
    if sale.gift_receipt or request.gift:
        notices.append(Reason("R06", _(
            "Gift return: the refund is made only on a new Alamara Gift Card."
        )))
    sold = datetime.fromisoformat(sale.sold_at.replace("Z", "+00:00")).date()
    day = today or datetime.now(UTC).date()
    if (day - sold).days > 365:
        notices.append(Reason("R11", _(
            "Sold on {date}: there is no time limit on returns or exchanges."
        ).format(date=format_date(sale.sold_at))))
    return notices


# --------------------------------------------------------------------------- approvals


def _apply_line_approvals(
    d: _Draft, approvals: tuple[Approval, ...], approvers: Mapping[int, Staff], used: set[int]
) -> Verdict:
    mine = [(i, a) for i, a in enumerate(approvals) if a.line_no in (None, d.line_no)]
    for i, a in mine:
        if a.decision == REFUSED and (a.line_no is not None or a.rule == "R01"
                                      or any(r.rule == a.rule for r in d.reasons)):
            used.add(i)
            d.reasons.append(_refuse("R01", _("Refused by {manager}: {reason}").format(
                manager=approvers[a.manager_id].name, reason=a.reason.strip()
            )))
            return Verdict.REFUSED
    blocking = {r.rule for r in d.reasons if r.level in _BLOCKING}
    if not blocking:
        return Verdict.ACCEPTED
    covered: set[str] = set()
    for i, a in mine:
        if a.decision != APPROVED:
            continue
        rules = blocking if a.rule == "R01" else blocking & {a.rule}
        rules -= NEVER_OVERRIDDEN  # e.g. a serial number that is not the piece sold
        if not rules - covered:
            continue
        covered |= rules
        used.add(i)
        d.reasons.append(Reason("R01", _("Approved by {manager} ({rules}): {reason}").format(
            manager=approvers[a.manager_id].name, rules=", ".join(sorted(rules)),
            reason=a.reason.strip(),
        ), "override"))
    left = [r for r in d.reasons if r.level in _BLOCKING and r.rule not in covered]
    return _verdict(left)


def _apply_refund_approvals(
    refunds: tuple[PlannedRefund, ...],
    approvals: tuple[Approval, ...],
    approvers: Mapping[int, Staff],
    used: set[int],
) -> tuple[PlannedRefund, ...]:
    out = []
    for r in refunds:
        if r.needs_manager:
            blocking = {x.rule for x in r.reasons if x.level == "manager"}
            covered: set[str] = set()
            extra: list[Reason] = []
            for i, a in enumerate(approvals):
                if a.line_no is not None or a.decision != APPROVED:
                    continue
                rules = blocking if a.rule == "R01" else blocking & {a.rule}
                if not rules - covered:
                    continue
                covered |= rules
                used.add(i)
                extra.append(Reason("R01", _("Approved by {manager} ({rules}): {reason}").format(
                    manager=approvers[a.manager_id].name, rules=", ".join(sorted(rules)),
                    reason=a.reason.strip(),
                ), "override"))
            if extra:
                r = replace(r, reasons=(*r.reasons, *extra),
                            needs_manager=bool(blocking - covered))
        out.append(r)
    return tuple(out)


# --------------------------------------------------------------------------- decide


def decide(
    request: ReturnRequest,
    *,
    sale: Sale | None,
    store: Store,
    staff: Staff,
    products: Mapping[str, Product],
    config: PolicyConfig,
    today: date | None = None,
    approvers: Mapping[int, Staff] | None = None,
    stores: Sequence[Store] = (),
) -> ReturnPlan:
    """Decide a return: every line's verdict with its reasons, and where the money goes.

    ``approvers`` maps the staff ids named by ``request.approvals`` to their
    :class:`Staff` (default: only ``staff``). Raises :class:`InvalidInput` for an
    impossible request (absurd quantity, more than is left to return),
    :class:`PermissionDenied` when someone may not do what is asked, and
    :class:`PolicyRefused` when a required step is missing (R07 ID, R08 search).
    ``stores`` (the chain's stores) lets a fine-jewelry refusal in a store without
    the department name the nearest stores that have one (R14).
    """
    _check_context(request, sale, store, staff)
    approvers = dict(approvers) if approvers is not None else {staff.id: staff}
    n_total = len(request.lines) + len(request.new_items)
    _validate_approvals(request.approvals, approvers, store, n_total)

    nearest = ([s for s, _km in jewelry.nearest_jewelry_stores(stores, store)]
               if not store.has_fine_jewelry else [])
    notices: list[Reason] = []
    if sale is None:
        drafts = _no_receipt_lines(request, store, staff, products, config, nearest)
        warning = _r19(request, drafts, config)
        if warning is not None:
            notices.append(warning)
    else:
        drafts = _receipt_lines(request, sale, store, staff, products, config, nearest)
        notices.extend(_sale_notices(sale, request, today))
    new = _new_items(request, products, config, len(drafts) + 1)
    if new:
        notices.append(Reason("R16", _(
            "Exchange: the new items are charged and the returned ones credited on the same "
            "ticket; only the difference changes hands."
        )))

    used: set[int] = set()
    lines: list[PlannedLine] = []
    for d in drafts:
        verdict = _apply_line_approvals(d, request.approvals, approvers, used)
        overridable = not any(r.rule in NEVER_OVERRIDDEN for r in d.reasons)
        if not store.has_fine_jewelry and jewelry.is_jewelry_department(d.department):
            # R14: no override brings a jewel back to this counter (docs/policy.md)
            verdict, overridable = Verdict.REFUSED, False
        lines.append(PlannedLine(
            line_no=d.line_no, direction="return", sku=d.sku, name=d.name,
            department=d.department, quantity=d.quantity, unit_amount=d.unit_amount,
            amount=-d.amount, vat_rate_bp=d.vat_rate_bp, verdict=verdict,
            reasons=tuple(d.reasons), sale_line_id=d.sale_line_id, condition=d.condition,
            reason=d.reason, restocking_fee=d.restocking_fee, serial_number=d.serial_number,
            overridable=overridable,
        ))
    for d in new:
        lines.append(PlannedLine(
            line_no=d.line_no, direction="sale", sku=d.sku, name=d.name,
            department=d.department, quantity=d.quantity, unit_amount=d.unit_amount,
            amount=d.amount, vat_rate_bp=d.vat_rate_bp, verdict=Verdict.ACCEPTED,
            reasons=tuple(d.reasons),
        ))

    net = (sum(d.amount - d.restocking_fee for d in drafts) - sum(d.amount for d in new))
    refunds = route_refund(
        net,
        sale=sale,
        gift=bool(sale is not None and (sale.gift_receipt or request.gift)),
        prefer_gift_card=request.prefer_gift_card,
        presented_card_last4=request.presented_card_last4,
        payment_kind=request.exchange_payment_kind,
        cash_ceiling=config.cash_refund_ceiling,
    )
    refunds = _apply_refund_approvals(refunds, request.approvals, approvers, used)

    if new:
        kind = TicketKind.EXCHANGE
    elif sale is None:
        kind = TicketKind.NO_RECEIPT
    else:
        kind = TicketKind.RECEIPT
    plan = ReturnPlan(
        request=request, kind=kind, lines=tuple(lines), refunds=refunds,
        approvals=tuple(a for i, a in enumerate(request.approvals) if i in used),
        notices=tuple(notices),
    )
    assert sum(r.amount for r in plan.refunds) == plan.net, "refunds must add up to the net"
    return plan


# --------------------------------------------------------------------------- loader
