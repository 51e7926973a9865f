"""The Alamara Gift Card as a PDF at credit-card size (ISO/IEC 7810 ID-1, 85.6 × 54 mm).

Front only: the "Alamara" band, "Carte cadeau", the amount, the number grouped by
four, the security code, the issue date, a Code 128 barcode of the number (what
the till's scanner reads back, see :func:`pos_returns.engine.codes.classify`), and the
notice that a gift card is neither returned nor paid out in cash (R09, R17).
"""

from __future__ import annotations

from io import BytesIO

from reportlab.lib.colors import Color, white
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph

from pos_returns.documents.fonts import fonts, printable
from pos_returns.documents.layout import Code128Bars, Rule, build_roll, esc, make_styles
from pos_returns.documents.model import GiftCardDocument, group_digits
from pos_returns.documents.ticket import (
    gift_card_balance_text,
    gift_card_notice,
    security_code_text,
    valid_until_text,
)
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _, format_date, format_money, pgettext

CARD_WIDTH = 85.6 * mm
CARD_HEIGHT = 54 * mm
NAVY = Color(0.11, 0.16, 0.27)
GOLD = Color(0.78, 0.64, 0.33)
INK = Color(0.1, 0.1, 0.1)


def _fit(c: Canvas, text: str, font: str, size: float, max_width: float) -> float:
    while size > 4 and c.stringWidth(text, font, size) > max_width:
        size -= 0.25
    return size


def render_giftcard_pdf(card: GiftCardDocument) -> bytes:
    """One page, 85.6 × 54 mm, ready for a card printer (or cutting out of A4)."""
    f = fonts()
    out = BytesIO()
    c = Canvas(out, pagesize=(CARD_WIDTH, CARD_HEIGHT), invariant=1)
    title = pgettext("document", "Alamara Gift Card") + " " + group_digits(card.number)
    c.setTitle(printable(title))
    c.setAuthor("Alamara")
    c.setCreator("Alamara Retours")
    w, h = CARD_WIDTH, CARD_HEIGHT
    pad = 4 * mm

    # rounded outline (the cut line) and the top band
    c.setStrokeColor(Color(0.7, 0.7, 0.7))
    c.setLineWidth(0.3)
    c.roundRect(0.2 * mm, 0.2 * mm, w - 0.4 * mm, h - 0.4 * mm, 3 * mm, stroke=1, fill=0)
    band = 12 * mm
    c.saveState()
    path = c.beginPath()
    r = 3 * mm
    path.moveTo(0.2 * mm, h - band)
    path.lineTo(0.2 * mm, h - r)
    path.arcTo(0.2 * mm, h - 2 * r - 0.2 * mm, 2 * r + 0.2 * mm, h - 0.2 * mm, 180, -90)
    path.lineTo(w - r, h - 0.2 * mm)
    path.arcTo(w - 2 * r - 0.2 * mm, h - 2 * r - 0.2 * mm, w - 0.2 * mm, h - 0.2 * mm, 90, -90)
    path.lineTo(w - 0.2 * mm, h - band)
    path.close()
    c.setFillColor(NAVY)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()
    c.setFillColor(GOLD)
    c.rect(0.2 * mm, h - band - 0.8 * mm, w - 0.4 * mm, 0.8 * mm, stroke=0, fill=1)

    c.setFillColor(white)
    c.setFont(f.bold, 15)
    c.drawString(pad, h - band + 3.6 * mm, "ALAMARA")
    label = printable(pgettext("document", "Gift card"))
    c.setFont(f.regular, 9)
    c.drawRightString(w - pad, h - band + 4.2 * mm, label)

    # amount, number, code, date (left column)
    c.setFillColor(INK)
    amount = printable(format_money(card.amount))
    size = _fit(c, amount, f.bold, 17, w / 2 - pad)
    c.setFont(f.bold, size)
    y = h - band - 8.5 * mm
    c.drawString(pad, y, amount)
    number = group_digits(card.number)
    size = _fit(c, number, f.bold, 9.5, w - 2 * pad)
    c.setFont(f.bold, size)
    y -= 5.2 * mm
    c.drawString(pad, y, number)
    c.setFont(f.regular, 6.8)
    y -= 3.9 * mm
    # never the security code on the face: it is on its own slip (render_code_slip_pdf)
    c.drawString(pad, y, printable(security_code_text(card.security_code,
                                                      duplicate=card.duplicate)))
    y -= 3.2 * mm
    issued = _("Issued on {date}").format(date=format_date(card.issued_at, fmt="short"))
    if card.store_name:
        issued += " · " + card.store_name
    c.drawString(pad, y, printable(issued))
    if card.valid_until:
        y -= 3.2 * mm
        c.setFont(f.bold, 6.8)
        c.drawString(pad, y, printable(valid_until_text(card.valid_until)))
        c.setFont(f.regular, 6.8)
    y -= 3.2 * mm
    c.setFont(f.regular, 6.0)
    c.drawString(pad, y, printable(gift_card_balance_text()))

    # barcode bottom, full width, on white
    bars = Code128Bars(card.number, module_width_mm=0.3, bar_height_mm=9,
                       max_width=w - 2 * pad)
    bars.draw_at(c, (w - bars.width) / 2, 4.6 * mm)

    # the notice along the bottom edge (R09, R17, in plain words)
    c.setFont(f.regular, 5.6)
    c.setFillColor(Color(0.3, 0.3, 0.3))
    notice = printable(gift_card_notice())
    c.drawCentredString(w / 2, 2.2 * mm, notice)

    if card.duplicate:
        c.saveState()
        c.setFont(f.bold, 8)
        c.setFillColor(Color(0.75, 0.1, 0.1))
        dup = printable(pgettext("document", "DUPLICATE"))
        c.drawRightString(w - pad, h - band - 8.5 * mm, dup)
        c.restoreState()
    c.showPage()
    c.save()
    return out.getvalue()


def render_code_slip_pdf(card: GiftCardDocument) -> bytes:
    """The security code on its own slip (80 mm roll), handed over apart from the card:
    whoever finds the card alone cannot spend it online. Only at issue (the code is
    never stored in clear, so there is no reprint)."""
    if not card.security_code:
        raise InvalidInput(_("The security code is known only when the card is issued."),
                           code="security_code")

    def story() -> list[Flowable]:
        st = make_styles(9, roll=True)
        return [
            Paragraph("ALAMARA", st.brand),
            Paragraph(esc(pgettext("document", "Alamara Gift Card").upper()), st.title),
            Paragraph(esc(_("Card ending in {last4}").format(last4=card.number[-4:])),
                      st.center),
            Rule(),
            Paragraph(esc(_("Security code")), st.center),
            Paragraph(esc(card.security_code), st.huge),
            Rule(),
            Paragraph(esc(_("Keep this slip apart from the card: the code protects its "
                            "balance. The till never prints it again.")), st.center_small),
        ]

    return build_roll(story, width=80 * mm, margin_x=4 * mm, margin_y=4 * mm,
                      title=_("Security code") + " " + card.number[-4:])
