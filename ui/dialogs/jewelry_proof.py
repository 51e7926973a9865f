"""Fine-jewelry checks for a sale (R14): the proof the customer shows (packing slip
and/or the card: last 4 digits + the fingerprint read by the card terminal), the
serial number read off each piece, the inspection checklist, and the customer's
signature on screen.

The dialog only gathers; the policy engine compares everything with the sale and
answers on the sale screen. The card terminal is simulated: its reading is typed
(or pasted) in the "fingerprint read by the terminal" field, and on a demo till
(no HQ configured) a button reads the card of the demo sale (docs/jewelry.md).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pos_returns.engine.domain import Sale, SaleLine, TenderKind
from pos_returns.engine.plan import INSPECTION_ITEMS, Inspection, Proof
from pos_returns.i18n import N_, _

from ..screens.jewelry_banner import JewelryMode, jewelry_lines
from ..services import Services
from ..widgets.common import Banner, action_button, card, label
from ..widgets.signature_pad import SignaturePad

_STATES = ((None, N_("— to check —")), (True, N_("Conforms")), (False, N_("Not OK")))


class PieceBox(QFrame):
    """One piece: the serial read off it and the four inspection items."""

    def __init__(self, line: SaleLine, index: int, serial: str,
                 inspection: Inspection | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line = line
        self.setProperty("card", True)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 8, 16, 8)
        box.setSpacing(4)
        box.addWidget(label(f"{index}. {line.name}", name="sectionTitle", wrap=True))
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        grid.addWidget(label(_("Serial number read on the piece")), 0, 0)
        self.serial = QLineEdit(serial)
        self.serial.setObjectName("jewelrySerial")
        self.serial.setMaxLength(40)
        self.serial.setPlaceholderText(_("as engraved, e.g. BG-2025-000417"))
        self.serial.setMinimumHeight(44)
        grid.addWidget(self.serial, 0, 1)
        self.items: dict[str, QComboBox] = {}
        for row, (key, text) in enumerate(INSPECTION_ITEMS, 1):
            grid.addWidget(label(_(text), wrap=True), row, 0)
            combo = QComboBox()
            combo.setObjectName(f"inspect_{key}")
            for value, state in _STATES:
                combo.addItem(_(state), value)
            current = getattr(inspection, key) if inspection is not None else None
            combo.setCurrentIndex([v for v, _s in _STATES].index(current))
            combo.setMinimumHeight(44)
            combo.setMinimumWidth(240)  # « — à contrôler — » and « Non conforme » whole
            grid.addWidget(combo, row, 1)
            self.items[key] = combo
        grid.addWidget(label(_("Remarks")), len(INSPECTION_ITEMS) + 1, 0)
        self.notes = QLineEdit(inspection.notes if inspection is not None else "")
        self.notes.setMaxLength(200)
        self.notes.setPlaceholderText(_("e.g. loose clasp"))
        self.notes.setMinimumHeight(44)
        grid.addWidget(self.notes, len(INSPECTION_ITEMS) + 1, 1)
        grid.setColumnStretch(1, 1)
        box.addLayout(grid)

    def set_all_ok(self) -> None:
        for combo in self.items.values():
            combo.setCurrentIndex(1)

    def inspection(self) -> Inspection:
        values = {key: combo.currentData() for key, combo in self.items.items()}
        return Inspection(**values, notes=self.notes.text().strip())


class JewelryChecksDialog(QDialog):
    """Proof, serial numbers, inspections and signature for the open sale."""

    saved = Signal()

    def __init__(self, services: Services, mode: JewelryMode, sale: Sale,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.mode = mode
        self.sale = sale
        self.setWindowTitle(_("Fine-jewelry checks"))
        self.setModal(True)
        self.setMinimumWidth(1180)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 16)
        outer.setSpacing(8)
        outer.addWidget(label(_("Fine-jewelry checks"), name="title"))
        outer.addWidget(label(
            _("Compare what the customer shows and the piece itself; the till checks them "
              "against the sale."), muted=True, wrap=True))
        # At 1366 x 768: the proof in one row across the top, the pieces (scrolling when
        # there are several) beside the signature, the actions always visible below.
        outer.addWidget(self._build_proof())
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 8, 0)
        bl.setSpacing(10)
        self._build_pieces(bl)
        columns = self._build_columns(body)
        self._build_signature(columns)
        outer.addLayout(columns, 1)
        self._build_actions(outer)
        self.resize(1240, 720)
        (self.slip if sale.packing_slip or sale.order_number else self.card_last4).setFocus()

    def _build_proof(self) -> QFrame:
        """The proof of purchase: packing slip, card's last 4 digits, its fingerprint."""
        proof_box = card()
        pl = QGridLayout(proof_box)
        pl.setContentsMargins(16, 10, 16, 12)
        pl.setHorizontalSpacing(12)
        pl.setVerticalSpacing(2)
        pl.addWidget(label(_("Proof of purchase"), name="sectionTitle"), 0, 0, 1, 4)
        proof_box.setToolTip(_("The packing slip and/or the card used for the order."))
        proof = self.mode.proof
        self.slip = QLineEdit(proof.packing_slip)
        self.slip.setObjectName("jewelrySlip")
        self.slip.setMaxLength(40)
        self.slip.setPlaceholderText(_("e.g. PS-778812"))
        self.card_last4 = QLineEdit(proof.card_last4)
        self.card_last4.setObjectName("jewelryCard")
        self.card_last4.setMaxLength(4)
        self.card_last4.setPlaceholderText("0000")
        self.card_last4.setFixedWidth(130)
        self.fingerprint = QLineEdit(proof.card_fingerprint)
        self.fingerprint.setObjectName("jewelryFingerprint")
        self.fingerprint.setMaxLength(128)
        self.fingerprint.setPlaceholderText(_("read by the card terminal"))
        for field in (self.slip, self.card_last4, self.fingerprint):
            field.setMinimumHeight(44)
        pl.addWidget(label(_("Packing slip no.")), 1, 0)
        pl.addWidget(self.slip, 2, 0)
        pl.addWidget(label(_("Card: last 4 digits")), 1, 1, 1, 2)
        pl.addWidget(self.card_last4, 2, 1)
        pl.addWidget(label(_("Fingerprint read by the card terminal")), 1, 3)
        pl.addWidget(self.fingerprint, 2, 3)
        self.read_button = action_button(_("Read the card (demo)"), shortcut="F3")
        self.read_button.clicked.connect(self.read_demo_card)
        self.read_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F3"), self, activated=self.read_demo_card)
        self.read_button.setVisible(not self.services.cfg.hq_dsn)
        pl.addWidget(self.read_button, 2, 2)
        pl.setColumnStretch(0, 1)
        pl.setColumnStretch(3, 1)
        return proof_box

    def _build_pieces(self, bl: QVBoxLayout) -> None:
        """One box per piece, then "All items OK"."""
        self.pieces: list[PieceBox] = []
        pieces = [line for line in jewelry_lines(self.sale) if line.refundable_qty > 0]
        for index, line in enumerate(pieces, 1):
            serial, inspection = self.mode.inputs.get(int(line.id), ("", None))
            piece = PieceBox(line, index, serial, inspection)
            bl.addWidget(piece)
            self.pieces.append(piece)
        # "All items OK" sits with the actions (always visible), not under the pieces.
        self.all_ok_button = action_button(_("All items OK"), shortcut="Ctrl+K")
        self.all_ok_button.clicked.connect(self.set_all_ok)
        self.all_ok_button.setShortcut(QKeySequence())  # the dialog's shortcut acts at once
        QShortcut(QKeySequence("Ctrl+K"), self, activated=self.set_all_ok)
        bl.addStretch(1)

    def _build_columns(self, body: QWidget) -> QHBoxLayout:
        """The pieces scroll on the left; the right column is added next to them."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.pieces_scroll = scroll
        body.setObjectName("linesHost")
        scroll.viewport().setAutoFillBackground(False)
        scroll.setMinimumHeight(320)  # one piece whole; the dialog fits a 768 px screen
        columns = QHBoxLayout()
        columns.setSpacing(16)
        columns.addWidget(scroll, 3)
        return columns

    def _build_signature(self, columns: QHBoxLayout) -> None:
        """The right column: the customer's signature."""
        sig_box = card()
        sl = QVBoxLayout(sig_box)
        sl.setContentsMargins(16, 10, 16, 12)
        sl.setSpacing(8)
        sl.addWidget(label(_("Customer signature"), name="sectionTitle"))
        self.pad = SignaturePad()
        self.had_signature = bool(self.mode.signature)
        if self.had_signature:
            self.pad.caption.setText(_("Already signed. Clear and sign again to replace it."))
        self.pad.changed.connect(self._signature_changed)
        sl.addWidget(self.pad)
        sl.addStretch(1)
        sig_box.setFixedWidth(540)
        columns.addWidget(sig_box)

    def _build_actions(self, outer: QVBoxLayout) -> None:
        self.banner = Banner()
        outer.addWidget(self.banner)
        row = QHBoxLayout()
        self.cancel_button = action_button(_("Cancel"), shortcut="Esc")
        self.cancel_button.clicked.connect(self.reject)
        self.save_button = action_button(_("Save the checks"), shortcut="F10", role="primary",
                                         icon_name="check")
        self.save_button.clicked.connect(self.save)
        self.save_button.setShortcut(QKeySequence())
        QShortcut(QKeySequence("F10"), self, activated=self.save)
        row.addWidget(self.cancel_button)
        row.addWidget(self.all_ok_button)
        row.addStretch(1)
        row.addWidget(self.save_button)
        outer.addLayout(row)

    def _signature_changed(self) -> None:
        if self.pad.is_empty():
            self.had_signature = False

    def set_all_ok(self) -> None:
        for piece in self.pieces:
            piece.set_all_ok()

    def read_demo_card(self) -> None:
        """Demo terminal: the customer's card is read. With the last 4 typed, the card of
        the sale with those digits is "read"; another card gives another fingerprint."""
        if self.services.cfg.hq_dsn:
            # A real till: the fingerprint comes from the terminal, never from the sale
            # itself (F3 would otherwise copy the sale's own card and prove nothing).
            return
        cards = [t for t in self.sale.tenders if t.kind == TenderKind.CARD]
        last4 = self.card_last4.text().strip()
        if not last4 and cards:
            last4 = cards[0].card_last4
            self.card_last4.setText(last4)
        match = next((t for t in cards if t.card_last4 == last4), None)
        if match is not None and match.card_fingerprint:
            self.fingerprint.setText(match.card_fingerprint)
        elif last4:
            self.fingerprint.setText(f"tpe-demo-{last4}")
        else:
            self.banner.show_message(_("Type the last 4 digits of the card presented."))

    def proof(self) -> Proof:
        return Proof(packing_slip=self.slip.text().strip(),
                     card_last4=self.card_last4.text().strip(),
                     card_fingerprint=self.fingerprint.text().strip())

    def save(self) -> None:
        last4 = self.card_last4.text().strip()
        if last4 and (len(last4) != 4 or not last4.isdigit()):
            self.banner.show_message(_("The last 4 digits of the card: 4 digits."))
            self.card_last4.setFocus()
            return
        inputs = {int(p.line.id): (p.serial.text().strip(), p.inspection()) for p in self.pieces}
        if self.pad.is_empty():
            signature = self.mode.signature if self.had_signature else b""
        else:
            signature = self.pad.to_png()
        self.mode.record(self.proof(), inputs, signature)
        self.saved.emit()
        self.accept()

    def keyPressEvent(self, event) -> None:
        # Enter in a field must not close the dialog.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.focusNextChild()
            return
        super().keyPressEvent(event)
