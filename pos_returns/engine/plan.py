"""What a return *is* before it is committed: the contract between the policy
engine (which builds a :class:`ReturnPlan` from a :class:`ReturnRequest`) and the
ticket writer (which commits a plan, atomically, with its journal record).

Amounts are integer euro cents. Refund amounts are what goes *to* the customer;
a negative refund is money the customer pays (an exchange whose new items cost
more than what comes back, R16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pos_returns.engine.domain import Condition, TenderKind
from pos_returns.i18n import N_, _


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    NEEDS_MANAGER = "needs_manager"  # a manager may approve (R01 override, R12, R07, ...)
    REFUSED = "refused"  # refused outright; a manager override is still possible (R01)


class TicketKind(StrEnum):
    RECEIPT = "receipt"
    NO_RECEIPT = "no_receipt"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason behind a verdict: the rule id (``R13``) and a French explanation."""

    rule: str
    message: str
    # Added by the policy engine (H2): how the reason weighs. "info" (basis, notice),
    # "warning" (shown, not blocking), "manager" (a manager must approve), "refused"
    # (refused unless a manager overrides, R01), "override" (a manager's decision).
    level: str = "info"


# Fine jewelry (R14, pos_returns.engine.jewelry): what the specialist records for a piece and what
# the customer shows. Defined here so that requests can carry them; re-exported by jewelry.
INSPECTION_ITEMS: tuple[tuple[str, str], ...] = (
    ("condition", N_("General condition (no scratches, no deformation)")),
    ("hallmark", N_("Hallmark present and legible")),
    ("clasp", N_("Clasp and setting work")),
    ("stones", N_("Stones present, set and undamaged")),
)


@dataclass(frozen=True, slots=True)
class Inspection:
    """The jewelry specialist's checklist for one piece; None = not checked yet."""

    condition: bool | None = None
    hallmark: bool | None = None
    clasp: bool | None = None
    stones: bool | None = None
    notes: str = ""

    def results(self) -> dict[str, bool | None]:
        return {key: getattr(self, key) for key, _label in INSPECTION_ITEMS}

    @property
    def complete(self) -> bool:
        return all(v is not None for v in self.results().values())

    @property
    def passed(self) -> bool:
        return all(v is True for v in self.results().values())

    def failed_labels(self) -> list[str]:
        return [_(label) for key, label in INSPECTION_ITEMS if getattr(self, key) is False]

    def as_record(self) -> dict[str, object]:
        """What goes on the ticket and into the journal."""
        return {**self.results(), "notes": self.notes.strip()}


@dataclass(frozen=True, slots=True)
class Proof:
    """What the customer shows for a fine-jewelry return."""

    packing_slip: str = ""
    card_last4: str = ""
    card_fingerprint: str = ""  # read by the card terminal, never typed


@dataclass(frozen=True, slots=True)
class LineRequest:
    """A line the customer brings back: a sale line (with a record of sale) or a
    SKU (no record of sale, R07)."""

    quantity: int
    condition: Condition = Condition.NEW_WITH_TAGS
    reason: str = ""  # a reason code from RETURN_REASONS
    sale_line_id: int | None = None
    sku: str = ""  # no-receipt returns only
    serial_number: str = ""  # fine jewelry: the serial read off the piece (R14)
    inspection: Inspection | None = None  # fine jewelry: the checklist (R14, H9)


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item taken in exchange (R16), at its current price."""

    sku: str
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class Approval:
    """A manager's decision on a line (``line_no``) or the whole ticket (None)."""

    rule: str
    manager_id: int
    decision: str  # "approved" | "refused"
    reason: str  # written reason, mandatory (R01)
    line_no: int | None = None
    # the proof (issue 12): a single-use token minted by usecases.auth.grant_approvals
    # inside the call that checked the manager's PIN; the ticket writer refuses an
    # approval without a valid, unused one
    token: str = field(default="", repr=False)
    # the draft it was granted for (engine.approvals.draft_digest), as the token says it:
    # lets the till drop a decision made for another version of the return (the token's
    # MAC covers it; this copy proves nothing by itself)
    draft: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class PlannedLine:
    line_no: int
    direction: str  # "return" | "sale"
    sku: str
    name: str
    department: str
    quantity: int
    unit_amount: int  # cents per unit refunded (return) or charged (sale)
    amount: int  # signed: negative for a returned line, positive for a new item
    vat_rate_bp: int
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    sale_line_id: int | None = None
    condition: str = ""
    reason: str = ""
    restocking_fee: int = 0
    serial_number: str = ""
    overridable: bool = True  # False: no manager approval can change this verdict

    @property
    def rule_codes(self) -> str:
        return ",".join(dict.fromkeys(r.rule for r in self.reasons))


