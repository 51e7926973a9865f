"""A fake ESC/POS printer for the tests, and a decoder of ESC/POS byte streams.

:class:`FakeEscposPrinter` is a real TCP server on 127.0.0.1 (a free port) that
records every byte it receives and answers the real-time status queries
(DLE EOT 1/2/4) and GS r 1 the way a printer in the chosen state would — or never
answers (``mode="silent"``). :func:`decode` reads a stream back into events a test
can assert on: printed lines (with alignment, emphasis, size), barcodes (GS k, Code
128 payload decoded from its code sets), images (GS v 0), cuts (GS V), drawer pulses
(ESC p) and status queries. The decoder is strict: an unknown command fails the test.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from dataclasses import dataclass, field

CODE_PAGES = {0: "cp437", 2: "cp850", 16: "cp1252", 19: "cp858"}

# answers a printer gives (fixed bits 1 and 4 set): DLE EOT 1, 2, 4 and GS r 1
READY = {1: 0x12, 2: 0x12, 4: 0x12}
PAPER_OUT = {1: 0x1A, 2: 0x32, 4: 0x7E}  # offline, "stopped: paper end", sensors: end
COVER_OPEN = {1: 0x1A, 2: 0x16, 4: 0x12}  # offline, "cover open"
GS_R_OK, GS_R_PAPER_END = 0x00, 0x0F


@dataclass
class Event:
    kind: str  # line | barcode | image | cut | drawer | status | transmit | init | feed
    value: object = None
    style: dict[str, object] = field(default_factory=dict)


class Incomplete(Exception):
    """The stream stops in the middle of a command (wait for more bytes)."""


class Decoder:
    """Reads ESC/POS commands one by one; keeps the style state between them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.codepage = 0
        self.align = 0
        self.bold = False
        self.mode = 0  # ESC ! n
        self.bar_w, self.bar_h, self.hri = 3, 162, 0
        self._line = bytearray()
        self._line_style: dict[str, object] = {}

    def _style(self) -> dict[str, object]:
        return {"align": ("left", "center", "right")[self.align], "bold": self.bold,
                "big": bool(self.mode & 0x30)}

    def _flush_line(self) -> None:
        text = bytes(self._line).decode(CODE_PAGES.get(self.codepage, "cp437"))
        self.events.append(Event("line", text, self._line_style or self._style()))
        self._line.clear()
        self._line_style = {}

    def feed(self, buf: bytes, pos: int) -> int:
        """Decode one command or character at ``pos``; return the next position."""
        def need(n: int) -> bytes:
            if pos + n > len(buf):
                raise Incomplete
            return buf[pos:pos + n]

        b = buf[pos]
        if b == 0x0A:
            self._flush_line()
            return pos + 1
        if b >= 0x20:
            if not self._line:
                self._line_style = self._style()
            self._line.append(b)
            return pos + 1
        if b == 0x10:  # DLE EOT n
            cmd = need(3)
            assert cmd[1] == 0x04, f"unknown DLE command {cmd!r}"
            self.events.append(Event("status", cmd[2]))
            return pos + 3
        if b == 0x1B:
            op = need(2)[1]
            if op == ord("@"):
                self.events.append(Event("init"))
                self.codepage, self.align, self.bold, self.mode = 0, 0, False, 0
                return pos + 2
            if op in b"tEa!-M{d2":
                if op == ord("2"):
                    return pos + 2
                n = need(3)[2]
                if op == ord("t"):
                    self.codepage = n
                elif op == ord("E"):
                    self.bold = bool(n & 1)
                elif op == ord("a"):
                    self.align = n % 48 if n >= 48 else n
                elif op == ord("!"):
                    self.mode = n
                    self.bold = bool(n & 0x08) or self.bold
                elif op == ord("d"):
                    self.events.append(Event("feed", n))
                return pos + 3
            if op == ord("3"):
                need(3)
                return pos + 3
            if op == ord("p"):
                cmd = need(5)
                self.events.append(Event("drawer", {"pin": cmd[2] & 1, "on_ms": cmd[3] * 2,
                                                    "off_ms": cmd[4] * 2}))
                return pos + 5
            raise AssertionError(f"unknown ESC command {bytes([b, op])!r}")
        if b == 0x1D:
            op = need(2)[1]
            if op in b"hwfHbB!r":
                n = need(3)[2]
                if op == ord("h"):
                    self.bar_h = n
                elif op == ord("w"):
                    self.bar_w = n
                elif op == ord("H"):
                    self.hri = n
                elif op == ord("r"):
                    self.events.append(Event("transmit", n))
                return pos + 3
            if op == ord("V"):
                m = need(3)[2]
                if m in (65, 66):
                    need(4)
                    self.events.append(Event("cut", m))
                    return pos + 4
                self.events.append(Event("cut", m))
                return pos + 3
            if op == ord("k"):
                m = need(3)[2]
                assert m == 73, f"barcode type {m} is not Code 128 (function B)"
                n = need(4)[3]
                data = need(4 + n)[4:]
                self.events.append(Event("barcode", code128_text(data),
                                         {"module_dots": self.bar_w, "height": self.bar_h,
                                          "hri": self.hri, "payload": data}))
                return pos + 4 + n
            if op == ord("v"):
                head = need(8)
                assert head[2] == ord("0")
                width_bytes = head[4] + 256 * head[5]
                height = head[6] + 256 * head[7]
                need(8 + width_bytes * height)
                self.events.append(Event("image", (width_bytes * 8, height), self._style()))
                return pos + 8 + width_bytes * height
            raise AssertionError(f"unknown GS command {bytes([b, op])!r}")
        raise AssertionError(f"unexpected control byte {b:#04x} at {pos}")


