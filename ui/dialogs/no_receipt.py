"""The no-receipt return (R07, R08, R19): items at their current price, a manager decides.

Reached only after the "other ways" search (R08) found nothing. The flow is
:class:`NoReceiptFlow`: the information notice (:mod:`ui.dialogs.id_notice`), the
ID capture (:mod:`ui.dialogs.id_capture`), then :class:`NoReceiptDialog`, where
the salesperson scans or types each item (EAN or SKU) and the till shows its
current price, the identity's R19 history is shown as soon as the ID is
recorded, and a manager decides through the approval dialog
(:class:`ui.dialogs.manager.ManagerDialog`, PIN + written reason). Every verdict
comes from the policy engine (``pos_returns.usecases.planning.plan_return``); the refund is
only ever a new Alamara Gift Card at the current price, as the engine says.

A refusal is recorded on the ID check (kept until the purge, not counted as a
refund); a cancelled flow forgets the ID check entirely.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_returns.config import TillConfig
from pos_returns.engine.approvals import bound_approvals
from pos_returns.engine.domain import Product
from pos_returns.engine.plan import Approval, LineRequest, ReturnPlan, ReturnRequest
from pos_returns.i18n import _, ngettext, pgettext
from pos_returns.usecases import idcheck
from pos_returns.usecases.idcheck import History, HistoryLevel, IdCheck

from ..format import money, staff_text
from ..ops import error_message
from ..screens.sale import ReasonCombo, reasons_model
from ..services import Services
from ..tasks import ask_policy, scan_item
from ..widgets.common import (
    Banner,
    action_button,
    button_row,
    cancel_button,
    card,
    dialog_layout,
    label,
    shortcut_text,
)
from ..widgets.verdict import verdict_text
from .id_capture import IdCaptureDialog
from .id_notice import IdNoticeDialog
from .manager import ManagerDialog

_BANNER_LEVELS = {
    HistoryLevel.OK: "info",
    HistoryLevel.WARN: "warning",
    HistoryLevel.MANAGER: "warning",
    HistoryLevel.REFUSE: "error",
}


def keyed_button(parent: QWidget, text: str, key: str, *, role: str = "",
                 icon_name: str = "", tooltip: str = "") -> QPushButton:
    """A touch-sized button whose key clicks it at once (a button's own shortcut
    "animates" the click and fires it a moment later)."""
    button = action_button(f"{text}   {shortcut_text(key)}", role=role, icon_name=icon_name)
    button.setToolTip(f"{tooltip or text} ({shortcut_text(key)})")
    QShortcut(QKeySequence(key), parent, activated=lambda: button.isEnabled() and button.click())
    return button


def short_verdict(line: Any) -> str:
    """One line per item: the verdict ("… (F6)"), without the rule ids (those are for
    the manager's review details); the full explanation is the cell's tooltip."""
    return verdict_text(line).split("\n", 1)[0]


def history_message(history: History, cfg: TillConfig) -> str:
    """The R19 line the salesperson and the manager read (thresholds: the chain's)."""
    days = cfg.policy.no_receipt_window_days
    if history.count == 0:
        return ngettext(
            "No earlier return without receipt for this ID in the last {days} day.",
            "No earlier return without receipt for this ID in the last {days} days.",
            days,
        ).format(days=days)
    text = ngettext(
        "{count} earlier return without receipt for this ID in the last {days} days, "
        "{amount} in all.",
        "{count} earlier returns without receipt for this ID in the last {days} days, "
        "{amount} in all.",
        history.count,
    ).format(count=history.count, days=days, amount=money(history.amount))
    follow = {
        HistoryLevel.OK: "",
        HistoryLevel.WARN: _("Be watchful (R19)."),
        HistoryLevel.MANAGER: _("A manager must review this history (R19)."),
        HistoryLevel.REFUSE: _("The chain's limit is reached: refused unless a manager "
                               "overrides it (R19, R01)."),
    }[history.level]
    return staff_text(f"{text} {follow}".strip())


def refuse_check(db: Any, check_uuid: str) -> IdCheck:
    return idcheck.mark_refused(db, check_uuid)


def discard_check(db: Any, check_uuid: str) -> bool:
    return idcheck.discard(db, check_uuid)


class NoReceiptDialog(QDialog):
    """Items, current prices, R19 history, the manager's decision.

    ``proceed(plan)`` when the manager approved and the engine's plan is clear
    (the plan's request carries ``id_check_uuid``); ``refused(plan)`` when the
    manager refused. Rejected without either: cancelled.
    """

    proceed = Signal(object)  # ReturnPlan
    refused = Signal(object)  # the plan refused (or None)
    plan_changed = Signal(object)

    def __init__(self, services: Services, check: IdCheck, history: History,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.check = check
        self.history = history
        self.items: list[list[Any]] = []  # [Product, quantity]
        self.approvals: list[Approval] = []
        self.plan: ReturnPlan | None = None
        self.decision = ""  # "", "approved", "refused"
        self.manager_dialog: ManagerDialog | None = None
        self._seq = 0
        self._planning = False
        box = dialog_layout(self, _("Return without receipt"),
                            title=_("Return without receipt"), minimum=(1040, 700))
        self._build_header(box)
        self._build_scan(box)
        self._build_table(box)
        self._build_total(box)
        self.banner = Banner()
        box.addWidget(self.banner)
        self._build_actions(box)
        self._build_replan_timer()
        self._refresh()
        self.scan.setFocus()

    def _build_header(self, box: QVBoxLayout) -> None:
        """Who the ID check is for, and the identity's R19 history."""
        who = label(
            _("ID: {document} {number} — {name}").format(
                document=self.check.doc_label, number=self.check.masked_number,
                name=self.check.name),
            name="subtitle", wrap=True,
        )
        who.setObjectName("identity")
        who.setProperty("muted", True)
        box.addWidget(who)

        self.history_banner = Banner()
        self.history_banner.setObjectName("banner")
        self.history_banner.show_message(
            history_message(self.history, self.services.cfg),
            _BANNER_LEVELS[self.history.level],
        )
        box.addWidget(self.history_banner)

    def _build_scan(self, box: QVBoxLayout) -> None:
        scan_row = QHBoxLayout()
        self.scan = QLineEdit()
        self.scan.setObjectName("scanField")
        self.scan.setPlaceholderText(_("Scan or type the item (EAN, reference)"))
        self.scan.setMaxLength(32)
        self.scan.returnPressed.connect(self.add_item)
        self.add_button = action_button(_("Add"), shortcut="", icon_name="scan")
        self.add_button.clicked.connect(self.add_item)
        self.scan.setAccessibleName(_("Scan or type the item (EAN, reference)"))
        scan_row.addWidget(self.scan, 1)
        scan_row.addWidget(self.add_button)
        # The return reason, recorded for every item of this return: a digit picks it
        # (1-9, 0) and the focus goes back to the scan field for the next item.
        reason_label = label(_("Reason (keys 1–9, 0)"), name="fieldCaption")
        self.reason = ReasonCombo()
        self.reason.setModel(reasons_model())
        self.reason.setMinimumContentsLength(16)
        self.reason.setMinimumHeight(48)
        reason_label.setBuddy(self.reason)
        self.reason.setAccessibleName(_("Return reason"))
        self.reason.currentIndexChanged.connect(lambda _i: self._reason_changed())
        self.reason.picked.connect(self.scan.setFocus)
        box.addLayout(scan_row)
        reason_row = QHBoxLayout()
        reason_row.addWidget(reason_label)
        reason_row.addWidget(self.reason, 1)
        box.addLayout(reason_row)

    def _build_table(self, box: QVBoxLayout) -> None:
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            [_("Article"), _("Qty"), _("Current price"), _("Amount"), _("Policy")]
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(64)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        box.addWidget(self.table, 1)

    def _build_total(self, box: QVBoxLayout) -> None:
        total_card = card()
        total_row = QHBoxLayout(total_card)
        total_row.setContentsMargins(20, 12, 20, 12)
        col = QVBoxLayout()
        self.total_caption = label(_("On a new Alamara Gift Card"), name="sectionTitle")
        self.total_detail = label(
            _("At the current price, only on a gift card, only if a manager agrees."),
            muted=True, wrap=True,
        )
        col.addWidget(self.total_caption)
        col.addWidget(self.total_detail)
        total_row.addLayout(col, 1)
        self.total_amount = label(money(0), name="bigAmount")
        self.total_amount.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        total_row.addWidget(self.total_amount)
        box.addWidget(total_card)

    def _build_actions(self, box: QVBoxLayout) -> None:
        self.cancel_button = cancel_button(self)
        self.remove_button = action_button(
            _("Remove") + "   " + pgettext("keyboard key", "Del"), role="danger"
        )
        self.remove_button.setToolTip(_("Remove the selected item"))
        self.remove_button.clicked.connect(self.remove_item)
        self.manager_button = keyed_button(self, _("Manager"), "F6", role="warning",
                                           icon_name="manager", tooltip=_("Manager's decision"))
        self.manager_button.clicked.connect(self.ask_manager)
        self.continue_button = keyed_button(self, _("Continue"), "F10",
                                            role="primary", icon_name="giftcard")
        self.continue_button.clicked.connect(self.go_on)
        box.addLayout(button_row([self.cancel_button, self.remove_button],
                                 [self.manager_button, self.continue_button]))
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.go_on)

    def _build_replan_timer(self) -> None:
        self._replan = QTimer(self)
        self._replan.setSingleShot(True)
        self._replan.setInterval(0)
        self._replan.timeout.connect(self._run_plan)

    # -- items --------------------------------------------------------------------------------
    def add_item(self) -> None:
        if self.decision:
            return
        scan_item(self.services, self.scan, self.banner, self._item_found)

    def _item_found(self, product: Product) -> None:
        for item in self.items:
            if item[0].sku == product.sku:
                item[1] += 1
                break
        else:
            self.items.append([product, 1])
        self._items_changed()

    def remove_item(self) -> None:
        if self.decision or not self.items:
            return
        row = self.table.currentRow()
        if not 0 <= row < len(self.items):
            row = len(self.items) - 1
        del self.items[row]
        self._items_changed()

    def _items_changed(self) -> None:
        # A decision was about other items: the manager decides again.
        self.approvals = []
        self._render_items()
        self.schedule_plan()
        if self.items and not self.reason.currentData():
            self.reason.setFocus()  # one digit, then back to the scan field
        else:
            self.scan.setFocus()

    def _reason_changed(self) -> None:
        if self.items:
            self.schedule_plan()
        self._refresh()

    # -- plan ---------------------------------------------------------------------------------
    def build_request(self) -> ReturnRequest:
        staff = self.services.staff
        cfg = self.services.cfg
        request = ReturnRequest(
            store_id=cfg.store_id,
            till_no=cfg.till_no,
            staff_id=int(staff.id) if staff is not None else 0,
            sale_id=None,
            lines=tuple(LineRequest(quantity=qty, sku=p.sku, reason=self.reason.currentData()
                                    or "") for p, qty in self.items),
            approvals=tuple(self.approvals),
            no_receipt_history_count=self.history.count,
            no_receipt_history_amount=self.history.amount,
            other_ways_searched=True,  # the flow starts only after R08's search failed
            id_checked=True,
            id_check_uuid=self.check.uuid,
        )
        # a decision made before the reason changed no longer holds: the manager decides again
        return replace(request, approvals=bound_approvals(request))

    def schedule_plan(self) -> None:
        self._seq += 1
        self._replan.start()
        self._refresh()

    def _run_plan(self) -> None:
        if not self.items:
            self.plan = None
            self._render_items()
            self._refresh()
            self.plan_changed.emit(None)
            return
        self._planning = True
        self._refresh()
        ask_policy(self.services, self.build_request(), self._seq, self._planned,
                   self._plan_failed)

    def _planned(self, seq: int, plan: ReturnPlan) -> None:
        if seq != self._seq:
            return
        self._planning = False
        self.plan = plan
        self.banner.clear_message()
        self._render_items()
        self._refresh()
        self.plan_changed.emit(plan)

    def _plan_failed(self, seq: int, exc: BaseException) -> None:
        if seq != self._seq:
            return
        self._planning = False
        self.plan = None
        self.banner.show_message(error_message(exc))
        self._render_items()
        self._refresh()
        self.plan_changed.emit(None)

    # -- rendering ----------------------------------------------------------------------------
    def _render_items(self) -> None:
        planned = {}
        if self.plan is not None:
            planned = {pl.sku: pl for pl in self.plan.lines if pl.direction == "return"}
        self.table.setRowCount(len(self.items))
        for row, (product, qty) in enumerate(self.items):
            pl = planned.get(product.sku)
            cells = [
                product.name,
                str(qty),
                money(product.current_price),
                money(qty * product.current_price),
                short_verdict(pl) if pl is not None else "",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 4 and pl is not None:
                    item.setToolTip(verdict_text(pl))
                if col in (1, 2, 3):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, col, item)
        self.table.resizeRowsToContents()
        # the engine's amount only (never computed here); nothing until it answers
        self.total_amount.setText(money(self.plan.refund_total if self.plan is not None
                                        else 0))

    def _refresh(self) -> None:
        fresh = self.plan is not None and not self._replan.isActive() and not self._planning
        open_ = not self.decision
        self.scan.setEnabled(open_)
        self.add_button.setEnabled(open_)
        self.remove_button.setEnabled(open_ and bool(self.items))
        self.manager_button.setEnabled(open_ and fresh)
        self.continue_button.setEnabled(
            bool(open_ and fresh and self.plan is not None and not self.plan.blocked
                 and self.reason.currentData())
        )

    # -- the manager's decision ---------------------------------------------------------------
    def ask_manager(self) -> None:
        if self.plan is None or not self.manager_button.isEnabled():
            return
        dialog = ManagerDialog(self.services, self.plan, self)
        dialog.decided.connect(self.apply_decision)
        self.manager_dialog = dialog
        dialog.open()

    def apply_decision(self, approvals: list[Approval]) -> None:
        if any(a.decision == "refused" for a in approvals):
            self.decision = "refused"
            self._refresh()
            (
                self.services.ops.op(refuse_check, self.check.uuid)
                .success(lambda _check: self._refused(approvals))
                .failure(lambda exc: self.banner.show_message(error_message(exc)))
                .run()
            )
            return
        keep = [a for a in self.approvals
                if (a.line_no, a.rule) not in {(b.line_no, b.rule) for b in approvals}]
        self.approvals = keep + list(approvals)
        self.schedule_plan()

    def _refused(self, approvals: list[Approval]) -> None:
        reason = next((a.reason for a in approvals if a.decision == "refused"), "")
        self.banner.show_message(
            _("Return refused by the manager: {reason}. Give the items back to the "
              "customer.").format(reason=reason),
            "error",
        )
        self.cancel_button.setText(_("Close") + "   " + shortcut_text("Esc"))
        for row in range(self.table.rowCount()):
            self.table.setItem(row, 4, QTableWidgetItem(_("Refused by a manager")))
        self.total_caption.setText(_("Nothing is refunded"))
        self.total_detail.setText(_("The manager refused this return without receipt."))
        self.total_amount.setText(money(0))
        for button in (self.remove_button, self.manager_button, self.continue_button):
            button.hide()
        self.scan.hide()
        self.add_button.hide()
        self._refresh()
        self.refused.emit(self.plan)

    def go_on(self) -> None:
        if not self.continue_button.isEnabled() or self.plan is None:
            return
        self.decision = "approved"
        plan = self.plan
        if plan.request.id_check_uuid != self.check.uuid:  # pragma: no cover - defensive
            plan = replace(plan, request=replace(plan.request, id_check_uuid=self.check.uuid))
        self.proceed.emit(plan)
        self.accept()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return  # Enter belongs to the scan field
        if event.key() == Qt.Key.Key_Delete and not self.scan.hasFocus():
            self.remove_item()
            return
        super().keyPressEvent(event)


class NoReceiptFlow(QObject):
    """ID capture (with the notice on request) -> items and manager's decision.

    ``proceed(plan)``: go on to the refund (a new gift card) with this plan;
    ``ended(outcome)``: ``"declined"`` (no ID shown), ``"cancelled"`` or
    ``"refused"`` (by the manager). A cancelled flow forgets the ID check.
    """

    proceed = Signal(object)
    ended = Signal(str)
    step_changed = Signal(str)  # "notice", "capture", "items"

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.parent_widget = parent
        self.notice: IdNoticeDialog | None = None
        self.capture: IdCaptureDialog | None = None
        self.panel: NoReceiptDialog | None = None
        self.step = ""
        self.outcome = ""

    def start(self) -> None:
        """The ID capture at once: it tells the salesperson, in a few lines, what to
        say to the customer; the full notice is one key away (F1), for the customer."""
        self._open_capture()

    def _open_capture(self) -> None:
        self.capture = IdCaptureDialog(self.services, self.parent_widget)
        self.capture.captured.connect(self._open_panel)
        self.capture.rejected.connect(
            lambda: self._end("declined" if self.capture and self.capture.declined
                              else "cancelled"))
        self._step("capture")
        self.capture.open()

    def _open_panel(self, check: IdCheck, history: History) -> None:
        self.panel = NoReceiptDialog(self.services, check, history, self.parent_widget)
        self.panel.proceed.connect(self._proceed)
        self.panel.refused.connect(lambda _plan: self._end("refused"))
        self.panel.rejected.connect(self._panel_closed)
        self._step("items")
        self.panel.open()

    def _panel_closed(self) -> None:
        panel = self.panel
        if panel is None or panel.decision == "refused":
            return
        # Cancelled before any decision: nothing of the ID is kept.
        self.services.ops.op(discard_check, panel.check.uuid).run()
        self._end("cancelled")

    def _proceed(self, plan: ReturnPlan) -> None:
        self.outcome = "proceed"
        self.proceed.emit(plan)

    def _step(self, step: str) -> None:
        self.step = step
        self.step_changed.emit(step)

    def _end(self, outcome: str) -> None:
        if self.outcome:
            return
        self.outcome = outcome
        self.ended.emit(outcome)


# --------------------------------------------------------------------------- screenshots


def _settle(widget: QWidget, until: Any = None, rounds: int = 200) -> None:
    from PySide6.QtWidgets import QApplication

    for _round in range(rounds):
        QApplication.processEvents()
        if until is None or until():
            break
    QApplication.processEvents()


def _two_plain_products(db: Any) -> tuple[str, str]:
    """Two EANs of ordinary articles for the pictures: the test catalogue's dress and
    shirt when present, else the first two plain articles of the demo catalogue."""
    eans = dict(db.execute("SELECT sku, ean FROM products WHERE sku IN (?, ?)",
                           ["SKU-ROBE-01", "SKU-CHEM-01"]).fetchall())
    if len(eans) == 2:
        return eans["SKU-ROBE-01"], eans["SKU-CHEM-01"]
    rows = db.execute(
        "SELECT ean FROM products WHERE gift_card = 0 AND fine_jewelry = 0 "
        "AND return_tag_required = 0 AND current_price BETWEEN 2000 AND 20000 "
        "ORDER BY sku LIMIT 2").fetchall()
    codes = [r[0] for r in rows] + ["SKU-ROBE-01", "SKU-CHEM-01"]
    return codes[0], codes[1]


def save_screenshots(out_dir: Any, services: Services, db: Any) -> list[Any]:
    """Grab the no-receipt dialogs (offscreen) into ``out_dir``; return the PNG paths.

    Uses ``services`` as given (an inline executor is simplest) and writes one
    pending ID check in ``db`` (a demo or test cache), with a sample identity.
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def grab(widget: QWidget, name: str) -> None:
        widget.show()
        _settle(widget)
        path = out / name
        widget.grab().save(str(path), "PNG")
        paths.append(path)

    notice = IdNoticeDialog(services.cfg)
    notice.resize(960, 760)
    notice.view_only()  # on request, from the ID capture (F1)
    grab(notice, "no-receipt-1-notice.png")
    notice.close()

    capture = IdCaptureDialog(services)
    capture.choose(idcheck.DocType.CNI)
    capture.number.setText("X7Q9ZK4L2")
    capture.name.setText("Marie Dupont")
    grab(capture, "no-receipt-2-id.png")
    capture.close()

    check = idcheck.capture(db, services.cfg, doc_type="cni", number="X7Q9ZK4L2",
                            name="Marie Dupont")
    capture.number.clear()
    history = History(count=2, amount=31_900, level=HistoryLevel.WARN)
    panel = NoReceiptDialog(services, check, history)
    panel.resize(1100, 760)
    panel.show()
    first, second = _two_plain_products(db)
    panel.reason.setCurrentIndex(panel.reason.findData("changed_mind"))
    for code in (first, second, second):
        panel.scan.setText(code)
        panel.add_item()
        _settle(panel, lambda: panel.plan is not None and not panel._replan.isActive())
    grab(panel, "no-receipt-3-items.png")
    panel.apply_decision([Approval(rule="R07", manager_id=0, decision="refused",
                                   reason=_("Items worn, no proof of purchase"))])
    _settle(panel, lambda: bool(panel.banner.text()))
    grab(panel, "no-receipt-4-refused.png")
    panel.close()
    return paths
