"""The manager's daily review: pick a day, filter, read the totals, open or
reprint a ticket, export the report, close the day.

Everything is asked of the core through ``services.ops`` (the database worker):
the list and its totals come from :func:`pos_returns.usecases.review.day_review` (which
refuses anyone but a manager), the report from :mod:`pos_returns.usecases.reports`,
reprints and closures from the journal / ticket writer. The screen only shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pos_returns.i18n import _, format_date, format_datetime, format_money, ngettext, to_local
from pos_returns.usecases import delivery
from pos_returns.usecases import review as core
from pos_returns.usecases.reports import deliver_z_report, write_daily_report, z_report_for
from pos_returns.usecases.review import money_text
from pos_returns.usecases.till import PRINT_TIMEOUT_SECONDS

from ..ops import error_message
from ..widgets.common import Banner, action_button, card, label, shortcut_text

# Fixed colours that mean something, the same on every day: one per tender (as on the
# refund screen's icons), the flags in the review's red, everything else one blue.
TENDER_COLOURS = {"card": "#1f4e79", "cash": "#2e7d32", "gift_card": "#8a5200",
                  "notes": "#6a4c93"}
NEUTRAL_COLOUR = "#1f4e79"
FLAG_COLOUR = QColor("#b3261e")


# --------------------------------------------------------------------------- worker ops
# These run on the database worker: core objects in, core objects out.


def terminal_notes(review: Any) -> list[str]:
    """The review's warnings about card money on the payment terminal: operations « à
    vérifier », money on no ticket, rows changed behind the journal (issue 12)."""
    checks = getattr(review, "terminal_checks", ())
    loose = getattr(review, "terminal_unticketed", ())
    tampered = getattr(review, "terminal_integrity", ())
    notes = []

    def listed(ops: tuple) -> str:
        return "; ".join(_("{amount}, till {till}, {when}").format(
            amount=format_money(op.amount), till=op.till_no,
            when=format_datetime(op.created_at, fmt="short")) for op in ops)

    if checks:  # card operations « à vérifier » (issue 14), whatever their day
        notes.append(ngettext(
            "{count} card operation is to be checked on the payment terminal: ",
            "{count} card operations are to be checked on the payment terminal: ",
            len(checks)).format(count=len(checks)) + listed(checks))
    if loose:
        notes.append(ngettext(
            "{count} card operation done on the payment terminal is on no ticket: ",
            "{count} card operations done on the payment terminal are on no ticket: ",
            len(loose)).format(count=len(loose)) + listed(loose))
    notes.extend(tampered)  # each a French sentence from the core
    return notes


def load_review(db: Any, staff: Any, day: date, filters: core.ReviewFilters,
                store_id: int | None, policy: Any) -> core.DayReview:
    return core.day_review(db, staff, day, filters=filters, store_id=store_id, policy=policy)


def load_ticket(db: Any, staff: Any, ticket_id: int, policy: Any) -> core.ReviewRow:
    return core.ticket_detail(db, staff, ticket_id, policy=policy)


def export_report(db: Any, staff: Any, day: date, out_dir: Path, store_id: int | None,
                  policy: Any) -> Any:

    return write_daily_report(db, staff, day, out_dir, store_id=store_id, policy=policy)


def reprint_ticket(db: Any, staff: Any, ticket_id: int, cfg: Any) -> Any:
    """Database worker: journal the DUPLICATA and read the documents (printing follows
    on the I/O pool, never here)."""
    return core.prepare_duplicate(db, staff, ticket_id, cfg)


def close_day(db: Any, staff: Any, day: date, cfg: Any) -> Any:
    return core.close_day(db, staff, day, cfg)


def days_to_close(db: Any, day: date, cfg: Any) -> list[date]:
    days = core.days_to_close(db, day, cfg)
    return days or [day]  # already closed: the core says so when asked to close it


def closure_state(db: Any, day: date, cfg: Any) -> Any:
    return core.day_closure(db, day, cfg)


# --------------------------------------------------------------------------- widgets


class ReturnsModel(QAbstractTableModel):
    """The day's tickets (a tuple of ReviewRow); read only."""

    COLUMNS = ("time", "ticket", "staff", "kind", "flags", "net", "tenders", "departments")
    FLAGS_COLUMN, NET_COLUMN = 4, 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: tuple[core.ReviewRow, ...] = ()
        self._dept_names: dict[str, str] = {}
        self._cache: dict[int, tuple[str, ...]] = {}  # row -> texts, filled as rows show
        self._headers = [_("Time"), _("Ticket"), _("Staff"), _("Type"), _("Flags"), _("Net"),
                         _("Refunded on"), _("Departments")]

    def set_rows(self, rows: Sequence[core.ReviewRow], dept_names: dict[str, str]) -> None:
        self.beginResetModel()
        self.rows = tuple(rows)
        self._dept_names = dept_names
        self._cache = {}
        self.endResetModel()

    def _texts(self, r: core.ReviewRow) -> tuple[str, ...]:
        tenders = ", ".join(
            f"{core.tender_label(k, short=True)} {money_text(v)}"
            for k, v in r.tenders.items() if v
        )
        return (
            to_local(r.created_at).strftime("%H:%M"),
            r.display_number,
            r.staff_name,
            core.kind_label(r.kind),
            ", ".join(core.flag_label(f) for f in r.flags),
            money_text(r.net),
            tenders,
            ", ".join(self._dept_names.get(d, d) for d in r.departments),
        )

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            # the tooltip gives the whole text of a narrow (elided) cell
            texts = self._cache.get(index.row())
            if texts is None:
                texts = self._cache[index.row()] = self._texts(self.rows[index.row()])
            return texts[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.NET_COLUMN:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if (role == Qt.ItemDataRole.ForegroundRole and col == self.FLAGS_COLUMN
                and self.rows[index.row()].flags):
            return FLAG_COLOUR
        if role == Qt.ItemDataRole.UserRole:
            return self.rows[index.row()].ticket_id
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self._headers[section]
        return None


class BarChart(QWidget):
    """Small horizontal bars drawn with QPainter: label, bar, amount."""

    def __init__(self, title: str, parent: QWidget | None = None, *,
                 counts: bool = False, colour: str = NEUTRAL_COLOUR) -> None:
        super().__init__(parent)
        self.title = title
        self.colour = colour
        self.colours: list[str] = []  # per bar, when the bars mean different things
        self.counts = counts  # values are counts, not cents
        self.show_title = True  # off when a chooser above names the chart
        self.items: list[tuple[str, int]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._font = QFont(self.font())
        self._font.setPointSizeF(10.5)
        self._bold = QFont(self._font)
        self._bold.setBold(True)
        self._bold.setPointSizeF(11.5)

    def set_items(self, items: Sequence[tuple[str, int]],
                  colours: Sequence[str] = ()) -> None:
        self.items = list(items)
        self.colours = list(colours)
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def _row_h(self) -> int:
        return QFontMetrics(self._font).height() + 5

    def _title_h(self) -> int:
        return QFontMetrics(self._bold).height() + 6 if self.show_title else 0

    def sizeHint(self) -> QSize:
        return QSize(360, self._title_h() + self._row_h() * max(1, len(self.items)) + 4)

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(self._bold)
        p.setPen(QColor("#1f3a5f"))
        title_h = self._title_h()
        if title_h:
            p.drawText(QRectF(0, 0, self.width(), title_h), Qt.AlignmentFlag.AlignLeft,
                       self.title)
        p.setFont(self._font)
        fm = QFontMetrics(self._font)
        row_h = self._row_h()
        if not self.items:
            p.setPen(QColor("#5a6577"))
            p.drawText(QRectF(0, title_h, self.width(), row_h),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       _("Nothing to show."))
            return
        label_w = min(int(self.width() * 0.5), max(fm.horizontalAdvance(t) for t, _v in
                                                     self.items) + 8)
        amounts = [str(v) if self.counts else money_text(v) for _t, v in self.items]
        amount_w = max(fm.horizontalAdvance(a) for a in amounts) + 8
        bar_w = max(10, self.width() - label_w - amount_w - 4)
        top = max([v for _t, v in self.items if v > 0] + [1])
        for i, ((text, value), amount) in enumerate(zip(self.items, amounts, strict=True)):
            y = title_h + i * row_h
            p.setPen(QColor("#1c2430"))
            p.drawText(QRectF(0, y, label_w - 6, row_h),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(text, Qt.TextElideMode.ElideRight, label_w - 6))
            w = bar_w * max(value, 0) / top
            colour = self.colours[i] if i < len(self.colours) else self.colour
            p.fillRect(QRectF(label_w, y + 3, max(w, 1 if value else 0), row_h - 6),
                       QColor(colour))
            p.drawText(QRectF(label_w + w + 6, y, amount_w + 4, row_h),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, amount)


class TicketDialog(QDialog):
    """One ticket: its lines, refunds, approvals and flags."""

    def __init__(self, row: core.ReviewRow, dept_names: dict[str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = row
        self.setWindowTitle(_("Return ticket {number}").format(number=row.display_number))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 24)
        layout.setSpacing(8)
        layout.addWidget(label(_("Return ticket {number}").format(number=row.display_number),
                               name="sectionTitle"))
        self._build_heading(layout, row)
        self._build_items(layout, row, dept_names)
        self._build_tenders(layout, row)
        self._build_approvals(layout, row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addSpacing(6)
        layout.addWidget(buttons)
        self.setMinimumWidth(760)

    def _build_heading(self, layout: QVBoxLayout, row: core.ReviewRow) -> None:
        when = to_local(row.created_at)
        layout.addWidget(label(_("{kind} — {date} at {time} — by {staff}").format(
            kind=core.kind_label(row.kind), date=format_date(when), time=when.strftime("%H:%M"),
            staff=row.staff_name), muted=True, wrap=True))
        if row.receipt_number:
            layout.addWidget(label(_("Receipt: {number}").format(number=row.receipt_number),
                                   muted=True))
        if row.flags:
            flags = label(", ".join(core.flag_label(f) for f in row.flags), wrap=True)
            flags.setStyleSheet(f"color: {FLAG_COLOUR.name()}; font-weight: bold;")
            layout.addWidget(flags)
        if row.earlier_no_receipt:
            layout.addWidget(label(ngettext(
                "This identity had {count} earlier no-receipt return (R19).",
                "This identity had {count} earlier no-receipt returns (R19).",
                row.earlier_no_receipt).format(count=row.earlier_no_receipt), wrap=True))

    @staticmethod
    def _section(layout: QVBoxLayout, title: str) -> QGridLayout:
        layout.addSpacing(6)
        layout.addWidget(label(title, name="sectionTitle"))
        box = card()
        grid = QGridLayout(box)
        grid.setContentsMargins(14, 8, 14, 8)
        grid.setHorizontalSpacing(18)
        grid.setColumnStretch(0, 1)
        layout.addWidget(box)
        return grid

    @staticmethod
    def _amount_label(cents: int, *, bold: bool = False) -> QLabel:
        widget = label(format_money(cents))
        widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if bold:
            widget.setStyleSheet("font-weight: bold;")
        return widget

    def _build_items(self, layout: QVBoxLayout, row: core.ReviewRow,
                     dept_names: dict[str, str]) -> None:
        grid = self._section(layout, _("Items"))
        for i, ln in enumerate(row.lines):
            what = f"{ln.quantity} × {ln.name}"
            grid.addWidget(label(what, wrap=True), 2 * i, 0)
            grid.addWidget(self._amount_label(ln.amount), 2 * i, 1)
            detail = [dept_names.get(ln.department, ln.department),
                      _("returned") if ln.direction == "return" else _("taken in exchange")]
            if ln.reason:
                detail.append(core.reason_label(ln.reason))
            grid.addWidget(label(" — ".join(detail), muted=True, wrap=True), 2 * i + 1, 0, 1, 2)

    def _build_tenders(self, layout: QVBoxLayout, row: core.ReviewRow) -> None:
        grid = self._section(layout, _("Refunded on"))
        n = 0
        for n, (kind, amount) in enumerate(row.tenders.items()):
            grid.addWidget(label(core.tender_label(kind, short=True)), n, 0)
            grid.addWidget(self._amount_label(amount), n, 1)
        net = label(_("Net"))
        net.setStyleSheet("font-weight: bold;")
        grid.addWidget(net, n + 1, 0)
        grid.addWidget(self._amount_label(row.net, bold=True), n + 1, 1)

    def _build_approvals(self, layout: QVBoxLayout, row: core.ReviewRow) -> None:
        if row.approvals:
            grid = self._section(layout, _("Manager decisions"))
            for i, a in enumerate(row.approvals):
                decision = _("approved") if a.decision == "approved" else _("refused")
                grid.addWidget(label(_("{rule} {decision} by {manager}: “{reason}”").format(
                    rule=a.rule, decision=decision, manager=a.manager_name, reason=a.reason),
                    wrap=True), i, 0)


# --------------------------------------------------------------------------- the screen


class ReviewScreen(QWidget):
    """Manager-only: the day's returns, filters, totals, reprint, export, closure."""

    loaded = Signal(object)  # the DayReview shown
    ticket_shown = Signal(object)  # the TicketDialog opened
    reprinted = Signal(object)
    exported = Signal(object)  # ReportFiles
    day_closed = Signal(object)
    z_printed = Signal(object)  # the saved Z report (PDF path)
    back_requested = Signal()  # Escape: back to the till, like the other screens' "Back"

    def __init__(self, services: Any, parent: QWidget | None = None, *,
                 confirm: Callable[[str, str], bool] | None = None,
                 reports_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("screen")
        self.services = services
        self._confirm = confirm or self._ask
        self.reports_dir = reports_dir
        self.review: core.DayReview | None = None
        self._dept_names: dict[str, str] = {}
        self._filling = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 16, 20, 16)
        outer.setSpacing(10)

        self._build_top(outer)
        self._build_filters(outer)
        self.banner = Banner()
        outer.addWidget(self.banner)
        split = QSplitter(Qt.Orientation.Horizontal)
        self._build_table(split)
        self._build_panel(split)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([960, 372])
        outer.addWidget(split, 1)
        self._build_actions(outer)
        self._connect_signals()
        self._build_shortcuts()
        self._fill_choice_boxes(None)

    def _build_top(self, outer: QVBoxLayout) -> None:
        top = QHBoxLayout()
        top.addWidget(label(_("Daily review of returns"), name="title"))
        top.addStretch(1)
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip(_("Previous day"))
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip(_("Next day"))
        self.date_edit = QDateEdit(QDate.currentDate())
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("dd/MM/yyyy")
        self.date_edit.setMinimumWidth(190)
        self.today_button = QPushButton(_("Today"))
        for w in (self.prev_button, self.date_edit, self.next_button, self.today_button):
            top.addWidget(w)
        outer.addLayout(top)
        self.subtitle = label("", name="subtitle")
        outer.addWidget(self.subtitle)

    def _build_filters(self, outer: QVBoxLayout) -> None:
        # Five filters and "Clear filters" do not fit one row at 1280 px with the till's
        # large type: three a row, each as wide as a third of the screen.
        filters = QGridLayout()
        filters.setHorizontalSpacing(8)
        filters.setVerticalSpacing(6)
        self.staff_box = QComboBox()
        self.dept_box = QComboBox()
        self.reason_box = QComboBox()
        self.tender_box = QComboBox()
        self.flag_box = QComboBox()
        captions = (_("Staff"), _("Department"), _("Reason"), _("Tender"), _("To check"))
        for i, (box, caption) in enumerate(zip((self.staff_box, self.dept_box, self.reason_box,
                                                self.tender_box, self.flag_box), captions,
                                               strict=True)):
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
            box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            box.setAccessibleName(caption)
            cell = QHBoxLayout()  # each filter says what it filters
            cap = label(caption, name="fieldCaption")
            cap.setBuddy(box)
            cell.addWidget(cap)
            cell.addWidget(box, 1)
            filters.addLayout(cell, i // 3, i % 3)
        for col in range(3):
            filters.setColumnStretch(col, 1)
        self.tender_box.addItem(_("All tenders"), None)
        for kind in core.TENDERS:
            self.tender_box.addItem(core.tender_label(kind, short=True), kind)
        self.flag_box.addItem(_("All flags"), None)
        for flag in core.FLAGS:
            self.flag_box.addItem(core.flag_label(flag), flag)
        self.reset_button = QPushButton(_("Clear filters"))
        filters.addWidget(self.reset_button, 1, 2, Qt.AlignmentFlag.AlignLeft)
        outer.addLayout(filters)

    def _build_table(self, split: QSplitter) -> None:
        self.model = ReturnsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        head.setStretchLastSection(True)
        # every column readable at 1366 px without scrolling (departments take the rest)
        for col, width in enumerate((64, 156, 126, 112, 124, 100, 140, 60)):
            self.table.setColumnWidth(col, width)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.verticalHeader().setDefaultSectionSize(40)
        # Return on a row, or a double click (activated covers both; not doubleClicked too,
        # which would open the ticket twice)
        self.table.activated.connect(lambda _i: self.open_ticket())
        split.addWidget(self.table)

    def _build_panel(self, split: QSplitter) -> None:
        panel = QWidget()
        pv = QVBoxLayout(panel)
        pv.setContentsMargins(4, 0, 4, 0)
        pv.setSpacing(6)  # figures, breakdown, closure: in the window at 1366 x 768
        self._build_figures(pv)
        self._build_charts(pv)
        self.closure_label = label("", muted=True, wrap=True)
        pv.addWidget(self.closure_label)
        # ticket e-mails that wait for a retry or were given up (issue 15)
        self.mail_label = label("", wrap=True)
        self.mail_label.setObjectName("mailProblems")
        self.mail_label.hide()
        pv.addWidget(self.mail_label)
        # The HQ link's open issues: reservations not confirmed, rows refused at pull.
        self.sync_label = label("", wrap=True)
        self.sync_label.setObjectName("syncIssues")
        self.sync_label.hide()
        pv.addWidget(self.sync_label)
        pv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(panel)
        scroll.setObjectName("reviewPanel")
        # never a side scroll: the panel is as wide as its figures need (its vertical
        # bar only shows for the rare extra notes: e-mails, HQ issues)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(372)  # widened to the figures once shown (_fit_panel)
        self.panel_scroll = scroll
        split.addWidget(scroll)

    def _build_charts(self, pv: QVBoxLayout) -> None:
        """One breakdown at a time, chosen in a drop-down named like the charts: the five
        stacked did not fit 1366 x 768 without scrolling. Colours as before: flags red,
        one per tender, everything else one blue."""
        self.flag_chart = BarChart(_("Tickets to check"), counts=True,
                                   colour=FLAG_COLOUR.name())
        self.tender_chart = BarChart(_("By tender"))
        self.reason_chart = BarChart(_("By reason"))
        self.dept_chart = BarChart(_("By department"))
        self.staff_chart = BarChart(_("By staff"))
        self.chart_box = QComboBox()
        self.chart_box.setObjectName("reviewChartChoice")
        self.chart_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.chart_box.setMinimumContentsLength(12)
        self.chart_stack = QStackedWidget()
        for chart in (self.flag_chart, self.tender_chart, self.reason_chart, self.dept_chart,
                      self.staff_chart):
            chart.show_title = False
            self.chart_box.addItem(chart.title)
            self.chart_stack.addWidget(chart)
        self.chart_box.currentIndexChanged.connect(self.chart_stack.setCurrentIndex)
        pv.addWidget(self.chart_box)
        pv.addWidget(self.chart_stack)

    def _build_figures(self, pv: QVBoxLayout) -> None:
        figures = card()
        fg = QGridLayout(figures)
        fg.setContentsMargins(10, 6, 10, 6)
        fg.setVerticalSpacing(2)
        self.figure_labels: dict[str, QLabel] = {}
        for i, (key, text) in enumerate((
            ("tickets", _("Return tickets")),
            ("refund_total", _("Merchandise credited")),
            ("charge_total", _("Exchanges charged")),
            ("net", _("Net to customers")),
        )):
            fg.addWidget(label(text, muted=True), i, 0)
            value = label("", name="figure")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            fg.addWidget(value, i, 1)
            self.figure_labels[key] = value
        self.figure_labels["net"].setStyleSheet("font-weight: bold;")
        pv.addWidget(figures)

    def _build_actions(self, outer: QVBoxLayout) -> None:
        actions = QHBoxLayout()
        self.open_button = action_button(_("Open ticket"), shortcut="Enter")
        # short label: four touch-sized buttons must fit 1280 px (the tooltip says more)
        # F9 prints everywhere in the till (done screen, here); F6 is the manager, F8 the
        # return without receipt: not reused here.
        self.reprint_button = action_button(_("Duplicate"), shortcut="F9")
        self.reprint_button.setToolTip(_("Reprint the selected ticket as a DUPLICATA (F9)"))
        self.export_button = action_button(_("Export the report"), shortcut="Ctrl+S")
        self.close_button = action_button(_("Close the day"), shortcut="F10", role="primary")
        actions.addWidget(self.open_button)
        actions.addWidget(self.reprint_button)
        actions.addStretch(1)
        actions.addWidget(self.export_button)
        actions.addWidget(self.close_button)
        outer.addLayout(actions)

    def _connect_signals(self) -> None:
        self.open_button.clicked.connect(self.open_ticket)
        self.reprint_button.clicked.connect(self.reprint)
        self.export_button.clicked.connect(self.export)
        self.close_button.clicked.connect(self.close_day)
        self.prev_button.clicked.connect(lambda: self.shift_day(-1))
        self.next_button.clicked.connect(lambda: self.shift_day(1))
        self.today_button.clicked.connect(lambda: self.set_day(date.today()))
        self.date_edit.dateChanged.connect(lambda _d: self.reload(reset_filters=True))
        for box in (self.staff_box, self.dept_box, self.reason_box, self.tender_box,
                    self.flag_box):
            box.currentIndexChanged.connect(self._filter_changed)
        self.reset_button.clicked.connect(self.clear_filters)

    def _build_shortcuts(self) -> None:
        QShortcut(QKeySequence("Ctrl+Left"), self, activated=lambda: self.shift_day(-1))
        QShortcut(QKeySequence("Ctrl+Right"), self, activated=lambda: self.shift_day(1))
        QShortcut(QKeySequence("Esc"), self, activated=self.back_requested.emit)
        # The top row and "Clear filters" are narrow: their keys are told in the tooltips.
        for button, text, key in (
            (self.prev_button, _("Previous day"), "Ctrl+Left"),
            (self.next_button, _("Next day"), "Ctrl+Right"),
            (self.today_button, _("Today"), "Ctrl+D"),
            (self.reset_button, _("Clear filters"), "Ctrl+E"),
        ):
            button.setToolTip(f"{text} ({shortcut_text(key)})")
        QShortcut(QKeySequence("Ctrl+D"), self, activated=self.today_button.click)
        QShortcut(QKeySequence("Ctrl+E"), self, activated=self.reset_button.click)

    # ----------------------------------------------------------------- state

    @property
    def staff(self) -> Any:
        return getattr(self.services, "staff", None)

    @property
    def day(self) -> date:
        return self.date_edit.date().toPython()

    def _store_id(self) -> int | None:
        context = getattr(self.services, "context", None)
        store = getattr(context, "store", None) if context is not None else None
        return store.id if store is not None else None

    def _policy(self) -> Any:
        cfg = getattr(self.services, "cfg", None)
        return cfg.policy if cfg is not None else None

    def filters(self) -> core.ReviewFilters:
        return core.ReviewFilters(
            staff_id=self.staff_box.currentData(), department=self.dept_box.currentData(),
            reason=self.reason_box.currentData(), tender=self.tender_box.currentData(),
            flag=self.flag_box.currentData(),
        )

    def selected_ticket_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return int(self.model.data(rows[0], Qt.ItemDataRole.UserRole))

    # ----------------------------------------------------------------- loading

    def set_day(self, day: date) -> None:
        qd = QDate(day.year, day.month, day.day)
        if self.date_edit.date() == qd:
            self.reload(reset_filters=True)
        else:
            self.date_edit.setDate(qd)  # dateChanged reloads

    def shift_day(self, days: int) -> None:
        self.set_day(self.day + timedelta(days=days))

    def clear_filters(self) -> None:
        self._filling = True
        for box in (self.staff_box, self.dept_box, self.reason_box, self.tender_box,
                    self.flag_box):
            box.setCurrentIndex(0)
        self._filling = False
        self.reload()

    def _filter_changed(self, _index: int) -> None:
        if not self._filling:
            self.reload()

    def reload(self, *, reset_filters: bool = False) -> None:
        if reset_filters:
            self._filling = True
            for box in (self.staff_box, self.dept_box, self.reason_box, self.tender_box,
                        self.flag_box):
                box.setCurrentIndex(0)
            self._filling = False
        self.banner.clear_message()
        (self.services.ops.op(load_review, self.staff, self.day, self.filters(),
                              self._store_id(), self._policy())
         .success(self._show).failure(self._failed).run())
        self._load_closure()
        self._load_sync_issues()

    def _load_sync_issues(self) -> None:
        if self.staff is None or not self.staff.is_manager:
            return
        (self.services.ops.op(core.sync_issues, self.staff, getattr(self.services, "cfg", None))
         .success(self._show_sync_issues).failure(lambda _e: self.sync_label.hide()).run())

    def _show_sync_issues(self, issues: core.SyncIssues) -> None:
        self.sync_label.setText("\n".join(issues.lines()))
        self.sync_label.setVisible(not issues.empty)

    def _load_closure(self) -> None:
        if self.staff is None or not self.staff.is_manager:
            return
        (self.services.ops.op(closure_state, self.day, getattr(self.services, "cfg", None))
         .success(self._show_closure).failure(lambda _e: self.closure_label.setText(""))
         .run())

    def _show_closure(self, state: Any) -> None:
        self.closure_label.setText(state.text if state is not None else "")
        closed = bool(state is not None and state.closed)
        self.close_button.setEnabled(not closed)

    def _fill_choice_boxes(self, review: core.DayReview | None) -> None:
        self._filling = True
        for box, first, choices in (
            (self.staff_box, _("All staff"), review.staff_choices if review else ()),
            (self.dept_box, _("All departments"), review.department_choices if review else ()),
            (self.reason_box, _("All reasons"), review.reason_choices if review else ()),
        ):
            current = box.currentData()
            box.clear()
            box.addItem(first, None)
            for key, text in choices:
                box.addItem(text, key)
            index = box.findData(current) if current is not None else 0
            box.setCurrentIndex(max(index, 0))
        self._filling = False

    def _show(self, review: core.DayReview) -> None:
        self.review = review
        self._dept_names.update(dict(review.department_choices))
        self._fill_choice_boxes(review)
        # Tickets to check first (no receipt, override, conflict...), then by time.
        rows = sorted(review.rows, key=lambda r: (not r.flags, r.created_at))
        self.model.set_rows(rows, self._dept_names)
        t = review.totals
        shown = len(review.rows)
        if shown == review.day_count:
            count_text = ngettext("{count} return ticket", "{count} return tickets",
                                  shown).format(count=shown)
        else:
            count_text = ngettext("{shown} of {count} ticket (filtered)",
                                  "{shown} of {count} tickets (filtered)",
                                  review.day_count).format(shown=shown, count=review.day_count)
        self.subtitle.setText(_("{store} — {day} — {count}").format(
            store=review.store_name, day=format_date(review.day, fmt="full"), count=count_text))
        self.figure_labels["tickets"].setText(str(t.tickets))
        self.figure_labels["refund_total"].setText(format_money(t.refund_total))
        self.figure_labels["charge_total"].setText(format_money(t.charge_total))
        self.figure_labels["net"].setText(format_money(t.net))
        self.flag_chart.set_items(
            [(core.flag_label(f), t.by_flag.get(f, 0)) for f in core.FLAGS])
        tenders = [k for k in core.TENDERS if k != "notes" or t.by_tender.get(k, 0)]
        self.tender_chart.set_items(
            [(core.tender_label(k), t.by_tender.get(k, 0)) for k in tenders],
            [TENDER_COLOURS.get(k, NEUTRAL_COLOUR) for k in tenders])
        self.reason_chart.set_items([(b.label, b.amount) for b in t.by_reason[:8]])
        self.dept_chart.set_items([(b.label, b.amount) for b in t.by_department[:8]])
        self.staff_chart.set_items([(b.label, b.amount) for b in t.by_staff[:8]])
        problems = getattr(review, "mail_problems", ())
        self.mail_label.setText("\n".join([_("Ticket e-mails not sent:"), *problems])
                                if problems else "")
        self.mail_label.setVisible(bool(problems))
        notes = terminal_notes(review)
        if notes:
            self.banner.show_message("\n".join(notes), "warning")
        if review.rows:
            self.table.selectRow(0)
        self._fit_panel()
        self.loaded.emit(review)

    def _fit_panel(self) -> None:
        """The panel as wide as the day's figures need (a big day's amounts are wider):
        the splitter makes room rather than cut them or scroll sideways."""
        panel = self.panel_scroll.widget()
        panel.layout().activate()
        self.panel_scroll.setMinimumWidth(max(372, panel.minimumSizeHint().width()))

    def _failed(self, exc: BaseException) -> None:
        self.review = None
        self.model.set_rows((), self._dept_names)
        for value in self.figure_labels.values():
            value.setText("")
        for chart in (self.flag_chart, self.tender_chart, self.reason_chart, self.dept_chart,
                      self.staff_chart):
            chart.set_items([])
        self.banner.show_message(error_message(exc), "error")

    # ----------------------------------------------------------------- actions

    def _need_ticket(self) -> int | None:
        tid = self.selected_ticket_id()
        if tid is None:
            self.banner.show_message(_("Select a ticket in the list first."), "warning")
        return tid

    def open_ticket(self) -> None:
        tid = self._need_ticket()
        if tid is None:
            return
        (self.services.ops.op(load_ticket, self.staff, tid, self._policy())
         .success(self._show_ticket).failure(self._on_error).run())

    def _show_ticket(self, row: core.ReviewRow) -> None:
        dialog = TicketDialog(row, self._dept_names, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.ticket_shown.emit(dialog)

    def reprint(self) -> None:
        tid = self._need_ticket()
        if tid is None:
            return
        cfg = getattr(self.services, "cfg", None)
        ops = self.services.ops

        def deliver(job: Any) -> None:
            (ops.io(delivery.deliver, cfg, job, delivery.TicketChoice(paper=True),
                    timeout=PRINT_TIMEOUT_SECONDS)
             .success(self._reprinted).failure(self._on_error).run())

        (ops.op(reprint_ticket, self.staff, tid, cfg)
         .success(deliver).failure(self._on_error).run())

    def _reprinted(self, result: Any) -> None:
        """« Duplicata imprimé » only when the printer took it (issue 15)."""
        if result.printed:
            self.banner.show_message(
                _("Duplicate printed: {path}").format(path=result.ticket_pdf), "success")
        else:
            self.banner.show_message(result.print_message, "error")
        self.reprinted.emit(result.ticket_pdf)

    def export(self) -> None:
        out = self.reports_dir
        if out is None:
            cfg = getattr(self.services, "cfg", None)
            out = Path(cfg.documents_dir) / "rapports" if cfg is not None else Path.cwd()
        (self.services.ops.op(export_report, self.staff, self.day, out, self._store_id(),
                              self._policy())
         .success(self._exported).failure(self._on_error).run())

    def _exported(self, files: Any) -> None:
        self.banner.show_message(
            _("Report written: {pdf} and {csv}").format(pdf=files.pdf, csv=files.csv),
            "success")
        self.exported.emit(files)

    def close_day(self) -> None:
        """F10: ask the core which days a Z of this day closes, confirm, close."""
        cfg = getattr(self.services, "cfg", None)
        (self.services.ops.op(days_to_close, self.day, cfg)
         .success(self._confirm_close).failure(self._on_error).run())

    def _confirm_close(self, days: list[date]) -> None:
        day_text = format_date(self.day, fmt="full")
        count = self.review.day_count if self.review else 0
        question = ngettext(
            "Close {day}? Its {count} return ticket will be totalled in the fiscal journal "
            "(Z closure). A day can be closed only once.",
            "Close {day}? Its {count} return tickets will be totalled in the fiscal journal "
            "(Z closure). A day can be closed only once.",
            count,
        ).format(day=day_text, count=count)
        earlier = [d for d in days if d < self.day]
        if earlier:
            question += "\n\n" + ngettext(
                "The earlier open day ({days}) is closed first, with its own Z.",
                "The {count} earlier open days ({days}) are closed first, each with its own Z.",
                len(earlier),
            ).format(count=len(earlier),
                     days=", ".join(format_date(d, fmt="short") for d in earlier[:7])
                     + ("…" if len(earlier) > 7 else ""))
        if not self._confirm(_("Close the day"), question):
            return
        (self.services.ops.op(close_day, self.staff, self.day,
                              getattr(self.services, "cfg", None))
         .success(self._closed).failure(self._on_error).run())

    def _closed(self, closure: Any) -> None:
        self.banner.show_message(_("The day is closed."), "success")
        self.day_closed.emit(closure)
        self._load_closure()
        cfg = getattr(self.services, "cfg", None)
        if cfg is not None and hasattr(self.services.ops, "io"):
            (self.services.ops.op(z_report_for, self.staff, cfg, "day", closure.period)
             .success(self._print_z).failure(self._on_error).run())

    def _print_z(self, result: tuple[bytes, str]) -> None:
        """The Z as a PDF: saved in the documents folder and printed when a printer
        queue is configured (I/O pool: never on the database worker)."""
        pdf_bytes, name = result
        cfg = self.services.cfg
        (self.services.ops.io(deliver_z_report, cfg, pdf_bytes, name, timeout=30)
         .success(self._z_printed).failure(self._on_error).run())

    def _z_printed(self, path: Any) -> None:
        self.banner.show_message(
            _("The day is closed. Z report saved: {path}").format(path=path), "success")
        self.z_printed.emit(path)

    def _on_error(self, exc: BaseException) -> None:
        self.banner.show_message(error_message(exc), "error")

    def _ask(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes


def open_review(parent: QWidget | None, services: Any, *, day: date | None = None
                ) -> ReviewScreen:
    """The entry point the main window calls (the screen checks nothing itself:
    the core refuses a non-manager and the screen shows that message)."""
    screen = ReviewScreen(services, parent)
    if parent is None:
        screen.setWindowTitle(_("Daily review of returns"))
        screen.resize(1500, 900)
        screen.show()
    screen.set_day(day or date.today())
    return screen
