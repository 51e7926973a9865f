"""The daily returns report: a French A4 PDF (reportlab, charts drawn with
reportlab.graphics) and a CSV export for French Excel.

CSV choices (French Excel opens it with a double click): semicolon separator,
UTF-8 with a BOM (``utf-8-sig``), decimal comma, no thousands separator and no
currency sign in amount columns (so that Excel reads them as numbers), dates
``JJ/MM/AAAA`` and times ``HH:MM`` in the stores' time zone. Two files per day:
``retours-AAAA-MM-JJ.csv`` (one row per ticket) and
``retours-AAAA-MM-JJ-totaux.csv`` (the totals panel: section, code, label,
count, amount).

Receipt numbers are 17 digits: written bare, Excel reads them as a number and
shows ``2,01E+16`` (and loses the last digits). They are written as the text
formula ``="00102261024000123"`` (:func:`csv_text`), which Excel shows as the
digits themselves and LibreOffice and the csv module read back with the two
characters ``=`` and the quotes around them (:func:`parse_csv_text` strips them).

The PDF opens with the tickets to check (no receipt, overrides, offline conflicts,
fine jewelry, repeat returners): each with who approved what, and why.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date as babel_format_date
from sqlite_utils import Database

from pos_returns.config import PolicyConfig
from pos_returns.documents.fonts import fonts, printable
from pos_returns.documents.printing import save_and_print
from pos_returns.engine.domain import Role, Staff
from pos_returns.errors import NotFound
from pos_returns.i18n import (
    N_,
    _,
    babel_locale,
    format_date,
    format_datetime,
    format_money,
    format_percent,
    to_local,
)
from pos_returns.journal.chain import closures
from pos_returns.journal.keys import format_fingerprint
from pos_returns.usecases.auth import require_role
from pos_returns.usecases.review import (
    FLAGS,
    TENDERS,
    DayReview,
    ReviewFilters,
    ReviewRow,
    _department_names,
    day_review,
    flag_label,
    kind_label,
    money_text,
    reason_label,
    tender_label,
)

CSV_DELIMITER = ";"
CSV_ENCODING = "utf-8-sig"
CHART_COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7f6000", "#7030a0", "#2e75b6",
                 "#bf9000", "#a9a9a9")


# --------------------------------------------------------------------------- CSV


def csv_amount(cents: int) -> str:
    """1234567 -> "12345,67"; -5 -> "-0,05" (decimal comma, no grouping, no sign of €)."""
    sign = "-" if cents < 0 else ""
    value = abs(int(cents))
    return f"{sign}{value // 100},{value % 100:02d}"


def parse_csv_amount(text: str) -> int:
    """The inverse of :func:`csv_amount` (for tests and re-imports)."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    euros, _sep, cents = text.lstrip("-").partition(",")
    return sign * (int(euros or "0") * 100 + int((cents or "0").ljust(2, "0")[:2]))


def csv_text(text: str) -> str:
    """A code Excel must keep as text (a receipt number): ``="…"``; empty stays empty."""
    return f'="{text}"' if text else ""


def parse_csv_text(cell: str) -> str:
    """The inverse of :func:`csv_text`."""
    if cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1]
    return cell


def approvals_text(row: ReviewRow) -> str:
    """Who decided what, and why: « R13 accordé par Sophie Bernard : “…” »."""
    return " ; ".join(
        _("{rule} {decision} by {manager}: “{reason}”").format(
            rule=a.rule, decision=_("approved") if a.decision == "approved" else _("refused"),
            manager=a.manager_name, reason=a.reason)
        for a in row.approvals)


def _flags_text(row: ReviewRow) -> str:
    return ", ".join(flag_label(f) for f in row.flags)


