"""Codes the till reads and prints: receipt numbers, web order numbers, EANs.

Receipt number (docs/receipt-barcode.md)
    17 digits ``SSS TT YYMMDD NNNN CC``: store number (3), till number (2),
    sale date (6, local date), sequence of the sale on that till that day (4),
    then two check digits computed with ISO 7064 MOD 97-10 over the 15 digits
    before them (the scheme of IBANs: every single-digit error and every swap
    of two adjacent digits is caught). Printed for people as
    ``012-03-250315-0042-87``; drawn on the receipt as Code 128 with the
    content ``R`` + the 17 digits (the ``R`` tells a receipt from any other
    code the scanner may read).

AlamaraStore.com order number
    ``W`` followed by 9 digits, e.g. ``W204815162``.

Every parser refuses malformed input with a French message
(:class:`~pos_returns.errors.InvalidInput`); none of them touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from io import BytesIO

from stdnum import ean, luhn
from stdnum.iso7064 import mod_97_10

from pos_returns.engine.text import clean_text, shown
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _

MAX_CODE_LENGTH = 64  # anything longer is not a code a scanner sends us

_SEPARATORS = re.compile(r"[\s\-./]")
_DIGITS = re.compile(r"\d+")


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" or "١", which ``int`` refuses
    or reads as another number."""
    return text.isascii() and text.isdigit()


class CodeKind(StrEnum):
    RECEIPT = "receipt"
    ORDER = "order"
    EAN = "ean"
    GIFT_CARD = "gift_card"


@dataclass(frozen=True, slots=True)
class ReceiptNumber:
    store_id: int
    till_no: int
    sale_date: date
    sequence: int

    @property
    def body(self) -> str:
        return (
            f"{self.store_id:03d}{self.till_no:02d}"
            f"{self.sale_date:%y%m%d}{self.sequence:04d}"
        )

    @property
    def digits(self) -> str:
        """The canonical 17 digits stored in the cache."""
        return self.body + mod97_check(self.body)

    @property
    def barcode_content(self) -> str:
        return "R" + self.digits

    @property
    def display(self) -> str:
        d = self.digits
        return f"{d[0:3]}-{d[3:5]}-{d[5:11]}-{d[11:15]}-{d[15:17]}"

    def __str__(self) -> str:
        return self.display


def mod97_check(body: str) -> str:
    """ISO 7064 MOD 97-10 check digits (two digits) for a string of digits."""
    return str(mod_97_10.calc_check_digits(body))


def mod97_valid(digits: str) -> bool:
    return len(digits) > 2 and _is_digits(digits) and mod_97_10.is_valid(digits)


def luhn_check_digit(body: str) -> str:
    return str(luhn.calc_check_digit(body))


def luhn_valid(number: str) -> bool:
    return len(number) > 1 and _is_digits(number) and luhn.is_valid(number)


def ean13_check_digit(body: str) -> str:
    return str(ean.calc_check_digit(body))


def _clean(text: str) -> str:
    if text is None:
        raise InvalidInput(_("Nothing was scanned or typed."), code="empty")
    text = clean_text(text, max_length=1_000_000)  # no NUL, ESC, bidi… (length: below)
    if len(text) > MAX_CODE_LENGTH:
        raise InvalidInput(
            _("This code is too long ({length} characters): it is not an Alamara code.").format(
                length=len(text)
            ),
            code="too_long",
        )
    cleaned = _SEPARATORS.sub("", text.strip())
    if not cleaned:
        raise InvalidInput(_("Nothing was scanned or typed."), code="empty")
    return cleaned.upper()


