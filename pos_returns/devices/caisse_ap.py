"""Caisse-AP over IP: the till's client for French payment terminals.

Caisse-AP is the till-to-terminal protocol of the Association du paiement;
since its version 3 it runs over TCP (port 8888 by default). A message is a
run of ASCII fields, each a 2-letter tag, a 3-digit length and the value; the
protocol version CZ comes first, the order of the others does not matter.

Request (one per TCP connection)::

    CZ 0300          protocol version
    CJ 012345678901  protocol identifier (required; terminals ignore its value)
    CA 01            till number (2 digits)
    CE 978           currency (ISO 4217 numeric, 978 = euro)
    CD 0 | 1         action: 0 debit (payment), 1 credit (refund)
    CB 4940          amount in cents, at least 2 digits, at most 12, no padding

Answer: AE (10 success, 01 failure), AF (the failure's reason), CC (card
application), CI (read mode), AA/AB/AC/AI (transaction identifiers) and the
echo of CA, CB, CD, CE. The field formats and AF codes follow the OCA module
``l10n_fr_pos_caisse_ap_ip`` (OCA/l10n-france), a public till-side
implementation; the association's specification is the reference.

How an answer is judged (see docs/payment-terminal.md):

- could not connect: nothing was sent, ``DECLINED`` (code ``unreachable``);
- AE=10 and CA, CB, CD, CE echo the request: ``APPROVED``;
- AE=10 with a missing or different echo: ``UNKNOWN``. The terminal says some
  operation succeeded, but not the one asked for (e.g. another amount): money
  did move, we cannot say how much, so the till does not decide — « à vérifier »;
- AE=01: ``DECLINED`` with the AF reason in French; if it echoes fields that
  differ from the request, it is not about our request: ``UNKNOWN``;
- any other status, an unreadable answer, the connection dropped after
  sending, or no answer within the timeout: ``UNKNOWN``.

Every socket operation has a timeout; the read loop is bounded in bytes and in time.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Mapping

from pos_returns.config import TillConfig
from pos_returns.devices.terminal import (
    TRANSACTION_TAGS,
    Action,
    Outcome,
    PaymentTerminal,
    TerminalResult,
    check_amount,
)
from pos_returns.errors import InvalidInput
from pos_returns.i18n import N_, _

log = logging.getLogger(__name__)

DEFAULT_PORT = 8888
PROTOCOL_VERSION = "0300"
PROTOCOL_ID = "012345678901"
CURRENCY_EUR = "978"
MAX_MESSAGE_BYTES = 8192  # a real answer is a few hundred bytes
STATUS_SUCCESS = "10"
STATUS_FAILURE = "01"
ECHOED_TAGS = ("CA", "CB", "CD", "CE")
REQUEST_TAGS = ("CZ", "CJ", "CA", "CE", "CD", "CB")
ACTION_CODES = {Action.DEBIT: "0", Action.CREDIT: "1"}

# Failure reasons (field AF), as the terminal reports them.
AF_REASONS: Mapping[str, str] = {
    "00": N_("unknown reason"),
    "01": N_("transaction authorised"),
    "02": N_("voice authorisation call required"),
    "03": N_("forced transaction"),
    "04": N_("refused"),
    "05": N_("forbidden"),
    "06": N_("abandoned"),
    "07": N_("not completed"),
    "08": N_("not done: the entry timed out"),
    "09": N_("not done: message format error"),
    "10": N_("not done: selection error"),
    "11": N_("not done: cancelled by the operator"),
    "12": N_("not done: unknown action type"),
    "13": N_("currency not supported"),
}


class MalformedMessage(ValueError):
    """Bytes that are not a well-formed Caisse-AP message (for logs and tests)."""


def af_reason(code: str) -> str:
    """The terminal's failure reason in the till's language."""
    label = AF_REASONS.get(code)
    if label:
        return _(label)
    if code:
        return _("reason code {code}").format(code=code)
    return _(AF_REASONS["00"])


def encode_field(tag: str, value: str) -> str:
    if len(tag) != 2 or not tag.isascii() or not tag.isalnum() or not tag.isupper():
        raise MalformedMessage(f"bad tag {tag!r}")
    if not value.isascii() or not 1 <= len(value) <= 999:
        raise MalformedMessage(f"bad value for {tag}: {value!r}")
    return f"{tag}{len(value):03d}{value}"


def encode_message(fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """Fields -> bytes, CZ first (added with the default version when absent)."""
    items = list(fields.items() if isinstance(fields, Mapping) else fields)
    version = next((v for t, v in items if t == "CZ"), PROTOCOL_VERSION)
    rest = [(t, v) for t, v in items if t != "CZ"]
    tags = [t for t, _v in rest]
    if len(set(tags)) != len(tags):
        raise MalformedMessage("duplicate tag")
    text = encode_field("CZ", version) + "".join(encode_field(t, v) for t, v in rest)
    return text.encode("ascii")


def _scan(data: bytes) -> tuple[list[tuple[str, str]], int]:
    """Parse as many whole fields as ``data`` holds; return them and the bytes used."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedMessage("not ASCII") from exc
    out: list[tuple[str, str]] = []
    i = 0
    while i + 5 <= len(text):
        tag, size = text[i:i + 2], text[i + 2:i + 5]
        if not (tag.isalnum() and tag.isupper()):
            raise MalformedMessage(f"bad tag {tag!r} at {i}")
        if not size.isdigit():
            raise MalformedMessage(f"bad length {size!r} for {tag}")
        end = i + 5 + int(size)
        if end > len(text):
            break
        out.append((tag, text[i + 5:end]))
        i = end
    return out, i


