"""A payment terminal simulator: a real TCP server speaking Caisse-AP over IP.

For the demo and the tests (the till's fake terminal)::

    python -m pos_returns.devices.tpe_simulator --port 8888 [--script FILE] [--delay S]
    pos-returns tpe-simulator --port 8888 [--script FILE]

Each incoming request takes the next step of the script; once the script is
used up, every request is approved. A step is a table with an ``outcome``:

==================  =====================================================
``approve``         AE=10, the request echoed, a card application (CC),
                    a read mode (CI) and transaction identifiers (AA/AB/AC)
``decline``         AE=01 with the reason ``af`` (default "04", refused)
``abort``           AE=01, AF=06: the customer abandoned on the terminal
``hang``            reads the request and never answers (until the till
                    closes the connection, at most ``hang_limit`` seconds)
``disconnect``      reads the request and closes without answering
``wrong_amount``    AE=10 but echoes another amount (``amount``, default
                    the request's plus one cent)
``garbage``         answers bytes that are not a Caisse-AP message
==================  =====================================================

Optional keys of a step: ``delay`` (seconds before answering), ``af``,
``card`` (CC, default "00B": CB contactless), ``read_mode`` (CI, default "2"),
``amount`` (cents echoed by ``wrong_amount``).

The script file is JSON (a list of steps, or ``{"steps": [...]}``) or TOML
(``[[step]]`` tables)::

    [{"outcome": "decline", "af": "04"}, {"outcome": "approve", "delay": 2}]

A request the terminal could not carry out is answered as a real one would:
another currency than the euro -> AF 13, an unknown action -> AF 12, a bad
amount -> AF 09. The simulator writes what it receives and answers, in French.
It listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import select
import signal
import socket
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pos_returns.devices.caisse_ap import (
    CURRENCY_EUR,
    MAX_MESSAGE_BYTES,
    REQUEST_TAGS,
    STATUS_FAILURE,
    STATUS_SUCCESS,
    MalformedMessage,
    encode_message,
    is_complete,
    parse_message,
)
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _, format_money, set_language

OUTCOMES = ("approve", "decline", "abort", "hang", "disconnect", "wrong_amount", "garbage")
REQUEST_READ_SECONDS = 10.0  # a till sends its request at once
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Step:
    outcome: str = "approve"
    af: str = "04"
    delay: float = 0.0
    card: str = "00B"
    read_mode: str = "2"
    amount: int | None = None
    hang_limit: float = 600.0

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise InvalidInput(
                _("Unknown simulator outcome “{outcome}” (expected one of: {known}).").format(
                    outcome=self.outcome, known=", ".join(OUTCOMES)),
                code="simulator_script")
        if not (len(self.af) == 2 and self.af.isdigit()):
            raise InvalidInput(_("The AF code of a simulator step must be 2 digits."),
                               code="simulator_script")
        if self.delay < 0 or self.hang_limit < 0:
            raise InvalidInput(_("A simulator delay cannot be negative."),
                               code="simulator_script")


def parse_script(data: Any) -> list[Step]:
    """A parsed JSON/TOML document -> steps (see the module's docstring)."""
    if isinstance(data, dict):
        data = data.get("steps", data.get("step", []))
    if not isinstance(data, list):
        raise InvalidInput(_("A simulator script is a list of steps."), code="simulator_script")
    steps = []
    known = set(Step.__dataclass_fields__)
    for item in data:
        if isinstance(item, str):
            item = {"outcome": item}
        if not isinstance(item, dict) or set(item) - known:
            raise InvalidInput(
                _("Bad simulator step: {step!r}.").format(step=item), code="simulator_script")
        try:
            steps.append(Step(**item))
        except TypeError as exc:
            raise InvalidInput(
                _("Bad simulator step: {step!r}.").format(step=item),
                code="simulator_script") from exc
    return steps


def load_script(path: Path | str) -> list[Step]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            _("Cannot read the simulator script {path}: {error}").format(path=path, error=exc),
            code="simulator_script") from exc
    return parse_script(data)


def _say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", flush=True)


