"""The input gaps of issue 17, closed as a class: one cleaning in the engine
(:mod:`pos_returns.engine.text`) used by every entry point."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pos_returns.config import TillConfig
from pos_returns.engine.text import clean_date, clean_id, clean_text, shown
from pos_returns.errors import InvalidInput, NotFound
from pos_returns.usecases import idcheck, till
from tests.helpers import L, T, add_sale

NUL, ESC, RLO = "\x00", "\x1b", "\u202e"


def test_clean_text_drops_hidden_characters_from_a_scan_and_refuses_them_in_a_name():
    assert clean_text(f"  W12{NUL}34{ESC}[0m  ") == "W1234[0m"
    assert clean_text("Jean\u200b  Dupont") == "Jean Dupont"
    assert clean_text("e\u0301te\u0301") == "été"  # NFC
    with pytest.raises(InvalidInput) as err:
        clean_text(f"Jean {RLO}tnoP", field="Le nom", strict=True)
    assert "invisibles" in str(err.value) and RLO not in str(err.value)
    with pytest.raises(InvalidInput) as err:
        clean_text("x" * 500, field="La recherche", max_length=120)
    assert "500" in str(err.value) and "xxxxxxxxxxxxxxxxxxxxxxxxxx" not in str(err.value)
    with pytest.raises(InvalidInput):
        clean_text(12, field="Le code")


def test_shown_cuts_and_cleans_what_a_message_repeats():
    assert shown("6" * 10_000) == "6" * 23 + "…"
    assert shown(f"AB{NUL}C{ESC}D") == "ABCD"
    assert shown(None) == ""


@pytest.mark.parametrize("value", [10**30, -1, 0, "12a", True, None, 1.5, "9" * 40])
def test_clean_id_refuses_what_is_not_a_row_id(value):
    with pytest.raises(InvalidInput):
        clean_id(value, field="Vente")


def test_clean_id_and_clean_date_accept_text():
    assert clean_id(" 42 ") == 42 and clean_id(2**63 - 1) == 2**63 - 1
    assert clean_date("2026-03-15") == date(2026, 3, 15) and clean_date(None) is None
    with pytest.raises(InvalidInput):
        clean_date("15/03/2026")
    with pytest.raises(InvalidInput):
        clean_date(20260315)


# --------------------------------------------------------------------------- entry points


def test_R08_search_by_card_with_text_dates(db):
    add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")],
             sold_on=date(2026, 3, 10))
    found = till.find_sales_by_card(db, "4242", "2026-03-01", "2026-03-31")
    assert len(found) == 1
    with pytest.raises(InvalidInput) as err:
        till.find_sales_by_card(db, "4242", "mars", None)
    assert "mars" in str(err.value) and "TypeError" not in str(err.value)


def test_a_sale_id_of_ten_to_the_thirty_is_invalid_input_not_overflow(db):
    with pytest.raises(InvalidInput):
        till.get_sale(db, 10**30)
    with pytest.raises(NotFound):
        till.get_sale(db, 2**63 - 1)


def test_R09_a_10000_character_gift_card_scan_is_not_echoed_whole(db):
    with pytest.raises(InvalidInput) as err:
        till.gift_card_message(db, "6" * 10_000)
    assert len(str(err.value)) < 200
    with pytest.raises(InvalidInput) as err:
        till.find_sale_by_code(db, "6" * 10_000)
    assert len(str(err.value)) < 200 and "6" * 30 not in str(err.value)


def test_control_characters_are_never_echoed_to_the_screen(db):
    for text in (f"ABC{NUL}DEF", f"{ESC}[2J{ESC}[31mX", f"R{NUL}{ESC}9"):
        with pytest.raises((InvalidInput, NotFound)) as err:
            till.find_sale_by_code(db, text)
        message = str(err.value)
        assert NUL not in message and ESC not in message
    with pytest.raises((InvalidInput, NotFound)) as err:
        till.find_sales_by_article(db, f"SKU{NUL}{ESC}[31m", None, None)
    assert NUL not in str(err.value) and ESC not in str(err.value)
    # a scanner's trailing control character does not stop a real code
    assert till.product_by_code(db, f"SKU-CHEM-01{ESC}").sku == "SKU-CHEM-01"


def test_R07_a_right_to_left_override_in_an_ID_name_is_refused(db, tmp_path: Path):
    cfg = TillConfig(cache_path=tmp_path / "c.sqlite", key_path=tmp_path / "k" / "j.pem")
    for name in (f"Jean {RLO}tnoP", f"Marie{NUL}Curie", "Zoé\u200dZ"):
        with pytest.raises(InvalidInput) as err:
            idcheck.capture(db, cfg, doc_type="cni", number="X4RTBPFW4", name=name,
                            staff_id=1, key=b"k" * 32)
        assert "invisibles" in str(err.value)
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0
    check = idcheck.capture(db, cfg, doc_type="cni", number="X4RTBPFW4",
                            name="  Zoé   N’Diaye ", staff_id=1, key=b"k" * 32)
    assert check.name == "Zoé N’Diaye"
