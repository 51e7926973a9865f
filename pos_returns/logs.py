"""The till's log files: rotating, in the data folder, without personal data.

``setup_logging()`` (called once by the command line and the app) adds a
:class:`~logging.handlers.RotatingFileHandler` writing ``till.log`` in
:func:`log_dir` (``$POS_RETURNS_LOG_DIR``, else ``<data folder>/logs``): at most
1 MB a file, 5 old files kept. Every record goes through
:class:`PersonalDataFilter`, which masks e-mail addresses, long runs of digits
(card, gift card, phone, ID numbers) and ID numbers mixing letters and digits,
so a message that carries one by mistake is still safe to send to support.
The code never logs names, PINs or security codes in the first place.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

from pos_returns.config import data_home

LOG_NAME = "till.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DIGITS = re.compile(r"(?<![\w.])\+?\d[\d \-.]{4,}\d(?![\w])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIXED_ID = re.compile(r"\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{8,}\b")


def log_dir() -> Path:
    env = os.environ.get("POS_RETURNS_LOG_DIR")
    return Path(env) if env else data_home() / "logs"


def log_file() -> Path:
    return log_dir() / LOG_NAME


def scrub(text: str) -> str:
    """``text`` with e-mail addresses and long numbers masked."""
    text = _EMAIL.sub("[e-mail]", text)
    text = _MIXED_ID.sub("[id]", text)

    def digits(match: re.Match[str]) -> str:
        found = match.group(0)
        if _DATE.fullmatch(found.strip()):
            return found  # a date is not personal data, and the logs need it
        return "[n]" if sum(c.isdigit() for c in found) >= 6 else found

    return _DIGITS.sub(digits, text)


class PersonalDataFilter(logging.Filter):
    """Masks personal data in the message and the traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = scrub(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to the rotating file (once per process); returns its path, or ``None``
    when the folder cannot be written (the till still works, without a log)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_alamara", False):
            return Path(handler.baseFilename)  # type: ignore[attr-defined]
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=False)
    except OSError:
        return None
    handler._alamara = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(PersonalDataFilter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path
