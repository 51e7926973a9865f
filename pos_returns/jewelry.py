"""Fine jewelry (R14): the counter mode and the checks a piece needs before it
comes back.

Pure functions: the policy engine calls :func:`check_line` for every fine-jewelry
line and the UI shows the reasons. What is checked (docs/jewelry.md):

* the store has a Fine Jewelry department, else the till names the nearest
  stores that have one;
* the person is a jewelry specialist or a manager, and the counter is in
  fine-jewelry mode;
* proof, as the policy asks: the packing slip of an online order and/or the card
  used (last 4 digits *and* the card fingerprint read by the terminal must match
  one of the sale's card tenders); a store sale paid without a card is proven by
  its receipt;
* the serial number engraved on the piece matches the sale line;
* the inspection checklist (condition, hallmark, clasp, stones) is complete; a
  failed item sends the line to a manager (R12);
* above the configured value (default 1 000 €) a manager approves;
* the customer signs on screen (:func:`signature_required`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .domain import Role, Sale, SaleLine, Staff, Store, TenderKind
from .i18n import N_, _
from .plan import Reason, Verdict

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
class JewelryCheck:
    verdict: Verdict
    reasons: tuple[Reason, ...]


def _norm(text: str) -> str:
    """Engravings and slips read aloud or typed: only letters and digits count."""
    return "".join(c for c in text.upper() if c.isalnum())


def may_enter_mode(store: Store, staff: Staff) -> Reason | None:
    """None when ``staff`` may switch this till to fine-jewelry mode, else why not."""
    if not store.has_fine_jewelry:
        return Reason("R14", _("This store has no Fine Jewelry department."))
    if staff.role not in (Role.JEWELRY, Role.MANAGER):
        return Reason(
            "R14", _("Only jewelry specialists and managers can use the fine-jewelry mode.")
        )
    return None


def distance_km(a: Store, b: Store) -> float:
    """Great-circle distance between two stores (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def nearest_jewelry_stores(
    stores: Iterable[Store], here: Store, *, limit: int = 3
) -> list[tuple[Store, float]]:
    """The stores with a Fine Jewelry department, nearest first (excluding ``here``)."""
    found = [(s, distance_km(here, s)) for s in stores if s.has_fine_jewelry and s.id != here.id]
    found.sort(key=lambda pair: (pair[1], pair[0].id))
    return found[:limit]


def proof_reason(sale: Sale, proof: Proof) -> Reason | None:
    """None when the proof matches the sale, else the reason it does not (R14)."""
    cards = [t for t in sale.tenders if t.kind == TenderKind.CARD]
    slip_ok = bool(sale.packing_slip) and _norm(proof.packing_slip) == _norm(sale.packing_slip)
    card_given = bool(proof.card_last4 or proof.card_fingerprint)
    card_ok = any(
        t.card_last4 == proof.card_last4.strip()
        and bool(proof.card_fingerprint)
        and t.card_fingerprint == proof.card_fingerprint
        for t in cards
    )
    if slip_ok or card_ok:
        return None
    if proof.packing_slip and sale.packing_slip and not slip_ok:
        return Reason("R14", _("The packing slip number does not match this order."))
    if card_given and not card_ok:
        return Reason("R14", _("The card presented is not the card used for this purchase."))
    if not cards and not sale.packing_slip:
        return None  # a store sale paid without a card: its receipt is the proof
    if sale.packing_slip:
        return Reason(
            "R14", _("Ask for the packing slip or the card used for the order.")
        )
    return Reason("R14", _("Ask for the card used for the purchase."))


def check_line(
    *,
    sale: Sale,
    line: SaleLine,
    store: Store,
    staff: Staff,
    jewelry_mode: bool,
    proof: Proof,
    serial_number: str,
    inspection: Inspection,
    amount: int,
    threshold: int,
    nearest: Sequence[Store] = (),
) -> JewelryCheck:
    """Every R14 check for one fine-jewelry line; the worst verdict wins."""
    refused: list[Reason] = []
    manager: list[Reason] = []
    if not store.has_fine_jewelry:
        names = ", ".join(f"{s.name} ({s.city})" for s in nearest)
        msg = _("Fine jewelry can only be returned in a store with a Fine Jewelry department.")
        if names:
            msg += " " + _("Nearest: {stores}.").format(stores=names)
        refused.append(Reason("R14", msg))
    else:
        if staff.role not in (Role.JEWELRY, Role.MANAGER):
            refused.append(Reason(
                "R14", _("Fine jewelry is returned by a jewelry specialist or a manager.")
            ))
        if not jewelry_mode:
            refused.append(Reason(
                "R14", _("Switch the till to fine-jewelry mode to return this piece.")
            ))
    why = proof_reason(sale, proof)
    if why is not None:
        refused.append(why)
    if line.serial_number:
        if not serial_number.strip():
            refused.append(Reason("R14", _("Read the serial number engraved on the piece.")))
        elif _norm(serial_number) != _norm(line.serial_number):
            refused.append(Reason(
                "R14", _("The serial number {serial} does not match the piece sold.").format(
                    serial=serial_number.strip()
                ),
            ))
    if not inspection.complete:
        refused.append(Reason("R14", _("Complete the inspection checklist.")))
    elif not inspection.passed:
        manager.append(Reason(
            "R12", _("Inspection found: {items}. A manager decides.").format(
                items=", ".join(inspection.failed_labels())
            ),
        ))
    if amount > threshold:
        manager.append(Reason("R14", _("High-value piece: a manager approves the return.")))
    if refused:
        return JewelryCheck(Verdict.REFUSED, tuple(refused + manager))
    if manager:
        return JewelryCheck(Verdict.NEEDS_MANAGER, tuple(manager))
    return JewelryCheck(Verdict.ACCEPTED, (Reason("R14", _("Fine-jewelry checks passed.")),))


def signature_required(has_jewelry_lines: bool) -> bool:
    """The customer signs on screen for every ticket that returns fine jewelry."""
    return has_jewelry_lines
