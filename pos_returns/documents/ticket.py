"""The return ticket / avoir as a PDF: an 80 mm thermal roll or an A4 page.

Both formats carry the same French mentions (docs/documents.md): store identity
with SIRET and VAT number, title, ticket number, date and time (Europe/Paris),
till, staff, the sale it returns, the lines (returned negative at the price
paid, new items positive) with their VAT rate, restocking fees, VAT per rate,
totals HT and TTC, the refunds per tender, manager approvals, the new gift
cards, the journal signature excerpt, the policy notice, and a Code 128 barcode
of the ticket. A reprint says DUPLICATA; an offline ticket says so.
"""

from __future__ import annotations

from enum import StrEnum

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from pos_returns.documents.fonts import fonts, printable
from pos_returns.documents.layout import (
    LIGHT,
    Banner,
    Rule,
    Styles,
    barcode_image,
    build_pages,
    build_roll,
    esc,
    make_styles,
)
from pos_returns.documents.model import (
    DocLine,
    DocRefund,
    TicketDocument,
    group_digits,
    software_version,
)
from pos_returns.engine.cards import card_application_label
from pos_returns.engine.codes import parse_receipt
from pos_returns.engine.jewelry import inspection_summary, png_size
from pos_returns.engine.reasons import condition_label, reason_label
from pos_returns.errors import AlamaraError
from pos_returns.i18n import (
    N_,
    _,
    format_date,
    format_datetime,
    format_money,
    format_percent,
    pgettext,
)


class Paper(StrEnum):
    ROLL_80 = "80mm"
    A4 = "a4"


ROLL_WIDTH = 80 * mm
ROLL_MARGIN_X = 4 * mm  # 72 mm printable, the usual width of an 80 mm thermal head
ROLL_MARGIN_Y = 4 * mm

POLICY_NOTICE = N_(
    "Refunds are made on the original form of payment or on an Alamara Gift Card. "
    "Gift cards cannot be returned nor exchanged for cash. Shipping charges are not "
    "refunded. There is no time limit for returns and exchanges. Please keep this ticket."
)


def line_details(line: DocLine) -> list[str]:
    """Condition, reason and serial number of a line, as printed under its name."""
    out = []
    if line.direction == "return" and line.condition:
        out.append(_("Condition: {condition}").format(condition=condition_label(line.condition)))
    if line.direction == "return" and line.reason:
        out.append(_("Reason: {reason}").format(reason=reason_label(line.reason)))
    if line.serial_number:
        out.append(_("Serial no. {serial}").format(serial=line.serial_number))
    return out


def receipt_display(digits: str) -> str:
    """``00101250315000187`` -> ``001-01-250315-0001-87`` (as typed at the till)."""
    try:
        return parse_receipt(digits).display
    except AlamaraError:
        return digits


def title_of(doc: TicketDocument) -> str:
    if doc.is_credit_note:
        return pgettext("document", "Credit note")
    if doc.kind == "exchange":
        return pgettext("document", "Exchange ticket")
    return pgettext("document", "Return ticket")


def origin_text(doc: TicketDocument) -> str:
    sale = doc.sale
    if sale is None:
        return _("Return without receipt")
    when = format_date(sale.sold_at, fmt="short")
    if sale.order_number:
        return _("Return on AlamaraStore.com order no. {order} of {date}").format(
            order=sale.order_number, date=when
        )
    return _("Return on receipt no. {receipt} of {date}").format(
        receipt=receipt_display(sale.receipt_number), date=when
    )


def refund_label(refund: DocRefund) -> str:
    pays = refund.amount < 0
    if refund.kind == "card":
        if not refund.card_last4:
            return pgettext("document", "Paid by card") if pays else pgettext(
                "document", "Card refund")
        if pays:
            return _("Paid by card **** {last4}").format(last4=refund.card_last4)
        return _("Card refund **** {last4}").format(last4=refund.card_last4)
    if refund.kind == "cash":
        if pays:
            return pgettext("document", "Cash received")
        return pgettext("document", "Cash to give back")
    if refund.kind == "gift_card":
        if refund.gift_card_number:
            return pgettext("document", "New Alamara Gift Card")
        if pays:
            return pgettext("document", "Paid by Alamara Gift Card")
        return pgettext("document", "Alamara Gift Card")
    if refund.kind == "notes":
        return pgettext("document", "Alamara Notes")
    return refund.kind


