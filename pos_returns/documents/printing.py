"""Where documents go: a folder (always) and a CUPS queue (when one is configured).

Since August 2023 French shops print paper tickets only on request (loi AGEC);
the till prints a card refund always (the customer leaves with proof that the
card was credited) and anything else when the customer asks: :func:`must_print`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from pos_returns.config import TillConfig
from pos_returns.documents.model import TicketDocument
from pos_returns.engine.approvals import must_print as plan_must_print
from pos_returns.errors import AlamaraError
from pos_returns.failures import os_message
from pos_returns.i18n import STORE_TZ, _

LP_TIMEOUT_SECONDS = 30
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class PrintFailed(AlamaraError):
    """The document is saved (``path``) but the printer queue did not take it."""

    def __init__(self, message: str, *, path: Path, code: str = "print") -> None:
        super().__init__(message, code=code)
        self.path = path


def must_print(ticket: Any) -> bool:
    """True when the ticket refunds money to a card: such tickets always print.

    Takes a :class:`TicketDocument`, or anything the engine's
    :func:`~pos_returns.engine.approvals.must_print` takes (a plan, a committed ticket).
    """
    if isinstance(ticket, TicketDocument):
        return ticket.has_card_refund
    return plan_must_print(ticket)


def _safe_name(text: str) -> str:
    cleaned = _SAFE.sub("-", text).strip("-.")
    return cleaned[:80] or "document"


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def save_document(pdf_bytes: bytes, *, kind: str, name: str, folder: Path,
                  now: datetime | None = None) -> Path:
    """Write ``pdf_bytes`` as ``folder/YYYY-MM-DD/<kind>-<name>.pdf`` (never overwriting).

    The day is the store's (Europe/Paris). The file appears whole or not at all
    (written to a temporary file, then renamed). Documents may carry a gift
    card's security code: the day folders are private to the till's user.
    """
    day = (now or datetime.now(STORE_TZ)).astimezone(STORE_TZ).date().isoformat()
    target_dir = folder / day
    try:
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise AlamaraError(
            _("Cannot create the documents folder {path}: {error}").format(
                path=target_dir, error=os_message(exc)  # French, never strerror's English
            ),
            code="documents_dir",
        ) from exc
    target = _unique(target_dir / f"{_safe_name(kind)}-{_safe_name(name)}.pdf")
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".tmp-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pdf_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def send_to_printer(path: Path, *, queue: str, title: str = "") -> None:
    """``lp -d QUEUE [-t TITLE] FILE``; a French :class:`PrintFailed` on any failure."""
    lp = shutil.which("lp")
    if lp is None:
        raise PrintFailed(
            _(
                "The printing command “lp” (CUPS) is not installed: the document was not "
                "printed. It is saved in {path}."
            ).format(path=path),
            path=path, code="lp_missing",
        )
    cmd = [lp, "-d", queue]
    if title:
        cmd += ["-t", title]
    cmd.append(str(path))
    try:
        result = subprocess.run(cmd, capture_output=True, text=True,
                                timeout=LP_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise PrintFailed(
            _(
                "The printer queue “{queue}” did not answer within {seconds} seconds. "
                "The document is saved in {path}."
            ).format(queue=queue, seconds=LP_TIMEOUT_SECONDS, path=path),
            path=path, code="lp_timeout",
        ) from None
    except OSError as exc:
        raise PrintFailed(
            _("Printing failed ({error}). The document is saved in {path}.").format(
                error=os_message(exc), path=path
            ),
            path=path, code="lp_failed",
        ) from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise PrintFailed(
            _(
                "The printer queue “{queue}” refused the document ({detail}). "
                "The document is saved in {path}."
            ).format(queue=queue, detail=detail[-1] if detail else result.returncode, path=path),
            path=path, code="lp_failed",
        )


def save_and_print(pdf_bytes: bytes, *, kind: str, name: str, cfg: TillConfig,
                   print_it: bool = True) -> Path:
    """Save the PDF in ``cfg.documents_dir`` (one folder per day) and, when
    ``cfg.printer_queue`` is set and ``print_it``, send it to that CUPS queue.

    Returns the saved path. A printing failure raises :class:`PrintFailed`, whose
    ``path`` is the saved document (it is kept, to print again later).
    """
    path = save_document(pdf_bytes, kind=kind, name=name, folder=Path(cfg.documents_dir))
    if cfg.printer_queue and print_it:
        send_to_printer(path, queue=cfg.printer_queue, title=f"{kind} {name}")
    return path
