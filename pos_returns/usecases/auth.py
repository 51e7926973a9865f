"""Staff, PINs and lockouts. Permissions are enforced here, in the core.

PINs are stored only as a slow salted hash (scrypt). After
``MAX_FAILED_ATTEMPTS`` wrong PINs in a row the staff member is locked out for
``LOCKOUT_MINUTES``, or until a manager unlocks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.engine.domain import Role, Staff, StaffId, StoreId
from pos_returns.engine.plan import Approval
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied
from pos_returns.i18n import _, ngettext

MAX_FAILED_ATTEMPTS = 5
LOCKOUT_MINUTES = 15
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_pin(pin: str, *, n: int = _SCRYPT_N) -> str:
    if not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise InvalidInput(_("A PIN has 4 to 8 digits."), code="pin")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_pin_hash(pin: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    try:  # a damaged hash (e.g. pulled from HQ) is a PIN that never matches, not a crash
        digest = hashlib.scrypt(
            pin.encode(), salt=base64.b64decode(salt_b64, validate=True), n=int(n), r=int(r),
            p=int(p), dklen=32,
        )
        expected = base64.b64decode(digest_b64, validate=True)
    except (ValueError, OverflowError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


def _row_to_staff(row: dict) -> Staff:
    return Staff(
        id=StaffId(row["id"]),
        code=row["code"],
        name=row["name"],
        role=Role(row["role"]),
        store_id=StoreId(row["store_id"]),
    )


def find_staff(db: Database, code: str) -> Staff:
    code = (code or "").strip().upper()
    if not code or len(code) > 32:
        raise NotFound(_("Unknown staff code."), code="staff")
    rows = list(db.query("SELECT * FROM staff WHERE code = ? AND active = 1", [code]))
    if not rows:
        raise NotFound(_("Unknown staff code."), code="staff")
    return _row_to_staff(rows[0])


def get_staff(db: Database, staff_id: int) -> Staff:
    rows = list(db.query("SELECT * FROM staff WHERE id = ?", [staff_id]))
    if not rows:
        raise NotFound(_("Unknown member of staff."), code="staff")
    return _row_to_staff(rows[0])


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _journal(journal: Any, kind: str, payload: dict[str, Any], now: datetime) -> None:
    # Optional fiscal journal hook (pos_returns.journal.chain.Journal): login, login_failed,
    # lockout and unlock events, inside the transaction that changes the lockout state.
    if journal is not None:
        journal.append(kind, payload, now=now)


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A PIN hash of nobody's, computed once, to hash against for unknown codes."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_pin("0000"))
    return _DUMMY_HASH[0]


def _locked(db: Database, staff_id: int, now: datetime) -> bool:
    row = db.execute(
        "SELECT locked_until FROM staff_lockout WHERE staff_id = ?", [staff_id]
    ).fetchone()
    return bool(row and row[0] and row[0] > _iso(now))


def authenticate(
    db: Database, code: str, pin: str, *, now: datetime | None = None, journal: Any = None
) -> Staff:
    """Check a staff code and PIN; count wrong PINs and lock out after five.

    With ``journal`` (a :class:`pos_returns.journal.chain.Journal`), the login, the wrong
    PIN or the lockout is recorded in the fiscal journal (never the PIN).

    Raises :class:`NotFound` for an unknown code and :class:`PermissionDenied`
    for a wrong PIN or a locked-out account (the message says how many tries
    are left, or until when the account is locked).
    """
    now = now or _utcnow()
    try:
        staff = find_staff(db, code)
    except NotFound:
        # Hash the PIN anyway, so an unknown code answers no faster than a known one.
        check_pin_hash(pin or "", _dummy_hash())
        raise
    row = db.execute("SELECT pin_hash FROM staff WHERE id = ?", [staff.id]).fetchone()
    if _locked(db, staff.id, now):
        raise PermissionDenied(
            _("Too many wrong PINs: this account is locked. Ask a manager to unlock it."),
            code="locked",
        )
    if check_pin_hash(pin or "", row[0]):
        with atomic(db):
            db.execute(
                "INSERT INTO staff_lockout(staff_id, failed_attempts, locked_until) "
                "VALUES (?, 0, '') ON CONFLICT(staff_id) DO UPDATE SET "
                "failed_attempts = 0, locked_until = ''",
                [staff.id],
            )
            _journal(journal, "login", {"staff_id": staff.id, "role": staff.role.value}, now)
        return staff
    with atomic(db):
        # Read the count again under the write lock: a wrong PIN typed meanwhile at
        # another till (or process) on this cache is counted too, never overwritten.
        if _locked(db, staff.id, now):
            raise PermissionDenied(
                _("Too many wrong PINs: this account is locked. Ask a manager to unlock it."),
                code="locked",
            )
        lock = db.execute(
            "SELECT failed_attempts FROM staff_lockout WHERE staff_id = ?", [staff.id]
        ).fetchone()
        failed = (lock[0] if lock else 0) + 1
        until = (_iso(now + timedelta(minutes=LOCKOUT_MINUTES))
                 if failed >= MAX_FAILED_ATTEMPTS else "")
        db.execute(
            "INSERT INTO staff_lockout(staff_id, failed_attempts, locked_until) VALUES (?, ?, ?) "
            "ON CONFLICT(staff_id) DO UPDATE SET failed_attempts = excluded.failed_attempts, "
            "locked_until = excluded.locked_until",
            [staff.id, 0 if until else failed, until],
        )
        _journal(
            journal,
            "lockout" if until else "login_failed",
            {"staff_id": staff.id, "failed_attempts": failed, "locked_until": until},
            now,
        )
    if until:
        raise PermissionDenied(
            _("Too many wrong PINs: this account is locked. Ask a manager to unlock it."),
            code="locked",
        )
    left = MAX_FAILED_ATTEMPTS - failed
    raise PermissionDenied(
        ngettext(
            "Wrong PIN. {count} try left before the account is locked.",
            "Wrong PIN. {count} tries left before the account is locked.",
            left,
        ).format(count=left),
        code="wrong_pin",
    )


def unlock(db: Database, manager: Staff, staff_id: int, *, journal: Any = None) -> None:
    require_role(manager, Role.MANAGER)
    with atomic(db):
        db.execute("DELETE FROM staff_lockout WHERE staff_id = ?", [staff_id])
        _journal(journal, "unlock", {"staff_id": staff_id, "manager_id": manager.id}, _utcnow())


def require_role(staff: Staff, *roles: Role) -> None:
    """Raise :class:`PermissionDenied` unless ``staff`` has one of ``roles``.

    Managers may do everything.
    """
    if staff.role == Role.MANAGER or staff.role in roles:
        return
    raise PermissionDenied(_("{name} is not allowed to do this.").format(name=staff.name),
                           code="role")


if TYPE_CHECKING:  # the plan module is imported lazily (policy engine, H2)
    from pos_returns.engine.plan import Approval

MIN_OVERRIDE_REASON = 5  # characters: a manager's written reason (R01)


def authorize_override(
    db: Database,
    manager_code: str,
    pin: str,
    *,
    rule: str,
    reason: str,
    line_no: int | None = None,
    decision: str = "approved",
    store_id: int | None = None,
    now: datetime | None = None,
) -> Approval:
    """A manager's decision on an exception (R01): PIN + written reason -> an Approval.

    The PIN goes through :func:`authenticate`, so wrong PINs count towards the
    lockout. The reason is checked first, so a missing reason costs no PIN try.
    Added by the policy engine (H2); the policy engine checks the approval again.
    """

    text = " ".join((reason or "").split())
    if len(text) < MIN_OVERRIDE_REASON:
        raise InvalidInput(
            _("Write the reason for this decision (at least {count} characters).").format(
                count=MIN_OVERRIDE_REASON
            ),
            code="reason",
        )
    if decision not in ("approved", "refused"):
        raise InvalidInput(_("A manager's decision is “approved” or “refused”."), code="decision")
    staff = authenticate(db, manager_code, pin, now=now)
    if not staff.is_manager:
        raise PermissionDenied(
            _("{name} is not a manager and cannot approve or refuse a return.").format(
                name=staff.name
            ),
            code="role",
        )
    if store_id is not None and staff.store_id != store_id:
        raise PermissionDenied(
            _("{name} is not a manager of this store.").format(name=staff.name), code="store"
        )
    return Approval(rule=rule, manager_id=staff.id, decision=decision, reason=text,
                    line_no=line_no)
