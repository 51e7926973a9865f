"""The sale: what was sold, what is still returnable, and what comes back.

Per line the salesperson sets the quantity, the condition and the reason; the
policy engine (``pos_returns.usecases.planning.plan_return``, on the worker) answers with a
verdict per line and where the money goes, every time something changes. The
screen only renders that answer: a blocked line shows the engine's reason and
the way to a manager (F6). Exchange items are scanned into the same ticket; the
net to pay or to refund stays visible at the bottom right.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.approvals import manager_can_act
from pos_returns.engine.domain import Condition, Product, Sale, SaleLine, Staff
from pos_returns.engine.plan import (
    Approval,
    LineRequest,
    NewItem,
    ReturnPlan,
    ReturnRequest,
    Verdict,
)
from pos_returns.engine.reasons import CONDITIONS, RETURN_REASONS
from pos_returns.i18n import _, format_percent

from ..format import money, sale_datetime, sale_reference, tender_text
from ..ops import error_message
from ..services import Services
from ..tasks import ask_policy, scan_item
from ..widgets.common import Banner, action_button, card, label, repolish
from ..widgets.verdict import VerdictLabel


def _list_model(entries: list[tuple[str, str]]) -> QStandardItemModel:
    model = QStandardItemModel()
    for text, data in entries:
        item = QStandardItem(text)
        item.setData(data, Qt.ItemDataRole.UserRole)
        model.appendRow(item)
    return model


class LineCard(QFrame):
    """One sale line: facts on top, the salesperson's choices, the engine's verdict.

    Cards are pooled by the sale screen and re-bound to the next sale's lines
    (:meth:`bind`): building widgets is what costs time when a sale opens.
    """

    changed = Signal()

    def __init__(self, conditions: QStandardItemModel, reasons: QStandardItemModel,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line: SaleLine | None = None
        self.index = 0
        self.setProperty("card", True)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 12, 16, 12)
        box.setSpacing(6)

        top = QHBoxLayout()
        self.title = label("", name="sectionTitle", wrap=True)
        top.addWidget(self.title, 1)
        self.price = label("")
        self.price.setAlignment(Qt.AlignmentFlag.AlignRight)
        top.addWidget(self.price)
        box.addLayout(top)
        self.facts = label("", muted=True, wrap=True)
        box.addWidget(self.facts)

        choices = QGridLayout()
        choices.setHorizontalSpacing(10)
        choices.setVerticalSpacing(8)
        choices.addWidget(label(_("Take back")), 0, 0)
        self.qty = QSpinBox()
        self.qty.setMinimumWidth(110)
        self.qty.setMinimumHeight(48)
        self.qty.valueChanged.connect(self._qty_changed)
        choices.addWidget(self.qty, 0, 1)
        choices.addWidget(label(_("Condition")), 0, 2, Qt.AlignmentFlag.AlignRight)
        self.condition = QComboBox()
        self.condition.setModel(conditions)
        self.condition.currentIndexChanged.connect(self._choice_changed)
        choices.addWidget(self.condition, 0, 3)
        choices.addWidget(label(_("Reason")), 1, 2, Qt.AlignmentFlag.AlignRight)
        self.reason = QComboBox()
        self.reason.setModel(reasons)
        self.reason.currentIndexChanged.connect(self._choice_changed)
        choices.addWidget(self.reason, 1, 3)
        for combo in (self.condition, self.reason):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
            combo.setMinimumHeight(48)
        choices.setColumnStretch(3, 1)
        choices.setColumnMinimumWidth(2, 90)
        box.addLayout(choices)

        self.verdict = VerdictLabel()
        box.addWidget(self.verdict)
        self._binding = False

    def bind(self, line: SaleLine, index: int) -> None:
        """Show ``line`` (number ``index``) with nothing chosen yet."""
        self._binding = True
        self.line = line
        self.index = index
        self.title.setText(f"{index}. {line.name}")
        self.price.setText(_("{price} each (paid)").format(price=money(line.unit_price)))
        facts = [line.sku]
        if line.serial_number:
            facts.append(_("serial {serial}").format(serial=line.serial_number))
        facts.append(_("VAT {rate}").format(rate=format_percent(line.vat_rate_bp)))
        facts.append(_("sold: {n}").format(n=line.quantity))
        facts.append(_("already returned: {n}").format(n=line.returned_qty))
        facts.append(_("still returnable: {n}").format(n=line.refundable_qty))
        if line.list_price > line.unit_price:
            facts.append(_("list price {price}").format(price=money(line.list_price)))
        self.facts.setText(" · ".join(facts))
        self.qty.setRange(0, line.refundable_qty)
        self.qty.setValue(0)
        self.qty.setAccessibleName(_("Quantity to return, line {n}").format(n=index))
        self.condition.setCurrentIndex(0)
        self.reason.setCurrentIndex(0)
        enabled = line.refundable_qty > 0
        self.qty.setEnabled(enabled)
        if enabled:
            self.verdict.show_none("")
        else:
            self.verdict.show_none(_("Already fully returned."))
        self._sync_enabled()
        self._binding = False

    def _qty_changed(self, _value: int) -> None:
        self._sync_enabled()
        if not self._binding:
            self.changed.emit()

    def _choice_changed(self, _index: int) -> None:
        if not self._binding:
            self.changed.emit()

    def _sync_enabled(self) -> None:
        active = self.qty.value() > 0
        self.condition.setEnabled(active)
        self.reason.setEnabled(active)
        if not active and self.line is not None and self.line.refundable_qty > 0:
            self.verdict.show_none("")

    def request(self) -> LineRequest | None:
        if self.line is None or self.qty.value() <= 0:
            return None
        return LineRequest(
            quantity=self.qty.value(),
            condition=Condition(self.condition.currentData()),
            reason=self.reason.currentData() or "",
            sale_line_id=int(self.line.id),
            # The serial read off a jewel is the specialist's to type (R14): never the
            # sale's own serial copied in.
        )

    def set_condition(self, condition: Condition) -> None:
        self.condition.setCurrentIndex(self.condition.findData(str(condition)))

    def set_reason(self, code: str) -> None:
        self.reason.setCurrentIndex(self.reason.findData(code))


class SaleScreen(QWidget):
    back_requested = Signal()
    proceed = Signal(object)  # ReturnPlan
    plan_changed = Signal(object)  # ReturnPlan | None
    approval_requested = Signal(object)  # ReturnPlan
    jewelry_requested = Signal()  # F4: the fine-jewelry checks (ui/dialogs/jewelry_proof.py)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("screen")
        self.sale: Sale | None = None
        self.cards: list[LineCard] = []
        self.new_items: list[Product] = []
        self.approvals: list[Approval] = []
        self.plan: ReturnPlan | None = None
        self._seq = 0
        self._planning = False
        self._replan = QTimer(self)
        self._replan.setSingleShot(True)
        self._replan.setInterval(0)
        self._replan.timeout.connect(self._run_plan)

        outer = QHBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 16)
        outer.setSpacing(18)

        # -- left: the lines ----------------------------------------------------------------
        left = QVBoxLayout()
        left.setSpacing(10)
        self.title = label("", name="title", wrap=True)
        left.addWidget(self.title)
        self.subtitle = label("", name="subtitle", wrap=True)
        left.addWidget(self.subtitle)
        self.badges = label("", wrap=True)
        self.badges.setObjectName("banner")
        self.badges.setProperty("level", "warning")
        left.addWidget(self.badges)
        # Fine jewelry (R14): what the sale's jewelry lines need, in the mode's words.
        self.jewelry_notice = label("", wrap=True)
        self.jewelry_notice.setObjectName("banner")
        self.jewelry_notice.setProperty("level", "warning")
        self.jewelry_notice.hide()
        jewelry_row = QHBoxLayout()
        jewelry_row.setSpacing(10)
        jewelry_row.addWidget(self.jewelry_notice, 1)
        self.jewelry_button = action_button(_("Fine-jewelry checks"), shortcut="F4",
                                            role="warning")
        self.jewelry_button.clicked.connect(self.ask_jewelry_checks)
        self.jewelry_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F4"), self, self.ask_jewelry_checks)
        self.jewelry_button.hide()
        jewelry_row.addWidget(self.jewelry_button)
        left.addLayout(jewelry_row)
        self.banner = Banner()
        left.addWidget(self.banner)

        tools = QHBoxLayout()
        self.back_button = action_button(_("Back"), shortcut="Esc", icon_name="back")
        self.back_button.clicked.connect(self.back_requested)
        tools.addWidget(self.back_button)
        tools.addSpacing(12)
        tools.addWidget(label(_("What comes back?"), name="sectionTitle"))
        tools.addStretch(1)
        self.all_button = action_button(_("Return everything"), shortcut="Ctrl+T")
        self.all_button.clicked.connect(self.return_everything)
        tools.addWidget(self.all_button)
        left.addLayout(tools)

        self.lines_host = QWidget()
        self.lines_host.setObjectName("linesHost")
        self.lines_layout = QVBoxLayout(self.lines_host)
        self.lines_layout.setContentsMargins(0, 0, 6, 0)
        self.lines_layout.setSpacing(10)
        self.lines_layout.addStretch(1)
        self._pool: list[LineCard] = []
        self._conditions = _list_model([(_(text), str(c)) for c, text in CONDITIONS.items()])
        self._reasons = _list_model(
            [(_("— choose —"), "")] + [(_(text), code) for code, text in RETURN_REASONS.items()])
        self.lines_scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.lines_host)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.viewport().setAutoFillBackground(False)
        left.addWidget(scroll, 1)

        self.gift = QCheckBox(_("It was a gift (refund on an Alamara Gift Card)   Ctrl+G"))
        self.gift.toggled.connect(lambda _c: self.schedule_plan())
        QShortcut(QKeySequence("Ctrl+G"), self, self.gift.toggle)
        left.addWidget(self.gift)
        outer.addLayout(left, 3)

        # -- right: sale facts, exchange, net ------------------------------------------------
        right_box = QWidget()
        right_box.setFixedWidth(440)
        right = QVBoxLayout(right_box)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(12)

        facts = card()
        fl = QVBoxLayout(facts)
        fl.setContentsMargins(16, 12, 16, 12)
        fl.setSpacing(4)
        fl.addWidget(label(_("Paid with"), name="sectionTitle"))
        self.tenders = label("", wrap=True)
        fl.addWidget(self.tenders)
        self.customer = label("", muted=True, wrap=True)
        fl.addWidget(self.customer)
        right.addWidget(facts)

        exchange = card()
        el = QVBoxLayout(exchange)
        el.setContentsMargins(16, 12, 16, 12)
        el.setSpacing(6)
        el.addWidget(label(_("Exchange: new items (F7)"), name="sectionTitle"))
        self.exchange_scan = QLineEdit()
        self.exchange_scan.setObjectName("exchangeScan")
        self.exchange_scan.setPlaceholderText(_("Scan the new item (EAN)"))
        self.exchange_scan.setMaxLength(64)
        self.exchange_scan.returnPressed.connect(self.add_new_item)
        el.addWidget(self.exchange_scan)
        self.new_list = QListWidget()
        self.new_list.setMaximumHeight(150)
        self.new_list.hide()
        el.addWidget(self.new_list)
        self.new_empty = label(_("No new item: a plain return."), name="emptyHint", wrap=True)
        el.addWidget(self.new_empty)
        self.remove_item_button = action_button(_("Remove the item"), shortcut="Ctrl+Del")
        self.remove_item_button.clicked.connect(self.remove_new_item)
        el.addWidget(self.remove_item_button)
        right.addWidget(exchange)
        right.addStretch(1)

        net = QFrame()
        net.setObjectName("netBar")
        nl = QVBoxLayout(net)
        nl.setContentsMargins(18, 12, 18, 14)
        nl.setSpacing(2)
        self.net_caption = QLabel(_("Nothing selected yet"))
        self.net_caption.setObjectName("netCaption")
        self.net_amount = QLabel(money(0))
        self.net_amount.setObjectName("netAmount")
        self.net_detail = QLabel("")
        self.net_detail.setObjectName("netCaption")
        self.net_detail.setWordWrap(True)
        nl.addWidget(self.net_caption)
        nl.addWidget(self.net_amount)
        nl.addWidget(self.net_detail)
        right.addWidget(net)

        self.manager_button = action_button(_("Manager"), shortcut="F6", role="warning",
                                            icon_name="manager")
        self.manager_button.clicked.connect(self.ask_manager)
        self.continue_button = action_button(_("Continue to refund"), shortcut="F10",
                                             role="primary")
        self.continue_button.setMinimumHeight(60)
        self.continue_button.clicked.connect(self.go_on)
        self.continue_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F10"), self, self.go_on)
        right.addWidget(self.manager_button)
        right.addWidget(self.continue_button)
        outer.addWidget(right_box, 2)

        QShortcut(QKeySequence("F7"), self, self.exchange_scan.setFocus)
        self._refresh_buttons()

    # -- loading ------------------------------------------------------------------------------
    def show_sale(self, sale: Sale) -> None:
        self.sale = sale
        self.plan = None
        self.approvals = []
        self.new_items = []
        self._seq += 1
        self.banner.clear_message()
        self.gift.blockSignals(True)
        self.gift.setChecked(sale.gift_receipt)
        self.gift.setEnabled(not sale.gift_receipt)
        self.gift.blockSignals(False)
        ctx = self.services.context
        self.title.setText(sale_reference(sale))
        where = ctx.store_name(sale.store_id)
        if sale.order_number and not sale.receipt_number:
            where = _("AlamaraStore.com")
        self.subtitle.setText(
            _("{date} · {where} · total {total}").format(
                date=sale_datetime(sale), where=where, total=money(sale.total)
            )
        )
        badges = []
        if sale.gift_receipt:
            badges.append(_("Gift receipt: the refund goes on an Alamara Gift Card (R06)."))
        if sale.international:
            badges.append(
                _("International order: duties, taxes and tariffs ({duties}) are not "
                  "refunded in store (R15).").format(duties=money(sale.duties))
            )
        if sale.shipping:
            badges.append(
                _("Shipping ({amount}) is not refunded (R10).").format(amount=money(sale.shipping))
            )
        self.badges.setText("\n".join(badges))
        self.badges.setVisible(bool(badges))
        jewel = getattr(self.services, "jewelry", None)
        if jewel is not None:
            jewel.reset_sale(sale)
        self._show_jewelry()
        self.tenders.setText(
            "\n".join(f"{tender_text(t)} : {money(t.amount)}" for t in sale.tenders)
        )
        if sale.customer:
            c = sale.customer
            self.customer.setText(
                _("Customer: {name} ({account})").format(name=c.full_name,
                                                          account=c.account_number)
            )
        else:
            self.customer.setText(_("No customer account on this sale."))

        self.cards = []
        for i, line in enumerate(sale.lines, 1):
            if i > len(self._pool):
                line_card = LineCard(self._conditions, self._reasons)
                line_card.changed.connect(self.schedule_plan)
                line_card.changed.connect(
                    lambda c=line_card: self.lines_scroll.ensureWidgetVisible(c, 0, 0))
                self.lines_layout.insertWidget(len(self._pool), line_card)
                self._pool.append(line_card)
            line_card = self._pool[i - 1]
            line_card.bind(line, i)
            line_card.show()
            self.cards.append(line_card)
        for spare in self._pool[len(sale.lines):]:
            spare.hide()
        self.lines_scroll.verticalScrollBar().setValue(0)
        self.new_list.clear()
        self.exchange_scan.clear()
        if sale.fully_returned:
            self.banner.show_message(
                _("Every item of this sale has already been returned: nothing left to refund."),
                "info",
            )
        self._render_plan()
        QTimer.singleShot(0, self.focus_first_line)

    def focus_first_line(self) -> None:
        for line_card in self.cards:
            if line_card.qty.isEnabled():
                line_card.qty.setFocus()
                line_card.qty.selectAll()
                return
        self.exchange_scan.setFocus()

    def return_everything(self) -> None:
        for line_card in self.cards:
            if line_card.qty.isEnabled():
                line_card.qty.setValue(line_card.line.refundable_qty)

    # -- exchange -----------------------------------------------------------------------------
    def add_new_item(self) -> None:
        scan_item(self.services, self.exchange_scan, self.banner, self._item_found)

    def _item_found(self, product: Product) -> None:
        self.new_items.append(product)
        self._render_new_items()
        self.schedule_plan()

    def remove_new_item(self) -> None:
        row = self.new_list.currentRow()
        if row < 0 and self.new_items:
            row = len(self.new_items) - 1
        if 0 <= row < len(self.new_items):
            del self.new_items[row]
            self._render_new_items()
            self.schedule_plan()

    def _render_new_items(self) -> None:
        self.new_list.clear()
        for product in self.new_items:
            QListWidgetItem(f"{product.name} — {money(product.current_price)}", self.new_list)
        self._refresh_buttons()

    # -- planning -----------------------------------------------------------------------------
    def build_request(self) -> ReturnRequest | None:
        if self.sale is None or self.services.staff is None:
            return None
        jewel = getattr(self.services, "jewelry", None)
        lines = tuple(
            jewel.line_request(c.line, r) if jewel is not None else r
            for c, r in ((c, c.request()) for c in self.cards) if r is not None
        )
        counts: dict[str, int] = {}
        for product in self.new_items:
            counts[product.sku] = counts.get(product.sku, 0) + 1
        staff: Staff = self.services.staff
        return ReturnRequest(
            store_id=self.services.cfg.store_id,
            till_no=self.services.cfg.till_no,
            staff_id=int(staff.id),
            sale_id=int(self.sale.id),
            lines=lines,
            new_items=tuple(NewItem(sku, qty) for sku, qty in counts.items()),
            gift=self.gift.isChecked(),
            approvals=tuple(self.approvals),
            # fine jewelry: mode, proof, serials, inspections, signature (docs/jewelry.md)
            **(jewel.request_fields() if jewel is not None else {}),  # type: ignore[arg-type]
        )

    def schedule_plan(self) -> None:
        self._seq += 1
        self._replan.start()
        self._refresh_buttons()

    def _run_plan(self) -> None:
        request = self.build_request()
        if request is None or (not request.lines and not request.new_items):
            self.plan = None
            self._render_plan()
            return
        seq = self._seq
        self._planning = True
        self._refresh_buttons()
        ask_policy(self.services, request, seq, self._planned, self._plan_failed)

    def _planned(self, seq: int, plan: ReturnPlan) -> None:
        if seq != self._seq:
            return  # an older answer: a newer request is on its way
        self._planning = False
        self.banner.clear_message()
        self.plan = plan
        self._render_plan()

    def _plan_failed(self, seq: int, exc: BaseException) -> None:
        if seq != self._seq:
            return
        self._planning = False
        self.plan = None
        self.banner.show_message(error_message(exc))
        self._render_plan()

    def _render_plan(self) -> None:
        plan = self.plan
        by_line = {}
        if plan is not None:
            by_line = {pl.sale_line_id: pl for pl in plan.lines
                       if pl.direction == "return" and pl.sale_line_id is not None}
        for line_card in self.cards:
            planned = by_line.get(int(line_card.line.id))
            if planned is not None and line_card.qty.value() > 0:
                line_card.verdict.show_line(planned)
            elif line_card.line.refundable_qty == 0:
                line_card.verdict.show_none(_("Already fully returned."))
            else:
                line_card.verdict.show_none("")
        if plan is not None and self.new_items:
            sale_lines = [pl for pl in plan.lines if pl.direction == "sale"]
            self.new_list.clear()
            for pl in sale_lines:
                QListWidgetItem(
                    f"{pl.quantity} × {pl.name} — {money(pl.amount)}", self.new_list
                )
        self._render_net()
        self._refresh_buttons()
        self.plan_changed.emit(plan)

    def _render_net(self) -> None:
        plan = self.plan
        if plan is None:
            self.net_caption.setText(_("Nothing selected yet"))
            self.net_amount.setText(money(0))
            self.net_detail.setText("")
            return
        if plan.net >= 0:
            self.net_caption.setText(_("To refund to the customer"))
        else:
            self.net_caption.setText(_("To be paid by the customer"))
        self.net_amount.setText(money(abs(plan.net)))
        parts = [_("returned {amount}").format(amount=money(plan.refund_total))]
        if plan.charge_total:
            parts.append(_("new items {amount}").format(amount=money(plan.charge_total)))
        if plan.restocking_fees:
            parts.append(_("restocking fees {amount}").format(amount=money(plan.restocking_fees)))
        self.net_detail.setText(" · ".join(parts))

    def _refresh_buttons(self) -> None:
        plan = self.plan
        fresh = plan is not None and not self._replan.isActive() and not self._planning
        needs = bool(plan and any(pl.verdict != Verdict.ACCEPTED for pl in plan.lines))
        # Refund-level checks (the card presented, cash ceiling) belong to the refund screen.
        self.continue_button.setEnabled(bool(fresh and plan and plan.lines and not needs))
        # F6 only where a manager can do something (issue 12: not on a line nobody overrides)
        self.manager_button.setEnabled(manager_can_act(plan))
        self.manager_button.setProperty("role", "warning" if needs else "")
        self.remove_item_button.setEnabled(bool(self.new_items))
        self.remove_item_button.setVisible(bool(self.new_items))
        self.new_list.setVisible(bool(self.new_items))
        self.new_empty.setVisible(not self.new_items)
        repolish(self.manager_button)

    # -- fine jewelry (R14) -------------------------------------------------------------------
    def _show_jewelry(self) -> None:
        jewel = getattr(self.services, "jewelry", None)
        notice = jewel.sale_notice(self.sale) if jewel is not None else ""
        self.jewelry_notice.setText(notice)
        self.jewelry_notice.setVisible(bool(notice))
        self.jewelry_button.setVisible(bool(jewel is not None and jewel.on
                                            and jewel.has_jewelry(self.sale)))

    def jewelry_changed(self) -> None:
        """The mode went on or off, or the checks were recorded: ask the engine again."""
        self._show_jewelry()
        if self.sale is not None:
            self.schedule_plan()

    def ask_jewelry_checks(self) -> None:
        if self.sale is not None and self.jewelry_button.isVisible():
            self.jewelry_requested.emit()

    def is_settled(self) -> bool:
        """No plan request waiting or running: what is shown is the engine's last word."""
        return not self._replan.isActive() and not self._planning

    # -- manager ------------------------------------------------------------------------------
    def ask_manager(self) -> None:
        if self.plan is not None:
            self.approval_requested.emit(self.plan)

    def add_approvals(self, approvals: list[Approval]) -> None:
        keep = [a for a in self.approvals
                if (a.line_no, a.rule) not in {(b.line_no, b.rule) for b in approvals}]
        self.approvals = keep + list(approvals)
        self.schedule_plan()

    def go_on(self) -> None:
        """F10: on to the refund, or say what still stands in the way."""
        if self.plan is not None and self.continue_button.isEnabled():
            self.proceed.emit(self.plan)
            return
        if not self.is_settled():
            return
        if self.plan is None:
            self.banner.show_message(
                _("Choose what comes back: the quantity on each line, or scan a new item."),
                "info")
            self.focus_first_line()
        elif any(pl.verdict != Verdict.ACCEPTED for pl in self.plan.lines):
            self.banner.show_message(
                _("Some lines wait for a manager or are refused: press F6 for a manager, "
                  "or set their quantity to 0."), "error")