def code128_text(payload: bytes) -> str:
    """The text of an ESC/POS Code 128 payload (``{A``/``{B``/``{C`` code sets)."""
    out, codeset, i = [], "", 0
    while i < len(payload):
        if payload[i] == ord("{"):
            nxt = chr(payload[i + 1])
            if nxt in "ABC":
                codeset = nxt
            elif nxt == "{":
                out.append("{")
            i += 2
            continue
        assert codeset, "a Code 128 payload starts with a code set"
        out.append(f"{payload[i]:02d}" if codeset == "C" else chr(payload[i]))
        i += 1
    return "".join(out)


def decode(stream: bytes) -> list[Event]:
    decoder = Decoder()
    pos = 0
    while pos < len(stream):
        pos = decoder.feed(stream, pos)
    return decoder.events


def lines(events: list[Event]) -> list[str]:
    return [str(e.value) for e in events if e.kind == "line"]


class FakeEscposPrinter:
    """A TCP server on 127.0.0.1 speaking ESC/POS status back; records what it receives.

    ``mode``: ``"ready"``; ``"paper_out"`` / ``"cover_open"`` from the start;
    ``"runs_out"`` (ready, then out of paper while printing: GS r 1 says paper end and
    DLE EOT reports it after); ``"silent"`` (takes the bytes, never answers);
    ``"no_confirm"`` (answers status, never GS r 1).
    """

    def __init__(self, mode: str = "ready") -> None:
        self.mode = mode
        self.received = bytearray()
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._lock = threading.Lock()
        self._printed_job = False

    def __enter__(self) -> FakeEscposPrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def events(self) -> list[Event]:
        with self._lock:
            return decode(bytes(self.received))

    def _status(self, n: int) -> int:
        if self.mode == "paper_out" or (self.mode == "runs_out" and self._printed_job):
            return PAPER_OUT[n]
        if self.mode == "cover_open":
            return COVER_OPEN[n]
        return READY.get(n, 0x12)

    def _answer(self, event: Event) -> bytes:
        if self.mode == "silent":
            return b""
        if event.kind == "status":
            return bytes([self._status(int(event.value))])  # type: ignore[arg-type]
        if event.kind == "transmit":
            self._printed_job = True
            if self.mode == "no_confirm":
                return b""
            return bytes([GS_R_PAPER_END if self.mode == "runs_out" else GS_R_OK])
        return b""

    def _serve(self) -> None:
        for _round in range(600):  # at most a minute of accepting (0.1 s timeout)
            if self._stop.is_set():
                return
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        decoder, buf, pos = Decoder(), bytearray(), 0
        for _round in range(600):
            if self._stop.is_set():
                return
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.received += data
            buf += data
            while pos < len(buf):
                before = len(decoder.events)
                try:
                    pos = decoder.feed(bytes(buf), pos)
                except Incomplete:
                    break
                for event in decoder.events[before:]:
                    reply = self._answer(event)
                    if reply:
                        with contextlib.suppress(OSError):
                            conn.sendall(reply)


class FakeDevicePrinter(FakeEscposPrinter):
    """The same printer on a pseudo-terminal: the till opens ``path`` as a device file."""

    def __init__(self, mode: str = "ready") -> None:
        super().__init__(mode)
        self._sock.close()
        self._master, slave = os.openpty()
        self.path = os.ttyname(slave)
        import termios
        import tty

        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self._slave = slave  # kept open so the pty lives while the test runs

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._master)
        os.close(self._slave)

    def _serve(self) -> None:
        decoder, buf, pos = Decoder(), bytearray(), 0
        for _round in range(3000):
            if self._stop.is_set():
                return
            ready, _w, _x = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            with self._lock:
                self.received += data
            buf += data
            while pos < len(buf):
                before = len(decoder.events)
                try:
                    pos = decoder.feed(bytes(buf), pos)
                except Incomplete:
                    break
                for event in decoder.events[before:]:
                    reply = self._answer(event)
                    if reply:
                        os.write(self._master, reply)
