"""Handing the ticket over: paper (ESC/POS or PDF/CUPS), e-mail, the cash drawer.

Split by worker, like every use case the UI runs (docs/architecture.md):

- :func:`deliver` runs on the **I/O pool** (no database): it saves the PDFs (always:
  the document is kept for a reprint), prints when paper is asked or required, sends
  the e-mail, pulses the cash drawer, and answers a :class:`Delivery` that says
  what really happened: ``printed`` only when the printer took the whole ticket.
- :func:`record_delivery` runs on the **database worker** afterwards: it queues an
  e-mail that could not go now, and journals the drawer opening.
- :func:`due_mails` (database) → :func:`send_mails` (I/O) → :func:`record_mail_results`
  (database): one retry round of the mail outbox; :func:`mail_problems` lists what
  the manager's review shows.

The customer's address is used to send and is not kept: it stays in the outbox only
while a mail waits, and is masked once it is sent or given up (docs/devices.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.devices.factory import printer_from_config
from pos_returns.devices.mail import (
    RETRY_MINUTES,
    MailOutbox,
    MailSender,
    MailSettings,
    QueuedMail,
    QueueState,
    SendResult,
    SendState,
    SmtpSender,
    TicketMail,
    forget_address,
    mask_address,
    ticket_mail,
)
from pos_returns.devices.printer import Printer, PrinterState, PrintResult, state_message
from pos_returns.documents import (
    PrintFailed,
    TicketDocument,
    TicketPrintJob,
    deliver_ticket,
)
from pos_returns.documents.ticket import title_of
from pos_returns.i18n import _, format_datetime, format_money, pgettext
from pos_returns.journal.chain import record_event

_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_UTC_FORMAT)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, _UTC_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TicketChoice:
    """What the customer chose at the end: paper, e-mail (and whether to keep the
    address on the customer record), or neither."""

    paper: bool = False
    email: str = ""
    keep_email: bool = False


def opens_drawer(doc: TicketDocument) -> bool:
    """Cash changes hands (a cash refund, or an exchange paid in cash): the drawer opens.
    Never on a DUPLICATA."""
    return not doc.duplicate and any(r.kind == "cash" and r.amount != 0 for r in doc.refunds)


def cash_amount(doc: TicketDocument) -> int:
    """Cents out of the drawer (positive) or into it (negative)."""
    return sum(r.amount for r in doc.refunds if r.kind == "cash")


@dataclass
class Delivery:
    """What happened to a ticket: the files, the paper, the mail, the drawer."""

    ticket_uuid: str
    ticket_code: str
    ticket_pdf: Path
    files: list[Path] = field(default_factory=list)
    paper_asked: bool = False  # asked, a card refund, or a DUPLICATA
    printed: bool = False  # the printer took the whole ticket (never a guess)
    print_message: str = ""  # French: why it did not print, what to do
    mail: SendResult | None = None
    queued_mail: TicketMail | None = None  # to queue on the database worker
    drawer: PrintResult | None = None
    drawer_amount: int = 0
    keep_email: bool = False

    @property
    def gift_card_pdfs(self) -> list[Path]:  # what the previous PrintResult offered
        return [p for p in self.files if p.name.startswith("giftcard-")
                and not p.name.startswith("giftcard-code-")]


def _code_slip_lines(doc: TicketDocument, number: str, code: str) -> list[str]:
    return [
        _("Card ending in {last4}").format(last4=number[-4:]),
        _("Security code: {code}").format(code=code),
        _("Keep this slip apart from the card: the code protects its balance. "
          "The till never prints it again."),
    ]


def _print_on(printer: Printer, job: TicketPrintJob) -> PrintResult:
    doc = job.ticket
    copies = doc.copies if len(doc.copies) > 1 else ("",)
    for copy in copies:
        result = printer.print_ticket(doc, copy=copy)
        if not result.printed:
            return result
    for card in job.gift_cards:
        if card.security_code:
            result = printer.print_lines(
                _code_slip_lines(doc, card.number, card.security_code),
                title=pgettext("document", "Alamara Gift Card"))
            if not result.printed:
                return result
    return PrintResult.ok()


def deliver(cfg: TillConfig, job: TicketPrintJob, choice: TicketChoice, *,
            open_drawer: bool = False, printer: Printer | None = None,
            sender: MailSender | None = None) -> Delivery:
    """The I/O part (no database): save, print, e-mail, drawer. Never raises for a
    printer or mail server failure: the :class:`Delivery` says what happened."""
    doc = job.ticket
    try:
        files = deliver_ticket(job, cfg, requested=choice.paper)
        cups_error = ""
    except PrintFailed as exc:  # the CUPS queue refused: the PDF is saved
        files = None
        cups_error = str(exc)
        saved = exc.path
    out = Delivery(ticket_uuid=doc.uuid, ticket_code=doc.code,
                   ticket_pdf=files.ticket_pdf if files else saved,
                   keep_email=choice.keep_email)
    if files is not None:
        out.files = [files.ticket_pdf, *([files.store_copy_pdf] if files.store_copy_pdf else []),
                     *files.gift_card_pdfs, *files.code_slip_pdfs]
        out.paper_asked = files.to_paper
    else:
        out.paper_asked = True
    device = printer if printer is not None else printer_from_config(cfg)
    if out.paper_asked:
        if cups_error:
            out.print_message = cups_error
        elif device is None:  # printer_kind "pdf": the CUPS queue
            out.printed = bool(files and files.printed)
            if not out.printed:
                out.print_message = _(
                    "No printer is configured at this till: the ticket is saved in {path}."
                ).format(path=out.ticket_pdf)
        else:
            result = _print_on(device, job)
            out.printed = result.printed
            if not result.printed:
                out.print_message = result.message + " " + _(
                    "The ticket is kept: print it again with F9.")
    if open_drawer and opens_drawer(doc):
        out.drawer_amount = cash_amount(doc)
        if cfg.cash_drawer and device is not None:
            out.drawer = device.open_drawer()
        else:
            out.drawer = PrintResult.failed(PrinterState.NONE)
    if choice.email:
        mail = ticket_mail(
            to=choice.email, ticket_code=doc.code, ticket_uuid=doc.uuid, title=title_of(doc),
            when=format_datetime(doc.created_at, fmt="short"), store_name=doc.store.name,
            pdf=out.ticket_pdf.read_bytes(), keep_address=choice.keep_email)
        mail_sender = sender or SmtpSender(MailSettings.from_config(cfg))
        out.mail = mail_sender.send(mail)
        if out.mail.state is SendState.RETRY:
            out.queued_mail = mail
    return out


def email_ticket(cfg: TillConfig, job: TicketPrintJob, pdf: Path, choice: TicketChoice, *,
                 sender: MailSender | None = None) -> Delivery:
    """I/O pool: e-mail the ticket already saved at ``pdf`` (the done screen's "E-mail"
    after the first delivery). Nothing printed, no drawer."""
    doc = job.ticket
    out = Delivery(ticket_uuid=doc.uuid, ticket_code=doc.code, ticket_pdf=pdf,
                   keep_email=choice.keep_email)
    mail = ticket_mail(
        to=choice.email, ticket_code=doc.code, ticket_uuid=doc.uuid, title=title_of(doc),
        when=format_datetime(doc.created_at, fmt="short"), store_name=doc.store.name,
        pdf=pdf.read_bytes(), keep_address=choice.keep_email)
    out.mail = (sender or SmtpSender(MailSettings.from_config(cfg))).send(mail)
    if out.mail.state is SendState.RETRY:
        out.queued_mail = mail
    return out


def mail_message(delivery: Delivery) -> str:
    """What the done screen says about the e-mail ("" when none was asked)."""
    if delivery.mail is None:
        return ""
    if delivery.mail.sent:
        return _("Ticket sent by e-mail.")
    if delivery.queued_mail is not None:
        return _("The e-mail could not be sent now; it will be sent again automatically. {why}"
                 ).format(why=delivery.mail.message)
    return delivery.mail.message


def record_delivery(db: Database, cfg: TillConfig, delivery: Delivery, *,
                    now: datetime | None = None) -> None:
    """The database part after :func:`deliver`: queue a mail that must wait, journal the
    drawer (opened or not, with the amount)."""
    now = now or datetime.now(UTC)
    with atomic(db):
        if delivery.queued_mail is not None and delivery.mail is not None:
            SqliteMailOutbox(db).add(delivery.queued_mail, now=now,
                                     error=delivery.mail.message)
        if delivery.drawer is not None:
            record_event(db, cfg, "drawer_open", {
                "ticket_uuid": delivery.ticket_uuid,
                "ticket_code": delivery.ticket_code,
                "amount": delivery.drawer_amount,
                "opened": delivery.drawer.printed,
                "state": str(delivery.drawer.state),
            }, now=now)


def drawer_message(delivery: Delivery) -> str:
    """What the done screen says about the drawer ("" when it did not have to open)."""
    if delivery.drawer is None:
        return ""
    if delivery.drawer.printed:
        return _("Cash drawer opened.")
    if delivery.drawer.state is PrinterState.NONE:
        return _("Open the cash drawer with its key ({amount}).").format(
            amount=format_money(abs(delivery.drawer_amount)))
    return _("The cash drawer did not open: {reason}").format(
        reason=state_message(delivery.drawer.state))


# -- the outbox in the cache ------------------------------------------------------------------


class SqliteMailOutbox(MailOutbox):
    """:class:`~pos_returns.devices.mail.MailOutbox` on the cache's ``mail_outbox`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, mail: TicketMail, *, now: datetime, error: str) -> QueuedMail:
        nxt = now + timedelta(minutes=RETRY_MINUTES[0])
        with atomic(self.db):
            cursor = self.db.execute(
                "INSERT INTO mail_outbox(ticket_uuid, ticket_code, to_address, subject, body, "
                "filename, pdf, state, attempts, next_attempt_at, last_error, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?, ?)",
                [mail.ticket_uuid, mail.ticket_code, mail.to, mail.subject, mail.text,
                 mail.filename, mail.pdf, _utc(nxt), error, _utc(now), _utc(now)])
        return QueuedMail(id=int(cursor.lastrowid or 0), mail=mail, created_at=now,
                          next_attempt_at=nxt, attempts=1, last_error=error)

    def _rows(self, where: str, params: list[Any]) -> list[QueuedMail]:
        rows = self.db.execute(
            "SELECT id, ticket_uuid, ticket_code, to_address, subject, body, filename, pdf, "
            "state, attempts, next_attempt_at, last_error, created_at FROM mail_outbox "
            f"WHERE {where}", params).fetchall()
        return [QueuedMail(
            id=int(r[0]),
            mail=TicketMail(to=r[3], subject=r[4], text=r[5], pdf=bytes(r[7] or b""),
                            filename=r[6], ticket_uuid=r[1], ticket_code=r[2]),
            created_at=_parse(r[12]), next_attempt_at=_parse(r[10]), attempts=int(r[9]),
            state=QueueState(r[8]), last_error=r[11]) for r in rows]

    def due(self, now: datetime, *, limit: int) -> list[QueuedMail]:
        return self._rows("state = 'pending' AND next_attempt_at <= ? "
                          "ORDER BY next_attempt_at LIMIT ?", [_utc(now), int(limit)])

    def update(self, item: QueuedMail) -> None:
        if item.state is not QueueState.PENDING:
            item = replace(item, mail=forget_address(item.mail))
        with atomic(self.db):
            self.db.execute(
                "UPDATE mail_outbox SET to_address = ?, pdf = ?, state = ?, attempts = ?, "
                "next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                [item.mail.to, item.mail.pdf, str(item.state), item.attempts,
                 _utc(item.next_attempt_at), item.last_error, _utc(datetime.now(UTC)),
                 item.id])

    def waiting(self) -> list[QueuedMail]:
        return self._rows("state != 'sent' ORDER BY created_at", [])


