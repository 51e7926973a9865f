"""Staff accounts changed at a till reach HQ and come back to every till (issue 17)."""

from __future__ import annotations

import pytest

from pos_returns.usecases import staff
from pos_returns.usecases.auth import get_staff
from tests.helpers.hq import sync, till_config

pytestmark = pytest.mark.postgres


def test_an_account_added_and_disabled_at_one_till_reaches_hq_and_the_other_till(
        hq_conn, hq_dsn, till, tmp_path):
    cfg_a, cfg_b = till_config(tmp_path, "a"), till_config(tmp_path, "b", till_no=2)
    a, b = till("a"), till("b")
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    manager = get_staff(a, 3)
    account = staff.add_account(a, cfg_a, manager, code="V900", name="Jules Petit",
                                role="salesperson", pin="4826")
    sync(a, hq_dsn, cfg_a)
    row = hq_conn.execute("SELECT code, name, role, active FROM staff WHERE id = %s",
                          [account.id]).fetchone()
    assert row == ("V900", "Jules Petit", "salesperson", 1)
    sync(b, hq_dsn, cfg_b)
    assert b.execute("SELECT name FROM staff WHERE code = 'V900'").fetchone()[0] == "Jules Petit"
    staff.set_active(a, cfg_a, manager, account.id, False)
    sync(a, hq_dsn, cfg_a)
    sync(b, hq_dsn, cfg_b)
    assert hq_conn.execute("SELECT active FROM staff WHERE id = %s",
                           [account.id]).fetchone()[0] == 0
    assert b.execute("SELECT active FROM staff WHERE code = 'V900'").fetchone()[0] == 0
    # and the till that made the change keeps it after its own pull
    assert a.execute("SELECT active FROM staff WHERE code = 'V900'").fetchone()[0] == 0


def test_an_RGPD_erasure_at_a_till_erases_hqs_copy_of_the_ledger(hq_conn, hq_dsn, till,
                                                                   tmp_path):
    from pos_returns.usecases import idcheck, privacy

    cfg = till_config(tmp_path, "a")
    db = till("a")
    sync(db, hq_dsn, cfg)
    check = idcheck.capture(db, cfg, doc_type="cni", number="X4RTBPFW4", name="Zoé N’Diaye",
                            staff_id=1)
    idcheck.link_ticket(db, check.uuid, ticket_uuid="t-1", amount=4500)
    sync(db, hq_dsn, cfg)
    assert hq_conn.execute("SELECT COUNT(*) FROM id_ledger").fetchone()[0] == 1
    assert privacy.erase_records(db, cfg, get_staff(db, 3), "X4RTBPFW4") == (1, 1)
    sync(db, hq_dsn, cfg)
    assert hq_conn.execute("SELECT COUNT(*) FROM id_ledger").fetchone()[0] == 0
