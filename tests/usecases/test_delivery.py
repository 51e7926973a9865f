"""Issue 15: handing the ticket over (usecases.delivery) with real devices: a fake ESC/POS
printer that is a TCP server, a real SMTP server (aiosmtpd), the cash drawer journaled,
the mail outbox in the cache retried, and what the manager's review shows."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

import pytest

from pos_returns.config import TillConfig
from pos_returns.devices.escpos import EscposPrinter
from pos_returns.devices.mail import RETRY_MINUTES, MailSettings, SmtpSender
from pos_returns.devices.printer import NoPrinter
from pos_returns.documents import DocumentSettings, ticket_documents
from pos_returns.journal.chain import Journal
from pos_returns.usecases import delivery
from pos_returns.usecases.delivery import TicketChoice
from tests.devices.fake_escpos import FakeEscposPrinter, lines
from tests.devices.smtp_server import PASSWORD, USER, free_port, start_server, tls_contexts
from tests.helpers import documents as sc

FAST = {"status_timeout": 0.5, "finish_timeout": 2.0, "send_timeout": 2.0}
NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def cfg(tmp_path):
    return TillConfig(cache_path=tmp_path / "cache.sqlite", key_path=tmp_path / "k" / "j.pem",
                      documents_dir=tmp_path / "docs", printer_kind="escpos-network",
                      printer_host="127.0.0.1", cash_drawer=True,
                      privacy_contact="dpo@alamara.fr")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return tls_contexts(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp(tls):
    controller, inbox = start_server(tls[0])
    try:
        yield controller, inbox
    finally:
        controller.stop()


def sender_for(port: int, tmp_path, client_ctx) -> SmtpSender:
    pw = tmp_path / "smtp-password"
    pw.write_text(PASSWORD)
    return SmtpSender(MailSettings(host="127.0.0.1", port=port, user=USER, password_file=pw,
                                   sender="tickets@alamara.fr", timeout=5),
                      ssl_context=client_ctx)


def job_for(db, cfg, made, **kw):
    return ticket_documents(db, made.ticket_id, settings=DocumentSettings.from_config(cfg), **kw)


def drawer_records(db) -> list[dict]:
    return [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM journal WHERE kind = 'drawer_open' ORDER BY seq")]


def test_cash_refund_prints_both_copies_opens_the_drawer_and_journals_it(db, cfg):
    made = sc.cash_return(db)
    Journal.for_config(db, cfg)  # the till's chain (key made on first use)
    with FakeEscposPrinter() as fake:
        printer = EscposPrinter.network("127.0.0.1", fake.port, **FAST)
        result = delivery.deliver(cfg, job_for(db, cfg, made), TicketChoice(paper=True),
                                  open_drawer=True, printer=printer)
        events = fake.events()
    assert result.printed and result.print_message == ""
    assert result.drawer is not None and result.drawer.printed
    text = " ".join(lines(events))
    assert "EXEMPLAIRE CLIENT" in text and "EXEMPLAIRE MAGASIN" in text
    assert [e.kind for e in events].count("cut") == 2
    assert [e.value for e in events if e.kind == "drawer"] == [
        {"pin": 0, "on_ms": 100, "off_ms": 100}]
    assert result.ticket_pdf.exists()  # the document is always kept
    delivery.record_delivery(db, cfg, result)
    (record,) = drawer_records(db)
    assert record["opened"] is True and record["amount"] == 3500
    assert delivery.drawer_message(result) == "Tiroir-caisse ouvert."


def test_paper_out_never_says_printed_and_keeps_the_document(db, cfg):
    made = sc.receipt_return_to_card(db)
    with FakeEscposPrinter("paper_out") as fake:
        printer = EscposPrinter.network("127.0.0.1", fake.port, **FAST)
        result = delivery.deliver(cfg, job_for(db, cfg, made), TicketChoice(),
                                  printer=printer)
    assert result.paper_asked and not result.printed  # a card refund must print
    assert "plus de papier" in result.print_message and "F9" in result.print_message
    assert result.ticket_pdf.exists()


def test_no_printer_configured_is_said_not_printed(db, cfg):
    made = sc.cash_return(db)
    result = delivery.deliver(cfg, job_for(db, cfg, made), TicketChoice(paper=True),
                              open_drawer=True, printer=NoPrinter())
    assert not result.printed and "Aucune imprimante" in result.print_message
    assert result.drawer is not None and not result.drawer.printed
    assert "clé" in delivery.drawer_message(result)


def test_pdf_kind_without_a_queue_is_not_printed(db, tmp_path):
    cfg = TillConfig(documents_dir=tmp_path / "docs")  # printer_kind "pdf", no queue
    made = sc.cash_return(db)
    result = delivery.deliver(cfg, job_for(db, cfg, made), TicketChoice(paper=True))
    assert not result.printed and str(result.ticket_pdf) in result.print_message


def test_no_paper_asked_prints_nothing(db, cfg):
    made = sc.cash_return(db)
    with FakeEscposPrinter() as fake:
        printer = EscposPrinter.network("127.0.0.1", fake.port, **FAST)
        result = delivery.deliver(cfg, job_for(db, cfg, made), TicketChoice(),
                                  printer=printer)
        assert fake.events() == []
    assert not result.paper_asked and not result.printed and result.print_message == ""


def test_R16_cash_exchange_opens_the_drawer_a_duplicate_never(db, cfg):
    sale = sc.add_sale(db, [sc.L("SKU-ROBE-01", 1, 18900)])
    (line_id,) = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                                           [sale])]
    made = sc.add_ticket(db, sale_id=sale, kind="exchange",
                         lines=[sc.RL("SKU-ROBE-01", 1, 18900, sale_line_id=line_id),
                                sc.RL("SKU-ESCA-01", 1, 22000, direction="sale")],
                         refunds=[sc.RF("cash", -3100)])
    doc = job_for(db, cfg, made).ticket
    assert delivery.opens_drawer(doc) and delivery.cash_amount(doc) == -3100
    dup = job_for(db, cfg, made, duplicate=True).ticket
    assert not delivery.opens_drawer(dup)
    assert not delivery.opens_drawer(job_for(db, cfg, sc.receipt_return_to_card(db)).ticket)


def test_email_ticket_reaches_the_server_and_keeps_no_address(db, cfg, smtp, tls, tmp_path):
    controller, inbox = smtp
    made = sc.receipt_return_to_card(db)
    result = delivery.deliver(cfg, job_for(db, cfg, made),
                              TicketChoice(email="jeanne.dupont@example.fr"),
                              printer=NoPrinter(),
                              sender=sender_for(controller.port, tmp_path, tls[1]))
    assert result.mail is not None and result.mail.sent and result.queued_mail is None
    delivery.record_delivery(db, cfg, result)
    assert db.execute("SELECT COUNT(*) FROM mail_outbox").fetchone()[0] == 0
    (_from, rcpt, raw), = inbox.messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert rcpt == ["jeanne.dupont@example.fr"] and made_code(db, made) in msg["Subject"]
    (pdf,) = msg.iter_attachments()
    assert pdf.get_content().startswith(b"%PDF")
    assert "n'est pas conservée" in msg.get_body(preferencelist=("plain",)).get_content()


def made_code(db, made) -> str:
    return f"T00101{made.number:06d}"


def test_failed_send_is_queued_retried_and_shown_to_the_manager(db, cfg, smtp, tls, tmp_path):
    controller, inbox = smtp
    made = sc.receipt_return_to_card(db)
    down = sender_for(free_port(), tmp_path, tls[1])
    result = delivery.deliver(cfg, job_for(db, cfg, made),
                              TicketChoice(email="jeanne.dupont@example.fr"),
                              printer=NoPrinter(), sender=down)
    assert result.queued_mail is not None and "renvoyé automatiquement" in result.mail.message
    delivery.record_delivery(db, cfg, result, now=NOW)
    (problem,) = delivery.mail_problems(db)
    assert problem.state == "pending" and problem.masked_to == "j…@example.fr"
    assert "en attente" in delivery.mail_problem_text(problem)
    # a retry round: database -> I/O -> database
    assert delivery.due_mails(db, now=NOW) == []
    due = delivery.due_mails(db, now=NOW + dt.timedelta(minutes=RETRY_MINUTES[0]))
    up = sender_for(controller.port, tmp_path, tls[1])
    sent = delivery.record_mail_results(db, delivery.send_mails(cfg, due, sender=up), now=NOW)
    assert sent == 1 and len(inbox.messages) == 1 and delivery.mail_problems(db) == []
    to, pdf = db.execute("SELECT to_address, pdf FROM mail_outbox").fetchone()
    assert to == "j…@example.fr" and bytes(pdf) == b""  # nothing personal kept


def test_refused_address_is_given_up_and_listed(db, cfg, smtp, tls, tmp_path):
    controller, _inbox = smtp
    made = sc.receipt_return_to_card(db)
    sender = sender_for(controller.port, tmp_path, tls[1])
    result = delivery.deliver(cfg, job_for(db, cfg, made),
                              TicketChoice(email="nobody@example.fr"), printer=NoPrinter(),
                              sender=sender)
    assert result.mail is not None and not result.mail.sent and result.queued_mail is None
    assert "vérifiez-la" in result.mail.message


def test_retries_end_failed_in_the_review(db, cfg, tls, tmp_path):
    made = sc.receipt_return_to_card(db)
    down = sender_for(free_port(), tmp_path, tls[1])
    result = delivery.deliver(cfg, job_for(db, cfg, made), TicketChoice(email="a@b.fr"),
                              printer=NoPrinter(), sender=down)
    delivery.record_delivery(db, cfg, result, now=NOW)
    when = NOW
    for _round in range(len(RETRY_MINUTES) + 1):  # bounded
        when += dt.timedelta(days=1)
        due = delivery.due_mails(db, now=when)
        delivery.record_mail_results(db, delivery.send_mails(cfg, due, sender=down), now=when)
    (problem,) = delivery.mail_problems(db)
    assert problem.state == "failed" and "abandonné" in delivery.mail_problem_text(problem)
    assert db.execute("SELECT to_address FROM mail_outbox").fetchone()[0] == "a…@b.fr"


def test_the_managers_review_lists_ticket_mails_not_sent(db, cfg, tls, tmp_path):
    from pos_returns.usecases.review import day_review
    from pos_returns.usecases.till import login

    made = sc.receipt_return_to_card(db)
    down = sender_for(free_port(), tmp_path, tls[1])
    result = delivery.deliver(cfg, job_for(db, cfg, made),
                              TicketChoice(email="jeanne.dupont@example.fr"),
                              printer=NoPrinter(), sender=down)
    delivery.record_delivery(db, cfg, result, now=NOW)
    manager = login(db, cfg, "M001", "9999")
    review = day_review(db, manager, dt.date(2026, 11, 26))
    (text,) = review.mail_problems
    assert made_code(db, made) in text and "j…@example.fr" in text
    assert "jeanne.dupont" not in text  # the review shows a masked address


def test_gift_card_code_prints_on_its_own_slip_never_on_the_ticket(db, cfg):
    made = sc.no_receipt_gift_card(db)
    (number,) = made.gift_cards
    job = job_for(db, cfg, made, security_codes={number: "4821"})
    with FakeEscposPrinter() as fake:
        printer = EscposPrinter.network("127.0.0.1", fake.port, **FAST)
        result = delivery.deliver(cfg, job, TicketChoice(paper=True), printer=printer)
        events = fake.events()
    assert result.printed
    cuts = [i for i, e in enumerate(events) if e.kind == "cut"]
    assert len(cuts) == 3  # customer copy, store copy, the code's slip
    tickets_text = " ".join(lines(events[:cuts[1]]))
    slip_text = " ".join(lines(events[cuts[1]:cuts[2]]))
    assert "4821" not in tickets_text and "sur le feuillet séparé" in tickets_text
    assert "Code de sécurité : 4821" in slip_text and number[-4:] in slip_text
    assert number not in slip_text.replace(" ", "")  # the slip does not name the card
