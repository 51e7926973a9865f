"""PIN hashes a copied cache can neither reveal nor forge (issue 12).

The chain's **PIN pepper** is a 32-byte secret kept with the till's keys
(``pin_pepper.key`` beside the journal key, mode 0600, 64 hex digits), never in the
cache nor at HQ's database. It is the chain's, like the ID-hash key: every till
and HQ's staff tooling hold the same file (``pos-returns keys export-chain`` /
``import-chain``), because HQ keeps the staff table every till pulls.

* A PIN hash is ``pscrypt$<pepper id>$N$r$p$<salt>$<mac>``: the salted scrypt of the
  PIN (slow), then HMAC-SHA256 with the pepper. Without the pepper a guess cannot
  be checked, however fast the machine: the cache alone cannot be brute-forced.
* A staff row carries a **seal**: HMAC-SHA256 with the pepper over its id, code, name
  (printed on tickets), role, store, active flag and PIN hash. Someone who edits the
  cache (a salesperson made manager, a disabled account enabled, a PIN hash or a reset
  copied from another row) breaks the seal and the account no longer logs in; the
  till names it, and never seals such a row again itself.
* A PIN reset is the PIN hash ``reset$<UTC time>$<nonce>`` under the seal: only a
  manager's reset, less than :data:`RESET_VALID` old, lets the person choose a new
  PIN.

Hashes from before the pepper (``scrypt$…``) are converted without the PIN (the
HMAC goes over the stored digest) by :func:`upgrade_hash` — at HQ, by the chain's
tooling, never silently at a till (a till that re-sealed what it finds would seal
an attacker's edit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.errors import ConfigError, InvalidInput
from pos_returns.i18n import _

PEPPER_FILE = "pin_pepper.key"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
RESET_VALID = timedelta(days=7)  # a manager's reset must be used within this time
SEALED_COLUMNS = ("id", "code", "name", "role", "store_id", "active", "pin_hash")

_CACHE: dict[str, Pepper] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Pepper:
    """The chain's PIN secret. ``id`` names it (12 hex digits of a hash of it: it tells
    two tills share the same pepper, and reveals nothing of it)."""

    secret: bytes = field(repr=False)

    @property
    def id(self) -> str:
        return hashlib.sha256(b"alamara-retours pin pepper id\x00" + self.secret).hexdigest()[:12]

    def mac(self, label: str, data: bytes) -> bytes:
        return hmac.new(self.secret, label.encode("ascii") + b"\x00" + data,
                        hashlib.sha256).digest()


def _new_secret() -> bytes:
    return secrets.token_bytes(32)


def pepper_path(key_path: Path | str) -> Path:
    """The pepper's file: beside the journal key."""
    return Path(key_path).expanduser().parent / PEPPER_FILE


def write_secret_once(path: Path, secret: bytes) -> bool:
    """Write a 32-byte secret as 64 hex digits (0600, in a 0700 folder) unless the file
    exists; True when written. The chain's secrets (ID-hash key, PIN pepper) are made so."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, (secret.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def create_pepper(path: Path, secret: bytes | None = None) -> bool:
    """Write the chain's pepper (0600) unless the file exists; True when written."""
    return write_secret_once(path, secret or _new_secret())


def missing_pepper_message(path: Path | str) -> str:
    return _(
        "The chain's PIN secret {path} is missing, so no PIN can be checked. Install the "
        "chain's secrets (pos-returns keys import-chain FILE, from the chain's IT) or restore "
        "this till's keys (pos-returns keys restore FILE)."
    ).format(path=path)


def read_pepper(path: Path) -> Pepper:
    """The pepper in ``path``; a file readable by others or damaged is refused."""
    if not path.exists():
        raise ConfigError(missing_pepper_message(path), code="pepper_missing")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            _("The chain's PIN secret {path} can be read by other users (mode {mode}): "
              "restrict it to its owner (chmod 600).").format(path=path, mode=f"{mode:04o}"),
            code="pepper_mode",
        )
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        secret = b""
    if len(secret) != 32:
        raise ConfigError(
            _("The chain's PIN secret {path} is damaged (64 hexadecimal characters "
              "expected).").format(path=path),
            code="pepper_invalid",
        )
    return Pepper(secret)


def load_pepper(key_path: Path | str) -> Pepper:
    """The chain's pepper for the till whose journal key is ``key_path`` (read once
    per process). Never created here: see :func:`pos_returns.journal.keyset.init_keys`."""
    path = pepper_path(key_path)
    name = str(path.absolute())
    with _LOCK:
        cached = _CACHE.get(name)
        if cached is not None and path.exists():
            return cached
        pepper = read_pepper(path)
        _CACHE[name] = pepper
        return pepper


def forget_cached_peppers() -> None:
    with _LOCK:
        _CACHE.clear()


