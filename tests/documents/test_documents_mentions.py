"""Issue 15: every mention a ticket, avoir or gift card needs, read back from the PDFs
(pypdf text, the roll's content stream for sizes and colours, pdftoppm for a look)."""

from __future__ import annotations

import re
from io import BytesIO

from pypdf import PdfReader

from pos_returns import __version__
from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.documents import (
    DocumentSettings,
    Paper,
    print_ticket,
    render_code_slip_pdf,
    render_giftcard_pdf,
    render_ticket_pdf,
    ticket_document_from_db,
    ticket_documents,
)
from pos_returns.documents.model import add_months, valid_until
from pos_returns.i18n import format_date, format_datetime
from tests.helpers import documents as sc

SETTINGS = DocumentSettings(nf525_certificate="", privacy_contact="dpo@alamara.fr",
                            gift_card_validity_months=24)
RULE_CODE = re.compile(r"\bR\d\d\b")


def text_of(pdf: bytes) -> str:
    raw = "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(pdf)).pages)
    return " ".join(raw.replace("\u202f", " ").replace("\u00a0", " ").split())


def has(pdf: bytes, needle: str) -> bool:
    return " ".join(needle.replace("\u202f", " ").replace("\u00a0", " ").split()) in text_of(pdf)


def content_stream(pdf: bytes) -> str:
    reader = PdfReader(BytesIO(pdf))
    return "\n".join(page.get_contents().get_data().decode("latin-1") for page in reader.pages)


def all_scenarios(db):
    return [sc.receipt_return_to_card(db), sc.split_tender_r05(db),
            sc.exchange_with_difference(db), sc.no_receipt_gift_card(db),
            sc.international_order(db), sc.cash_return(db), sc.gift_return_r06(db)]


def test_software_version_and_nf525_reference_on_every_ticket(db):
    made = sc.cash_return(db)
    pending = ticket_document_from_db(db, made.ticket_id, settings=SETTINGS)
    certified = ticket_document_from_db(
        db, made.ticket_id, settings=DocumentSettings(nf525_certificate="LNE N° 0042-B"))
    for paper in Paper:
        pdf = render_ticket_pdf(pending, paper=paper)
        assert has(pdf, f"Alamara Retours {__version__}")
        assert has(pdf, "certificat NF525 : en cours de certification")
        assert has(render_ticket_pdf(certified, paper=paper), "certificat NF525 : LNE N° 0042-B")


def test_no_rule_codes_on_customer_paper(db):
    """R06, R07, R09, R10, R12, R15, R17… are internal: the paper says it in French."""
    for made in all_scenarios(db):
        doc = ticket_document_from_db(db, made.ticket_id, settings=SETTINGS)
        for paper in Paper:
            text = text_of(render_ticket_pdf(doc, paper=paper))
            assert not RULE_CODE.search(text), (made, RULE_CODE.findall(text))
        for card in doc.gift_cards:
            from pos_returns.documents import GiftCardDocument

            face = render_giftcard_pdf(GiftCardDocument(card.number, card.amount,
                                                        doc.created_at))
            assert not RULE_CODE.search(text_of(face))


def test_roll_text_is_at_least_8_pt_and_black(db):
    """SIRET, VAT number and line details were 6.6 pt grey: faint on a thermal roll."""
    for made in all_scenarios(db):
        doc = ticket_document_from_db(db, made.ticket_id, settings=SETTINGS)
        stream = content_stream(render_ticket_pdf(doc, paper=Paper.ROLL_80))
        sizes = [float(m) for m in re.findall(r"/F\d+\s+([\d.]+)\s+Tf", stream)]
        assert sizes and min(sizes) >= 8, sorted(set(sizes))
        assert not re.search(r"\b0?\.35 0?\.35 0?\.35 rg", stream)  # the old GREY
        assert has(render_ticket_pdf(doc), "SIRET")


def test_store_and_customer_copies_when_two_print(db):
    cash = ticket_document_from_db(db, sc.cash_return(db).ticket_id)
    card = ticket_document_from_db(db, sc.receipt_return_to_card(db).ticket_id)
    no_receipt = ticket_document_from_db(db, sc.no_receipt_gift_card(db).ticket_id)
    assert cash.copies == ("customer", "store") == no_receipt.copies
    assert card.copies == ("customer",)
    assert has(render_ticket_pdf(cash, copy="customer"), "EXEMPLAIRE CLIENT")
    assert has(render_ticket_pdf(cash, copy="store", paper="a4"), "EXEMPLAIRE MAGASIN")
    assert "EXEMPLAIRE" not in text_of(render_ticket_pdf(card))


def test_R16_exchange_paid_says_total_regle_with_the_card_digits(db):
    doc = ticket_document_from_db(db, sc.exchange_with_difference(db).ticket_id)
    assert doc.paid_card_last4 == "4242"
    for paper in Paper:
        pdf = render_ticket_pdf(doc, paper=paper)
        assert has(pdf, "Payé par carte **** 4242") and has(pdf, "Total réglé")
        assert "Reste à payer" not in text_of(pdf)


