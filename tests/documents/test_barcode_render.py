"""Every ticket barcode decodes after the page is rasterised at the resolutions of the
store's printers and scanners' test renders (180, 200, 203 and 300 dpi), over 1 000
ticket numbers: one PDF page holds a grid of barcodes drawn by the documents' own
:class:`~pos_returns.documents.layout.Code128Bars`, poppler's pdftoppm renders the page
once per resolution, and zxing-cpp decodes each cell of the grid."""

from __future__ import annotations

import re
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from pos_returns.documents import ticket_code
from pos_returns.documents.layout import Code128Bars, code128_modules
from pos_returns.engine.codes import luhn_check_digit

DPIS = (180, 200, 203, 300)
COLS, ROWS = 4, 25  # 100 barcodes on a page
CELL_W, CELL_H = 70 * mm, 14 * mm


def grid_pdf(codes: list[str], *, module_width_mm: float, bar_height_mm: float) -> bytes:
    """One page per 100 codes, each code in its own cell, as the ticket draws it."""
    out = BytesIO()
    canvas = Canvas(out, pagesize=(COLS * CELL_W, ROWS * CELL_H), invariant=1)
    for start in range(0, len(codes), COLS * ROWS):
        for i, code in enumerate(codes[start:start + COLS * ROWS]):
            col, row = i % COLS, i // COLS
            x, y = col * CELL_W + 2 * mm, (ROWS - 1 - row) * CELL_H + 2 * mm
            bars = Code128Bars(code, module_width_mm=module_width_mm,
                               bar_height_mm=bar_height_mm, max_width=CELL_W - 4 * mm)
            bars.draw_at(canvas, x + (CELL_W - 4 * mm - bars.width) / 2, y)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def undecoded(pdf: bytes, codes: list[str], dpi: int, tmp_path: Path) -> list[str]:
    """The codes that zxing-cpp does not read back from their cell at ``dpi``."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: run tools/system-deps.sh (poppler-utils)")
    src = tmp_path / "grid.pdf"
    src.write_bytes(pdf)
    # grey PGM pages (no PNG compression); each cell cropped to its bars and decoded as
    # Code 128 only, without rotations or downscaling: fast, and the old PNG barcodes
    # still fail this way (…5 at 200 dpi, a third of the numbers at 180 dpi)
    subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), str(src), str(tmp_path / "grid")],
                   check=True, timeout=120)
    scale = dpi / 72
    missed: list[str] = []
    for page_no, pgm in enumerate(sorted(tmp_path.glob("grid*.pgm"))):
        with Image.open(pgm) as page:
            gray = page.convert("L")
        for i, code in enumerate(codes[page_no * COLS * ROWS:(page_no + 1) * COLS * ROWS]):
            col, row = i % COLS, i // COLS
            box = (int(col * CELL_W * scale), int((row * CELL_H + 1 * mm) * scale),
                   int((col + 1) * CELL_W * scale), int(((row + 1) * CELL_H - 1 * mm) * scale))
            found = [r.text for r in zxingcpp.read_barcodes(
                gray.crop(box), formats=zxingcpp.BarcodeFormat.Code128, try_rotate=False,
                try_downscale=False, try_invert=False)]
            if found != [code]:
                missed.append(code)
        pgm.unlink()
    return missed


def test_every_ticket_barcode_decodes_at_180_200_203_and_300_dpi(tmp_path):
    """The defect: rendered at 200 dpi, numbers ending in 5 (T00101000005, …015) did not
    decode. 1 000 numbers, every last digit 100 times, each at four resolutions."""
    codes = [ticket_code(1, 1, n) for n in range(1, 1001)]
    assert {c[-1] for c in codes} == set("0123456789")
    pdf = grid_pdf(codes, module_width_mm=0.33, bar_height_mm=10)  # as on the ticket
    for dpi in DPIS:
        assert undecoded(pdf, codes, dpi, tmp_path) == [], f"at {dpi} dpi"


def test_gift_card_barcodes_decode_at_every_resolution(tmp_path):
    codes = []
    for n in range(400, 600):
        body = f"601000000000000{n:03d}"
        codes.append(body + luhn_check_digit(body))
    pdf = grid_pdf(codes, module_width_mm=0.3, bar_height_mm=9)  # as on the gift card
    for dpi in DPIS:
        assert undecoded(pdf, codes, dpi, tmp_path) == [], f"at {dpi} dpi"


def test_bars_are_whole_modules_at_exact_positions():
    """The cause of the defect: bars of uneven widths (a 300 dpi PNG with fractional
    pixels per module). The bars are now vector rectangles whose edges are exact
    multiples of the module width, read back from the PDF's own drawing operators."""
    code = ticket_code(1, 1, 5)
    bars = Code128Bars(code, module_width_mm=0.33, bar_height_mm=10, max_width=200 * mm)
    out = BytesIO()
    canvas = Canvas(out, pagesize=(bars.width, bars.height), invariant=1, pageCompression=0)
    bars.draw_at(canvas, 0, 0)
    canvas.showPage()
    canvas.save()
    module = 0.33 * mm
    rects = [tuple(float(v) for v in m.groups()) for m in re.finditer(
        r"([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re f", out.getvalue().decode("latin-1"))]
    assert rects
    drawn = ["0"] * round(bars.width / module)
    for x, _y, w, _h in rects:
        start, run = x / module, w / module
        assert start == pytest.approx(round(start), abs=1e-3)
        assert run == pytest.approx(round(run), abs=1e-3)
        drawn[round(start):round(start) + round(run)] = ["1"] * round(run)
    assert "".join(drawn).strip("0") == code128_modules(code)
    assert bars.width == pytest.approx((len(code128_modules(code)) + 2 * bars.quiet) * module)