def parse_receipt(text: str, *, today: date | None = None) -> ReceiptNumber:
    """Parse a scanned (``R`` + 17 digits) or typed receipt number.

    Refuses a wrong length, a non-digit, a wrong check digit, an impossible or
    future date, store 000 or till 00.
    """
    code = _clean(text)
    if code.startswith("R"):
        code = code[1:]
    if not _is_digits(code):
        raise InvalidInput(
            _("A receipt number has digits only: “{code}” is not one.").format(code=text.strip()),
            code="not_digits",
        )
    if len(code) != 17:
        raise InvalidInput(
            _("A receipt number has 17 digits; this one has {count}.").format(count=len(code)),
            code="length",
        )
    if not mod97_valid(code):
        raise InvalidInput(
            _("Wrong check digits: the receipt number was mistyped or the barcode is damaged."),
            code="check_digit",
        )
    store_id, till_no = int(code[0:3]), int(code[3:5])
    if store_id == 0 or till_no == 0:
        raise InvalidInput(_("This receipt names no store or no till."), code="store")
    try:
        sale_date = date(2000 + int(code[5:7]), int(code[7:9]), int(code[9:11]))
    except ValueError:
        raise InvalidInput(
            _("The date in this receipt number is impossible."), code="date"
        ) from None
    if sale_date > (today or date.today()):
        raise InvalidInput(_("The date in this receipt number is in the future."), code="date")
    sequence = int(code[11:15])
    if sequence == 0:
        raise InvalidInput(_("The sequence in this receipt number is impossible."), code="sequence")
    return ReceiptNumber(store_id, till_no, sale_date, sequence)


_ORDER = re.compile(r"^W\d{9}$", re.ASCII)


def parse_order_number(text: str) -> str:
    code = _clean(text)
    if not _ORDER.match(code):
        raise InvalidInput(
            _("An AlamaraStore.com order number is a W followed by 9 digits."), code="order"
        )
    return code


def classify(text: str) -> tuple[CodeKind, str]:
    """Tell what the scanner (or the keyboard) sent, and its canonical form.

    Raises :class:`InvalidInput` for anything that is no code we know, with a
    message that says what was expected.
    """
    code = _clean(text)
    if code.startswith("W"):
        return CodeKind.ORDER, parse_order_number(code)
    if code.startswith("R") or (_is_digits(code) and len(code) == 17):
        return CodeKind.RECEIPT, parse_receipt(code).digits
    if _is_digits(code) and len(code) == 13:
        if ean13_check_digit(code[:12]) != code[12]:
            raise InvalidInput(_("Wrong check digit on this product barcode."), code="check_digit")
        return CodeKind.EAN, code
    if _is_digits(code) and len(code) == 19 and code.startswith("6"):
        if not luhn_valid(code):
            raise InvalidInput(_("Wrong check digit on this gift card number."), code="check_digit")
        return CodeKind.GIFT_CARD, code
    raise InvalidInput(
        _(
            "“{code}” is not a code the till knows: scan the receipt, "
            "or type its number (17 digits) or an order number (W + 9 digits)."
        ).format(code=shown(text)),
        code="unknown",
    )


def code128_png(content: str, *, module_width: float = 0.3, module_height: float = 12.0,
                text: bool = True, dpi: int = 300) -> bytes:
    """Draw ``content`` as a Code 128 barcode (python-barcode) and return PNG bytes."""
    from barcode import Code128
    from barcode.writer import ImageWriter

    writer = ImageWriter()
    out = BytesIO()
    Code128(content, writer=writer).write(
        out,
        options={
            "module_width": module_width,
            "module_height": module_height,
            "quiet_zone": 4.0,
            "write_text": text,
            "font_size": 8,
            "text_distance": 3.0,
            "dpi": dpi,
        },
    )
    return out.getvalue()


def code128_svg(content: str, *, module_height: float = 12.0) -> bytes:
    """Draw ``content`` as a Code 128 barcode in SVG (for the screen)."""
    from barcode import Code128
    from barcode.writer import SVGWriter

    out = BytesIO()
    Code128(content, writer=SVGWriter()).write(
        out, options={"module_height": module_height, "write_text": True, "font_size": 8}
    )
    return out.getvalue()


def ticket_display(store_id: int, till_no: int, number: int) -> str:
    """A return ticket's number, the one way screens and the review show it:
    « 001-01-000302 » (store, till, number, as a receipt number is grouped)."""
    return f"{store_id:03d}-{till_no:02d}-{number:06d}"