def ticket_csv_rows(review: DayReview, db: Database) -> list[list[str]]:

    depts = _department_names(db)
    header = [
        _("Date"), _("Time"), _("Ticket"), _("Till"), _("Staff"), _("Type"), _("Receipt"),
        _("Flags"), _("Departments"), _("Reasons"), _("Items returned"),
        _("Merchandise credited"), _("Exchanges charged"), _("Restocking fees"), _("Net"),
        *[tender_label(k, short=True) for k in TENDERS], _("Manager's decisions"),
    ]
    rows = [header]
    for r in review.rows:
        local = to_local(r.created_at)
        rows.append([
            local.strftime("%d/%m/%Y"), local.strftime("%H:%M"), r.display_number,
            str(r.till_no), r.staff_name, kind_label(r.kind), csv_text(r.receipt_number),
            _flags_text(r), ", ".join(depts.get(d, d) for d in r.departments),
            ", ".join(reason_label(c) for c in r.reasons), str(r.items_returned),
            csv_amount(r.refund_total), csv_amount(r.charge_total),
            csv_amount(r.restocking_fees), csv_amount(r.net),
            *[csv_amount(r.tenders.get(k, 0)) for k in TENDERS], approvals_text(r),
        ])
    return rows


def totals_csv_rows(review: DayReview) -> list[list[str]]:
    t = review.totals
    rows = [[_("Section"), _("Code"), _("Label"), _("Count"), _("Amount")]]
    summary = _("Summary")
    rows += [
        [summary, "tickets", _("Return tickets"), str(t.tickets), ""],
        [summary, "items", _("Items returned"), str(t.items_returned), ""],
        [summary, "refund_total", _("Merchandise credited"), "", csv_amount(t.refund_total)],
        [summary, "charge_total", _("Exchanges charged"), "", csv_amount(t.charge_total)],
        [summary, "restocking_fees", _("Restocking fees"), "", csv_amount(t.restocking_fees)],
        [summary, "net", _("Net to customers"), "", csv_amount(t.net)],
    ]
    tender = _("By tender")
    for k in TENDERS:
        count = str(t.gift_cards_issued_count) if k == "gift_card" else ""
        rows.append([tender, k, tender_label(k), count, csv_amount(t.by_tender.get(k, 0))])
    for section, buckets in (
        (_("By reason"), t.by_reason),
        (_("By department"), t.by_department),
        (_("By staff"), t.by_staff),
    ):
        for b in buckets:
            rows.append([section, b.key, b.label, str(b.count), csv_amount(b.amount)])
    flags = _("By flag")
    for f in FLAGS:
        rows.append([flags, f, flag_label(f), str(t.by_flag.get(f, 0)), ""])
    return rows


