"""A return ticket as lines of text for a thermal roll: the same content as the PDF.

This is the devices layer's one door to the documents package: the document model
(:class:`TicketDocument`) and the wording helpers the PDF uses are imported here and
nowhere else under ``pos_returns/devices/``, so a move of the documents package is
fixed in this file alone. :func:`ticket_ops` turns a ticket into a list of printing
operations (:class:`Text`, :class:`Rule`, :class:`Barcode`, :class:`Logo`,
:class:`Feed`) laid out for a number of columns (48 on an 80 mm roll, 32 on 58 mm);
a driver (ESC/POS) turns the operations into its own commands.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from pos_returns.documents.fonts import BOLD_FILE, RESOURCES, SYSTEM_DIRS
from pos_returns.documents.model import DocLine, TicketDocument, group_digits
from pos_returns.documents.ticket import (
    POLICY_NOTICE,
    approval_text,
    copy_label,
    duplicate_note,
    gift_card_balance_text,
    gift_card_notice,
    identity_lines,
    line_details,
    net_label,
    notices,
    origin_text,
    refund_label,
    security_code_text,
    software_text,
    terminal_proof,
    title_of,
    valid_until_text,
)
from pos_returns.engine.jewelry import inspection_summary
from pos_returns.i18n import _, format_datetime, format_money, format_percent, pgettext

__all__ = [
    "Barcode",
    "Feed",
    "Logo",
    "Op",
    "Rule",
    "Text",
    "TicketDocument",
    "bold_font_path",
    "slip_ops",
    "ticket_ops",
    "wrap",
]


@dataclass(frozen=True, slots=True)
class Text:
    text: str  # one printed line, already fitted to the columns
    align: str = "left"  # "left" | "center" | "right"
    bold: bool = False
    big: bool = False  # double width and height: half the columns


@dataclass(frozen=True, slots=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True, slots=True)
class Barcode:
    content: str  # Code 128, printed by the printer's own command


@dataclass(frozen=True, slots=True)
class Logo:
    pass


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int = 1


Op = Text | Rule | Barcode | Logo | Feed


def bold_font_path() -> Path | None:
    """The documents' bold font file (DejaVu Sans Bold), for the printer's logo."""
    for folder in (RESOURCES, *SYSTEM_DIRS):
        path = Path(folder) / BOLD_FILE
        if path.is_file():
            return path
    return None


def plain(text: str) -> str:
    """One line of text: every kind of space a plain space (babel's no-break spaces)."""
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(plain(text), width=max(4, width), break_long_words=True,
                         break_on_hyphens=False) or [""]


def _lines(text: str, width: int, **style: object) -> list[Op]:
    big = bool(style.get("big"))
    return [Text(line, **style) for line in wrap(text, width // 2 if big else width)]  # type: ignore[arg-type]


def pair(left: str, right: str, width: int, *, bold: bool = False) -> list[Op]:
    """``left`` ... ``right`` on one line, the amount flush right; ``left`` wraps."""
    right = plain(right)
    room = width - len(right) - 1
    parts = wrap(left, room) if room >= 8 else wrap(left, width)
    out: list[Op] = [Text(p, bold=bold) for p in parts[:-1]]
    last = parts[-1]
    if len(last) + 1 + len(right) <= width:
        out.append(Text(last + " " * (width - len(last) - len(right)) + right, bold=bold))
    else:
        out += [Text(last, bold=bold), Text(right.rjust(width), bold=bold)]
    return out


def _vat_table(doc: TicketDocument, width: int) -> list[Op]:
    first = 7
    rest = (width - first) // 3
    head = [pgettext("document", "Rate"), pgettext("document", "Excl. VAT"),
            pgettext("document", "VAT"), pgettext("document", "Incl. VAT")]

    def row(cells: list[str]) -> str:
        return plain(cells[0])[:first].ljust(first) + "".join(
            plain(c)[:rest].rjust(rest) for c in cells[1:])

    out: list[Op] = [Text(row(head), bold=True)]
    for r in doc.vat_rows:
        out.append(Text(row([format_percent(r.rate_bp), format_money(r.ht),
                             format_money(r.vat), format_money(r.ttc)])))
    return out


def _line(line: DocLine, width: int) -> list[Op]:
    detail = "{qty} × {unit} · {vat_label} {vat} · {sku}".format(
        qty=line.quantity, unit=format_money(line.unit_amount),
        vat_label=pgettext("document", "VAT"), vat=format_percent(line.vat_rate_bp),
        sku=line.sku,
    )
    out = pair(line.name, format_money(line.amount), width)
    out += _lines(detail, width)
    extra = line_details(line)
    if extra:
        out += _lines(" · ".join(extra), width)
    if line.restocking_fee:
        out += pair(pgettext("document", "Restocking fee"), format_money(line.restocking_fee),
                    width)
    return out


def ticket_ops(doc: TicketDocument, *, columns: int, copy: str = "") -> list[Op]:
    """The ticket, top to bottom, for a roll of ``columns`` characters; ``copy``:
    "customer" / "store" when two copies print (:attr:`TicketDocument.copies`)."""
    w = columns
    out: list[Op] = []
    if doc.duplicate:
        out += _lines(pgettext("document", "DUPLICATE"), w, align="center", bold=True, big=True)
        out += _lines(duplicate_note(doc), w, align="center")
        out.append(Feed())
    out += _head(doc, w, copy)
    out += _items(doc, w)
    out += _totals(doc, w)
    out += _settlement(doc, w)
    out += _approvals(doc, w)
    out += _jewelry(doc, w)
    out += _gift_cards(doc, w)
    out.append(Rule())
    out += _lines(software_text(doc), w)
    if doc.journal is not None:
        out += _lines(_("Journal signature: {excerpt} · record no. {seq}").format(
            excerpt=doc.journal.excerpt, seq=doc.journal.seq), w)
    out += _lines(_(POLICY_NOTICE), w)
    out += [Feed(), Barcode(doc.code)]
    if doc.duplicate:
        out += [Feed(), *_lines(pgettext("document", "DUPLICATE"), w, align="center", bold=True,
                               big=True)]
    return out


def _head(doc: TicketDocument, w: int, copy: str) -> list[Op]:
    """Logo, store identity, title, copy, offline mark, number, date, staff, origin."""
    out: list[Op] = [Logo()]
    s = doc.store
    for text in (s.name, s.address, s.town, _("SIRET: {siret}").format(siret=s.siret),
                 _("VAT no.: {vat}").format(vat=s.vat_number)):
        out += _lines(text, w, align="center")
    out.append(Rule())
    out += _lines(title_of(doc).upper(), w, align="center", bold=True, big=True)
    if copy:
        out += _lines(copy_label(copy).upper(), w, align="center", bold=True)
    if doc.offline:
        out += _lines(pgettext("document", "Offline").upper(), w, align="center", bold=True)
        out += _lines(_("Recorded offline: checked with head office at the next sync."), w,
                      align="center")
    staff = doc.staff_name + (f" ({doc.staff_code})" if doc.staff_code else "")
    out += _lines(_("Ticket no. {number} · Till {till}").format(
        number=f"{doc.number:06d}", till=doc.till_no), w, bold=True)
    out += _lines(_("Date: {datetime}").format(
        datetime=format_datetime(doc.created_at, fmt="short")), w)
    out += _lines(_("Served by: {name}").format(name=staff), w)
    out.append(Feed())
    out += _lines(origin_text(doc), w, bold=True)
    if doc.sale is not None and doc.sale.international:
        out += _lines(pgettext("document", "International order"), w)
    return out


def _items(doc: TicketDocument, w: int) -> list[Op]:
    out: list[Op] = []
    for title, lines in ((pgettext("document", "Returned items"), doc.returned_lines),
                         (pgettext("document", "Items taken in exchange"), doc.new_items)):
        if not lines:
            continue
        out += [Rule(), *_lines(title, w, bold=True)]
        for line in lines:
            out += _line(line, w)
    return out


def _totals(doc: TicketDocument, w: int) -> list[Op]:
    out: list[Op] = [Rule(), *_vat_table(doc, w), Feed()]
    if doc.restocking_fees:
        out += pair(pgettext("document", "Restocking fees"), format_money(doc.restocking_fees),
                    w)
    out += pair(pgettext("document", "Total excl. VAT"), format_money(doc.total_ht), w)
    out += pair(pgettext("document", "Total VAT"), format_money(doc.total_vat), w)
    out += pair(pgettext("document", "Total incl. VAT"), format_money(doc.total_ttc), w,
                bold=True)
    return out


def _settlement(doc: TicketDocument, w: int) -> list[Op]:
    """The refunds or the payment, the net, the notices and, without receipt, the ID."""
    out: list[Op] = [Rule()]
    out += _lines(pgettext("document", "Refund") if doc.net_to_customer >= 0
                  else pgettext("document", "Payment"), w, bold=True)
    for refund in doc.refunds:
        out += pair(refund_label(refund), format_money(abs(refund.amount)), w)
        if refund.gift_card_number:
            out += _lines(_("No. {number}").format(number=group_digits(
                refund.gift_card_number)), w)
        if refund.beyond_original:
            out += _lines(_("The whole merchandise amount is refunded to the card."), w)
        proof = terminal_proof(refund)  # what the payment terminal confirmed (issue 14)
        if proof:
            out += _lines(proof, w)
    out += pair(net_label(doc), format_money(abs(doc.net_to_customer)), w, bold=True)
    for note in notices(doc):
        out += _lines(note, w)
    lines_id = identity_lines(doc)
    if lines_id:
        out.append(Feed())
        for text in lines_id:
            out += _lines(text, w)
    return out


def _approvals(doc: TicketDocument, w: int) -> list[Op]:
    if not doc.approvals:
        return []
    out: list[Op] = [Feed(), *_lines(pgettext("document", "Manager approvals"), w, bold=True)]
    for a in doc.approvals:
        text = approval_text(a.rule, a.manager_name, a.decision)
        if a.line_no is not None:
            text += " · " + _("line {line}").format(line=a.line_no)
        out += _lines(text, w)
        if a.reason:
            out += _lines(_("“{reason}”").format(reason=a.reason), w)
    return out


def _gift_cards(doc: TicketDocument, w: int) -> list[Op]:
    """One framed block per new gift card; never its security code (its own slip)."""
    out: list[Op] = []
    until = doc.gift_card_valid_until()
    for card in doc.gift_cards:
        code_line = security_code_text(card.security_code, duplicate=doc.duplicate)
        out += [Rule("="),
                *_lines(pgettext("document", "Alamara Gift Card").upper(), w, align="center",
                        bold=True),
                *_lines(_("No. {number}").format(number=group_digits(card.number)), w,
                        align="center"),
                *_lines(_("Amount: {amount}").format(amount=format_money(card.amount)), w,
                        align="center"),
                *_lines(code_line, w, align="center"),
                *(_lines(valid_until_text(until), w, align="center", bold=True) if until
                  else []),
                *_lines(gift_card_balance_text(), w, align="center"),
                Barcode(card.number),
                *_lines(gift_card_notice(), w, align="center"),
                Rule("=")]
    return out


def _jewelry(doc: TicketDocument, width: int) -> list[Op]:
    record = doc.jewelry
    if record is None:
        return []
    out: list[Op] = [Feed(), *_lines(pgettext("document", "Fine jewelry: inspection"), width,
                                     bold=True)]
    for item in record.inspections:
        head = _("Line {line}").format(line=item.get("line_no", "?"))
        if item.get("serial_number"):
            head += " · " + _("Serial no. {serial}").format(serial=item["serial_number"])
        out += _lines(head, width, bold=True)
        out += _lines(inspection_summary(item), width)
    out += _lines(pgettext("document", "Customer signature"), width, bold=True)
    out += _lines(_("Signature SHA-256: {digest}…").format(digest=record.sha256[:16]), width)
    return out


def slip_ops(lines: list[str], *, columns: int, title: str = "") -> list[Op]:
    out: list[Op] = [Logo()]
    if title:
        out += _lines(title, columns, align="center", bold=True)
        out.append(Rule())
    for line in lines:
        out += _lines(line, columns)
    return out