@dataclass(frozen=True, slots=True)
class PlannedRefund:
    """Money to the customer on one tender (negative: the customer pays)."""

    kind: TenderKind
    amount: int
    sale_tender_id: int | None = None  # the sale's tender it goes back to
    card_last4: str = ""
    new_gift_card: bool = False  # issue a new Alamara Gift Card for this amount
    # (policy engine, H2: a ticket may hold several new_gift_card refunds, one per gift
    # card / Notes tender they come from; the writer may issue them as one card.)
    beyond_original: bool = False  # R05: the card gets more than it was charged
    reasons: tuple[Reason, ...] = ()
    needs_manager: bool = False  # e.g. cash above the ceiling


@dataclass(frozen=True, slots=True)
class ReturnRequest:
    """Everything the engine needs to decide, gathered by the till."""

    store_id: int
    till_no: int
    staff_id: int
    sale_id: int | None  # None: no record of sale (R07), after R08's search failed
    lines: tuple[LineRequest, ...]
    new_items: tuple[NewItem, ...] = ()
    gift: bool = False  # gift receipt, or the customer says it was a gift (R06)
    approvals: tuple[Approval, ...] = ()
    presented_card_last4: str = ""  # the card the customer presents for a card refund
    prefer_gift_card: bool = False  # customer asks for a gift card instead of cash/card
    no_receipt_history_count: int = 0  # R19: earlier no-receipt returns of this identity
    no_receipt_history_amount: int = 0
    jewelry_mode: bool = False  # fine-jewelry counter mode is on (R14)
    offline: bool = False
    # Added by the policy engine (H2), all with defaults (see docs/policy.md):
    other_ways_searched: bool = False  # R08: the sale was searched for another way first
    id_checked: bool = False  # R07: the customer's ID was recorded (no-receipt returns)
    packing_slip: str = ""  # R14: the packing slip number the customer shows
    exchange_payment_kind: TenderKind = TenderKind.CARD  # R16: how the customer pays a balance
    # Added by the ID capture (H8): the id_checks row of a no-receipt return (R07/R19), to
    # link with usecases.idcheck.link_ticket() in the ticket's transaction. Never ID data.
    id_check_uuid: str = ""
    # Added by the fine-jewelry mode (H9, R14): the fingerprint of the presented card as
    # read by the payment terminal, and the customer's on-screen signature (PNG bytes,
    # stored with the ticket, its SHA-256 in the journal record).
    presented_card_fingerprint: str = ""
    signature_png: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class ReturnPlan:
    """The engine's answer: per line verdicts, where the money goes, totals."""

    request: ReturnRequest
    kind: TicketKind
    lines: tuple[PlannedLine, ...]
    refunds: tuple[PlannedRefund, ...]
    approvals: tuple[Approval, ...] = ()
    notices: tuple[Reason, ...] = ()  # ticket-wide remarks (R10 shipping kept, R15 duties...)

    @property
    def refund_total(self) -> int:
        """Merchandise credited (positive), before fees."""
        return -sum(line.amount for line in self.lines if line.direction == "return")

    @property
    def charge_total(self) -> int:
        return sum(line.amount for line in self.lines if line.direction == "sale")

    @property
    def restocking_fees(self) -> int:
        return sum(line.restocking_fee for line in self.lines)

    @property
    def net(self) -> int:
        """Positive: money to the customer; negative: the customer pays."""
        return self.refund_total - self.restocking_fees - self.charge_total

    @property
    def waiting_lines(self) -> tuple[PlannedLine, ...]:
        """Returned lines not accepted (waiting for a manager, or refused)."""
        return tuple(line for line in self.lines
                     if line.direction == "return" and line.verdict != Verdict.ACCEPTED)

    @property
    def waiting_total(self) -> int:
        """Merchandise on the lines not accepted (positive): never in ``accepted_net``."""
        return -sum(line.amount for line in self.waiting_lines)

    @property
    def accepted_net(self) -> int:
        """``net`` counting only the accepted lines: what the till may announce while
        some line still waits for a manager or is refused (a refused line is never
        money the customer gets)."""
        waiting = self.waiting_lines
        return self.net - (-sum(line.amount for line in waiting)
                           - sum(line.restocking_fee for line in waiting))

    @property
    def blocked(self) -> bool:
        """True while some line or refund still waits for a manager or is refused."""
        return any(line.verdict != Verdict.ACCEPTED for line in self.lines) or any(
            r.needs_manager for r in self.refunds
        )


