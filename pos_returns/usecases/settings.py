"""The store's settings, changed by a manager at the till over the TOML defaults.

The model is a list of :class:`Setting` descriptors (:data:`SETTINGS`): each names
a dotted path in :class:`~pos_returns.config.TillConfig` (``policy.cash_refund_ceiling``,
``printer_queue``…), how it is typed and checked, and its label. A new key is one
line, e.g.::

    text("smtp_host", N_("E-mail server"), group=N_("E-mail"), check=host),

The values a manager saves live in ``store_settings`` (``source='store'``) and
override the TOML file (:func:`effective_config`). Values HQ is master of are
``source='hq'`` rows (:func:`set_from_hq`, called by the sync) or descriptors with
``hq_only=True``: the screen shows them read-only and :func:`change_setting`
refuses them. Every change is checked (a French :class:`InvalidInput` naming the
setting) and journaled as ``setting_change`` with who, before and after (a
secret is journaled as « *** »). A path the configuration does not have yet is
stored all the same and read with :func:`setting_value`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.cache.outbox import canonical_json
from pos_returns.config import TillConfig
from pos_returns.engine.domain import Role, Staff
from pos_returns.engine.text import clean_text, shown
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied
from pos_returns.i18n import N_, _, current_language, format_money, format_percent
from pos_returns.journal.chain import Journal
from pos_returns.usecases.auth import require_role

DEPARTMENTS_FALLBACK = ("women", "men", "kids", "home", "beauty", "jewelry")


@dataclass(frozen=True)
class Setting:
    """One setting of the screen: where it goes, how it is typed and checked."""

    key: str  # dotted path in TillConfig; policy.restocking_fee_bp.<dept> for a table
    label: str  # N_() msgid
    kind: str  # "money" (cents), "int", "percent" (basis points), "text", "choice", "bool"
    group: str = N_("Returns")
    minimum: int = 0
    maximum: int | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, N_ label) for "choice"
    check: Callable[[str], str] | None = None  # extra check of a text value (French error)
    hq_only: bool = False  # HQ is always master: shown read-only
    secret: bool = False  # never shown nor journaled in clear
    help: str = ""


def _host(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-:\[\]]{0,252}", value):
        raise InvalidInput(_("“{value}” is not a host name or an IP address.").format(
            value=shown(value)), code="host")
    return value


def _email(value: str) -> str:
    if value and not re.fullmatch(r"[^@\s]{1,64}@[A-Za-z0-9.\-]{1,250}\.[A-Za-z]{2,}", value):
        raise InvalidInput(_("“{value}” is not an e-mail address.").format(value=shown(value)),
                           code="email")
    return value


def _device(value: str) -> str:
    if value and not re.fullmatch(r"/dev/[A-Za-z0-9_./\-]{1,60}", value):
        raise InvalidInput(_("“{value}” is not a device path (/dev/…).").format(
            value=shown(value)), code="device")
    return value


def _queue(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9_.\-@/]{1,127}", value):
        raise InvalidInput(_("“{value}” is not a printer queue name (letters, digits, "
                             "- _ . only).").format(value=shown(value)), code="printer")
    return value


def money(key: str, label: str, **kw: Any) -> Setting:
    return Setting(key, label, "money", **kw)


def whole(key: str, label: str, **kw: Any) -> Setting:
    return Setting(key, label, "int", **kw)


def percent(key: str, label: str, **kw: Any) -> Setting:
    return Setting(key, label, "percent", **kw)


def text(key: str, label: str, **kw: Any) -> Setting:
    return Setting(key, label, "text", **kw)


def choice(key: str, label: str, choices: tuple[tuple[str, str], ...], **kw: Any) -> Setting:
    return Setting(key, label, "choice", choices=choices, **kw)


def boolean(key: str, label: str, **kw: Any) -> Setting:
    return Setting(key, label, "bool", choices=(("true", N_("Yes")), ("false", N_("No"))),
                   **kw)


R19 = N_("Repeat no-receipt returns (R19)")
PRINTER = N_("Printer")
TERMINAL = N_("Payment terminal")
MAIL = N_("E-mail")
TILL = N_("Till")

# The settings screen, in order. One line per key (the helpers above).
SETTINGS: list[Setting] = [
    money("policy.cash_refund_ceiling", N_("Cash refund ceiling"), maximum=10_000_00),
    money("policy.jewelry_manager_threshold", N_("Fine jewelry: manager above"),
          maximum=1_000_000_00),
    whole("policy.no_receipt_window_days", N_("Window (days)"), group=R19, minimum=1,
          maximum=3660),
    whole("policy.no_receipt_warn_count", N_("Warn from (earlier returns)"), group=R19,
          minimum=1, maximum=100),
    whole("policy.no_receipt_manager_count", N_("Manager from (earlier returns)"), group=R19,
          minimum=1, maximum=100),
    whole("policy.no_receipt_refuse_count", N_("Refused from (earlier returns)"), group=R19,
          minimum=1, maximum=100),
    money("policy.no_receipt_refuse_amount", N_("Refused from (amount in the window)"),
          group=R19, maximum=1_000_000_00),
    whole("policy.id_retention_months", N_("ID data kept (months)"), group=R19, minimum=1,
          maximum=120, hq_only=True),
    choice("printer_kind", N_("Printer kind"),
           (("pdf", N_("PDF (folder and CUPS queue)")), ("escpos-network", N_("Thermal, network")),
            ("escpos-device", N_("Thermal, USB or serial")), ("none", N_("None"))),
           group=PRINTER),
    text("printer_queue", N_("Printer queue (CUPS)"), group=PRINTER, check=_queue),
    text("printer_host", N_("Printer address"), group=PRINTER, check=_host),
    whole("printer_port", N_("Printer port"), group=PRINTER, minimum=1, maximum=65535),
    text("printer_device", N_("Printer device"), group=PRINTER, check=_device),
    choice("paper_width_mm", N_("Paper width (mm)"), (("80", "80"), ("58", "58")),
           group=PRINTER),
    boolean("cash_drawer", N_("Cash drawer on the printer"), group=PRINTER),
    text("terminal_host", N_("Terminal address"), group=TERMINAL, check=_host),
    whole("terminal_port", N_("Terminal port"), group=TERMINAL, minimum=1, maximum=65535),
    text("smtp_host", N_("E-mail server"), group=MAIL, check=_host),
    whole("smtp_port", N_("E-mail server port"), group=MAIL, minimum=1, maximum=65535),
    boolean("smtp_starttls", N_("Encrypted connection (STARTTLS)"), group=MAIL),
    text("smtp_user", N_("E-mail account"), group=MAIL),
    text("mail_sender", N_("Sender address"), group=MAIL, check=_email),
    choice("ticket_default", N_("Default ticket"),
           (("paper", N_("Paper")), ("email", N_("E-mail")), ("none", N_("None"))), group=TILL),
    choice("language", N_("Language"), (("fr", N_("French")), ("en", N_("English"))),
           group=TILL),
]
FEE_PREFIX = "policy.restocking_fee_bp."


def restocking_settings(departments: Sequence[tuple[str, str]]) -> list[Setting]:
    """One restocking fee (R18) per department: ``policy.restocking_fee_bp.<code>``."""
    return [percent(f"{FEE_PREFIX}{code}", name, group=N_("Restocking fee (R18)"),
                    maximum=5000) for code, name in departments]


def all_settings(db: Database) -> list[Setting]:
    column = "name_en" if current_language() == "en" else "name_fr"
    rows = db.execute(f"SELECT code, {column} FROM departments ORDER BY code").fetchall() \
        if db["departments"].exists() else []
    departments = [(r[0], r[1]) for r in rows] or [(d, d) for d in DEPARTMENTS_FALLBACK]
    return [*SETTINGS[:2], *restocking_settings(departments), *SETTINGS[2:]]


def _descriptor(db: Database, key: str) -> Setting:
    for s in all_settings(db):
        if s.key == key:
            return s
    raise NotFound(_("Unknown setting “{key}”.").format(key=shown(key, 60)), code="setting")


# --------------------------------------------------------------------------- values


_MISSING = object()


def _get_path(cfg: Any, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part, _MISSING)
        else:
            obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return None
    return obj


def _set_path(obj: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(obj, dict):
        new = dict(obj)
        new[head] = _set_path(obj.get(head, {}), rest, value)
        return new
    if dataclasses.is_dataclass(obj) and head in {f.name for f in dataclasses.fields(obj)}:
        return dataclasses.replace(obj, **{head: _set_path(getattr(obj, head), rest, value)})
    return obj  # a key the configuration does not have (yet): kept in the table only


def stored_settings(db: Database) -> dict[str, tuple[Any, str]]:
    if not db["store_settings"].exists():
        return {}
    return {k: (json.loads(v), src) for k, v, src in
            db.execute("SELECT key, value, source FROM store_settings")}


def effective_config(db: Database, cfg: TillConfig) -> TillConfig:
    """``cfg`` (the TOML file) with the store's and HQ's settings over it."""
    out: Any = cfg
    for key, (value, _source) in sorted(stored_settings(db).items()):
        out = _set_path(out, key.split("."), value)
    return out


def setting_value(db: Database, cfg: TillConfig, key: str) -> Any:
    """A setting's value: the table's, else the configuration's, else ``None``."""
    stored = stored_settings(db).get(key)
    return stored[0] if stored else _get_path(cfg, key)


