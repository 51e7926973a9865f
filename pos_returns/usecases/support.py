"""The till's support machinery, through the use-case layer: French messages for
failures from below the core (for the UI), the log file, and the support bundle
(``pos-returns support-bundle``)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import platform
import sqlite3
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos_returns import __version__
from pos_returns.cache.db import connect
from pos_returns.config import TillConfig
from pos_returns.errors import AlamaraError
from pos_returns.failures import as_alamara, unexpected_message
from pos_returns.i18n import _
from pos_returns.journal.verify import verify
from pos_returns.logs import LOG_NAME, log_dir, scrub, setup_logging


def french_error(exc: BaseException) -> AlamaraError | None:
    """``exc`` as a French :class:`AlamaraError` (SQLite, disk, HQ…), or ``None``
    for an unexpected error (a bug)."""
    return as_alamara(exc)


def start_logging() -> Path | None:
    """The rotating log file of the till (no personal data); its path."""
    return setup_logging()


def generic_message() -> str:
    return unexpected_message()


# --------------------------------------------------------------------------- support bundle

SECRET_WORDS = ("password", "passwd", "secret", "token", "dsn", "key_material", "pin")


def _without_secrets(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_secrets(v, key) for v in value]
    if any(word in key.lower() for word in SECRET_WORDS):
        return "***" if value else ""
    if isinstance(value, Path):
        return str(value)
    return value


def config_without_secrets(cfg: TillConfig) -> dict[str, Any]:
    """The configuration as support may see it: passwords, DSN, tokens masked."""
    return _without_secrets(dataclasses.asdict(cfg))


def versions() -> dict[str, str]:
    out = {"alamara-retours": __version__, "python": sys.version.split()[0],
           "platform": platform.platform(), "sqlite": sqlite3.sqlite_version}
    for name in ("PySide6-Essentials", "sqlite-utils", "reportlab", "cryptography", "babel",
                 "psycopg"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = ""
    return out


def _verify_text(cfg: TillConfig) -> str:
    """``journal verify`` of the cache, or why it could not run (in French)."""
    try:
        db = connect(cfg.cache_path, create=False, readonly=True)
    except Exception as exc:
        error = as_alamara(exc, cache=cfg.cache_path)
        return str(error) if error is not None else unexpected_message()
    try:
        report = verify(db)
        return report.summary()
    except Exception as exc:
        error = as_alamara(exc, cache=cfg.cache_path)
        return str(error) if error is not None else unexpected_message()
    finally:
        db.close()


def support_bundle(cfg: TillConfig, out: Path | str | None = None, *,
                   now: datetime | None = None) -> Path:
    """Write a zip for support: the log files (already without personal data), the
    configuration without secrets, the journal's verification, the versions. The
    file appears whole (temporary file, then renamed)."""
    moment = now or datetime.now(UTC)
    target = Path(out) if out else (
        Path(cfg.documents_dir) / f"support-{moment.strftime('%Y%m%d-%H%M%S')}.zip")
    if target.is_dir():
        target = target / f"support-{moment.strftime('%Y%m%d-%H%M%S')}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            folder = log_dir()
            for path in sorted(folder.glob(f"{LOG_NAME}*")) if folder.is_dir() else ():
                zf.writestr(f"logs/{path.name}",
                            scrub(path.read_text(encoding="utf-8", errors="replace")))
            zf.writestr("config.json", json.dumps(config_without_secrets(cfg), indent=2,
                                                  ensure_ascii=False, sort_keys=True))
            zf.writestr("verify.txt", _verify_text(cfg) + "\n")
            zf.writestr("versions.json", json.dumps(versions(), indent=2, sort_keys=True))
            zf.writestr("README.txt", _(
                "Alamara Retours support bundle: logs (without personal data), the "
                "configuration without secrets, the fiscal journal's verification, the "
                "versions.") + "\n")
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