def net_label(doc: TicketDocument) -> str:
    net = doc.net_to_customer
    if net > 0:
        return pgettext("document", "Total refunded")
    if net < 0:  # a committed ticket is paid: the payment rows above say how
        return pgettext("document", "Total paid")
    return _("Even exchange: nothing to pay")


def notices(doc: TicketDocument) -> list[str]:
    out: list[str] = []
    sale = doc.sale
    if doc.gift:
        out.append(_("Gift return: the refund is made on an Alamara Gift Card only."))
    if sale is not None and sale.shipping > 0:
        out.append(
            _("Shipping charges of the order are not refunded: {amount}.").format(
                amount=format_money(sale.shipping)
            )
        )
    if sale is not None and sale.duties > 0:
        out.append(
            _(
                "Duties, taxes and tariffs of the international order are not refunded "
                "in store: {amount}."
            ).format(amount=format_money(sale.duties))
        )
    return out


# What a manager's approval was about, in plain words for the customer's paper (the rule
# ids R01–R19 are internal: they stay in the journal and the review, never on paper).
APPROVAL_SUBJECTS = {
    "R01": N_("Exception to the returns policy"),
    "R02": N_("Refund amount"),
    "R03": N_("Refund on another form of payment"),
    "R05": N_("Refund to the card"),
    "R06": N_("Gift return"),
    "R07": N_("Return without receipt"),
    "R12": N_("Worn or used item"),
    "R13": N_("Item without its return tag"),
    "R14": N_("Fine jewelry return"),
    "R18": N_("Restocking fee"),
    "R19": N_("Repeated returns without receipt"),
    "cash_ceiling": N_("Large cash refund"),
    "jewelry_threshold": N_("Fine jewelry above the threshold"),
}


def approval_subject(rule: str) -> str:
    return _(APPROVAL_SUBJECTS.get(rule, APPROVAL_SUBJECTS["R01"]))


def approval_text(rule: str, manager: str, decision: str) -> str:
    subject = approval_subject(rule)
    if decision == "refused":
        return _("{subject}: refused by {manager}").format(subject=subject, manager=manager)
    return _("{subject}: approved by {manager}").format(subject=subject, manager=manager)


def gift_card_notice() -> str:
    return _("A gift card cannot be returned nor exchanged for cash.")


def gift_card_balance_text() -> str:
    return _("Balance: at the till of any Alamara store, or on AlamaraStore.com.")


def valid_until_text(iso_day: str) -> str:
    return _("Valid until {date}").format(date=format_date(iso_day, fmt="short"))


def security_code_text(code: str, *, duplicate: bool) -> str:
    """Never the code itself on the ticket: it is on its own slip (or the card's back)."""
    if duplicate:
        return _("Security code: not reprinted")
    return _("Security code: on the separate slip")


def copy_label(copy: str) -> str:
    return pgettext("document", "Store copy") if copy == "store" else pgettext(
        "document", "Customer copy")


def software_text(doc: TicketDocument) -> str:
    return _("{software} · NF525 certificate: {certificate}").format(
        software=doc.software or software_version(), certificate=doc.certificate)


def duplicate_note(doc: TicketDocument) -> str:
    when = format_datetime(doc.reprinted_at, fmt="short") if doc.reprinted_at else ""
    if doc.copy and when:
        return _("Reprint no. {copy} of the original ticket, on {datetime} by {name}").format(
            copy=doc.copy, datetime=when, name=doc.reprinted_by or "?")
    if doc.copy:
        return _("Reprint no. {copy} of the original ticket").format(copy=doc.copy)
    return _("Reprint of the original ticket")


