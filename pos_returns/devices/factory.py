"""The till's ticket printer, from its configuration (``printer_kind``)."""

from __future__ import annotations

from pos_returns.config import TillConfig
from pos_returns.devices.escpos import EscposPrinter, RollLayout
from pos_returns.devices.printer import NoPrinter, Printer


def printer_from_config(cfg: TillConfig) -> Printer | None:
    """The ESC/POS printer, :class:`NoPrinter`, or ``None`` for "pdf" (the documents'
    PDF/CUPS path: ``printer_queue``)."""
    layout = RollLayout.for_width(cfg.paper_width_mm)
    if cfg.printer_kind == "escpos-network":
        return EscposPrinter.network(cfg.printer_host, cfg.printer_port, layout=layout)
    if cfg.printer_kind == "escpos-device":
        return EscposPrinter.device(cfg.printer_device, layout=layout)
    if cfg.printer_kind == "none":
        return NoPrinter()
    return None
