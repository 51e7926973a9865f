"""The printer, cash drawer and e-mail keys of the till's configuration (issue 15)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pos_returns.config import (
    GIFT_CARD_MIN_VALIDITY_MONTHS,
    TillConfig,
    load_config,
    parse_config,
)
from pos_returns.errors import ConfigError


def names(key: str, message: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", message) is not None


def test_defaults_print_nothing_on_their_own():
    cfg = TillConfig()
    assert cfg.printer_kind == "pdf" and cfg.ticket_default == "none"
    assert cfg.paper_width_mm == 80 and not cfg.cash_drawer
    assert cfg.smtp_port == 587 and cfg.smtp_starttls and cfg.smtp_password_file is None
    assert cfg.nf525_certificate == ""
    assert cfg.gift_card_validity_months >= GIFT_CARD_MIN_VALIDITY_MONTHS


def test_a_network_printer_with_drawer_and_mail(tmp_path: Path):
    path = tmp_path / "till.toml"
    path.write_text(
        'printer_kind = "escpos-network"\nprinter_host = "192.168.1.40"\n'
        "printer_port = 9100\npaper_width_mm = 58\ncash_drawer = true\n"
        'smtp_host = "smtp.alamara.fr"\nsmtp_port = 2525\nsmtp_starttls = false\n'
        'smtp_user = "caisse01"\nsmtp_password_file = "secrets/smtp"\n'
        'mail_sender = "tickets@alamara.fr"\nticket_default = "email"\n'
        'nf525_certificate = "LNE-12345"\ngift_card_validity_months = 36\n',
        encoding="utf-8")
    cfg = load_config(path)
    assert (cfg.printer_kind, cfg.printer_host, cfg.paper_width_mm) == (
        "escpos-network", "192.168.1.40", 58)
    assert cfg.cash_drawer and not cfg.smtp_starttls and cfg.smtp_port == 2525
    assert cfg.smtp_password_file == tmp_path / "secrets" / "smtp"
    assert cfg.ticket_default == "email" and cfg.nf525_certificate == "LNE-12345"
    assert cfg.gift_card_validity_months == 36


@pytest.mark.parametrize(("data", "key"), [
    ({"printer_kind": "laser"}, "printer_kind"),
    ({"printer_kind": "escpos-network"}, "printer_host"),
    ({"printer_kind": "escpos-device"}, "printer_device"),
    ({"printer_port": 70000}, "printer_port"),
    ({"paper_width_mm": 60}, "paper_width_mm"),
    ({"cash_drawer": "yes"}, "cash_drawer"),
    ({"cash_drawer": True}, "cash_drawer"),  # no ESC/POS printer to pulse it
    ({"smtp_starttls": 1}, "smtp_starttls"),
    ({"smtp_user": "caisse01"}, "smtp_password_file"),
    ({"mail_sender": "tickets"}, "mail_sender"),
    ({"ticket_default": "sms"}, "ticket_default"),
    ({"ticket_default": "email"}, "ticket_default"),  # no SMTP server
    ({"gift_card_validity_months": GIFT_CARD_MIN_VALIDITY_MONTHS - 1},
     "gift_card_validity_months"),
    ({"gift_card_validity_months": 6}, "gift_card_validity_months"),
])
def test_a_bad_device_value_names_its_key(data, key):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert names(key, str(err.value)), str(err.value)


def test_gift_card_validity_floor_is_accepted():
    cfg = parse_config({"gift_card_validity_months": GIFT_CARD_MIN_VALIDITY_MONTHS})
    assert cfg.gift_card_validity_months == GIFT_CARD_MIN_VALIDITY_MONTHS