def identity_lines(doc: TicketDocument) -> list[str]:
    """A no-receipt avoir (R07): the ID checked and where the customer's rights apply."""
    if doc.kind != "no_receipt":
        return []
    out = []
    if doc.identity is not None:
        out.append(_("Identity document checked: {type} ending in {last4}").format(
            type=doc.identity.label, last4=doc.identity.last4))
    contact = doc.settings.privacy_contact
    if contact:
        out.append(_(
            "Your identity is kept only to prevent abuse of returns without receipt. "
            "To access, correct or erase it, write to {contact}."
        ).format(contact=contact))
    return out


# -- building blocks shared by both formats ----------------------------------------------


def _p(text: str, style: object) -> Paragraph:
    return Paragraph(esc(text), style)  # type: ignore[arg-type]


def _pair_table(rows: list[tuple[Flowable, Flowable]], widths: list[float],
                *, lines_above: tuple[int, ...] = ()) -> Table:
    table = Table([list(r) for r in rows], colWidths=widths, hAlign="LEFT")
    style: list[tuple[object, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0.4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0.4),
    ]
    for row in lines_above:
        style.append(("LINEABOVE", (0, row), (-1, row), 0.6, "black"))
    table.setStyle(TableStyle(style))
    return table


def _vat_table(doc: TicketDocument, st: Styles, width: float) -> Table:
    head = [
        pgettext("document", "Rate"),
        pgettext("document", "Excl. VAT"),
        pgettext("document", "VAT"),
        pgettext("document", "Incl. VAT"),
    ]
    rows: list[list[Flowable]] = [
        [_p(head[0], st.bold)] + [_p(h, st.right_bold) for h in head[1:]]
    ]
    for row in doc.vat_rows:
        rows.append(
            [_p(format_percent(row.rate_bp), st.body)]
            + [_p(format_money(v), st.right) for v in (row.ht, row.vat, row.ttc)]
        )
    first = width * 0.16
    rest = (width - first) / 3
    table = Table(rows, colWidths=[first, rest, rest, rest], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0.4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0.4),
        ("LINEBELOW", (0, 0), (-1, 0), 0.4, "black"),
    ]))
    return table


def _totals(doc: TicketDocument, st: Styles, width: float) -> Table:
    amount_w = min(width * 0.36, 28 * mm)
    rows: list[tuple[Flowable, Flowable]] = []
    if doc.restocking_fees:
        rows.append((_p(pgettext("document", "Restocking fees"), st.body),
                     _p(format_money(doc.restocking_fees), st.right)))
    rows += [
        (_p(pgettext("document", "Total excl. VAT"), st.body),
         _p(format_money(doc.total_ht), st.right)),
        (_p(pgettext("document", "Total VAT"), st.body),
         _p(format_money(doc.total_vat), st.right)),
        (_p(pgettext("document", "Total incl. VAT"), st.bold),
         _p(format_money(doc.total_ttc), st.right_bold)),
    ]
    return _pair_table(rows, [width - amount_w, amount_w])


def terminal_proof(refund: DocRefund) -> str:
    """Under a card amount: what the payment terminal confirmed (issue 14)."""
    if not refund.terminal_status:
        return ""
    parts = [card_application_label(refund.card_application)] if refund.card_application \
        else []
    if refund.transaction_id:
        parts.append(refund.transaction_id.replace("|", " "))
    if refund.auth_number:
        parts.append(_("authorisation {number}").format(number=refund.auth_number))
    if refund.terminal_status == "manual":
        parts.append(_("done on the terminal by hand"))
    elif refund.terminal_status == "checked":
        parts.append(_("checked by a manager"))
    return _("Payment terminal: {details}").format(details=" · ".join(parts))


