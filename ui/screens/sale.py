"""The sale: what was sold, what is still returnable, and what comes back.

Per line the salesperson sets the quantity, the condition and the reason; the
policy engine (``pos_returns.usecases.planning.plan_return``, on the worker) answers with a
verdict per line and where the money goes, every time something changes. The
screen only renders that answer: a blocked line shows the engine's reason and
the way to a manager (F6). Exchange items are scanned into the same ticket; the
net to pay or to refund stays visible at the bottom right.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.approvals import bound_approvals, manager_can_act, sale_cards
from pos_returns.engine.domain import Condition, Product, Sale, SaleLine, Staff
from pos_returns.engine.plan import (
    Approval,
    LineRequest,
    NewItem,
    ReturnPlan,
    ReturnRequest,
)
from pos_returns.engine.reasons import CONDITIONS, RETURN_REASONS
from pos_returns.i18n import _, format_percent

from ..format import money, sale_datetime, sale_reference, staff_text, tender_text
from ..ops import error_message
from ..services import Services
from ..tasks import ask_policy, scan_item
from ..widgets.common import (
    Banner,
    action_button,
    card,
    label,
    repolish,
    set_tab_chain,
    shortcut_text,
)
from ..widgets.verdict import VerdictLabel, jewelry_checks_pending, verdict_title


def _list_model(entries: list[tuple[str, str]]) -> QStandardItemModel:
    model = QStandardItemModel()
    for text, data in entries:
        item = QStandardItem(text)
        item.setData(data, Qt.ItemDataRole.UserRole)
        model.appendRow(item)
    return model


def reason_keys() -> dict[str, str]:
    """The key that picks each return reason on a line: 1 to 9 in the engine's order,
    0 for "Other" (the one reason left without a digit is reached with the arrows)."""
    keys: dict[str, str] = {}
    digits = iter("123456789")
    for code in RETURN_REASONS:
        if code == "other":
            keys[code] = "0"
        else:
            keys[code] = next(digits, "")
    return keys


def reasons_model() -> QStandardItemModel:
    keys = reason_keys()
    entries = [(_("— choose —"), "")]
    for code, text in RETURN_REASONS.items():
        key = keys[code]
        entries.append((f"{key} · {_(text)}" if key else f"   {_(text)}", code))
    return _list_model(entries)


class QtySpin(QSpinBox):
    """The quantity: digits replace it; a complete quantity moves on (``typed``)."""

    typed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # big −/+ buttons beside it; its own arrows are hidden by the style sheet
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def keyPressEvent(self, event) -> None:
        text = event.text()
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.KeypadModifier)
        # One digit is the whole quantity when fewer than 10 are left to return: it
        # replaces the quantity (wherever the cursor is) and moves on.
        if text.isdigit() and plain and self.maximum() < 10:
            value = int(text)
            if value <= self.maximum():
                self.setValue(value)
                self.selectAll()
                self.typed.emit(value)
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        QTimer.singleShot(0, self.selectAll)  # the next digit replaces the quantity


class ReasonCombo(QComboBox):
    """The return reason: a digit picks it (1–9, 0) and moves on (``picked``)."""

    picked = Signal()

    def keyPressEvent(self, event) -> None:
        text = event.text()
        if text.isdigit() and event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                                    Qt.KeyboardModifier.KeypadModifier):
            for row in range(1, self.count()):
                if self.itemText(row).startswith(f"{text} · "):
                    self.setCurrentIndex(row)
                    self.picked.emit()
                    return
            return
        super().keyPressEvent(event)


class LineCard(QFrame):
    """One sale line: facts on top, the salesperson's choices, the engine's verdict.

    Cards are pooled by the sale screen and re-bound to the next sale's lines
    (:meth:`bind`): building widgets is what costs time when a sale opens.
    Keyboard: a digit sets the quantity and moves to the reason; a digit there
    picks the reason and moves to the next line (``done``).
    """

    changed = Signal()
    done = Signal()  # the line is set: the focus moves to the next line

    def __init__(self, conditions: QStandardItemModel, reasons: QStandardItemModel,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line: SaleLine | None = None
        self.index = 0
        self.setProperty("card", True)
        box = QVBoxLayout(self)
        box.setContentsMargins(14, 8, 14, 8)
        box.setSpacing(4)
        self._build_header(box)
        self._build_choices(box, conditions, reasons)
        self._set_tab_order()

        self.verdict = VerdictLabel()
        box.addWidget(self.verdict)
        self._binding = False

    def _build_header(self, box: QVBoxLayout) -> None:
        top = QHBoxLayout()
        self.title = label("", name="sectionTitle", wrap=True)
        top.addWidget(self.title, 1)
        self.price = label("")
        self.price.setAlignment(Qt.AlignmentFlag.AlignRight)
        top.addWidget(self.price)
        box.addLayout(top)
        self.facts = label("", muted=True, wrap=True)
        box.addWidget(self.facts)

    def _build_choices(self, box: QVBoxLayout, conditions: QStandardItemModel,
                       reasons: QStandardItemModel) -> None:
        # Labels above their fields: the drop-downs get the width to show their words.
        choices = QGridLayout()
        choices.setHorizontalSpacing(8)
        choices.setVerticalSpacing(0)
        self._build_quantity(choices)
        self._build_reason_condition(choices, conditions, reasons)
        box.addLayout(choices)

    def _build_quantity(self, choices: QGridLayout) -> None:
        self.qty_label = label(_("Quantity"), name="fieldCaption")
        self.minus = QPushButton("−")
        self.plus = QPushButton("+")
        self.qty = QtySpin()
        self.qty.setObjectName("qtySpin")
        self.qty.setFixedWidth(72)
        self.qty.setMinimumHeight(48)
        self.qty.valueChanged.connect(self._qty_changed)
        self.qty.typed.connect(self._qty_typed)
        self.qty_label.setBuddy(self.qty)
        for button, step in ((self.minus, -1), (self.plus, 1)):
            button.setObjectName("stepButton")
            button.setFixedSize(48, 48)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # touch; the keyboard types digits
            button.setAutoRepeat(True)
            button.clicked.connect(lambda _c=False, s=step: self.qty.stepBy(s))
        qty_row = QHBoxLayout()
        qty_row.setSpacing(4)
        qty_row.addWidget(self.minus)
        qty_row.addWidget(self.qty)
        qty_row.addWidget(self.plus)
        choices.addWidget(self.qty_label, 0, 0)
        choices.addLayout(qty_row, 1, 0)

    def _build_reason_condition(self, choices: QGridLayout, conditions: QStandardItemModel,
                                reasons: QStandardItemModel) -> None:
        self.reason_label = label(_("Reason (keys 1–9, 0)"), name="fieldCaption")
        self.reason = ReasonCombo()
        self.reason.setModel(reasons)
        self.reason.currentIndexChanged.connect(self._choice_changed)
        self.reason.picked.connect(self.done)
        self.reason_label.setBuddy(self.reason)
        choices.addWidget(self.reason_label, 0, 1)
        choices.addWidget(self.reason, 1, 1)
        self.condition_label = label(_("Condition"), name="fieldCaption")
        self.condition = QComboBox()
        self.condition.setModel(conditions)
        self.condition.currentIndexChanged.connect(self._choice_changed)
        self.condition_label.setBuddy(self.condition)
        choices.addWidget(self.condition_label, 0, 2)
        choices.addWidget(self.condition, 1, 2)
        choices.setColumnStretch(1, 1)
        choices.setColumnStretch(2, 1)
        for combo in (self.condition, self.reason):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
            combo.setMinimumHeight(48)

    def _set_tab_order(self) -> None:
        # keyboard order inside a card: quantity, reason, condition (rarely changed)
        QWidget.setTabOrder(self.qty, self.reason)
        QWidget.setTabOrder(self.reason, self.condition)

    def focus_widgets(self) -> list[QWidget]:
        return [self.qty, self.reason, self.condition]

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
        if line.returned_qty:
            facts.append(_("already returned: {n}").format(n=line.returned_qty))
        facts.append(_("still returnable: {n}").format(n=line.refundable_qty))
        if line.list_price > line.unit_price:
            facts.append(_("list price {price}").format(price=money(line.list_price)))
        self.facts.setText(" · ".join(facts))
        self.qty.setRange(0, line.refundable_qty)
        self.qty.setValue(0)
        self.qty.setAccessibleName(_("Quantity to return, line {n}").format(n=index))
        self.reason.setAccessibleName(_("Return reason, line {n}").format(n=index))
        self.condition.setAccessibleName(_("Condition of the item, line {n}").format(n=index))
        self.minus.setAccessibleName(_("One less, line {n}").format(n=index))
        self.plus.setAccessibleName(_("One more, line {n}").format(n=index))
        self.condition.setCurrentIndex(0)
        self.reason.setCurrentIndex(0)
        enabled = line.refundable_qty > 0
        for widget in (self.qty, self.minus, self.plus):
            widget.setEnabled(enabled)
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

    def _qty_typed(self, value: int) -> None:
        if value > 0:
            self.reason.setFocus()
        else:
            self.done.emit()  # 0: this line does not come back, on to the next

    def _choice_changed(self, _index: int) -> None:
        if not self._binding:
            self.changed.emit()

    def _sync_enabled(self) -> None:
        active = self.qty.value() > 0
        self.condition.setEnabled(active)
        self.reason.setEnabled(active)
        if not active and self.line is not None and self.line.refundable_qty > 0:
            self.verdict.show_none("")

    def missing_reason(self) -> bool:
        return self.qty.value() > 0 and not self.reason.currentData()

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
        self._new_decisions: list[Approval] = []
        self._seq = 0
        self._planning = False
        self._looking_up = 0  # exchange articles being looked up
        self._replan = QTimer(self)
        self._replan.setSingleShot(True)
        self._replan.setInterval(0)
        self._replan.timeout.connect(self._run_plan)

        outer = QHBoxLayout(self)
        outer.setContentsMargins(20, 12, 20, 12)
        outer.setSpacing(16)
        outer.addLayout(self._build_left(), 3)
        outer.addWidget(self._build_right(), 2)

        QShortcut(QKeySequence("F7"), self, self.exchange_scan.setFocus)
        self._refresh_buttons()

    # -- left: the lines ----------------------------------------------------------------------
    def _build_left(self) -> QVBoxLayout:
        left = QVBoxLayout()
        left.setSpacing(8)
        self._build_heading(left)
        self._build_jewelry(left)
        self._build_banners(left)
        self._build_lines(left)
        self._build_gift(left)
        return left

    def _build_heading(self, left: QVBoxLayout) -> None:
        heading = QHBoxLayout()
        heading.setSpacing(14)
        self.back_button = action_button(_("Back"), shortcut="Esc", icon_name="back")
        self.back_button.clicked.connect(self.back_requested)
        heading.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title = label("", name="title", wrap=True)
        titles.addWidget(self.title)
        self.subtitle = label("", name="subtitle", wrap=True)
        titles.addWidget(self.subtitle)
        heading.addLayout(titles, 1)
        left.addLayout(heading)
        self.badges = label("", wrap=True)
        self.badges.setObjectName("banner")
        self.badges.setProperty("level", "warning")
        left.addWidget(self.badges)

    def _build_jewelry(self, left: QVBoxLayout) -> None:
        # Fine jewelry (R14): what the sale's jewelry lines need, in the mode's words.
        self.jewelry_notice = label("", wrap=True)
        self.jewelry_notice.setObjectName("banner")
        self.jewelry_notice.setProperty("level", "warning")
        self.jewelry_notice.hide()
        jewelry_row = QHBoxLayout()
        jewelry_row.setSpacing(10)
        jewelry_row.addWidget(self.jewelry_notice, 1)
        self.jewelry_button = action_button(_("Fine-jewelry checks"), shortcut="F4",
                                            role="primary")
        self.jewelry_button.clicked.connect(self.ask_jewelry_checks)
        self.jewelry_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F4"), self, self.ask_jewelry_checks)
        self.jewelry_button.hide()
        jewelry_row.addWidget(self.jewelry_button)
        left.addLayout(jewelry_row)

    def _build_banners(self, left: QVBoxLayout) -> None:
        self.banner = Banner()
        left.addWidget(self.banner)
        # What a manager just decided, and every line that holds the return: above the
        # lines, never below the fold.
        self.decision = Banner()
        self.decision.setObjectName("banner")
        left.addWidget(self.decision)
        self.blocking = Banner()
        left.addWidget(self.blocking)

    def _build_lines(self, left: QVBoxLayout) -> None:
        tools = QHBoxLayout()
        self.lines_title = label(_("What comes back?"), name="sectionTitle")
        tools.addWidget(self.lines_title)
        tools.addStretch(1)
        self.all_button = action_button(_("Return everything"), shortcut="Ctrl+T")
        self.all_button.clicked.connect(self.return_everything)
        tools.addWidget(self.all_button)
        left.addLayout(tools)

        self.lines_host = QWidget()
        self.lines_host.setObjectName("linesHost")
        self.lines_layout = QVBoxLayout(self.lines_host)
        self.lines_layout.setContentsMargins(0, 0, 6, 0)
        self.lines_layout.setSpacing(8)
        self.lines_layout.addStretch(1)
        self._pool: list[LineCard] = []
        self._conditions = _list_model([(_(text), str(c)) for c, text in CONDITIONS.items()])
        self._reasons = reasons_model()
        self.lines_scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.lines_host)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.viewport().setAutoFillBackground(False)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        left.addWidget(scroll, 1)

    def _build_gift(self, left: QVBoxLayout) -> None:
        self.gift = QCheckBox(_("It was a gift (refund on an Alamara Gift Card)   Ctrl+G"))
        self.gift.toggled.connect(lambda _c: self.schedule_plan())
        self.gift.setAccessibleName(_("It was a gift (refund on an Alamara Gift Card)"))
        QShortcut(QKeySequence("Ctrl+G"), self, self.gift.toggle)
        left.addWidget(self.gift)

    # -- right: sale facts, exchange, net ------------------------------------------------------
    def _build_right(self) -> QWidget:
        right_box = QWidget()
        right_box.setFixedWidth(420)
        right = QVBoxLayout(right_box)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(10)
        self._build_facts(right)
        self._build_exchange(right)
        right.addStretch(1)
        self._build_net(right)
        self._build_actions(right)
        return right_box

    def _build_facts(self, right: QVBoxLayout) -> None:
        facts = card()
        fl = QVBoxLayout(facts)
        fl.setContentsMargins(16, 10, 16, 10)
        fl.setSpacing(2)
        fl.addWidget(label(_("Paid with"), name="sectionTitle"))
        self.tenders = label("", wrap=True)
        fl.addWidget(self.tenders)
        self.customer = label("", muted=True, wrap=True)
        fl.addWidget(self.customer)
        right.addWidget(facts)

    def _build_exchange(self, right: QVBoxLayout) -> None:
        exchange = card()
        el = QVBoxLayout(exchange)
        el.setContentsMargins(16, 10, 16, 10)
        el.setSpacing(6)
        self.exchange_title = label(_("Exchange: new items (F7)"), name="sectionTitle")
        el.addWidget(self.exchange_title)
        self.exchange_scan = QLineEdit()
        self.exchange_scan.setObjectName("exchangeScan")
        self.exchange_scan.setPlaceholderText(_("Scan the new item (EAN)"))
        self.exchange_scan.setAccessibleName(_("Scan the new item (EAN)"))
        self.exchange_scan.setMaxLength(64)
        self.exchange_scan.returnPressed.connect(self.add_new_item)
        el.addWidget(self.exchange_scan)
        self.new_list = QListWidget()
        self.new_list.setAccessibleName(_("New items of the exchange"))
        self.new_list.setMaximumHeight(150)
        self.new_list.setWordWrap(True)
        self.new_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.new_list.hide()
        el.addWidget(self.new_list)
        self.new_empty = label(_("No new item: a plain return."), name="emptyHint", wrap=True)
        self.new_empty.hide()  # the field's placeholder says it; room for the lines
        self.remove_item_button = action_button(_("Remove the item"), shortcut="Ctrl+Del")
        self.remove_item_button.clicked.connect(self.remove_new_item)
        el.addWidget(self.remove_item_button)
        right.addWidget(exchange)

    def _build_net(self, right: QVBoxLayout) -> None:
        net = QFrame()
        net.setObjectName("netBar")
        nl = QVBoxLayout(net)
        nl.setContentsMargins(18, 10, 18, 12)
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

    def _build_actions(self, right: QVBoxLayout) -> None:
        self.manager_button = action_button(_("Manager"), shortcut="F6", icon_name="manager")
        self.manager_button.clicked.connect(self.ask_manager)
        self.continue_button = action_button(_("Continue to refund"), shortcut="F10",
                                             role="primary")
        self.continue_button.setMinimumHeight(60)
        self.continue_button.clicked.connect(self.go_on)
        self.continue_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F10"), self, self.go_on)
        # Why F10 is greyed, in words on the screen (a touch screen shows no tooltip).
        self.why = label("", wrap=True)
        self.why.setObjectName("whyHint")
        right.addWidget(self.manager_button)
        right.addWidget(self.continue_button)
        right.addWidget(self.why)

    # -- keyboard order -------------------------------------------------------------------
    def tab_chain(self) -> list[QWidget]:
        """The explicit Tab order: the lines (quantity, reason, condition), then the
        gift box, the exchange, the actions; Back last."""
        chain: list[QWidget] = []
        for line_card in self.cards:
            chain.extend(line_card.focus_widgets())
        chain += [self.gift, self.exchange_scan, self.new_list, self.remove_item_button,
                  self.all_button, self.manager_button, self.continue_button, self.back_button]
        return chain

    def _apply_tab_order(self) -> None:
        set_tab_chain(self.tab_chain())

    # -- loading ------------------------------------------------------------------------------
    def show_sale(self, sale: Sale) -> None:
        self.sale = sale
        self.plan = None
        self.approvals = []
        self._new_decisions = []
        self.new_items = []
        self._seq += 1
        self.banner.clear_message()
        self.decision.clear_message()
        self.blocking.clear_message()
        self.gift.blockSignals(True)
        self.gift.setChecked(sale.gift_receipt)
        self.gift.setEnabled(not sale.gift_receipt)
        self.gift.blockSignals(False)
        self._show_heading(sale)
        jewel = getattr(self.services, "jewelry", None)
        if jewel is not None:
            jewel.reset_sale(sale)
        self._show_jewelry()
        self._show_facts(sale)
        self._bind_cards(sale)
        self.lines_scroll.verticalScrollBar().setValue(0)
        self.new_list.clear()
        self.exchange_scan.clear()
        if sale.fully_returned:
            self.banner.show_message(
                _("Every item of this sale has already been returned: nothing left to refund."),
                "info",
            )
        # One line left to return (most receipts): it is what the customer brought back,
        # so it comes selected in full and the focus waits on its reason.
        open_cards = [c for c in self.cards if c.line.refundable_qty > 0]
        self._single = open_cards[0] if len(open_cards) == 1 else None
        if self._single is not None:
            self._single.qty.setValue(self._single.line.refundable_qty)
        self._render_plan()
        self.focus_first_line()
        QTimer.singleShot(0, self._focus_if_idle)  # once the screen is shown

    def _show_heading(self, sale: Sale) -> None:
        """The sale's reference, date, store and total, and what the policy says of it."""
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
        self.badges.setText("\n".join(staff_text(b) for b in badges))
        self.badges.setVisible(bool(badges))

    def _show_facts(self, sale: Sale) -> None:
        self.tenders.setText(
            "\n".join(_("{tender}: {amount}").format(tender=tender_text(t),
                                                     amount=money(t.amount))
                      for t in sale.tenders)
        )
        if sale.customer:
            c = sale.customer
            self.customer.setText(
                _("Customer: {name} ({account})").format(name=c.full_name,
                                                          account=c.account_number)
            )
        else:
            self.customer.setText(_("No customer account on this sale."))

    def _bind_cards(self, sale: Sale) -> None:
        """One card per sale line, from the pool (built only when the pool is short)."""
        self.cards = []
        for i, line in enumerate(sale.lines, 1):
            if i > len(self._pool):
                line_card = LineCard(self._conditions, self._reasons)
                line_card.changed.connect(self.schedule_plan)
                line_card.changed.connect(
                    lambda c=line_card: self.lines_scroll.ensureWidgetVisible(c, 0, 0))
                line_card.done.connect(lambda c=line_card: self._line_done(c))
                self.lines_layout.insertWidget(len(self._pool), line_card)
                self._pool.append(line_card)
            line_card = self._pool[i - 1]
            line_card.bind(line, i)
            line_card.show()
            self.cards.append(line_card)
        for spare in self._pool[len(sale.lines):]:
            spare.hide()
        self._apply_tab_order()

    def _focus_if_idle(self) -> None:
        """The first line, unless the salesperson already works on this screen (keys
        typed right after the scan — a reason, F7 — must not be taken back)."""
        focus = QApplication.focusWidget()
        if focus is not None and self.isAncestorOf(focus):
            return
        self.focus_first_line()

    def focus_first_line(self) -> None:
        single = getattr(self, "_single", None)
        if single is not None and single in self.cards and single.qty.value() > 0 \
                and single.missing_reason():
            single.reason.setFocus()
            return
        for line_card in self.cards:
            if line_card.qty.isEnabled():
                line_card.qty.setFocus()
                line_card.qty.selectAll()
                return
        self.exchange_scan.setFocus()

    def _line_done(self, line_card: LineCard) -> None:
        """A line is set (its reason picked, or 0 typed): on to the next open line."""
        if line_card not in self.cards:
            return
        for nxt in self.cards[self.cards.index(line_card) + 1:]:
            if nxt.qty.isEnabled():
                nxt.qty.setFocus()
                self.lines_scroll.ensureWidgetVisible(nxt, 0, 0)
                return
        self.continue_button.setFocus()

    def return_everything(self) -> None:
        for line_card in self.cards:
            if line_card.qty.isEnabled():
                line_card.qty.setValue(line_card.line.refundable_qty)

    # -- exchange -----------------------------------------------------------------------------
    def add_new_item(self) -> None:
        # While the article is looked up, F10 waits: it must not go on with a plan that
        # does not hold the item just scanned.
        self._looking_up += 1
        if not scan_item(self.services, self.exchange_scan, self.banner, self._item_found,
                         self._lookup_done):
            self._lookup_done()
        self._refresh_buttons()

    def _lookup_done(self) -> None:
        self._looking_up = max(0, self._looking_up - 1)
        self._refresh_buttons()

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
            QListWidgetItem(f"{product.name}\n{money(product.current_price)}", self.new_list)
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
        request = ReturnRequest(
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
        # a decision made before a line changed no longer holds: that line waits again (F6)
        return replace(request, approvals=bound_approvals(request, sale_cards(self.sale)))

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

    def _jewelry_on(self) -> bool:
        """In the mode, with the checks not recorded yet: F4 is the next step."""
        jewel = getattr(self.services, "jewelry", None)
        return bool(jewel is not None and jewel.on and not jewel.inputs)

    def _render_plan(self) -> None:
        plan = self.plan
        by_line = {}
        if plan is not None:
            by_line = {pl.sale_line_id: pl for pl in plan.lines
                       if pl.direction == "return" and pl.sale_line_id is not None}
        jewelry_on = self._jewelry_on()
        for line_card in self.cards:
            planned = by_line.get(int(line_card.line.id))
            if planned is not None and line_card.qty.value() > 0:
                line_card.verdict.show_line(planned, jewelry_todo=jewelry_on)
            elif line_card.line.refundable_qty == 0:
                line_card.verdict.show_none(_("Already fully returned."))
            else:
                line_card.verdict.show_none("")
        if plan is not None and self.new_items:
            sale_lines = [pl for pl in plan.lines if pl.direction == "sale"]
            self.new_list.clear()
            for pl in sale_lines:
                QListWidgetItem(
                    f"{pl.quantity} × {pl.name}\n{money(pl.amount)}", self.new_list
                )
        self._render_blocking()
        self._render_decisions()
        self._render_net()
        self._refresh_buttons()
        self.plan_changed.emit(plan)

    def _card_number(self, planned) -> int:
        """The number the salesperson sees on the line's card (the sale's order)."""
        for line_card in self.cards:
            if planned.sale_line_id is not None and int(line_card.line.id) == planned.sale_line_id:
                return line_card.index
        return planned.line_no

    def _render_blocking(self) -> None:
        """Every line that holds the return, above the lines (never below the fold)."""
        plan = self.plan
        waiting = plan.waiting_lines if plan is not None else ()
        if not waiting:
            self.blocking.clear_message()
            self._waiting_ids = set()
            return
        # A line that has just become blocked is scrolled into sight, verdict included.
        ids = {pl.sale_line_id for pl in waiting}
        new = ids - getattr(self, "_waiting_ids", set())
        self._waiting_ids = ids
        for line_card in self.cards:
            if int(line_card.line.id) in new:
                QTimer.singleShot(0, lambda c=line_card: self.lines_scroll.ensureWidgetVisible(
                    c.verdict, 0, 8))
                break
        jewelry_on = self._jewelry_on()
        rows = [
            _("Line {n} · {name}: {verdict} — {amount} not counted.").format(
                n=self._card_number(pl), name=pl.name,
                verdict=verdict_title(pl, jewelry_todo=jewelry_on),
                amount=money(-pl.amount))
            for pl in waiting
        ]
        # The counter's own next step (the jewelry checks) is a warning, not a refusal.
        checks = jewelry_on and all(jewelry_checks_pending(pl) for pl in waiting)
        self.blocking.show_message("\n".join(rows), "warning" if checks else "error")

    def _render_decisions(self) -> None:
        """The manager's decisions of the last approval, in words, at the top."""
        if not self._new_decisions or self.plan is None:
            return
        manager = getattr(self, "_decision_manager", "")
        words = self._new_decisions[0].reason
        if self._new_decisions[0].decision == "approved":
            text = _("Approved by {manager}: “{reason}”.").format(manager=manager, reason=words)
            level = "success"
        else:
            text = _("Refused by {manager}: “{reason}”. Set the line to 0 to go on with the "
                     "rest, or give the item back.").format(manager=manager, reason=words)
            level = "warning"
        self.decision.show_message(text, level)

    def _render_net(self) -> None:
        plan = self.plan
        if plan is None:
            self.net_caption.setText(_("Nothing selected yet"))
            self.net_amount.setText(money(0))
            self.net_detail.setText("")
            self._continue_text(_("Continue to refund"))
            return
        # The engine's amounts; a line that waits or is refused is never counted.
        net = plan.accepted_net
        if net >= 0:
            self.net_caption.setText(_("To refund to the customer"))
            self._continue_text(_("Continue to refund"))
        else:
            self.net_caption.setText(_("To be paid by the customer"))
            self._continue_text(_("Continue to payment"))
        self.net_amount.setText(money(abs(net)))
        parts = [_("returned {amount}").format(
            amount=money(plan.refund_total - plan.waiting_total))]
        if plan.charge_total:
            parts.append(_("new items {amount}").format(amount=money(plan.charge_total)))
        if plan.restocking_fees:
            parts.append(_("restocking fees {amount}").format(amount=money(plan.restocking_fees)))
        if plan.waiting_total:
            parts.append(_("waiting, not counted {amount}").format(
                amount=money(plan.waiting_total)))
        self.net_detail.setText(" · ".join(parts))

    def _continue_text(self, text: str) -> None:
        # F10 is the screen's own shortcut (it also says what is missing): the button
        # only shows the key, it must not own a second F10.
        self.continue_button.setText(f"{text}   {shortcut_text('F10')}")

    def why_not(self) -> str:
        """What stands in the way of F10, in words (empty when F10 goes on)."""
        plan = self.plan
        if self.sale is None:
            return ""
        if plan is None:
            if not self.is_settled():
                return ""
            return _("F10: first choose what comes back (a quantity on a line), or scan a "
                     "new item.")
        missing = [str(c.index) for c in self.cards if c.missing_reason()]
        if plan.waiting_lines:
            numbers = ", ".join(str(self._card_number(pl)) for pl in plan.waiting_lines)
            if self._jewelry_on() and all(jewelry_checks_pending(pl)
                                          for pl in plan.waiting_lines):
                return _("F10 waits for the fine-jewelry checks (F4) on line {lines}.").format(
                    lines=numbers)
            return _("F10 waits: line {lines} needs a manager (F6) or set it to 0.").format(
                lines=numbers)
        if missing:
            return _("F10 waits for the return reason of line {lines} (keys 1–9, 0).").format(
                lines=", ".join(missing))
        return ""

    def _refresh_buttons(self) -> None:
        plan = self.plan
        fresh = (plan is not None and not self._replan.isActive() and not self._planning
                 and not self._looking_up)
        waiting = bool(plan and plan.waiting_lines)
        missing = any(c.missing_reason() for c in self.cards)
        # Refund-level checks (the card presented, cash ceiling) belong to the refund screen.
        self.continue_button.setEnabled(
            bool(fresh and plan and plan.lines and not waiting and not missing))
        # F6 only where a manager can do something (issue 12: not on a line nobody overrides)
        self.manager_button.setEnabled(manager_can_act(plan))
        # The manager is the next step only when no check of the counter's own is left.
        checks_first = waiting and self._jewelry_on() and all(
            jewelry_checks_pending(pl) for pl in plan.waiting_lines)
        self.manager_button.setProperty("role", "warning" if waiting and not checks_first
                                        else "")
        self.remove_item_button.setEnabled(bool(self.new_items))
        self.remove_item_button.setVisible(bool(self.new_items))
        self.new_list.setVisible(bool(self.new_items))
        self.new_empty.setVisible(False)
        why = self.why_not() if fresh or plan is None else ""
        self.why.setText(why)
        self.why.setVisible(bool(why))
        self.continue_button.setAccessibleDescription(why)
        repolish(self.manager_button)

    # -- fine jewelry (R14) -------------------------------------------------------------------
    def _show_jewelry(self) -> None:
        jewel = getattr(self.services, "jewelry", None)
        notice = jewel.sale_notice(self.sale) if jewel is not None else ""
        self.jewelry_notice.setText(staff_text(notice))
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
        return not self._replan.isActive() and not self._planning and not self._looking_up

    # -- manager ------------------------------------------------------------------------------
    def ask_manager(self) -> None:
        if self.plan is not None:
            self.approval_requested.emit(self.plan)

    def add_approvals(self, approvals: list[Approval], manager: str = "") -> None:
        keep = [a for a in self.approvals
                if (a.line_no, a.rule) not in {(b.line_no, b.rule) for b in approvals}]
        self.approvals = keep + list(approvals)
        self._new_decisions = list(approvals)
        self._decision_manager = manager or _("the manager")
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
        elif self.plan.waiting_lines:
            self.banner.show_message(
                _("Some lines wait for a manager or are refused: press F6 for a manager, "
                  "or set their quantity to 0."), "error")
        else:
            missing = [c for c in self.cards if c.missing_reason()]
            if missing:
                self.banner.show_message(self.why_not(), "error")
                missing[0].reason.setFocus()
                self.lines_scroll.ensureWidgetVisible(missing[0], 0, 0)
