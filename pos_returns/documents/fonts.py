"""Fonts for the printed documents.

reportlab's built-in Helvetica only knows WinAnsi: it has "€" and the French
accents, but not the narrow no-break space (U+202F) babel puts in French
amounts ("1 234,56 €"). So the documents use DejaVu Sans, registered at run
time from ``resources/fonts/`` (if a copy is bundled there) or from the system
(``fonts-dejavu-core``, installed by ``tools/system-deps.sh``). Without it they
fall back to Helvetica, and :func:`printable` swaps the characters Helvetica
lacks for their nearest WinAnsi equivalents.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from pos_returns.resources import resources_dir

RESOURCES = resources_dir() / "fonts"
SYSTEM_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
REGULAR_FILE = "DejaVuSans.ttf"
BOLD_FILE = "DejaVuSans-Bold.ttf"


@dataclass(frozen=True, slots=True)
class FontSet:
    regular: str
    bold: str
    unicode: bool  # False: Helvetica fallback (WinAnsi only)


def _find(filename: str, dirs: tuple[Path, ...]) -> Path | None:
    for folder in dirs:
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    return None


@cache
def fonts() -> FontSet:
    """Register the document fonts once; DejaVu Sans when found, else Helvetica."""
    dirs = (RESOURCES, *SYSTEM_DIRS)
    regular, bold = _find(REGULAR_FILE, dirs), _find(BOLD_FILE, dirs)
    if regular is None or bold is None:
        return FontSet("Helvetica", "Helvetica-Bold", unicode=False)
    try:
        pdfmetrics.registerFont(TTFont("AlamaraSans", str(regular)))
        pdfmetrics.registerFont(TTFont("AlamaraSans-Bold", str(bold)))
    except Exception:  # a damaged font file: print with Helvetica rather than not at all
        return FontSet("Helvetica", "Helvetica-Bold", unicode=False)
    addMapping("AlamaraSans", 0, 0, "AlamaraSans")
    addMapping("AlamaraSans", 1, 0, "AlamaraSans-Bold")
    addMapping("AlamaraSans", 0, 1, "AlamaraSans")
    addMapping("AlamaraSans", 1, 1, "AlamaraSans-Bold")
    return FontSet("AlamaraSans", "AlamaraSans-Bold", unicode=True)


_WINANSI_SWAPS = str.maketrans({"\u202f": "\u00a0", "\u2009": " ", "\u2011": "-"})


def printable(text: str) -> str:
    """``text`` made drawable with the current fonts (a no-op with DejaVu Sans)."""
    if fonts().unicode:
        return text
    return text.translate(_WINANSI_SWAPS)
