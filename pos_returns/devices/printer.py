"""The printer interface: what the till asks of a ticket printer, and what it answers.

A :class:`Printer` prints a return ticket (the document model's
:class:`~pos_returns.documents.model.TicketDocument`), tells its status and opens
the cash drawer wired to it. Every call answers a :class:`PrintResult`: *printed*
only when the printer took the whole job and said so afterwards, otherwise
*failed* with the reason (paper out, cover open, offline, error) and a French
message for the person at the till. A driver never raises for a device failure;
it never says "printed" on a guess (docs/devices.md).

Drivers: :class:`~pos_returns.devices.escpos.EscposPrinter` (ESC/POS thermal
printers on the network or on a USB/serial device file) and :class:`NoPrinter`
(no printer configured). The PDF/CUPS path stays in ``pos_returns.documents``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pos_returns.errors import AlamaraError
from pos_returns.i18n import _

if TYPE_CHECKING:  # the document model is imported in one place: devices/ticket_text.py
    from pos_returns.devices.ticket_text import TicketDocument


class PrinterState(StrEnum):
    READY = "ready"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"  # no answer: switched off, unplugged, wrong address
    ERROR = "error"  # the printer answers but reports an error (cutter jam, head too hot)
    NONE = "none"  # no printer configured at this till


class PrinterFailure(AlamaraError):
    """A printer did not take a job; ``result`` says why (for callers that raise)."""

    def __init__(self, result: PrintResult) -> None:
        super().__init__(result.message, code=str(result.state))
        self.result = result


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer answered to a status query (DLE EOT on ESC/POS)."""

    state: PrinterState
    paper_near_end: bool = False
    detail: str = ""  # where the printer is, or the raw error, for the message

    @property
    def ready(self) -> bool:
        return self.state is PrinterState.READY


def state_message(state: PrinterState, detail: str = "") -> str:
    """The French sentence the till shows for a printer that did not print."""
    if state is PrinterState.PAPER_OUT:
        return _("The printer is out of paper: put in a new roll, then print the ticket again.")
    if state is PrinterState.COVER_OPEN:
        return _("The printer's cover is open: close it, then print the ticket again.")
    if state is PrinterState.OFFLINE:
        return _(
            "The printer does not answer ({where}): check that it is switched on and "
            "connected, then print the ticket again."
        ).format(where=detail or _("unknown address"))
    if state is PrinterState.ERROR:
        return _(
            "The printer reports an error ({detail}): check it (paper jam, cutter), "
            "then print the ticket again."
        ).format(detail=detail or _("no detail"))
    if state is PrinterState.NONE:
        return _("No ticket printer is configured at this till.")
    return ""


@dataclass(frozen=True, slots=True)
class PrintResult:
    """*printed* (the printer took the whole job) or *failed* (state and message)."""

    printed: bool
    state: PrinterState
    message: str = ""

    @classmethod
    def ok(cls) -> PrintResult:
        return cls(True, PrinterState.READY, "")

    @classmethod
    def failed(cls, state: PrinterState, detail: str = "") -> PrintResult:
        if state is PrinterState.READY:
            raise ValueError("a failed print needs a failure state")
        return cls(False, state, state_message(state, detail))

    @classmethod
    def from_status(cls, status: PrinterStatus) -> PrintResult:
        if status.ready:
            return cls.ok()
        return cls.failed(status.state, status.detail)

    def raise_if_failed(self) -> None:
        if not self.printed:
            raise PrinterFailure(self)


class Printer(ABC):
    """A ticket printer with, perhaps, a cash drawer wired to it."""

    #: where the printer is, for messages and the journal ("192.168.1.40:9100")
    description: str = ""

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Ask the printer; never raises for a device failure, never blocks unbounded."""

    @abstractmethod
    def print_ticket(self, doc: TicketDocument, *, copy: str = "") -> PrintResult:
        """Print the ticket (``copy``: "customer" / "store" when two copies print)."""

    @abstractmethod
    def print_lines(self, lines: list[str], *, title: str = "") -> PrintResult:
        """Print a short slip of plain lines (a gift card's security code slip)."""

    @abstractmethod
    def open_drawer(self) -> PrintResult:
        """Pulse the cash drawer; *printed* here means the printer took the pulse."""


class NoPrinter(Printer):
    """No printer at this till: nothing is ever "printed", the drawer is opened by hand."""

    description = ""

    def status(self) -> PrinterStatus:
        return PrinterStatus(PrinterState.NONE)

    def print_ticket(self, doc: TicketDocument, *, copy: str = "") -> PrintResult:
        return PrintResult.failed(PrinterState.NONE)

    def print_lines(self, lines: list[str], *, title: str = "") -> PrintResult:
        return PrintResult.failed(PrinterState.NONE)

    def open_drawer(self) -> PrintResult:
        return PrintResult.failed(PrinterState.NONE)