def _settlement(doc: TicketDocument, st: Styles, width: float) -> list[Flowable]:
    amount_w = min(width * 0.36, 28 * mm)
    out: list[Flowable] = [
        _p(pgettext("document", "Refund") if doc.net_to_customer >= 0
           else pgettext("document", "Payment"), st.section)
    ]
    rows: list[tuple[Flowable, Flowable]] = []
    for refund in doc.refunds:
        rows.append((_p(refund_label(refund), st.body),
                     _p(format_money(abs(refund.amount)), st.right)))
        if refund.gift_card_number:
            rows.append((_p(_("No. {number}").format(number=group_digits(
                refund.gift_card_number)), st.small), Spacer(1, 1)))
        if refund.beyond_original:
            rows.append((_p(_("The whole merchandise amount is refunded to the card."),
                            st.small), Spacer(1, 1)))
        proof = terminal_proof(refund)
        if proof:
            rows.append((_p(proof, st.small), Spacer(1, 1)))
    net = doc.net_to_customer
    rows.append((_p(net_label(doc), st.bold), _p(format_money(abs(net)), st.right_bold)))
    out.append(_pair_table(rows, [width - amount_w, amount_w], lines_above=(len(rows) - 1,)))
    return out


def _approvals(doc: TicketDocument, st: Styles) -> list[Flowable]:
    if not doc.approvals:
        return []
    out: list[Flowable] = [_p(pgettext("document", "Manager approvals"), st.section)]
    for a in doc.approvals:
        text = approval_text(a.rule, a.manager_name, a.decision)
        if a.line_no is not None:
            text += " · " + _("line {line}").format(line=a.line_no)
        out.append(_p(text, st.body))
        if a.reason:
            out.append(_p(_("“{reason}”").format(reason=a.reason), st.small))
    return out


def _gift_card_blocks(doc: TicketDocument, st: Styles, width: float) -> list[Flowable]:
    out: list[Flowable] = []
    for card in doc.gift_cards:
        code_line = security_code_text(card.security_code, duplicate=doc.duplicate)
        until = doc.gift_card_valid_until()
        inner: list[Flowable] = [
            _p(pgettext("document", "Alamara Gift Card").upper(), st.title),
            _p(_("No. {number}").format(number=group_digits(card.number)), st.center),
            _p(_("Amount: {amount}").format(amount=format_money(card.amount)), st.center),
            _p(code_line, st.center),
            *([_p(valid_until_text(until), st.center)] if until else []),
            _p(gift_card_balance_text(), st.center_small),
            Spacer(1, 1 * mm),
            barcode_image(card.number, module_width_mm=0.3, bar_height_mm=9,
                          max_width=width - 4 * mm),
            _p(card.number, st.center_small),
            _p(gift_card_notice(), st.center_small),
        ]
        box = Table([[inner]], colWidths=[width])
        box.setStyle(TableStyle([
            ("BOX", (0, 0), (-1, -1), 1, "black"),
            ("ALIGN", (0, 0), (-1, -1), "CENTER"),
            ("LEFTPADDING", (0, 0), (-1, -1), 2 * mm),
            ("RIGHTPADDING", (0, 0), (-1, -1), 2 * mm),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5 * mm),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5 * mm),
        ]))
        out += [Spacer(1, 2 * mm), KeepTogether([box])]
    return out


def _journal(doc: TicketDocument, st: Styles) -> list[Flowable]:
    out = [_p(software_text(doc), st.small)]
    if doc.journal is not None:
        out.append(_p(_("Journal signature: {excerpt} · record no. {seq}").format(
            excerpt=doc.journal.excerpt, seq=doc.journal.seq), st.small))
    return out


def _jewelry(doc: TicketDocument, st: Styles, width: float) -> list[Flowable]:
    """Fine jewelry (R14): each piece's inspection and the customer's signature."""
    record = doc.jewelry
    if record is None:
        return []
    from io import BytesIO

    from reportlab.platypus import Image


    out: list[Flowable] = [_p(pgettext("document", "Fine jewelry: inspection"), st.section)]
    for item in record.inspections:
        head = _("Line {line}").format(line=item.get("line_no", "?"))
        if item.get("serial_number"):
            head += " · " + _("Serial no. {serial}").format(serial=item["serial_number"])
        out.append(_p(head, st.bold))
        out.append(_p(inspection_summary(item), st.small))
        if item.get("notes"):
            out.append(_p(_("“{reason}”").format(reason=item["notes"]), st.small))
    px_w, px_h = png_size(record.png)
    sig_w = min(width, 60 * mm)
    sig = Image(BytesIO(record.png), width=sig_w, height=sig_w * px_h / px_w)
    sig.hAlign = "LEFT"
    out += [
        _p(pgettext("document", "Customer signature"), st.bold),
        sig,
        _p(_("Signature SHA-256: {digest}…").format(digest=record.sha256[:16]), st.small),
    ]
    return [KeepTogether(out)]


