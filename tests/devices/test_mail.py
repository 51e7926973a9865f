"""E-mail tickets: a real SMTP server (aiosmtpd, on 127.0.0.1) started by the test,
with STARTTLS (a certificate made for the test) and a login, receives the mail and
its PDF; a server that is down or refuses queues the mail, and the outbox retries."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest

from pos_returns.devices.mail import (
    RETRY_MINUTES,
    MailSettings,
    MemoryOutbox,
    QueueState,
    SendState,
    SmtpSender,
    check_address,
    mask_address,
    retry_due,
    send_or_queue,
    ticket_mail,
)
from pos_returns.errors import InvalidInput
from tests.devices.smtp_server import PASSWORD, USER, free_port, start_server, tls_contexts

PDF = b"%PDF-1.4\n% a ticket\n%%EOF\n"
NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return tls_contexts(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(tls):
    controller, inbox = start_server(tls[0])
    try:
        yield controller, inbox
    finally:
        controller.stop()


def settings_for(controller, tmp_path: Path, **kw) -> MailSettings:
    pw = tmp_path / "smtp-password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    base = {"host": "127.0.0.1", "port": controller.port, "starttls": True,
            "user": USER, "password_file": pw, "sender": "tickets@alamara.fr",
            "timeout": 5}
    base.update(kw)
    return MailSettings(**base)


def a_mail(to: str = "jeanne.dupont@example.fr", *, keep: bool = False):
    return ticket_mail(to=to, ticket_code="T00101000042", ticket_uuid="u-42",
                       title="Ticket de retour", when="30/11/2026 17:00",
                       store_name="Paris Rivoli", pdf=PDF, keep_address=keep)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_ticket_mail_reaches_a_real_smtp_server_with_its_pdf(smtp_server, tls, tmp_path):
    controller, inbox = smtp_server
    sender = SmtpSender(settings_for(controller, tmp_path), ssl_context=tls[1])
    result = sender.send(a_mail())
    assert result.sent, result.message
    (mail_from, rcpt, raw), = inbox.messages
    assert mail_from == "tickets@alamara.fr" and rcpt == ["jeanne.dupont@example.fr"]
    msg = parse(raw)
    assert msg["Subject"] == "Votre ticket Alamara T00101000042"
    assert msg["To"] == "jeanne.dupont@example.fr" and msg["From"] == "tickets@alamara.fr"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Bonjour" in text and "T00101000042" in text and "ticket de retour" in text
    assert "n'est pas conservée" in text  # RGPD: the address was only used to send
    (pdf,) = list(msg.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "T00101000042.pdf" and pdf.get_content() == PDF


def test_mail_says_the_address_is_kept_only_when_the_customer_agreed(smtp_server, tls,
                                                                      tmp_path):
    controller, inbox = smtp_server
    SmtpSender(settings_for(controller, tmp_path), ssl_context=tls[1]).send(a_mail(keep=True))
    text = parse(inbox.messages[0][2]).get_body(preferencelist=("plain",)).get_content()
    assert "conservée sur votre fiche client" in text


def test_wrong_password_is_not_sent_and_says_why(smtp_server, tls, tmp_path):
    controller, inbox = smtp_server
    settings = settings_for(controller, tmp_path)
    settings.password_file.write_text("wrong")
    result = SmtpSender(settings, ssl_context=tls[1]).send(a_mail())
    assert result.state is SendState.RETRY and "refusé le compte" in result.message
    assert inbox.messages == []


def test_untrusted_certificate_is_not_sent(smtp_server, tmp_path):
    """STARTTLS checks the server's certificate: the system's trust does not know it."""
    controller, inbox = smtp_server
    result = SmtpSender(settings_for(controller, tmp_path)).send(a_mail())
    assert result.state is SendState.RETRY and inbox.messages == []


def test_unknown_mailbox_is_refused_not_retried(smtp_server, tls, tmp_path):
    controller, _inbox = smtp_server
    outbox = MemoryOutbox()
    sender = SmtpSender(settings_for(controller, tmp_path), ssl_context=tls[1])
    result = send_or_queue(sender, outbox, a_mail("nobody@example.fr"), now=NOW)
    assert result.state is SendState.REFUSED and "vérifiez-la" in result.message
    assert outbox.waiting() == []


def test_server_down_queues_the_mail_then_the_retry_sends_it(smtp_server, tls, tmp_path):
    controller, inbox = smtp_server
    down = SmtpSender(settings_for(controller, tmp_path, port=free_port()), ssl_context=tls[1])
    outbox = MemoryOutbox()
    result = send_or_queue(down, outbox, a_mail(), now=NOW)
    assert result.state is SendState.RETRY and "renvoyé automatiquement" in result.message
    (queued,) = outbox.waiting()
    assert queued.state is QueueState.PENDING and queued.masked_to == "j…@example.fr"
    # not yet due: nothing happens
    up = SmtpSender(settings_for(controller, tmp_path), ssl_context=tls[1])
    assert retry_due(up, outbox, now=NOW).sent == 0
    # due: the retry sends it, and the outbox keeps neither the address nor the PDF
    report = retry_due(up, outbox, now=NOW + dt.timedelta(minutes=RETRY_MINUTES[0]))
    assert report.sent == 1 and len(inbox.messages) == 1
    assert outbox.waiting() == []
    assert outbox.due(NOW + dt.timedelta(days=30), limit=10) == []


def test_retries_give_up_and_show_in_the_review(tls, tmp_path):
    class Dead:
        port = free_port()

    sender = SmtpSender(settings_for(Dead, tmp_path, timeout=1), ssl_context=tls[1])
    outbox = MemoryOutbox()
    send_or_queue(sender, outbox, a_mail(), now=NOW)
    when = NOW
    for _round in range(len(RETRY_MINUTES) + 2):  # bounded
        when += dt.timedelta(days=1)
        retry_due(sender, outbox, now=when)
    (item,) = outbox.waiting()
    assert item.state is QueueState.FAILED and item.last_error
    assert item.mail.to == "j…@example.fr" and item.mail.pdf == b""  # nothing personal left
    assert item.mail.ticket_code == "T00101000042"  # the review names the ticket


def test_check_address():
    assert check_address("  jeanne@example.fr ") == "jeanne@example.fr"
    for bad in ("", "jeanne", "jeanne@", "@example.fr", "a b@example.fr", "x@y"):
        with pytest.raises(InvalidInput, match="n'est pas une adresse e-mail"):
            check_address(bad)
    assert mask_address("jeanne.dupont@example.fr") == "j…@example.fr"


def test_no_server_configured_is_refused_with_a_message():
    result = SmtpSender(MailSettings(host="")).send(a_mail())
    assert result.state is SendState.REFUSED and "Aucun serveur" in result.message
