"""The payment terminal (TPE): the interface the till uses, whatever the protocol.

A card refund (credit) or an exchange payment (debit) is sent to the store's
terminal; its answer is one of three outcomes, and the till never guesses:

- ``APPROVED``: the terminal says the money moved;
- ``DECLINED``: the money did not move (the terminal refused or the customer
  abandoned, with the terminal's reason in French; or the terminal could not be
  reached, so nothing was sent) — trying again is safe;
- ``UNKNOWN`` (« à vérifier »): the request was sent but no trustworthy answer
  came back (connection dropped, no answer in time, an unreadable answer, an
  answer that does not echo the request). Only what the terminal printed can
  tell; a second attempt could pay twice.

The real driver is :class:`pos_returns.devices.caisse_ap.CaisseAPClient`; the
fake is a real TCP server, :mod:`pos_returns.devices.tpe_simulator`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pos_returns.engine.cards import (
    CARD_APPLICATIONS,
    CARD_READ_MODES,
    READ_MODES,
    card_application_label,
    read_mode_label,
)
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _, format_money

__all__ = ["CARD_APPLICATIONS", "CARD_READ_MODES", "READ_MODES", "Action", "Outcome",
           "PaymentTerminal", "TerminalResult", "check_amount"]

MAX_AMOUNT_CENTS = 999_999_999_999  # the protocol's amount has at most 12 digits


class Outcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNKNOWN = "unknown"


class Action(StrEnum):
    DEBIT = "debit"  # the customer pays (an exchange that leaves a balance to pay)
    CREDIT = "credit"  # the customer is refunded


TRANSACTION_TAGS = ("AA", "AB", "AC", "AI")


@dataclass(frozen=True)
class TerminalResult:
    """What the terminal answered, already judged.

    ``message`` is for the salesperson, in the till's language: the terminal's
    reason on a decline, what to check on an unknown outcome. ``reason_code`` is
    the terminal's AF code on a decline, or the till's own code
    (``unreachable``, ``timeout``, ``disconnected``, ``malformed``, ``status``,
    ``echo_mismatch``).
    """

    outcome: Outcome
    action: Action
    amount_cents: int
    reference: str
    message: str = ""
    reason_code: str = ""
    card_application: str = ""  # CC as received, e.g. "00B"
    read_mode: str = ""  # CI as received, e.g. "2"
    transaction_ids: Mapping[str, str] = field(default_factory=dict)  # AA/AB/AC/AI
    raw: Mapping[str, str] = field(default_factory=dict)  # every field of the answer

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def declined(self) -> bool:
        return self.outcome is Outcome.DECLINED

    @property
    def unknown(self) -> bool:
        return self.outcome is Outcome.UNKNOWN

    @property
    def card_application_label(self) -> str:
        """« CB sans contact »; empty when the terminal did not say."""
        return card_application_label(self.card_application)

    @property
    def read_mode_label(self) -> str:
        return read_mode_label(self.read_mode)

    @property
    def card_read(self) -> bool:
        """True when an approved operation read the card itself (chip, contactless, stripe)."""
        return self.approved and self.read_mode in CARD_READ_MODES

    @property
    def transaction_id(self) -> str:
        """The terminal's identifiers as one text, e.g. ``AA-123456|AC-0042``."""
        return "|".join(f"{tag}-{value}" for tag, value in self.transaction_ids.items() if value)

    def summary(self) -> str:
        """One line for the screen: what happened to this amount."""
        amount = format_money(self.amount_cents)
        if self.approved:
            card = self.card_application_label
            if self.action is Action.CREDIT:
                text = _("{amount} refunded by the payment terminal.").format(amount=amount)
            else:
                text = _("{amount} paid on the payment terminal.").format(amount=amount)
            return f"{text} ({card})" if card else text
        return self.message


class PaymentTerminal(ABC):
    """A payment terminal. Calls block (up to the terminal's timeout): never on the UI thread."""

    @abstractmethod
    def refund(self, amount_cents: int, *, reference: str) -> TerminalResult:
        """Credit ``amount_cents`` to the card the customer presents."""

    @abstractmethod
    def pay(self, amount_cents: int, *, reference: str) -> TerminalResult:
        """Debit ``amount_cents`` from the card the customer presents."""


def check_amount(amount_cents: int) -> int:
    """A terminal amount is a whole, positive number of cents with at most 12 digits."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise InvalidInput(_("The terminal amount must be a whole number of cents."),
                           code="terminal_amount")
    if amount_cents <= 0 or amount_cents > MAX_AMOUNT_CENTS:
        raise InvalidInput(
            _("The terminal amount {amount} is out of range.").format(
                amount=format_money(amount_cents)),
            code="terminal_amount",
        )
    return amount_cents
