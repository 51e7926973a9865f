"""What the UI needs of the till's support machinery, through the use-case layer:
French messages for failures from below the core, and the log file."""

from __future__ import annotations

from pathlib import Path

from pos_returns.errors import AlamaraError
from pos_returns.failures import as_alamara, unexpected_message
from pos_returns.logs import setup_logging


def french_error(exc: BaseException) -> AlamaraError | None:
    """``exc`` as a French :class:`AlamaraError` (SQLite, disk, HQ…), or ``None``
    for an unexpected error (a bug)."""
    return as_alamara(exc)


def start_logging() -> Path | None:
    """The rotating log file of the till (no personal data); its path."""
    return setup_logging()


def generic_message() -> str:
    return unexpected_message()
