"""PINs a stolen or edited cache cannot reveal, forge or promote (issue 12, item 6).

The chain's PIN pepper lives with the keys (pin_pepper.key), never in the cache: every
PIN hash is HMAC'd with it and every staff row sealed with it (pos_returns.journal.pins).
Each attack below went through before: the cache alone let a 4-digit PIN be recovered
offline, a hash planted in the file logged in, and a salesperson made manager in the
file could approve their own return.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pos_returns.config import TillConfig
from pos_returns.errors import ConfigError, Conflict, InvalidInput, PermissionDenied
from pos_returns.journal import pins
from pos_returns.journal.keys import forget_cached_signers
from pos_returns.journal.keyset import (
    backup_keys,
    export_chain,
    import_chain,
    init_keys,
    key_files,
    restore_keys,
)
from pos_returns.usecases import auth, staff, till
from tests.helpers import PINS, TEST_PEPPER, fast_pin_hash, sealed

PASSPHRASE = "correct horse battery"


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "journal.pem")


def _kinds(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT kind FROM journal ORDER BY seq")]


def _payloads(db, kind: str) -> list[dict]:
    return [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM journal WHERE kind = ? ORDER BY seq", [kind])]


# -- a stolen cache -------------------------------------------------------------------


def test_issue12_a_stolen_cache_gives_no_way_to_test_a_PIN_guess(db):
    """What a thief holding only the cache can compute — the salted scrypt of the right
    PIN — matches nothing stored: without the pepper no guess can be confirmed, so the
    10 000 four-digit PINs cannot be tried offline."""
    stored = db.execute("SELECT pin_hash FROM staff WHERE code = 'M001'").fetchone()[0]
    algo, _pid, n, r, p, salt, mac = stored.split("$")
    assert algo == "pscrypt"
    right = hashlib.scrypt(PINS["M001"].encode(), salt=base64.b64decode(salt), n=int(n),
                           r=int(r), p=int(p), dklen=32)
    assert right != base64.b64decode(mac)  # the old attack: compare scrypt(guess) with it
    assert auth.check_pin_hash(PINS["M001"], stored, TEST_PEPPER)  # the till can
    another_chain = pins.Pepper(os.urandom(32))
    assert not auth.check_pin_hash(PINS["M001"], stored, another_chain)
    assert TEST_PEPPER.secret.hex() not in Path(db.conn.execute(
        "PRAGMA database_list").fetchone()[2]).read_bytes().hex()  # never in the file


def test_issue12_an_unpeppered_hash_never_logs_in_and_is_upgraded_only_with_the_pepper(db, cfg):
    salt = os.urandom(16)
    digest = hashlib.scrypt(b"1111", salt=salt, n=2**10, r=8, p=1, dklen=32)
    old = (f"scrypt$1024$8$1${base64.b64encode(salt).decode()}$"
           f"{base64.b64encode(digest).decode()}")
    row = dict(next(iter(db.query("SELECT * FROM staff WHERE code = 'V001'"))))
    db.execute("UPDATE staff SET pin_hash = ?, seal = ? WHERE id = 1",
               [old, sealed({**row, "pin_hash": old})["seal"]])
    with pytest.raises(PermissionDenied):  # even sealed: an old form is never checked
        till.login(db, cfg, "V001", "1111")
    upgraded = pins.upgrade_hash(old, TEST_PEPPER)
    assert upgraded is not None and upgraded.startswith(f"pscrypt${TEST_PEPPER.id}$")
    assert auth.check_pin_hash("1111", upgraded, TEST_PEPPER)
    assert not auth.check_pin_hash("1112", upgraded, TEST_PEPPER)


# -- an edited cache --------------------------------------------------------------------


def test_issue12_a_PIN_hash_planted_in_the_cache_does_not_log_in(db, cfg):
    """The insider writes a hash of a PIN they chose over the manager's: with a pepper of
    their own, or the manager's row copied onto theirs, nothing matches the seal."""
    forged = pins.Pepper(os.urandom(32))
    row = dict(next(iter(db.query("SELECT * FROM staff WHERE code = 'M001'"))))
    planted = pins.hash_pin("0000", forged, n=2**10)
    db.execute("UPDATE staff SET pin_hash = ?, seal = ? WHERE id = 3",
               [planted, pins.seal_staff({**row, "pin_hash": planted}, forged)])
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "M001", "0000")
    assert err.value.code == "wrong_pin"
    # the salesperson copies the manager's hash and seal onto their own row
    m = dict(next(iter(db.query("SELECT * FROM staff WHERE code = 'M001'"))))
    db.execute("UPDATE staff SET pin_hash = ?, seal = ? WHERE code = 'V001'",
               [fast_pin_hash(PINS["M001"]), sealed({**m, "pin_hash": fast_pin_hash(
                   PINS["M001"])})["seal"]])
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "V001", PINS["M001"])
    assert err.value.code == "seal"  # the PIN matches the copied hash; the row is not M001


