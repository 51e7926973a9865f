"""Staff, PINs and lockouts. Permissions are enforced here, in the core.

PINs are stored only as a slow salted hash (scrypt) under the chain's pepper, and
each staff row under its seal (:mod:`pos_returns.journal.pins`): a copied cache can
neither reveal a PIN nor make one up, nor promote an account. After
``MAX_FAILED_ATTEMPTS`` wrong PINs in a row — at this till, or at any till of the
chain as HQ counts them (``staff_pin_state``, pulled; every wrong PIN, lockout and
unlock goes to HQ as a ``pin_event``) — the staff member is locked out for
``LOCKOUT_MINUTES``, or until a manager unlocks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid as uuidlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache import outbox
from pos_returns.cache.db import atomic
from pos_returns.engine.approvals import draft_digest
from pos_returns.engine.domain import Role, Staff, StaffId, StoreId
from pos_returns.engine.plan import Approval, ReturnRequest
from pos_returns.errors import InvalidInput, NotFound, PermissionDenied
from pos_returns.i18n import _
from pos_returns.journal import pins
from pos_returns.journal.keys import load_signer, till_pepper
from pos_returns.journal.pins import Pepper, seal_ok, signed_lockouts

if TYPE_CHECKING:
    from pos_returns.config import TillConfig

MAX_FAILED_ATTEMPTS = 5
LOCKOUT_MINUTES = 15


def pepper_of(cfg: TillConfig) -> Pepper:
    """The chain's PIN pepper, kept with this till's keys."""
    return till_pepper(cfg.key_path)


def hash_pin(pin: str, pepper: Pepper, *, n: int = pins.SCRYPT_N) -> str:
    return pins.hash_pin(pin, pepper, n=n)


def check_pin_hash(pin: str, stored: str, pepper: Pepper) -> bool:
    return pins.check_pin_hash(pin, stored, pepper)


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


def sealed_staff(db: Database, staff_id: int, pepper: Pepper) -> Staff:
    """A staff member whose row carries its seal (:mod:`pos_returns.journal.pins`): what
    the till acts on — a role, a store — is what a till or HQ's tooling wrote, not an
    edit of the cache made during a session."""
    row = next(iter(db.query("SELECT * FROM staff WHERE id = ?", [staff_id])), None)
    if row is None:
        raise NotFound(_("Unknown member of staff."), code="staff")
    if not seal_ok(row, pepper):
        raise PermissionDenied(
            _("The account {code} was changed outside the till (its seal does not match): "
              "nothing is done in its name until the chain's IT has checked it.").format(
                code=row["code"]),
            code="seal",
        )
    return _row_to_staff(row)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _journal(journal: Any, kind: str, payload: dict[str, Any], now: datetime) -> None:
    # Optional fiscal journal hook (pos_returns.journal.chain.Journal): login, login_failed,
    # lockout and unlock events, inside the transaction that changes the lockout state.
    if journal is not None:
        journal.append(kind, payload, now=now)


_DUMMY_HASH: dict[str, str] = {}


def _dummy_hash(pepper: Pepper) -> str:
    """A PIN hash of nobody's, computed once per pepper, to hash against for unknown
    codes (the same work as a real check)."""
    if pepper.id not in _DUMMY_HASH:
        _DUMMY_HASH[pepper.id] = hash_pin("0000", pepper)
    return _DUMMY_HASH[pepper.id]


def _chain_state(db: Database, staff_id: int) -> tuple[int, str]:
    """The chain's count of wrong PINs for this person and its lock, as HQ last sent
    it and as this till counted on since."""
    row = db.execute("SELECT failed, locked_until FROM staff_pin_state WHERE staff_id = ?",
                     [staff_id]).fetchone()
    if not row:
        return 0, ""
    try:
        failed = max(0, int(row[0]))
    except (TypeError, ValueError):  # a damaged row counts as the lockout's threshold
        failed = MAX_FAILED_ATTEMPTS
    return failed, str(row[1] or "")


def _journaled_lock(db: Database, staff_id: int) -> str:
    """The end of this person's last lockout as the signed journal says it ('' when an
    unlock came after it): deleting ``staff_lockout`` in the cache lifts nothing."""
    return signed_lockouts(db).get(staff_id, ("", ""))[0]


FAILURE_WINDOW = timedelta(hours=24)  # wrong PINs counted from the journal over this time


def _journaled_failures(db: Database, staff_id: int, now: datetime) -> int:
    """This person's wrong PINs in a row as the signed journal says them (since the last
    login, lockout or unlock, within :data:`FAILURE_WINDOW`): deleting the cache's
    counters does not give an attacker five more guesses."""
    rows = db.execute(
        "SELECT kind, json_extract(payload, '$.locked') FROM journal "
        "WHERE (store_id, till_no) IN (SELECT store_id, till_no FROM journal_heads) "
        "AND kind IN ('login', 'login_failed', 'lockout', 'unlock') AND created_at >= ? "
        "AND json_extract(payload, '$.staff_id') = ? ORDER BY created_at DESC, seq DESC "
        "LIMIT 20", [_iso(now - FAILURE_WINDOW), staff_id]).fetchall()
    count = 0
    for kind, locked in rows:
        if kind != "login_failed":
            break
        if not locked:  # a try on a locked account is not one more guess counted here
            count += 1
    return count


def locked_until(db: Database, staff_id: int, now: datetime | None = None) -> str:
    """When this person's lockout ends ('' when not locked): the last lockout the
    journal signed (ended early only by a signed unlock), the chain's as HQ sent it,
    and this till's counter."""
    moment = _iso(now or _utcnow())
    local_row = db.execute(
        "SELECT locked_until FROM staff_lockout WHERE staff_id = ?", [staff_id]).fetchone()
    local = str(local_row[0] or "") if local_row else ""
    chain = db.execute("SELECT locked_until, unlocked_at FROM staff_pin_state "
                       "WHERE staff_id = ?", [staff_id]).fetchone()
    chain_until, chain_at = (str(chain[0]), str(chain[1])) if chain else ("", "")
    if local > moment and chain_until <= moment and chain_at:
        # this till's counter (no journal: tests, tools) gives way to an unlock HQ recorded
        try:
            began = datetime.strptime(local, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) \
                - timedelta(minutes=LOCKOUT_MINUTES)
        except ValueError:  # a damaged value: still locked
            began = None
        if began is not None and chain_at >= _iso(began):
            local = ""
    # the signed lockout gives way only to a signed unlock (a manager's here, or the one
    # the exchange with HQ journals: pos_returns.sync.pins.journal_hq_unlocks)
    until = max(local, chain_until, _journaled_lock(db, staff_id))
    return until if until > moment else ""