def _write_csv(path: Path, rows: Sequence[Sequence[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n",
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding=CSV_ENCODING, newline="")
    tmp.replace(path)


# --------------------------------------------------------------------------- PDF


def _fonts() -> tuple[str, str, Any]:
    fs = fonts()
    return fs.regular, fs.bold, printable


def _pie(items: Sequence[tuple[str, int]], font: str, width: float, height: float) -> Any:
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.piecharts import Pie
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    drawing = Drawing(width, height)
    pie = Pie()
    size = min(height - 10, width * 0.45)
    pie.x, pie.y, pie.width, pie.height = 5, (height - size) / 2, size, size
    pie.data = [max(v, 0) for _label, v in items]
    pie.labels = None
    pie.simpleLabels = 1
    pie.slices.strokeColor = colors.white
    pie.slices.strokeWidth = 1
    for i in range(len(items)):
        pie.slices[i].fillColor = colors.HexColor(CHART_COLOURS[i % len(CHART_COLOURS)])
    drawing.add(pie)
    legend = Legend()
    legend.x, legend.y = size + 20, height - 8
    legend.fontName = font
    legend.fontSize = 8
    legend.alignment = "right"
    legend.dx = legend.dy = 8
    legend.deltay = 12
    legend.columnMaximum = 8
    legend.colorNamePairs = [
        (colors.HexColor(CHART_COLOURS[i % len(CHART_COLOURS)]), label)
        for i, (label, _v) in enumerate(items)
    ]
    drawing.add(legend)
    return drawing


def _bars(items: Sequence[tuple[str, int]], font: str, width: float,
          printable: Any) -> Any:
    """A horizontal bar chart of amounts (cents) with the labels on the left."""
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    bar_h = 14
    height = max(40, bar_h * len(items) + 20)
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    label_w = 150
    chart.x, chart.y = label_w, 10
    chart.width, chart.height = width - label_w - 80, height - 20
    # top to bottom in the order given
    chart.data = [[max(v, 0) / 100 for _l, v in reversed(items)]]
    chart.categoryAxis.categoryNames = [
        printable(label[:28]) for label, _v in reversed(items)
    ]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 8
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.dx = -4
    chart.categoryAxis.strokeColor = colors.grey
    chart.valueAxis.visible = 0
    chart.valueAxis.valueMin = 0
    top = max([max(v, 0) for _l, v in items] + [1]) / 100
    chart.valueAxis.valueMax = top * 1.02
    chart.bars[0].fillColor = colors.HexColor(CHART_COLOURS[0])
    chart.bars[0].strokeColor = None
    chart.barSpacing = 2
    drawing.add(chart)
    n = len(items)
    slot = chart.height / max(n, 1)
    for i, (_label, v) in enumerate(reversed(items)):
        x = chart.x + chart.width * (max(v, 0) / 100) / (top * 1.02) + 4
        y = chart.y + slot * i + slot / 2 - 3
        drawing.add(String(x, y, printable(format_money(v)), fontName=font, fontSize=8))
    return drawing


_WIDTHS: dict[tuple[str, str, float], float] = {}  # times, names, labels repeat a lot


def _rows_flowable_class() -> Any:
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Flowable

    class RowsTable(Flowable):
        """A long list drawn straight on the canvas, split across pages.

        A platypus ``Table`` styles every cell; for a day of 2,000 tickets that
        is most of the report's time. This draws plain text rows (header
        repeated on each page, light rules), clipping each cell to its column.
        """

        def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]],
                     widths: Sequence[float], right: Sequence[bool], font: str, bold: str,
                     *, size: float = 7.5, leading: float = 10.5,
                     highlight: int | None = None) -> None:
            super().__init__()
            self.header, self.rows = list(header), list(rows)
            self.widths, self.right = list(widths), list(right)
            self.font, self.bold, self.size, self.leading = font, bold, size, leading
            self.highlight = highlight

        def _height(self, n: int) -> float:
            return self.leading * (n + 1) + 2

        def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
            return sum(self.widths), self._height(len(self.rows))

        def split(self, avail_width: float, avail_height: float) -> list[Any]:
            fit = int((avail_height - 2) // self.leading) - 1
            if fit < 3:
                return []
            if fit >= len(self.rows):
                return [self]
            return [self._part(self.rows[:fit]), self._part(self.rows[fit:])]

        def _part(self, rows: Sequence[Sequence[str]]) -> RowsTable:
            return RowsTable(self.header, rows, self.widths, self.right, self.font, self.bold,
                             size=self.size, leading=self.leading, highlight=self.highlight)

        def _clip(self, text: str, width: float, font: str) -> tuple[str, float]:
            """``text`` cut to ``width`` (with "…"), and its drawn width."""
            key = (text, font, self.size)
            w = _WIDTHS.get(key)
            if w is None:
                if len(_WIDTHS) > 50_000:
                    _WIDTHS.clear()
                w = _WIDTHS[key] = stringWidth(text, font, self.size)
            if w <= width:
                return text, w
            while text and stringWidth(text + "…", font, self.size) > width:
                text = text[:-1]
            text += "…"
            return text, stringWidth(text, font, self.size)

        def draw(self) -> None:
            c = self.canv
            total = sum(self.widths)
            top = self._height(len(self.rows))
            c.setFillColor(colors.HexColor("#e8eef5"))
            c.rect(0, top - self.leading - 1, total, self.leading + 1, stroke=0, fill=1)
            pad = 3
            black, red = colors.black, colors.HexColor("#b3261e")
            text_obj = c.beginText()
            text_obj.setFillColor(black)
            rules = []
            lefts = [sum(self.widths[:j]) for j in range(len(self.widths))]
            for i, cells in enumerate([self.header, *self.rows]):
                y = top - (i + 1) * self.leading + 2.5
                font = self.bold if i == 0 else self.font
                if i < 2:  # the header in bold, then every row in the regular font
                    text_obj.setFont(font, self.size)
                for j, text in enumerate(cells):
                    if not text:
                        continue
                    text, w = self._clip(text, self.widths[j] - 2 * pad, font)
                    x = lefts[j] + (self.widths[j] - pad - w if self.right[j] else pad)
                    flagged = bool(i and j == self.highlight)
                    if flagged:
                        text_obj.setFillColor(red)
                    text_obj.setTextOrigin(x, y)
                    text_obj.textOut(text)
                    if flagged:
                        text_obj.setFillColor(black)
                if i:
                    rules.append((0, y - 2.5, total, y - 2.5))
            c.drawText(text_obj)
            c.setStrokeColor(colors.HexColor("#d0d0d0"))
            c.setLineWidth(0.25)
            c.lines(rules)

    return RowsTable


@dataclass(frozen=True, slots=True)
class ReportFiles:
    pdf: Path
    csv: Path
    totals_csv: Path


def report_basename(day: date) -> str:
    return f"retours-{day.isoformat()}"


def _closure_lines(db: Database, review: DayReview) -> list[tuple[str, str]]:
    """What the fiscal journal says about this day: each till's Z closure, or none yet."""

    found = [c for c in closures(db, store_id=review.store_id, period_kind="day")
             if c["period"] == review.day.isoformat()]
    if not found:
        return [(_("Day closure (Z)"), _("not closed yet"))]
    lines = []
    for c in sorted(found, key=lambda c: c["till_no"]):
        lines.append((_("Z closure, till {till}").format(till=c["till_no"]),
                      format_money(c["net"])))
        lines.append((_("Perpetual grand total, till {till}").format(till=c["till_no"]),
                      format_money(c["grand_total"])))
        # the key pinned for the till's chain, as the Z record signed it (issue 12)
        signed = db.execute(
            "SELECT payload FROM journal WHERE store_id = ? AND till_no = ? AND seq = ?",
            [c["store_id"], c["till_no"], c["journal_seq"]],
        ).fetchone()
        fingerprint = json.loads(signed[0]).get("key_fingerprint", "") if signed else ""
        if fingerprint:
            lines.append((_("Journal key fingerprint, till {till}").format(till=c["till_no"]),
                          format_fingerprint(fingerprint)))
    return lines


class _Kit:
    """What every section of the report PDF draws with: reportlab (imported when a
    report is made, not when the till starts), the fonts, the styles, the page width."""

    def __init__(self) -> None:
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_RIGHT
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm
        from reportlab.platypus import (
            KeepTogether,
            Paragraph,
            SimpleDocTemplate,
            Spacer,
            Table,
            TableStyle,
        )

        self.colors, self.A4, self.mm = colors, A4, mm
        self.KeepTogether, self.Paragraph, self.Spacer = KeepTogether, Paragraph, Spacer
        self.Table, self.TableStyle, self.SimpleDocTemplate = Table, TableStyle, SimpleDocTemplate
        self.regular, self.bold, self.printable = _fonts()
        self.base = ParagraphStyle("base", fontName=self.regular, fontSize=9, leading=11)
        self.title = ParagraphStyle("title", parent=self.base, fontName=self.bold, fontSize=16,
                                    leading=20)
        self.h2 = ParagraphStyle("h2", parent=self.base, fontName=self.bold, fontSize=11,
                                 leading=14, spaceBefore=8, spaceAfter=4,
                                 textColor=colors.HexColor("#1f4e79"))
        self.small = ParagraphStyle("small", parent=self.base, fontSize=8, leading=10,
                                    textColor=colors.HexColor("#555555"))
        self.right = ParagraphStyle("right", parent=self.base, alignment=TA_RIGHT)
        self.grid = TableStyle([
            ("FONT", (0, 0), (-1, -1), self.regular, 8.5),
            ("FONT", (0, 0), (-1, 0), self.bold, 8.5),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#1f4e79")),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d0d0d0")),
            ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ])
        self.width = A4[0] - 30 * mm

    def esc(self, text: str) -> str:
        return (self.printable(text).replace("&", "&amp;").replace("<", "&lt;")
                .replace(">", "&gt;"))

    def money(self, cents: int) -> str:
        return str(self.printable(money_text(cents)))

    def para(self, text: str, style: Any = None) -> Any:
        return self.Paragraph(self.esc(text), style or self.base)


def _pdf_heading(k: _Kit, review: DayReview, generated_at: datetime) -> list[Any]:
    story: list[Any] = [
        k.para(_("Daily returns report"), k.title),
        k.para(_("{store} — {day}").format(store=review.store_name,
                                           day=format_date(review.day, fmt="full"))),
        k.para(_("Printed on {moment}").format(moment=format_datetime(generated_at)), k.small),
    ]
    if review.filters != ReviewFilters():
        story.append(k.para(_("Filtered view: only the selected tickets are counted."), k.small))
    story.append(k.Spacer(1, 4 * k.mm))
    return story


def _pdf_tickets_to_check(k: _Kit, review: DayReview) -> list[Any]:
    """First: the counts per flag, then each flagged ticket with who approved what and
    why (a manager reads this before anything else)."""
    t, mm = review.totals, k.mm
    flag_rows = [[k.esc(_("Flag")), k.esc(_("Tickets"))]] + [
        [k.esc(flag_label(f)), str(t.by_flag.get(f, 0))] for f in FLAGS
    ]
    ft = k.Table(flag_rows, colWidths=[80 * mm, 25 * mm], hAlign="LEFT")
    ft.setStyle(k.grid)
    story: list[Any] = [k.KeepTogether([k.para(_("Tickets to check"), k.h2), ft])]
    flagged = [r for r in review.rows if r.flags]
    if flagged:
        check_rows = [[k.esc(_("Time")), k.esc(_("Ticket")), k.esc(_("Flags")),
                       k.esc(_("Manager's decisions"))]]
        for r in flagged:
            check_rows.append([
                to_local(r.created_at).strftime("%H:%M"), k.esc(r.display_number),
                k.para(_flags_text(r), k.small),
                k.para(approvals_text(r) or _("No manager's decision recorded."), k.small),
            ])
        ct = k.Table(check_rows, colWidths=[14 * mm, 28 * mm, 45 * mm, k.width - 87 * mm],
                     repeatRows=1, hAlign="LEFT")
        ct.setStyle(k.grid)
        ct.setStyle(k.TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [k.Spacer(1, 2 * mm), ct]
    return story


def _pdf_key_figures(k: _Kit, db: Database, review: DayReview) -> list[Any]:
    t, mm = review.totals, k.mm
    key_rows = [
        [_("Return tickets"), str(t.tickets)],
        [_("Items returned"), str(t.items_returned)],
        [_("Merchandise credited"), k.money(t.refund_total)],
        [_("Exchanges charged"), k.money(t.charge_total)],
        [_("Restocking fees"), k.money(t.restocking_fees)],
        [_("Net to customers"), k.money(t.net)],
    ]
    key_rows += [[label, value] for label, value in _closure_lines(db, review)]
    kt = k.Table([[k.esc(a), k.esc(b)] for a, b in key_rows], colWidths=[80 * mm, 40 * mm],
                 hAlign="LEFT")
    kt.setStyle(k.TableStyle([
        ("FONT", (0, 0), (-1, -1), k.regular, 9),
        ("FONT", (0, 5), (-1, 5), k.bold, 9),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, k.colors.HexColor("#d0d0d0")),
    ]))
    return [k.para(_("Key figures"), k.h2), kt]


def _pdf_by_tender(k: _Kit, review: DayReview) -> list[Any]:
    """The refunds by tender: a table beside a pie."""
    t, mm = review.totals, k.mm
    tender_rows = [[_("Tender"), _("Amount")]] + [
        [tender_label(kind), k.money(t.by_tender.get(kind, 0))] for kind in TENDERS
    ]
    tender_rows.append([_("Total"), k.money(t.refunds_total)])
    tt = k.Table([[k.esc(a), k.esc(b)] for a, b in tender_rows], colWidths=[52 * mm, 28 * mm])
    tt.setStyle(k.grid)
    tt.setStyle(k.TableStyle([("FONT", (0, -1), (-1, -1), k.bold, 8.5)]))
    pie_items = [(k.printable(tender_label(kind, short=True)), t.by_tender.get(kind, 0))
                 for kind in TENDERS if t.by_tender.get(kind, 0) > 0]
    pie = (_pie(pie_items, k.regular, k.width - 85 * mm, 32 * mm) if pie_items
           else k.Spacer(1, 1))
    block = k.Table([[tt, pie]], colWidths=[85 * mm, k.width - 85 * mm], hAlign="LEFT")
    block.setStyle(k.TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                 ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [k.KeepTogether([k.para(_("By tender"), k.h2), block])]


def _pdf_breakdown(k: _Kit, heading: str, buckets: Sequence[Any], count_label: str
                   ) -> list[Any]:
    """One breakdown (by reason, department or staff): a bar chart and its table."""
    if not buckets:
        return [k.KeepTogether([k.para(heading, k.h2), k.para(_("Nothing to show."), k.small)])]
    chart = _bars([(b.label, b.amount) for b in buckets[:12]], k.regular, k.width, k.printable)
    rows = [[k.esc(_("Label")), k.esc(count_label), k.esc(_("Amount"))]] + [
        [k.esc(b.label), str(b.count), k.money(b.amount)] for b in buckets
    ]
    table = k.Table(rows, colWidths=[k.width - 60 * k.mm, 25 * k.mm, 35 * k.mm], repeatRows=1)
    table.setStyle(k.grid)
    return [k.KeepTogether([k.para(heading, k.h2), chart]), table]


def _pdf_ticket_list(k: _Kit, review: DayReview) -> list[Any]:
    """Every ticket of the day (drawn fast, see RowsTable), then their total."""
    mm, printable = k.mm, k.printable
    story: list[Any] = [k.para(_("Tickets of the day"), k.h2)]
    head = [_("Time"), _("Ticket"), _("Staff"), _("Type"), _("Flags"), _("Net")]
    col_w = [14 * mm, 28 * mm, 34 * mm, 24 * mm, k.width - 130 * mm, 30 * mm]
    flag_names = {f: flag_label(f) for f in FLAGS}
    kind_names = {kind: kind_label(kind) for kind in ("receipt", "no_receipt", "exchange")}
    body = [
        [to_local(r.created_at).strftime("%H:%M"), r.display_number,
         printable(r.staff_name), printable(kind_names.get(r.kind, r.kind)),
         printable(", ".join(flag_names[f] for f in r.flags)), k.money(r.net)]
        for r in review.rows
    ]
    if body:
        rows_table = _rows_flowable_class()
        story.append(rows_table([printable(h) for h in head], body, col_w,
                                [False, False, False, False, False, True], k.regular, k.bold,
                                highlight=4))
    else:
        story.append(k.para(_("No return on this day.")))
    story.append(k.Spacer(1, 3 * mm))
    story.append(k.para(_("Total of the tickets listed: {amount}").format(
        amount=format_money(review.totals.net)), k.right))
    return story


def _pdf_write(k: _Kit, story: list[Any], review: DayReview, path: Path) -> Path:
    """Lay the story out on A4 pages with their footer; the file appears whole."""
    mm, A4 = k.mm, k.A4
    footer_text = k.printable(_("Alamara Retours — daily returns report — {day}").format(
        day=format_date(review.day)))

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(k.regular, 7.5)
        canvas.setFillColor(k.colors.HexColor("#777777"))
        canvas.drawString(15 * mm, 10 * mm, footer_text)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm,
                               k.printable(_("Page {page}").format(page=doc.page)))
        canvas.restoreState()

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pdf.tmp")
    doc = k.SimpleDocTemplate(
        str(tmp), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
        bottomMargin=18 * mm, title=k.printable(_("Daily returns report")),
        author="Alamara Retours", invariant=1,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    tmp.replace(path)
    return path


def build_pdf(db: Database, review: DayReview, path: Path, *,
              generated_at: datetime | None = None) -> Path:
    """Write the daily report of ``review`` as an A4 PDF at ``path``: the tickets to
    check first, the key figures, by tender, reason, department and staff, then
    every ticket of the day."""
    k = _Kit()
    t = review.totals
    story = _pdf_heading(k, review, generated_at or datetime.now(UTC))
    story += _pdf_tickets_to_check(k, review)
    story += _pdf_key_figures(k, db, review)
    story += _pdf_by_tender(k, review)
    story += _pdf_breakdown(k, _("By reason"), t.by_reason, _("Items"))
    story += _pdf_breakdown(k, _("By department"), t.by_department, _("Items"))
    story += _pdf_breakdown(k, _("By staff"), t.by_staff, _("Tickets"))
    story += _pdf_ticket_list(k, review)
    return _pdf_write(k, story, review, path)


def write_daily_report(
    db: Database,
    manager: Staff,
    day: date,
    out_dir: Path | str,
    *,
    store_id: int | None = None,
    policy: PolicyConfig | None = None,
    filters: ReviewFilters | None = None,
    review: DayReview | None = None,
) -> ReportFiles:
    """Write the day's PDF and the two CSV files into ``out_dir`` (manager only)."""
    if review is None:
        review = day_review(db, manager, day, filters=filters, store_id=store_id, policy=policy)
    else:  # an already loaded review still needs a manager to print it
        require_role(manager, Role.MANAGER)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = report_basename(review.day)
    if review.store_id != manager.store_id:
        base = f"{base}-{review.store_id:03d}"
    files = ReportFiles(
        pdf=out / f"{base}.pdf", csv=out / f"{base}.csv", totals_csv=out / f"{base}-totaux.csv"
    )
    _write_csv(files.csv, ticket_csv_rows(review, db))
    _write_csv(files.totals_csv, totals_csv_rows(review))
    build_pdf(db, review, files.pdf)
    return files


# --------------------------------------------------------------------------- Z report

Z_TITLES = {
    "day": N_("Z — day closure"),
    "month": N_("Monthly closure"),
    "year": N_("Yearly closure"),
}


def find_closure(db: Database, store_id: int, till_no: int, period_kind: str,
                 period: str) -> dict[str, Any]:
    found = [c for c in closures(db, store_id=store_id, till_no=till_no,
                                 period_kind=period_kind) if c["period"] == period]
    if not found:
        raise NotFound(_("The period {period} is not closed on till {till}.").format(
            period=period, till=till_no), code="closure")
    return found[0]


def _period_text(kind: str, period: str) -> str:
    if kind == "day":
        return format_date(date.fromisoformat(period), fmt="full")
    if kind == "month":
        year, month = (int(x) for x in period.split("-"))
        return babel_format_date(date(year, month, 1), "LLLL y", locale=babel_locale())
    return period


def z_report_lines(db: Database, closure: dict[str, Any]) -> list[tuple[str, str]]:
    """What a Z (or a month / year closure) says, line by line (label, value)."""
    totals = closure["totals"]
    lines: list[tuple[str, str]] = [
        (_("Period"), _period_text(closure["period_kind"], closure["period"])),
        (_("Till"), str(closure["till_no"])),
        (_("Closed on"), format_datetime(closure["created_at"], fmt="short")),
    ]
    if closure.get("staff_id"):
        row = db.execute("SELECT name FROM staff WHERE id = ?", [closure["staff_id"]]).fetchone()
        if row:
            lines.append((_("By"), str(row[0])))
    count = int(closure["ticket_count"])
    first, last = closure["first_number"], closure["last_number"]
    numbers = (_("none") if not count else f"n° {first}" if first == last
               else f"{first}–{last}")
    lines += [
        (_("Tickets"), f"{count} ({numbers})"),
        (_("Merchandise returned"), format_money(int(totals.get("merchandise_returned", 0)))),
        (_("New items sold (exchanges)"), format_money(int(totals.get("merchandise_sold", 0)))),
        (_("Restocking fees"), format_money(int(totals.get("restocking_fees", 0)))),
        ("", ""),
    ]
    for kind, amount in sorted(totals.get("refunds_by_tender", {}).items()):
        lines.append((tender_label(kind), format_money(int(amount))))
    vat = totals.get("vat_by_rate", {})
    if vat:
        lines.append(("", ""))
        for rate in sorted(vat, key=int):
            parts = vat[rate]
            lines.append((_("VAT {rate}: excl. {ht}, VAT").format(
                rate=format_percent(int(rate)), ht=format_money(int(parts["ht"]))),
                format_money(int(parts["vat"]))))
    lines += [
        ("", ""),
        (_("Net (money to customers)"), format_money(int(closure["net"]))),
        (_("Perpetual grand total"), format_money(int(closure["grand_total"]))),
        (_("Perpetual grand total (absolute)"), format_money(int(closure["grand_total_abs"]))),
        (_("Journal record no."), str(closure["journal_seq"])),
    ]
    return lines


def z_report_pdf(db: Database, closure: dict[str, Any]) -> bytes:
    """The closure as a PDF the width of a till ticket (80 mm), in French."""
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    regular, bold, clean = _fonts()
    store = db.execute("SELECT name, address, postcode, city, siret FROM stores WHERE id = ?",
                       [closure["store_id"]]).fetchone()
    sig = db.execute("SELECT signature FROM journal WHERE store_id = ? AND till_no = ? AND "
                     "seq = ?", [closure["store_id"], closure["till_no"],
                                 closure["journal_seq"]]).fetchone()
    lines = z_report_lines(db, closure)
    header = []
    if store:
        header = [str(store[0]), f"{store[1]}, {store[2]} {store[3]}",
                  _("SIRET {siret}").format(siret=store[4])]
    width = 80 * mm
    height = (34 + 4.6 * (len(header) + len(lines))) * mm
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=(width, height))
    pdf.setTitle(clean(_(Z_TITLES.get(closure["period_kind"], "Z"))))
    y = height - 10 * mm
    for i, text in enumerate(header):
        pdf.setFont(bold if i == 0 else regular, 9 if i == 0 else 7.5)
        pdf.drawCentredString(width / 2, y, clean(text))
        y -= 4.5 * mm
    y -= 2 * mm
    pdf.setFont(bold, 11)
    pdf.drawCentredString(width / 2, y, clean(_(Z_TITLES.get(closure["period_kind"], "Z"))))
    y -= 7 * mm
    for label, value in lines:
        if not label:
            pdf.line(4 * mm, y + 2.5 * mm, width - 4 * mm, y + 2.5 * mm)
            y -= 2 * mm
            continue
        pdf.setFont(regular, 7.5)
        pdf.drawString(4 * mm, y, clean(label))
        pdf.setFont(bold, 7.5)
        pdf.drawRightString(width - 4 * mm, y, clean(value))
        y -= 4.5 * mm
    if sig:
        y -= 2 * mm
        pdf.setFont(regular, 6)
        pdf.drawString(4 * mm, y, clean(_("Signature {start}…{end}").format(
            start=sig[0][:16], end=sig[0][-16:])))
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def z_report_name(closure: dict[str, Any]) -> str:
    return f"{closure['period']}-caisse{closure['till_no']}"


def z_report_for(db: Database, manager: Staff, cfg: Any, period_kind: str,
                 period: str) -> tuple[bytes, str]:
    """Database worker: the Z PDF of this till's closure of ``period`` (manager only)."""
    require_role(manager, Role.MANAGER)
    closure = find_closure(db, cfg.store_id, cfg.till_no, period_kind, period)
    return z_report_pdf(db, closure), z_report_name(closure)


def deliver_z_report(cfg: Any, pdf_bytes: bytes, name: str) -> Path:
    """I/O pool: save the Z in the documents folder and print it when a printer
    queue is configured; returns the saved path."""
    return save_and_print(pdf_bytes, kind="z", name=name, cfg=cfg)


def export_z_report(db: Database, closure: dict[str, Any], out_dir: Path | str) -> Path:
    """Write the Z PDF of ``closure`` into ``out_dir`` (the file appears whole)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"z-{z_report_name(closure)}.pdf"
    tmp = path.with_suffix(".pdf.tmp")
    tmp.write_bytes(z_report_pdf(db, closure))
    tmp.replace(path)
    return path
