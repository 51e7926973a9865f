"""Staff PINs and lockout (R01 overrides go through the same check)."""

from __future__ import annotations

import pytest

from pos_returns.cache.db import connect
from pos_returns.errors import PermissionDenied
from pos_returns.usecases import auth
from tests.helpers import PINS, TEST_PEPPER


def _failed_attempts(db, code: str) -> int:
    row = db.execute(
        "SELECT l.failed_attempts FROM staff_lockout l JOIN staff s ON s.id = l.staff_id "
        "WHERE s.code = ?", [code],
    ).fetchone()
    return row[0] if row else 0


def test_R01_unknown_code_hashes_the_pin_like_a_known_one(db, monkeypatch):
    """No timing oracle: an unknown staff code costs the same scrypt as a wrong PIN."""
    calls: list[str] = []
    real = auth.check_pin_hash

    def counting(pin: str, stored: str, pepper) -> bool:
        calls.append(pin)
        return real(pin, stored, pepper)

    monkeypatch.setattr(auth, "check_pin_hash", counting)
    with pytest.raises(PermissionDenied) as unknown:
        auth.authenticate(db, "ZZ999", "1234", pepper=TEST_PEPPER)
    with pytest.raises(PermissionDenied) as wrong:
        auth.authenticate(db, "V001", "0000", pepper=TEST_PEPPER)
    assert calls == ["1234", "0000"]
    assert str(unknown.value) == str(wrong.value)  # issue 12: the same answer


def test_R01_wrong_pins_typed_at_the_same_time_are_all_counted(db, tmp_cache, monkeypatch):
    """A wrong PIN counted by another connection while this one hashes is not overwritten."""
    real = auth.check_pin_hash
    other = connect(tmp_cache)
    done: list[bool] = []

    def racing(pin: str, stored: str, pepper) -> bool:
        if not done:
            done.append(True)
            with pytest.raises(PermissionDenied):
                auth.authenticate(other, "V001", "0001", pepper=TEST_PEPPER)
        return real(pin, stored, pepper)

    monkeypatch.setattr(auth, "check_pin_hash", racing)
    try:
        with pytest.raises(PermissionDenied):
            auth.authenticate(db, "V001", "0000", pepper=TEST_PEPPER)
    finally:
        other.close()
    assert _failed_attempts(db, "V001") == 2
    monkeypatch.setattr(auth, "check_pin_hash", real)
    for _ in range(3):
        with pytest.raises(PermissionDenied):
            auth.authenticate(db, "V001", "0000", pepper=TEST_PEPPER)
    with pytest.raises(PermissionDenied) as locked:
        auth.authenticate(db, "V001", PINS["V001"], pepper=TEST_PEPPER)
    assert locked.value.code == "locked"


@pytest.mark.parametrize("stored", [
    f"pscrypt${TEST_PEPPER.id}$x$8$1$c2FsdA==$ZGlnZXN0",
    f"pscrypt${TEST_PEPPER.id}$16384$8$1$!!$ZGlnZXN0",
    f"pscrypt${TEST_PEPPER.id}$16384$8$1$c2FsdA==$@@",
    f"pscrypt${TEST_PEPPER.id}$3$8$1$c2FsdA==$ZGlnZXN0",
    "scrypt$1024$8$1$c2FsdA==$ZGlnZXN0", "", "reset$2026-11-30T10:00:00Z$00",
])
def test_a_damaged_pin_hash_never_matches_and_never_crashes(stored):
    assert auth.check_pin_hash("1234", stored, TEST_PEPPER) is False