def due_mails(db: Database, *, now: datetime | None = None, limit: int = 5) -> list[QueuedMail]:
    """Database worker: the mails whose retry time has come (at most ``limit``)."""
    return SqliteMailOutbox(db).due(now or datetime.now(UTC), limit=limit)


def send_mails(cfg: TillConfig, items: list[QueuedMail], *,
               sender: MailSender | None = None) -> list[tuple[QueuedMail, SendResult]]:
    """I/O pool: try each mail once (every SMTP call has its timeout)."""
    mail_sender = sender or SmtpSender(MailSettings.from_config(cfg))
    return [(item, mail_sender.send(item.mail)) for item in items]


def record_mail_results(db: Database, results: list[tuple[QueuedMail, SendResult]], *,
                        now: datetime | None = None) -> int:
    """Database worker: store each attempt; returns how many mails went."""
    now = now or datetime.now(UTC)
    outbox = SqliteMailOutbox(db)
    sent = 0
    for item, result in results:
        attempts = item.attempts + 1
        if result.sent:
            outbox.update(replace(item, state=QueueState.SENT, attempts=attempts,
                                  last_error=""))
            sent += 1
        elif result.state is SendState.REFUSED or attempts > len(RETRY_MINUTES):
            outbox.update(replace(item, state=QueueState.FAILED, attempts=attempts,
                                  last_error=result.message))
        else:
            wait = RETRY_MINUTES[min(attempts - 1, len(RETRY_MINUTES) - 1)]
            outbox.update(replace(item, attempts=attempts, last_error=result.message,
                                  next_attempt_at=now + timedelta(minutes=wait)))
    return sent


