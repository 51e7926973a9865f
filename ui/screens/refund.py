"""Where the money goes, tender by tender, as the engine decided.

Card refunds ask for the card the customer presents: its last 4 digits go to
the engine, which checks them against the sale's card (a mismatch waits for a
manager, F6). Cash shows the amount to take from the drawer; a new Alamara Gift
Card shows its amount (its number comes with the ticket). Card refunds always
print their ticket; otherwise printing is on request.

Card money moves on the payment terminal before the ticket is committed
(pos_returns.usecases.card_payments), card amount by card amount: the
operation's row is written on the database worker, the terminal is called on
the I/O pool, its answer recorded on the database worker. A decline shows the
terminal's reason and what the policy allows (try again, another card with a
manager, R03, a gift card); an unknown outcome is « à vérifier » until a manager
confirms (F7). Without a terminal, the salesperson does the amount on the
terminal and confirms it with the authorisation number it printed.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.approvals import bound_approvals, must_print, pending_approvals, sale_cards
from pos_returns.engine.domain import Sale, TenderKind
from pos_returns.engine.plan import Approval, CommittedTicket, PlannedRefund, ReturnPlan
from pos_returns.engine.refunds import shown_refunds
from pos_returns.i18n import _
from pos_returns.usecases import card_payments
from pos_returns.usecases.card_payments import CardAmount, CardOperation
from pos_returns.usecases.returns import (
    OFFLINE,
    PreparedReturn,
    ask_hq,
    commit_prepared,
    prepare_push,
    prepare_return,
    push_after_commit,
    record_push,
    ui_deadline,
)

from ..dialogs.terminal_check import TerminalCheckDialog
from ..format import money, sale_reference, staff_text, tender_name
from ..ops import error_message
from ..services import Services
from ..tasks import ask_policy
from ..widgets.common import (
    Banner,
    action_button,
    card,
    icon,
    label,
    repolish,
)

_ICONS = {TenderKind.CARD: "card", TenderKind.CASH: "cash", TenderKind.GIFT_CARD: "giftcard",
          TenderKind.NOTES: "giftcard"}


def refund_title(refund: PlannedRefund) -> str:
    amount = money(abs(refund.amount))
    if refund.amount < 0:
        return _("The customer pays {amount} ({tender})").format(
            amount=amount, tender=tender_name(refund.kind))
    if refund.kind == TenderKind.CARD:
        return _("Back to the card •••• {last4}: {amount}").format(
            last4=refund.card_last4 or "????", amount=amount)
    if refund.kind == TenderKind.CASH:
        return _("Cash: take {amount} from the drawer").format(amount=amount)
    if refund.kind == TenderKind.GIFT_CARD and refund.new_gift_card:
        return _("On a new Alamara Gift Card: {amount}").format(amount=amount)
    return _("{tender}: {amount}").format(tender=tender_name(refund.kind), amount=amount)


def is_card_refund(refund: PlannedRefund) -> bool:
    return refund.kind == TenderKind.CARD and refund.amount > 0


# On the database worker (ops.op): the core records, the screen only asks.
def _start_operation(db: Any, cfg: Any, draft: str, amount: CardAmount,
                     staff_id: int) -> CardOperation:
    return card_payments.start_operation(db, cfg, draft_uuid=draft, amount=amount,
                                         staff_id=staff_id)


def _record_result(db: Any, cfg: Any, op_uuid: str, result: Any) -> CardOperation:
    return card_payments.record_result(db, cfg, op_uuid, result)


def _record_lost(db: Any, cfg: Any, op_uuid: str) -> CardOperation:
    return card_payments.record_lost_answer(db, cfg, op_uuid)


def _record_manual(db: Any, cfg: Any, draft: str, amount: CardAmount, staff_id: int,
                   auth_number: str) -> CardOperation:
    return card_payments.record_manual(db, cfg, draft_uuid=draft, amount=amount,
                                       staff_id=staff_id, auth_number=auth_number)


def _blocking(db: Any, cfg: Any, draft: str, amount: CardAmount) -> CardOperation | None:
    return card_payments.blocking_operation(db, draft, amount, cfg=cfg)


class RefundRow(QFrame):
    def __init__(self, refund: PlannedRefund, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refund = refund
        self.setProperty("card", True)
        box = QHBoxLayout(self)
        box.setContentsMargins(18, 14, 18, 14)
        box.setSpacing(16)
        pic = QLabel()
        pic.setPixmap(icon(_ICONS.get(refund.kind, "cash")).pixmap(40, 40))
        pic.setAlignment(Qt.AlignmentFlag.AlignTop)
        box.addWidget(pic)
        text = QVBoxLayout()
        text.setSpacing(4)
        text.addWidget(label(refund_title(refund), name="sectionTitle", wrap=True))
        notes = [staff_text(r.message) for r in refund.reasons
                 if getattr(r, "level", "") != "manager"]
        if notes:
            text.addWidget(label("\n".join(dict.fromkeys(notes)), muted=True, wrap=True))
        waiting = [staff_text(r.message) for r in refund.reasons
                   if getattr(r, "level", "") == "manager"]
        if refund.needs_manager and waiting:
            chip = label("\n".join(dict.fromkeys(waiting)), wrap=True)
            chip.setProperty("verdict", "needs_manager")
            text.addWidget(chip)
        self.status = label("", wrap=True)
        self.status.setObjectName("terminalStatus")
        self.status.setVisible(False)
        text.addWidget(self.status)
        box.addLayout(text, 1)

    def set_status(self, text: str, verdict: str = "") -> None:
        """What the payment terminal did with this amount."""
        self.status.setText(text)
        self.status.setProperty("verdict", verdict)
        self.status.setVisible(bool(text))
        repolish(self.status)


class RefundScreen(QWidget):
    back_requested = Signal()
    committed = Signal(object)  # CommittedTicket
    failed = Signal(str)
    approval_requested = Signal(object)  # ReturnPlan
    plan_changed = Signal(object)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("screen")
        self.plan: ReturnPlan | None = None
        self.sale: Sale | None = None
        self.rows: list[RefundRow] = []
        self._busy = False
        self._seq = 0
        self._planning = False
        # Card money on the terminal: this return's key, what is done, the prepared return.
        self.terminal = card_payments.terminal_for(services.cfg)
        self._draft = ""
        self._settled: dict[str, CardOperation] = {}
        self._manual: CardAmount | None = None
        self._to_check: CardOperation | None = None
        self._prepared: tuple[PreparedReturn, object] | None = None
        self._prepared_for: object = None  # the request it was prepared (and reserved) for
        self._decision_dropped = False  # the last change voided a manager's decision

        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 20, 28, 20)
        outer.setSpacing(12)
        self._build_header(outer)
        body = QHBoxLayout()
        body.setSpacing(20)
        body.addLayout(self._build_left(), 3)
        body.addLayout(self._build_right(), 2)
        outer.addLayout(body, 1)

    def _build_header(self, outer: QVBoxLayout) -> None:
        self.title = label(_("Refund"), name="title")
        outer.addWidget(self.title)
        self.subtitle = label("", name="subtitle", wrap=True)
        outer.addWidget(self.subtitle)

    def _build_left(self) -> QVBoxLayout:
        """How the refund is made: the card, how a difference is paid, the tenders,
        the payment terminal."""
        left = QVBoxLayout()
        left.setSpacing(10)
        self.section = label(_("How the refund is made"), name="sectionTitle")
        left.addWidget(self.section)
        self._build_card_box(left)
        self._build_options(left)
        self._build_rows(left)
        self._build_terminal(left)
        self.banner = Banner()
        left.addWidget(self.banner)
        return left

    def _build_card_box(self, left: QVBoxLayout) -> None:
        self.card_box = card()
        cl = QHBoxLayout(self.card_box)
        cl.setContentsMargins(18, 12, 18, 12)
        pic = QLabel()
        pic.setPixmap(icon("card").pixmap(36, 36))
        cl.addWidget(pic)
        card_label = label(_("Ask for the card. Last 4 digits of the card presented:"),
                           wrap=True)
        cl.addWidget(card_label, 1)
        self.card_field = QLineEdit()
        self.card_field.setObjectName("cardLast4")
        self.card_field.setMaxLength(4)
        self.card_field.setPlaceholderText("0000")
        self.card_field.setFixedWidth(150)
        self.card_field.setAccessibleName(_("Last 4 digits of the card presented"))
        card_label.setBuddy(self.card_field)
        self.card_field.textChanged.connect(self._card_changed)
        self.card_field.returnPressed.connect(self.confirm)
        cl.addWidget(self.card_field)
        left.addWidget(self.card_box)

    def _build_options(self, left: QVBoxLayout) -> None:
        # How the customer pays a difference (R16), or asks for a gift card instead.
        self.options_box = card()
        ol = QHBoxLayout(self.options_box)
        ol.setContentsMargins(18, 10, 18, 10)
        ol.setSpacing(10)
        self.pay_caption = label(_("The customer pays by:"))
        ol.addWidget(self.pay_caption)
        self.pay_buttons = QButtonGroup(self)
        self.pay_card = action_button(_("Card"), shortcut="Ctrl+1", icon_name="card")
        self.pay_cash = action_button(_("Cash"), shortcut="Ctrl+2", icon_name="cash")
        for button, kind in ((self.pay_card, TenderKind.CARD), (self.pay_cash, TenderKind.CASH)):
            button.setCheckable(True)
            button.setProperty("kind", str(kind))
            self.pay_buttons.addButton(button)
            ol.addWidget(button)
        self.pay_card.setChecked(True)
        self.pay_buttons.buttonClicked.connect(
            lambda b: self._replan(exchange_payment_kind=TenderKind(b.property("kind"))))
        self.prefer_gift = QCheckBox(_("The customer prefers an Alamara Gift Card   Ctrl+K"))
        self.prefer_gift.setAccessibleName(_("The customer prefers an Alamara Gift Card"))
        self.prefer_gift.toggled.connect(lambda on: self._replan(prefer_gift_card=on))
        QShortcut(QKeySequence("Ctrl+K"), self, self._toggle_prefer_gift)
        ol.addWidget(self.prefer_gift)
        ol.addStretch(1)
        left.addWidget(self.options_box)

    def _build_rows(self, left: QVBoxLayout) -> None:
        self.rows_host = QVBoxLayout()
        self.rows_host.setSpacing(10)
        left.addLayout(self.rows_host)
        self.notices = label("", wrap=True)
        self.notices.setObjectName("banner")
        self.notices.setProperty("level", "info")
        left.addWidget(self.notices)
        left.addStretch(1)

    def _build_terminal(self, left: QVBoxLayout) -> None:
        # The payment terminal: what to do on it by hand, or what it is doing.
        self.terminal_box = card()
        tl = QHBoxLayout(self.terminal_box)
        tl.setContentsMargins(18, 12, 18, 12)
        self.terminal_text = label("", wrap=True)
        self.terminal_text.setObjectName("terminalText")
        tl.addWidget(self.terminal_text, 1)
        self.auth_field = QLineEdit()
        self.auth_field.setObjectName("authNumber")
        self.auth_field.setMaxLength(12)
        self.auth_field.setPlaceholderText(_("Authorisation no."))
        self.auth_field.setFixedWidth(220)
        self.auth_field.returnPressed.connect(self.confirm)
        tl.addWidget(self.auth_field)
        self.check_button = action_button(_("Manager check"), shortcut="F7", role="warning",
                                          icon_name="manager")
        self.check_button.clicked.connect(self.ask_terminal_check)
        tl.addWidget(self.check_button)
        self.terminal_box.setVisible(False)
        left.addWidget(self.terminal_box)

    def _build_right(self) -> QVBoxLayout:
        """The amounts, the ticket, and the actions."""
        right = QVBoxLayout()
        right.setSpacing(10)
        summary = card()
        sl = QVBoxLayout(summary)
        sl.setContentsMargins(20, 16, 20, 16)
        self.net_caption = label("", name="subtitle")
        self.net_amount = label("", name="bigAmount")
        self.lines_summary = label("", muted=True, wrap=True)
        sl.addWidget(self.net_caption)
        sl.addWidget(self.net_amount)
        sl.addWidget(self.lines_summary)
        right.addWidget(summary)
        self.print_box = QCheckBox(_("Print the ticket   Ctrl+P"))
        self.print_box.setAccessibleName(_("Print the ticket"))
        QShortcut(QKeySequence("Ctrl+P"), self, self._toggle_print)
        right.addWidget(self.print_box)
        self.print_note = label("", muted=True, wrap=True)
        right.addWidget(self.print_note)
        right.addStretch(1)
        self._build_actions(right)
        return right

    def _build_actions(self, right: QVBoxLayout) -> None:
        row = QHBoxLayout()
        self.back_button = action_button(_("Back"), shortcut="Esc", icon_name="back")
        self.back_button.clicked.connect(self.back_requested)
        self.manager_button = action_button(_("Manager"), shortcut="F6", role="warning",
                                            icon_name="manager")
        self.manager_button.clicked.connect(self.ask_manager)
        row.addWidget(self.back_button)
        row.addWidget(self.manager_button)
        right.addLayout(row)
        self.confirm_button = action_button(_("Confirm the return"), shortcut="F10",
                                            role="success", icon_name="check")
        self.confirm_button.setMinimumHeight(64)
        self.confirm_button.clicked.connect(self.confirm)
        # F10 always answers: it confirms, or says what is still missing.
        self.confirm_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F10"), self, self.confirm)
        right.addWidget(self.confirm_button)

    def tab_chain(self) -> list[QWidget]:
        """The explicit Tab order: the card, how the customer pays, the ticket, the
        main action, then Manager and Back."""
        return [self.card_field, self.pay_card, self.pay_cash, self.prefer_gift,
                self.print_box, self.confirm_button, self.manager_button, self.back_button]

    def _toggle_prefer_gift(self) -> None:
        if self.prefer_gift.isVisible() and self.prefer_gift.isEnabled():
            self.prefer_gift.toggle()

    def _toggle_print(self) -> None:
        if self.print_box.isEnabled():
            self.print_box.toggle()

    # -- showing --------------------------------------------------------------------------
    def show_plan(self, plan: ReturnPlan, sale: Sale | None) -> None:
        self.sale = sale
        self._busy = False
        self.banner.clear_message()
        self._draft = str(uuid.uuid4())  # a new return: the key of its card operations
        self._settled = {}
        self._manual = None
        self._to_check = None
        self._prepared = None
        self._prepared_for = None
        self.auth_field.clear()
        self.terminal_box.setVisible(False)
        self.subtitle.setText(sale_reference(sale) if sale else _("Return without receipt"))
        card_refund = must_print(plan)
        self.card_box.setVisible(card_refund)
        request = plan.request
        pays = plan.net < 0
        # An exchange where the customer pays is the customer's payment, not a refund.
        self.title.setText(_("Customer's payment") if pays else _("Refund"))
        self.section.setText(_("How the customer pays") if pays
                             else _("How the refund is made"))
        for widget in (self.pay_caption, self.pay_card, self.pay_cash):
            widget.setVisible(pays)
        (self.pay_cash if request.exchange_payment_kind == TenderKind.CASH
         else self.pay_card).setChecked(True)
        # A gift card instead: only where the money would go back to card or cash.
        offer_gift = plan.net > 0 and not (request.gift or (sale and sale.gift_receipt))
        self.prefer_gift.blockSignals(True)
        self.prefer_gift.setChecked(request.prefer_gift_card)
        self.prefer_gift.blockSignals(False)
        self.prefer_gift.setVisible(offer_gift)
        self.options_box.setVisible(pays or offer_gift)
        self.card_field.blockSignals(True)
        self.card_field.setText(plan.request.presented_card_last4)
        self.card_field.blockSignals(False)
        self.print_box.setEnabled(True)
        self.print_box.setChecked(False)
        self._render(plan)
        if card_refund:
            self.card_field.setFocus()
        else:
            self.confirm_button.setFocus()

    def _render(self, plan: ReturnPlan) -> None:
        self.plan = plan
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        for refund in shown_refunds(plan.refunds):  # one new gift card per ticket (R04)
            row = RefundRow(refund)
            self.rows_host.addWidget(row)
            self.rows.append(row)
        shown = {r.message for refund in plan.refunds for r in refund.reasons}
        notices = [staff_text(n.message) for n in plan.notices if n.message not in shown]
        self.notices.setText("\n".join(dict.fromkeys(notices)))
        self.notices.setVisible(bool(notices))
        if plan.net >= 0:
            self.net_caption.setText(_("To refund to the customer"))
        else:
            self.net_caption.setText(_("To be paid by the customer"))
        self.net_amount.setText(money(abs(plan.net)))
        returned = [pl for pl in plan.lines if pl.direction == "return"]
        new = [pl for pl in plan.lines if pl.direction == "sale"]
        summary = [f"− {pl.quantity} × {pl.name} ({money(-pl.amount)})" for pl in returned]
        summary += [f"+ {pl.quantity} × {pl.name} ({money(pl.amount)})" for pl in new]
        self.lines_summary.setText("\n".join(summary))
        self._sync_print(plan)
        self._show_card_statuses(plan)
        self._refresh_buttons()
        self.plan_changed.emit(plan)

    def _row_for(self, amount: CardAmount) -> RefundRow | None:
        return self.rows[amount.index] if amount.index < len(self.rows) else None

    def _show_card_statuses(self, plan: ReturnPlan) -> None:
        for amount in card_payments.card_amounts(plan):
            op = self._settled.get(amount.key)
            row = self._row_for(amount)
            if row is not None and op is not None and op.amount == amount.amount:
                row.set_status("✓ " + op.describe(), "accepted")

    def _sync_print(self, plan: ReturnPlan) -> None:
        """A card refund always prints (locked); otherwise paper is on request."""
        card_refund = must_print(plan)
        if card_refund:
            self.print_box.setChecked(True)
        elif not self.print_box.isEnabled():
            self.print_box.setChecked(False)  # it was only forced by a card refund
        self.print_box.setEnabled(not card_refund)
        self.print_note.setText(
            _("A card refund always prints its ticket.") if card_refund
            else _("Paper tickets are printed on request.")
        )

    def _refresh_buttons(self) -> None:
        plan = self.plan
        ready = plan is not None and not plan.blocked and not self._planning and not self._busy
        self.confirm_button.setEnabled(ready)
        # what waits for a manager: a refund, or a line whose decision was about the
        # return before it changed here (another card, a gift card asked for…)
        needs = bool(plan and pending_approvals(plan, "all"))
        self.manager_button.setEnabled(needs)
        self.manager_button.setProperty("role", "warning" if needs else "")
        repolish(self.manager_button)
        # Once card money moved, what it was computed from stays as it is.
        moved = bool(self._settled)
        self.back_button.setEnabled(not self._busy)  # not while the terminal works
        for widget in (self.prefer_gift, self.pay_card, self.pay_cash):
            widget.setEnabled(not moved and not self._busy)
        self.check_button.setVisible(self._to_check is not None)
        self.check_button.setEnabled(self._to_check is not None and not self._busy)

    # -- the card presented, manager decisions: ask the engine again -----------------------
    def _card_changed(self, text: str) -> None:
        text = text.strip()
        if text and (len(text) < 4 or not text.isdigit()):
            self._seq += 1
            self._planning = True  # incomplete: nothing to confirm yet
            self._refresh_buttons()
            return
        self._replan(presented=text)

    def add_approvals(self, approvals: list[Approval]) -> None:
        self._replan(approvals=approvals)

    def _replan(self, *, presented: str | None = None,
                approvals: list[Approval] | None = None, **changes: object) -> None:
        """Ask the engine again with what changed (card presented, a manager's decision,
        how the customer pays, a gift card asked for)."""
        if self.plan is None:
            return
        request = self.plan.request
        if presented is not None:
            request = replace(request, presented_card_last4=presented)
        if approvals:
            keys = {(a.line_no, a.rule) for a in approvals}
            kept = tuple(a for a in request.approvals if (a.line_no, a.rule) not in keys)
            request = replace(request, approvals=kept + tuple(approvals))
        if changes:
            request = replace(request, **changes)
        # a manager's decision holds for the return it was made on (issue 12): once the
        # card, the gift card or the payment changes where the money goes, it waits again
        bound = bound_approvals(request, sale_cards(self.sale))
        self._decision_dropped = len(bound) < len(request.approvals)
        request = replace(request, approvals=bound)
        self._seq += 1
        self._planning = True
        self._refresh_buttons()
        ask_policy(self.services, request, self._seq, self._planned, self._plan_failed)

    def _planned(self, seq: int, plan: ReturnPlan) -> None:
        if seq != self._seq:
            return
        self._planning = False
        self.banner.clear_message()
        self.card_box.setVisible(any(is_card_refund(r) for r in plan.refunds))
        self._render(plan)
        if self._decision_dropped:
            self.banner.show_message(_(
                "The manager's decision was made for the refund as it was before: ask the "
                "manager again (F6)."), "warning")

    def _plan_failed(self, seq: int, exc: BaseException) -> None:
        if seq != self._seq:
            return
        self._planning = False
        self.banner.show_message(error_message(exc), "error")
        self._refresh_buttons()

    def is_settled(self) -> bool:
        return not self._planning and not self._busy

    def ask_manager(self) -> None:
        if self.plan is not None and self.manager_button.isEnabled():
            self.approval_requested.emit(self.plan)

    # -- commit ---------------------------------------------------------------------------
    def confirm(self) -> None:
        if self.plan is None or self._busy:
            return
        if self.plan.blocked:
            waiting = [x.message for r in self.plan.refunds if r.needs_manager
                       for x in r.reasons if getattr(x, "level", "") == "manager"]
            waiting += [p.what for p in pending_approvals(self.plan, "lines")]
            self.banner.show_message(
                waiting[0] if waiting else _("The return still needs a manager's decision."),
                "error",
            )
            return
        if self._planning:
            if self.card_box.isVisible() and len(self.card_field.text().strip()) != 4:
                self.banner.show_message(
                    _("Ask for the card and type its last 4 digits."), "error")
                self.card_field.setFocus()
            return
        self._busy = True
        self._refresh_buttons()
        cfg = self.services.cfg
        ops = self.services.ops
        request = self.plan.request
        if self._prepared is not None and self._prepared_for == request:
            # A retry on the terminal, or the authorisation number typed: the return is
            # already decided and its lines reserved at HQ; nothing to ask again.
            self._next_card()
            return

        def go_on(prepared: PreparedReturn, answer: object = None) -> None:
            if getattr(answer, "status", "") == "conflict":
                self._commit(prepared, answer)  # refused by HQ: no card money moves
                return
            self._prepared = (prepared, answer)
            self._prepared_for = request
            self._next_card()

        def ask_hq_then_go_on(prepared: PreparedReturn) -> None:
            if not prepared.ask_hq:
                go_on(prepared)
                return
            # HQ is asked on the I/O pool (it reserves the lines before money moves):
            # a slow HQ never holds the database worker. Past its deadline the till goes
            # on offline (the return is marked so).
            (
                ops.io(ask_hq, cfg, prepared, timeout=ui_deadline(cfg))
                .success(lambda answer: go_on(prepared, answer))
                .failure(lambda _exc: go_on(prepared, OFFLINE))
                .run()
            )

        ops.op(prepare_return, cfg, self.plan.request).success(ask_hq_then_go_on).failure(
            self._failed).run()

    def _commit(self, prepared: PreparedReturn, answer: object = None) -> None:
        draft = self._draft if card_payments.card_amounts(prepared.plan) else ""
        self.services.ops.op(commit_prepared, self.services.cfg, prepared, answer, draft) \
            .success(self._committed).failure(self._failed).run()

    # -- card money on the payment terminal, amount by amount ------------------------------
    def _next_card(self) -> None:
        assert self._prepared is not None
        prepared, answer = self._prepared
        todo = [a for a in card_payments.card_amounts(prepared.plan)
                if not (a.key in self._settled and self._settled[a.key].amount == a.amount)]
        if not todo:
            self.terminal_box.setVisible(False)
            self._commit(prepared, answer)
            return
        amount = todo[0]
        cfg, ops = self.services.cfg, self.services.ops
        staff_id = self.plan.request.staff_id if self.plan else 0
        if self.terminal is None:
            auth = self.auth_field.text().strip()
            if self._manual == amount and auth:
                ops.op(_record_manual, cfg, self._draft, amount, staff_id, auth) \
                    .success(self._card_answer).failure(self._card_failed).run()
                return
            self._manual = amount
            self._show_manual(amount)
            return
        row = self._row_for(amount)
        if row is not None:
            row.set_status(_("On the payment terminal: the customer presents the card…"),
                           "needs_manager")
        self.terminal_text.setText(_("Payment terminal: {amount} sent, waiting for the card…")
                                   .format(amount=money(amount.amount)))
        self.auth_field.setVisible(False)
        self.terminal_box.setVisible(True)

        def started(op: CardOperation) -> None:
            if op.approved:  # already done (a manager confirmed it): nothing is sent again
                self._card_answer(op)
                return
            deadline = float(cfg.terminal_timeout_seconds) + 15
            (
                ops.io(card_payments.send_to_terminal, self.terminal, op, timeout=deadline)
                .success(lambda result: ops.op(_record_result, cfg, op.uuid, result)
                         .success(self._card_answer).failure(self._card_failed).run())
                .failure(lambda _exc: ops.op(_record_lost, cfg, op.uuid)
                         .success(self._card_answer).failure(self._card_failed).run())
                .run()
            )

        def refused(exc: BaseException) -> None:
            if getattr(exc, "code", "") == "terminal_to_check":
                ops.op(_blocking, cfg, self._draft, amount).success(
                    lambda op: self._waiting_check(op, error_message(exc))).failure(
                    self._card_failed).run()
                return
            self._card_failed(exc)

        ops.op(_start_operation, cfg, self._draft, amount, staff_id).success(started) \
            .failure(refused).run()

    def _show_manual(self, amount: CardAmount) -> None:
        self._busy = False
        if amount.action.value == "credit":
            text = _("Make the refund of {amount} on the payment terminal, then confirm "
                     "with the authorisation number it printed.")
        else:
            text = _("Take the payment of {amount} on the payment terminal, then confirm "
                     "with the authorisation number it printed.")
        self.terminal_text.setText(text.format(amount=money(amount.amount)))
        self.auth_field.setVisible(True)
        self.terminal_box.setVisible(True)
        self.banner.clear_message()
        self._refresh_buttons()
        self.auth_field.setFocus()

    def _card_answer(self, op: CardOperation) -> None:
        amounts = {a.key: a for a in card_payments.card_amounts(self._prepared[0].plan)} \
            if self._prepared else {}
        row = self._row_for(amounts[op.tender_key]) if op.tender_key in amounts else None
        if op.approved:
            self._settled[op.tender_key] = op
            self._manual = None
            self._to_check = None
            self.auth_field.clear()
            if row is not None:
                row.set_status("✓ " + op.describe(), "accepted")
            self._next_card()
            return
        self._busy = False
        if op.status == card_payments.UNKNOWN:
            if row is not None:
                row.set_status(op.describe(), "needs_manager")
            self._waiting_check(op, op.message)
            return
        # Declined: the money did not move; what the policy allows next.
        if row is not None:
            row.set_status(op.message, "refused")
        offers = [_("Try again (F10)"),
                  _("have another card presented: its last 4 digits, then a manager (F6, R03)")]
        if not self._settled and self.prefer_gift.isVisible():
            offers.append(_("or offer an Alamara Gift Card (Ctrl+K)"))
        self.terminal_box.setVisible(False)
        self.banner.show_message(op.message + "\n" + ", ".join(offers) + ".", "error")
        self._refresh_buttons()

    def _waiting_check(self, op: CardOperation | None, message: str) -> None:
        self._busy = False
        self._to_check = op
        self.terminal_text.setText(_("« To be checked »: a manager reads the payment "
                                     "terminal's receipt and confirms (F7)."))
        self.auth_field.setVisible(False)
        self.terminal_box.setVisible(True)
        self.banner.show_message(message, "error")
        self._refresh_buttons()

    def _card_failed(self, exc: BaseException) -> None:
        self._busy = False
        self.banner.show_message(error_message(exc), "error")
        self._refresh_buttons()
        if self.auth_field.isVisible():
            self.auth_field.setFocus()
            self.auth_field.selectAll()

    def ask_terminal_check(self) -> None:
        if self._to_check is None or self._busy:
            return
        dialog = TerminalCheckDialog(self.services, self._to_check, self)
        dialog.decided.connect(self._checked)
        self.terminal_check_dialog = dialog
        dialog.open()

    def _checked(self, op: CardOperation) -> None:
        self._to_check = None
        self.terminal_box.setVisible(False)
        if op.approved:
            self.banner.show_message(_("Confirmed by the manager. Press F10 to go on."), "info")
        else:
            self.banner.show_message(_("Not done on the payment terminal: press F10 to try "
                                       "again."), "info")
        self._refresh_buttons()

    def _committed(self, ticket: CommittedTicket) -> None:
        self._busy = False
        self._refresh_buttons()
        self._push_now(ticket)
        self.committed.emit(ticket)

    def _push_now(self, ticket: CommittedTicket) -> None:
        """Right after the commit, that one ticket goes up to HQ on the I/O pool (its
        push confirms HQ's reservation); HQ away, the sync round sends it later."""
        cfg = self.services.cfg
        if not cfg.hq_dsn:
            return
        ops = self.services.ops

        def send(document: object) -> None:
            if document is None:
                return
            (
                ops.io(push_after_commit, cfg, document, timeout=ui_deadline(cfg))
                .success(lambda answer: ops.op(record_push, document, answer)
                         .failure(lambda _exc: None).run())
                .failure(lambda _exc: None)  # the sync round pushes it later
                .run()
            )

        ops.op(prepare_push, ticket.uuid).success(send).failure(lambda _exc: None).run()

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self._prepared = None  # decided and reserved again at the next F10 (a failed
        self._prepared_for = None  # commit leaves its reservation abandoned)
        self._refresh_buttons()
        message = error_message(exc)
        self.banner.show_message(message, "error")
        if self.card_box.isVisible():
            self.card_field.setFocus()
            self.card_field.selectAll()
        self.failed.emit(message)

    @property
    def wants_print(self) -> bool:
        return self.print_box.isChecked()
