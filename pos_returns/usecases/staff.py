"""Staff accounts, managed at the till by a manager: add, disable (and enable), reset
a PIN (the person sets a new one at the next login), unlock, change a role.

Every row written here is sealed with the chain's PIN pepper
(:func:`pos_returns.journal.pins.seal_staff`): the same change made in the cache
file, outside the till, breaks the seal and the account stops logging in. A reset
is the PIN hash ``reset$<time>$<nonce>`` under the seal, valid 7 days, at every till.

Every change is checked (French errors), journaled (``staff_change``: what, whom,
by whom, before / after — never a PIN nor its hash) and put in the outbox
(``staff_change``, the account as HQ keeps it, its scrypt hash included) so that
HQ, the master of the staff table every till pulls, knows it: HQ applies it
(``hq.receive``) and the next pull brings the same row back.

Ids of accounts made at a till come from that till's own range
(``store × 1 000 000 + till × 10 000 + n``), so two tills adding staff offline never
take the same id; HQ keeps them as they are.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from pos_returns.cache import outbox
from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.engine.domain import Role, Staff
from pos_returns.engine.text import clean_id, clean_text, shown
from pos_returns.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pos_returns.i18n import N_, _
from pos_returns.journal.chain import Journal
from pos_returns.journal.pins import reset_is_valid, reset_marker, seal_ok, seal_staff
from pos_returns.usecases import auth

ROLE_LABELS = {
    Role.SALESPERSON: N_("Salesperson"),
    Role.JEWELRY: N_("Fine jewelry"),
    Role.MANAGER: N_("Manager"),
}
_CODE = re.compile(r"[A-Z0-9]{2,12}")
_PIN = re.compile(r"[0-9]{4,8}")


@dataclass(frozen=True)
class Account:
    id: int
    code: str
    name: str
    role: Role
    active: bool
    locked: bool
    must_change_pin: bool

    @property
    def role_label(self) -> str:
        return _(ROLE_LABELS[self.role])


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def list_accounts(db: Database, manager: Staff, *, now: datetime | None = None
                  ) -> list[Account]:
    """The store's accounts (also the disabled ones), by code."""
    auth.require_role(manager, Role.MANAGER)
    moment = _now(now)
    rows = db.execute(
        "SELECT s.id, s.code, s.name, s.role, s.active, s.pin_hash LIKE 'reset$%' "
        "FROM staff s WHERE s.store_id = ? ORDER BY s.code",
        [manager.store_id],
    ).fetchall()
    return [Account(int(r[0]), r[1], r[2], Role(r[3]), bool(r[4]),
                    bool(auth.locked_until(db, int(r[0]), moment)),  # here or in the chain
                    bool(r[5])) for r in rows]


def _account(db: Database, manager: Staff, staff_id: Any) -> dict[str, Any]:
    sid = clean_id(staff_id, field=_("Member of staff"))
    rows = list(db.query("SELECT * FROM staff WHERE id = ?", [sid]))
    if not rows or rows[0]["store_id"] != manager.store_id:
        raise NotFound(_("Unknown member of staff."), code="staff")
    return rows[0]


def _validate_pin(pin: Any, again: Any | None = None) -> str:
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise InvalidInput(_("A PIN is 4 to 8 digits."), code="pin")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise InvalidInput(_("This PIN is too easy to guess: choose another one."), code="pin")
    if again is not None and again != pin:
        raise InvalidInput(_("The two PINs typed differ."), code="pin")
    return pin


def _role(value: Any) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise InvalidInput(_("Choose a role."), code="role") from None