def is_complete(data: bytes) -> bool:
    """True when ``data`` is a non-empty run of whole fields (more may still follow)."""
    if not data:
        return False
    try:
        _fields, used = _scan(data)
    except MalformedMessage:
        return True  # nothing will make it whole: stop reading, the parse will say why
    return used == len(data)


def parse_message(data: bytes) -> dict[str, str]:
    """Bytes -> {tag: value}; raises :class:`MalformedMessage` on anything not whole and clean."""
    if not data:
        raise MalformedMessage("empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"longer than {MAX_MESSAGE_BYTES} bytes")
    fields, used = _scan(data)
    if used != len(data):
        raise MalformedMessage(f"truncated after {used} of {len(data)} bytes")
    out: dict[str, str] = {}
    for tag, value in fields:
        if tag in out:
            raise MalformedMessage(f"duplicate tag {tag}")
        out[tag] = value
    return out


def build_request(*, action: Action, amount_cents: int, till_no: int,
                  version: str = PROTOCOL_VERSION, protocol_id: str = PROTOCOL_ID,
                  currency: str = CURRENCY_EUR) -> dict[str, str]:
    """The request's fields, in the order they are sent (CZ first)."""
    check_amount(amount_cents)
    if not 1 <= till_no <= 99:
        raise InvalidInput(_("The till number must be between 1 and 99."), code="terminal_till")
    return {
        "CZ": version,
        "CJ": protocol_id,
        "CA": f"{till_no:02d}",
        "CE": currency,
        "CD": ACTION_CODES[action],
        "CB": str(amount_cents).zfill(2),
    }


def _to_check() -> str:
    return _("Check the payment terminal's receipt before doing anything else: "
             "the operation is « to be checked ».")


def _echo_problem(request: Mapping[str, str], answer: Mapping[str, str], *,
                  required: bool) -> str:
    """Why the echoed fields do not match the request; empty when they do."""
    for tag in ECHOED_TAGS:
        got = answer.get(tag)
        if not got:
            if required:
                return _("the field {tag} is missing").format(tag=tag)
            continue
        sent = request[tag]
        same = (got.lstrip("0") == sent.lstrip("0") and got.isdigit()) if tag == "CB" \
            else got == sent
        if not same:
            return _("{tag} sent {sent}, received {received}").format(
                tag=tag, sent=sent, received=got)
    return ""


def judge_answer(request: Mapping[str, str], answer: Mapping[str, str], *,
                 action: Action, amount_cents: int, reference: str) -> TerminalResult:
    """Turn a parsed answer into an outcome (see the module's docstring)."""
    base = dict(action=action, amount_cents=amount_cents, reference=reference,
                raw=dict(answer))
    status = answer.get("AE", "")
    if status == STATUS_SUCCESS:
        problem = _echo_problem(request, answer, required=True)
        if problem:
            return TerminalResult(
                Outcome.UNKNOWN, reason_code="echo_mismatch",
                message=_("The payment terminal's answer does not match the request "
                          "({problem}).").format(problem=problem) + " " + _to_check(),
                **base)  # type: ignore[arg-type]
        return TerminalResult(
            Outcome.APPROVED,
            card_application=answer.get("CC", ""),
            read_mode=answer.get("CI", ""),
            transaction_ids={t: answer[t] for t in TRANSACTION_TAGS if answer.get(t)},
            **base)  # type: ignore[arg-type]
    if status == STATUS_FAILURE:
        problem = _echo_problem(request, answer, required=False)
        if problem:
            return TerminalResult(
                Outcome.UNKNOWN, reason_code="echo_mismatch",
                message=_("The payment terminal's answer does not match the request "
                          "({problem}).").format(problem=problem) + " " + _to_check(),
                **base)  # type: ignore[arg-type]
        code = answer.get("AF", "")
        return TerminalResult(
            Outcome.DECLINED, reason_code=code or "00",
            message=_("The payment terminal declined: {reason}.").format(
                reason=af_reason(code)),
            **base)  # type: ignore[arg-type]
    return TerminalResult(
        Outcome.UNKNOWN, reason_code="status",
        message=_("The payment terminal's answer has an invalid status (AE={status}).").format(
            status=status or "—") + " " + _to_check(),
        **base)  # type: ignore[arg-type]


class CaisseAPClient(PaymentTerminal):
    """Caisse-AP over IP: one TCP connection per operation.

    ``timeout_seconds`` is how long the till waits for the answer once the
    request is sent (the customer has to present the card: ~90 s);
    ``connect_timeout_seconds`` bounds the connection. When the answer is
    whole but the terminal keeps the connection open, the till waits
    ``drain_seconds`` more for any further field before it judges it (a
    terminal that closes after answering costs nothing).
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, till_no: int = 1,
                 timeout_seconds: float = 90.0, connect_timeout_seconds: float = 5.0,
                 drain_seconds: float = 0.2) -> None:
        if not host:
            raise InvalidInput(_("No payment terminal address is configured."),
                               code="terminal_host")
        self.host = host
        self.port = port
        self.till_no = till_no
        self.timeout_seconds = timeout_seconds
        self.connect_timeout_seconds = min(connect_timeout_seconds, timeout_seconds)
        self.drain_seconds = drain_seconds

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def refund(self, amount_cents: int, *, reference: str) -> TerminalResult:
        return self.operate(Action.CREDIT, amount_cents, reference=reference)

    def pay(self, amount_cents: int, *, reference: str) -> TerminalResult:
        return self.operate(Action.DEBIT, amount_cents, reference=reference)

    def operate(self, action: Action, amount_cents: int, *, reference: str) -> TerminalResult:
        request = build_request(action=action, amount_cents=amount_cents, till_no=self.till_no)
        payload = encode_message(request)
        base = dict(action=action, amount_cents=amount_cents, reference=reference)
        log.info("terminal %s: %s %s cents (ref %s)", self.address, action, amount_cents,
                 reference)
        try:
            sock = socket.create_connection((self.host, self.port),
                                            timeout=self.connect_timeout_seconds)
        except OSError as exc:
            log.warning("terminal %s unreachable: %s", self.address, exc)
            return TerminalResult(
                Outcome.DECLINED, reason_code="unreachable",
                message=_("The payment terminal cannot be reached ({address}): {error}. "
                          "Nothing was sent; you can try again.").format(
                    address=self.address, error=_describe(exc)),
                **base)  # type: ignore[arg-type]
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # From here on, the terminal may have received the request: never "declined".
            try:
                sock.settimeout(self.timeout_seconds)
                sock.sendall(payload)
                data = self._read_answer(sock)
            except TimeoutError:
                log.warning("terminal %s: no answer in %s s", self.address, self.timeout_seconds)
                return TerminalResult(
                    Outcome.UNKNOWN, reason_code="timeout",
                    message=_("No answer from the payment terminal within {seconds} s.").format(
                        seconds=f"{self.timeout_seconds:g}") + " " + _to_check(),
                    **base)  # type: ignore[arg-type]
            except OSError as exc:
                log.warning("terminal %s: connection lost: %s", self.address, exc)
                return self._disconnected(base, exc)
        if not data:
            return self._disconnected(base, None)
        try:
            answer = parse_message(data)
        except MalformedMessage as exc:
            log.warning("terminal %s: unreadable answer %r (%s)", self.address, data[:200], exc)
            return TerminalResult(
                Outcome.UNKNOWN, reason_code="malformed",
                message=_("The payment terminal's answer cannot be read.") + " " + _to_check(),
                raw={"_bytes": data[:200].decode("ascii", "replace")},
                **base)  # type: ignore[arg-type]
        result = judge_answer(request, answer, action=action, amount_cents=amount_cents,
                              reference=reference)
        log.info("terminal %s: %s (%s)", self.address, result.outcome, result.reason_code)
        return result

    def _disconnected(self, base: dict[str, object], exc: OSError | None) -> TerminalResult:
        return TerminalResult(
            Outcome.UNKNOWN, reason_code="disconnected",
            message=_("The connection to the payment terminal was lost before its answer.")
            + " " + _to_check(),
            **base)  # type: ignore[arg-type]

    def _read_answer(self, sock: socket.socket) -> bytes:
        """Read until the terminal closes, or the answer is whole and nothing more comes.

        Raises ``TimeoutError`` when no whole answer came within the timeout.
        """
        deadline = time.monotonic() + self.timeout_seconds
        data = b""
        whole = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if whole:
                    return data
                raise TimeoutError
            sock.settimeout(min(remaining, self.drain_seconds) if whole else remaining)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                if whole:
                    return data  # whole, and the terminal said nothing more
                raise
            if not chunk:
                return data  # the terminal closed: what we have is all there is
            data += chunk
            if len(data) > MAX_MESSAGE_BYTES:
                return data  # the parse refuses it
            whole = is_complete(data)


def terminal_from_config(config: TillConfig) -> CaisseAPClient | None:
    """The till's terminal as configured; ``None`` when ``terminal_host`` is empty."""
    if not config.terminal_host:
        return None
    return CaisseAPClient(config.terminal_host, config.terminal_port, till_no=config.till_no,
                          timeout_seconds=float(config.terminal_timeout_seconds))


def _describe(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return _("connection refused")
    if isinstance(exc, TimeoutError):
        return _("no answer")
    if isinstance(exc, socket.gaierror):
        return _("unknown address")
    return exc.strerror or exc.__class__.__name__
