"""The fine-jewelry mode at the till (R14): its state for the session, the coloured
banner that says it is on, and what the jewelry checks add to a return request.

The core decides (``pos_returns.engine.jewelry``): who may enter the mode, and every
check of a piece. This module only keeps what the specialist recorded (proof,
serial numbers, inspections, the customer's signature) until the ticket is done,
and journals entering and leaving the mode through the database worker.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from pos_returns.engine import jewelry
from pos_returns.engine.domain import Sale, SaleLine, Staff
from pos_returns.engine.plan import Inspection, LineRequest, Proof
from pos_returns.i18n import _
from pos_returns.usecases import jewelry_mode

from ..ops import error_message
from ..services import Services
from ..widgets.common import action_button

BANNER_STYLE = """
QFrame#jewelryBanner { background: #6b4e0e; border-bottom: 3px solid #d4af37; }
QFrame#jewelryBanner QLabel { color: #fff8e1; font-size: 15pt; font-weight: bold; }
QFrame#jewelryBanner QLabel#jewelryHint { color: #f3e2b3; font-size: 12pt; font-weight: normal; }
QFrame#jewelryBanner QPushButton { background: #fff8e1; color: #4a3508; border: 0;
    border-radius: 6px; padding: 6px 14px; font-size: 12pt; }
"""


def _enter(db, cfg, staff_id: int):  # type: ignore[no-untyped-def]
    return jewelry_mode.enter_mode(db, cfg, staff_id)


def _leave(db, cfg, staff_id: int, reason: str):  # type: ignore[no-untyped-def]
    return jewelry_mode.leave_mode(db, cfg, staff_id, reason=reason)


def jewelry_lines(sale: Sale | None) -> list[SaleLine]:
    if sale is None:
        return []
    return [line for line in sale.lines if jewelry.is_jewelry_department(line.department)]


class JewelryMode(QObject):
    """The session's fine-jewelry mode and the jewelry inputs of the open sale."""

    changed = Signal(bool)  # on / off
    refused = Signal(str)  # why the mode could not be entered (French)
    recorded = Signal()  # the checks of the open sale changed

    def __init__(self, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.on = False
        self.staff: Staff | None = None
        self.sale: Sale | None = None
        self.proof = Proof()
        self.inputs: dict[int, tuple[str, Inspection | None]] = {}
        self.signature = b""
        services.staff_changed.connect(self._staff_changed)

    def _staff_changed(self, staff: Staff | None) -> None:
        """Someone else at the till (or nobody): the mode was that person's."""
        if self.on and (staff is None or self.staff is None or staff.id != self.staff.id):
            self.leave("logout")

    # -- the mode ---------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.on:
            self.leave("leave")
        else:
            self.enter()

    def enter(self) -> None:
        staff = self.services.staff
        if staff is None or self.on:
            return
        (
            self.services.ops.op(_enter, self.services.cfg, int(staff.id))
            .success(lambda _record, staff=staff: self._set(True, staff))
            .failure(lambda exc: self.refused.emit(error_message(exc)))
            .run()
        )

    def leave(self, reason: str = "leave") -> None:
        """Off at once on screen; the journal record follows on the worker."""
        if not self.on or self.staff is None:
            return
        staff = self.staff
        self._set(False, None)
        self.services.ops.op(_leave, self.services.cfg, int(staff.id), reason).run()

    def close_left_open(self) -> None:
        """At start: a mode a crash left on is closed in the journal."""
        self.services.ops.op(jewelry_mode.close_left_open, self.services.cfg).run()

    def _set(self, on: bool, staff: Staff | None) -> None:
        self.on = on
        self.staff = staff
        self.changed.emit(on)

    # -- the open sale ----------------------------------------------------------------------
    def reset_sale(self, sale: Sale | None) -> None:
        self.sale = sale
        self.proof = Proof()
        self.inputs = {}
        self.signature = b""

    def record(self, proof: Proof, inputs: dict[int, tuple[str, Inspection | None]],
               signature: bytes) -> None:
        self.proof = proof
        self.inputs = dict(inputs)
        self.signature = signature
        self.recorded.emit()

    def has_jewelry(self, sale: Sale | None = None) -> bool:
        return bool(jewelry_lines(sale if sale is not None else self.sale))

    def line_request(self, line: SaleLine, request: LineRequest) -> LineRequest:
        """A jewelry line carries the serial read off the piece and its inspection."""
        if not jewelry.is_jewelry_department(line.department):
            return request
        serial, inspection = self.inputs.get(int(line.id), ("", None))
        return replace(request, serial_number=serial, inspection=inspection)

    def request_fields(self) -> dict[str, object]:
        """What the jewelry checks add to the ReturnRequest."""
        fields: dict[str, object] = {
            "jewelry_mode": self.on,
            "packing_slip": self.proof.packing_slip,
            "presented_card_fingerprint": self.proof.card_fingerprint,
            "signature_png": self.signature,
        }
        if self.proof.card_last4:
            fields["presented_card_last4"] = self.proof.card_last4
        return fields

    def sale_notice(self, sale: Sale | None) -> str:
        """What the salesperson must know at once about the sale's jewelry lines."""
        if not self.has_jewelry(sale):
            return ""
        ctx = self.services.context
        store = ctx.store
        if store is not None and not store.has_fine_jewelry:
            nearest = [s for s, _km in jewelry.nearest_jewelry_stores(ctx.stores.values(), store)]
            msg = _("Fine jewelry cannot be returned in this store: it has no Fine Jewelry "
                    "department.")
            if nearest:
                msg += " " + _("The customer can go to: {stores}.").format(
                    stores=jewelry.nearest_text(nearest))
            return msg
        if not self.on:
            return _("This sale holds fine jewelry: it is returned in fine-jewelry mode "
                     "(Ctrl+J), by a jewelry specialist or a manager.")
        if self.inputs and self.signature:
            return _("Fine-jewelry checks recorded and signed by the customer (F4 to change "
                     "them).")
        if self.inputs:
            return _("Fine-jewelry checks recorded: the customer has not signed yet (F4).")
        return _("Fine jewelry: the proof of purchase, the serial number, the inspection "
                 "and the customer's signature are needed.")


class JewelryBanner(QFrame):
    """"Fine-jewelry mode · Inès Laurent" across the window while the mode is on."""

    def __init__(self, mode: JewelryMode, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = mode
        self.setObjectName("jewelryBanner")
        self.setStyleSheet(BANNER_STYLE)
        row = QHBoxLayout(self)
        row.setContentsMargins(24, 8, 24, 8)
        row.setSpacing(16)
        self.title = QLabel("")
        self.title.setObjectName("jewelryTitle")
        row.addWidget(self.title)
        self.hint = QLabel(_("Proof, serial number, inspection and signature: F4 on the sale"))
        self.hint.setObjectName("jewelryHint")
        row.addWidget(self.hint, 1, Qt.AlignmentFlag.AlignVCenter)
        self.leave_button = action_button(_("Leave the mode"), shortcut="Ctrl+J")
        self.leave_button.setShortcut(0)  # the window's Ctrl+J toggles
        self.leave_button.setMinimumHeight(40)
        self.leave_button.clicked.connect(lambda: mode.leave("leave"))
        row.addWidget(self.leave_button)
        mode.changed.connect(self.render)
        self.render(mode.on)

    def render(self, on: bool) -> None:
        staff = self.mode.staff
        name = staff.name if staff is not None else ""
        self.title.setText(_("Fine-jewelry mode · {name}").format(name=name))
        self.setVisible(on)
