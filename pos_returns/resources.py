"""The files the till ships with: compiled catalogues, the style sheet, icons, the
logo and fonts.

The repository keeps them at its top (``locales/``, ``resources/``); the wheel
carries them inside the package (``pos_returns/data/``, built by ``setup.py``),
found here through :mod:`importlib.resources`. A checkout (editable install)
uses the top-level folders.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The folder that holds ``locales/`` and ``resources/``."""
    packaged = Path(str(files("pos_returns") / "data"))
    if (packaged / "locales").is_dir():
        return packaged
    return _CHECKOUT


def locale_dir() -> Path:
    return data_root() / "locales"


def resources_dir() -> Path:
    return data_root() / "resources"


def resource(*parts: str) -> Path:
    """A file of ``resources/`` (``resource("style.qss")``)."""
    return resources_dir().joinpath(*parts)
