"""Printed documents: the return ticket / avoir (80 mm and A4), the gift card, and
the printing pipeline. Every PDF is read back with pypdf, and every barcode is
decoded with zxing-cpp, both from the embedded image and from the page rendered
to pixels (pdftoppm), the way a scanner would see the paper."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from pos_returns import i18n
from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.documents import (
    GiftCardDocument,
    Paper,
    PrintFailed,
    gift_card_document_from_db,
    group_digits,
    must_print,
    parse_ticket_code,
    print_ticket,
    printing,
    render_giftcard_pdf,
    render_ticket_pdf,
    save_and_print,
    ticket_code,
    ticket_document_from_db,
)
from pos_returns.documents.model import DocLine, StoreIdentity, TicketDocument
from pos_returns.engine.codes import CodeKind, ReceiptNumber, classify
from pos_returns.engine.domain import TenderKind
from pos_returns.engine.money import vat_included_split
from pos_returns.engine.plan import PlannedRefund, ReturnPlan, ReturnRequest, TicketKind
from pos_returns.errors import InvalidInput, NotFound
from pos_returns.i18n import format_date, format_money, format_percent
from tests.helpers import L, add_sale
from tests.helpers import documents as sc
from tests.helpers.documents import embedded_codes, flat, has, pdf_text

MM = 72 / 25.4


# -- reading PDFs back










def rendered_codes(pdf: bytes, tmp_path: Path, *, dpi: int = 200) -> list[str]:
    """Render each page to pixels with poppler's pdftoppm, then decode."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: run tools/system-deps.sh (poppler-utils)")
    src = tmp_path / "render.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(src), str(tmp_path / "page")],
                   check=True, timeout=60)
    found: list[str] = []
    for png in sorted(tmp_path.glob("page*.png")):
        with Image.open(png) as im:
            # Code 128 only: the one symbology the documents print (zxing, lenient on quiet
            # zones, can read a ghost EAN-13 inside a Code 128 of some gift card numbers)
            found += [r.text for r in zxingcpp.read_barcodes(
                im, formats=zxingcpp.BarcodeFormat.Code128)]
        png.unlink()
    return found


def pages(pdf: bytes) -> list[tuple[float, float]]:
    return [(float(p.mediabox.width), float(p.mediabox.height))
            for p in PdfReader(BytesIO(pdf)).pages]


def both(doc: TicketDocument) -> dict[Paper, bytes]:
    return {paper: render_ticket_pdf(doc, paper=paper) for paper in Paper}


def assert_totals_add_up(doc: TicketDocument) -> None:
    rows = doc.vat_rows
    for row in rows:
        assert (row.ht, row.vat) == vat_included_split(row.ttc, row.rate_bp)
        assert row.ht + row.vat == row.ttc
    assert sum(r.ttc for r in rows) == doc.total_ttc
    assert doc.total_ht + doc.total_vat == doc.total_ttc
    assert doc.refunds_total == doc.net_to_customer == -doc.total_ttc


# -- the return ticket


