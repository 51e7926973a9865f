"""Fine jewelry (R14): the counter mode, the checks a piece needs before it comes
back, and what is kept with the ticket (inspection, customer signature).

The policy engine (:func:`pos_returns.engine.policy.decide`) calls :func:`check_line` for
every fine-jewelry line and shows its reasons. What is checked (docs/jewelry.md):

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
* the customer signs on screen: the ticket writer refuses a fine-jewelry ticket
  without a signature (:func:`ticket_record`).

The mode itself is a state of the till's session (the UI holds it); entering and
leaving are technical events of the fiscal journal (:func:`enter_mode`,
:func:`leave_mode`).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pos_returns.engine.domain import Department, Role, Sale, SaleLine, Staff, Store, TenderKind
from pos_returns.engine.plan import INSPECTION_ITEMS, Inspection, Proof, Reason, ReturnPlan, Verdict
from pos_returns.errors import InvalidInput, PolicyRefused
from pos_returns.i18n import _, format_money

__all__ = [
    "INSPECTION_ITEMS",
    "Inspection",
    "JewelryCheck",
    "Proof",
    "TicketJewelry",
    "check_line",
    "is_jewelry_department",
    "may_enter_mode",
    "nearest_jewelry_stores",
    "nearest_text",
    "ticket_record",
]

MODE_ON, MODE_OFF = "jewelry_mode_on", "jewelry_mode_off"
LEAVE_REASONS = ("leave", "lock", "logout", "close", "restart")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class JewelryCheck:
    verdict: Verdict
    reasons: tuple[Reason, ...]


#: A serial number that is not the piece sold (fine jewelry): never overridable (issue 12).
SERIAL_MISMATCH_RULE = "SERIAL"

def _norm(text: str) -> str:
    """Engravings and slips read aloud or typed: only letters and digits count."""
    return "".join(c for c in (text or "").upper() if c.isalnum())


def is_jewelry_department(department: str) -> bool:
    return str(department) == Department.JEWELRY.value


# --------------------------------------------------------------------------- stores


def may_enter_mode(store: Store, staff: Staff) -> Reason | None:
    """None when ``staff`` may switch this till to fine-jewelry mode, else why not."""
    if not store.has_fine_jewelry:
        return Reason("R14", _("This store has no Fine Jewelry department."), "refused")
    if staff.role not in (Role.JEWELRY, Role.MANAGER):
        return Reason(
            "R14", _("Only jewelry specialists and managers can use the fine-jewelry mode."),
            "refused",
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


def nearest_text(nearest: Sequence[Store]) -> str:
    """"Alamara Paris Haussmann (Paris), …" or "" when the chain has none."""
    return ", ".join(f"{s.name} ({s.city})" for s in nearest)


def no_department_message(nearest: Sequence[Store]) -> str:
    msg = _("Fine jewelry can only be returned in a store with a Fine Jewelry department.")
    names = nearest_text(nearest)
    if names:
        msg += " " + _("Nearest: {stores}.").format(stores=names)
    return msg


# --------------------------------------------------------------------------- checks


def proof_reason(sale: Sale, proof: Proof) -> Reason | None:
    """None when the proof matches the sale, else the reason it does not (R14)."""
    cards = [t for t in sale.tenders if t.kind == TenderKind.CARD]
    slip_ok = bool(sale.packing_slip) and _norm(proof.packing_slip) == _norm(sale.packing_slip)
    last4 = proof.card_last4.strip()
    fingerprint = proof.card_fingerprint.strip()
    card_ok = bool(fingerprint) and any(
        t.card_last4 == last4 and t.card_fingerprint == fingerprint for t in cards
    )
    if slip_ok or card_ok:
        return None
    if proof.packing_slip.strip() and sale.packing_slip:
        return Reason(
            "R14", _("The packing slip number does not match this order."), "refused"
        )
    if last4 and not fingerprint and any(t.card_last4 == last4 for t in cards):
        return Reason("R14", _(
            "Read the card on the payment terminal: its fingerprint must match the card "
            "used for the purchase."
        ), "refused")
    if last4 or fingerprint:
        return Reason(
            "R14", _("The card presented is not the card used for this purchase."), "refused"
        )
    if not cards and not sale.packing_slip:
        return None  # a store sale paid without a card: its receipt is the proof
    if sale.packing_slip:
        return Reason(
            "R14", _("Ask for the packing slip or the card used for the order."), "refused"
        )
    return Reason("R14", _("Ask for the card used for the purchase."), "refused")


def check_line(
    *,
    sale: Sale | None,
    line: SaleLine | None,
    store: Store,
    staff: Staff,
    jewelry_mode: bool,
    proof: Proof,
    serial_number: str,
    inspection: Inspection | None,
    amount: int,
    threshold: int,
    nearest: Sequence[Store] = (),
) -> JewelryCheck:
    """Every R14 check for one fine-jewelry line; the worst level wins.

    Each reason carries its level: ``refused`` (the till cannot go on; only a
    manager's R01 override), ``manager`` (a manager approves: inspection not OK,
    value above ``threshold``) or ``info``. ``sale`` / ``line`` are None for a
    return without a record of sale, which fine jewelry never is.
    """
    refused: list[Reason] = []
    manager: list[Reason] = []
    if not store.has_fine_jewelry:
        # Nothing else can be done at this counter: the one thing to say is where to go.
        return JewelryCheck(
            Verdict.REFUSED, (Reason("R14", no_department_message(nearest), "refused"),)
        )
    else:
        if staff.role not in (Role.JEWELRY, Role.MANAGER):
            refused.append(Reason(
                "R14", _("Fine jewelry is returned by a jewelry specialist or a manager."),
                "refused",
            ))
        if not jewelry_mode:
            refused.append(Reason(
                "R14", _("Switch the till to fine-jewelry mode to return this piece."),
                "refused",
            ))
    if sale is None or line is None:
        refused.append(Reason("R14", _(
            "Fine jewelry needs its packing slip or the card used: it cannot be returned "
            "without a record of sale."
        ), "refused"))
        return JewelryCheck(Verdict.REFUSED, tuple(refused))
    why = proof_reason(sale, proof)
    if why is not None:
        refused.append(why)
    if line.serial_number:
        if not serial_number.strip():
            refused.append(Reason(
                "R14", _("Read the serial number engraved on the piece."), "refused"
            ))
        elif _norm(serial_number) != _norm(line.serial_number):
            # its own rule code: no manager approval (R14 or R01) ever covers another piece
            refused.append(Reason(
                SERIAL_MISMATCH_RULE,
                _("The serial number {serial} does not match the piece sold.").format(
                    serial=serial_number.strip()
                ),
                "refused",
            ))
    if inspection is None or not inspection.complete:
        refused.append(Reason(
            "R14", _("Complete the inspection checklist (condition, hallmark, clasp, stones)."),
            "refused",
        ))
    elif not inspection.passed:
        manager.append(Reason(
            "R12", _("Inspection found: {items}. A manager decides.").format(
                items=", ".join(inspection.failed_labels())
            ),
            "manager",
        ))
    if amount > threshold:
        manager.append(Reason("R14", _(
            "Fine jewelry above {threshold}: a manager approves the return."
        ).format(threshold=format_money(threshold)), "manager"))
    if refused:
        return JewelryCheck(Verdict.REFUSED, tuple(refused + manager))
    if manager:
        return JewelryCheck(Verdict.NEEDS_MANAGER, tuple(manager))
    return JewelryCheck(
        Verdict.ACCEPTED, (Reason("R14", _("Fine-jewelry checks passed."), "info"),)
    )


def signature_required(plan: ReturnPlan) -> bool:
    """The customer signs on screen for every ticket that returns fine jewelry."""
    return any(
        pl.direction == "return" and is_jewelry_department(pl.department) for pl in plan.lines
    )


# --------------------------------------------------------------------------- the ticket

@dataclass(frozen=True, slots=True)
class TicketJewelry:
    """What a fine-jewelry ticket keeps: the signature and each piece's inspection."""

    png: bytes
    sha256: str
    inspections: tuple[dict[str, Any], ...]  # line_no, sku, serial_number, items, notes

    def journal_payload(self) -> dict[str, Any]:
        """Signed with the ticket: the signature's hash and the inspections."""
        return {"signature_sha256": self.sha256, "inspections": list(self.inspections)}


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, or InvalidInput when it is not one."""
    if len(png) < 24 or not png.startswith(PNG_MAGIC) or png[12:16] != b"IHDR":
        raise InvalidInput(_("The signature is not a PNG image."), code="signature")
    width, height = struct.unpack(">II", png[16:24])
    if width == 0 or height == 0:
        raise InvalidInput(_("The signature is not a PNG image."), code="signature")
    return int(width), int(height)


def ticket_record(plan: ReturnPlan, signature_png: bytes | None) -> TicketJewelry | None:
    """What to keep for a plan's fine-jewelry lines (None when it has none).

    Raises :class:`PolicyRefused` when the customer has not signed: a fine-jewelry
    ticket cannot be completed without the signature."""
    if not signature_required(plan):
        return None
    png = signature_png or b""
    if not png:
        raise PolicyRefused(
            _("The customer signs on screen before a fine-jewelry return is recorded."),
            code="signature",
        )
    if len(png) > MAX_SIGNATURE_BYTES:
        raise InvalidInput(_("The signature image is too large."), code="signature")
    png_size(png)
    requests = {n: lr for n, lr in enumerate(plan.request.lines, 1)}
    inspections = []
    for pl in plan.lines:
        if pl.direction != "return" or not is_jewelry_department(pl.department):
            continue
        lr = requests.get(pl.line_no)
        record: dict[str, Any] = {"line_no": pl.line_no, "sku": pl.sku,
                                  "serial_number": pl.serial_number}
        if lr is not None and lr.inspection is not None:
            record.update(lr.inspection.as_record())
        inspections.append(record)
    return TicketJewelry(png, hashlib.sha256(png).hexdigest(), tuple(inspections))


def inspection_summary(record: dict[str, Any]) -> str:
    """"Condition OK · Hallmark OK · Clasp not OK · Stones OK" for one piece."""
    short = {
        "condition": _("Condition"), "hallmark": _("Hallmark"), "clasp": _("Clasp"),
        "stones": _("Stones"),
    }
    parts = []
    for key, _label in INSPECTION_ITEMS:
        value = record.get(key)
        state = _("OK") if value is True else _("not OK") if value is False else "?"
        parts.append(f"{short[key]} {state}")
    return " · ".join(parts)
