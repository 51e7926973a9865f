"""The manager's settings, staff accounts and RGPD requests (issue 17), in the core."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pos_returns.config import TillConfig
from pos_returns.engine.domain import Role
from pos_returns.errors import Conflict, InvalidInput, PermissionDenied
from pos_returns.journal.verify import verify
from pos_returns.usecases import privacy, settings, staff, till
from pos_returns.usecases.auth import get_staff
from tests.helpers import PINS


@pytest.fixture
def cfg(tmp_path: Path, tmp_cache: Path) -> TillConfig:
    return TillConfig(cache_path=tmp_cache, key_path=tmp_path / "keys" / "j.pem",
                      documents_dir=tmp_path / "docs")


@pytest.fixture
def manager(db):  # type: ignore[no-untyped-def]
    return get_staff(db, 3)  # M001


def journal_payloads(db, kind):  # type: ignore[no-untyped-def]
    return [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM journal WHERE kind = ? ORDER BY seq", [kind])]


# --------------------------------------------------------------------------- settings


def test_a_manager_changes_the_cash_ceiling_and_it_is_journaled(db, cfg, manager):
    view = settings.change_setting(db, cfg, manager, "policy.cash_refund_ceiling", "1 500,00 €")
    assert view.value == 150_000 and view.source == "store" and "1" in view.text
    assert settings.effective_config(db, cfg).policy.cash_refund_ceiling == 150_000
    (record,) = journal_payloads(db, "setting_change")
    assert record == {"key": "policy.cash_refund_ceiling", "before": 100_000,
                      "after": 150_000, "staff_id": manager.id}
    assert verify(db).ok


def test_R18_restocking_fee_per_department_and_R19_thresholds(db, cfg, manager):
    settings.change_setting(db, cfg, manager, "policy.restocking_fee_bp.shoes", "15,5")
    settings.change_setting(db, cfg, manager, "policy.no_receipt_refuse_count", "8")
    eff = settings.effective_config(db, cfg)
    assert eff.policy.restocking_fee_bp["shoes"] == 1550
    assert eff.policy.no_receipt_refuse_count == 8
    with pytest.raises(InvalidInput) as err:  # warn ≤ manager ≤ refuse
        settings.change_setting(db, cfg, manager, "policy.no_receipt_warn_count", "9")
    assert "R19" in str(err.value)
    with pytest.raises(InvalidInput):
        settings.change_setting(db, cfg, manager, "policy.restocking_fee_bp.shoes", "60")


@pytest.mark.parametrize("key,raw", [
    ("policy.cash_refund_ceiling", "beaucoup"),
    ("policy.cash_refund_ceiling", "-5"),
    ("policy.cash_refund_ceiling", "12,345"),
    ("policy.cash_refund_ceiling", "NaN"),
    ("terminal_port", "70000"),
    ("terminal_host", "caisse 1; rm -rf"),
    ("mail_sender", "pas-une-adresse"),
    ("printer_device", "C:\\imprimante"),
    ("cash_drawer", "peut-être"),
    ("printer_queue", "file\u202eimprimante"),
    ("ticket_default", "fax"),
    ("language", "de"),
])
def test_every_value_is_validated_in_french(db, cfg, manager, key, raw):
    with pytest.raises(InvalidInput) as err:
        settings.change_setting(db, cfg, manager, key, raw)
    assert "\u202e" not in str(err.value)
    assert db.execute("SELECT COUNT(*) FROM store_settings").fetchone()[0] == 0


def test_hq_values_are_read_only(db, cfg, manager):
    settings.set_from_hq(db, {"policy.no_receipt_window_days": 180})
    views = {v.setting.key: v for v in settings.list_settings(db, cfg, manager)}
    assert views["policy.no_receipt_window_days"].read_only
    assert views["policy.id_retention_months"].read_only  # HQ is always master of it
    assert not views["policy.cash_refund_ceiling"].read_only
    with pytest.raises(PermissionDenied):
        settings.change_setting(db, cfg, manager, "policy.no_receipt_window_days", "30")
    with pytest.raises(PermissionDenied):
        settings.change_setting(db, cfg, manager, "policy.id_retention_months", "1")
    assert settings.effective_config(db, cfg).policy.no_receipt_window_days == 180


def test_only_a_manager_sees_or_changes_settings(db, cfg):
    seller = get_staff(db, 1)
    with pytest.raises(PermissionDenied):
        settings.list_settings(db, cfg, seller)
    with pytest.raises(PermissionDenied):
        settings.change_setting(db, cfg, seller, "policy.cash_refund_ceiling", "1")


def test_a_key_other_helpers_add_is_one_descriptor(db, cfg, manager, monkeypatch):
    extra = settings.text("terminal_model", "Terminal model", group=settings.TERMINAL)
    monkeypatch.setattr(settings, "SETTINGS", [*settings.SETTINGS, extra])
    settings.change_setting(db, cfg, manager, "terminal_model", "Ingenico Desk/5000")
    assert settings.setting_value(db, cfg, "terminal_model") == "Ingenico Desk/5000"
    settings.change_setting(db, cfg, manager, "ticket_default", "email")
    assert settings.setting_value(db, cfg, "ticket_default") == "email"


# --------------------------------------------------------------------------- staff


def test_add_disable_and_role_are_journaled_and_sent_to_HQ(db, cfg, manager):
    account = staff.add_account(db, cfg, manager, code="v777", name="Inès Martin",
                                role="salesperson", pin="4826")
    assert account.code == "V777" and account.active and account.id > 1_000_000
    assert till.login(db, cfg, "V777", "4826").name == "Inès Martin"
    with pytest.raises(Conflict):
        staff.add_account(db, cfg, manager, code="V777", name="Autre", role="salesperson",
                          pin="4826")
    staff.set_role(db, cfg, manager, account.id, "jewelry")
    staff.set_active(db, cfg, manager, account.id, False)
    with pytest.raises(PermissionDenied):  # the same answer as an unknown code (issue 12)
        till.login(db, cfg, "V777", "4826")
    actions = [p["action"] for p in journal_payloads(db, "staff_change")]
    assert actions == ["add", "role", "disable"]
    assert all("4826" not in json.dumps(p) and "pin" not in p["after"]
               for p in journal_payloads(db, "staff_change"))
    docs = [json.loads(r[0]) for r in db.execute(
        "SELECT payload FROM outbox WHERE kind = 'staff_change' ORDER BY rowid")]
    assert [d["staff"]["role"] for d in docs] == ["salesperson", "jewelry", "jewelry"]
    assert docs[-1]["staff"]["active"] == 0 and docs[0]["staff"]["pin_hash"].startswith("pscrypt$")


@pytest.mark.parametrize("field,value", [("code", "V 1"), ("code", "X"), ("name", "A"),
                                         ("name", "Jean \u202eDupont"), ("role", "boss"),
                                         ("pin", "12"), ("pin", "1111"), ("pin", "abcd")])
def test_a_new_account_is_validated(db, cfg, manager, field, value):
    args = {"code": "V778", "name": "Léa Roux", "role": "salesperson", "pin": "5837",
            field: value}
    with pytest.raises(InvalidInput):
        staff.add_account(db, cfg, manager, **args)


def test_a_reset_PIN_is_set_by_the_person_at_the_next_login(db, cfg, manager):
    seller = get_staff(db, 1)
    staff.reset_pin(db, cfg, manager, seller.id)
    with pytest.raises(PermissionDenied) as err:
        till.login(db, cfg, seller.code, PINS[seller.code])  # the old PIN no longer works
    assert err.value.code == "pin_reset"
    with pytest.raises(InvalidInput):
        staff.set_new_pin(db, cfg, seller.code, "5937", "5938")
    assert staff.set_new_pin(db, cfg, seller.code, "5937", "5937").id == seller.id
    assert till.login(db, cfg, seller.code, "5937").id == seller.id
    with pytest.raises(PermissionDenied):
        staff.set_new_pin(db, cfg, seller.code, "4826", "4826")  # no reset pending


def test_a_manager_unlocks_a_locked_account(db, cfg, manager):
    seller = get_staff(db, 1)
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            till.login(db, cfg, seller.code, "0000")
    assert next(a for a in staff.list_accounts(db, manager) if a.id == seller.id).locked
    account = staff.unlock(db, cfg, manager, seller.id)
    assert not account.locked
    assert till.login(db, cfg, seller.code, PINS[seller.code]).id == seller.id
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'unlock'").fetchone()[0] == 1


def test_a_manager_cannot_disable_themselves_nor_can_a_salesperson_manage(db, cfg, manager):
    with pytest.raises(PermissionDenied):
        staff.set_active(db, cfg, manager, manager.id, False)
    with pytest.raises(PermissionDenied):
        staff.list_accounts(db, get_staff(db, 1))
    assert get_staff(db, manager.id).role == Role.MANAGER


# --------------------------------------------------------------------------- RGPD


def _capture(db, cfg, name="Zoé N’Diaye", number="X4RTBPFW4", now=None):  # type: ignore[no-untyped-def]
    from pos_returns.usecases import idcheck

    check = idcheck.capture(db, cfg, doc_type="cni", number=number, name=name, staff_id=1,
                            now=now)
    idcheck.link_ticket(db, check.uuid, ticket_uuid="t-" + check.uuid, amount=4500, now=now)
    return check


def test_RGPD_find_export_and_erase_a_persons_records(db, cfg, manager, tmp_path):
    _capture(db, cfg)
    _capture(db, cfg)
    _capture(db, cfg, name="Autre Personne", number="Y9KLMN234")
    records = privacy.find_records(db, cfg, manager, "x4rt bpfw4")
    assert len(records.checks) == 2 and len(records.ledger) == 2
    assert {r.name for r in records.checks} == {"Zoé N’Diaye"}
    pdf, csv_path = privacy.export_records(records, tmp_path / "rgpd")
    assert pdf.read_bytes().startswith(b"%PDF")
    rows = list(csv.reader(csv_path.read_text(encoding="utf-8-sig").splitlines(),
                           delimiter=";"))
    assert rows[0][0] == "date" and sum("Zoé N’Diaye" in r for r in rows) == 2
    assert "X4RTBPFW4" not in csv_path.read_text(encoding="utf-8-sig")
    assert privacy.erase_records(db, cfg, manager, "X4RTBPFW4") == (2, 2)
    assert privacy.find_records(db, cfg, manager, "X4RTBPFW4").empty
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 1  # the other one
    requests = journal_payloads(db, "privacy_request")
    assert [p["action"] for p in requests] == ["access", "erase", "access"]
    assert "N’Diaye" not in json.dumps(requests)
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'privacy_erasure'"
                      ).fetchone()[0] == 1
    assert verify(db).ok


def test_RGPD_requests_are_for_managers(db, cfg):
    with pytest.raises(PermissionDenied):
        privacy.find_records(db, cfg, get_staff(db, 1), "X4RTBPFW4")
    with pytest.raises(InvalidInput):
        privacy.find_records(db, cfg, get_staff(db, 3), "\x00\x1b")


def test_the_purge_runs_at_each_closure(db, cfg, manager):
    from pos_returns.usecases.review import close_day

    _capture(db, cfg, now=datetime(2020, 1, 1, 10, tzinfo=UTC))
    close_day(db, manager, datetime.now(UTC).date(), cfg)
    assert db.execute("SELECT COUNT(*) FROM id_checks").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM id_ledger").fetchone()[0] == 0


def test_the_printer_and_mail_keys_of_issue_15_apply_to_the_configuration(db, cfg, manager):
    settings.change_setting(db, cfg, manager, "cash_drawer", "true")
    settings.change_setting(db, cfg, manager, "paper_width_mm", "58")
    settings.change_setting(db, cfg, manager, "printer_kind", "escpos-network")
    settings.change_setting(db, cfg, manager, "printer_host", "192.0.2.10")
    settings.change_setting(db, cfg, manager, "mail_sender", "retours@alamara.fr")
    eff = settings.effective_config(db, cfg)
    assert (eff.cash_drawer, eff.paper_width_mm, eff.printer_kind, eff.printer_host,
            eff.mail_sender) == (True, 58, "escpos-network", "192.0.2.10", "retours@alamara.fr")
    views = {v.setting.key: v for v in settings.list_settings(db, cfg, manager)}
    assert views["cash_drawer"].text == "Oui" and views["paper_width_mm"].edit == "58"