def test_R03_receipt_return_to_card_prints_every_french_mention(db, tmp_path):
    made = sc.receipt_return_to_card(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    assert_totals_add_up(doc)
    assert doc.total_ttc == -(7900 + 18900)
    receipt = db.execute("SELECT receipt_number FROM sales WHERE id = ?",
                         [made.sale_id]).fetchone()[0]
    display = ReceiptNumber(1, 1, date(2025, 3, 15), int(receipt[11:15])).display
    assert display.replace("-", "") == receipt
    for paper, pdf in both(doc).items():
        text = pdf_text(pdf)
        assert has(text, "TICKET DE RETOUR"), paper
        assert has(text, "Alamara Paris Haussmann") and has(text, "40 boulevard Haussmann")
        assert has(text, "75009 Paris")
        assert "55204944700017" in text and "FR40552049447" in text  # SIRET, VAT number
        assert has(text, f"Ticket n° {made.number:06d} · Caisse 1")
        assert has(text, i18n.format_datetime("2026-11-26T09:14:00Z", fmt="short"))
        assert has(text, "Camille Martin")
        sold = format_date("2025-03-15", fmt="short")
        assert has(text, f"Retour sur ticket n° {display} du {sold}")
        assert has(text, "Chemise oxford") and has(text, "Robe portefeuille en soie")
        assert has(text, format_money(-7900)) and has(text, format_money(-18900))
        assert has(text, format_percent(2000))
        assert has(text, "Total HT") and has(text, format_money(doc.total_ht))
        assert has(text, "Total TTC") and has(text, format_money(-26800))
        assert has(text, "Remboursement carte **** 4242") and has(text, format_money(26800))
        assert has(text, "cartes cadeaux ne sont ni reprises ni échangées contre des espèces")
        assert has(text, "frais de livraison ne sont pas remboursés")
        assert "DUPLICATA" not in text and "Hors ligne" not in text
        assert doc.code in text
        assert embedded_codes(pdf) == [doc.code]
    roll = both(doc)[Paper.ROLL_80]
    assert [round(w / MM) for w, _h in pages(roll)] == [80]  # one page, 80 mm wide
    assert rendered_codes(roll, tmp_path) == [doc.code]


def test_roll_height_follows_the_content(db):
    short = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900 + i) for i in range(30)])
    ids = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?", [sale])]
    long = sc.add_ticket(
        db, sale_id=sale, kind="receipt",
        lines=[sc.RL("SKU-CHEM-01", 1, 7900 + i, sale_line_id=ids[i]) for i in range(30)],
        refunds=[sc.RF("card", sum(7900 + i for i in range(30)), last4="4242")],
    )
    long_doc = ticket_document_from_db(db, long.ticket_id)
    short_pages = pages(render_ticket_pdf(short, paper="80mm"))
    long_pages = pages(render_ticket_pdf(long_doc, paper="80mm"))
    assert len(short_pages) == len(long_pages) == 1
    assert 100 * MM < short_pages[0][1] < long_pages[0][1]
    a4 = render_ticket_pdf(long_doc, paper="a4")
    assert len(pages(a4)) >= 2  # A4 breaks pages, repeats the header, numbers them
    text = pdf_text(a4)
    assert "page 2" in text and has(text, format_money(-(7900 + 29)))
    assert_totals_add_up(long_doc)


