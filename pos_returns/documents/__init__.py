"""Printed documents: the return ticket / avoir (80 mm roll and A4), the Alamara
Gift Card (85.6 × 54 mm), and where they go (a folder, and a CUPS queue).

Typical use right after a ticket is committed::

    committed = commit_plan(db, plan, ...)
    paths = print_ticket(db, committed.ticket_id, cfg, requested=customer_wants_paper,
                         security_codes={n: code for n, code, _amount in committed.gift_cards})

and for a reprint: ``print_ticket(db, ticket_id, cfg, duplicate=True, requested=True)``
(the DUPLICATA journal record is the ticket writer's job: ``tickets.reprint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from pos_returns.config import TillConfig
from pos_returns.documents.giftcard import render_code_slip_pdf, render_giftcard_pdf
from pos_returns.documents.model import (
    DocApproval,
    DocGiftCard,
    DocLine,
    DocRefund,
    DocumentSettings,
    GiftCardDocument,
    JournalExcerpt,
    SaleReference,
    StoreIdentity,
    TicketDocument,
    gift_card_document_from_db,
    group_digits,
    parse_ticket_code,
    ticket_code,
    ticket_document_from_db,
    vat_by_rate,
)
from pos_returns.documents.printing import (
    PrintFailed,
    must_print,
    save_and_print,
    save_document,
    send_to_printer,
)
from pos_returns.documents.ticket import Paper, render_ticket_pdf
from pos_returns.errors import NotFound

__all__ = [
    "DocApproval",
    "DocGiftCard",
    "DocLine",
    "DocRefund",
    "DocumentSettings",
    "GiftCardDocument",
    "JournalExcerpt",
    "Paper",
    "PrintFailed",
    "PrintResult",
    "SaleReference",
    "StoreIdentity",
    "TicketDocument",
    "TicketPrintJob",
    "deliver_ticket",
    "gift_card_document_from_db",
    "group_digits",
    "must_print",
    "parse_ticket_code",
    "print_ticket",
    "render_code_slip_pdf",
    "render_giftcard_pdf",
    "render_ticket_pdf",
    "save_and_print",
    "save_document",
    "send_to_printer",
    "ticket_code",
    "ticket_document_from_db",
    "ticket_documents",
    "vat_by_rate",
]


@dataclass
class PrintResult:
    """What :func:`deliver_ticket` did: the files saved, and whether they went to the queue."""

    ticket_pdf: Path
    gift_card_pdfs: list[Path] = field(default_factory=list)
    printed: bool = False
    store_copy_pdf: Path | None = None  # « exemplaire magasin », when two copies print
    code_slip_pdfs: list[Path] = field(default_factory=list)  # security codes, at issue
    to_paper: bool = False  # the ticket had to go on paper (asked, card refund, duplicata)


@dataclass(frozen=True)
class TicketPrintJob:
    """Everything a ticket's documents say, read from the cache: the database part of
    printing. Rendering, saving and sending (:func:`deliver_ticket`) need no cache."""

    ticket: TicketDocument
    gift_cards: tuple[GiftCardDocument, ...] = ()
    duplicate: bool = False


def ticket_documents(
    db: Database,
    ticket_id: int,
    *,
    duplicate: bool = False,
    security_codes: dict[str, str] | None = None,
    settings: DocumentSettings | None = None,
) -> TicketPrintJob:
    """The ticket's document and, on the first print, its new gift cards' documents."""
    settings = settings or DocumentSettings()
    doc = ticket_document_from_db(db, ticket_id, duplicate=duplicate,
                                  security_codes=security_codes, settings=settings)
    cards: list[GiftCardDocument] = []
    months = settings.gift_card_validity_months
    if not duplicate:
        for card in doc.gift_cards:
            try:
                card_doc = gift_card_document_from_db(db, card.number,
                                                      security_code=card.security_code,
                                                      validity_months=months)
            except NotFound:  # named by a refund only: print it from the ticket's figures
                card_doc = GiftCardDocument(card.number, card.amount, doc.created_at,
                                            card.security_code, doc.store.name,
                                            valid_until=doc.gift_card_valid_until())
            cards.append(card_doc)
    return TicketPrintJob(doc, tuple(cards), duplicate)


def deliver_ticket(
    job: TicketPrintJob,
    cfg: TillConfig,
    *,
    paper: Paper | str = Paper.ROLL_80,
    requested: bool = False,
) -> PrintResult:
    """Render the ticket (and its new gift cards), save them, and send them to the
    printer queue when the customer asked for paper or the ticket refunds a card
    (:func:`must_print`). A DUPLICATA is always printed. No cache needed: this runs
    on the I/O pool.

    Raises :class:`PrintFailed` (files saved) when the queue refuses.
    """
    doc = job.ticket
    to_paper = requested or job.duplicate or must_print(doc)
    # the CUPS queue is the printer only when printer_kind is "pdf" (the ESC/POS path is
    # pos_returns.usecases.delivery); the files are saved whatever the printer
    to_queue = to_paper and cfg.printer_kind == "pdf"
    name = doc.code + ("-duplicata" if job.duplicate else "")
    two = len(doc.copies) > 1
    path = save_and_print(render_ticket_pdf(doc, paper=paper, copy="customer" if two else ""),
                          kind="ticket", name=name, cfg=cfg, print_it=to_queue)
    result = PrintResult(ticket_pdf=path, printed=to_queue and bool(cfg.printer_queue),
                         to_paper=to_paper)
    if two:
        result.store_copy_pdf = save_and_print(
            render_ticket_pdf(doc, paper=paper, copy="store"), kind="ticket",
            name=name + "-magasin", cfg=cfg, print_it=to_queue)
    for card_doc in job.gift_cards:
        result.gift_card_pdfs.append(
            save_and_print(render_giftcard_pdf(card_doc), kind="giftcard",
                           name=card_doc.number, cfg=cfg, print_it=to_queue)
        )
        if card_doc.security_code:  # the code on its own slip, handed over apart
            result.code_slip_pdfs.append(
                save_and_print(render_code_slip_pdf(card_doc), kind="giftcard-code",
                               name=card_doc.number, cfg=cfg, print_it=to_queue))
    return result


def print_ticket(
    db: Database,
    ticket_id: int,
    cfg: TillConfig,
    *,
    paper: Paper | str = Paper.ROLL_80,
    duplicate: bool = False,
    requested: bool = False,
    security_codes: dict[str, str] | None = None,
) -> PrintResult:
    """:func:`ticket_documents` then :func:`deliver_ticket`, in one call (the command
    line, the review's reprint, the tests)."""
    job = ticket_documents(db, ticket_id, duplicate=duplicate, security_codes=security_codes,
                           settings=DocumentSettings.from_config(cfg))
    return deliver_ticket(job, cfg, paper=paper, requested=requested)
