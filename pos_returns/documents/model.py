"""What a printed return ticket shows, as plain data, read from the cache.

:class:`TicketDocument` is the printer's view of a committed return ticket. It
is built straight from the cache tables (``return_tickets``, ``return_lines``,
``refunds``, ``approvals``, ``gift_cards``, ``sales``, ``stores``, ``staff`` and,
when it exists, the fiscal ``journal``), so printing and reprinting need nothing
but the ticket id. Amounts are integer euro cents; the sign convention is the
ticket's: returned lines negative, new items and fees kept positive, refunds
positive when the money goes to the customer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlite_utils import Database

from pos_returns import __version__
from pos_returns.cache.jewelry import load_ticket_record
from pos_returns.engine.codes import luhn_valid
from pos_returns.engine.vat import VatRow, vat_by_rate  # shared with the journal (pos_returns.vat)
from pos_returns.errors import InvalidInput, NotFound
from pos_returns.i18n import N_, _, to_local

if TYPE_CHECKING:
    from pos_returns.engine.jewelry import TicketJewelry

TICKET_CODE_PREFIX = "T"
_TICKET_CODE = re.compile(r"^T(\d{3})(\d{2})(\d{6})$")


def ticket_code(store_id: int, till_no: int, number: int) -> str:
    """The Code 128 content of a return ticket: ``T`` + store (3) + till (2) + number (6)."""
    if not (0 < store_id <= 999 and 0 < till_no <= 99 and 0 < number <= 999_999):
        raise InvalidInput(
            _("No ticket code for store {store}, till {till}, ticket {number}.").format(
                store=store_id, till=till_no, number=number
            ),
            code="ticket_code",
        )
    return f"{TICKET_CODE_PREFIX}{store_id:03d}{till_no:02d}{number:06d}"


def parse_ticket_code(text: str) -> tuple[int, int, int]:
    """``T00101000042`` -> (store 1, till 1, ticket 42); refuses anything else."""
    match = _TICKET_CODE.match((text or "").strip().upper())
    if not match or 0 in (int(match[1]), int(match[2]), int(match[3])):
        raise InvalidInput(
            _("“{code}” is not a return ticket code (T + 11 digits).").format(
                code=(text or "").strip()[:30]
            ),
            code="ticket_code",
        )
    return int(match[1]), int(match[2]), int(match[3])


def group_digits(number: str, size: int = 4) -> str:
    """``6012345678901234567`` -> ``6012 3456 7890 1234 567`` (gift card numbers)."""
    return " ".join(number[i : i + size] for i in range(0, len(number), size))


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    name: str
    address: str
    postcode: str
    city: str
    siret: str
    vat_number: str
    code: str = ""

    @property
    def town(self) -> str:
        return f"{self.postcode} {self.city}".strip()


@dataclass(frozen=True, slots=True)
class SaleReference:
    """The sale a ticket returns (absent for a return without a record of sale, R07)."""

    sold_at: str  # UTC "YYYY-MM-DDTHH:MM:SSZ"
    receipt_number: str = ""  # 17 digits, store sales
    order_number: str = ""  # AlamaraStore.com orders
    channel: str = "store"
    international: bool = False
    gift_receipt: bool = False
    shipping: int = 0  # never refunded (R10)
    duties: int = 0  # duties, taxes and tariffs, not refunded in store (R15)


@dataclass(frozen=True, slots=True)
class DocLine:
    line_no: int
    direction: str  # "return" | "sale"
    sku: str
    name: str
    quantity: int
    unit_amount: int
    amount: int  # signed: returned lines negative, new items positive
    vat_rate_bp: int
    condition: str = ""
    reason: str = ""
    restocking_fee: int = 0  # kept by the store on this returned line (R18)
    serial_number: str = ""
    rule_codes: str = ""


@dataclass(frozen=True, slots=True)
class DocRefund:
    kind: str  # "card" | "cash" | "gift_card" | "notes"
    amount: int  # to the customer; negative: the customer pays
    card_last4: str = ""
    gift_card_number: str = ""  # a new Alamara Gift Card issued for this amount
    beyond_original: bool = False  # R05
    # What the payment terminal confirmed (issue 14): "terminal" | "manual" | "checked".
    terminal_status: str = ""
    card_application: str = ""  # Caisse-AP CC, e.g. "00B"
    transaction_id: str = ""  # AA-…|AB-…|AC-…|AI-…
    auth_number: str = ""  # typed: no terminal connected, or a manager's check


@dataclass(frozen=True, slots=True)
class DocApproval:
    rule: str
    manager_name: str
    decision: str  # "approved" | "refused"
    reason: str
    line_no: int | None = None


@dataclass(frozen=True, slots=True)
class DocGiftCard:
    number: str
    amount: int
    security_code: str = ""  # only known right after issue; never stored in clear


@dataclass(frozen=True, slots=True)
class JournalExcerpt:
    seq: int
    signature: str  # hex

    @property
    def excerpt(self) -> str:
        sig = self.signature
        if len(sig) <= 20:
            return sig
        return f"{sig[:8]}…{sig[-8:]}"


SOFTWARE_NAME = "Alamara Retours"

# The identity document of a no-receipt return, as printed (R07): its type and the last
# 4 characters only. The labels mirror usecases.idcheck.DOC_TYPE_LABELS (same msgids).
ID_DOC_LABELS = {
    "cni": N_("National identity card"),
    "passport": N_("Passport"),
    "residence_permit": N_("Residence permit"),
    "driving_licence": N_("Driving licence"),
}


def software_version() -> str:
    """``Alamara Retours 0.1.0``: the software that made the document (NF525)."""
    return f"{SOFTWARE_NAME} {__version__}"


@dataclass(frozen=True, slots=True)
class DocumentSettings:
    """What the till's configuration adds to every document."""

    nf525_certificate: str = ""  # empty: « en cours de certification »
    privacy_contact: str = ""  # where the customer exercises RGPD rights
    gift_card_validity_months: int = 0  # 0: no validity date printed

    @classmethod
    def from_config(cls, cfg: object) -> DocumentSettings:
        return cls(nf525_certificate=str(getattr(cfg, "nf525_certificate", "") or ""),
                   privacy_contact=str(getattr(cfg, "privacy_contact", "") or ""),
                   gift_card_validity_months=int(getattr(cfg, "gift_card_validity_months", 0)))