@pytest.mark.parametrize(("change", "label"), [
    ("role = 'manager'", "a salesperson made manager"),
    ("store_id = 2", "moved to another store"),
    ("code = 'V009'", "another code"),
])
def test_issue12_a_staff_row_changed_in_the_cache_stops_logging_in(db, cfg, change, label):
    assert till.login(db, cfg, "V001", PINS["V001"]).role == "salesperson"
    db.execute(f"UPDATE staff SET {change} WHERE id = 1")
    code = "V009" if "V009" in change else "V001"
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, code, PINS["V001"])
    assert err.value.code == "seal", label
    assert "login_failed" in _kinds(db) and any(
        p.get("seal_broken") for p in _payloads(db, "login_failed"))


def test_issue12_a_disabled_account_enabled_in_the_cache_stays_out(db, cfg):
    manager = auth.get_staff(db, 3)
    staff.set_active(db, cfg, manager, 1, False)
    db.execute("UPDATE staff SET active = 1 WHERE id = 1")
    with pytest.raises(PermissionDenied):
        till.login(db, cfg, "V001", PINS["V001"])


def test_issue12_a_salesperson_made_manager_in_the_cache_cannot_approve(db, cfg):
    from pos_returns.engine.plan import LineRequest, ReturnRequest

    db.execute("UPDATE staff SET role = 'manager' WHERE code = 'V001'")
    request = ReturnRequest(store_id=1, till_no=1, staff_id=1, sale_id=1,
                            lines=(LineRequest(quantity=1, reason="size", sale_line_id=1),))
    with pytest.raises(PermissionDenied) as err:
        till.manager_decision(db, cfg, "V001", PINS["V001"], [(1, "R05")], "approved",
                              "porté une fois seulement", request)
    assert err.value.code == "seal"


def test_issue12_the_rows_a_till_writes_are_sealed_and_log_in(db, cfg):
    manager = auth.get_staff(db, 3)
    account = staff.add_account(db, cfg, manager, code="V777", name="Inès Martin",
                                role="salesperson", pin="4826")
    staff.set_role(db, cfg, manager, account.id, "jewelry")
    assert till.login(db, cfg, "V777", "4826").role == "jewelry"
    row = dict(next(iter(db.query("SELECT * FROM staff WHERE code = 'V777'"))))
    assert pins.seal_ok(row, TEST_PEPPER)
    doc = json.loads(db.execute("SELECT payload FROM outbox WHERE kind = 'staff_change' "
                                "ORDER BY id DESC LIMIT 1").fetchone()[0])
    assert doc["staff"]["seal"] == row["seal"]  # HQ keeps it; every till checks it


# -- PIN resets --------------------------------------------------------------------------


def test_issue12_a_reset_made_up_in_the_cache_does_not_let_anyone_choose_a_PIN(db, cfg):
    marker = pins.reset_marker()
    db.execute("UPDATE staff SET pin_hash = ?, must_change_pin = 1 WHERE code = 'M001'",
               [marker])
    assert staff.needs_new_pin(db, "M001")
    with pytest.raises(PermissionDenied) as err:
        staff.set_new_pin(db, cfg, "M001", "4826", "4826")
    assert err.value.code == "reset_invalid"
    assert any(p.get("reset_invalid") for p in _payloads(db, "login_failed"))
    with pytest.raises(PermissionDenied):
        till.login(db, cfg, "M001", "4826")