def _store_header(doc: TicketDocument, st: Styles, *, center: bool) -> list[Flowable]:
    s = doc.store
    body = st.center if center else st.body
    small = st.center_small if center else st.small
    return [
        _p(s.name, st.bold if not center else st.center),
        _p(s.address, body),
        _p(s.town, body),
        _p(_("SIRET: {siret}").format(siret=s.siret), small),
        _p(_("VAT no.: {vat}").format(vat=s.vat_number), small),
    ]


def _ticket_facts(doc: TicketDocument, st: Styles, *, right: bool = False) -> list[Flowable]:
    staff = doc.staff_name + (f" ({doc.staff_code})" if doc.staff_code else "")
    return [
        _p(_("Ticket no. {number} · Till {till}").format(
            number=f"{doc.number:06d}", till=doc.till_no), st.right_bold if right else st.bold),
        _p(_("Date: {datetime}").format(
            datetime=format_datetime(doc.created_at, fmt="short")), st.right if right else st.body),
        _p(_("Served by: {name}").format(name=staff), st.right if right else st.body),
    ]


def _barcode_block(doc: TicketDocument, st: Styles, width: float) -> list[Flowable]:
    return [
        Spacer(1, 2 * mm),
        barcode_image(doc.code, module_width_mm=0.33, bar_height_mm=10, max_width=width),
        _p(doc.code, st.center_small),
    ]


def _offline(st: Styles) -> list[Flowable]:
    return [
        Banner(pgettext("document", "Offline"), size=st.size * 1.6, inverse=True, pad=1 * mm),
        _p(_("Recorded offline: checked with head office at the next sync."),
           st.center_small),
    ]


def _duplicate(doc: TicketDocument, st: Styles) -> list[Flowable]:
    note = duplicate_note(doc)
    return [
        Banner(pgettext("document", "DUPLICATE"), size=st.size * 3),
        _p(note, st.center_small),
        Spacer(1, 1.5 * mm),
    ]


# -- 80 mm roll --------------------------------------------------------------------------


def _roll_line(line: DocLine, st: Styles, width: float) -> list[tuple[Flowable, Flowable]]:
    detail = "{qty} × {unit} · {vat_label} {vat} · {sku}".format(
        qty=line.quantity, unit=format_money(line.unit_amount),
        vat_label=pgettext("document", "VAT"),
        vat=format_percent(line.vat_rate_bp), sku=line.sku,
    )
    rows: list[tuple[Flowable, Flowable]] = [
        (_p(line.name, st.body), _p(format_money(line.amount), st.right)),
        (_p(detail, st.small), Spacer(1, 1)),
    ]
    extra = line_details(line)
    if extra:
        rows.append((_p(" · ".join(extra), st.small), Spacer(1, 1)))
    if line.restocking_fee:
        rows.append((_p(pgettext("document", "Restocking fee"), st.small),
                     _p(format_money(line.restocking_fee), st.right)))
    return rows


def _copy_and_identity(doc: TicketDocument, st: Styles, copy: str) -> list[Flowable]:
    out: list[Flowable] = []
    if copy:
        out.append(_p(copy_label(copy).upper(), st.center_bold))
    return out


def _identity(doc: TicketDocument, st: Styles) -> list[Flowable]:
    lines = identity_lines(doc)
    return [Spacer(1, 1.5 * mm), *[_p(t, st.small) for t in lines]] if lines else []