def _locked(db: Database, staff_id: int, now: datetime) -> bool:
    return bool(locked_until(db, staff_id, now))


def pin_event_body(uuid: str, payload: dict[str, Any]) -> bytes:
    """What a till signs of a PIN event (HQ checks it the same way, hq.receive)."""
    fields = {k: payload.get(k) for k in ("staff_id", "kind", "at")}
    return outbox.canonical_json({"uuid": uuid, **fields}).encode("utf-8")


def _report(db: Database, staff_id: int, kind: str, now: datetime, locked_until: str = "",
            journal: Any = None) -> None:
    """Tell HQ (outbox ``pin_event``): the chain counts wrong PINs per person. Signed with
    the till's journal key when there is one: HQ takes a reset of the count or an
    unlock only signed by a till it anchored (an outbox row made up in the cache file
    unlocks nobody)."""
    uuid = str(uuidlib.uuid4())
    payload: dict[str, Any] = {
        "staff_id": staff_id, "kind": kind, "at": _iso(now), "locked_until": locked_until,
        "max": MAX_FAILED_ATTEMPTS, "lock_minutes": LOCKOUT_MINUTES,
    }
    signer = getattr(journal, "signer", None)
    if signer is not None:
        payload["public_key"] = signer.public_hex
        payload["signature"] = signer.sign(pin_event_body(uuid, payload))
    outbox.enqueue(db, kind="pin_event", uuid=uuid, payload=payload)


def _set_chain_state(db: Database, staff_id: int, failed: int, locked_until: str,
                     now: datetime) -> None:
    db.execute(
        "INSERT INTO staff_pin_state(staff_id, failed, locked_until, updated_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(staff_id) DO UPDATE SET failed = excluded.failed, "
        "locked_until = excluded.locked_until, updated_at = excluded.updated_at",
        [staff_id, failed, locked_until, _iso(now)])


def _refused(code: str) -> PermissionDenied:
    """One answer for an unknown code, a wrong PIN and a locked account (issue 12): the
    till never tells which, so staff codes cannot be listed from the login screen."""
    return PermissionDenied(
        _("Unknown staff code, wrong PIN or locked account. Check and try again: after "
          "five wrong PINs the account is locked until a manager unlocks it."),
        code=code,
    )


def _staff_row(db: Database, code: str) -> dict[str, Any] | None:
    """The active account of ``code`` (as :func:`find_staff` finds it), or None."""
    text = (code or "").strip().upper() if isinstance(code, str) else ""
    if not text or len(text) > 32:
        return None
    return next(iter(db.query("SELECT * FROM staff WHERE code = ? AND active = 1", [text])),
                None)