def test_issue12_a_managers_reset_works_once_and_only_for_seven_days(db, cfg):
    manager = auth.get_staff(db, 3)
    staff.reset_pin(db, cfg, manager, 1)
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "V001", PINS["V001"])
    assert err.value.code == "pin_reset"
    later = datetime.now(UTC) + pins.RESET_VALID + timedelta(minutes=1)
    with pytest.raises(PermissionDenied) as err:
        staff.set_new_pin(db, cfg, "V001", "4826", "4826", now=later)
    assert err.value.code == "reset_invalid"
    assert staff.set_new_pin(db, cfg, "V001", "4826", "4826").code == "V001"
    assert till.login(db, cfg, "V001", "4826").code == "V001"
    with pytest.raises(PermissionDenied):  # used: no second new PIN
        staff.set_new_pin(db, cfg, "V001", "5937", "5937")


# -- the pepper with the keys --------------------------------------------------------------


def test_issue12_keys_init_makes_the_pepper_0600_and_keeps_an_imported_one(tmp_path):
    first = TillConfig(key_path=tmp_path / "a" / "journal.pem")
    init_keys(first)
    path = key_files(first)["pin_pepper"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    export = export_chain(first, tmp_path / "chain.secrets", PASSPHRASE)
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert path.read_bytes() not in export.read_bytes()
    second = TillConfig(key_path=tmp_path / "b" / "journal.pem")
    with pytest.raises(InvalidInput):
        import_chain(second, export, "wrong passphrase!")
    assert len(import_chain(second, export, PASSPHRASE)) == 2  # ID key + pepper
    init_keys(second)  # keeps them: one chain, one pepper
    assert key_files(second)["pin_pepper"].read_bytes() == path.read_bytes()
    assert key_files(second)["id_key"].read_bytes() == key_files(first)["id_key"].read_bytes()
    assert import_chain(second, export, PASSPHRASE) == ()  # the same: nothing to do


def test_issue12_another_chains_pepper_is_never_written_over_this_one(tmp_path):
    ours = TillConfig(key_path=tmp_path / "a" / "journal.pem")
    theirs = TillConfig(key_path=tmp_path / "b" / "journal.pem")
    init_keys(ours)
    pins.create_pepper(key_files(theirs)["pin_pepper"], os.urandom(32))
    init_keys(theirs)
    export = export_chain(theirs, tmp_path / "theirs.secrets", PASSPHRASE)
    before = key_files(ours)["pin_pepper"].read_bytes()
    with pytest.raises(Conflict):
        import_chain(ours, export, PASSPHRASE)
    assert key_files(ours)["pin_pepper"].read_bytes() == before


def test_issue12_a_missing_pepper_is_never_made_again_and_says_what_to_do(db, cfg):
    assert till.login(db, cfg, "V001", PINS["V001"])  # first start: the key set
    path = key_files(cfg)["pin_pepper"]
    path.unlink()
    forget_cached_signers()
    with pytest.raises(ConfigError) as err:
        till.login(db, cfg, "V001", PINS["V001"])
    assert "import-chain" in str(err.value) and "restore" in str(err.value)
    assert not path.exists()


def test_issue12_a_pepper_readable_by_others_is_refused(db, cfg):
    assert till.login(db, cfg, "V001", PINS["V001"])
    path = key_files(cfg)["pin_pepper"]
    os.chmod(path, 0o644)
    forget_cached_signers()
    with pytest.raises(ConfigError) as err:
        till.login(db, cfg, "V001", PINS["V001"])
    assert err.value.code == "pepper_mode"


def test_issue12_a_backup_carries_the_pepper_back(db, cfg, tmp_path):
    assert till.login(db, cfg, "V001", PINS["V001"])
    backup = backup_keys(cfg, tmp_path / "keys.backup", PASSPHRASE)
    folder = key_files(cfg)["journal_key"].parent
    for f in folder.iterdir():
        f.unlink()
    forget_cached_signers()
    restore_keys(cfg, backup, PASSPHRASE)
    assert till.login(db, cfg, "V001", PINS["V001"]).code == "V001"


def test_issue12_the_managers_review_names_locked_and_edited_accounts(db, cfg):
    from pos_returns.usecases.review import sync_issues

    manager = till.login(db, cfg, "M001", PINS["M001"])
    assert sync_issues(db, manager, cfg).accounts == ()
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, "V001", "0000")
    db.execute("UPDATE staff SET role = 'manager' WHERE code = 'B001'")
    issues = sync_issues(db, manager, cfg)
    assert [(a.code, a.sealed, bool(a.locked_until)) for a in issues.accounts] == [
        ("B001", False, False), ("V001", True, True)]
    text = "\n".join(issues.lines())
    assert "2 comptes du personnel à vérifier" in text
    assert "B001 Inès Laurent : modifié hors de la caisse" in text
    assert "V001 Camille Martin : verrouillé jusqu’à" in text


