"""`pos-returns run` and `pos-returns screenshots`."""

from __future__ import annotations

from datetime import date

import pytest

from pos_returns import cli
from tests.helpers import L, T, add_sale

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def test_run_on_a_missing_cache_says_what_to_do_in_french(tmp_path, capsys):
    missing = tmp_path / "nowhere.sqlite"
    assert cli.main(["run", "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "n’existe pas" in err and "make run" in err and "pos-returns demo" in err
    assert not missing.exists()


def test_screenshots_of_a_cache_are_made_on_a_copy(qapp, db, tmp_cache, tmp_path, capsys):
    add_sale(db, [L("SKU-ROBE-01", 1, 15000), L("SKU-CHEM-01", 1, 7900)],
             [T("card", 22900, "4242", "fp")], sold_on=date(2025, 3, 16))
    add_sale(db, [L("SKU-CERE-01", 1, 89000), L("SKU-CHEM-01", 1, 7900)],
             [T("card", 96900, "4242", "fp")])
    before = db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0]
    out = tmp_path / "shots"
    try:
        assert cli.main(["screenshots", "--out", str(out), "--db", str(tmp_cache)]) == 0
    finally:
        qapp.setStyleSheet("")
    names = {p.name for p in out.glob("*.png")}
    assert {"till-01-login.png", "till-03-lookup.png", "till-07-sale.png",
            "till-13-sale-blocked-tag-removed.png", "till-14-manager-dialog.png",
            "till-19-locked.png"} <= names
    assert all(p.stat().st_size > 5000 for p in out.glob("*.png"))
    # The till's own cache was not touched (the flow committed on a copy).
    assert db.execute("SELECT COUNT(*) FROM return_tickets").fetchone()[0] == before
    assert str(out / "till-01-login.png") in capsys.readouterr().out