def _good_pin(db: Database, staff: Staff, now: datetime, journal: Any, purpose: str) -> None:
    db.execute(
        "INSERT INTO staff_lockout(staff_id, failed_attempts, locked_until) "
        "VALUES (?, 0, '') ON CONFLICT(staff_id) DO UPDATE SET "
        "failed_attempts = 0, locked_until = ''",
        [staff.id],
    )
    if _chain_state(db, staff.id)[0] > 0:  # the chain's count starts again too
        _set_chain_state(db, staff.id, 0, "", now)
        _report(db, staff.id, "ok", now, journal=journal)
    if purpose == "login":
        _journal(journal, "login", {"staff_id": staff.id, "role": staff.role.value}, now)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):  # a damaged counter counts as the threshold
        return MAX_FAILED_ATTEMPTS


def _wrong_pin(db: Database, staff: Staff, now: datetime, journal: Any, purpose: str) -> str:
    """Count a wrong PIN here and in the chain's count; lock at the fifth of either.
    Journaled, and reported to HQ. Returns the outcome."""
    lock = db.execute(
        "SELECT failed_attempts FROM staff_lockout WHERE staff_id = ?", [staff.id]
    ).fetchone()
    failed = max(_int(lock[0]) if lock else 0, _journaled_failures(db, staff.id, now)) + 1
    chain_failed = _chain_state(db, staff.id)[0] + 1
    until = (_iso(now + timedelta(minutes=LOCKOUT_MINUTES))
             if max(failed, chain_failed) >= MAX_FAILED_ATTEMPTS else "")
    db.execute(
        "INSERT INTO staff_lockout(staff_id, failed_attempts, locked_until) "
        "VALUES (?, ?, ?) ON CONFLICT(staff_id) DO UPDATE SET "
        "failed_attempts = excluded.failed_attempts, "
        "locked_until = excluded.locked_until",
        [staff.id, 0 if until else failed, until],
    )
    _set_chain_state(db, staff.id, 0 if until else chain_failed, until, now)
    _report(db, staff.id, "failed", now, journal=journal)
    if until:
        _report(db, staff.id, "lockout", now, until, journal=journal)
    _journal(
        journal,
        "lockout" if until else "login_failed",
        {"staff_id": staff.id, "failed_attempts": failed, "chain_failed_attempts": chain_failed,
         "locked_until": until, "purpose": purpose},
        now,
    )
    return "locked" if until else "wrong_pin"


def authenticate(
    db: Database, code: str, pin: str, *, pepper: Pepper, now: datetime | None = None,
    journal: Any = None, purpose: str = "login",
) -> Staff:
    """Check a staff code and PIN; count wrong PINs (here and across the chain) and
    lock out after five.

    The account must carry a valid seal (:func:`pos_returns.journal.pins.seal_ok`): a
    row changed outside the till (role, store, active flag, PIN hash) never logs in.
    With ``journal`` (a :class:`pos_returns.journal.chain.Journal`), the login, every
    wrong PIN or unknown code, a broken seal and the lockout are recorded in the
    fiscal journal (never the PIN).

    An unknown code, a wrong PIN, a broken seal and a locked account get the same
    :class:`PermissionDenied` message (its ``code`` says which, for the logs), after
    the same work: one PIN hash computed and one write transaction.
    """
    now = now or _utcnow()
    row = _staff_row(db, code)
    stored = str(row["pin_hash"]) if row is not None else _dummy_hash(pepper)
    pin_ok = check_pin_hash(pin or "", stored, pepper) and row is not None
    sealed = row is not None and seal_ok(row, pepper)
    staff = _row_to_staff(row) if row is not None else None
    with atomic(db):
        if staff is None:
            _journal(journal, "login_failed", {"staff_id": None, "unknown_code": True,
                                               "purpose": purpose}, now)
            outcome = "unknown"
        elif _locked(db, staff.id, now):
            # read under the write lock: a wrong PIN typed meanwhile elsewhere counts too
            _journal(journal, "login_failed", {"staff_id": staff.id, "locked": True,
                                               "purpose": purpose}, now)
            outcome = "locked"
        elif pin_ok and not sealed:
            _journal(journal, "login_failed", {"staff_id": staff.id, "seal_broken": True,
                                               "purpose": purpose}, now)
            outcome = "seal"
        elif pin_ok:
            _good_pin(db, staff, now, journal, purpose)
            outcome = "ok"
        else:
            outcome = _wrong_pin(db, staff, now, journal, purpose)
    if outcome != "ok":
        raise _refused(outcome)
    assert staff is not None
    return staff


