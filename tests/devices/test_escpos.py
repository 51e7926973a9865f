"""ESC/POS tickets and the cash drawer: the job laid out on python-escpos's Dummy
printer, then sent to a fake printer that is a real TCP server (or a pseudo-terminal
device file) recording the byte stream and answering the status queries; the stream
is decoded (text, Code 128 by GS k, cut GS V, drawer ESC p) and asserted on."""

from __future__ import annotations

import re
import socket
import time

import pytest
from escpos.printer import Dummy

from pos_returns.devices.escpos import (
    ROLL_58,
    ROLL_80,
    EscposPrinter,
    RollLayout,
    code128_payload,
    decode_status,
    printer_text,
    render_job,
)
from pos_returns.devices.printer import NoPrinter, PrinterState, PrintResult
from pos_returns.devices.ticket_text import ticket_ops
from pos_returns.documents import ticket_document_from_db
from pos_returns.i18n import format_money
from tests.devices.fake_escpos import (
    COVER_OPEN,
    PAPER_OUT,
    READY,
    FakeDevicePrinter,
    FakeEscposPrinter,
    code128_text,
    decode,
    lines,
)
from tests.helpers import documents as sc

FAST = {"status_timeout": 0.5, "finish_timeout": 2.0, "send_timeout": 2.0}