def test_issue12_the_till_does_not_open_without_the_chains_pepper(db, cfg, tmp_path, capsys):
    from pos_returns import cli
    from tests.helpers import L, add_sale

    add_sale(db, [L("SKU-CHEM-01", 1, 7900)])
    assert till.login(db, cfg, "V001", PINS["V001"])  # the key set
    key_files(cfg)["pin_pepper"].unlink()
    forget_cached_signers()
    toml = tmp_path / "till.toml"
    toml.write_text(f'key_path = "{cfg.key_path}"\n', encoding="utf-8")
    code = cli.main(["run", "--db", str(cfg.cache_path), "--config", str(toml)])
    err = capsys.readouterr().err
    assert code == 2 and "secret PIN de la chaîne" in err and "import-chain" in err
    assert "Traceback" not in err


def test_issue12_deleting_the_lockout_rows_in_the_cache_lifts_no_lockout(db, cfg):
    """The red team's `DELETE FROM staff_lockout`: the lockout is a signed journal
    record, which the cache's rows only mirror."""
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, "V001", "0000")
    db.execute("DELETE FROM staff_lockout")
    db.execute("DELETE FROM staff_pin_state")
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "V001", PINS["V001"])
    assert err.value.code == "locked"
    manager = till.login(db, cfg, "M001", PINS["M001"])
    staff.unlock(db, cfg, manager, 1)  # the journaled unlock does
    assert till.login(db, cfg, "V001", PINS["V001"]).code == "V001"


def test_issue12_a_managers_reset_unlocks_the_account(db, cfg):
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, "V001", "0000")
    manager = till.login(db, cfg, "M001", PINS["M001"])
    staff.reset_pin(db, cfg, manager, 1)
    assert staff.set_new_pin(db, cfg, "V001", "4826", "4826").code == "V001"
    assert till.login(db, cfg, "V001", "4826").code == "V001"


def test_issue12_the_chains_state_edited_in_the_cache_lifts_no_signed_lockout(db, cfg):
    """An insider writes the chain's row as HQ would after an unlock: the signed lockout
    stays; only a signed unlock (a manager's, or the one the exchange with HQ journals
    when HQ itself sends the unlock) ends it."""
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, "V001", "0000")
    later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    db.execute("UPDATE staff_pin_state SET failed = 0, locked_until = '', updated_at = ? "
               "WHERE staff_id = 1", [later])
    db.execute("DELETE FROM staff_lockout")
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "V001", PINS["V001"])
    assert err.value.code == "locked"


def test_issue12_only_a_managers_unlock_at_hq_lifts_a_signed_lockout(db, cfg):
    """After a pull, the till journals HQ's unlock only when HQ recorded a manager's
    unlock after the lockout began — not for any change of the chain's count (another
    till's wrong PIN landing while this till's lockout was still on its way)."""
    from pos_returns.journal.chain import Journal
    from pos_returns.sync.pins import chain_states, journal_hq_unlocks, journaled_locks

    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, "V001", "0000")
    journal = Journal.for_config(db, cfg)
    locks = journaled_locks(db)
    assert list(locks) == [1]
    before = chain_states(db, [1])
    later = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # as a pull would write it: another till's wrong PIN counted at HQ, no unlock
    db.execute("UPDATE staff_pin_state SET failed = 1, locked_until = '', updated_at = ? "
               "WHERE staff_id = 1", [later])
    assert journal_hq_unlocks(db, journal, locks, before) == 0
    with pytest.raises(PermissionDenied):
        till.login(db, cfg, "V001", PINS["V001"])
    # then HQ's word that a manager unlocked V001 at another till
    before = chain_states(db, [1])
    db.execute("UPDATE staff_pin_state SET failed = 0, unlocked_at = ? WHERE staff_id = 1",
               [later])
    assert journal_hq_unlocks(db, journal, journaled_locks(db), before) == 1
    assert till.login(db, cfg, "V001", PINS["V001"]).code == "V001"