def unlock(db: Database, manager: Staff, staff_id: int, *, journal: Any = None) -> None:
    """A manager unlocks a staff member's account before the lockout ends (journaled):
    here at once, and at every till of the chain through HQ."""
    require_role(manager, Role.MANAGER)
    now = _utcnow()
    with atomic(db):
        db.execute("DELETE FROM staff_lockout WHERE staff_id = ?", [staff_id])
        _set_chain_state(db, staff_id, 0, "", now)
        _report(db, staff_id, "unlock", now, journal=journal)
        _journal(journal, "unlock", {"staff_id": staff_id, "manager_id": manager.id}, now)


def unlock_with_pin(
    db: Database, manager_code: str, pin: str, staff_code: str, *, pepper: Pepper,
    journal: Any = None, now: datetime | None = None,
) -> Staff:
    """The till's unlock: the manager's own code and PIN checked here (a wrong one counts
    and is journaled like any), then the account of ``staff_code`` unlocked, journaled.
    Returns the unlocked staff member."""
    manager = authenticate(db, manager_code, pin, pepper=pepper, now=now, journal=journal,
                           purpose="unlock")
    require_role(manager, Role.MANAGER)
    staff = find_staff(db, staff_code)
    if staff.store_id != manager.store_id:
        raise PermissionDenied(
            _("{name} is not a manager of this store.").format(name=manager.name),
            code="store",
        )
    unlock(db, manager, staff.id, journal=journal)
    return staff


def require_role(staff: Staff, *roles: Role) -> None:
    """Raise :class:`PermissionDenied` unless ``staff`` has one of ``roles``.

    Managers may do everything.
    """
    if staff.role == Role.MANAGER or staff.role in roles:
        return
    raise PermissionDenied(_("{name} is not allowed to do this.").format(name=staff.name),
                           code="role")


MIN_OVERRIDE_REASON = 5  # characters: a manager's written reason (R01)
APPROVAL_TTL = timedelta(minutes=10)  # a granted approval must be used within this time
TOKEN_LABEL = "alamara-retours approval token v1"


def _check_decision(reason: str, decision: str) -> str:
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
    return text


def _check_manager(staff: Staff, store_id: int | None) -> None:
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
    pepper: Pepper,
    journal: Any = None,
    now: datetime | None = None,
) -> Approval:
    """Check a manager's PIN, role and written reason (R01) for one decision. A wrong
    PIN counts and is journaled (``journal``) like a login's.

    The Approval it returns carries **no token**: the ticket writer refuses it. The
    till grants approvals with :func:`grant_approvals`, which binds them to the draft.
    """
    text = _check_decision(reason, decision)
    staff = authenticate(db, manager_code, pin, pepper=pepper, now=now, journal=journal,
                         purpose="approval")
    _check_manager(staff, store_id)
    return Approval(rule=rule, manager_id=staff.id, decision=decision, reason=text,
                    line_no=line_no)


# --------------------------------------------------------------------------- approval tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def approval_secret(cfg: TillConfig) -> bytes:
    """The till's secret for approval tokens, derived from its journal key (kept with the
    key files, never in the cache)."""
    return load_signer(cfg.key_path).derive_secret(TOKEN_LABEL)