def test_R16_exchange_without_known_digits_never_prints_empty_stars(db):
    sale = sc.add_sale(db, [sc.L("SKU-ROBE-01", 1, 18900)])
    (line_id,) = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                                           [sale])]
    made = sc.add_ticket(db, sale_id=sale, kind="exchange",
                         lines=[sc.RL("SKU-ROBE-01", 1, 18900, sale_line_id=line_id),
                                sc.RL("SKU-ESCA-01", 1, 22000, direction="sale")],
                         refunds=[sc.RF("card", -3100)])
    text = text_of(render_ticket_pdf(ticket_document_from_db(db, made.ticket_id)))
    assert "Payé par carte" in text and "****" not in text


def test_R07_no_receipt_avoir_names_the_id_type_last4_and_rgpd_rights(db):
    made = sc.no_receipt_gift_card(db)
    uuid = db.execute("SELECT uuid FROM return_tickets WHERE id = ?",
                      [made.ticket_id]).fetchone()[0]
    with atomic(db):
        db["id_checks"].insert({
            "uuid": "idc-1", "doc_type": "passport", "last4": "7X2K", "id_hash": "h" * 64,
            "name": "Jeanne Dupont", "store_id": 1, "till_no": 1, "staff_id": 1,
            "status": "refunded", "ticket_uuid": uuid, "amount": 9500,
            "created_at": "2026-11-26T09:10:00Z",
        })
    doc = ticket_document_from_db(db, made.ticket_id, settings=SETTINGS)
    assert doc.identity is not None and doc.identity.last4 == "7X2K"
    for paper in Paper:
        pdf = render_ticket_pdf(doc, paper=paper)
        assert has(pdf, "Pièce d'identité vérifiée : passeport se terminant par 7X2K")
        assert has(pdf, "écrivez à dpo@alamara.fr")
        assert "Jeanne" not in text_of(pdf)  # the name is not printed


def test_gift_card_validity_balance_and_code_on_a_separate_slip(db, tmp_path):
    made = sc.no_receipt_gift_card(db)
    (number,) = made.gift_cards
    cfg = TillConfig(documents_dir=tmp_path / "docs", gift_card_validity_months=24)
    result = print_ticket(db, made.ticket_id, cfg, requested=True,
                          security_codes={number: "4821"})
    until = format_date(valid_until("2026-11-26T09:14:00Z", 24), fmt="short")
    face = result.gift_card_pdfs[0].read_bytes()
    ticket = result.ticket_pdf.read_bytes()
    for pdf in (face, ticket):
        assert has(pdf, f"Valable jusqu'au {until}")
        assert has(pdf, "Solde : à la caisse de tout magasin Alamara")
        assert "4821" not in text_of(pdf)
    slip = result.code_slip_pdfs[0].read_bytes()
    assert "4821" in text_of(slip) and has(slip, f"Carte se terminant par {number[-4:]}")
    assert number not in text_of(slip)  # the slip alone does not name the card
    card = ticket_documents(db, made.ticket_id, security_codes={number: "4821"},
                            settings=SETTINGS).gift_cards[0]
    assert "4821" in text_of(render_code_slip_pdf(card))


def test_add_months_keeps_the_end_of_month():
    from datetime import date

    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 26), 24) == date(2028, 11, 26)
    assert valid_until("2026-11-26T23:30:00Z", 12) == "2027-11-27"  # Paris day
    assert valid_until("2026-11-26T09:00:00Z", 0) == ""


def test_every_duplicate_says_when_and_by_whom(db, tmp_path):
    from pos_returns.engine.plan import LineRequest, ReturnRequest
    from pos_returns.usecases import planning, tickets

    cfg = TillConfig(cache_path=tmp_path / "cache.sqlite", key_path=tmp_path / "k" / "j.pem",
                     documents_dir=tmp_path / "docs")
    sale = sc.add_sale(db, [sc.L("SKU-CHEM-01", 1, 7900)])
    (line_id,) = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?",
                                           [sale])]
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=sale,
                            lines=(LineRequest(quantity=1, sale_line_id=line_id),),
                            presented_card_last4="4242")
    committed = tickets.commit_plan(db, cfg, planning.plan_return(db, cfg, request))
    record = tickets.reprint(db, cfg, committed.ticket_id, staff_id=3)
    manager = db.execute("SELECT name FROM staff WHERE id = 3").fetchone()[0]
    doc = ticket_document_from_db(db, committed.ticket_id, duplicate=True)
    assert (doc.reprinted_at, doc.reprinted_by) == (record.created_at, manager)
    when = format_datetime(record.created_at, fmt="short")
    for paper in Paper:
        pdf = render_ticket_pdf(doc, paper=paper)
        assert has(pdf, f"Réimpression n° 1 du ticket original, le {when} par {manager}")


def test_a_page_rendered_for_a_look(db, tmp_path):
    """The roll as pixels (pdftoppm), kept in tmp_path for a human to look at."""
    import shutil
    import subprocess

    made = sc.exchange_with_difference(db)
    doc = ticket_document_from_db(db, made.ticket_id, settings=SETTINGS)
    src = tmp_path / "roll.pdf"
    src.write_bytes(render_ticket_pdf(doc, copy="customer"))
    assert shutil.which("pdftoppm")
    subprocess.run(["pdftoppm", "-png", "-r", "120", "-singlefile", str(src),
                    str(tmp_path / "roll")], check=True, timeout=60)
    png = (tmp_path / "roll.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