# -- PIN hashes --------------------------------------------------------------------------

_b64 = base64.b64encode


def _check_pin_format(pin: str) -> str:
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise InvalidInput(_("A PIN has 4 to 8 digits."), code="pin")
    return pin


def hash_pin(pin: str, pepper: Pepper, *, n: int = SCRYPT_N) -> str:
    """The stored form of ``pin``: salted scrypt, then HMAC with the pepper."""
    _check_pin_format(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    mac = pepper.mac("pin", digest)
    return (f"pscrypt${pepper.id}${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt).decode()}$"
            f"{_b64(mac).decode()}")


def check_pin_hash(pin: str, stored: str, pepper: Pepper) -> bool:
    """True when ``pin`` matches ``stored`` under this pepper. A hash of another
    pepper, of the old unpeppered form, or damaged never matches (and never
    raises); the scrypt work is done whenever the hash can be read, so every
    answer costs the same."""
    parts = (stored or "").split("$")
    if len(parts) != 7 or parts[0] != "pscrypt":
        return False
    _algo, pepper_id, n, r, p, salt_b64, mac_b64 = parts
    try:
        digest = hashlib.scrypt(
            (pin or "").encode(), salt=base64.b64decode(salt_b64, validate=True), n=int(n),
            r=int(r), p=int(p), dklen=32,
        )
        expected = base64.b64decode(mac_b64, validate=True)
    except (ValueError, OverflowError, MemoryError):
        return False
    good = hmac.compare_digest(pepper.mac("pin", digest), expected)
    return good and hmac.compare_digest(pepper_id, pepper.id)


def hash_pepper_id(stored: str) -> str:
    """The pepper id a PIN hash was made with ('' for any other form)."""
    parts = (stored or "").split("$")
    return parts[1] if len(parts) == 7 and parts[0] == "pscrypt" else ""


def upgrade_hash(stored: str, pepper: Pepper) -> str | None:
    """An unpeppered ``scrypt$N$r$p$salt$digest`` hash as the peppered form of the
    same PIN (no PIN needed); None when ``stored`` is not of the old form."""
    parts = (stored or "").split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    _algo, n, r, p, salt_b64, digest_b64 = parts
    try:
        digest = base64.b64decode(digest_b64, validate=True)
        int(n), int(r), int(p)
    except ValueError:
        return None
    mac = _b64(pepper.mac("pin", digest)).decode()
    return f"pscrypt${pepper.id}${n}${r}${p}${salt_b64}${mac}"


# -- PIN resets ----------------------------------------------------------------------------


def reset_marker(now: datetime | None = None) -> str:
    """The PIN hash of an account whose PIN a manager reset: no PIN matches it."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"reset${moment}${secrets.token_hex(16)}"


def reset_is_valid(stored: str, now: datetime | None = None) -> bool:
    """True when ``stored`` is a reset less than :data:`RESET_VALID` old (and not
    in the future)."""
    parts = (stored or "").split("$")
    if len(parts) != 3 or parts[0] != "reset":
        return False
    try:
        moment = datetime.strptime(parts[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return False
    now = now or datetime.now(UTC)
    return now - RESET_VALID <= moment <= now + timedelta(minutes=5)


# -- staff seals ---------------------------------------------------------------------------


def _canonical(row: Mapping[str, Any]) -> bytes:
    values = [row.get(c) for c in SEALED_COLUMNS]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal_staff(row: Mapping[str, Any], pepper: Pepper) -> str:
    """The seal of a staff row (id, code, name, role, store, active, PIN hash)."""
    return f"s1${pepper.id}${pepper.mac('staff', _canonical(row)).hex()}"


def seal_ok(row: Mapping[str, Any], pepper: Pepper) -> bool:
    expected = seal_staff(row, pepper)
    return hmac.compare_digest(str(row.get("seal") or ""), expected)


# -- lockouts as the journal signed them -------------------------------------------------


def signed_lockouts(db: Database) -> dict[int, tuple[str, str]]:
    """Staff id -> (locked_until, when it began) of each person whose last ``lockout`` /
    ``unlock`` record in this cache's chains is a lockout (running or over). The signed
    journal is the truth of a lockout: the cache's counters only mirror it."""
    rows = db.execute(
        "SELECT json_extract(payload, '$.staff_id'), kind, "
        "json_extract(payload, '$.locked_until'), created_at FROM journal "
        "WHERE (store_id, till_no) IN (SELECT store_id, till_no FROM journal_heads) "
        "AND kind IN ('lockout', 'unlock') ORDER BY created_at, seq").fetchall()
    last: dict[int, tuple[str, str, str]] = {}
    for sid, kind, until, at in rows:
        if sid is not None:
            last[int(sid)] = (str(kind), str(until or ""), str(at))
    return {sid: (until, at) for sid, (kind, until, at) in last.items() if kind == "lockout"}