def _mint(secret: bytes, claims: dict[str, Any]) -> str:
    body = _b64(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    mac = hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()
    return f"v1.{body}.{mac}"


def read_token(secret: bytes, token: str) -> dict[str, Any] | None:
    """The claims of a token this till minted; None when it is not one (forged,
    altered, another till's)."""
    try:
        version, body, mac = (token or "").split(".")
    except ValueError:
        return None
    expected = hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()
    if version != "v1" or not hmac.compare_digest(mac, expected):
        return None
    try:
        claims = json.loads(_unb64(body))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _draft(db: Database, request: ReturnRequest) -> str:
    """The draft digest of ``request``, with the cards that paid its sale (the sale's own
    card presented counts as none: :func:`pos_returns.engine.approvals.draft_digest`)."""
    cards: tuple[str, ...] = ()
    if request.sale_id is not None:
        cards = tuple(str(r[0] or "") for r in db.execute(
            "SELECT card_last4 FROM tenders WHERE sale_id = ? AND kind = 'card'",
            [request.sale_id]).fetchall())
    return draft_digest(request, cards)


def grant_approvals(
    db: Database,
    cfg: TillConfig,
    manager_code: str,
    pin: str,
    items: Sequence[tuple[int | None, str]],
    *,
    decision: str,
    reason: str,
    request: ReturnRequest,
    now: datetime | None = None,
    journal: Any = None,
) -> list[Approval]:
    """The one place an approval is granted: the manager's PIN is checked **once** for
    every item ((line_no, rule) pairs), then each decision gets a single-use token
    (HMAC with the till's secret) bound to this till, the draft
    (:func:`pos_returns.engine.approvals.draft_digest`), the rule, the line, the
    manager, the decision, the written reason and a short expiry. A wrong PIN counts
    towards the lockout and is journaled like a login's (``journal``)."""
    text = _check_decision(reason, decision)
    if not items:
        raise InvalidInput(_("Nothing to decide on this return."), code="items")
    if (request.store_id, request.till_no) != (cfg.store_id, cfg.till_no):
        raise InvalidInput(_("This return is not for this till."), code="till")
    now = now or _utcnow()
    staff = authenticate(db, manager_code, pin, pepper=pepper_of(cfg), now=now,
                         journal=journal, purpose="approval")
    _check_manager(staff, cfg.store_id)
    secret = approval_secret(cfg)
    draft = _draft(db, request)
    expires = int((now + APPROVAL_TTL).timestamp())
    approvals = []
    for line_no, rule in items:
        claims = {
            "id": secrets.token_hex(16), "store": cfg.store_id, "till": cfg.till_no,
            "manager": staff.id, "rule": rule, "line": line_no, "decision": decision,
            "reason": hashlib.sha256(text.encode("utf-8")).hexdigest(), "draft": draft,
            "exp": expires,
        }
        approvals.append(Approval(rule=rule, manager_id=staff.id, decision=decision,
                                  reason=text, line_no=line_no, token=_mint(secret, claims),
                                  draft=draft))
    return approvals


def _used_in_journal(db: Database, request: ReturnRequest, token_id: str, expires: int) -> bool:
    """True when a signed override record of this till already used the token: the
    ``approval_tokens`` row erased behind the till's back does not make it usable again
    (issue 12, audit). Only the records since the token could be granted are read, the
    newest first."""
    since = datetime.fromtimestamp(expires, UTC) - APPROVAL_TTL - timedelta(minutes=1)
    since_text = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    for created_at, payload in db.execute(
        "SELECT created_at, payload FROM journal WHERE store_id = ? AND till_no = ? "
        "AND kind = 'override' ORDER BY seq DESC", [request.store_id, request.till_no],
    ):
        if created_at < since_text:
            return False
        if json.loads(payload).get("token_id") == token_id:
            return True
    return False


def check_approval_tokens(
    db: Database, cfg: TillConfig, request: ReturnRequest, approvals: Sequence[Approval],
    *, now: datetime | None = None,
) -> list[str]:
    """Inside the ticket's transaction: every approval carries a valid token of this
    till, for this draft and exactly this decision, not expired and never used; each is
    then marked used. Returns the token ids (for the journal). Raises
    :class:`PermissionDenied` otherwise — nothing the UI sends can stand in for it."""
    if not approvals:
        return []
    secret = approval_secret(cfg)
    draft = _draft(db, request)
    moment = int((now or _utcnow()).timestamp())
    ids: list[str] = []
    for a in approvals:
        claims = read_token(secret, a.token)
        valid = claims is not None and claims.get("store") == request.store_id \
            and claims.get("till") == request.till_no and claims.get("draft") == draft \
            and claims.get("manager") == a.manager_id and claims.get("rule") == a.rule \
            and claims.get("line") == a.line_no and claims.get("decision") == a.decision \
            and claims.get("reason") == hashlib.sha256(
                " ".join(a.reason.split()).encode("utf-8")).hexdigest()
        if not valid:
            raise PermissionDenied(
                _("This manager's approval carries no valid proof (it was not granted with "
                  "the manager's PIN for this very return): ask the manager again."),
                code="approval_token",
            )
        assert claims is not None
        if int(claims.get("exp", 0)) < moment:
            raise PermissionDenied(
                _("This manager's approval has expired: ask the manager again."),
                code="approval_expired",
            )
        if str(claims["id"]) in ids or db.execute(
            "SELECT 1 FROM approval_tokens WHERE token_id = ?", [str(claims["id"])]
        ).fetchone() or _used_in_journal(db, request, str(claims["id"]),
                                         int(claims.get("exp", 0))):
            raise PermissionDenied(
                _("This manager's approval was already used for another ticket: ask the "
                  "manager again."),
                code="approval_used",
            )
        ids.append(str(claims["id"]))
    return ids
