"""Realistic committed tickets for the document tests, inserted row by row in the
cache tables (the shape the ticket writer commits), so that every figure a test
checks can be read off here."""

from __future__ import annotations

import itertools
import uuid as uuidlib
from dataclasses import dataclass, field
from io import BytesIO

import zxingcpp
from pypdf import PdfReader
from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.engine.codes import luhn_check_digit
from tests.helpers import L, T, add_sale

_numbers = itertools.count(41)


@dataclass
class RL:
    """A ticket line: sku, qty, unit amount; direction 'return' (negative) or 'sale'."""

    sku: str
    qty: int
    unit: int
    direction: str = "return"
    vat_bp: int = 2000
    condition: str = "new_with_tags"
    reason: str = "size"
    fee: int = 0
    sale_line_id: int | None = None
    serial: str = ""


@dataclass
class RF:
    kind: str
    amount: int
    last4: str = ""
    gift_card_number: str = ""
    beyond_original: bool = False


@dataclass
class AP:
    rule: str
    manager_id: int
    reason: str
    decision: str = "approved"
    line_no: int | None = None


@dataclass
class Made:
    ticket_id: int
    sale_id: int | None
    number: int
    gift_cards: list[str] = field(default_factory=list)


def gift_card_number(seed: int) -> str:
    body = f"601{seed:015d}"
    return body + luhn_check_digit(body)


def add_ticket(
    db: Database,
    *,
    sale_id: int | None,
    kind: str,
    lines: list[RL],
    refunds: list[RF],
    approvals: list[AP] = (),  # type: ignore[assignment]
    staff_id: int = 1,
    store_id: int = 1,
    till_no: int = 1,
    created_at: str = "2026-11-26T09:14:00Z",
    offline: bool = False,
    gift: bool = False,
) -> Made:
    number = next(_numbers)
    fees = sum(ln.fee for ln in lines)
    refund_total = sum(ln.qty * ln.unit for ln in lines if ln.direction == "return")
    charge_total = sum(ln.qty * ln.unit for ln in lines if ln.direction == "sale")
    net = refund_total - fees - charge_total
    assert sum(r.amount for r in refunds) == net, "refunds must add up to the net"
    cards: list[str] = []
    with atomic(db):
        tid = db["return_tickets"].insert({
            "uuid": str(uuidlib.uuid4()), "store_id": store_id, "till_no": till_no,
            "number": number, "created_at": created_at, "staff_id": staff_id,
            "sale_id": sale_id, "kind": kind, "gift": int(gift), "offline": int(offline),
            "refund_total": refund_total, "charge_total": charge_total, "net": net,
            "restocking_fees": fees,
        }).last_pk
        for n, ln in enumerate(lines, 1):
            sign = -1 if ln.direction == "return" else 1
            db["return_lines"].insert({
                "ticket_id": tid, "line_no": n, "direction": ln.direction,
                "sale_line_id": ln.sale_line_id, "sku": ln.sku, "quantity": ln.qty,
                "unit_amount": ln.unit, "amount": sign * ln.qty * ln.unit,
                "vat_rate_bp": ln.vat_bp,
                "condition": ln.condition if ln.direction == "return" else "",
                "reason": ln.reason if ln.direction == "return" else "",
                "restocking_fee": ln.fee, "serial_number": ln.serial,
            })
        for r in refunds:
            if r.gift_card_number:
                db["gift_cards"].insert({
                    "number": r.gift_card_number, "security_hash": "x" * 64,
                    "initial_amount": r.amount, "issued_ticket_id": tid,
                    "issued_at": created_at, "store_id": store_id, "till_no": till_no,
                })
                cards.append(r.gift_card_number)
            db["refunds"].insert({
                "ticket_id": tid, "kind": r.kind, "amount": r.amount,
                "card_last4": r.last4, "gift_card_number": r.gift_card_number,
                "beyond_original": int(r.beyond_original),
            })
        for a in approvals:
            db["approvals"].insert({
                "ticket_id": tid, "line_no": a.line_no, "rule": a.rule,
                "manager_id": a.manager_id, "decision": a.decision, "reason": a.reason,
                "decided_at": created_at,
            })
    return Made(int(tid), sale_id, number, cards)


def _line_ids(db: Database, sale_id: int) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no", [sale_id])]


def receipt_return_to_card(db: Database) -> Made:
    """Two shirts and a dress bought by card 4242; one shirt and the dress come back."""
    sale = add_sale(db, [L("SKU-CHEM-01", 2, 7900), L("SKU-ROBE-01", 1, 18900)])
    ids = _line_ids(db, sale)
    return add_ticket(
        db, sale_id=sale, kind="receipt",
        lines=[RL("SKU-CHEM-01", 1, 7900, sale_line_id=ids[0]),
               RL("SKU-ROBE-01", 1, 18900, reason="colour", sale_line_id=ids[1])],
        refunds=[RF("card", 26800, last4="4242")],
    )


