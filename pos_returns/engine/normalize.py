"""Normalisation of what people type, shared by the cache writers and the lookups."""

from __future__ import annotations

import re
import unicodedata

_NON_DIGIT = re.compile(r"\D")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, accents removed, spaces collapsed: "  Hélène  DUPÉ " -> "helene dupe"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped).strip().lower()


def name_key(first_name: str, last_name: str) -> str:
    """The key customers are searched by: "last first", folded."""
    return fold(f"{last_name} {first_name}")


def phone_digits(text: str) -> str:
    """French numbers in national form: "+33 6 12 34 56 78" -> "0612345678"."""
    digits = _NON_DIGIT.sub("", text)
    if digits.startswith("0033"):
        digits = "0" + digits[4:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


def email_key(text: str) -> str:
    return text.strip().lower()
