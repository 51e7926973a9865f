"""E-mail tickets: an SMTP sender and an outbox that retries.

Since August 2023 a French store prints a receipt only when the customer asks;
the customer may take the ticket by e-mail instead. The till sends it by SMTP
(server, port, STARTTLS and account from the till's configuration) with the PDF
attached and a short French message.

The address is used to send, not kept (RGPD): a mail that goes at once leaves
nothing behind; a mail that cannot go now waits in the :class:`MailOutbox` with
its address only until it is sent or given up, and the manager's review shows
the ticket and a masked address (``j…@example.fr``). Keeping the address on the
customer's record is a separate choice the customer makes (docs/devices.md).

Every SMTP call has a timeout; a retry round sends at most ``limit`` mails.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from pathlib import Path

from pos_returns.errors import ConfigError, InvalidInput
from pos_returns.i18n import _

SMTP_TIMEOUT_SECONDS = 20
#: minutes to wait before each new attempt; after the last one the mail is given up
RETRY_MINUTES = (1, 5, 15, 60, 240, 720)
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def check_address(text: str) -> str:
    """The customer's address, trimmed; a French :class:`InvalidInput` when it is not one."""
    address = (text or "").strip()
    if len(address) > 254 or not _ADDRESS.match(address):
        raise InvalidInput(
            _("“{address}” is not an e-mail address (name@example.fr).").format(
                address=address[:60]),
            code="email",
        )
    return address


def mask_address(address: str) -> str:
    """``jeanne.dupont@example.fr`` -> ``j…@example.fr`` (for the manager's review)."""
    local, _sep, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


@dataclass(frozen=True, slots=True)
class MailSettings:
    """The SMTP account of the store (from :class:`~pos_returns.config.TillConfig`)."""

    host: str
    port: int = 587
    starttls: bool = True
    user: str = ""
    password_file: Path | None = None
    sender: str = ""
    timeout: float = SMTP_TIMEOUT_SECONDS

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    @classmethod
    def from_config(cls, cfg: object) -> MailSettings:
        path = getattr(cfg, "smtp_password_file", None)
        return cls(host=getattr(cfg, "smtp_host", ""), port=getattr(cfg, "smtp_port", 587),
                   starttls=getattr(cfg, "smtp_starttls", True),
                   user=getattr(cfg, "smtp_user", ""),
                   password_file=Path(path) if path else None,
                   sender=getattr(cfg, "mail_sender", ""))

    def password(self) -> str:
        """The account's password, read from its file (kept out of the TOML, mode 0600)."""
        if not self.user:
            return ""
        if self.password_file is None:
            raise ConfigError(_("Configuration: “smtp_user” is set but not "
                                "“smtp_password_file”."), code="config")
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                _("The SMTP password file {path} cannot be read: {error}").format(
                    path=self.password_file, error=exc.strerror or exc),
                code="config",
            ) from exc


@dataclass(frozen=True, slots=True)
class TicketMail:
    """One ticket to send: to whom, what it says, and the PDF."""

    to: str
    subject: str
    text: str
    pdf: bytes
    filename: str
    ticket_uuid: str = ""
    ticket_code: str = ""


def ticket_mail(*, to: str, ticket_code: str, ticket_uuid: str, title: str, when: str,
                store_name: str, pdf: bytes, keep_address: bool = False) -> TicketMail:
    """The French message that carries a ticket's PDF."""
    subject = _("Your Alamara ticket {code}").format(code=ticket_code)
    body = [
        _("Hello,"),
        "",
        _("Please find attached your {title} no. {code} of {when} (PDF).").format(
            title=title.lower(), code=ticket_code, when=when),
        _("Keep it: it is needed for any later exchange or return."),
        "",
        _("Thank you for your visit,"),
        _("The {store} team").format(store=store_name),
        "",
    ]
    if keep_address:
        body.append(_("At your request, this address is kept on your customer record."))
    else:
        body.append(_("This address was used only to send this ticket: it is not kept."))
    return TicketMail(to=check_address(to), subject=subject, text="\n".join(body) + "\n",
                      pdf=pdf, filename=f"{ticket_code}.pdf", ticket_uuid=ticket_uuid,
                      ticket_code=ticket_code)


def build_message(mail: TicketMail, settings: MailSettings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.sender.partition("@")[2] or None)
    msg.set_content(mail.text, charset="utf-8")
    msg.add_attachment(mail.pdf, maintype="application", subtype="pdf", filename=mail.filename)
    return msg