@dataclass(frozen=True, slots=True)
class CommittedTicket:
    """What the writer returns once the ticket is in the cache and the journal."""

    ticket_id: int
    uuid: str
    number: int  # gap-free per till
    store_id: int
    till_no: int
    created_at: str
    plan: ReturnPlan
    gift_cards: tuple[tuple[str, str, int], ...] = field(default_factory=tuple)
    # (number, security code shown once, amount) of the gift cards issued
    signature: str = ""  # the journal record's signature (hex), printed in excerpt


# --------------------------------------------------------------------------- same plan?

_LINE_FIELDS = {  # what the ticket writer records of a line -> what the salesperson reads
    "verdict": N_("line {line}: the decision"),
    "overridable": N_("line {line}: the decision"),
    "amount": N_("line {line}: the amount"),
    "unit_amount": N_("line {line}: the amount"),
    "restocking_fee": N_("line {line}: the restocking fee"),
    "vat_rate_bp": N_("line {line}: the VAT rate"),
}
_REFUND_FIELDS = {
    "amount": N_("the refund amounts"),
    "new_gift_card": N_("the gift cards to issue"),
    "needs_manager": N_("the manager's decisions needed"),
}


def _rules(reasons: tuple[Reason, ...]) -> tuple[tuple[str, str], ...]:
    """A reason as the ticket records it: its rule and its weight (the wording follows
    the language and the manager's name; it is not what is compared)."""
    return tuple((r.rule, r.level) for r in reasons)


def _line_difference(given: PlannedLine, decided: PlannedLine) -> str:
    for name in PlannedLine.__dataclass_fields__:
        if name == "reasons":
            if _rules(given.reasons) != _rules(decided.reasons):
                return _("line {line}: the rules applied").format(line=decided.line_no)
        elif getattr(given, name) != getattr(decided, name):
            text = _LINE_FIELDS.get(name, N_("line {line}: the article, the quantity or "
                                             "the condition"))
            return _(text).format(line=decided.line_no)
    return ""


def _refund_difference(given: PlannedRefund, decided: PlannedRefund) -> str:
    for name in PlannedRefund.__dataclass_fields__:
        if name == "reasons":
            if _rules(given.reasons) != _rules(decided.reasons):
                return _("the rules of the refunds")
        elif getattr(given, name) != getattr(decided, name):
            # kind, tender, card, beyond_original: where the money goes
            return _(_REFUND_FIELDS.get(name, N_("where the money goes")))
    return ""


def plan_difference(given: ReturnPlan, decided: ReturnPlan) -> str:
    """The first point where ``given`` (a plan someone asks to commit) differs from
    ``decided`` (what the engine decides for the same request), in words; "" when
    they are the same: the kind of ticket, every line (verdict, amounts, restocking
    fee, rules), every refund (kind, amount, tender, card, gift card, R05, manager
    needed) and the manager's decisions applied."""
    if given.kind != decided.kind:
        return _("the kind of ticket")
    if len(given.lines) != len(decided.lines):
        return _("the lines")
    for g, d in zip(given.lines, decided.lines, strict=True):
        text = _line_difference(g, d)
        if text:
            return text
    if len(given.refunds) != len(decided.refunds):
        return _("where the money goes")
    for gr, dr in zip(given.refunds, decided.refunds, strict=True):
        text = _refund_difference(gr, dr)
        if text:
            return text
    if given.approvals != decided.approvals:
        return _("the manager's decisions")
    return ""