def flat(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def joined(events) -> str:
    return flat(" ".join(lines(events)))


def printer_for(fake: FakeEscposPrinter, layout: RollLayout = ROLL_80) -> EscposPrinter:
    return EscposPrinter.network("127.0.0.1", fake.port, connect_timeout=1.0, layout=layout,
                                 **FAST)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the job, on python-escpos's Dummy printer ---------------------------------------------


@pytest.mark.parametrize("layout", [ROLL_80, ROLL_58], ids=["80mm", "58mm"])
def test_R03_card_refund_ticket_job_on_the_dummy_printer(db, layout):
    made = sc.receipt_return_to_card(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    job = render_job(ticket_ops(doc, columns=layout.columns), layout)
    events = decode(job)
    text = joined(events)
    assert events[0].kind == "init"
    for needle in (doc.store.name, "SIRET", "TICKET DE RETOUR",
                   f"{doc.number:06d}", "Remboursement carte **** 4242", "Total TTC",
                   flat(format_money(26800)), doc.code):
        assert flat(needle) in text, needle
    for event in events:
        if event.kind == "line":
            limit = layout.columns // 2 if event.style.get("big") else layout.columns
            assert len(str(event.value)) <= limit, event.value
    barcodes = [e for e in events if e.kind == "barcode"]
    assert [b.value for b in barcodes] == [doc.code]
    assert barcodes[0].style["module_dots"] == layout.module_dots
    images = [e for e in events if e.kind == "image"]
    assert images and images[0].value[0] <= layout.dots  # the logo fits the roll
    assert events[-1].kind == "cut"  # GS V after the content
    assert not any(e.kind == "drawer" for e in events)


def test_dummy_printer_writes_the_same_bytes_as_render_job(db):
    """The job is python-escpos's own output: a Dummy fed the same operations agrees."""
    made = sc.cash_return(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    job = render_job(ticket_ops(doc, columns=48), ROLL_80)
    dummy = Dummy()
    dummy._raw(job)
    assert dummy.output == job and job.endswith(b"\x1dV\x00")


def test_code128_payload_uses_code_set_c_for_the_digits_and_decodes_back():
    for code in ("T00101000005", "T00101000042", "6010000000000004385", "W204815162", "AB"):
        payload = code128_payload(code)
        assert code128_text(payload) == code
    assert code128_payload("T00101000005") == b"{BT0{C\x01\x01\x00\x00\x05"


def test_printer_text_keeps_french_and_the_euro_sign():
    encoded = printer_text("Réglé « 12,00\u202f€ » — ça")
    assert encoded.decode("cp858") == "Réglé « 12,00 € » - ça"


def test_gift_card_number_is_a_printer_barcode_too(db):
    made = sc.no_receipt_gift_card(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    events = decode(render_job(ticket_ops(doc, columns=32), ROLL_58))
    assert sorted(e.value for e in events if e.kind == "barcode") == sorted(
        [doc.code, *made.gift_cards])


def test_decode_status_bytes():
    assert decode_status(READY[1], READY[2], READY[4]).state is PrinterState.READY
    assert decode_status(PAPER_OUT[1], PAPER_OUT[2], PAPER_OUT[4]).state is PrinterState.PAPER_OUT
    assert decode_status(COVER_OPEN[1], COVER_OPEN[2], COVER_OPEN[4]).state is (
        PrinterState.COVER_OPEN)
    assert decode_status(0x12, 0x12, 0x1E).paper_near_end
    assert decode_status(0x12, 0x52, 0x12).state is PrinterState.ERROR
    assert decode_status(0xFF, 0x12, 0x12).state is PrinterState.ERROR  # not a status byte


# -- a real TCP printer ------------------------------------------------------------------


def test_ticket_printed_on_the_network_printer_is_decoded_from_the_stream(db):
    made = sc.exchange_with_difference(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    with FakeEscposPrinter() as fake:
        result = printer_for(fake).print_ticket(doc, copy="customer")
        events = fake.events()
    assert result == PrintResult.ok() and result.printed
    kinds = [e.kind for e in events]
    # status asked before the job (DLE EOT 1, 2, 4), GS r 1 after it, status again
    assert kinds[:3] == ["status"] * 3 and [e.value for e in events[:3]] == [1, 2, 4]
    assert kinds.index("transmit") > kinds.index("cut") > kinds.index("barcode")
    assert kinds[-3:] == ["status"] * 3
    text = joined(events)
    assert "TICKET D'ÉCHANGE" in text and "EXEMPLAIRE CLIENT" in text
    assert "Total réglé" in text and "Payé par carte **** 4242" in text
    assert not re.search(r"\bR\d\d\b", text)  # no rule codes on paper
    assert [e.value for e in events if e.kind == "barcode"] == [doc.code]
    assert [e.value for e in events if e.kind == "cut"] == [0]


def test_paper_out_before_printing_sends_nothing_and_says_so_in_french(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    with FakeEscposPrinter("paper_out") as fake:
        result = printer_for(fake).print_ticket(doc)
        events = fake.events()
    assert not result.printed and result.state is PrinterState.PAPER_OUT
    assert "plus de papier" in result.message
    assert {e.kind for e in events} == {"status"}  # the job never left the till


def test_cover_open(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    with FakeEscposPrinter("cover_open") as fake:
        result = printer_for(fake).print_ticket(doc)
    assert not result.printed and result.state is PrinterState.COVER_OPEN
    assert "capot" in result.message


def test_paper_runs_out_while_printing_is_not_printed(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    with FakeEscposPrinter("runs_out") as fake:
        result = printer_for(fake).print_ticket(doc)
        events = fake.events()
    assert any(e.kind == "barcode" for e in events)  # the job was sent…
    assert not result.printed and result.state is PrinterState.PAPER_OUT  # …not printed


def test_printer_that_never_answers_is_offline_within_the_timeout(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    with FakeEscposPrinter("silent") as fake:
        started = time.monotonic()
        result = printer_for(fake).print_ticket(doc)
        elapsed = time.monotonic() - started
        events = fake.events()
    assert not result.printed and result.state is PrinterState.OFFLINE
    assert "ne répond pas" in result.message and str(fake.port) in result.message
    assert elapsed < 5  # bounded: one status timeout, no retry loop
    assert not any(e.kind == "barcode" for e in events)


def test_printer_that_takes_the_job_but_never_confirms_is_not_printed(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    with FakeEscposPrinter("no_confirm") as fake:
        result = printer_for(fake).print_ticket(doc)
    assert not result.printed and result.state is PrinterState.OFFLINE


def test_no_printer_listening_is_offline():
    printer = EscposPrinter.network("127.0.0.1", free_port(), connect_timeout=0.5, **FAST)
    result = printer.open_drawer()
    assert not result.printed and result.state is PrinterState.OFFLINE
    assert printer.status().state is PrinterState.OFFLINE


def test_drawer_pulse_on_the_network_printer():
    with FakeEscposPrinter() as fake:
        result = printer_for(fake).open_drawer()
        events = fake.events()
    assert result.printed
    drawer = [e.value for e in events if e.kind == "drawer"]
    assert drawer == [{"pin": 0, "on_ms": 100, "off_ms": 100}]  # ESC p 0: pin 2
    assert not any(e.kind == "line" for e in events)


def test_status_of_a_ready_printer():
    with FakeEscposPrinter() as fake:
        status = printer_for(fake).status()
    assert status.ready and not status.paper_near_end


def test_no_printer_configured_never_prints(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    result = NoPrinter().print_ticket(doc)
    assert not result.printed and result.state is PrinterState.NONE
    assert "Aucune imprimante" in result.message


# -- a device file (USB printer class, serial) --------------------------------------------


def test_ticket_on_a_device_file_printer(db):
    doc = ticket_document_from_db(db, sc.receipt_return_to_card(db).ticket_id)
    with FakeDevicePrinter() as fake:
        printer = EscposPrinter.device(fake.path, layout=ROLL_58, **FAST)
        result = printer.print_ticket(doc)
        drawer = printer.open_drawer()
        events = fake.events()
    assert result.printed and drawer.printed
    assert [e.value for e in events if e.kind == "barcode"] == [doc.code]
    assert any(e.kind == "drawer" for e in events)


def test_device_file_printer_out_of_paper(db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    with FakeDevicePrinter("paper_out") as fake:
        result = EscposPrinter.device(fake.path, **FAST).print_ticket(doc)
    assert result.state is PrinterState.PAPER_OUT


def test_missing_device_file_is_offline(tmp_path, db):
    doc = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    result = EscposPrinter.device(tmp_path / "lp0", **FAST).print_ticket(doc)
    assert result.state is PrinterState.OFFLINE and "lp0" in result.message
