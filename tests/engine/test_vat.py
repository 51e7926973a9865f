"""One VAT computation (pos_returns.engine.vat) for the printed ticket, the journal record of
the ticket and the Z closure that adds tickets up: a restocking fee (R18) is taxed at its
line's rate, and each rate is summed before it is split, so all three agree to the cent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.demo.returns import direct_plan
from pos_returns.documents import render_ticket_pdf, ticket_document_from_db
from pos_returns.engine.money import vat_included_split
from pos_returns.engine.vat import VatRow, add_records, as_record, line_amounts, vat_by_rate
from pos_returns.i18n import format_money, format_percent
from pos_returns.journal.chain import Journal
from pos_returns.usecases.tickets import commit_plan
from tests.helpers import L, T, add_sale
from tests.helpers.documents import has, pdf_text

DAY = date(2026, 3, 2)
FEE = 51  # R18 restocking fee on the first returned line


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    # R18: 5,08 % kept on the men's department: 0,51 € on a line of 10,04 €
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem",
                      policy=PolicyConfig(restocking_fee_bp={"men": 508}))


def _awkward_ticket(db, cfg):
    """Two 20 % lines of 10,04 € (1,67 € of VAT each line by line, 3,35 € for the rate), a 5.5 %
    line of 7,77 € and a restocking fee on the first line; card refund of the net."""
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 1004), L("SKU-ROBE-01", 1, 1004),
                         L("SKU-LIVR-01", 1, 777, vat_bp=550)],
                    [T("card", 2785, "4242", "fp")])
    ids = [r[0] for r in db.execute(
        "SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no", [sale])]
    plan = direct_plan(db, sale_id=sale, picks=[(i, 1) for i in ids], cfg=cfg)
    assert [line.restocking_fee for line in plan.lines] == [FEE, 0, 0]
    assert plan.net == 2785 - FEE
    assert [(r.kind, r.amount) for r in plan.refunds] == [("card", 2785 - FEE)]
    return commit_plan(db, cfg, plan, now=datetime(2026, 3, 2, 11, tzinfo=UTC))


def test_R18_journal_vat_per_rate_equals_the_printed_tickets(db, cfg):
    committed = _awkward_ticket(db, cfg)
    payload = json.loads(db.execute(
        "SELECT payload FROM journal WHERE ticket_uuid = ? AND kind = 'ticket'",
        [committed.uuid]).fetchone()[0])
    journaled = payload["totals"]["vat_by_rate"]
    doc = ticket_document_from_db(db, committed.ticket_id)
    assert journaled == as_record(doc.vat_rows)
    # the fee is in the 20 % row (-20,08 € + 0,51 €), split once: 3,26 € of VAT
    assert journaled["2000"] == {"ttc": -2008 + FEE, "ht": -1631, "vat": -326}
    assert journaled["550"] == {"ttc": -777, "ht": -736, "vat": -41}
    per_line = sum(vat_included_split(-1004, 2000)[1] for _ in range(2))
    assert per_line != vat_included_split(-2008, 2000)[1]  # the data is awkward indeed
    # and the printed PDF shows exactly those figures
    pdf = render_ticket_pdf(doc, paper="a4")
    text = pdf_text(pdf)
    for rate, row in journaled.items():
        assert has(text, format_percent(int(rate)))
        for key in ("ht", "vat", "ttc"):
            assert has(text, format_money(row[key])), (rate, key)
    assert has(text, format_money(sum(r["vat"] for r in journaled.values())))


def test_R18_the_day_closure_adds_the_tickets_journaled_vat(db, cfg):
    first = _awkward_ticket(db, cfg)
    second = _awkward_ticket(db, cfg)
    closure = Journal.for_config(db, cfg).close_day(DAY)
    expected: dict[str, dict[str, int]] = {}
    for committed in (first, second):
        payload = json.loads(db.execute(
            "SELECT payload FROM journal WHERE ticket_uuid = ? AND kind = 'ticket'",
            [committed.uuid]).fetchone()[0])
        for rate, row in payload["totals"]["vat_by_rate"].items():
            entry = expected.setdefault(rate, {"ttc": 0, "ht": 0, "vat": 0})
            for key in entry:
                entry[key] += row[key]
    assert closure.totals["vat_by_rate"] == expected
    assert expected["2000"]["vat"] == 2 * -326


def test_vat_rows_split_each_rate_once_and_add_up():
    rows = vat_by_rate(line_amounts([
        {"amount": -1004, "vat_rate_bp": 2000, "restocking_fee": 51},
        {"amount": -1004, "vat_rate_bp": 2000},
        {"amount": -777, "vat_rate_bp": 550, "restocking_fee": None},
    ]))
    assert [r.rate_bp for r in rows] == [2000, 550]  # highest rate first
    assert all(r.ht + r.vat == r.ttc for r in rows)
    assert rows[0] == VatRow(2000, *vat_included_split(-1957, 2000), -1957)
    total: dict[str, dict[str, int]] = {}
    add_records(total, rows)
    add_records(total, rows)
    assert total["550"] == {k: 2 * v for k, v in as_record(rows)["550"].items()}
