"""What a payment terminal says about the card: its application (Caisse-AP field CC)
and how it was read (CI). Pure tables, for the devices, the tickets and the screens."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pos_returns.i18n import N_, _

# Card application (Caisse-AP field CC, 3 characters, leading zeros not significant).
CARD_APPLICATIONS: Mapping[str, str] = MappingProxyType({
    "1": N_("CB contact"),
    "B": N_("CB contactless"),
    "C": N_("Cheque"),
    "2": N_("Amex contact"),
    "D": N_("Amex contactless"),
    "3": N_("CB store card"),
    "5": N_("Cofinoga"),
    "6": N_("Diners"),
    "7": N_("CB-Pass"),
    "8": N_("Franfinance"),
    "9": N_("JCB"),
    "A": N_("Banque Accord"),
    "I": N_("CPEI"),
    "E": N_("CMCIC-Pay"),
    "U": N_("UnionPay"),
    "0": N_("other card"),
})

# Read mode (Caisse-AP field CI, 1 character).
READ_MODES: Mapping[str, str] = MappingProxyType({
    "0": N_("unspecified"),
    "1": N_("chip"),
    "2": N_("contactless"),
    "3": N_("magnetic stripe"),
    "4": N_("manual entry"),
})

# Read modes where the terminal itself read the card (R14: a proof of the card used).
CARD_READ_MODES = frozenset({"1", "2", "3"})


def card_application_label(code: str) -> str:
    """« CB sans contact » for "00B"; empty when the terminal did not say."""
    key = code.lstrip("0") or ("0" if code else "")
    if not key:
        return ""
    label = CARD_APPLICATIONS.get(key)
    return _(label) if label else _("card application {code}").format(code=key)


def read_mode_label(code: str) -> str:
    label = READ_MODES.get(code)
    return _(label) if label else code
