"""Translations and locale-aware formatting, the one place that defines ``_``.

Messages are written in English in the code and translated by gettext; French
(``fr_FR``) is the default language of the till. Money, dates and percentages go
through babel so that "1 234,56 €" gets the separators the locale wants.

Use ``N_()`` for constants defined at import time, and translate them with
``_()`` when shown. Plurals go through ``ngettext`` with named placeholders.
"""

from __future__ import annotations

import gettext as _gettext
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers

from pos_returns.resources import locale_dir

DOMAIN = "pos_returns"
SUPPORTED = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
STORE_TZ = ZoneInfo("Europe/Paris")

_BABEL_LOCALES = {"fr": "fr_FR", "en": "en_GB"}

_translations: _gettext.NullTranslations = _gettext.NullTranslations()
_language = DEFAULT_LANGUAGE


def set_language(language: str = DEFAULT_LANGUAGE) -> None:
    """Load the catalogue for ``language`` ("fr" or "en"); unknown falls back to French."""
    global _translations, _language
    lang = language.split("_")[0].lower() if language else DEFAULT_LANGUAGE
    if lang not in SUPPORTED:
        lang = DEFAULT_LANGUAGE
    _language = lang
    _translations = _gettext.translation(
        DOMAIN, localedir=str(locale_dir()), languages=[lang], fallback=True
    )


def current_language() -> str:
    return _language


def babel_locale() -> str:
    return _BABEL_LOCALES[_language]


def catalogue_present(language: str = DEFAULT_LANGUAGE) -> bool:
    """True when the compiled catalogue (.mo) of ``language`` can be found."""
    return _gettext.find(DOMAIN, localedir=str(locale_dir()), languages=[language]) is not None


def catalogue_loaded() -> bool:
    """True when a compiled catalogue (.mo) was found for the current language."""
    return type(_translations) is not _gettext.NullTranslations


def _(message: str) -> str:
    return _translations.gettext(message)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return _translations.pgettext(context, message)


def format_money(cents: int, *, locale: str | None = None) -> str:
    """1234567 -> "12 345,67 €" in French (babel's own no-break spaces)."""
    amount = Decimal(int(cents)).scaleb(-2)
    return babel_numbers.format_currency(amount, "EUR", locale=locale or babel_locale())


def format_percent(basis_points: int, *, locale: str | None = None) -> str:
    """2000 -> "20 %", 550 -> "5,5 %"."""
    value = Decimal(int(basis_points)).scaleb(-4)
    return babel_numbers.format_percent(
        value, locale=locale or babel_locale(), decimal_quantization=False
    )


def format_decimal(value: float | Decimal, *, locale: str | None = None) -> str:
    return babel_numbers.format_decimal(value, locale=locale or babel_locale())


def to_local(moment: datetime | str) -> datetime:
    """A UTC timestamp (datetime or the cache's ISO text) in the stores' time zone."""
    if isinstance(moment, str):
        moment = parse_utc(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(STORE_TZ)


def parse_utc(text: str) -> datetime:
    """Parse the cache's ``YYYY-MM-DDTHH:MM:SSZ`` text as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def format_date(
    value: date | datetime | str, *, fmt: str = "medium", locale: str | None = None
) -> str:
    if isinstance(value, str | datetime):
        value = to_local(value).date()
    return babel_dates.format_date(value, format=fmt, locale=locale or babel_locale())


def format_datetime(
    value: datetime | str, *, fmt: str = "medium", locale: str | None = None
) -> str:
    local = to_local(value)
    return babel_dates.format_datetime(
        local, format=fmt, tzinfo=STORE_TZ, locale=locale or babel_locale()
    )


set_language(DEFAULT_LANGUAGE)