def _record(db: Database, cfg: TillConfig, action: str, row: dict[str, Any], by: int | None,
            before: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    """Journal the change (no PIN, no hash) and send the account to HQ."""
    public = {k: row[k] for k in ("id", "code", "name", "role", "store_id", "active",
                                  "must_change_pin") if k in row}
    Journal.for_config(db, cfg).append("staff_change", {
        "action": action, "staff_id": row["id"], "by": by, "after": public,
        "before": {k: before[k] for k in public if before and k in before} if before else {},
    }, now=now)
    outbox.enqueue(db, kind="staff_change", uuid=str(uuidlib.uuid4()), payload={
        "action": action, "staff": {**public, "pin_hash": row["pin_hash"],
                                    "seal": row["seal"]}, "by": by,
    })


def _next_id(db: Database, cfg: TillConfig) -> int:
    base = cfg.store_id * 1_000_000 + cfg.till_no * 10_000
    row = db.execute("SELECT MAX(id) FROM staff WHERE id > ? AND id < ?",
                     [base, base + 10_000]).fetchone()
    return int(row[0] or base) + 1


def add_account(db: Database, cfg: TillConfig, manager: Staff, *, code: Any, name: Any,
                role: Any, pin: Any, now: datetime | None = None) -> Account:
    auth.require_role(manager, Role.MANAGER)
    code_text = clean_text(code, field=_("The staff code"), max_length=12, strict=True,
                           upper=True)
    if not _CODE.fullmatch(code_text):
        raise InvalidInput(_("A staff code is 2 to 12 letters or digits."), code="code")
    name_text = clean_text(name, field=_("The name"), max_length=80, strict=True)
    if sum(c.isalpha() for c in name_text) < 2:
        raise InvalidInput(_("Type the person's name."), code="name")
    role_value = _role(role)
    pepper = auth.pepper_of(cfg)
    pin_hash = auth.hash_pin(_validate_pin(pin), pepper)
    with atomic(db):
        if db.execute("SELECT 1 FROM staff WHERE code = ?", [code_text]).fetchone():
            raise Conflict(_("The staff code {code} is already taken.").format(
                code=shown(code_text)), code="code")
        row = {"id": _next_id(db, cfg), "code": code_text, "name": name_text,
               "role": role_value.value, "store_id": manager.store_id, "pin_hash": pin_hash,
               "active": 1, "must_change_pin": 0}
        row["seal"] = seal_staff(row, pepper)
        db["staff"].insert(row)
        _record(db, cfg, "add", row, manager.id, now=now)
    return next(a for a in list_accounts(db, manager) if a.id == row["id"])


def _update(db: Database, cfg: TillConfig, manager: Staff, staff_id: Any, action: str,
            changes: dict[str, Any], now: datetime | None) -> Account:
    auth.require_role(manager, Role.MANAGER)
    pepper = auth.pepper_of(cfg)
    with atomic(db):
        before = _account(db, manager, staff_id)
        if not seal_ok(before, pepper):  # never seal an edit made outside the till
            raise PermissionDenied(
                _("The account {code} was changed outside the till (its seal does not "
                  "match): it cannot be changed here until the chain's IT has checked "
                  "it.").format(code=before["code"]),
                code="seal",
            )
        if before["id"] == manager.id and action in ("disable", "role"):
            raise PermissionDenied(_("A manager cannot disable or change their own account: "
                                     "ask another manager."), code="self")
        after = {**before, **changes}
        changes = {**changes, "seal": seal_staff(after, pepper)}
        after["seal"] = changes["seal"]
        sets = ", ".join(f"{k} = ?" for k in changes)
        db.execute(f"UPDATE staff SET {sets} WHERE id = ?", [*changes.values(), before["id"]])
        if action == "reset_pin":  # a reset unlocks too (journaled, here and in the chain)
            auth.unlock(db, manager, before["id"], journal=Journal.for_config(db, cfg))
        _record(db, cfg, action, after, manager.id, before, now=now)
    return next(a for a in list_accounts(db, manager) if a.id == before["id"])


def set_active(db: Database, cfg: TillConfig, manager: Staff, staff_id: Any, active: bool,
               *, now: datetime | None = None) -> Account:
    """Disable (or enable again) an account: a disabled code no longer logs in."""
    return _update(db, cfg, manager, staff_id, "enable" if active else "disable",
                   {"active": int(bool(active))}, now)


def set_role(db: Database, cfg: TillConfig, manager: Staff, staff_id: Any, role: Any,
             *, now: datetime | None = None) -> Account:
    return _update(db, cfg, manager, staff_id, "role", {"role": _role(role).value}, now)


def reset_pin(db: Database, cfg: TillConfig, manager: Staff, staff_id: Any,
              *, now: datetime | None = None) -> Account:
    """The old PIN stops working; the person chooses a new one at the next login
    (:func:`set_new_pin`), in front of the manager who reset it."""
    return _update(db, cfg, manager, staff_id, "reset_pin",
                   {"pin_hash": reset_marker(now), "must_change_pin": 1}, now)


def unlock(db: Database, cfg: TillConfig, manager: Staff, staff_id: Any) -> Account:
    """Unlock an account locked after too many wrong PINs (``auth.unlock``, journaled)."""
    account = _account(db, manager, staff_id)
    auth.unlock(db, manager, account["id"], journal=Journal.for_config(db, cfg))
    return next(a for a in list_accounts(db, manager) if a.id == account["id"])


def needs_new_pin(db: Database, code: Any) -> bool:
    """True when this code's PIN was reset (at this till or another: the reset travels
    with the account): the login asks for a new PIN instead."""
    text = clean_text(code, max_length=32, upper=True) if isinstance(code, str) else ""
    row = db.execute("SELECT pin_hash FROM staff WHERE code = ? AND active = 1",
                     [text]).fetchone()
    return bool(row and str(row[0]).startswith("reset$"))


def _reset_used(db: Database, staff_id: int, marker: str) -> bool:
    """A reset is used once: this till's journal signed a new PIN for the person since
    the reset was made (a sealed reset marker put back in the cache is refused)."""
    made = marker.split("$")[1]
    return db.execute(
        "SELECT 1 FROM journal WHERE (store_id, till_no) IN (SELECT store_id, till_no "
        "FROM journal_heads) AND kind = 'staff_change' AND "
        "json_extract(payload, '$.staff_id') = ? AND "
        "json_extract(payload, '$.action') = 'new_pin' AND created_at >= ? LIMIT 1",
        [staff_id, made]).fetchone() is not None


def set_new_pin(db: Database, cfg: TillConfig, code: Any, pin: Any, again: Any,
                *, now: datetime | None = None) -> Staff:
    """After a reset: the person sets a new PIN and is logged in (journaled)."""
    staff = auth.find_staff(db, clean_text(code, max_length=32, upper=True))
    new_pin = _validate_pin(pin, again)
    pepper = auth.pepper_of(cfg)
    moment = _now(now)
    with atomic(db):
        row = next(iter(db.query("SELECT * FROM staff WHERE id = ?", [staff.id])))
        if not str(row["pin_hash"]).startswith("reset$"):
            raise PermissionDenied(_("This PIN was not reset: log in with your PIN."),
                                   code="no_reset")
        valid = seal_ok(row, pepper) and reset_is_valid(row["pin_hash"], moment) \
            and not _reset_used(db, staff.id, row["pin_hash"])
        if not valid:  # a reset copied, made up in the cache file, or more than 7 days old
            Journal.for_config(db, cfg).append(
                "login_failed", {"staff_id": staff.id, "purpose": "new_pin",
                                 "reset_invalid": True}, now=now)
        else:
            row = {**row, "pin_hash": auth.hash_pin(new_pin, pepper), "must_change_pin": 0}
            row["seal"] = seal_staff(row, pepper)
            db.execute("UPDATE staff SET pin_hash = ?, must_change_pin = 0, seal = ? "
                       "WHERE id = ?", [row["pin_hash"], row["seal"], staff.id])
            _record(db, cfg, "new_pin", row, staff.id, now=now)
            Journal.for_config(db, cfg).append(
                "login", {"staff_id": staff.id, "role": staff.role.value}, now=now)
    if not valid:
        raise PermissionDenied(
            _("This PIN reset is no longer valid: ask a manager to reset your PIN again."),
            code="reset_invalid")
    return staff
