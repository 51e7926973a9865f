"""The customer's signature on screen (R14): strokes drawn with a finger, a stylus or
the mouse, a "Clear" button, and the result as PNG bytes for the ticket."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QIODevice, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from pos_returns.i18n import _

from .common import action_button, label

EXPORT_SIZE = QSize(600, 200)  # pixels of the PNG kept with the ticket (3:1)
INK = QColor("#10213a")


class SignatureCanvas(QWidget):
    """The surface the customer signs on. Mouse and touch (Qt turns touches into
    mouse events for widgets that do not accept touch) draw strokes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strokes: list[list[QPointF]] = []
        self._drawing = False
        self.setMinimumSize(420, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(150)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.setAccessibleName(_("Customer signature"))

    # -- input ------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drawing = True
            self.strokes.append([event.position()])
            self.update()

    def mouseMoveEvent(self, event) -> None:
        if self._drawing and self.strokes:
            self.strokes[-1].append(event.position())
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._drawing and event.button() == Qt.MouseButton.LeftButton:
            self._drawing = False
            if self.strokes:
                self.strokes[-1].append(event.position())
            self.update()
            self.changed.emit()

    # -- state ------------------------------------------------------------------------------
    def clear(self) -> None:
        self.strokes = []
        self._drawing = False
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        """True until the customer drew something longer than a dot."""
        for stroke in self.strokes:
            xs = [p.x() for p in stroke]
            ys = [p.y() for p in stroke]
            if len(stroke) > 1 and (max(xs) - min(xs) + max(ys) - min(ys)) >= 8:
                return False
        return True

    # -- drawing ----------------------------------------------------------------------------
    def _path(self, sx: float = 1.0, sy: float = 1.0) -> QPainterPath:
        path = QPainterPath()
        for stroke in self.strokes:
            path.moveTo(stroke[0].x() * sx, stroke[0].y() * sy)
            if len(stroke) == 1:
                path.lineTo(stroke[0].x() * sx + 0.5, stroke[0].y() * sy)
            for point in stroke[1:]:
                path.lineTo(point.x() * sx, point.y() * sy)
        return path

    def _paint(self, painter: QPainter, size: QSize, sx: float, sy: float, *,
               guide: bool) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor("white"))
        if guide:
            painter.setPen(QPen(QColor("#b7c6dc"), 1, Qt.PenStyle.DashLine))
            y = size.height() * 0.75
            painter.drawLine(QPointF(16, y), QPointF(size.width() - 16, y))
            painter.setPen(QColor("#8a94a6"))
            painter.drawText(QPointF(18, y + 20), _("Sign here"))
        pen = QPen(INK, 3.0 * max(sx, sy), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path(sx, sy))

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        self._paint(painter, self.size(), 1.0, 1.0, guide=True)
        painter.setPen(QPen(QColor("#8a94a6"), 1))
        painter.drawRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1))
        painter.end()

    def to_png(self, size: QSize = EXPORT_SIZE) -> bytes:
        """The signature alone (no guide line), black on white, as PNG bytes."""
        image = QImage(size, QImage.Format.Format_RGB32)
        painter = QPainter(image)
        sx = size.width() / max(1, self.width())
        sy = size.height() / max(1, self.height())
        self._paint(painter, size, sx, sy, guide=False)
        painter.end()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        return bytes(buffer.data().data())


class SignaturePad(QWidget):
    """The canvas, a caption and a "Clear" button; ``changed`` after every stroke."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(6)
        self.caption = label(_("The customer signs in the frame (finger, stylus or mouse)."),
                             muted=True, wrap=True)
        box.addWidget(self.caption)
        self.canvas = SignatureCanvas()
        self.canvas.changed.connect(self.changed)
        box.addWidget(self.canvas)
        self.clear_button = action_button(_("Clear the signature"), shortcut="Ctrl+Backspace")
        self.clear_button.clicked.connect(self.clear)
        box.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignLeft)

    def clear(self) -> None:
        self.canvas.clear()

    def is_empty(self) -> bool:
        return self.canvas.is_empty()

    def to_png(self) -> bytes:
        return b"" if self.is_empty() else self.canvas.to_png()
