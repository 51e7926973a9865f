"""The French catalogue is complete, and formatting follows the locale."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

from babel.numbers import format_currency

from pos_returns import i18n

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "tools" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_message_of_the_sources_has_a_french_translation():
    tool = _tool()
    template = tool.extract_template()
    assert len(template) > 20  # the extraction really found our messages
    missing = tool.problems("fr", template)
    assert missing == [], "French messages missing, fuzzy or with bad placeholders:\n" + (
        "\n".join(missing)
    )


def test_compiled_french_catalogue_is_used():
    i18n.set_language("fr")
    assert i18n.catalogue_loaded(), "run `python tools/i18n.py compile` (make does it)"
    assert i18n._("Unknown staff code.") == "Code vendeur inconnu."
    singular = ("{count} ticket signed before format v2 is not covered: its rows carry "
                "no digest.")
    plural = ("{count} tickets signed before format v2 are not covered: their rows carry "
              "no digest.")
    assert "tickets signés" in i18n.ngettext(singular, plural, 3)
    # French treats 0 and 1 as singular.
    assert "ticket signé " in i18n.ngettext(singular, plural, 0)


def test_english_falls_back_to_the_msgid():
    i18n.set_language("en")
    assert i18n._("Unknown staff code.") == "Unknown staff code."


def test_money_is_formatted_by_babel_for_the_locale():
    assert i18n.format_money(123456) == format_currency(1234.56, "EUR", locale="fr_FR")
    assert i18n.format_money(-500).startswith("-")
    i18n.set_language("en")
    assert i18n.format_money(123456) == format_currency(1234.56, "EUR", locale="en_GB")


def test_vat_rates_and_dates_in_french():
    assert i18n.format_percent(550).startswith("5,5")
    assert i18n.format_percent(2000).startswith("20")
    assert "mars" in i18n.format_date(date(2025, 3, 15))
    # 23:30 UTC on 30 June is already 1 July in Paris.
    assert "juil." in i18n.format_date("2025-06-30T23:30:00Z")


def test_unknown_language_falls_back_to_french():
    i18n.set_language("de")
    assert i18n.current_language() == "fr"
