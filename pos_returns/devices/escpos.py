"""ESC/POS thermal printers (python-escpos): network (TCP port 9100) or a device file.

A job is laid out once as bytes on python-escpos's ``Dummy`` printer (ESC @, the
code page, the text with its alignment and emphasis, the logo as a raster image
GS v 0, barcodes with the printer's own Code 128 command GS k, the cut GS V) and
sent in one write to the real connection: a ``Network`` socket or a device file
(``/dev/usb/lp0``, a serial port set up by the system).

Nothing is "printed" on a guess (docs/devices.md):

1. before the job, the real-time status (DLE EOT 1, 2 and 4) must say online, cover
   closed and paper present; no answer within ``status_timeout`` is "offline";
2. the job is followed by GS r 1 (transmit paper sensor status), which the printer
   answers only once it has *processed everything before it*: no answer within
   ``finish_timeout`` is "offline" (the ticket may be half printed);
3. the real-time status is asked again: paper out or cover open at the end of the
   job means the ticket did not come out whole.

Every socket or device operation has a timeout; every loop is bounded.
"""

from __future__ import annotations

import copy
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from escpos.printer import Dummy, File, Network
from PIL import Image, ImageDraw, ImageFont

from pos_returns.devices.printer import Printer, PrinterState, PrinterStatus, PrintResult
from pos_returns.devices.ticket_text import (
    Barcode,
    Feed,
    Logo,
    Op,
    Rule,
    Text,
    TicketDocument,
    bold_font_path,
    slip_ops,
    ticket_ops,
)
from pos_returns.i18n import _

DLE_EOT = b"\x10\x04"
STATUS_PRINTER = DLE_EOT + b"\x01"  # bit 3: offline
STATUS_OFFLINE_CAUSE = DLE_EOT + b"\x02"  # bit 2 cover open, bit 5 paper end, bit 6 error
STATUS_PAPER = DLE_EOT + b"\x04"  # bits 2-3 near end, bits 5-6 paper end
TRANSMIT_PAPER_STATUS = b"\x1dr\x01"  # GS r 1: answered in order, after the job before it
CODE_PAGE = 19  # ESC t 19: PC858 (Latin-1 with the euro sign), on every Epson-compatible
CODE_PAGE_ENCODING = "cp858"
DRAWER_PIN = 2

# what a roll's font A (12 × 24 dots at 203 dpi) gives on each width
_TEXT_SWAPS = str.maketrans({
    "\u202f": " ", "\u00a0": " ", "\u2009": " ", "\u2011": "-", "\u2013": "-",
    "\u2014": "-", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...",
    "\u2022": "\u00b7", "\u2192": "->", "\u2713": "v",
})


@dataclass(frozen=True, slots=True)
class RollLayout:
    """One roll width: characters per line (font A), printable dots, barcode module."""

    name: str
    columns: int
    dots: int
    module_dots: int  # Code 128 module width (GS w): a whole number of printer dots

    @classmethod
    def for_width(cls, paper_mm: int) -> RollLayout:
        if paper_mm == 58:
            return ROLL_58
        return ROLL_80


ROLL_80 = RollLayout("80mm", 48, 576, 3)
ROLL_58 = RollLayout("58mm", 32, 384, 2)


def printer_text(text: str) -> bytes:
    """``text`` in the printer's code page (PC858); what it lacks becomes ``?``."""
    return text.translate(_TEXT_SWAPS).encode(CODE_PAGE_ENCODING, errors="replace")


def code128_payload(content: str) -> bytes:
    """GS k m=73 data: code set B for letters, code set C for an even run of digits
    (``T00101000005`` -> ``{BT0{C`` + 5 pairs as bytes 0..99): the shortest symbol."""
    head, digits = content, ""
    i = len(content)
    while i > 0 and content[i - 1].isdigit():
        i -= 1
    head, digits = content[:i], content[i:]
    if len(digits) % 2:
        head, digits = head + digits[:1], digits[1:]
    if len(digits) < 4:
        head, digits = content, ""
    out = b""
    if head:
        out += b"{B" + head.replace("{", "{{").encode("ascii")
    if digits:
        out += b"{C" + bytes(int(digits[k:k + 2]) for k in range(0, len(digits), 2))
    return out