def add_months(day: date, months: int) -> date:
    """``day`` + ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


def valid_until(issued_at: str, months: int) -> str:
    """The last day a gift card issued at ``issued_at`` (UTC) is valid, ISO; "" if none."""
    if months <= 0 or not issued_at:
        return ""
    return add_months(to_local(issued_at).date(), months).isoformat()


@dataclass(frozen=True, slots=True)
class DocIdentity:
    """The ID checked for a no-receipt return (R07): its type and last 4 characters."""

    doc_type: str
    last4: str

    @property
    def label(self) -> str:
        return _(ID_DOC_LABELS[self.doc_type]) if self.doc_type in ID_DOC_LABELS else (
            self.doc_type)


@dataclass(frozen=True, slots=True)
class TicketDocument:
    """A printable return ticket: everything the PDF shows, nothing else."""

    store: StoreIdentity
    store_id: int
    ticket_id: int
    uuid: str
    number: int
    till_no: int
    staff_name: str
    created_at: str  # UTC "YYYY-MM-DDTHH:MM:SSZ"
    kind: str  # "receipt" | "no_receipt" | "exchange"
    sale: SaleReference | None
    lines: tuple[DocLine, ...]
    refunds: tuple[DocRefund, ...] = ()
    approvals: tuple[DocApproval, ...] = ()
    gift_cards: tuple[DocGiftCard, ...] = ()
    journal: JournalExcerpt | None = None
    duplicate: bool = False
    offline: bool = False
    gift: bool = False
    staff_code: str = ""
    copy: int = 0  # on a DUPLICATA: which reprint this is (journal DUPLICATA records)
    # fine jewelry (H9, R14): the customer's signature and each piece's inspection
    jewelry: TicketJewelry | None = None
    # on a DUPLICATA: when, and by whom, this reprint was made (its journal record)
    reprinted_at: str = ""  # UTC "YYYY-MM-DDTHH:MM:SSZ"
    reprinted_by: str = ""
    identity: DocIdentity | None = None  # no-receipt returns (R07)
    settings: DocumentSettings = DocumentSettings()
    software: str = ""  # "Alamara Retours 0.1.0"; filled by ticket_document_from_db

    @property
    def certificate(self) -> str:
        """The NF525 certificate reference, or « en cours de certification »."""
        return self.settings.nf525_certificate or _("certification in progress")

    @property
    def paid_card_last4(self) -> str:
        return next((r.card_last4 for r in self.refunds
                     if r.kind == "card" and r.amount < 0 and r.card_last4), "")

    @property
    def copies(self) -> tuple[str, ...]:
        """The paper copies: the customer's, and the store's when it keeps a signed one
        (cash handed over, a return without receipt, fine jewelry)."""
        store_keeps = (self.kind == "no_receipt" or self.jewelry is not None
                       or any(r.kind == "cash" and r.amount > 0 for r in self.refunds))
        return ("customer", "store") if store_keeps else ("customer",)

    def gift_card_valid_until(self) -> str:
        return valid_until(self.created_at, self.settings.gift_card_validity_months)

    # -- what the ticket is -------------------------------------------------------

    @property
    def code(self) -> str:
        """The barcode content: ``T`` + store (3) + till (2) + number (6)."""
        return ticket_code(self.store_id, self.till_no, self.number)

    @property
    def returned_lines(self) -> tuple[DocLine, ...]:
        return tuple(line for line in self.lines if line.direction == "return")

    @property
    def new_items(self) -> tuple[DocLine, ...]:
        return tuple(line for line in self.lines if line.direction == "sale")

    @property
    def is_credit_note(self) -> bool:
        """An *avoir*: the whole refund is a new Alamara Gift Card (R04, R06, R07)."""
        to_customer = [r for r in self.refunds if r.amount > 0]
        return bool(to_customer) and all(r.gift_card_number for r in to_customer)

    # -- totals -------------------------------------------------------------------

    @property
    def refund_total(self) -> int:
        """Merchandise credited, positive."""
        return -sum(line.amount for line in self.returned_lines)

    @property
    def charge_total(self) -> int:
        return sum(line.amount for line in self.new_items)

    @property
    def restocking_fees(self) -> int:
        return sum(line.restocking_fee for line in self.lines)

    @property
    def total_ttc(self) -> int:
        """The ticket's signed total: negative when money goes back to the customer."""
        return sum(line.amount for line in self.lines) + self.restocking_fees

    @property
    def net_to_customer(self) -> int:
        return -self.total_ttc

    @property
    def vat_rows(self) -> tuple[VatRow, ...]:
        """VAT per rate, split from the TTC amounts (fees at their line's rate)."""
        return vat_by_rate(
            (line.amount + line.restocking_fee, line.vat_rate_bp) for line in self.lines
        )

    @property
    def total_ht(self) -> int:
        return sum(row.ht for row in self.vat_rows)

    @property
    def total_vat(self) -> int:
        return sum(row.vat for row in self.vat_rows)

    @property
    def refunds_total(self) -> int:
        return sum(r.amount for r in self.refunds)

    @property
    def has_card_refund(self) -> bool:
        return any(r.kind == "card" and r.amount > 0 for r in self.refunds)