def _roll_story(doc: TicketDocument, copy: str = "") -> list[Flowable]:
    # On the roll every line is at least 8 pt and black: small print is for A4 only.
    st = make_styles(8, roll=True)
    width = ROLL_WIDTH - 2 * ROLL_MARGIN_X
    amount_w = 21 * mm
    story: list[Flowable] = []
    if doc.duplicate:
        story += _duplicate(doc, st)
    story += [_p("ALAMARA", st.brand)]
    story += _store_header(doc, st, center=True)
    story += [Rule(), _p(title_of(doc).upper(), st.title)]
    story += _copy_and_identity(doc, st, copy)
    if doc.offline:
        story += _offline(st)
    story += _ticket_facts(doc, st)
    story += [Spacer(1, 1 * mm), _p(origin_text(doc), st.bold)]
    if doc.sale is not None and doc.sale.international:
        story.append(_p(pgettext("document", "International order"), st.small))
    for title, lines in ((pgettext("document", "Returned items"), doc.returned_lines),
                         (pgettext("document", "Items taken in exchange"), doc.new_items)):
        if not lines:
            continue
        story += [Rule(), _p(title, st.section)]
        rows: list[tuple[Flowable, Flowable]] = []
        for line in lines:
            rows += _roll_line(line, st, width)
        story.append(_pair_table(rows, [width - amount_w, amount_w]))
    story += [Rule(), _vat_table(doc, st, width), Spacer(1, 1.5 * mm),
              _totals(doc, st, width), Rule()]
    story += _settlement(doc, st, width)
    note_list = notices(doc)
    if note_list:
        story.append(Spacer(1, 1.5 * mm))
        story += [_p(n, st.small) for n in note_list]
    story += _identity(doc, st)
    story += _approvals(doc, st)
    story += _jewelry(doc, st, width)
    story += _gift_card_blocks(doc, st, width)
    story += [Rule()]
    story += _journal(doc, st)
    story += [Spacer(1, 1 * mm), _p(_(POLICY_NOTICE), st.small)]
    story += _barcode_block(doc, st, width)
    if doc.duplicate:
        story += [Spacer(1, 1.5 * mm), Banner(pgettext("document", "DUPLICATE"), size=st.size * 2)]
    return story


# -- A4 ------------------------------------------------------------------------------------

A4_MARGIN_X = 18 * mm
A4_MARGIN_Y = 16 * mm


def _a4_lines_table(lines: tuple[DocLine, ...], st: Styles, width: float) -> Table:
    head = [
        pgettext("document", "Item"),
        pgettext("document", "Ref."),
        pgettext("document", "Qty"),
        pgettext("document", "Unit price"),
        pgettext("document", "VAT"),
        pgettext("document", "Amount"),
    ]
    widths = [width * f for f in (0.34, 0.16, 0.07, 0.17, 0.10, 0.16)]
    rows: list[list[Flowable]] = [
        [_p(head[0], st.bold), _p(head[1], st.bold)]
        + [_p(h, st.right_bold) for h in head[2:]]
    ]
    for line in lines:
        name: list[Flowable] = [_p(line.name, st.body)]
        extra = line_details(line)
        if extra:
            name.append(_p(" · ".join(extra), st.small))
        rows.append([
            name, _p(line.sku, st.small), _p(str(line.quantity), st.right),
            _p(format_money(line.unit_amount), st.right),
            _p(format_percent(line.vat_rate_bp), st.right),
            _p(format_money(line.amount), st.right),
        ])
        if line.restocking_fee:
            rows.append([_p(pgettext("document", "Restocking fee"), st.small), "", "", "", "",
                         _p(format_money(line.restocking_fee), st.right)])
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("BACKGROUND", (0, 0), (-1, 0), LIGHT),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, LIGHT),
    ]))
    return table


