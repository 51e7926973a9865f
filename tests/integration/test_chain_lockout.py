"""Wrong PINs counted per staff member across the chain, through HQ (issue 12, item 6).

Before, each till counted on its own: four wrong PINs at each of the chain's tills
never locked anybody. Now every wrong PIN, lockout and unlock is a ``pin_event`` HQ
counts once (``hq_pin_event``) and every till pulls the counts back
(``staff_pin_state``), in the sync round and in the short exchange the till runs
every few seconds.
"""

from __future__ import annotations

import pytest

from pos_returns.errors import PermissionDenied
from pos_returns.hq import schema as hq_schema
from pos_returns.journal.chain import Journal
from pos_returns.sync.pins import exchange_pins, pending_pin_events
from pos_returns.usecases import auth, staff, till
from tests.helpers import PINS
from tests.helpers.hq import hq_count, sync, till_config

pytestmark = pytest.mark.postgres


def _wrong(db, cfg, times: int) -> list[str]:
    codes = []
    for _ in range(times):
        with pytest.raises(PermissionDenied) as err:
            till.login(db, cfg, "V001", "0000")
        codes.append(err.value.code)
    return codes


def _exchange(db, dsn, cfg) -> tuple[int, int]:
    """The till's short exchange, with its journal (as usecases.hq_link runs it)."""
    return exchange_pins(db, dsn, store_id=cfg.store_id, till_no=cfg.till_no,
                         journal=Journal.for_config(db, cfg))


@pytest.fixture
def two_tills(hq_dsn, till, tmp_path):
    cfg_a, cfg_b = till_config(tmp_path, "a"), till_config(tmp_path, "b", till_no=2)
    a, b = till("a"), till("b")
    for db, cfg in ((a, cfg_a), (b, cfg_b)):  # each till anchored at HQ, with its key
        sync(db, hq_dsn, cfg, journal=Journal.for_config(db, cfg))
    return (a, cfg_a), (b, cfg_b)


def test_issue12_wrong_pins_at_two_tills_lock_the_account_at_every_till(hq_conn, hq_dsn,
                                                                        two_tills):
    (a, cfg_a), (b, cfg_b) = two_tills
    assert _wrong(a, cfg_a, 3) == ["wrong_pin"] * 3
    assert _exchange(a, hq_dsn, cfg_a)[0] == 3
    assert hq_conn.execute("SELECT failed, locked_until FROM staff_pin_state "
                           "WHERE staff_id = 1").fetchone() == (3, "")
    _exchange(b, hq_dsn, cfg_b)  # till B learns the chain's count
    assert _wrong(b, cfg_b, 2) == ["wrong_pin", "locked"]  # the fifth of the chain
    with pytest.raises(PermissionDenied) as err:  # the right PIN, locked
        till.login(b, cfg_b, "V001", PINS["V001"])
    assert err.value.code == "locked"
    _exchange(b, hq_dsn, cfg_b)
    failed, until = hq_conn.execute("SELECT failed, locked_until FROM staff_pin_state "
                                    "WHERE staff_id = 1").fetchone()
    assert until > "" and failed == 0
    _exchange(a, hq_dsn, cfg_a)
    with pytest.raises(PermissionDenied) as err:  # A counted three, HQ locked it
        till.login(a, cfg_a, "V001", PINS["V001"])
    assert err.value.code == "locked"
    assert hq_count(hq_conn, "SELECT count(*) FROM staff_pin_events WHERE staff_id = 1 "
                    "AND kind = 'failed'") == 5


def test_issue12_a_managers_unlock_at_one_till_unlocks_every_till(hq_conn, hq_dsn, two_tills):
    (a, cfg_a), (b, cfg_b) = two_tills
    _wrong(a, cfg_a, 5)
    _exchange(a, hq_dsn, cfg_a)
    _exchange(b, hq_dsn, cfg_b)
    with pytest.raises(PermissionDenied):
        till.login(b, cfg_b, "V001", PINS["V001"])
    manager = till.login(b, cfg_b, "M001", PINS["M001"])
    staff.unlock(b, cfg_b, manager, 1)
    assert till.login(b, cfg_b, "V001", PINS["V001"]).code == "V001"
    _exchange(b, hq_dsn, cfg_b)
    _exchange(a, hq_dsn, cfg_a)
    assert till.login(a, cfg_a, "V001", PINS["V001"]).code == "V001"
    unlocks = [r[0] for r in a.execute("SELECT payload FROM journal WHERE kind = 'unlock'")]
    assert len(unlocks) == 1 and '"source":"hq"' in unlocks[0]  # signed at till A
    assert hq_conn.execute("SELECT failed, locked_until FROM staff_pin_state "
                           "WHERE staff_id = 1").fetchone() == (0, "")


