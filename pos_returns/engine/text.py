"""One cleaning of everything a person, a scanner or a file types into the till.

Every entry point (scans, searches, names, reasons, ids) goes through
:func:`clean_text` (or :func:`clean_id` for numbers that name a row), and every
message that repeats what was typed goes through :func:`shown`. So:

* control characters (NUL, ESC, the scanner's GS…) never reach a query or the
  screen: a scan drops them, a name refuses them;
* invisible format characters — the bidirectional overrides (U+202E « right-to-
  left override » makes « Jean » show as « naeJ »), zero-width spaces and joiners
  — are refused in names and dropped from scans;
* text is NFC, trimmed, inner whitespace runs collapsed, and has a maximum length
  (refused above it: the message says the length, never repeats the text);
* a message echoes at most ``limit`` characters of what was typed, cleaned, with
  « … » when cut (a 10 000-character gift-card scan is shown as its first 24);
* an id is a whole number from 1 to 2⁶³ − 1 (SQLite's integers): 10³⁰, text or a
  bool is an :class:`~pos_returns.errors.InvalidInput`, never an OverflowError;
* a date is a :class:`datetime.date` or ISO text (``2026-03-15``), never a TypeError.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from pos_returns.errors import InvalidInput
from pos_returns.i18n import _

MAX_ID = 2**63 - 1
_SPACES = re.compile(r"\s+")
# Unicode categories never wanted in what the till stores or shows: controls,
# format characters (bidi overrides, zero-width), surrogates, private use, unassigned.
_BAD_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")


def _bad(ch: str) -> bool:
    return unicodedata.category(ch) in _BAD_CATEGORIES and ch not in "\t\n\r"


def has_hidden_characters(text: str) -> bool:
    return any(_bad(ch) for ch in text)


def clean_text(
    value: Any,
    *,
    field: str = "",
    max_length: int = 200,
    strict: bool = False,
    upper: bool = False,
) -> str:
    """``value`` as clean text (see the module). ``strict`` (names, reasons)
    refuses hidden characters instead of dropping them (a scan drops them)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(_("{field}: text was expected.").format(field=field or _("Input")),
                           code="text")
    text = unicodedata.normalize("NFC", value)
    if has_hidden_characters(text):
        if strict:
            raise InvalidInput(
                _("{field} contains invisible or control characters: type it again.").format(
                    field=field or _("The text")),
                code="hidden_characters",
            )
        text = "".join(ch for ch in text if not _bad(ch))
    text = _SPACES.sub(" ", text).strip()
    if len(text) > max_length:
        raise InvalidInput(
            _("{field} is too long ({length} characters; at most {maximum}).").format(
                field=field or _("The text"), length=len(text), maximum=max_length),
            code="too_long",
        )
    return text.upper() if upper else text


def shown(value: Any, limit: int = 24) -> str:
    """What a message may repeat of ``value``: cleaned, at most ``limit`` characters."""
    text = "" if value is None else str(value)
    text = "".join(ch if not _bad(ch) else "" for ch in text[: limit * 4])
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_id(value: Any, *, field: str = "") -> int:
    """A row id: a whole number from 1 to 2⁶³ − 1."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        text = clean_text(value, field=field, max_length=30)
        value = int(text) if text.isascii() and text.isdigit() else None
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(
            _("{field}: “{value}” is not a valid number.").format(
                field=field or _("Identifier"), value=shown(value, 24)),
            code="id",
        )
    return value


def clean_date(value: Any, *, field: str = "") -> date | None:
    """``None``, a date, or ISO text (``YYYY-MM-DD``) -> a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(clean_text(value, field=field, max_length=10))
        except (ValueError, InvalidInput):
            pass
    raise InvalidInput(
        _("{field}: “{value}” is not a date (expected YYYY-MM-DD).").format(
            field=field or _("Date"), value=shown(value, 24)),
        code="date",
    )