class SendState(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # the server could not be reached or said "later" (4xx)
    REFUSED = "refused"  # the server refused for good (5xx: no such mailbox)


@dataclass(frozen=True, slots=True)
class SendResult:
    state: SendState
    message: str = ""

    @property
    def sent(self) -> bool:
        return self.state is SendState.SENT


class MailSender(ABC):
    @abstractmethod
    def send(self, mail: TicketMail) -> SendResult:
        """Send now; never raises for a network or server failure."""


class SmtpSender(MailSender):
    """SMTP with STARTTLS (certificate checked) and login, each call bounded in time."""

    def __init__(self, settings: MailSettings, *, ssl_context: ssl.SSLContext | None = None
                 ) -> None:
        self.settings = settings
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, mail: TicketMail) -> SendResult:
        s = self.settings
        if not s.configured:
            return SendResult(SendState.REFUSED, _("No mail server is configured at this till."))
        try:
            password = s.password()
        except ConfigError as exc:
            return SendResult(SendState.RETRY, str(exc))
        where = f"{s.host}:{s.port}"
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if s.user:
                    smtp.login(s.user, password)
                smtp.send_message(build_message(mail, s))
        except smtplib.SMTPRecipientsRefused:
            return SendResult(SendState.REFUSED, _(
                "The mail server refused the address {address}: check it with the customer."
            ).format(address=mail.to))
        except smtplib.SMTPAuthenticationError:
            return SendResult(SendState.RETRY, _(
                "The mail server {server} refused the till's account: check smtp_user and "
                "its password file."
            ).format(server=where))
        except smtplib.SMTPResponseException as exc:
            state = SendState.REFUSED if 500 <= exc.smtp_code < 600 else SendState.RETRY
            return SendResult(state, _("The mail server {server} answered: {code} {error}").format(
                server=where, code=exc.smtp_code, error=_decode(exc.smtp_error)))
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            return SendResult(SendState.RETRY, _(
                "The mail server {server} cannot be reached ({error}): the ticket will be "
                "sent again automatically."
            ).format(server=where, error=exc.__class__.__name__))
        return SendResult(SendState.SENT)


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- the outbox ------------------------------------------------------------------------------


class QueueState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up: shown in the manager's review


@dataclass(frozen=True, slots=True)
class QueuedMail:
    id: int
    mail: TicketMail
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    state: QueueState = QueueState.PENDING
    last_error: str = ""

    @property
    def masked_to(self) -> str:
        return mask_address(self.mail.to) if self.mail.to else ""


class MailOutbox(ABC):
    """Mails waiting to be sent again (a cache table; :class:`MemoryOutbox` in memory)."""

    @abstractmethod
    def add(self, mail: TicketMail, *, now: datetime, error: str) -> QueuedMail: ...

    @abstractmethod
    def due(self, now: datetime, *, limit: int) -> list[QueuedMail]: ...

    @abstractmethod
    def update(self, item: QueuedMail) -> None:
        """Store the new state; a mail sent or given up keeps no address (RGPD)."""

    @abstractmethod
    def waiting(self) -> list[QueuedMail]:
        """Pending and failed mails, oldest first (the manager's review)."""


class MemoryOutbox(MailOutbox):
    def __init__(self) -> None:
        self._items: dict[int, QueuedMail] = {}

    def add(self, mail: TicketMail, *, now: datetime, error: str) -> QueuedMail:
        item = QueuedMail(id=len(self._items) + 1, mail=mail, created_at=now,
                          next_attempt_at=now + timedelta(minutes=RETRY_MINUTES[0]),
                          attempts=1, last_error=error)
        self._items[item.id] = item
        return item

    def due(self, now: datetime, *, limit: int) -> list[QueuedMail]:
        ready = [i for i in self._items.values()
                 if i.state is QueueState.PENDING and i.next_attempt_at <= now]
        return sorted(ready, key=lambda i: i.next_attempt_at)[:limit]

    def update(self, item: QueuedMail) -> None:
        if item.state is not QueueState.PENDING:
            item = replace(item, mail=forget_address(item.mail))
        self._items[item.id] = item

    def waiting(self) -> list[QueuedMail]:
        return sorted((i for i in self._items.values() if i.state is not QueueState.SENT),
                      key=lambda i: i.created_at)


def forget_address(mail: TicketMail) -> TicketMail:
    """The mail without its address nor its PDF (what stays once sent or given up)."""
    return replace(mail, to=mask_address(mail.to) if mail.to else "", pdf=b"")


@dataclass
class RetryReport:
    sent: int = 0
    waiting: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def send_or_queue(sender: MailSender, outbox: MailOutbox, mail: TicketMail, *,
                  now: datetime | None = None) -> SendResult:
    """Send now; when the server cannot take it now, queue it for a retry."""
    result = sender.send(mail)
    if result.state is SendState.RETRY:
        outbox.add(mail, now=now or datetime.now(UTC), error=result.message)
    return result


def retry_due(sender: MailSender, outbox: MailOutbox, *, now: datetime | None = None,
              limit: int = 10) -> RetryReport:
    """One retry round: at most ``limit`` mails whose time has come."""
    now = now or datetime.now(UTC)
    report = RetryReport()
    for item in outbox.due(now, limit=limit):
        result = sender.send(item.mail)
        attempts = item.attempts + 1
        if result.sent:
            outbox.update(replace(item, state=QueueState.SENT, attempts=attempts,
                                  last_error=""))
            report.sent += 1
        elif result.state is SendState.REFUSED or attempts > len(RETRY_MINUTES):
            outbox.update(replace(item, state=QueueState.FAILED, attempts=attempts,
                                  last_error=result.message))
            report.failed += 1
            report.errors.append(result.message)
        else:
            wait = RETRY_MINUTES[min(attempts - 1, len(RETRY_MINUTES) - 1)]
            outbox.update(replace(item, attempts=attempts, last_error=result.message,
                                  next_attempt_at=now + timedelta(minutes=wait)))
            report.waiting += 1
            report.errors.append(result.message)
    return report