def test_issue12_the_till_never_seals_a_row_edited_in_the_cache(db, cfg):
    """Round 3 of the audit: V001 made manager in the file (seal broken), then a routine
    reset or disable by a real manager would have sealed the edit."""
    manager = till.login(db, cfg, "M001", PINS["M001"])
    db.execute("UPDATE staff SET role = 'manager' WHERE code = 'V001'")
    for action in (lambda: staff.reset_pin(db, cfg, manager, 1),
                   lambda: staff.set_active(db, cfg, manager, 1, False),
                   lambda: staff.set_role(db, cfg, manager, 1, "jewelry")):
        with pytest.raises(PermissionDenied) as err:
            action()
        assert err.value.code == "seal"
    row = dict(next(iter(db.query("SELECT * FROM staff WHERE id = 1"))))
    assert row["role"] == "manager" and not pins.seal_ok(row, TEST_PEPPER)


def test_issue12_a_used_reset_put_back_in_the_cache_is_refused(db, cfg):
    manager = till.login(db, cfg, "M001", PINS["M001"])
    staff.reset_pin(db, cfg, manager, 1)
    captured = dict(next(iter(db.query("SELECT pin_hash, seal, must_change_pin FROM staff "
                                       "WHERE id = 1"))))
    staff.set_new_pin(db, cfg, "V001", "4826", "4826")
    db.execute("UPDATE staff SET pin_hash = ?, seal = ?, must_change_pin = 1 WHERE id = 1",
               [captured["pin_hash"], captured["seal"]])  # the sealed reset, replayed
    with pytest.raises(PermissionDenied) as err:
        staff.set_new_pin(db, cfg, "V001", "5937", "5937")
    assert err.value.code == "reset_invalid"


def test_issue12_the_name_printed_on_tickets_is_sealed(db, cfg):
    db.execute("UPDATE staff SET name = 'Sophie Bernard' WHERE code = 'V001'")
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "V001", PINS["V001"])
    assert err.value.code == "seal"


def test_issue12_deleting_the_counters_gives_no_new_guesses(db, cfg):
    """4 wrong PINs, the counters deleted, 4 more...: the signed journal counts them."""
    for _ in range(4):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, "V001", "0000")
    db.execute("DELETE FROM staff_lockout")
    db.execute("DELETE FROM staff_pin_state")
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, "V001", "0000")
    assert err.value.code == "locked"  # the fifth in a row, as the journal says


@pytest.mark.parametrize(("table", "column", "value"), [
    ("staff_pin_state", "failed", "abc"), ("staff_lockout", "locked_until", "zzz"),
    ("staff_lockout", "failed_attempts", "x"),
])
def test_issue12_a_damaged_counter_never_crashes_a_login(db, cfg, table, column, value):
    if table == "staff_pin_state":
        db.execute("INSERT INTO staff_pin_state(staff_id) VALUES (1)")
    else:
        db.execute("INSERT INTO staff_lockout(staff_id) VALUES (1)")
    db.execute(f"UPDATE {table} SET {column} = ? WHERE staff_id = 1", [value])
    with pytest.raises(PermissionDenied):
        till.login(db, cfg, "V001", "0000")
    assert till.login(db, cfg, "M001", PINS["M001"]).code == "M001"  # others unaffected


def test_issue12_a_role_edited_during_a_session_is_not_what_the_return_uses(db, cfg):
    """Logged in as a salesperson, the role then edited to fine jewelry in the file: the
    planning reads the sealed row and refuses to act in its name."""
    from pos_returns.engine.plan import LineRequest, ReturnRequest
    from pos_returns.usecases.planning import plan_return
    from tests.helpers import L, T, add_sale

    seller = till.login(db, cfg, "V001", PINS["V001"])
    sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")])
    line = db.execute("SELECT id FROM sale_lines WHERE sale_id = ?", [sale]).fetchone()[0]
    db.execute("UPDATE staff SET role = 'jewelry' WHERE id = ?", [seller.id])
    request = ReturnRequest(store_id=1, till_no=1, staff_id=seller.id, sale_id=sale,
                            lines=(LineRequest(quantity=1, reason="size", sale_line_id=line),))
    with pytest.raises(PermissionDenied) as err:
        plan_return(db, cfg, request)
    assert err.value.code == "seal"
