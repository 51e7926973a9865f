"""Shared reportlab plumbing: paragraph styles, barcode images, and a build that
fits an 80 mm roll to its content (the page is exactly as tall as the ticket)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib.colors import Color, black
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, Image, PageTemplate

from pos_returns.documents.fonts import fonts, printable
from pos_returns.engine.codes import code128_png

BARCODE_DPI = 300
GREY = Color(0.35, 0.35, 0.35)
LIGHT = Color(0.85, 0.85, 0.85)


def esc(text: object) -> str:
    """Text for a Paragraph: drawable with our fonts, with &, < and > escaped."""
    return escape(printable(str(text)))


@dataclass(frozen=True)
class Styles:
    body: ParagraphStyle
    small: ParagraphStyle
    bold: ParagraphStyle
    right: ParagraphStyle
    right_bold: ParagraphStyle
    center: ParagraphStyle
    center_small: ParagraphStyle
    title: ParagraphStyle
    brand: ParagraphStyle
    section: ParagraphStyle
    huge: ParagraphStyle
    size: float


def make_styles(size: float) -> Styles:
    f = fonts()
    lead = size * 1.25

    def style(name: str, **kw: object) -> ParagraphStyle:
        base: dict[str, object] = {"fontName": f.regular, "fontSize": size, "leading": lead,
                                   "alignment": TA_LEFT}
        base.update(kw)
        return ParagraphStyle(name, **base)  # type: ignore[arg-type]

    return Styles(
        body=style("body"),
        small=style("small", fontSize=size * 0.82, leading=size * 1.02, textColor=GREY),
        bold=style("bold", fontName=f.bold),
        right=style("right", alignment=TA_RIGHT),
        right_bold=style("right_bold", fontName=f.bold, alignment=TA_RIGHT),
        center=style("center", alignment=TA_CENTER),
        center_small=style("center_small", alignment=TA_CENTER, fontSize=size * 0.82,
                           leading=size * 1.02, textColor=GREY),
        title=style("title", fontName=f.bold, fontSize=size * 1.5, leading=size * 1.9,
                    alignment=TA_CENTER),
        brand=style("brand", fontName=f.bold, fontSize=size * 2.2, leading=size * 2.6,
                    alignment=TA_CENTER),
        section=style("section", fontName=f.bold, fontSize=size * 1.05, leading=size * 1.4,
                      spaceBefore=size * 0.6, spaceAfter=size * 0.2),
        huge=style("huge", fontName=f.bold, fontSize=size * 2.8, leading=size * 3.3,
                   alignment=TA_CENTER),
        size=size,
    )


def barcode_png(content: str, *, module_width_mm: float, bar_height_mm: float,
                max_width: float) -> tuple[bytes, float, float]:
    """A Code 128 PNG (python-barcode) and its size in points: its true size, shrunk
    only if wider than ``max_width``. No human-readable text in the image: the PDF
    writes it as real text under the bars (searchable, and drawn with our fonts)."""
    png = code128_png(content, module_width=module_width_mm, module_height=bar_height_mm,
                      text=False, dpi=BARCODE_DPI)
    with PILImage.open(BytesIO(png)) as im:
        px_w, px_h = im.size
    width = px_w / BARCODE_DPI * 25.4 * mm
    height = px_h / BARCODE_DPI * 25.4 * mm
    if width > max_width:
        height *= max_width / width
        width = max_width
    return png, width, height


def barcode_image(content: str, *, module_width_mm: float, bar_height_mm: float,
                  max_width: float) -> Image:
    """:func:`barcode_png` as a centred platypus Image."""
    png, width, height = barcode_png(content, module_width_mm=module_width_mm,
                                     bar_height_mm=bar_height_mm, max_width=max_width)
    img = Image(BytesIO(png), width=width, height=height)
    img.hAlign = "CENTER"
    return img


class Rule(Flowable):
    """A thin horizontal line, dashed on the roll like a till receipt."""

    def __init__(self, *, dashed: bool = True, space: float = 2 * mm,
                 weight: float = 0.5) -> None:
        super().__init__()
        self.dashed, self.space, self.weight = dashed, space, weight

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        return avail_width, self.space

    def draw(self) -> None:
        c = self.canv
        c.saveState()
        c.setLineWidth(self.weight)
        c.setStrokeColor(black)
        if self.dashed:
            c.setDash(2, 1.5)
        y = self.space / 2
        c.line(0, y, self.width, y)
        c.restoreState()


class Banner(Flowable):
    """A word in big letters inside a frame ("DUPLICATA", "HORS LIGNE")."""

    def __init__(self, text: str, *, size: float, inverse: bool = False,
                 pad: float = 1.5 * mm) -> None:
        super().__init__()
        self.text, self.size, self.inverse, self.pad = printable(text), size, inverse, pad

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        self.height = self.size + 2 * self.pad
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        f = fonts()
        c.saveState()
        c.setLineWidth(1.5)
        if self.inverse:
            c.setFillColor(black)
            c.rect(0, 0, self.width, self.height, stroke=0, fill=1)
            c.setFillColorRGB(1, 1, 1)
        else:
            c.rect(0.75, 0.75, self.width - 1.5, self.height - 1.5, stroke=1, fill=0)
            c.setFillColor(black)
        size = self.size
        while size > 6 and c.stringWidth(self.text, f.bold, size) > self.width - 2 * self.pad:
            size -= 0.5
        c.setFont(f.bold, size)
        c.drawCentredString(self.width / 2, self.pad + (self.size - size * 0.72) / 2 + 0.5,
                            self.text)
        c.restoreState()


PageHook = Callable[[Canvas, BaseDocTemplate], None]


class _Doc(BaseDocTemplate):
    last_y: float = 0.0

    def afterFlowable(self, flowable: Flowable) -> None:
        frame = getattr(self, "frame", None)
        if frame is not None:
            self.last_y = frame._y


def _build(story: list[Flowable], *, width: float, height: float, margin_x: float,
           margin_y: float, title: str, on_page: PageHook | None) -> tuple[bytes, float]:
    out = BytesIO()
    doc = _Doc(out, pagesize=(width, height), leftMargin=margin_x, rightMargin=margin_x,
               topMargin=margin_y, bottomMargin=margin_y, title=printable(title),
               author="Alamara", creator="Alamara Retours", invariant=1)
    frame = Frame(margin_x, margin_y, width - 2 * margin_x, height - 2 * margin_y,
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0, id="body")

    def hook(canvas: Canvas, document: BaseDocTemplate) -> None:
        if on_page is not None:
            on_page(canvas, document)

    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=hook)])
    doc.build(story)
    used = (height - margin_y) - doc.last_y
    return out.getvalue(), used


def build_roll(make_story: Callable[[], list[Flowable]], *, width: float, margin_x: float,
               margin_y: float, title: str) -> bytes:
    """A one-page PDF ``width`` wide and exactly as tall as its content.

    The story is laid out once on a very tall page to measure it, then again on
    a page of the measured height (a thermal printer cuts after the content).
    """
    tall = 5000 * mm
    _pdf, used = _build(make_story(), width=width, height=tall, margin_x=margin_x,
                        margin_y=margin_y, title=title, on_page=None)
    height = used + 2 * margin_y + 1 * mm
    pdf, _used = _build(make_story(), width=width, height=height, margin_x=margin_x,
                        margin_y=margin_y, title=title, on_page=None)
    return pdf


def build_pages(story: list[Flowable], *, pagesize: tuple[float, float], margin_x: float,
                margin_y: float, title: str, on_page: PageHook | None = None) -> bytes:
    pdf, _used = _build(story, width=pagesize[0], height=pagesize[1], margin_x=margin_x,
                        margin_y=margin_y, title=title, on_page=on_page)
    return pdf
