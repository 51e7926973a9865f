"""Shared reportlab plumbing: paragraph styles, barcode images, and a build that
fits an 80 mm roll to its content (the page is exactly as tall as the ticket)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib.colors import Color, black
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from pos_returns.documents.fonts import fonts, printable

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
    center_bold: ParagraphStyle
    title: ParagraphStyle
    brand: ParagraphStyle
    section: ParagraphStyle
    huge: ParagraphStyle
    size: float


def make_styles(size: float, *, roll: bool = False) -> Styles:
    """Paragraph styles around a body ``size``. On a thermal ``roll`` the small print
    is as large as the body (never under 8 pt) and black: grey and 6.6 pt fade on a
    thermal head. On A4 the small print is 82 % of the body, dark grey."""
    f = fonts()
    lead = size * 1.25
    small_size = max(size, 8.0) if roll else size * 0.82
    small_lead = small_size * (1.22 if roll else 1.25)
    small_colour = black if roll else GREY

    def style(name: str, **kw: object) -> ParagraphStyle:
        base: dict[str, object] = {"fontName": f.regular, "fontSize": size, "leading": lead,
                                   "alignment": TA_LEFT}
        base.update(kw)
        return ParagraphStyle(name, **base)  # type: ignore[arg-type]

    return Styles(
        body=style("body"),
        small=style("small", fontSize=small_size, leading=small_lead, textColor=small_colour),
        bold=style("bold", fontName=f.bold),
        right=style("right", alignment=TA_RIGHT),
        right_bold=style("right_bold", fontName=f.bold, alignment=TA_RIGHT),
        center=style("center", alignment=TA_CENTER),
        center_small=style("center_small", alignment=TA_CENTER, fontSize=small_size,
                           leading=small_lead, textColor=small_colour),
        center_bold=style("center_bold", fontName=f.bold, alignment=TA_CENTER),
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


# Barcodes are drawn as vector bars: one rectangle per run of bars, each edge at an
# exact multiple of the module width. python-barcode's ImageWriter drew a PNG at 300 dpi
# and placed each module at a fractional pixel (0.33 mm = 3.898 px), so its bars came
# out 3 or 4 px wide at random; a printer or rasteriser at another resolution resampled
# those uneven bars again (200 dpi: 2/3 of a dot per pixel), and for some contents
# (ticket numbers ending in 5 at 200 dpi, many more at 180 dpi) the bar/space widths
# went past what a decoder accepts. A PNG of one pixel per module was better but still
# lost some gift card numbers at 300 dpi (the upscale's own rounding). With vector bars
# the raster's only error is half a dot at each edge, never accumulated, whatever the
# printer's resolution (docs/documents.md, tests/documents/test_barcode_render.py).
BARCODE_QUIET_ZONE_MM = 4.0


def code128_modules(content: str) -> str:
    """The Code 128 symbol of ``content`` as modules: ``"1"`` bar, ``"0"`` space
    (python-barcode's encoder: start, data, check character and stop)."""
    from barcode import Code128

    return str(Code128(content).build()[0])


def draw_bars(canvas: Canvas, modules: str, *, x: float, y: float, module: float,
              height: float) -> None:
    """Draw ``modules`` ("1" bar, "0" space) from (x, y): one filled rectangle per run."""
    canvas.saveState()
    canvas.setFillColor(black)
    i, n = 0, len(modules)
    while i < n:
        if modules[i] != "1":
            i += 1
            continue
        j = i
        while j < n and modules[j] == "1":
            j += 1
        canvas.rect(x + i * module, y, (j - i) * module, height, stroke=0, fill=1)
        i = j
    canvas.restoreState()


class Code128Bars(Flowable):
    """A Code 128 barcode, ``module_width_mm`` per module and its quiet zones (shrunk as a
    whole, never bar by bar, only if wider than ``max_width``). No human-readable text:
    the document writes it as real text under the bars (searchable, in our fonts)."""

    def __init__(self, content: str, *, module_width_mm: float, bar_height_mm: float,
                 max_width: float) -> None:
        super().__init__()
        self.content = content
        self.modules = code128_modules(content)
        self.quiet = max(10, round(BARCODE_QUIET_ZONE_MM / module_width_mm))
        n = len(self.modules) + 2 * self.quiet
        self.module = module_width_mm * mm
        if n * self.module > max_width:
            self.module = max_width / n
        self.width = n * self.module
        self.height = bar_height_mm * mm
        self.hAlign = "CENTER"

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        self.draw_at(self.canv, 0, 0)

    def draw_at(self, canvas: Canvas, x: float, y: float) -> None:
        draw_bars(canvas, self.modules, x=x + self.quiet * self.module, y=y,
                  module=self.module, height=self.height)


def barcode_image(content: str, *, module_width_mm: float, bar_height_mm: float,
                  max_width: float) -> Code128Bars:
    """The centred barcode flowable of a document (:class:`Code128Bars`)."""
    return Code128Bars(content, module_width_mm=module_width_mm,
                       bar_height_mm=bar_height_mm, max_width=max_width)


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
