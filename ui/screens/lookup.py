"""Find the sale: one scan field that always has focus (a scanner burst + Enter),
and the "other ways" of R08: card last 4 + dates, customer, article + dates.
Results are listed newest first; Enter opens the selected sale."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.domain import Sale
from pos_returns.i18n import _, ngettext
from pos_returns.usecases import till
from pos_returns.usecases.till import is_sale_code

from ..format import money, sale_datetime, sale_short_ref, tender_text
from ..ops import error_message
from ..services import Services
from ..widgets.common import Banner, action_button, card, label, repolish


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


class DateEdit(QDateEdit):
    """A date with its calendar: Tab leaves the field (the arrows and digits move
    between day, month and year), so a date range costs two Tabs, not six."""

    def focusNextPrevChild(self, next_: bool) -> bool:
        return QWidget.focusNextPrevChild(self, next_)


class DateRange(QWidget):
    """"du … au …" with calendar pop-ups; defaults to the last twelve months."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        today = QDate.currentDate()
        self.start = DateEdit(today.addYears(-1))
        self.end = DateEdit(today)
        for edit in (self.start, self.end):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("dd/MM/yyyy")
            edit.setMinimumWidth(190)
        start_label, end_label = label(_("from")), label(_("to"))
        start_label.setBuddy(self.start)
        end_label.setBuddy(self.end)
        self.start.setAccessibleName(_("Sold from (date)"))
        self.end.setAccessibleName(_("Sold until (date)"))
        row.addWidget(start_label)
        row.addWidget(self.start)
        row.addWidget(end_label)
        row.addWidget(self.end)
        row.addStretch(1)

    def bounds(self) -> tuple[date, date]:
        start, end = self.start.date(), self.end.date()
        return (date(start.year(), start.month(), start.day()),
                date(end.year(), end.month(), end.day()))

    def set_bounds(self, start: date, end: date) -> None:
        self.start.setDate(_qdate(start))
        self.end.setDate(_qdate(end))


class ResultsTable(QTableWidget):
    activated_sale = Signal(object)
    typed = Signal(str)  # a character that belongs in the scan field (a scanner burst)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 6, parent)
        self.setHorizontalHeaderLabels(
            [_("Date"), _("Receipt / order"), _("Store"), _("Customer"), _("Paid with"),
             _("Total")]
        )
        self.verticalHeader().hide()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.verticalHeader().setDefaultSectionSize(44)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setWordWrap(False)
        self.sales: list[Sale] = []
        self.doubleClicked.connect(lambda _i: self.open_current())
        self.setAccessibleName(_("Sales found"))

    def show_sales(self, sales: list[Sale], store_name) -> None:
        self.sales = list(sales)
        self.setRowCount(len(self.sales))
        for row, sale in enumerate(self.sales):
            customer = sale.customer.full_name if sale.customer else "—"
            cells = [
                sale_datetime(sale), sale_short_ref(sale), store_name(sale.store_id), customer,
                ", ".join(tender_text(t) for t in sale.tenders), money(sale.total),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if col == 5:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, col, item)
        if self.sales:
            self.selectRow(0)

    def open_current(self) -> None:
        row = self.currentRow()
        if 0 <= row < len(self.sales):
            self.activated_sale.emit(self.sales[row])

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_current()
            return
        text = event.text()
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.ShiftModifier)
        if text and text.isprintable() and not text.isspace() and plain:
            self.typed.emit(text)  # the scanner fires while the list has the focus
            return
        super().keyPressEvent(event)