@cache
def wordmark(width_dots: int) -> Image.Image:
    """The logo: "ALAMARA" in bold capitals, two thirds of the roll wide, 1-bit."""
    path = bold_font_path()
    font: Any = ImageFont.truetype(str(path), 64) if path else ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("1", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), "ALAMARA", font=font)
    im = Image.new("1", (int(right - left) + 8, int(bottom - top) + 8), 1)
    ImageDraw.Draw(im).text((4 - left, 4 - top), "ALAMARA", font=font, fill=0)
    target = max(64, (width_dots * 2 // 3) // 8 * 8)
    return im.resize((target, max(8, im.height * target // im.width))).convert("1")


def render_job(ops: list[Op], layout: RollLayout, *, logo: Image.Image | None = None,
               cut: bool = True) -> bytes:
    """The job's bytes, written by python-escpos on its Dummy printer."""
    p = Dummy(profile="default")
    media = copy.deepcopy(p.profile.profile_data)  # the profile object is shared: a copy
    media["media"]["width"]["pixels"] = layout.dots
    p.profile.profile_data = media
    p.hw("INIT")
    p._raw(b"\x1bt" + bytes([CODE_PAGE]))
    style: tuple[str, bool, bool] | None = None
    for op in ops:
        if isinstance(op, Text):
            wanted = (op.align, op.bold, op.big)
            if wanted != style:
                p.set(align=op.align, bold=op.bold, double_height=op.big, double_width=op.big,
                      normal_textsize=not op.big)
                style = wanted
            p._raw(printer_text(op.text) + b"\n")
        elif isinstance(op, Rule):
            if style != ("left", False, False):
                p.set(align="left", bold=False, normal_textsize=True)
                style = ("left", False, False)
            p._raw(printer_text(op.char * layout.columns) + b"\n")
        elif isinstance(op, Feed):
            p._raw(b"\n" * op.lines)
        elif isinstance(op, Logo):
            image = logo if logo is not None else wordmark(layout.dots)
            p.image(image, impl="bitImageRaster", center=True)
            style = None
        elif isinstance(op, Barcode):
            p._hw_barcode(code128_payload(op.content).decode("latin-1"), "CODE128",
                          height=80, width=layout.module_dots, pos="OFF",
                          function_type="B", check=False)
            p._raw(b"\n")
            p.set(align="center", bold=False, normal_textsize=True)
            p._raw(printer_text(op.content) + b"\n")
            style = ("center", False, False)
    if cut:
        p.cut()  # ESC d 6 (feed past the cutter), GS V 0
    return bytes(p.output)


def decode_status(printer: int, cause: int, paper: int, *, where: str = "") -> PrinterStatus:
    """The three real-time status bytes (DLE EOT 1, 2, 4) as one :class:`PrinterStatus`."""
    for byte in (printer, cause, paper):
        if byte & 0x93 != 0x12:  # bits 1 and 4 always set, 0 and 7 always clear
            return PrinterStatus(PrinterState.ERROR,
                                 detail=_("unexpected status byte {byte:#04x}").format(byte=byte))
    near_end = bool(paper & 0x0C)
    if cause & 0x04:
        return PrinterStatus(PrinterState.COVER_OPEN, near_end, where)
    if cause & 0x20 or paper & 0x60 == 0x60:
        return PrinterStatus(PrinterState.PAPER_OUT, near_end, where)
    if cause & 0x40:
        return PrinterStatus(PrinterState.ERROR, near_end, _("printer error"))
    if printer & 0x08:
        return PrinterStatus(PrinterState.ERROR, near_end, _("offline"))
    return PrinterStatus(PrinterState.READY, near_end, where)


# -- connections: python-escpos printers that can read an answer within a time --------------


class NetworkLink(Network):  # type: ignore[misc]
    """python-escpos's Network printer, reading answers within a given time."""

    def read_within(self, timeout: float) -> bytes:
        assert self.device
        self.device.settimeout(max(0.01, timeout))
        try:
            return bytes(self.device.recv(16))
        except TimeoutError:
            return b""

    def drain(self) -> None:
        """Forget answers that came too late for an earlier question."""
        assert self.device
        self.device.settimeout(0.0)
        try:
            for _round in range(64):
                if not self.device.recv(64):
                    break
        except (BlockingIOError, OSError):
            pass

    def send(self, data: bytes, timeout: float) -> None:
        assert self.device
        self.device.settimeout(timeout)
        self.device.sendall(data)


class DeviceLink(File):  # type: ignore[misc]
    """A printer on a device file (USB printer class, serial port), read and written."""

    _fd: int | None = None

    def open(self, raise_not_found: bool = True) -> None:
        self._fd = os.open(self.devfile, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.device = self  # python-escpos only checks that there is one

    def _raw(self, msg: bytes) -> None:
        self.send(msg, 10.0)

    def send(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(self.devfile)
            if self._fd is None:
                raise OSError(self.devfile)
            _r, ready, _x = select.select([], [self._fd], [], left)
            if ready:
                written = os.write(self._fd, view)
                view = view[written:]

    def read_within(self, timeout: float) -> bytes:
        if self._fd is None:
            return b""
        ready, _w, _x = select.select([self._fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self._fd, 16)
        except BlockingIOError:
            return b""

    def drain(self) -> None:
        for _round in range(64):
            if not self.read_within(0.0):
                break

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._device = False


Link = NetworkLink | DeviceLink


class EscposPrinter(Printer):
    """An ESC/POS printer (and the cash drawer on its drawer port)."""

    def __init__(self, connect: Callable[[], Any], *, layout: RollLayout = ROLL_80,
                 description: str = "", drawer_pin: int = DRAWER_PIN,
                 status_timeout: float = 2.0, finish_timeout: float = 20.0,
                 send_timeout: float = 10.0, logo: Image.Image | None = None) -> None:
        self._connect = connect
        self.layout = layout
        self.description = description
        self.drawer_pin = drawer_pin
        self.status_timeout = status_timeout
        self.finish_timeout = finish_timeout
        self.send_timeout = send_timeout
        self.logo = logo

    @classmethod
    def network(cls, host: str, port: int = 9100, *, connect_timeout: float = 3.0,
                **kw: Any) -> EscposPrinter:
        def connect() -> NetworkLink:
            link = NetworkLink(host=host, port=port, timeout=connect_timeout)
            link.open()
            return link

        return cls(connect, description=f"{host}:{port}", **kw)

    @classmethod
    def device(cls, path: str | Path, **kw: Any) -> EscposPrinter:
        def connect() -> DeviceLink:
            link = DeviceLink(devfile=str(path), auto_flush=False)
            link.open()
            return link

        return cls(connect, description=str(path), **kw)

    # -- the three things a printer does ---------------------------------------------------

    def status(self) -> PrinterStatus:
        link = self._open()
        if link is None:
            return PrinterStatus(PrinterState.OFFLINE, detail=self.description)
        try:
            return self._status(link)
        finally:
            self._close(link)

    def print_ticket(self, doc: TicketDocument, *, copy: str = "") -> PrintResult:
        ops = ticket_ops(doc, columns=self.layout.columns, copy=copy)
        return self.print_job(render_job(ops, self.layout, logo=self.logo))

    def print_lines(self, lines: list[str], *, title: str = "") -> PrintResult:
        ops = slip_ops(lines, columns=self.layout.columns, title=title)
        return self.print_job(render_job(ops, self.layout, logo=self.logo))

    def open_drawer(self) -> PrintResult:
        p = Dummy(profile="default")
        p.cashdraw(self.drawer_pin)  # ESC p m t1 t2
        return self.print_job(bytes(p.output))

    # -- the protocol ---------------------------------------------------------------------

    def print_job(self, job: bytes) -> PrintResult:
        """Status, job, GS r 1 confirmation, status; *printed* only when all said yes."""
        link = self._open()
        if link is None:
            return PrintResult.failed(PrinterState.OFFLINE, self.description)
        try:
            before = self._status(link)
            if not before.ready:
                return PrintResult.from_status(before)
            try:
                link.send(job + TRANSMIT_PAPER_STATUS, self.send_timeout)
            except OSError:
                return PrintResult.failed(PrinterState.OFFLINE, self.description)
            answer = self._ask(link, b"", self.finish_timeout)
            if answer is None:
                return PrintResult.failed(PrinterState.OFFLINE, self.description)
            if answer & 0x0C:  # paper end while printing
                return PrintResult.failed(PrinterState.PAPER_OUT)
            return PrintResult.from_status(self._status(link))
        finally:
            self._close(link)

    def _open(self) -> Any | None:
        try:
            return self._connect()
        except Exception:  # DeviceNotFoundError, OSError, refused, unreachable, no such file
            return None

    @staticmethod
    def _close(link: Any) -> None:
        try:
            link.close()
        except OSError:
            pass

    def _ask(self, link: Any, question: bytes, timeout: float) -> int | None:
        """Send ``question`` (if any) and wait for one answer byte, at most ``timeout``."""
        try:
            if question:
                link.drain()
                link.send(question, self.send_timeout)
            deadline = time.monotonic() + timeout
            for _round in range(1000):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                data = link.read_within(left)
                if data:
                    return data[-1]
            return None
        except OSError:
            return None

    def _status(self, link: Any) -> PrinterStatus:
        answers: list[int] = []
        for question in (STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER):
            answer = self._ask(link, question, self.status_timeout)
            if answer is None:
                return PrinterStatus(PrinterState.OFFLINE, detail=self.description)
            answers.append(answer)
        return decode_status(*answers, where=self.description)
