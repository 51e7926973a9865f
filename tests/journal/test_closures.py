"""Closures by calendar day, month and year closures when their period ends, the Z
as a PDF (issue 17). Times are UTC; the days are the store's (Europe/Paris)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from pos_returns.cli import main
from pos_returns.config import TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.errors import Conflict, InvalidInput
from pos_returns.journal.chain import Journal, closures
from pos_returns.journal.verify import verify
from pos_returns.usecases import tickets
from pos_returns.usecases.auth import get_staff
from pos_returns.usecases.reports import export_z_report, z_report_for, z_report_pdf
from pos_returns.usecases.review import business_day_notice, close_day, days_to_close
from tests.helpers import L, add_sale


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "j.pem",
                      documents_dir=tmp_path / "docs")


@pytest.fixture
def journal(db, cfg) -> Journal:
    return Journal.for_config(db, cfg)


def at(d: date, hour: int, minute: int = 0) -> datetime:
    """``hour`` o'clock in Paris on ``d`` (winter time, UTC+1), as UTC."""
    return datetime(d.year, d.month, d.day, hour - 1, minute, tzinfo=UTC)


def ret(db, cfg, when: datetime, price: int = 7900):  # type: ignore[no-untyped-def]
    sale = add_sale(db, [L("SKU-CHEM-01", 1, price)])
    line = db.execute("SELECT id FROM sale_lines WHERE sale_id = ?", [sale]).fetchone()[0]
    return tickets.commit_plan(db, cfg, direct_plan(db, sale_id=sale, picks=[(line, 1)]),
                               now=when)


def periods(db, kind: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [c["period"] for c in closures(db, period_kind=kind)]


def test_closing_today_first_closes_yesterday_on_its_own(db, cfg, journal):
    yesterday, today = date(2026, 1, 14), date(2026, 1, 15)
    for hour in (10, 11, 12, 15, 17):
        ret(db, cfg, at(yesterday, hour))
    ret(db, cfg, at(today, 10))
    ret(db, cfg, at(today, 11))
    assert journal.open_days(today) == [yesterday, today]
    z = journal.close_day(today, now=at(today, 20))
    by_day = {c["period"]: c for c in closures(db, period_kind="day")}
    assert (by_day["2026-01-14"]["ticket_count"], by_day["2026-01-14"]["first_number"],
            by_day["2026-01-14"]["last_number"]) == (5, 1, 5)
    assert (z.ticket_count, z.first_number, z.last_number) == (2, 6, 7)
    assert z.grand_total == 7 * 7900
    # yesterday was closed first, in its own record
    seqs = [c["journal_seq"] for c in closures(db, period_kind="day")]
    assert seqs == sorted(seqs)
    with pytest.raises(Conflict):
        journal.close_day(yesterday, now=at(today, 21))  # already closed, no "later period"
    assert verify(db, full=True).ok


def test_days_without_tickets_between_close_each_with_zero_totals(db, cfg, journal):
    ret(db, cfg, at(date(2026, 1, 5), 10))
    journal.close_day(date(2026, 1, 5), now=at(date(2026, 1, 5), 20))
    ret(db, cfg, at(date(2026, 1, 9), 10))
    journal.close_day(date(2026, 1, 9), now=at(date(2026, 1, 9), 20))
    assert periods(db, "day") == ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08",
                                  "2026-01-09"]
    counts = [c["ticket_count"] for c in closures(db, period_kind="day")]
    assert counts == [1, 0, 0, 0, 1]


def test_a_ticket_made_after_the_Z_belongs_to_the_next_day_and_the_till_says_so(db, cfg):
    day, next_day = date(2026, 1, 20), date(2026, 1, 21)
    manager = get_staff(db, 3)
    ret(db, cfg, at(day, 10))
    assert business_day_notice(db, cfg, now=at(day, 19)) == ""
    close_day(db, manager, day, cfg, now=at(day, 19))
    notice = business_day_notice(db, cfg, now=at(day, 19, 30))
    assert "21 janvier 2026" in notice and "Z" in notice
    late = ret(db, cfg, at(day, 19, 30))  # same calendar day, after the Z
    z2 = close_day(db, manager, next_day, cfg, now=at(next_day, 19))
    assert (z2.ticket_count, z2.first_number) == (1, late.number)
    assert business_day_notice(db, cfg, now=at(date(2026, 1, 22), 8)) == ""  # a new day


