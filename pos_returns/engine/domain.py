"""Value types shared by every layer. Money is always integer euro cents.

These are plain frozen dataclasses: the store builds them from SQLite rows,
the policy engine reads them, the UI renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

StoreId = NewType("StoreId", int)
StaffId = NewType("StaffId", int)
SaleId = NewType("SaleId", int)
SaleLineId = NewType("SaleLineId", int)
TenderId = NewType("TenderId", int)
CustomerId = NewType("CustomerId", int)
TicketId = NewType("TicketId", int)


class Role(StrEnum):
    SALESPERSON = "salesperson"
    JEWELRY = "jewelry"  # fine-jewelry specialist
    MANAGER = "manager"


class Channel(StrEnum):
    STORE = "store"
    ONLINE = "online"  # AlamaraStore.com


class TenderKind(StrEnum):
    CASH = "cash"
    CARD = "card"  # credit or debit card
    GIFT_CARD = "gift_card"  # Alamara Gift Card
    NOTES = "notes"  # Alamara Notes (loyalty notes)


class Department(StrEnum):
    WOMEN = "women"
    MEN = "men"
    SHOES = "shoes"
    BEAUTY = "beauty"
    OCCASION = "occasion"  # special-occasion dresses
    DESIGNER = "designer"
    JEWELRY = "jewelry"  # fine jewelry
    GIFT_CARDS = "gift_cards"


class Condition(StrEnum):
    NEW_WITH_TAGS = "new_with_tags"
    TAG_REMOVED = "tag_removed"  # the return tag of an occasion / designer item
    WORN = "worn"
    DAMAGED = "damaged"


@dataclass(frozen=True, slots=True)
class Store:
    id: StoreId
    code: str
    name: str
    address: str
    postcode: str
    city: str
    siret: str
    vat_number: str
    has_fine_jewelry: bool
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Staff:
    id: StaffId
    code: str  # staff code / badge
    name: str
    role: Role
    store_id: StoreId

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def may_handle_jewelry(self) -> bool:
        return self.role in (Role.JEWELRY, Role.MANAGER)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    ean: str
    name: str  # French name
    department: Department
    vat_rate_bp: int
    current_price: int  # cents, TTC
    return_tag_required: bool  # special-occasion dresses and designer items (R13)
    fine_jewelry: bool  # (R14)
    gift_card: bool  # gift cards cannot be returned (R09)


@dataclass(frozen=True, slots=True)
class Customer:
    id: CustomerId
    account_number: str
    first_name: str
    last_name: str
    phone: str
    email: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class Tender:
    id: TenderId
    sale_id: SaleId
    kind: TenderKind
    amount: int  # cents paid with this tender
    card_last4: str = ""
    card_fingerprint: str = ""
    card_brand: str = ""
    gift_card_number: str = ""
    refunded: int = 0  # cents already refunded onto this tender, chain-wide


@dataclass(frozen=True, slots=True)
class SaleLine:
    id: SaleLineId
    sale_id: SaleId
    line_no: int
    sku: str
    name: str
    department: Department
    quantity: int
    unit_price: int  # cents actually paid per unit, after discounts, TTC
    list_price: int  # cents per unit before discounts
    vat_rate_bp: int
    serial_number: str = ""
    returned_qty: int = 0  # derived from return lines, chain-wide
    refunded_amount: int = 0  # cents already refunded for this line, chain-wide

    @property
    def refundable_qty(self) -> int:
        return max(0, self.quantity - self.returned_qty)

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True, slots=True)
class Sale:
    id: SaleId
    receipt_number: str  # "" for a web order without store receipt
    order_number: str  # AlamaraStore.com order number, "" for a store sale
    channel: Channel
    store_id: StoreId
    till_no: int
    sold_at: str  # UTC, ISO 8601 "YYYY-MM-DDTHH:MM:SSZ"
    customer_id: CustomerId | None
    international: bool
    gift_receipt: bool
    shipping: int  # cents (never refunded, R10)
    duties: int  # cents of duties, taxes and tariffs (international orders, R15)
    total: int  # cents: merchandise + shipping + duties
    packing_slip: str = ""  # online orders: the packing slip number
    lines: tuple[SaleLine, ...] = field(default_factory=tuple)
    tenders: tuple[Tender, ...] = field(default_factory=tuple)
    customer: Customer | None = None

    @property
    def merchandise_total(self) -> int:
        return sum(line.line_total for line in self.lines)

    @property
    def fully_returned(self) -> bool:
        return all(line.refundable_qty == 0 for line in self.lines)

    def line(self, line_id: int) -> SaleLine:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)