def split_tender_r05(db: Database) -> Made:
    """Card 4242 + Alamara Gift Card paid the dress: the whole amount goes to the card."""
    sale = add_sale(
        db, [L("SKU-ROBE-01", 1, 18900)],
        [T("card", 10000, "4242", "fp-4242"),
         T("gift_card", 8900, gift_card_number=gift_card_number(7))],
    )
    ids = _line_ids(db, sale)
    return add_ticket(
        db, sale_id=sale, kind="receipt",
        lines=[RL("SKU-ROBE-01", 1, 18900, sale_line_id=ids[0])],
        refunds=[RF("card", 18900, last4="4242", beyond_original=True)],
        offline=True,
    )


def exchange_with_difference(db: Database) -> Made:
    """A worn dress (R12, manager) back with a 5 % restocking fee; shoes and a book
    taken instead; the customer pays the difference by card."""
    sale = add_sale(db, [L("SKU-ROBE-01", 1, 18900)])
    ids = _line_ids(db, sale)
    return add_ticket(
        db, sale_id=sale, kind="exchange",
        lines=[RL("SKU-ROBE-01", 1, 18900, condition="worn", reason="fit", fee=945,
                  sale_line_id=ids[0]),
               RL("SKU-ESCA-01", 1, 22000, direction="sale"),
               RL("SKU-LIVR-01", 1, 3500, direction="sale", vat_bp=550)],
        refunds=[RF("card", -(22000 + 3500 + 945 - 18900), last4="4242")],
        approvals=[AP("R12", 3, "Porté une fois, en parfait état")],
    )


def no_receipt_gift_card(db: Database) -> Made:
    """No record of sale (R07): a perfume at its current price on a new gift card."""
    card = gift_card_number(next(_numbers))
    return add_ticket(
        db, sale_id=None, kind="no_receipt",
        lines=[RL("SKU-PARF-01", 1, 9500, reason="gift")],
        refunds=[RF("gift_card", 9500, gift_card_number=card)],
        approvals=[AP("R07", 3, "Pièce d'identité vérifiée, article neuf & scellé")],
    )


def international_order(db: Database) -> Made:
    """An international AlamaraStore.com order returned in store: merchandise refunded,
    not the shipping (R10) nor the duties (R15)."""
    sale = add_sale(
        db, [L("SKU-CREA-01", 1, 145000)], channel="online", order_number="W204815162",
        international=True, shipping=2500, duties=31900,
        tenders=[T("card", 145000 + 2500 + 31900, "1881", "fp-1881")],
    )
    ids = _line_ids(db, sale)
    return add_ticket(
        db, sale_id=sale, kind="receipt",
        lines=[RL("SKU-CREA-01", 1, 145000, sale_line_id=ids[0])],
        refunds=[RF("card", 145000, last4="1881")],
        staff_id=2,
    )


def cash_return(db: Database) -> Made:
    """A book paid cash: cash back, no card, so paper only on request."""
    sale = add_sale(db, [L("SKU-LIVR-01", 1, 3500, vat_bp=550)], [T("cash", 3500)])
    ids = _line_ids(db, sale)
    return add_ticket(
        db, sale_id=sale, kind="receipt",
        lines=[RL("SKU-LIVR-01", 1, 3500, vat_bp=550, sale_line_id=ids[0])],
        refunds=[RF("cash", 3500)],
    )


def gift_return_r06(db: Database) -> Made:
    """A pearl necklace bought on a gift receipt, returned by the person who got it:
    a new gift card only (R06), serial number read off the piece (R14)."""
    sale = add_sale(db, [L("SKU-COLL-01", 1, 65000, serial="SN-PERL-0042")], gift_receipt=True)
    ids = _line_ids(db, sale)
    card = gift_card_number(next(_numbers))
    return add_ticket(
        db, sale_id=sale, kind="receipt", gift=True, staff_id=2,
        lines=[RL("SKU-COLL-01", 1, 65000, reason="gift", sale_line_id=ids[0],
                  serial="SN-PERL-0042")],
        refunds=[RF("gift_card", 65000, gift_card_number=card)],
    )


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(pdf)).pages)


def flat(text: str) -> str:
    """Text with every kind of space made a plain space (babel and French typography use
    no-break spaces; extraction may also break a line where the PDF wrapped it)."""
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def has(pdf_or_text: bytes | str, needle: str) -> bool:
    text = pdf_text(pdf_or_text) if isinstance(pdf_or_text, bytes) else pdf_or_text
    return flat(needle) in flat(text)


def embedded_codes(pdf: bytes) -> list[str]:
    """Decode every barcode the PDF draws (vector bars since issue 15, no image any
    more), from a 300 dpi render by poppler's pdftoppm; Code 128 only, the one
    symbology the documents print (zxing, lenient on quiet zones, can read a ghost
    EAN-13 inside the Code 128 of some gift card numbers)."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from PIL import Image

    if shutil.which("pdftoppm") is None:
        raise RuntimeError("pdftoppm is missing: run tools/system-deps.sh (poppler-utils)")
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "doc.pdf"
        src.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-gray", "-r", "300", str(src), str(Path(tmp) / "p")],
                       check=True, timeout=60)
        for page in sorted(Path(tmp).glob("p*.pgm")):
            with Image.open(page) as im:
                found += [r.text for r in zxingcpp.read_barcodes(
                    im, formats=zxingcpp.BarcodeFormat.Code128)]
    return found