@dataclass(frozen=True, slots=True)
class MailProblem:
    """A ticket e-mail the manager should know about (the review)."""

    ticket_code: str
    masked_to: str
    state: str  # "pending" (will retry) | "failed" (given up)
    attempts: int
    last_error: str
    created_at: str


def mail_problems(db: Database) -> list[MailProblem]:
    """Ticket e-mails still waiting or given up, oldest first."""
    out = []
    for item in SqliteMailOutbox(db).waiting():
        to = item.mail.to
        out.append(MailProblem(
            ticket_code=item.mail.ticket_code,
            masked_to=to if "…" in to else mask_address(to),
            state=str(item.state), attempts=item.attempts, last_error=item.last_error,
            created_at=_utc(item.created_at)))
    return out


def mail_problem_text(problem: MailProblem) -> str:
    if problem.state == "failed":
        return _("Ticket {code}: e-mail to {to} given up after {attempts} attempts ({error})"
                 ).format(code=problem.ticket_code, to=problem.masked_to,
                          attempts=problem.attempts, error=problem.last_error)
    return _("Ticket {code}: e-mail to {to} waiting to be sent again ({error})").format(
        code=problem.ticket_code, to=problem.masked_to, error=problem.last_error)


__all__ = [
    "Delivery",
    "MailProblem",
    "SqliteMailOutbox",
    "TicketChoice",
    "cash_amount",
    "deliver",
    "drawer_message",
    "due_mails",
    "email_ticket",
    "mail_message",
    "mail_problem_text",
    "mail_problems",
    "opens_drawer",
    "record_delivery",
    "record_mail_results",
    "send_mails",
]
