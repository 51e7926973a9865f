"""The return is recorded: ticket number, what to hand over, and the customer's ticket:
paper, e-mail or none (the store's default), printed or reprinted (F9).

« Ticket imprimé » shows only when the printer took the ticket (usecases.delivery);
otherwise the message says why and the saved document waits for F9. Printing, e-mail
and the cash drawer run on the I/O pool; the journal and the mail outbox on the
database worker."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.codes import ticket_display
from pos_returns.engine.domain import TenderKind
from pos_returns.engine.plan import CommittedTicket, ReturnPlan
from pos_returns.engine.refunds import shown_refunds
from pos_returns.i18n import _
from pos_returns.usecases import delivery
from pos_returns.usecases.till import (
    PRINT_TIMEOUT_SECONDS,
    TicketPrintJob,
    deliver_ticket_print,
    prepare_ticket_print,
)

from ..format import money
from ..ops import error_message
from ..services import Services
from ..widgets.common import Banner, action_button, card, label, relabel


def group(number: str, size: int = 4) -> str:
    return " ".join(number[i:i + size] for i in range(0, len(number), size))


class DoneScreen(QWidget):
    new_return = Signal()
    printed = Signal(object)  # the path(s) written

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("screen")
        self.ticket: CommittedTicket | None = None
        self.print_count = 0  # paper copies the printer took (the next F9 is a DUPLICATA)
        self.deliveries = 0  # deliveries finished (saved, printed or not, e-mailed)
        self.last_job: TicketPrintJob | None = None
        self.last_result: delivery.Delivery | None = None

        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 24)
        outer.setSpacing(14)
        self._build_header(outer)
        self._build_summary(outer)
        self._build_gift_card(outer)
        self._build_ticket_choice(outer)
        self._build_actions(outer)

    def _build_header(self, outer: QVBoxLayout) -> None:
        self.title = label(_("Return recorded"), name="title")
        outer.addWidget(self.title)
        self.subtitle = label("", name="subtitle", wrap=True)
        outer.addWidget(self.subtitle)

    def _build_summary(self, outer: QVBoxLayout) -> None:
        box = card()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(24, 18, 24, 18)
        bl.setSpacing(8)
        self.net_caption = label("", name="subtitle")
        self.net_amount = label("", name="bigAmount")
        self.hand_over = label("", wrap=True)
        bl.addWidget(self.net_caption)
        bl.addWidget(self.net_amount)
        bl.addWidget(self.hand_over)
        self.lines_summary = label("", muted=True, wrap=True)
        bl.addWidget(self.lines_summary)
        outer.addWidget(box)

    def _build_gift_card(self, outer: QVBoxLayout) -> None:
        self.gift_box = card()
        gl = QVBoxLayout(self.gift_box)
        gl.setContentsMargins(24, 18, 24, 18)
        gl.addWidget(label(_("New Alamara Gift Card"), name="sectionTitle"))
        self.gift_text = label("", wrap=True)
        self.gift_text.setObjectName("giftCardText")
        gl.addWidget(self.gift_text)
        outer.addWidget(self.gift_box)

    def _build_ticket_choice(self, outer: QVBoxLayout) -> None:
        # the customer's ticket: paper, e-mail or none (since 2023, paper on request)
        choice = card()
        cl = QVBoxLayout(choice)
        cl.setContentsMargins(24, 14, 24, 14)
        cl.setSpacing(6)
        cl.addWidget(label(_("The customer's ticket"), name="sectionTitle"))
        radios = QHBoxLayout()
        self.choice_group = QButtonGroup(self)
        self.paper_radio = QRadioButton(_("&Paper"))
        self.email_radio = QRadioButton(_("&E-mail"))
        self.none_radio = QRadioButton(_("N&o ticket"))
        for n, radio in enumerate((self.paper_radio, self.email_radio, self.none_radio)):
            self.choice_group.addButton(radio, n)
            radios.addWidget(radio)
        radios.addStretch(1)
        cl.addLayout(radios)
        mail_row = QHBoxLayout()
        self.email_field = QLineEdit()
        self.email_field.setPlaceholderText(_("the customer's e-mail address, then Enter"))
        self.email_field.setAccessibleName(_("The customer's e-mail address"))
        self.email_field.returnPressed.connect(self.send_email)
        self.email_button = action_button(_("Send"), icon_name="check")
        self.email_button.clicked.connect(self.send_email)
        mail_row.addWidget(self.email_field, 1)
        mail_row.addWidget(self.email_button)
        self.email_note = label(_("The address is used to send this ticket only: it is not "
                                  "kept."), muted=True, wrap=True)
        cl.addLayout(mail_row)
        cl.addWidget(self.email_note)
        self.choice_group.idToggled.connect(self._choice_changed)
        outer.addWidget(choice)

    def _build_actions(self, outer: QVBoxLayout) -> None:
        self.banner = Banner()
        outer.addWidget(self.banner)
        outer.addStretch(1)
        row = QHBoxLayout()
        self.print_button = action_button(_("Print the ticket"), shortcut="F9",
                                          icon_name="print")
        self.print_button.clicked.connect(lambda: self.print_now())
        self.new_button = action_button(_("New return"), shortcut="F2", role="primary")
        self.new_button.clicked.connect(self.new_return)
        row.addWidget(self.print_button)
        row.addStretch(1)
        # The scanner is ready (ui/window.NextReceiptCatcher): say so.
        self.next_hint = label(_("Next customer: scan the receipt, it opens at once."),
                               name="hint")
        row.addWidget(self.next_hint)
        row.addWidget(self.new_button)
        outer.addLayout(row)

    def tab_chain(self) -> list[QWidget]:
        """The explicit Tab order: the next return first, then print."""
        return [self.new_button, self.print_button]

    def show_ticket(self, ticket: CommittedTicket, *, print_now: bool) -> None:
        self.ticket = ticket
        self.print_count = 0
        self.deliveries = 0
        self.last_job = None
        self.last_result = None
        self.email_field.clear()
        self.banner.clear_message()
        relabel(self.print_button, _("Print the ticket"), "F9")
        plan = ticket.plan
        self.subtitle.setText(  # one ticket number, shown one way (ui/format.py)
            _("Return ticket {number}").format(
                number=ticket_display(ticket.store_id, ticket.till_no, ticket.number))
        )
        gift_only = bool(plan.refunds) and all(
            r.kind == TenderKind.GIFT_CARD and r.amount > 0 for r in plan.refunds)
        if plan.net >= 0 and gift_only:  # a gift card credit is not money refunded
            self.net_caption.setText(_("Credited on an Alamara Gift Card"))
        elif plan.net >= 0:
            self.net_caption.setText(_("Refunded to the customer"))
        else:
            self.net_caption.setText(_("Paid by the customer"))
        self.net_amount.setText(money(abs(plan.net)))
        self._show_hand_over(plan)
        self._show_gift_cards(ticket)
        default = self._show_default_choice(print_now)
        # The ticket is always saved in the documents folder; the drawer opens on cash.
        self._print(requested=default == "paper", duplicate=False, first=True)

    def _show_hand_over(self, plan: ReturnPlan) -> None:
        lines = []
        for refund in shown_refunds(plan.refunds):  # one new gift card per ticket (R04)
            amount = money(abs(refund.amount))
            if refund.amount < 0 and refund.kind == TenderKind.CARD:
                # Already taken on the payment terminal before the ticket was committed.
                lines.append(_("{amount} paid by card on the payment terminal.").format(
                    amount=amount))
            elif refund.amount < 0:
                lines.append(_("Take {amount} from the customer.").format(amount=amount))
            elif refund.kind == TenderKind.CASH:
                lines.append(_("Give {amount} in cash from the drawer.").format(amount=amount))
            elif refund.kind == TenderKind.CARD:
                lines.append(_("{amount} credited to the card •••• {last4}.").format(
                    amount=amount, last4=refund.card_last4))
        self.hand_over.setText("\n".join(lines))
        self.hand_over.setVisible(bool(lines))
        summary = [f"− {pl.quantity} × {pl.name} ({money(-pl.amount)})"
                   for pl in plan.lines if pl.direction == "return"]
        summary += [f"+ {pl.quantity} × {pl.name} ({money(pl.amount)})"
                    for pl in plan.lines if pl.direction == "sale"]
        self.lines_summary.setText("\n".join(summary))

    def _show_gift_cards(self, ticket: CommittedTicket) -> None:
        if ticket.gift_cards:
            self.gift_text.setText("\n\n".join(
                _("Number: {number}\nSecurity code: {code}\nAmount: {amount}").format(
                    number=group(number), code=code, amount=money(amount))
                for number, code, amount in ticket.gift_cards
            ))
            self.gift_box.show()
        else:
            self.gift_box.hide()

    def _show_default_choice(self, print_now: bool) -> str:
        # The store's default choice, paper when the refund screen asked for it (a card
        # refund always prints: the core's must_print, whatever is chosen here).
        default = "paper" if print_now else self.services.cfg.ticket_default
        radio = {"paper": self.paper_radio, "email": self.email_radio}.get(default,
                                                                            self.none_radio)
        radio.setChecked(True)
        self._choice_changed(self.choice_group.id(radio), True)
        if default == "email":
            self.email_field.setFocus()
        else:
            self.new_button.setFocus()
        return default

    def _choice_changed(self, button_id: int, checked: bool) -> None:
        if not checked:
            return
        wants_mail = button_id == 1
        for widget in (self.email_field, self.email_button, self.email_note):
            widget.setVisible(wants_mail)
        if wants_mail and self.ticket is not None:
            self.email_field.setFocus()
        elif button_id == 0 and self.ticket is not None and self.deliveries and (
                not self.print_count and not (self.last_result and self.last_result.paper_asked)):
            self.print_now()  # paper chosen after the first save: print the original

    def send_email(self) -> None:
        """Send the saved ticket to the address typed (I/O pool), then queue it if the
        server cannot take it now (database worker)."""
        if self.ticket is None or self.last_job is None or self.last_result is None:
            return
        address = self.email_field.text().strip()
        if not address:
            self.banner.show_message(_("Type the customer's e-mail address."), "error")
            return
        cfg, ops = self.services.cfg, self.services.ops
        choice = delivery.TicketChoice(email=address)
        self.email_button.setEnabled(False)
        (
            ops.io(delivery.email_ticket, cfg, self.last_job, self.last_result.ticket_pdf,
                   choice, timeout=PRINT_TIMEOUT_SECONDS)
            .success(self._emailed)
            .failure(self._email_failed)
            .run()
        )

    def _emailed(self, result: delivery.Delivery) -> None:
        self.email_button.setEnabled(True)
        self._record(result)
        if result.mail is not None and result.mail.sent:
            self.email_field.clear()  # not kept, not even on screen
            self.banner.show_message(delivery.mail_message(result), "success")
        else:
            self.banner.show_message(delivery.mail_message(result), "error")

    def _email_failed(self, exc: BaseException) -> None:
        self.email_button.setEnabled(True)
        self.banner.show_message(error_message(exc), "error")

    def _record(self, result: delivery.Delivery) -> None:
        """The database part: queue a mail that waits, journal the drawer; then one
        retry round of the mail outbox."""
        if result.queued_mail is None and result.drawer is None:
            self._retry_mails()
            return
        (self.services.ops.op(delivery.record_delivery, self.services.cfg, result)
         .success(lambda _none: self._retry_mails()).run())

    def _retry_mails(self) -> None:
        """Mails that could not go earlier: database -> I/O -> database, a few a round."""
        if not self.services.cfg.smtp_host:
            return
        cfg, ops = self.services.cfg, self.services.ops

        def send(items: list) -> None:
            if items:
                (ops.io(delivery.send_mails, cfg, items, timeout=PRINT_TIMEOUT_SECONDS)
                 .success(lambda results: ops.op(delivery.record_mail_results, results).run())
                 .failure(lambda _exc: None).run())

        ops.op(delivery.due_mails).success(send).failure(lambda _exc: None).run()

    def print_now(self) -> None:
        """F9: the paper original until the printer took it, then duplicates (recorded)."""
        if self.ticket is None:
            return
        self._print(requested=True, duplicate=self.print_count > 0)

    def _print(self, *, requested: bool, duplicate: bool, first: bool = False) -> None:
        staff = self.services.staff
        staff_id = int(staff.id) if staff is not None else None
        self.print_button.setEnabled(False)
        cfg = self.services.cfg
        ops = self.services.ops
        paper = requested or duplicate

        def deliver(job: TicketPrintJob) -> None:
            # Rendering, saving, the printer and the drawer run on the I/O pool, never on
            # the database worker: a stuck printer does not hold the next lookup.
            self.last_job = job
            (
                ops.io(partial(deliver_ticket_print, open_drawer=first), cfg, job, requested,
                       timeout=PRINT_TIMEOUT_SECONDS)
                .success(lambda result: self._printed(result, paper))
                .failure(self._print_failed)
                .run()
            )

        (
            ops.op(prepare_ticket_print, cfg, self.ticket, duplicate, staff_id)
            .success(deliver)
            .failure(self._print_failed)
            .run()
        )

    def _printed(self, result: delivery.Delivery, on_paper: bool) -> None:
        self.print_button.setEnabled(True)
        self.last_result = result
        self.deliveries += 1
        drawer = delivery.drawer_message(result)
        if result.printed:  # the printer said it took the whole ticket
            self.print_count += 1
            relabel(self.print_button, _("Reprint (duplicate)"), "F9")
            self.banner.show_message(" ".join(filter(None, [_("Ticket printed."), drawer])),
                                     "success")
        elif result.paper_asked:  # asked, but not printed: say why; the PDF waits for F9
            self.banner.show_message(" ".join(filter(None, [result.print_message, drawer])),
                                     "error")
        else:
            self.banner.show_message(" ".join(filter(None, [
                _("Ticket saved. Press F9 to print it."), drawer])), "info")
        self._record(result)
        self.printed.emit(result)

    def _print_failed(self, exc: BaseException) -> None:
        self.print_button.setEnabled(True)
        self.banner.show_message(error_message(exc), "error")