def test_R05_split_tender_whole_amount_to_the_card_and_offline_mark(db, tmp_path):
    made = sc.split_tender_r05(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    assert doc.offline and doc.has_card_refund
    assert_totals_add_up(doc)
    for pdf in both(doc).values():
        text = pdf_text(pdf)
        assert has(text, "Remboursement carte **** 4242") and has(text, format_money(18900))
        assert has(text, "Le montant total de la marchandise est remboursé sur la carte")
        assert "Hors ligne" in text
        assert has(text, "Total remboursé")
    assert rendered_codes(render_ticket_pdf(doc, paper="a4"), tmp_path) == [doc.code]


def test_R16_exchange_with_a_difference_to_pay_and_R18_restocking_fee(db):
    made = sc.exchange_with_difference(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    assert [ln.amount for ln in doc.returned_lines] == [-18900]
    assert [ln.amount for ln in doc.new_items] == [22000, 3500]
    assert doc.restocking_fees == 945
    assert doc.total_ttc == -18900 + 945 + 22000 + 3500 == 7545
    assert {r.rate_bp: r.ttc for r in doc.vat_rows} == {2000: -18900 + 945 + 22000, 550: 3500}
    assert_totals_add_up(doc)
    assert not must_print(doc)  # the customer pays: paper on request only
    for paper, pdf in both(doc).items():
        text = pdf_text(pdf)
        assert has(text, "TICKET D’ÉCHANGE"), paper
        assert has(text, "Articles retournés") and has(text, "Articles pris en échange")
        assert has(text, format_money(22000)) and has(text, format_money(3500))
        assert has(text, format_money(-18900))
        assert has(text, "Frais de remise en stock") and has(text, format_money(945))
        assert has(text, format_percent(550)) and has(text, format_percent(2000))
        for row in doc.vat_rows:
            assert has(text, format_money(row.ht)) and has(text, format_money(row.vat))
        # paid at the till: « Total réglé », never « Reste à payer » (issue 15)
        assert has(text, "Total réglé") and has(text, format_money(7545))
        assert not has(text, "Reste à payer")
        assert has(text, "Payé par carte **** 4242")
        assert has(text, "Article porté ou usagé : accordé par Sophie Bernard")
        assert has(text, "Porté une fois, en parfait état")


def test_R07_no_receipt_avoir_with_a_new_gift_card_on_the_ticket(db, tmp_path):
    made = sc.no_receipt_gift_card(db)
    (number,) = made.gift_cards
    doc = ticket_document_from_db(db, made.ticket_id, security_codes={number: "4821"})
    assert doc.is_credit_note and not must_print(doc)
    assert_totals_add_up(doc)
    for pdf in both(doc).values():
        text = pdf_text(pdf)
        assert has(text, "AVOIR") and has(text, "Retour sans ticket")
        assert "Retour sur ticket" not in text
        assert has(text, "Nouvelle carte cadeau Alamara") and has(text, format_money(9500))
        assert has(text, "CARTE CADEAU ALAMARA") and has(text, group_digits(number))
        # the code is on its own slip, never on the ticket (issue 15)
        assert has(text, "Code de sécurité : sur le feuillet séparé") and "4821" not in text
        assert has(text, "Une carte cadeau n'est ni reprise, ni échangée contre des espèces")
        assert has(text, "Retour sans ticket : accordé par")
        assert has(text, "Pièce d'identité vérifiée, article neuf & scellé")
        assert sorted(embedded_codes(pdf)) == sorted([doc.code, number])
    roll = render_ticket_pdf(doc, paper="80mm")
    assert sorted(rendered_codes(roll, tmp_path)) == sorted([doc.code, number])
    assert classify(number) == (CodeKind.GIFT_CARD, number)  # the till reads it back


def test_R15_international_order_refunds_merchandise_not_duties_nor_shipping(db):
    made = sc.international_order(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    assert doc.sale is not None and doc.sale.international
    assert doc.refunds_total == 145000  # the order cost 145 000 + 2 500 + 31 900
    assert_totals_add_up(doc)
    for pdf in both(doc).values():
        text = pdf_text(pdf)
        assert has(text, "Retour sur commande AlamaraStore.com n° W204815162")
        assert has(text, "Commande internationale")
        assert has(text, "droits de douane") and has(text, format_money(31900))
        assert has(text, "frais de port") and has(text, format_money(2500))
        assert has(text, "Remboursement carte **** 1881") and has(text, format_money(145000))
        assert not has(text, format_money(145000 + 2500 + 31900))
        assert has(text, "Inès Laurent")


def test_duplicata_reprint_says_so_in_big_letters_and_never_shows_the_security_code(db):
    made = sc.no_receipt_gift_card(db)
    (number,) = made.gift_cards
    original = ticket_document_from_db(db, made.ticket_id, security_codes={number: "4821"})
    dup = ticket_document_from_db(db, made.ticket_id, duplicate=True,
                                  security_codes={number: "4821"})
    for paper in Paper:
        first, again = (render_ticket_pdf(d, paper=paper) for d in (original, dup))
        assert "DUPLICATA" not in pdf_text(first)
        text = pdf_text(again)
        assert "DUPLICATA" in text and has(text, "Réimpression du ticket original")
        assert "4821" not in text and has(text, "non réimprimé")
        assert group_digits(number) in flat(text)
        assert sorted(embedded_codes(again)) == sorted([dup.code, number])


def test_journal_signature_excerpt_is_printed(db, tmp_path):
    from pos_returns.journal.chain import Journal
    from pos_returns.journal.keys import load_signer
    from pos_returns.journal.records import DUPLICATE, TICKET

    made = sc.receipt_return_to_card(db)
    uuid = db.execute("SELECT uuid FROM return_tickets WHERE id = ?",
                      [made.ticket_id]).fetchone()[0]
    journal = Journal(db, load_signer(tmp_path / "key.pem"), 1, 1)
    with atomic(db):
        journal.append("start", {})
        record = journal.append(TICKET, {"ticket": uuid}, ticket_uuid=uuid)
        journal.append(DUPLICATE, {"ticket": uuid}, ticket_uuid=uuid)
    doc = ticket_document_from_db(db, made.ticket_id, duplicate=True)
    assert doc.journal is not None
    assert doc.journal.seq == record.seq == 2
    excerpt = doc.journal.excerpt
    assert excerpt.startswith(record.signature[:8]) and excerpt.endswith(record.signature[-8:])
    for pdf in both(doc).values():
        text = flat(pdf_text(pdf))
        assert excerpt in text and "enregistrement n° 2" in text
    no_journal = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    assert no_journal.journal is None
    assert "Signature du journal" not in pdf_text(render_ticket_pdf(no_journal))


def test_ticket_in_english_when_the_till_is_in_english(db):
    doc = ticket_document_from_db(db, sc.receipt_return_to_card(db).ticket_id, duplicate=True)
    i18n.set_language("en")
    text = pdf_text(render_ticket_pdf(doc, paper="80mm"))
    assert "RETURN TICKET" in text and "DUPLICATE" in text and "Card refund **** 4242" in text
    assert has(text, format_money(26800))


def test_unknown_ticket_is_a_french_not_found(db):
    with pytest.raises(NotFound, match="n’existe pas"):
        ticket_document_from_db(db, 999)


def test_ticket_code_round_trip_and_refusals():
    assert ticket_code(1, 2, 42) == "T00102000042"
    assert parse_ticket_code("t00102000042 ") == (1, 2, 42)
    for bad in ["", "T0010200004", "X00102000042", "T00002000042", "T00100000042",
                "T00102000000", "T00102000042X"]:
        with pytest.raises(InvalidInput):
            parse_ticket_code(bad)
    with pytest.raises(InvalidInput):
        ticket_code(1, 1, 1_000_000)


def test_vat_split_always_adds_up_on_mixed_tickets():
    from hypothesis import given
    from hypothesis import strategies as st

    store = StoreIdentity("S", "A", "75001", "Paris", "1", "FR1")

    @given(st.lists(st.tuples(st.sampled_from(["return", "sale"]), st.integers(1, 5),
                              st.integers(0, 500_000), st.sampled_from([2000, 1000, 550, 210]),
                              st.integers(0, 5000)), min_size=1, max_size=12))
    def check(specs):
        lines = tuple(
            DocLine(n, d, "SKU", "x", q, u, (-1 if d == "return" else 1) * q * u, rate,
                    restocking_fee=fee if d == "return" else 0)
            for n, (d, q, u, rate, fee) in enumerate(specs, 1)
        )
        doc = TicketDocument(store, 1, 1, "u", 1, 1, "x", "2026-01-01T10:00:00Z", "receipt",
                             None, lines)
        assert sum(r.ttc for r in doc.vat_rows) == doc.total_ttc
        assert doc.total_ht + doc.total_vat == doc.total_ttc
        assert all(abs(r.vat) <= abs(r.ttc) for r in doc.vat_rows)

    check()


# -- the gift card


def test_R09_R17_gift_card_pdf_is_card_sized_and_its_barcode_reads_back(db, tmp_path):
    made = sc.no_receipt_gift_card(db)
    (number,) = made.gift_cards
    card = gift_card_document_from_db(db, number, security_code="4821")
    pdf = render_giftcard_pdf(card)
    ((w, h),) = pages(pdf)
    assert (round(w / MM, 1), round(h / MM, 1)) == (85.6, 54.0)
    text = pdf_text(pdf)
    assert "ALAMARA" in text and "Carte cadeau" in text
    assert has(text, format_money(9500))
    assert group_digits(number) in flat(text) and len(group_digits(number).split()) == 5
    assert "4821" not in text and has(text, "Code de sécurité : sur le feuillet séparé")
    assert has(text, f"Émise le {format_date('2026-11-26T09:14:00Z', fmt='short')}")
    assert has(text, "Une carte cadeau n'est ni reprise, ni échangée contre des espèces")
    assert embedded_codes(pdf) == [number]
    assert rendered_codes(pdf, tmp_path, dpi=300) == [number]
    reprint = render_giftcard_pdf(gift_card_document_from_db(db, number, duplicate=True))
    assert "4821" not in pdf_text(reprint) and "DUPLICATA" in pdf_text(reprint)
    with pytest.raises(InvalidInput):
        GiftCardDocument(number[:-1] + str((int(number[-1]) + 1) % 10), 100, "2026-01-01T00:00:00Z")
    with pytest.raises(NotFound):
        gift_card_document_from_db(db, sc.gift_card_number(999))


# -- printing


def _plan(refunds: list[PlannedRefund]) -> ReturnPlan:
    req = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=None, lines=())
    return ReturnPlan(request=req, kind=TicketKind.RECEIPT, lines=(), refunds=tuple(refunds))


def test_must_print_only_when_a_refund_goes_to_a_card(db):
    assert must_print(ticket_document_from_db(db, sc.receipt_return_to_card(db).ticket_id))
    assert must_print(ticket_document_from_db(db, sc.international_order(db).ticket_id))
    assert not must_print(ticket_document_from_db(db, sc.cash_return(db).ticket_id))
    assert not must_print(ticket_document_from_db(db, sc.no_receipt_gift_card(db).ticket_id))
    assert not must_print(ticket_document_from_db(db, sc.exchange_with_difference(db).ticket_id))
    assert must_print(_plan([PlannedRefund(TenderKind.CARD, 100, card_last4="4242"),
                             PlannedRefund(TenderKind.GIFT_CARD, 50, new_gift_card=True)]))
    assert not must_print(_plan([PlannedRefund(TenderKind.CASH, 100)]))
    assert not must_print(_plan([PlannedRefund(TenderKind.CARD, -100, card_last4="4242")]))


@pytest.fixture
def fake_lp(tmp_path, monkeypatch):
    """An `lp` on PATH that records its arguments (one line per call) and succeeds,
    or fails when FAKE_LP_FAIL is set."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "lp.log"
    script = bindir / "lp"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s|' \"$@\" >> '{log}'\n"
        f"echo >> '{log}'\n"
        'if [ -n "$FAKE_LP_FAIL" ]; then echo "lp: The printer or class does not exist." >&2;'
        " exit 1; fi\n"
        'echo "request id is CAISSE-1 (1 file(s))"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.rstrip("|").split("|") for line in log.read_text().splitlines() if line]


def test_save_without_a_queue_writes_the_day_folder_and_does_not_print(tmp_path, fake_lp):
    cfg = TillConfig(documents_dir=tmp_path / "docs", printer_queue="")
    before = i18n.to_local(datetime.now(UTC)).date().isoformat()
    path = save_and_print(b"%PDF-1.4 test", kind="ticket", name="T00101000041", cfg=cfg)
    after = i18n.to_local(datetime.now(UTC)).date().isoformat()
    assert path.read_bytes() == b"%PDF-1.4 test"
    assert path.parent.parent == tmp_path / "docs"
    assert path.parent.name in {before, after}  # the store's day (Europe/Paris)
    assert path.name == "ticket-T00101000041.pdf"
    again = save_and_print(b"%PDF-1.4 two", kind="ticket", name="T00101000041", cfg=cfg)
    assert again != path and again.name == "ticket-T00101000041-2.pdf"
    assert path.read_bytes() == b"%PDF-1.4 test"  # never overwritten
    assert _calls(fake_lp) == []
    assert not list(path.parent.glob(".tmp-*"))


def test_save_and_print_sends_to_the_cups_queue(tmp_path, fake_lp):
    cfg = TillConfig(documents_dir=tmp_path / "docs", printer_queue="CAISSE-1")
    path = save_and_print(b"%PDF", kind="ticket", name="T00101000041", cfg=cfg)
    assert _calls(fake_lp) == [["-d", "CAISSE-1", "-t", "ticket T00101000041", str(path)]]


def test_a_refusing_queue_raises_in_french_and_keeps_the_pdf(tmp_path, fake_lp, monkeypatch):
    monkeypatch.setenv("FAKE_LP_FAIL", "1")
    cfg = TillConfig(documents_dir=tmp_path / "docs", printer_queue="NOPE")
    with pytest.raises(PrintFailed) as err:
        save_and_print(b"%PDF", kind="ticket", name="T1", cfg=cfg)
    assert "NOPE" in str(err.value) and "a refusé le document" in str(err.value)
    assert "does not exist" in str(err.value)  # lp's own words, for the technician
    assert err.value.path.read_bytes() == b"%PDF"


def test_missing_lp_raises_in_french_and_keeps_the_pdf(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    cfg = TillConfig(documents_dir=tmp_path / "docs", printer_queue="CAISSE-1")
    with pytest.raises(PrintFailed) as err:
        save_and_print(b"%PDF", kind="ticket", name="T1", cfg=cfg)
    assert err.value.code == "lp_missing"
    assert "n’est pas installée" in str(err.value) and str(err.value.path) in str(err.value)
    assert err.value.path.exists()


def test_a_queue_that_hangs_times_out(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "lp").write_text("#!/bin/sh\nsleep 30\n")
    (bindir / "lp").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(printing, "LP_TIMEOUT_SECONDS", 0.3)
    cfg = TillConfig(documents_dir=tmp_path / "docs", printer_queue="CAISSE-1")
    with pytest.raises(PrintFailed) as err:
        save_and_print(b"%PDF", kind="ticket", name="T1", cfg=cfg)
    assert err.value.code == "lp_timeout" and err.value.path.exists()


def test_print_ticket_prints_card_refunds_always_and_others_on_request(db, tmp_path, fake_lp):
    cfg = TillConfig(documents_dir=tmp_path / "docs", printer_queue="CAISSE-1")
    card = sc.receipt_return_to_card(db)
    result = print_ticket(db, card.ticket_id, cfg)
    assert result.printed and len(_calls(fake_lp)) == 1
    assert embedded_codes(result.ticket_pdf.read_bytes()) == [ticket_code(1, 1, card.number)]

    cash = sc.cash_return(db)
    result = print_ticket(db, cash.ticket_id, cfg)
    assert not result.printed and result.ticket_pdf.exists() and len(_calls(fake_lp)) == 1
    result = print_ticket(db, cash.ticket_id, cfg, requested=True, paper="a4")
    # cash handed over: the customer's copy and the store's copy
    assert result.printed and result.store_copy_pdf is not None and len(_calls(fake_lp)) == 3
    assert has(result.ticket_pdf.read_bytes(), "EXEMPLAIRE CLIENT")
    assert has(result.store_copy_pdf.read_bytes(), "EXEMPLAIRE MAGASIN")

    gift = sc.no_receipt_gift_card(db)
    (number,) = gift.gift_cards
    result = print_ticket(db, gift.ticket_id, cfg, requested=True,
                          security_codes={number: "4821"})
    assert [p.name for p in result.gift_card_pdfs] == [f"giftcard-{number}.pdf"]
    assert embedded_codes(result.gift_card_pdfs[0].read_bytes()) == [number]
    assert [p.name for p in result.code_slip_pdfs] == [f"giftcard-code-{number}.pdf"]
    assert "4821" in pdf_text(result.code_slip_pdfs[0].read_bytes())
    # no-receipt: two copies of the ticket, the card and the code's slip
    assert len(_calls(fake_lp)) == 3 + 4

    dup = print_ticket(db, cash.ticket_id, cfg, duplicate=True)
    assert dup.printed and "duplicata" in dup.ticket_pdf.name
    assert "DUPLICATA" in pdf_text(dup.ticket_pdf.read_bytes())


def test_R06_gift_return_says_gift_card_only_and_prints_the_serial(db):
    made = sc.gift_return_r06(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    assert doc.gift and doc.is_credit_note and not must_print(doc)
    for pdf in both(doc).values():
        text = pdf_text(pdf)
        assert has(text, "AVOIR") and has(text, "Retour de cadeau")
        assert has(text, "uniquement sur une carte cadeau")
        assert has(text, "N° de série SN-PERL-0042")
        assert has(text, "Inès Laurent") and has(text, format_money(65000))
        assert sorted(embedded_codes(pdf)) == sorted([doc.code, *made.gift_cards])


# -- with the real engine and ticket writer


def test_R03_R06_committed_tickets_print_with_their_journal_signature_and_cards(db, tmp_path,
                                                                                fake_lp):
    """planning.plan_return -> tickets.commit_plan -> print_ticket, end to end."""
    from pos_returns.engine.plan import LineRequest
    from pos_returns.usecases import planning, tickets

    cfg = TillConfig(cache_path=tmp_path / "cache.sqlite", key_path=tmp_path / "k" / "j.pem",
                     documents_dir=tmp_path / "docs", printer_queue="CAISSE-1")
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900)])
    (line_id,) = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                                           [sale])]
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale,
                            lines=(LineRequest(quantity=1, sale_line_id=line_id),),
                            presented_card_last4="4242")
    committed = tickets.commit_plan(db, cfg, planning.plan_return(db, cfg, request))
    assert must_print(committed)
    result = print_ticket(db, committed.ticket_id, cfg)
    assert result.printed
    pdf = result.ticket_pdf.read_bytes()
    doc = ticket_document_from_db(db, committed.ticket_id)
    assert doc.journal is not None and doc.journal.signature == committed.signature
    assert doc.journal.excerpt in flat(pdf_text(pdf))
    assert has(pdf, format_money(-7900)) and has(pdf, "Remboursement carte **** 4242")
    assert embedded_codes(pdf) == [ticket_code(1, 1, committed.number)]

    gift_sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], gift_receipt=True)
    (gift_line,) = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                                             [gift_sale])]
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=gift_sale, gift=True,
                            lines=(LineRequest(quantity=1, sale_line_id=gift_line),))
    gift = tickets.commit_plan(db, cfg, planning.plan_return(db, cfg, request))
    ((number, code, amount),) = gift.gift_cards
    assert not must_print(gift)
    codes = {n: c for n, c, _a in gift.gift_cards}
    result = print_ticket(db, gift.ticket_id, cfg, requested=True, security_codes=codes)
    text = pdf_text(result.ticket_pdf.read_bytes())
    assert has(text, "AVOIR") and code not in text and has(text, format_money(amount))
    card_pdf = result.gift_card_pdfs[0].read_bytes()
    assert code not in pdf_text(card_pdf) and embedded_codes(card_pdf) == [number]
    assert code in pdf_text(result.code_slip_pdfs[0].read_bytes())

    for copy in (1, 2):
        tickets.reprint(db, cfg, gift.ticket_id, staff_id=3)
        dup = print_ticket(db, gift.ticket_id, cfg, duplicate=True)
        dup_text = pdf_text(dup.ticket_pdf.read_bytes())
        assert "DUPLICATA" in dup_text and has(dup_text, "non réimprimé")
        assert has(dup_text, f"Réimpression n° {copy} du ticket original")
    dup_doc = ticket_document_from_db(db, gift.ticket_id, duplicate=True,
                                      security_codes=codes)
    assert [c.security_code for c in dup_doc.gift_cards] == [""]
    assert dup_doc.journal is not None and dup_doc.journal.signature == gift.signature


def test_without_dejavu_the_documents_fall_back_to_helvetica(db, monkeypatch):
    from pos_returns.documents import fonts as fonts_mod
    from pos_returns.documents import giftcard, layout, ticket

    helvetica = fonts_mod.FontSet("Helvetica", "Helvetica-Bold", unicode=False)
    for module in (fonts_mod, layout, ticket, giftcard):
        monkeypatch.setattr(module, "fonts", lambda: helvetica)
    assert fonts_mod.printable("1\u202f234,56\u00a0€") == "1\u00a0234,56\u00a0€"
    made = sc.international_order(db)
    doc = ticket_document_from_db(db, made.ticket_id)
    pdf = render_ticket_pdf(doc, paper="80mm")
    assert b"DejaVu" not in pdf and b"Helvetica" in pdf
    text = pdf_text(pdf)
    assert has(text, format_money(145000)) and has(text, "Inès Laurent") and doc.code in text
    assert embedded_codes(pdf) == [doc.code]
    card = sc.no_receipt_gift_card(db)
    card_pdf = render_giftcard_pdf(gift_card_document_from_db(db, card.gift_cards[0]))
    assert has(card_pdf, "Émise le") and embedded_codes(card_pdf) == card.gift_cards
