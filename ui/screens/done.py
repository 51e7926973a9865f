"""The return is recorded: ticket number, what to hand over, print (or reprint)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from pos_returns.engine.domain import TenderKind
from pos_returns.engine.plan import CommittedTicket
from pos_returns.i18n import _
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
        self.print_count = 0

        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 24)
        outer.setSpacing(14)
        self.title = label(_("Return recorded"), name="title")
        outer.addWidget(self.title)
        self.subtitle = label("", name="subtitle", wrap=True)
        outer.addWidget(self.subtitle)

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

        self.gift_box = card()
        gl = QVBoxLayout(self.gift_box)
        gl.setContentsMargins(24, 18, 24, 18)
        gl.addWidget(label(_("New Alamara Gift Card"), name="sectionTitle"))
        self.gift_text = label("", wrap=True)
        self.gift_text.setObjectName("giftCardText")
        gl.addWidget(self.gift_text)
        outer.addWidget(self.gift_box)

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
        row.addWidget(self.new_button)
        outer.addLayout(row)

    def show_ticket(self, ticket: CommittedTicket, *, print_now: bool) -> None:
        self.ticket = ticket
        self.print_count = 0
        self.banner.clear_message()
        relabel(self.print_button, _("Print the ticket"), "F9")
        plan = ticket.plan
        self.subtitle.setText(
            _("Return ticket no. {number} · till {till}").format(number=ticket.number,
                                                                 till=ticket.till_no)
        )
        if plan.net >= 0:
            self.net_caption.setText(_("Refunded to the customer"))
        else:
            self.net_caption.setText(_("Paid by the customer"))
        self.net_amount.setText(money(abs(plan.net)))
        lines = []
        for refund in plan.refunds:
            amount = money(abs(refund.amount))
            if refund.amount < 0:
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
        if ticket.gift_cards:
            self.gift_text.setText("\n\n".join(
                _("Number: {number}\nSecurity code: {code}\nAmount: {amount}").format(
                    number=group(number), code=code, amount=money(amount))
                for number, code, amount in ticket.gift_cards
            ))
            self.gift_box.show()
        else:
            self.gift_box.hide()
        self.new_button.setFocus()
        # The ticket is always saved in the documents folder; paper only on request,
        # except card refunds (the core's must_print).
        self._print(requested=print_now, duplicate=False)

    def print_now(self) -> None:
        """F9: first paper copy, then duplicates (recorded)."""
        if self.ticket is None:
            return
        self._print(requested=True, duplicate=self.print_count > 0)

    def _print(self, *, requested: bool, duplicate: bool) -> None:
        staff = self.services.staff
        staff_id = int(staff.id) if staff is not None else None
        self.print_button.setEnabled(False)
        cfg = self.services.cfg
        ops = self.services.ops
        paper = requested or duplicate

        def deliver(job: TicketPrintJob) -> None:
            # Rendering, saving and the printer run on the I/O pool, never on the
            # database worker: a stuck printer does not hold the next lookup.
            (
                ops.io(deliver_ticket_print, cfg, job, requested, timeout=PRINT_TIMEOUT_SECONDS)
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

    def _printed(self, result, on_paper: bool) -> None:
        self.print_button.setEnabled(True)
        self.last_result = result
        if on_paper:
            self.print_count += 1
            relabel(self.print_button, _("Reprint (duplicate)"), "F9")
            self.banner.show_message(_("Ticket printed."), "success")
        else:
            self.banner.show_message(_("Ticket saved. Press F9 to print it."), "info")
        self.printed.emit(result)

    def _print_failed(self, exc: BaseException) -> None:
        self.print_button.setEnabled(True)
        self.banner.show_message(error_message(exc), "error")