def test_issue12_each_wrong_pin_counts_once_whatever_carries_it(hq_conn, hq_dsn, two_tills):
    """The sync round and the short exchange both carry the events; HQ counts each one
    once (by uuid), and a document sent again changes nothing."""
    (a, cfg_a), _ = two_tills
    _wrong(a, cfg_a, 2)
    assert pending_pin_events(a) == 2
    sync(a, hq_dsn, cfg_a)  # the round carries them
    assert pending_pin_events(a) == 0
    assert _exchange(a, hq_dsn, cfg_a)[0] == 0
    from pos_returns.sync.push import send_document

    uuid, payload = a.execute("SELECT uuid, payload FROM outbox WHERE kind = 'pin_event' "
                              "ORDER BY id LIMIT 1").fetchone()
    with hq_schema.connect(hq_dsn) as conn:
        send_document(conn, "pin_event", uuid, payload, store_id=1, till_no=1)
        conn.commit()
    assert hq_conn.execute("SELECT failed FROM staff_pin_state WHERE staff_id = 1"
                           ).fetchone() == (2,)


def test_issue12_wrong_manager_pins_in_dialogs_count_across_the_chain(hq_conn, hq_dsn,
                                                                      two_tills):
    """The approval dialog and the payment terminal check ask for a manager's PIN too:
    their wrong PINs count and are journaled like a login's."""
    from pos_returns.usecases import card_payments

    (a, cfg_a), (b, cfg_b) = two_tills
    for _ in range(3):
        with pytest.raises(PermissionDenied):
            card_payments.confirm_checked(a, cfg_a, "no-such-op", manager_code="M001",
                                          pin="0000", approved=False, note="rien sur le TPE")
    kinds = [r[0] for r in a.execute("SELECT kind FROM journal ORDER BY seq")]
    assert kinds.count("login_failed") == 3
    _exchange(a, hq_dsn, cfg_a)
    _exchange(b, hq_dsn, cfg_b)
    assert _chain_failed(b, 3) == 3
    with pytest.raises(PermissionDenied):
        auth.authorize_override(b, "M001", "0000", rule="R13", reason="test du verrou",
                                pepper=auth.pepper_of(cfg_b))
    with pytest.raises(PermissionDenied) as err:
        auth.authorize_override(b, "M001", "0000", rule="R13", reason="test du verrou",
                                pepper=auth.pepper_of(cfg_b))
    assert err.value.code == "locked"


def _chain_failed(db, staff_id: int) -> int:
    row = db.execute("SELECT failed FROM staff_pin_state WHERE staff_id = ?",
                     [staff_id]).fetchone()
    return int(row[0]) if row else 0


def test_issue12_the_tills_short_exchange_runs_from_the_sync_widget(hq_conn, hq_dsn,
                                                                    two_tills, qtbot):
    from dataclasses import replace

    from ui.widgets.sync_status import SyncRunner, inline_executor

    (a, cfg_a), _ = two_tills
    _wrong(a, cfg_a, 2)
    runner = SyncRunner(replace(cfg_a, hq_dsn=hq_dsn), executor=inline_executor)
    assert runner.exchange_pins_now() is True
    assert hq_conn.execute("SELECT failed FROM staff_pin_state WHERE staff_id = 1"
                           ).fetchone() == (2,)


def test_issue12_an_hq_of_schema_3_gets_the_chain_pin_tables(hq_conn, hq_dsn):
    hq_conn.execute("DROP TABLE staff_pin_state")
    hq_conn.execute("DROP TABLE staff_pin_events")
    hq_conn.execute("DROP FUNCTION hq_pin_event")
    hq_conn.execute("ALTER TABLE staff DROP COLUMN seal")
    hq_conn.execute("UPDATE hq_meta SET value = '3' WHERE key = 'schema_version'")
    with hq_schema.connect(hq_dsn) as conn:
        assert hq_schema.create_schema(conn) is False
    assert hq_conn.execute("SELECT to_regclass('staff_pin_state') IS NOT NULL, "
                           "to_regclass('staff_pin_events') IS NOT NULL").fetchone() == (
        True, True)
    assert hq_conn.execute("SELECT value FROM hq_meta WHERE key = 'schema_version'"
                           ).fetchone()[0] == hq_schema.SCHEMA_VERSION