class TerminalSimulator:
    """The server. ``start()`` runs it on a thread; ``serve()`` runs it here until ``stop()``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, script: Iterable[Step] = (),
                 delay: float = 0.0, log: Callable[[str], None] = _say,
                 lifetime: float = 0.0) -> None:
        self._steps = iter(list(script))
        self.delay = delay
        # 0: until stopped; else the simulator stops by itself after this many seconds
        # (tests: a simulator whose test process died never outlives it for long).
        self.lifetime = lifetime
        self.log = log
        self.requests: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._counter = itertools.count(1)
        self._sock = socket.create_server((host, port))
        self._sock.settimeout(POLL_SECONDS)
        self.host, self.port = self._sock.getsockname()[:2]

    def next_step(self) -> Step:
        return next(self._steps, None) or Step(delay=self.delay)

    # -- running -------------------------------------------------------------------------
    def start(self) -> TerminalSimulator:
        self._thread = threading.Thread(target=self.serve, name="tpe-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> TerminalSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self) -> None:
        self.log(_("Payment terminal simulator listening on {host}:{port}.").format(
            host=self.host, port=self.port))
        end = time.monotonic() + self.lifetime if self.lifetime else None
        while not self._stop.is_set():
            if end is not None and time.monotonic() > end:
                break
            try:
                conn, _peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with conn:
                try:
                    self._handle(conn)
                except OSError as exc:
                    self.log(_("Connection with the till lost: {error}").format(error=exc))
        self.log(_("Payment terminal simulator stopped."))

    # -- one operation ---------------------------------------------------------------------
    def _read_request(self, conn: socket.socket) -> bytes:
        deadline = time.monotonic() + REQUEST_READ_SECONDS
        data = b""
        while len(data) <= MAX_MESSAGE_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            conn.settimeout(remaining)
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            if is_complete(data):
                try:
                    if set(REQUEST_TAGS) <= set(parse_message(data)):
                        break
                except MalformedMessage:
                    break
        return data

    def _handle(self, conn: socket.socket) -> None:
        data = self._read_request(conn)
        if not data:
            self.log(_("Connection closed by the till without a request."))
            return
        step = self.next_step()
        try:
            request = parse_message(data)
        except MalformedMessage as exc:
            self.log(_("Unreadable request ({error}): answered AF 09.").format(error=exc))
            self._send(conn, {"AE": STATUS_FAILURE, "AF": "09"})
            return
        self.requests.append(request)
        kind = {"0": _("payment"), "1": _("refund")}.get(request.get("CD", ""), "?")
        amount = request.get("CB", "")
        shown = format_money(int(amount)) if amount.isdigit() else repr(amount)
        self.log(_("Request received: {kind} of {amount} (till {till}); scripted: {outcome}.")
                 .format(kind=kind, amount=shown, till=request.get("CA", "?"),
                         outcome=step.outcome))
        if step.outcome == "disconnect":
            self.log(_("Closing the connection without answering."))
            return
        if step.delay and self._stop.wait(step.delay):
            return
        if step.outcome == "hang":
            self.log(_("No answer: waiting until the till gives up."))
            self._hang(conn, step.hang_limit)
            self.log(_("The till closed the connection."))
            return
        if step.outcome == "garbage":
            conn.sendall(b"\x00BONJOUR?")
            self.log(_("Answered bytes that are not a Caisse-AP message."))
            return
        answer = self._answer(request, step)
        self._send(conn, answer)

    def _hang(self, conn: socket.socket, limit: float) -> None:
        deadline = time.monotonic() + limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            ready, _w, _x = select.select([conn], [], [], POLL_SECONDS)
            if ready:
                try:
                    if not conn.recv(4096):
                        return
                except OSError:
                    return

    def _answer(self, request: dict[str, str], step: Step) -> dict[str, str]:
        echo: dict[str, str] = {t: request[t] for t in ("CA", "CB", "CD", "CE") if t in request}
        base = {"CZ": request.get("CZ", "0300")}
        refusal = ""
        if request.get("CE") != CURRENCY_EUR:
            refusal = "13"
        elif request.get("CD") not in ("0", "1"):
            refusal = "12"
        elif not request.get("CB", "").isdigit() or not 2 <= len(request["CB"]) <= 12:
            refusal = "09"
        elif step.outcome == "decline":
            refusal = step.af
        elif step.outcome == "abort":
            refusal = "06"
        if refusal:
            return {**base, "AE": STATUS_FAILURE, "AF": refusal, **echo}
        if step.outcome == "wrong_amount":
            wrong = step.amount if step.amount is not None else int(request["CB"]) + 1
            echo["CB"] = str(wrong).zfill(2)
        number = next(self._counter)
        return {
            **base, "AE": STATUS_SUCCESS, **echo,
            "CB": echo["CB"].zfill(12),  # terminals zero-pad the echoed amount
            "CC": step.card, "CI": step.read_mode,
            "AA": f"{(number * 7919) % 1_000_000:06d}",
            "AB": f"{number:06d}",
            "AC": f"{datetime.now():%Y%m%d}",
        }

    def _send(self, conn: socket.socket, answer: dict[str, str]) -> None:
        conn.sendall(encode_message(answer))
        if answer["AE"] == STATUS_SUCCESS:
            self.log(_("Answered: approved (authorisation {auth}, echoed amount {amount}).")
                     .format(auth=answer["AA"], amount=answer["CB"].lstrip("0") or "0"))
        else:
            self.log(_("Answered: failure, reason AF {af}.").format(af=answer["AF"]))


def main(argv: Sequence[str] | None = None) -> int:
    set_language("fr")
    parser = argparse.ArgumentParser(
        prog="pos-returns tpe-simulator",
        description=_("A payment terminal simulator speaking Caisse-AP over IP."))
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help=_("the address to listen on (default: 127.0.0.1)"))
    parser.add_argument("--port", type=int, default=8888, help=_("the TCP port (default: 8888)"))
    parser.add_argument("--script", type=Path, default=None,
                        help=_("the scripted outcomes, JSON or TOML (docs/payment-terminal.md)"))
    parser.add_argument("--delay", type=float, default=0.0,
                        help=_("seconds before each answer not scripted otherwise"))
    parser.add_argument("--ready-file", type=Path, default=None,
                        help=_("write the listening port to this file once listening"))
    parser.add_argument("--lifetime", type=float, default=0.0,
                        help=_("stop by itself after this many seconds (0: until stopped)"))


def run(args: argparse.Namespace) -> int:
    try:
        script = load_script(args.script) if args.script else []
        sim = TerminalSimulator(host=args.host, port=args.port, script=script, delay=args.delay,
                                lifetime=args.lifetime)
    except InvalidInput as exc:
        print(exc, file=sys.stderr)
        return 2
    except OSError as exc:
        print(_("Cannot listen on {host}:{port}: {error}").format(
            host=args.host, port=args.port, error=exc), file=sys.stderr)
        return 2

    def _stop(signum: int, frame: object) -> None:
        sim._stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.ready_file:
        tmp = Path(f"{args.ready_file}.tmp")
        tmp.write_text(str(sim.port), encoding="ascii")
        tmp.replace(args.ready_file)
    try:
        sim.serve()
    finally:
        sim._sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