def test_the_month_closes_at_the_first_closure_after_it_ends(db, cfg, journal):
    jan31, feb1 = date(2026, 1, 31), date(2026, 2, 1)
    ret(db, cfg, at(date(2026, 1, 30), 10), 1000)
    ret(db, cfg, at(jan31, 10), 2000)
    journal.close_day(jan31, now=at(jan31, 20))
    assert periods(db, "month") == []  # January is not over at 20:00 on the 31st
    ret(db, cfg, at(jan31, 22), 4000)  # after the Z: February 1st's ticket
    ret(db, cfg, at(feb1, 10), 8000)
    made = journal.close_through(feb1, now=at(feb1, 20))
    assert [(c.period_kind, c.period) for c in made] == [("day", "2026-02-01"),
                                                         ("month", "2026-01")]
    month = made[1]
    days = [c for c in closures(db, period_kind="day") if c["period"].startswith("2026-01")]
    assert month.net == sum(c["net"] for c in days) == 3000
    assert month.ticket_count == 2 and (month.first_number, month.last_number) == (1, 2)
    assert month.grand_total == 3000 and made[0].grand_total == 15000
    # explicit closures of a month not over, or closed twice, are refused
    with pytest.raises(InvalidInput):
        journal.close_month(2026, 2, now=at(feb1, 21))
    with pytest.raises(Conflict):
        journal.close_month(2026, 1, now=at(feb1, 21))


def test_the_year_closes_with_december_at_the_first_closure_of_january(db, cfg, journal):
    dec31, jan1 = date(2025, 12, 31), date(2026, 1, 1)
    ret(db, cfg, at(date(2025, 12, 30), 10), 500)
    journal.close_day(dec31, now=at(dec31, 20))
    made = journal.close_through(jan1, now=at(jan1, 12))
    assert [(c.period_kind, c.period) for c in made] == [
        ("day", "2026-01-01"), ("month", "2025-12"), ("year", "2025")]
    assert made[2].net == 500 and made[2].ticket_count == 1
    assert verify(db, full=True).ok


def test_an_explicit_month_closure_closes_its_open_days_first(db, cfg, journal):
    ret(db, cfg, at(date(2026, 3, 2), 10))
    journal.close_day(date(2026, 3, 2), now=at(date(2026, 3, 2), 20))
    month = journal.close_month(2026, 3, now=at(date(2026, 4, 2), 9))
    assert periods(db, "day")[-1] == "2026-03-31" and len(periods(db, "day")) == 30
    assert month.ticket_count == 1 and month.net == 7900


def test_days_to_close_tells_the_manager_which_days_a_Z_closes(db, cfg, journal):
    ret(db, cfg, at(date(2026, 1, 10), 10))
    assert days_to_close(db, date(2026, 1, 12), cfg) == [
        date(2026, 1, 10), date(2026, 1, 11), date(2026, 1, 12)]


def test_the_Z_report_is_a_PDF_with_the_totals_and_the_grand_total(db, cfg, journal, tmp_path):
    day = date(2026, 1, 15)
    ret(db, cfg, at(day, 10), 12345)
    journal.close_day(day, now=at(day, 20))
    closure = closures(db, period_kind="day")[0]
    pdf = z_report_pdf(db, closure)
    assert pdf.startswith(b"%PDF")
    path = export_z_report(db, closure, tmp_path / "z")
    text = "".join(p.extract_text() for p in PdfReader(str(path)).pages)
    assert "Z" in text and "15 janvier 2026" in text and "123,45" in text
    assert "Grand total perpétuel" in text and str(closure["journal_seq"]) in text
    data, name = z_report_for(db, get_staff(db, 3), cfg, "day", "2026-01-15")
    assert data.startswith(b"%PDF") and name == "2026-01-15-caisse1"


def test_cli_close_writes_every_closure_and_its_Z(db, cfg, tmp_path, capsys):
    ret(db, cfg, at(date(2026, 1, 14), 10))
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\ncache_path = "{cfg.cache_path}"\n')
    out = tmp_path / "z"
    assert main(["journal", "close", "--config", str(toml), "--day", "2026-01-15",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2026-01-14" in printed and "2026-01-15" in printed
    assert sorted(p.name for p in out.glob("*.pdf")) == [
        "z-2026-01-14-caisse1.pdf", "z-2026-01-15-caisse1.pdf"]
    # the RGPD purge ran with the closure (journaled, counts only)
    purge = db.execute("SELECT payload FROM journal WHERE kind = 'privacy_purge'").fetchone()
    assert purge is not None and "id_checks" in json.loads(purge[0])