def test_issue12_hq_seal_staff_converts_old_hashes_and_leaves_edited_rows(hq_conn, hq_dsn,
                                                                         till, tmp_path):
    """An HQ of an older version holds unpeppered hashes and no seals: no till logs them
    in until the chain's IT seals them (``pos-returns hq seal-staff``); a row whose seal
    is there but wrong is named, not sealed."""
    import base64
    import hashlib
    import os

    from pos_returns import cli
    from pos_returns.journal.keyset import key_files
    from pos_returns.usecases.till import login

    salt = os.urandom(16)
    old = "scrypt$1024$8$1${}${}".format(
        base64.b64encode(salt).decode(),
        base64.b64encode(hashlib.scrypt(b"1111", salt=salt, n=1024, r=8, p=1,
                                        dklen=32)).decode())
    hq_conn.execute("UPDATE staff SET pin_hash = %s, seal = '' WHERE code = 'V001'", [old])
    hq_conn.execute("UPDATE staff SET role = 'manager' WHERE code = 'B001'")  # seal broken
    cfg = till_config(tmp_path, "a")
    db = till("a")
    sync(db, hq_dsn, cfg)
    with pytest.raises(PermissionDenied):
        login(db, cfg, "V001", "1111")
    config = tmp_path / "till.toml"
    config.write_text(f'key_path = "{cfg.key_path}"\n', encoding="utf-8")
    assert key_files(cfg)["pin_pepper"].exists()
    assert cli.main(["hq", "seal-staff", "--dsn", hq_dsn, "--config", str(config)]) == 1
    sync(db, hq_dsn, cfg)
    assert login(db, cfg, "V001", "1111").code == "V001"
    with pytest.raises(PermissionDenied):  # left as it is: still refused
        login(db, cfg, "B001", PINS["B001"])
    assert hq_conn.execute("SELECT role FROM staff WHERE code = 'B001'").fetchone()[0] \
        == "manager"


def test_issue12_an_unlock_made_up_in_a_tills_outbox_unlocks_nobody(hq_conn, hq_dsn,
                                                                    two_tills):
    """Audit round 3: an insider at till A writes a `pin_event` unlock (or a reset of the
    count) into the outbox; HQ takes what lifts a lockout only signed by the key it
    anchored for that till."""
    import json
    import uuid as uuidlib

    (a, cfg_a), (b, cfg_b) = two_tills
    _wrong(b, cfg_b, 5)
    _exchange(b, hq_dsn, cfg_b)
    for kind in ("unlock", "ok"):
        a.execute("INSERT INTO outbox(uuid, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                  [str(uuidlib.uuid4()), "pin_event",
                   json.dumps({"staff_id": 1, "kind": kind, "at": "2026-11-30T10:00:00Z"}),
                   "2026-11-30T10:00:00Z"])
    assert _exchange(a, hq_dsn, cfg_a)[0] == 2
    until = hq_conn.execute("SELECT locked_until FROM staff_pin_state WHERE staff_id = 1"
                            ).fetchone()[0]
    assert until > ""  # still locked at HQ
    assert hq_count(hq_conn, "SELECT count(*) FROM staff_pin_events WHERE refused = "
                    "'unsigned'") == 2
    _exchange(b, hq_dsn, cfg_b)
    with pytest.raises(PermissionDenied) as err:
        till.login(b, cfg_b, "V001", PINS["V001"])
    assert err.value.code == "locked"


def test_issue12_an_hq_that_never_answers_loses_no_wrong_pin_and_blocks_no_login(
        hq_dsn, two_tills):
    """HQ hung (a server that accepts and never answers): the short exchange gives up at
    its deadline, off the UI thread; the wrong PINs wait in the outbox, the till goes on
    counting them itself, and the next exchange with a live HQ sends them."""
    import time

    import psycopg

    from tests.helpers.hq import SilentHQ

    (a, cfg_a), _ = two_tills
    _wrong(a, cfg_a, 2)
    silent = SilentHQ()
    try:
        started = time.perf_counter()
        with pytest.raises(psycopg.OperationalError):
            exchange_pins(a, f"postgresql://u@127.0.0.1:{silent.port}/hq", store_id=1,
                          till_no=1, deadline=1.0, connect_timeout=1.0)
        assert time.perf_counter() - started < 10
    finally:
        silent.close()
    assert pending_pin_events(a) == 2
    assert _wrong(a, cfg_a, 3)[-1] == "locked"  # the till's own count went on
    assert _exchange(a, hq_dsn, cfg_a)[0] >= 5
