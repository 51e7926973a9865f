"""The daily report: PDF read back with pypdf, CSV read back with the csv module."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from pos_returns.cli import main
from pos_returns.errors import PermissionDenied
from pos_returns.i18n import _, format_money
from pos_returns.usecases.auth import get_staff
from pos_returns.usecases.reports import csv_amount, parse_csv_amount, write_daily_report
from pos_returns.usecases.review import TENDERS, day_review, tender_label
from tests.helpers.review import DAY, RL, Ticket, add_return, standard_day


def pdf_lines(path: Path) -> list[str]:
    """The PDF's text lines as pypdf reads them back.

    pypdf gives the no-break space (U+00A0) that babel puts before "€" back as a
    plain space (same glyph); the narrow no-break space of the thousands comes back
    as it is. :func:`money` applies the same reading to the expected amounts.
    """
    text = "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)
    return [line.strip() for line in text.splitlines() if line.strip()]


def money(cents: int) -> str:
    return format_money(cents).replace("\u00a0", " ")


def value_after(lines: list[str], label: str) -> str:
    """The text printed right after ``label`` (a key figure or a tender row)."""
    return lines[lines.index(label) + 1]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh, delimiter=";"))


@pytest.fixture
def manager(db):
    return get_staff(db, 3)


def test_pdf_shows_the_totals_formatted_in_french(db, manager, tmp_path):
    standard_day(db)
    totals = day_review(db, manager, DAY).totals
    files = write_daily_report(db, manager, DAY, tmp_path)
    lines = pdf_lines(files.pdf)
    assert _("Daily returns report") in lines
    assert _("Daily returns report") != "Daily returns report"  # printed in French
    assert value_after(lines, _("Net to customers")) == money(totals.net)
    assert value_after(lines, _("Merchandise credited")) == money(totals.refund_total)
    assert value_after(lines, _("Return tickets")) == "5"
    for kind in TENDERS:
        assert value_after(lines, tender_label(kind)) == money(totals.by_tender[kind])
    assert value_after(lines, _("Cash out of the drawer")) == money(15900)
    assert value_after(lines, _("Card credits")) == money(669900)
    # every ticket is listed on one line: time, number, ..., net
    review = day_review(db, manager, DAY)
    day_list = lines[lines.index(_("Tickets of the day")):]
    listed = [line for line in day_list if " 001-01-" in line]
    assert len(listed) == 5
    for row, line in zip(review.rows, listed, strict=True):
        assert row.display_number in line
        assert line.endswith(money(row.net))


def test_pdf_of_an_empty_day_says_so(db, manager, tmp_path):
    files = write_daily_report(db, manager, date(2025, 1, 2), tmp_path)
    lines = pdf_lines(files.pdf)
    assert _("No return on this day.") in lines
    assert value_after(lines, _("Net to customers")) == money(0)


def test_csv_opens_with_the_csv_module_to_the_same_figures(db, manager, tmp_path):
    standard_day(db)
    totals = day_review(db, manager, DAY).totals
    files = write_daily_report(db, manager, DAY, tmp_path)
    raw = files.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: French Excel reads UTF-8
    rows = read_csv(files.csv)
    header, body = rows[0], rows[1:]
    assert len(body) == totals.tickets
    col = {name: i for i, name in enumerate(header)}
    assert sum(parse_csv_amount(r[col[_("Net")]]) for r in body) == totals.net
    for kind in TENDERS:
        label = tender_label(kind, short=True)
        assert sum(parse_csv_amount(r[col[label]]) for r in body) == totals.by_tender[kind]
    assert "Inès Laurent" in {r[col[_("Staff")]] for r in body}  # accents survive
    assert all("," in r[col[_("Net")]] and "€" not in r[col[_("Net")]] for r in body)

    trows = read_csv(files.totals_csv)
    by_code = {(r[0], r[1]): r for r in trows[1:]}
    assert parse_csv_amount(by_code[(_("Summary"), "net")][4]) == totals.net
    for kind in TENDERS:
        assert parse_csv_amount(by_code[(_("By tender"), kind)][4]) == totals.by_tender[kind]
    reasons = {r[1]: (int(r[3]), parse_csv_amount(r[4])) for r in trows
               if r[0] == _("By reason")}
    assert reasons == {b.key: (b.count, b.amount) for b in totals.by_reason}


def test_csv_amount_uses_a_decimal_comma():
    assert csv_amount(123456) == "1234,56"
    assert csv_amount(-3000) == "-30,00"
    assert csv_amount(5) == "0,05"
    assert csv_amount(-5) == "-0,05"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_csv_amount_round_trips(cents):
    assert parse_csv_amount(csv_amount(cents)) == cents


def test_R01_a_salesperson_cannot_print_the_report(db, tmp_path):
    standard_day(db)
    with pytest.raises(PermissionDenied):
        write_daily_report(db, get_staff(db, 1), DAY, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_report_command_writes_pdf_and_csv_headless(db, tmp_cache, tmp_path, capsys):
    standard_day(db)
    add_return(db, Ticket([RL("SKU-ROBE-01", 18900)], {"cash": 18900}, at="2025-03-15T18:00:00Z"))
    out = tmp_path / "rapports"
    code = main(["report", "--date", "2025-03-15", "--db", str(tmp_cache), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == [
        "retours-2025-03-15.pdf", "retours-2025-03-15.csv", "retours-2025-03-15-totaux.csv"]
    lines = pdf_lines(out / "retours-2025-03-15.pdf")
    assert value_after(lines, _("Return tickets")) == "6"
    assert len(read_csv(out / "retours-2025-03-15.csv")) == 7


def test_report_command_refuses_a_salesperson_and_a_bad_date(db, tmp_cache, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["report", "--date", "2025-03-15", "--db", str(tmp_cache), "--out", str(out),
                 "--manager", "V001"])
    assert code == 2  # a failure told in French (pos_returns.cli exit codes)
    assert not out.exists()
    code = main(["report", "--date", "15/03/2025", "--db", str(tmp_cache), "--out", str(out)])
    assert code == 2
    assert "15/03/2025" in capsys.readouterr().err


def test_pdf_shows_the_z_closure_and_grand_total_of_the_journal(db, manager, tmp_path):
    from datetime import UTC, datetime

    from pos_returns.config import TillConfig
    from pos_returns.usecases.review import close_day
    from tests.helpers.review import commit_day

    till = TillConfig(key_path=tmp_path / "keys" / "j.pem", documents_dir=tmp_path / "docs")
    commit_day(db, till, DAY)
    before = pdf_lines(write_daily_report(db, manager, DAY, tmp_path / "a").pdf)
    assert value_after(before, _("Day closure (Z)")) == _("not closed yet")
    closure = close_day(db, manager, DAY, till, now=datetime(2025, 3, 15, 20, tzinfo=UTC))
    lines = pdf_lines(write_daily_report(db, manager, DAY, tmp_path / "b").pdf)
    assert value_after(lines, _("Z closure, till {till}").format(till=1)) == money(closure.net)
    assert value_after(lines, _("Perpetual grand total, till {till}").format(till=1)) == money(
        closure.grand_total)
    assert value_after(lines, _("Net to customers")) == money(closure.net)


def test_a_busy_day_spreads_over_pages_with_every_ticket_once(db, manager, tmp_path):
    from bench.report import populate_day

    populate_day(db, DAY, 300, seed=3)
    review = day_review(db, manager, DAY)
    files = write_daily_report(db, manager, DAY, tmp_path)
    reader = PdfReader(str(files.pdf))
    assert len(reader.pages) >= 4
    lines = pdf_lines(files.pdf)
    listed = [line for line in lines if " 001-01-" in line]
    assert [line.split()[1] for line in listed] == [r.display_number for r in review.rows]
    assert value_after(lines, _("Net to customers")) == money(review.totals.net)
    # the header is repeated on each page of the list
    assert sum(line.startswith(_("Time")) for line in lines) >= 3


def test_pdf_opens_with_the_tickets_to_check_and_who_approved_why(db, manager, tmp_path):
    standard_day(db)
    review = day_review(db, manager, DAY)
    files = write_daily_report(db, manager, DAY, tmp_path)
    lines = pdf_lines(files.pdf)
    # the tickets to check come before the key figures
    assert lines.index(_("Tickets to check")) < lines.index(_("Key figures"))
    text = " ".join(lines[lines.index(_("Tickets to check")):lines.index(_("Key figures"))])
    flagged = [r for r in review.rows if r.flags]
    assert flagged and all(r.display_number in text for r in flagged)
    for row in flagged:  # who approved what, and why; or that nobody did
        for decision in row.approvals:
            assert decision.manager_name in text
        if not row.approvals:
            assert _("No manager's decision recorded.") in text


def test_csv_keeps_receipt_numbers_as_text_for_excel(db, manager, tmp_path):
    from dataclasses import replace

    from pos_returns.usecases.reports import (
        _write_csv,
        csv_text,
        parse_csv_text,
        ticket_csv_rows,
    )

    standard_day(db)
    review = day_review(db, manager, DAY)
    number = "00102261024000123"  # 17 digits: Excel would show 1,02261E+15
    row = replace(review.rows[0], receipt_number=number)
    path = tmp_path / "t.csv"
    _write_csv(path, ticket_csv_rows(replace(review, rows=(row,)), db))
    rows = read_csv(path)
    cell = rows[1][rows[0].index(_("Receipt"))]
    assert cell == '="00102261024000123"'  # Excel shows the digits, as text
    assert parse_csv_text(cell) == number
    assert csv_text("") == "" and parse_csv_text("plain") == "plain"
