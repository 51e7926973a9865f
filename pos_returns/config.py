"""The till's configuration: one TOML file with documented defaults.

Every key is optional; a missing file means "all defaults". A bad value raises
:class:`~pos_returns.errors.ConfigError` with a message that names the key.
The documented example is ``docs/till.example.toml``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pos_returns.errors import ConfigError
from pos_returns.i18n import _


def data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "alamara-retours"


def config_home() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "alamara-retours"


def default_config_path() -> Path:
    return Path(os.environ.get("POS_RETURNS_CONFIG") or config_home() / "till.toml")


@dataclass(frozen=True)
class PolicyConfig:
    """Thresholds the store may tune; money in cents."""

    cash_refund_ceiling: int = 100_000  # above 1 000 € cash needs a manager
    jewelry_manager_threshold: int = 100_000  # fine jewelry above 1 000 € needs a manager
    restocking_fee_bp: dict[str, int] = field(default_factory=dict)  # department -> bp (R18)
    no_receipt_window_days: int = 365  # R19 rolling window
    no_receipt_warn_count: int = 2  # warn from this many earlier no-receipt returns
    no_receipt_manager_count: int = 3  # a manager must approve from this many
    no_receipt_refuse_count: int = 5  # refused from this many
    no_receipt_refuse_amount: int = 150_000  # refused when the window's total reaches this
    id_retention_months: int = 13  # RGPD retention of the no-receipt ID data
    max_line_quantity: int = 99  # any quantity above this is absurd at a till


PRINTER_KINDS = ("pdf", "escpos-network", "escpos-device", "none")
TICKET_CHOICES = ("paper", "email", "none")
PAPER_WIDTHS = (80, 58)
# Gift cards (and the avoirs issued on them) carry a validity date. The till refuses a
# setting under GIFT_CARD_MIN_VALIDITY_MONTHS: the floor the chain applies as the legal
# minimum (docs/devices.md explains the choice; raise it here if the law sets more).
GIFT_CARD_MIN_VALIDITY_MONTHS = 12
GIFT_CARD_DEFAULT_VALIDITY_MONTHS = 24
GIFT_CARD_MAX_VALIDITY_MONTHS = 120


@dataclass(frozen=True)
class TillConfig:
    store_id: int = 1
    till_no: int = 1
    language: str = "fr"
    cache_path: Path = field(default_factory=lambda: data_home() / "cache.sqlite")
    key_path: Path = field(default_factory=lambda: data_home() / "keys" / "journal_ed25519.pem")
    documents_dir: Path = field(default_factory=lambda: data_home() / "documents")
    printer_queue: str = ""  # CUPS queue for `lp`; empty: documents only go to the folder
    hq_dsn: str = ""  # PostgreSQL DSN of HQ; empty: no sync (demo mode)
    idle_lock_seconds: int = 120
    privacy_contact: str = "dpo@alamara.fr"  # shown in the ID notice (RGPD rights)
    # -- tickets: printer, cash drawer, e-mail (docs/devices.md) --------------------------
    printer_kind: str = "pdf"  # pdf (folder + CUPS queue) | escpos-network | escpos-device | none
    printer_host: str = ""  # escpos-network: the printer's address
    printer_port: int = 9100  # escpos-network: raw TCP port
    printer_device: str = ""  # escpos-device: /dev/usb/lp0, /dev/ttyUSB0…
    paper_width_mm: int = 80  # 80 (48 columns) or 58 (32 columns)
    cash_drawer: bool = False  # a drawer on the ESC/POS printer's drawer port
    smtp_host: str = ""  # empty: no e-mail tickets
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password_file: Path | None = None  # the account's password, alone in a 0600 file
    mail_sender: str = ""  # the From: address of e-mailed tickets
    ticket_default: str = "none"  # what the done screen proposes: paper | email | none
    nf525_certificate: str = ""  # NF525 certificate reference; empty: « en cours de certification »
    gift_card_validity_months: int = GIFT_CARD_DEFAULT_VALIDITY_MONTHS
    hq_deadline_seconds: int = 3  # every HQ call: statement timeout and overall deadline
    reservation_review_minutes: int = 10  # a reservation unconfirmed longer: manager's review
    sync_max_amount: int = 10_000_000  # cents: a pulled amount beyond 100 000 € is refused
    sync_max_quantity: int = 9_999  # a pulled quantity beyond this is refused
    terminal_host: str = ""  # payment terminal (Caisse-AP over IP); empty: no terminal
    terminal_port: int = 8888
    terminal_timeout_seconds: int = 90  # the customer presents the card within this time
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def with_cache(self, path: Path | str) -> TillConfig:
        return replace(self, cache_path=Path(path))


_TOP_TYPES: dict[str, type] = {
    "store_id": int,
    "till_no": int,
    "language": str,
    "cache_path": Path,
    "key_path": Path,
    "documents_dir": Path,
    "printer_queue": str,
    "hq_dsn": str,
    "idle_lock_seconds": int,
    "privacy_contact": str,
    "printer_kind": str,
    "printer_host": str,
    "printer_port": int,
    "printer_device": str,
    "paper_width_mm": int,
    "cash_drawer": bool,
    "smtp_host": str,
    "smtp_port": int,
    "smtp_starttls": bool,
    "smtp_user": str,
    "smtp_password_file": Path,
    "mail_sender": str,
    "ticket_default": str,
    "nf525_certificate": str,
    "gift_card_validity_months": int,
    "hq_deadline_seconds": int,
    "reservation_review_minutes": int,
    "sync_max_amount": int,
    "sync_max_quantity": int,
    "terminal_host": str,
    "terminal_port": int,
    "terminal_timeout_seconds": int,
}
_OPTIONAL_PATHS = {"smtp_password_file"}  # "" in the file: none


def _bad(key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(
        _("Configuration: the key “{key}” must be {expected} (found: {value!r}).").format(
            key=key, expected=expected, value=value
        ),
        code="config",
    )


def _int(key: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, _("a whole number"), value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}…{maximum}" if maximum is not None else f"≥ {minimum}"
        raise _bad(key, _("a whole number in {range}").format(range=bound), value)
    return value


def parse_config(data: dict[str, Any], *, base_dir: Path | None = None) -> TillConfig:
    """Build a :class:`TillConfig` from parsed TOML, checking every key."""
    known = set(_TOP_TYPES) | {"policy"}
    for key in data:
        if key not in known:
            raise ConfigError(
                _("Configuration: unknown key “{key}”.").format(key=key), code="config"
            )
    kwargs: dict[str, Any] = {}
    for key, typ in _TOP_TYPES.items():
        if key not in data:
            continue
        value = data[key]
        if typ is int:
            kwargs[key] = _int(key, value, minimum=1 if key != "idle_lock_seconds" else 0)
        elif typ is bool:
            if not isinstance(value, bool):
                raise _bad(key, _("true or false"), value)
            kwargs[key] = value
        elif typ is Path:
            if key in _OPTIONAL_PATHS and value == "":
                kwargs[key] = None
                continue
            if not isinstance(value, str) or not value:
                raise _bad(key, _("a file path"), value)
            path = Path(os.path.expanduser(value))
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            kwargs[key] = path
        else:
            if not isinstance(value, str):
                raise _bad(key, _("text"), value)
            kwargs[key] = value
    if "language" in kwargs and kwargs["language"] not in ("fr", "en"):
        raise _bad("language", "“fr” / “en”", kwargs["language"])
    if "store_id" in kwargs:
        _int("store_id", kwargs["store_id"], minimum=1, maximum=999)
    if "till_no" in kwargs:
        _int("till_no", kwargs["till_no"], minimum=1, maximum=99)
    _check_devices(kwargs)
    if "terminal_port" in kwargs:
        _int("terminal_port", kwargs["terminal_port"], minimum=1, maximum=65535)
    if "terminal_timeout_seconds" in kwargs:
        _int("terminal_timeout_seconds", kwargs["terminal_timeout_seconds"],
             minimum=5, maximum=600)
    host = kwargs.get("terminal_host", "")
    if host != host.strip() or any(ch.isspace() for ch in host) or len(host) > 253:
        raise _bad("terminal_host", _("a host name or IP address, without spaces"), host)
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        raise _bad("policy", _("a table"), policy)
    kwargs["policy"] = _parse_policy(policy)
    return TillConfig(**kwargs)


def _one_of(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise _bad(key, " / ".join(f"“{c}”" for c in choices), value)


def _check_devices(kw: dict[str, Any]) -> None:
    """The printer, drawer and e-mail keys, each alone and together."""
    d = TillConfig.__dataclass_fields__
    get = lambda key: kw.get(key, d[key].default)  # noqa: E731
    _one_of("printer_kind", get("printer_kind"), PRINTER_KINDS)
    _one_of("paper_width_mm", get("paper_width_mm"), PAPER_WIDTHS)
    _one_of("ticket_default", get("ticket_default"), TICKET_CHOICES)
    for key in ("printer_port", "smtp_port"):
        if key in kw:
            _int(key, kw[key], minimum=1, maximum=65535)
    if get("printer_kind") == "escpos-network" and not get("printer_host"):
        raise _bad("printer_host", _("the printer's address (printer_kind = escpos-network)"),
                   get("printer_host"))
    if get("printer_kind") == "escpos-device" and not get("printer_device"):
        raise _bad("printer_device", _("the printer's device file (printer_kind = escpos-device)"),
                   get("printer_device"))
    if get("cash_drawer") and not str(get("printer_kind")).startswith("escpos"):
        raise _bad("cash_drawer", _("false unless the printer is an ESC/POS printer"), True)
    sender = get("mail_sender")
    if sender and ("@" not in sender or " " in sender.strip()):
        raise _bad("mail_sender", _("an e-mail address"), sender)
    if get("smtp_user") and not get("smtp_password_file"):
        raise _bad("smtp_password_file", _("the file holding smtp_user's password"), "")
    if get("ticket_default") == "email" and not (get("smtp_host") and sender):
        raise _bad("ticket_default", _("“paper” or “none” while smtp_host and mail_sender "
                                       "are not set"), "email")
    months = get("gift_card_validity_months")
    _int("gift_card_validity_months", months, minimum=GIFT_CARD_MIN_VALIDITY_MONTHS,
         maximum=GIFT_CARD_MAX_VALIDITY_MONTHS)


def _parse_policy(data: dict[str, Any]) -> PolicyConfig:
    names = {f.name for f in fields(PolicyConfig)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"policy.{key}"
        if key not in names:
            raise ConfigError(
                _("Configuration: unknown key “{key}”.").format(key=full), code="config"
            )
        if key == "restocking_fee_bp":
            if not isinstance(value, dict):
                raise _bad(full, _("a table department = basis points"), value)
            kwargs[key] = {
                str(dept): _int(f"{full}.{dept}", bp, minimum=0, maximum=5000)
                for dept, bp in value.items()
            }
        else:
            kwargs[key] = _int(full, value, minimum=0)
    cfg = PolicyConfig(**kwargs)
    warn, manager = cfg.no_receipt_warn_count, cfg.no_receipt_manager_count
    if not (warn <= manager <= cfg.no_receipt_refuse_count):
        raise _bad(
            "policy.no_receipt_manager_count",
            _("between the warn and refuse counts"),
            cfg.no_receipt_manager_count,
        )
    return cfg


def load_config(path: Path | str | None = None) -> TillConfig:
    """Read the TOML file at ``path`` (default: the user's config); absent -> defaults."""
    cfg_path = Path(path) if path else default_config_path()
    if not cfg_path.exists():
        return TillConfig()
    try:
        with cfg_path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's text is English: keep only its position ("at line 3, column 7").
        found = re.search(r"at line (\d+), column (\d+)", str(exc))
        where = (_(" (line {line}, column {column})").format(line=found[1], column=found[2])
                 if found else "")
        raise ConfigError(
            _("Configuration file {path} is not valid TOML{where}.").format(
                path=cfg_path, where=where
            ),
            code="config",
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            _("Configuration file {path} is not UTF-8 text (a binary or damaged file?).")
            .format(path=cfg_path),
            code="config",
        ) from exc
    return parse_config(data, base_dir=cfg_path.parent)
