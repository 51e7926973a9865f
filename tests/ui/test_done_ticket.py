"""The done screen's ticket (issue 15): paper / e-mail / none, « Ticket imprimé » only
when the printer took it, DUPLICATA after a printed original, the cash drawer, and the
e-mail to a real SMTP server. Real devices: a fake ESC/POS printer that is a TCP server,
aiosmtpd. Ops inline (the I/O pool inline too), like the other UI tests."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json

import pytest
from PySide6.QtCore import Qt

from pos_returns.engine.plan import LineRequest, ReturnRequest
from pos_returns.usecases import planning, tickets
from pos_returns.usecases.till import login
from tests.devices.fake_escpos import FakeEscposPrinter, lines
from tests.devices.smtp_server import PASSWORD, USER, start_server, tls_contexts
from tests.helpers import L, T, add_sale
from ui.ops import InlineExecutor, Ops
from ui.screens.done import DoneScreen
from ui.services import Services


def commit(db, cfg, *, tender=("card", "4242"), presented="4242"):
    kind, last4 = tender
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)],
                    [T(kind, 7900, last4, "fp-4242") if kind == "card" else T(kind, 7900)])
    (line_id,) = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                                           [sale])]
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale,
                            lines=(LineRequest(quantity=1, sale_line_id=line_id),),
                            presented_card_last4=presented if kind == "card" else "")
    return tickets.commit_plan(db, cfg, planning.plan_return(db, cfg, request))


def screen_for(qtbot, db, cfg) -> DoneScreen:
    services = Services(cfg, Ops(InlineExecutor(db)))
    services.set_staff(login(db, cfg, "V001", "1111"))
    screen = DoneScreen(services)
    qtbot.add_widget(screen)
    screen.show()
    return screen


@pytest.fixture
def printer():
    with FakeEscposPrinter() as fake:
        yield fake


def with_printer(cfg, fake, **kw):
    return dataclasses.replace(cfg, printer_kind="escpos-network", printer_host="127.0.0.1",
                               printer_port=fake.port, **kw)


def test_card_refund_printed_then_f9_is_a_duplicata(qtbot, db, till_cfg, printer):
    cfg = with_printer(till_cfg, printer)
    screen = screen_for(qtbot, db, cfg)
    screen.show_ticket(commit(db, cfg), print_now=False)  # a card refund always prints
    qtbot.wait_until(lambda: screen.deliveries == 1, timeout=20_000)
    assert screen.last_result.printed and screen.print_count == 1
    assert screen.banner.text() == "Ticket imprimé." and screen.banner.level == "success"
    screen.print_button.click()
    qtbot.wait_until(lambda: screen.deliveries == 2, timeout=20_000)
    assert screen.print_count == 2
    text = " ".join(lines(printer.events()))
    assert text.count("DUPLICATA") >= 1 and "Réimpression n° 1" in text
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'duplicate'").fetchone()[0] == 1


def test_paper_out_never_says_ticket_imprime_and_f9_prints_the_original(qtbot, db, till_cfg):
    with FakeEscposPrinter("paper_out") as fake:
        cfg = with_printer(till_cfg, fake)
        screen = screen_for(qtbot, db, cfg)
        screen.show_ticket(commit(db, cfg), print_now=True)
        qtbot.wait_until(lambda: screen.deliveries == 1, timeout=20_000)
        assert not screen.last_result.printed and screen.print_count == 0
        assert "Ticket imprimé" not in screen.banner.text()
        assert "plus de papier" in screen.banner.text() and screen.banner.level == "error"
        assert screen.last_result.ticket_pdf.exists()  # kept for the reprint
        fake.mode = "ready"  # a new roll
        screen.print_button.click()
        qtbot.wait_until(lambda: screen.deliveries == 2, timeout=20_000)
    assert screen.last_result.printed and screen.banner.text() == "Ticket imprimé."
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'duplicate'").fetchone()[0] == 0


def test_cash_refund_opens_the_drawer_and_journals_it(qtbot, db, till_cfg, printer):
    cfg = with_printer(till_cfg, printer, cash_drawer=True)
    screen = screen_for(qtbot, db, cfg)
    screen.show_ticket(commit(db, cfg, tender=("cash", "")), print_now=False)
    qtbot.wait_until(lambda: screen.deliveries == 1, timeout=20_000)
    assert "Tiroir-caisse ouvert" in screen.banner.text()
    assert [e.kind for e in printer.events()].count("drawer") == 1
    (payload,) = [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM journal WHERE kind = 'drawer_open'")]
    assert payload["opened"] is True and payload["amount"] == 7900
    screen.print_button.click()  # printing the ticket later does not open it again
    qtbot.wait_until(lambda: screen.deliveries == 2, timeout=20_000)
    assert [e.kind for e in printer.events()].count("drawer") == 1


def test_default_choice_comes_from_the_store_setting(qtbot, db, till_cfg):
    cfg = dataclasses.replace(till_cfg, ticket_default="none")
    screen = screen_for(qtbot, db, cfg)
    screen.show_ticket(commit(db, cfg, tender=("cash", "")), print_now=False)
    qtbot.wait_until(lambda: screen.deliveries == 1)
    assert screen.none_radio.isChecked() and not screen.email_field.isVisible()
    assert "F9" in screen.banner.text()  # saved, paper on request
    assert screen.last_result.ticket_pdf.exists()


def test_email_the_server_cannot_take_now_waits_in_the_outbox(qtbot, db, till_cfg,
                                                                tmp_path):
    server_ctx, _client = tls_contexts(tmp_path)
    controller, inbox = start_server(server_ctx)
    try:
        pw = tmp_path / "pw"
        pw.write_text(PASSWORD)
        cfg = dataclasses.replace(
            till_cfg, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_starttls=False,
            smtp_user=USER, smtp_password_file=pw, mail_sender="tickets@alamara.fr",
            ticket_default="email")
        screen = screen_for(qtbot, db, cfg)
        screen.show_ticket(commit(db, cfg, tender=("cash", "")), print_now=False)
        qtbot.wait_until(lambda: screen.deliveries == 1)
        assert screen.email_radio.isChecked() and screen.email_field.isVisible()
        qtbot.keyClicks(screen.email_field, "jeanne.dupont@example.fr")
        qtbot.keyClick(screen.email_field, Qt.Key.Key_Return)
        qtbot.wait_until(lambda: screen.banner.level in ("success", "error"), timeout=20_000)
    finally:
        controller.stop()
    # without STARTTLS this server refuses the login: the mail waits in the outbox
    assert screen.banner.level == "error" and "renvoyé automatiquement" in screen.banner.text()
    (to,) = [r[0] for r in db.execute("SELECT to_address FROM mail_outbox")]
    assert to == "jeanne.dupont@example.fr"  # only while it waits (docs/devices.md)
    assert inbox.messages == []


def test_email_with_starttls_reaches_the_server(qtbot, db, till_cfg, tmp_path, monkeypatch):
    server_ctx, client_ctx = tls_contexts(tmp_path)
    controller, inbox = start_server(server_ctx)
    monkeypatch.setattr("ssl.create_default_context", lambda *a, **k: client_ctx)
    try:
        pw = tmp_path / "pw"
        pw.write_text(PASSWORD)
        cfg = dataclasses.replace(
            till_cfg, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_user=USER,
            smtp_password_file=pw, mail_sender="tickets@alamara.fr")
        screen = screen_for(qtbot, db, cfg)
        screen.show_ticket(commit(db, cfg, tender=("cash", "")), print_now=False)
        qtbot.wait_until(lambda: screen.deliveries == 1)
        screen.email_radio.setChecked(True)
        qtbot.keyClicks(screen.email_field, "jeanne.dupont@example.fr")
        qtbot.keyClick(screen.email_field, Qt.Key.Key_Return)
        qtbot.wait_until(lambda: screen.banner.level in ("success", "error"), timeout=20_000)
    finally:
        controller.stop()
    assert screen.banner.text() == "Ticket envoyé par e-mail.", screen.banner.text()
    assert screen.email_field.text() == ""  # not kept, not even on screen
    (_from, rcpt, raw), = inbox.messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert rcpt == ["jeanne.dupont@example.fr"] and msg["Subject"].startswith("Votre ticket")
    assert db.execute("SELECT COUNT(*) FROM mail_outbox").fetchone()[0] == 0