# -- reading a ticket from the cache ------------------------------------------------


def _table_exists(db: Database, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def _columns(db: Database, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()]


def journal_excerpt(db: Database, ticket_id: int, uuid: str) -> JournalExcerpt | None:
    """The journal record of a ticket (its seq and signature), when the journal exists.

    The journal belongs to :mod:`pos_returns.journal.chain`; this reads it defensively
    (by column name) so that printing never depends on its internals beyond
    "a row with a sequence number and a signature that names the ticket".
    """
    if not _table_exists(db, "journal"):
        return None
    cols = set(_columns(db, "journal"))
    seq_col = next((c for c in ("seq", "sequence", "id") if c in cols), None)
    sig_col = next((c for c in ("signature", "sig", "signature_hex") if c in cols), None)
    if seq_col is None or sig_col is None:
        return None
    where: list[str] = []
    params: list[object] = []
    for col in ("ticket_id", "document_id", "ref_id"):
        if col in cols:
            where.append(f"{col} = ?")
            params.append(ticket_id)
    for col in ("ticket_uuid", "document_uuid", "doc_uuid", "ref_uuid", "ref"):
        if col in cols:
            where.append(f"{col} = ?")
            params.append(uuid)
    payload_col = next((c for c in ("payload", "data", "body", "canonical") if c in cols), None)
    if not where and payload_col:
        where.append(f"{payload_col} LIKE ?")
        params.append(f"%{uuid}%")
    if not where:
        return None
    kind_filter, order = "", str(seq_col)
    kind_col = next((c for c in ("kind", "type", "event") if c in cols), None)
    if kind_col:
        # the ticket's own record first, never the DUPLICATA records that also name it
        kind_filter = f" AND lower({kind_col}) NOT LIKE '%dup%'"
        order = f"({kind_col} = 'ticket') DESC, {seq_col}"
    row = db.execute(
        f"SELECT {seq_col}, {sig_col} FROM journal WHERE ({' OR '.join(where)}){kind_filter} "
        f"ORDER BY {order} LIMIT 1",
        params,
    ).fetchone()
    if row is None or not row[1]:
        return None
    signature = row[1] if isinstance(row[1], str) else bytes(row[1]).hex()
    return JournalExcerpt(seq=int(row[0]), signature=signature)


def duplicate_count(db: Database, uuid: str) -> int:
    """How many DUPLICATA records the journal holds for the ticket ``uuid``."""
    if not _table_exists(db, "journal"):
        return 0
    cols = set(_columns(db, "journal"))
    if not {"kind", "ticket_uuid"} <= cols:
        return 0
    row = db.execute(
        "SELECT COUNT(*) FROM journal WHERE kind = 'duplicate' AND ticket_uuid = ? "
        "AND ticket_uuid != ''", [uuid]
    ).fetchone()
    return int(row[0])


def reprint_record(db: Database, uuid: str) -> tuple[str, str]:
    """(when, by whom) of the latest DUPLICATA journal record of ticket ``uuid``."""
    if not _table_exists(db, "journal"):
        return "", ""
    row = db.execute(
        "SELECT created_at, payload FROM journal WHERE kind = 'duplicate' AND ticket_uuid = ? "
        "AND ticket_uuid != '' "
        "ORDER BY seq DESC LIMIT 1", [uuid]).fetchone()
    if row is None:
        return "", ""
    try:
        staff_id = json.loads(row[1]).get("staff_id")
    except (ValueError, AttributeError):
        staff_id = None
    name = ""
    if staff_id is not None:
        staff = db.execute("SELECT name FROM staff WHERE id = ?", [staff_id]).fetchone()
        name = staff[0] if staff else str(staff_id)
    return str(row[0]), name


def identity_of(db: Database, uuid: str) -> DocIdentity | None:
    """The ID type and last 4 of a no-receipt return (the id_checks table, if still there:
    the purge may have removed it after its retention period)."""
    if not _table_exists(db, "id_checks"):
        return None
    row = db.execute("SELECT doc_type, last4 FROM id_checks WHERE ticket_uuid = ? "
                     "ORDER BY created_at DESC LIMIT 1", [uuid]).fetchone()
    return DocIdentity(row[0], row[1]) if row else None


def _sale_reference(db: Database, sale_id: int | None) -> SaleReference | None:
    if sale_id is None:
        return None
    r = db.execute(
        "SELECT sold_at, receipt_number, order_number, channel, international, "
        "gift_receipt, shipping, duties FROM sales WHERE id = ?",
        [sale_id],
    ).fetchone()
    if r is None:
        return None
    return SaleReference(
        sold_at=r[0], receipt_number=r[1] or "", order_number=r[2] or "",
        channel=r[3], international=bool(r[4]), gift_receipt=bool(r[5]),
        shipping=int(r[6]), duties=int(r[7]),
    )


def _doc_lines(db: Database, tid: int) -> tuple[DocLine, ...]:
    return tuple(
        DocLine(
            line_no=row[0], direction=row[1], sku=row[2], name=row[3] or row[2],
            quantity=row[4], unit_amount=row[5], amount=row[6], vat_rate_bp=row[7],
            condition=row[8], reason=row[9], restocking_fee=row[10], serial_number=row[11],
            rule_codes=row[12],
        )
        for row in db.execute(
            "SELECT l.line_no, l.direction, l.sku, p.name, l.quantity, l.unit_amount, l.amount, "
            "l.vat_rate_bp, l.condition, l.reason, l.restocking_fee, l.serial_number, "
            "l.rule_codes FROM return_lines l LEFT JOIN products p ON p.sku = l.sku "
            "WHERE l.ticket_id = ? ORDER BY l.direction = 'sale', l.line_no",
            [tid],
        ).fetchall()
    )


def _doc_refunds(db: Database, tid: int) -> tuple[DocRefund, ...]:
    return tuple(
        DocRefund(kind=row[0], amount=row[1], card_last4=row[2], gift_card_number=row[3],
                  beyond_original=bool(row[4]), terminal_status=row[5], card_application=row[6],
                  transaction_id=row[7], auth_number=row[8])
        for row in db.execute(
            "SELECT kind, amount, card_last4, gift_card_number, beyond_original, "
            "terminal_status, card_application, transaction_id, auth_number FROM refunds "
            "WHERE ticket_id = ? ORDER BY id",
            [tid],
        ).fetchall()
    )


def _doc_approvals(db: Database, tid: int) -> tuple[DocApproval, ...]:
    return tuple(
        DocApproval(rule=row[0], manager_name=row[1] or str(row[5]), decision=row[2],
                    reason=row[3], line_no=row[4])
        for row in db.execute(
            "SELECT a.rule, m.name, a.decision, a.reason, a.line_no, a.manager_id "
            "FROM approvals a LEFT JOIN staff m ON m.id = a.manager_id "
            "WHERE a.ticket_id = ? ORDER BY a.id",
            [tid],
        ).fetchall()
    )


def _doc_gift_cards(db: Database, tid: int, refunds: tuple[DocRefund, ...],
                    codes: dict[str, str], *, duplicate: bool) -> tuple[DocGiftCard, ...]:
    """The new gift cards the ticket loads; their security code on the first print only."""
    cards: dict[str, DocGiftCard] = {}
    for number_, amount in db.execute(
        "SELECT number, initial_amount FROM gift_cards WHERE issued_ticket_id = ? "
        "ORDER BY rowid",
        [tid],
    ).fetchall():
        code = "" if duplicate else codes.get(number_, "")
        cards[number_] = DocGiftCard(number_, int(amount), code)
    for refund in refunds:  # a refund naming a card the gift_cards table does not (yet) hold
        if refund.gift_card_number and refund.gift_card_number not in cards:
            cards[refund.gift_card_number] = DocGiftCard(
                refund.gift_card_number, refund.amount,
                "" if duplicate else codes.get(refund.gift_card_number, ""),
            )
    return tuple(cards.values())


def ticket_document_from_db(
    db: Database,
    ticket_id: int,
    *,
    duplicate: bool = False,
    security_codes: dict[str, str] | None = None,
    settings: DocumentSettings | None = None,
) -> TicketDocument:
    """Build the printable view of ticket ``ticket_id`` from the cache.

    ``security_codes`` maps a new gift card number to its security code, known
    only right after issue (:class:`~pos_returns.engine.plan.CommittedTicket`): the
    first print shows it, a DUPLICATA never can (only its hash is stored).
    """
    t = db.execute(
        "SELECT id, uuid, store_id, till_no, number, created_at, staff_id, sale_id, kind, "
        "gift, offline FROM return_tickets WHERE id = ?",
        [ticket_id],
    ).fetchone()
    if t is None:
        raise NotFound(_("Return ticket {id} does not exist.").format(id=ticket_id))
    (tid, uuid, store_id, till_no, number, created_at, staff_id, sale_id, kind, gift,
     offline) = t
    s = db.execute(
        "SELECT name, address, postcode, city, siret, vat_number, code FROM stores WHERE id = ?",
        [store_id],
    ).fetchone()
    if s is None:
        raise NotFound(_("Store {id} is not in the local cache.").format(id=store_id))
    store = StoreIdentity(*s)
    staff = db.execute("SELECT name, code FROM staff WHERE id = ?", [staff_id]).fetchone()
    staff_name, staff_code = (staff[0], staff[1]) if staff else (str(staff_id), "")

    sale = _sale_reference(db, sale_id)
    lines = _doc_lines(db, tid)
    refunds = _doc_refunds(db, tid)
    approvals = _doc_approvals(db, tid)
    cards = _doc_gift_cards(db, tid, refunds, security_codes or {}, duplicate=duplicate)
    reprinted = reprint_record(db, uuid) if duplicate else ("", "")
    return TicketDocument(
        store=store, store_id=int(store_id), ticket_id=int(tid), uuid=uuid, number=int(number),
        till_no=int(till_no), staff_name=staff_name, staff_code=staff_code,
        created_at=created_at, kind=kind, sale=sale, lines=lines, refunds=refunds,
        approvals=approvals, gift_cards=cards,
        journal=journal_excerpt(db, int(tid), uuid), duplicate=duplicate,
        offline=bool(offline), gift=bool(gift),
        copy=duplicate_count(db, uuid) if duplicate else 0,
        jewelry=_jewelry_record(db, uuid),
        reprinted_at=reprinted[0], reprinted_by=reprinted[1],
        identity=identity_of(db, uuid) if kind == "no_receipt" else None,
        settings=settings or DocumentSettings(), software=software_version(),
    )


def _jewelry_record(db: Database, uuid: str) -> TicketJewelry | None:
    """The signature and inspections kept with a fine-jewelry ticket (R14)."""

    return load_ticket_record(db, uuid)


@dataclass(frozen=True, slots=True)
class GiftCardDocument:
    """A printable Alamara Gift Card."""

    number: str  # 19 digits, Luhn check digit
    amount: int
    issued_at: str  # UTC "YYYY-MM-DDTHH:MM:SSZ"
    security_code: str = ""  # empty on a reprint: only its hash is stored
    store_name: str = ""
    duplicate: bool = False
    valid_until: str = ""  # ISO date, the last day it may be used; "" if none

    def __post_init__(self) -> None:
        if not luhn_valid(self.number):
            raise InvalidInput(
                _("Wrong check digit on this gift card number."), code="check_digit"
            )


def gift_card_document_from_db(
    db: Database, number: str, *, security_code: str = "", duplicate: bool = False,
    validity_months: int = 0,
) -> GiftCardDocument:
    row = db.execute(
        "SELECT g.number, g.initial_amount, g.issued_at, s.name FROM gift_cards g "
        "LEFT JOIN stores s ON s.id = g.store_id WHERE g.number = ?",
        [number],
    ).fetchone()
    if row is None:
        raise NotFound(_("Gift card {number} does not exist.").format(number=group_digits(number)))
    return GiftCardDocument(
        number=row[0], amount=int(row[1]), issued_at=row[2], security_code=security_code,
        store_name=row[3] or "", duplicate=duplicate,
        valid_until=valid_until(row[2], validity_months),
    )