def display(setting: Setting, value: Any) -> str:
    """The value as the screen shows it (French money and percentages)."""
    if value is None or value == "":
        return ""
    if setting.secret:
        return "••••••"
    if setting.kind == "money":
        return format_money(int(value))
    if setting.kind == "percent":
        return format_percent(int(value))
    if setting.kind in ("choice", "bool"):
        key = choice_key(value)
        return next((_(label) for v, label in setting.choices if v == key), str(value))
    return str(value)


def choice_key(value: Any) -> str:
    """A choice's stored value as the key of its entry (``True`` -> ``"true"``, 80 -> ``"80"``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def edit_text(setting: Setting, value: Any) -> str:
    """The value as the field shows it for typing (``12,50`` for money)."""
    if value is None:
        return ""
    if setting.kind == "money":
        cents = int(value)
        return f"{cents // 100},{cents % 100:02d}"
    if setting.kind == "percent":
        return f"{Decimal(int(value)) / 100:f}".replace(".", ",")
    if setting.kind in ("choice", "bool"):
        return choice_key(value)
    return str(value)


def parse_value(setting: Setting, raw: Any) -> Any:
    """What was typed -> the stored value, checked; a French error names the setting."""
    label = _(setting.label)
    if setting.kind in ("choice", "bool"):
        value = clean_text(str(raw).lower() if isinstance(raw, bool) else raw, field=label,
                           max_length=40, strict=True)
        if value not in {v for v, _l in setting.choices}:
            raise InvalidInput(_("{setting}: choose one of the values offered.").format(
                setting=label), code="setting")
        if setting.kind == "bool":
            return value == "true"
        return int(value) if value.isdigit() else value
    if setting.kind == "text":
        value = clean_text(raw, field=label, max_length=255, strict=True)
        return setting.check(value) if setting.check else value
    value_text = clean_text(raw, field=label, max_length=20, strict=True)
    value_text = value_text.replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    value_text = value_text.removesuffix("€").removesuffix("%").replace(",", ".")
    try:
        number = Decimal(value_text)
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidInput(_("{setting}: “{value}” is not a number.").format(
            setting=label, value=shown(raw)), code="setting") from None
    scale = {"money": 100, "percent": 100}.get(setting.kind, 1)
    scaled = number * scale
    if scaled != scaled.to_integral_value():
        raise InvalidInput(_("{setting}: too many decimals.").format(setting=label),
                           code="setting")
    value = int(scaled)
    high = setting.maximum
    if value < setting.minimum or (high is not None and value > high):
        lo, hi = display(setting, setting.minimum), display(setting, high) if high else "∞"
        if setting.kind == "int":
            lo, hi = str(setting.minimum), str(high) if high is not None else "∞"
        raise InvalidInput(_("{setting}: between {low} and {high}.").format(
            setting=label, low=lo or "0", high=hi), code="setting")
    return value


@dataclass(frozen=True)
class SettingView:
    setting: Setting
    value: Any
    text: str  # as shown
    edit: str  # as typed
    source: str  # "file" (TOML / default), "store", "hq"
    read_only: bool
    default: Any = field(default=None)


def list_settings(db: Database, cfg: TillConfig, manager: Staff) -> list[SettingView]:
    """Every setting with its current value, where it comes from, and whether this
    till may change it (manager only)."""
    require_role(manager, Role.MANAGER)
    stored = stored_settings(db)
    views = []
    for s in all_settings(db):
        default = _get_path(cfg, s.key)
        if s.key.startswith(FEE_PREFIX) and default is None:
            default = 0
        value, source = stored.get(s.key, (default, "file"))
        views.append(SettingView(s, value, display(s, value), edit_text(s, value), source,
                                 s.hq_only or source == "hq", default))
    return views


def _check_together(cfg: TillConfig) -> None:
    p = cfg.policy
    if not (p.no_receipt_warn_count <= p.no_receipt_manager_count <= p.no_receipt_refuse_count):
        raise InvalidInput(
            _("R19: the counts must go up: warn ≤ manager ≤ refused (now {warn}, {manager}, "
              "{refuse}).").format(warn=p.no_receipt_warn_count,
                                   manager=p.no_receipt_manager_count,
                                   refuse=p.no_receipt_refuse_count),
            code="setting")


def change_setting(db: Database, cfg: TillConfig, manager: Staff, key: str, raw: Any, *,
                   now: datetime | None = None) -> SettingView:
    """Save one setting typed by a manager: checked, stored, journaled (who, before,
    after). HQ's values are refused (:class:`PermissionDenied`)."""
    require_role(manager, Role.MANAGER)
    setting = _descriptor(db, key)
    stored = stored_settings(db)
    if setting.hq_only or stored.get(key, (None, ""))[1] == "hq":
        raise PermissionDenied(_("{setting} is set by HQ: it cannot be changed at the "
                                 "till.").format(setting=_(setting.label)), code="hq_setting")
    value = parse_value(setting, raw)
    before = setting_value(db, cfg, key)
    after_cfg = _set_path(effective_config(db, cfg), key.split("."), value)
    _check_together(after_cfg)
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    journal = Journal.for_config(db, cfg)
    with atomic(db):
        db.execute(
            "INSERT INTO store_settings(key, value, source, updated_at, updated_by) "
            "VALUES (?, ?, 'store', ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value, source = 'store', updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            [key, canonical_json(value), moment, manager.id],
        )
        hide = setting.secret
        journal.append("setting_change", {
            "key": key, "before": "***" if hide else before, "after": "***" if hide else value,
            "staff_id": manager.id,
        }, now=now)
    return next(v for v in list_settings(db, cfg, manager) if v.setting.key == key)


def set_from_hq(db: Database, values: dict[str, Any], *, now: datetime | None = None) -> int:
    """Store values HQ is master of (the sync calls this): shown read-only."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with atomic(db):
        for key, value in values.items():
            db.execute(
                "INSERT INTO store_settings(key, value, source, updated_at, updated_by) "
                "VALUES (?, ?, 'hq', ?, NULL) ON CONFLICT(key) DO UPDATE SET "
                "value = excluded.value, source = 'hq', updated_at = excluded.updated_at, "
                "updated_by = NULL",
                [key, canonical_json(value), moment],
            )
    return len(values)