def _a4_story(doc: TicketDocument, copy: str = "") -> list[Flowable]:
    st = make_styles(10)
    width = A4[0] - 2 * A4_MARGIN_X
    story: list[Flowable] = []
    if doc.duplicate:
        story += _duplicate(doc, st)
    left = [_p("ALAMARA", st.brand.clone("brand_left", alignment=0))]
    left += _store_header(doc, st, center=False)
    right: list[Flowable] = [_p(title_of(doc).upper(), st.title.clone("t_r", alignment=2))]
    if copy:
        right.append(_p(copy_label(copy).upper(), st.right_bold))
    right += _ticket_facts(doc, st, right=True)
    head = Table([[left, right]], colWidths=[width * 0.5, width * 0.5])
    head.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]))
    story += [head, Spacer(1, 3 * mm)]
    if doc.offline:
        story += _offline(st)
    story += [Rule(dashed=False), _p(origin_text(doc), st.bold)]
    if doc.sale is not None and doc.sale.international:
        story.append(_p(pgettext("document", "International order"), st.small))
    for title, lines in ((pgettext("document", "Returned items"), doc.returned_lines),
                         (pgettext("document", "Items taken in exchange"), doc.new_items)):
        if lines:
            story += [_p(title, st.section), _a4_lines_table(lines, st, width)]
    # VAT and totals side by side, settlement below
    left_w, gap = width * 0.52, width * 0.04
    right_w = width - left_w - gap
    summary = Table([[[_vat_table(doc, st, left_w)], "",
                      [_totals(doc, st, right_w), *_settlement(doc, st, right_w)]]],
                    colWidths=[left_w, gap, right_w])
    summary.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]))
    story += [Spacer(1, 3 * mm), KeepTogether([summary])]
    note_list = notices(doc)
    if note_list:
        story.append(Spacer(1, 2 * mm))
        story += [_p(n, st.body) for n in note_list]
    story += _identity(doc, st)
    story += _approvals(doc, st)
    story += _jewelry(doc, st, width)
    cards = _gift_card_blocks(doc, make_styles(9), 95 * mm)
    for block in cards:
        if isinstance(block, KeepTogether):
            for f in block._content:
                f.hAlign = "LEFT"
    story += cards
    story += [Spacer(1, 3 * mm), Rule(dashed=False)]
    story += _journal(doc, st)
    story += [_p(_(POLICY_NOTICE), st.small)]
    bar = _barcode_block(doc, st, 70 * mm)
    story += [KeepTogether(bar)]
    return story


def _a4_footer(doc: TicketDocument):  # type: ignore[no-untyped-def]
    def draw(canvas: Canvas, document: BaseDocTemplate) -> None:
        f = fonts()
        canvas.saveState()
        canvas.setFont(f.regular, 7.5)
        canvas.setFillColorRGB(0.35, 0.35, 0.35)
        text = _("{store} · Ticket {code} · page {page}").format(
            store=doc.store.name, code=doc.code, page=canvas.getPageNumber())
        canvas.drawCentredString(A4[0] / 2, 8 * mm, printable(text))
        if doc.duplicate:  # a watermark on every page
            canvas.setFont(f.bold, 90)
            canvas.setFillColorRGB(0.88, 0.88, 0.88)
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(45)
            canvas.drawCentredString(0, 0, printable(pgettext("document", "DUPLICATE")))
        canvas.restoreState()

    return draw


# -- entry point ---------------------------------------------------------------------------


def render_ticket_pdf(doc: TicketDocument, *, paper: Paper | str = Paper.ROLL_80,
                      copy: str = "") -> bytes:
    """The ticket as PDF bytes, on an 80 mm roll (height fitted) or on A4; ``copy``
    ("customer" / "store") marks « exemplaire client » / « exemplaire magasin » when
    two copies print (:attr:`TicketDocument.copies`)."""
    paper = Paper(paper)
    title = f"{title_of(doc)} {doc.code}"
    if paper is Paper.ROLL_80:
        return build_roll(lambda: _roll_story(doc, copy), width=ROLL_WIDTH,
                          margin_x=ROLL_MARGIN_X, margin_y=ROLL_MARGIN_Y, title=title)
    return build_pages(_a4_story(doc, copy), pagesize=A4, margin_x=A4_MARGIN_X,
                       margin_y=A4_MARGIN_Y, title=title, on_page=_a4_footer(doc))