class LookupScreen(QWidget):
    sale_opened = Signal(object)  # Sale
    no_receipt_requested = Signal()
    searching = Signal(bool)
    results_shown = Signal(int)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("screen")
        self._pending = 0

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 12, 24, 12)
        outer.setSpacing(10)

        self._build_scan(outer)
        self.banner = Banner()
        outer.addWidget(self.banner)
        self._build_other_ways(outer)
        self._build_results(outer)
        self._build_shortcuts()

    def _build_scan(self, outer: QVBoxLayout) -> None:
        outer.addWidget(label(_("Find the sale"), name="title"))
        self.scan_label = label(
            _("Scan the receipt, or type its number (17 digits) or an AlamaraStore.com "
              "order number (W + 9 digits), then press Enter."),
            name="subtitle", wrap=True,
        )
        outer.addWidget(self.scan_label)
        scan_row = QHBoxLayout()
        self.scan = QLineEdit()
        self.scan.setObjectName("scanField")
        self.scan.setPlaceholderText(_("Scan or type the receipt or order number"))
        self.scan.setMaxLength(200)
        self.scan.returnPressed.connect(self.submit_code)
        self.scan.textChanged.connect(self._text_changed)
        self.scan.textEdited.connect(lambda _t: self._mark_invalid(False))
        self.scan.setAccessibleName(_("Receipt or order number"))
        self.scan_label.setBuddy(self.scan)
        scan_row.addWidget(self.scan, 1)
        # One verb for one action: both buttons "Search" (the scan's and the other ways').
        self.find_button = action_button(_("Search"), role="primary", icon_name="search")
        self.find_button.clicked.connect(self.submit_code)
        self.find_button.setMinimumHeight(60)
        scan_row.addWidget(self.find_button)
        outer.addLayout(scan_row)

    def _build_other_ways(self, outer: QVBoxLayout) -> None:
        # -- other ways (R08) -----------------------------------------------------------
        other = card()
        other_layout = QVBoxLayout(other)
        other_layout.setContentsMargins(16, 10, 16, 10)
        other_layout.setSpacing(6)
        other_layout.addWidget(
            label(_("No receipt? Find the sale another way"), name="sectionTitle")
        )
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(_("Other ways to find the sale"))
        other_layout.addWidget(self.tabs)
        self._build_search_tabs()
        self._build_search_row(other_layout)
        outer.addWidget(other)

    def _build_search_tabs(self) -> None:
        self.card_last4 = QLineEdit()
        self.card_last4.setMaxLength(4)
        self.card_last4.setPlaceholderText("1234")
        self.card_last4.setMaximumWidth(150)
        self.card_last4.setAccessibleName(_("Last 4 digits of the card"))
        self.card_dates = DateRange()
        self._add_search_tab(_("Payment card"), _("Last 4 digits of the card"),
                             self.card_last4, self.card_dates)

        self.customer_query = QLineEdit()
        self.customer_query.setPlaceholderText(_("Name, phone or e-mail"))
        self.customer_query.setMaxLength(120)
        self.customer_query.setAccessibleName(_("Customer: name, phone or e-mail"))
        self._add_search_tab(_("Customer"), _("Customer"), self.customer_query)

        self.sku = QLineEdit()
        self.sku.setPlaceholderText(_("Scan the item or type its reference"))
        self.sku.setMaxLength(32)
        self.sku.setMinimumWidth(300)
        self.sku.setAccessibleName(_("Article: scan the item or type its reference"))
        self.sku_dates = DateRange()
        self._add_search_tab(_("Article"), _("Article"), self.sku, self.sku_dates)

        for field in (self.card_last4, self.customer_query, self.sku):
            field.returnPressed.connect(self.search_other)

    def _build_search_row(self, other_layout: QVBoxLayout) -> None:
        search_row = QHBoxLayout()
        # Why "Return without receipt" is greyed, in words (a touch screen shows no tooltip).
        self.no_receipt_hint = label(
            _("Return without receipt: first search the sale another way (card, customer, "
              "article). Keys: Ctrl+1, Ctrl+2, Ctrl+3, then F5."), name="hint", wrap=True)
        search_row.addWidget(self.no_receipt_hint, 1)
        # R08: a return without receipt only once the other ways found nothing.
        self.no_receipt_button = action_button(_("Return without receipt"), shortcut="F8",
                                               role="warning")
        self.no_receipt_button.setEnabled(False)
        self.no_receipt_button.setToolTip(
            _("Search the sale another way first (card, customer, article)."))
        self.no_receipt_button.setAccessibleDescription(
            _("Search the sale another way first (card, customer, article)."))
        self.no_receipt_button.clicked.connect(self.no_receipt_requested)
        search_row.addWidget(self.no_receipt_button)
        self.search_button = action_button(_("Search"), shortcut="F5", icon_name="search")
        self.search_button.clicked.connect(self.search_other)
        search_row.addWidget(self.search_button)
        other_layout.addLayout(search_row)

    def _build_results(self, outer: QVBoxLayout) -> None:
        self.results_title = label("", name="sectionTitle")
        outer.addWidget(self.results_title)
        self.results = ResultsTable()
        self.results.activated_sale.connect(self._open)
        self.results.typed.connect(self._typed_elsewhere)
        outer.addWidget(self.results, 1)
        self.results_title.hide()
        self.results.hide()
        outer.addStretch(0)

    def _build_shortcuts(self) -> None:
        for n in range(3):
            QShortcut(QKeySequence(f"Ctrl+{n + 1}"), self, lambda n=n: self.choose_tab(n))
        QShortcut(QKeySequence("F3"), self, lambda: self.choose_tab(self.tabs.currentIndex()))
        QShortcut(QKeySequence("F2"), self, self.focus_input)

    def _add_search_tab(self, title: str, caption: str, field: QLineEdit,
                        dates: DateRange | None = None) -> None:
        """One "other way" tab: caption | field [| date range], the last column stretching."""
        tab = QWidget()
        grid = QGridLayout(tab)
        grid.setContentsMargins(16, 14, 16, 14)
        grid.setHorizontalSpacing(14)
        grid.setContentsMargins(14, 8, 14, 8)
        caption_label = label(caption)
        caption_label.setBuddy(field)
        grid.addWidget(caption_label, 0, 0)
        grid.addWidget(field, 0, 1)
        if dates is not None:
            grid.addWidget(dates, 0, 2)
        grid.setColumnStretch(2 if dates is not None else 1, 1)
        self.tabs.addTab(tab, title)

    # -- focus ------------------------------------------------------------------------------
    def tab_chain(self) -> list[QWidget]:
        """The explicit Tab order: the scan, the other ways (tab, field, dates), the
        search, the results."""
        return [self.scan, self.find_button, self.tabs.tabBar(), self.card_last4,
                self.card_dates.start, self.card_dates.end, self.customer_query, self.sku,
                self.sku_dates.start, self.sku_dates.end, self.search_button,
                self.no_receipt_button, self.results]

    def focus_input(self) -> None:
        self.scan.setFocus()
        self.scan.selectAll()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._focus_on_show)

    def _focus_on_show(self) -> None:
        """The scan field, unless someone is already typing here (a scan that arrived on
        the done screen, or a search chosen with Ctrl+1..3): never select under them."""
        if self.scan.hasFocus() and self.scan.text():
            return
        if any(field.hasFocus() for field in (self.card_last4, self.customer_query, self.sku)):
            return
        self.focus_input()

    def _typed_elsewhere(self, text: str) -> None:
        """A scan arriving while the results list has the focus goes to the scan field."""
        self.scan.setFocus()
        self.scan.setText(text)
        self._mark_invalid(False)

    def choose_tab(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        field = (self.card_last4, self.customer_query, self.sku)[index]
        field.setFocus()
        field.selectAll()

    def reset(self) -> None:
        self.scan.clear()
        self.banner.clear_message()
        self._mark_invalid(False)
        self.results.show_sales([], self.services.context.store_name)
        self.results.hide()
        self.results_title.hide()
        self.no_receipt_button.setEnabled(False)
        self.no_receipt_hint.show()
        self.scan_label.show()
        self.focus_input()

    def _text_changed(self, text: str) -> None:
        if not text:
            self._mark_invalid(False)

    def _mark_invalid(self, invalid: bool) -> None:
        if bool(self.scan.property("invalid")) != invalid:
            self.scan.setProperty("invalid", invalid)
            repolish(self.scan)

    def _set_busy(self, busy: bool) -> None:
        self._pending += 1 if busy else -1
        self.searching.emit(self._pending > 0)

    # -- scan -------------------------------------------------------------------------------
    def submit_code(self) -> None:
        text = self.scan.text()
        if not text.strip():
            self.banner.show_message(_("Scan the receipt or type its number first."), "info")
            self.focus_input()
            return
        self._set_busy(True)
        (
            self.services.ops.op(till.find_sale_by_code, text)
            .success(self._found)
            .failure(self._code_failed)
            .run()
        )

    def _found(self, sale: Sale) -> None:
        self._set_busy(False)
        self.banner.clear_message()
        self._mark_invalid(False)
        self._open(sale)

    def _code_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.banner.show_message(error_message(exc), "error")
        self._mark_invalid(True)
        self.scan.setFocus()
        self.scan.selectAll()  # the input is kept; the next scan replaces it

    # -- other ways -------------------------------------------------------------------------
    def search_other(self) -> None:
        index = self.tabs.currentIndex()
        if index in (1, 2) and self._scanned_a_receipt((self.customer_query, self.sku)[index - 1]):
            return
        if index == 0:
            start, end = self.card_dates.bounds()
            job = self.services.ops.op(till.find_sales_by_card, self.card_last4.text(), start, end)
        elif index == 1:
            job = self.services.ops.op(till.find_sales_by_customer, self.customer_query.text())
        else:
            start, end = self.sku_dates.bounds()
            job = self.services.ops.op(till.find_sales_by_article, self.sku.text(), start, end)
        self._set_busy(True)
        job.success(self._show_results).failure(self._search_failed).run()

    def _scanned_a_receipt(self, field: QLineEdit) -> bool:
        """A receipt or an order number scanned while the focus was in the customer or
        article field opens that sale, as if scanned in the scan field (the core's
        engine tells); anything else is searched there as typed."""
        if not is_sale_code(field.text()):
            return False
        self.scan.setText(field.text().strip())
        field.clear()
        self.focus_input()
        self.submit_code()
        return True

    def _show_results(self, sales: list[Sale]) -> None:
        self._set_busy(False)
        self.results.show_sales(sales, self.services.context.store_name)
        self.results_title.setVisible(True)
        self.results.setVisible(True)
        # The results need the room more than the scan instructions (the field's
        # placeholder still says it): more rows in sight at 1366 x 768.
        self.scan_label.hide()
        if sales:
            self.banner.clear_message()
            self.results_title.setText(
                ngettext("{count} sale found, newest first. Enter opens it.",
                         "{count} sales found, newest first. Enter opens the selected one.",
                         len(sales)).format(count=len(sales))
            )
            self.results.setFocus()
        else:
            self.results_title.setText(_("No sale found."))
            self.banner.show_message(
                _("No sale matches. Widen the dates or try another way; if the sale cannot "
                  "be found, it is a return without receipt (manager)."),
                "info",
            )
        self.no_receipt_button.setEnabled(True)  # searched another way (R08)
        self.no_receipt_hint.hide()
        self.results_shown.emit(len(sales))

    def _search_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.banner.show_message(error_message(exc), "error")
        self.results_shown.emit(-1)

    def _open(self, sale: Sale) -> None:
        self.sale_opened.emit(sale)
