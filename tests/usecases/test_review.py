"""The manager's daily review: flags, filters, totals, permissions (pos_returns.usecases.review)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.engine import reasons
from pos_returns.errors import InvalidInput, PermissionDenied
from pos_returns.usecases import idcheck
from pos_returns.usecases.auth import get_staff
from pos_returns.usecases.review import (
    FLAG_CONFLICT,
    FLAG_JEWELRY,
    FLAG_NO_RECEIPT,
    FLAG_OVERRIDE,
    FLAG_REPEAT,
    ReviewFilters,
    day_bounds,
    day_review,
    ticket_detail,
)
from tests.helpers.review import (
    DAY,
    RL,
    Ticket,
    add_return,
    commit_day,
    standard_day,
    sync_issue_rows,
)

# --------------------------------------------------------------------------- factory










@pytest.fixture
def manager(db):
    return get_staff(db, 3)  # M001, Paris


# --------------------------------------------------------------------------- tests


def test_R01_only_a_manager_reads_the_review(db):
    standard_day(db)
    for staff_id in (1, 2):  # salesperson, jewelry specialist
        with pytest.raises(PermissionDenied):
            day_review(db, get_staff(db, staff_id), DAY)
    with pytest.raises(PermissionDenied):
        ticket_detail(db, get_staff(db, 1), 1)


def test_the_day_is_the_paris_calendar_day(db, manager):
    ids = standard_day(db)
    review = day_review(db, manager, DAY)
    got = {r.ticket_id for r in review.rows}
    assert got == {ids[k] for k in ("cash", "card", "no_receipt", "exchange", "jewelry")}
    assert day_bounds(DAY) == ("2025-03-14T23:00:00Z", "2025-03-15T23:00:00Z")
    # summer time: the day starts at 22:00 UTC
    assert day_bounds(date(2025, 7, 1))[0] == "2025-06-30T22:00:00Z"
    assert [r.ticket_id for r in day_review(db, manager, date(2025, 3, 14)).rows] == [
        ids["yesterday"]
    ]


def test_other_stores_are_not_in_the_managers_review(db, manager):
    ids = standard_day(db)
    paris = day_review(db, manager, DAY)
    assert ids["lyon"] not in {r.ticket_id for r in paris.rows}
    lyon = day_review(db, get_staff(db, 5), DAY)
    assert [r.ticket_id for r in lyon.rows] == [ids["lyon"]]


def test_totals_by_tender_reason_department_staff(db, manager):
    standard_day(db)
    t = day_review(db, manager, DAY).totals
    assert t.tickets == 5
    assert t.by_tender["cash"] == 18900 - 3000  # what left the drawer
    assert t.by_tender["card"] == 29900 + 640000
    assert t.by_tender["gift_card"] == 9500
    assert t.gift_cards_issued_count == 1
    assert t.refund_total == 18900 + 29900 + 9500 + 7900 + 640000
    assert t.charge_total == 10900
    assert t.net == t.refunds_total == 18900 + 29900 + 9500 - 3000 + 640000
    assert t.items_returned == 6
    by_reason = {b.key: (b.count, b.amount) for b in t.by_reason}
    assert by_reason == {"size": (3, 18900 + 22000 + 7900), "defective": (1, 7900),
                         "gift": (1, 9500), "changed_mind": (1, 640000)}
    by_dept = {b.key: (b.count, b.amount) for b in t.by_department}
    assert by_dept == {"women": (1, 18900), "men": (2, 15800), "shoes": (1, 22000),
                       "beauty": (1, 9500), "jewelry": (1, 640000)}
    assert {b.label for b in t.by_department} >= {"Femme", "Joaillerie"}
    by_staff = {b.label: (b.count, b.amount) for b in t.by_staff}
    assert by_staff == {"Camille Martin": (2, 18900 + 9500),
                        "Inès Laurent": (2, 29900 + 640000),
                        "Sophie Bernard": (1, -3000)}
    # the biggest amounts first (what a manager looks at)
    assert t.by_department[0].key == "jewelry"


def test_R07_R01_flags_no_receipt_and_override(db, manager):
    ids = standard_day(db)
    rows = {r.ticket_id: r for r in day_review(db, manager, DAY).rows}
    assert rows[ids["no_receipt"]].flags == (FLAG_NO_RECEIPT, FLAG_OVERRIDE)
    assert rows[ids["cash"]].flags == ()
    approval = rows[ids["no_receipt"]].approvals[0]
    assert (approval.rule, approval.manager_name) == ("R07", "Sophie Bernard")


def test_R14_high_value_jewelry_flag_above_the_threshold(db, manager):
    at_threshold, _u = add_return(db, Ticket([RL("SKU-COLL-01", 100_000)], {"card": 100_000},
                                             staff_id=2))
    above, _u = add_return(db, Ticket([RL("SKU-COLL-01", 100_001)], {"card": 100_001},
                                      staff_id=2))
    rows = {r.ticket_id: r for r in day_review(db, manager, DAY).rows}
    assert FLAG_JEWELRY not in rows[at_threshold].flags
    assert FLAG_JEWELRY in rows[above].flags
    lower = PolicyConfig(jewelry_manager_threshold=50_000)
    rows = {r.ticket_id: r for r in day_review(db, manager, DAY, policy=lower).rows}
    assert FLAG_JEWELRY in rows[at_threshold].flags


def test_offline_conflict_flag_from_sync_conflicts(db, manager):
    ids = standard_day(db)
    rows = day_review(db, manager, DAY).rows
    assert not any(FLAG_CONFLICT in r.flags for r in rows)
    uuid = db.execute("SELECT uuid FROM return_tickets WHERE id = ?", [ids["card"]]).fetchone()[0]
    # as pos_returns.sync.tillsync records HQ's "conflict" answer at push (ticket_id may be unknown)
    db.execute(
        "INSERT INTO sync_conflicts(ticket_uuid, ticket_id, outbox_id, kind, answer, detected_at) "
        "VALUES (?, NULL, NULL, 'return_ticket', ?, ?)",
        [uuid, '{"result":"conflict"}', "2025-03-16T08:00:00Z"],
    )
    rows = {r.ticket_id: r for r in day_review(db, manager, DAY).rows}
    assert FLAG_CONFLICT in rows[ids["card"]].flags
    assert sum(FLAG_CONFLICT in r.flags for r in rows.values()) == 1
    got = day_review(db, manager, DAY, filters=ReviewFilters(flag=FLAG_CONFLICT)).rows
    assert [r.ticket_id for r in got] == [ids["card"]]


def _no_receipt_with_id(db, number: str, at: datetime, amount: int = 9500) -> int:
    cfg = TillConfig()
    key = b"k" * 32
    check = idcheck.capture(db, cfg, doc_type="cni", number=number, name="Jeanne Client",
                            staff_id=1, now=at, key=key)
    tid, uuid = add_return(db, Ticket([RL("SKU-PARF-01", amount, "gift")], {"gift_card": amount},
                                      kind="no_receipt",
                                      at=at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    idcheck.link_ticket(db, check.uuid, ticket_uuid=uuid, amount=amount, now=at)
    return tid


def test_R19_repeat_returner_is_an_identity_seen_before(db, manager):
    first = _no_receipt_with_id(db, "X4RT56789012", datetime(2025, 3, 2, 10, tzinfo=UTC))
    second = _no_receipt_with_id(db, "X4RT56789012", datetime(2025, 3, 15, 10, tzinfo=UTC))
    stranger = _no_receipt_with_id(db, "AB1234567890", datetime(2025, 3, 15, 11, tzinfo=UTC))
    rows = {r.ticket_id: r for r in day_review(db, manager, DAY).rows}
    assert FLAG_REPEAT in rows[second].flags
    assert rows[second].earlier_no_receipt == 1
    assert FLAG_REPEAT not in rows[stranger].flags
    early = {r.ticket_id: r for r in day_review(db, manager, date(2025, 3, 2)).rows}
    assert FLAG_REPEAT not in early[first].flags
    # outside the R19 window the earlier return no longer counts
    short = PolicyConfig(no_receipt_window_days=10)
    rows = {r.ticket_id: r for r in day_review(db, manager, DAY, policy=short).rows}
    assert FLAG_REPEAT not in rows[second].flags


def test_R19_repeat_flag_from_the_engine_rule_code_without_id_data(db, manager):
    tid, _u = add_return(db, Ticket([RL("SKU-PARF-01", 9500, "gift", rule_codes="R07,R19")],
                                    {"gift_card": 9500}, kind="no_receipt"))
    row = next(r for r in day_review(db, manager, DAY).rows if r.ticket_id == tid)
    assert FLAG_REPEAT in row.flags


def test_filters_select_tickets_and_totals_follow(db, manager):
    ids = standard_day(db)

    def selected(**kw):
        review = day_review(db, manager, DAY, filters=ReviewFilters(**kw))
        return {r.ticket_id for r in review.rows}, review.totals

    got, totals = selected(staff_id=2)
    assert got == {ids["card"], ids["jewelry"]}
    assert totals.net == 29900 + 640000
    got, _t = selected(department="men")
    assert got == {ids["card"], ids["exchange"]}
    got, _t = selected(reason="gift")
    assert got == {ids["no_receipt"]}
    got, totals = selected(tender="cash")
    assert got == {ids["cash"], ids["exchange"]}
    assert totals.by_tender["cash"] == 15900
    got, _t = selected(flag=FLAG_NO_RECEIPT)
    assert got == {ids["no_receipt"]}
    got, _t = selected(flag=FLAG_JEWELRY)
    assert got == {ids["jewelry"]}
    got, _t = selected(staff_id=1, flag=FLAG_OVERRIDE)
    assert got == {ids["no_receipt"]}
    got, totals = selected(staff_id=99)
    assert got == set() and totals.net == 0


def test_choices_list_what_the_day_has(db, manager):
    standard_day(db)
    review = day_review(db, manager, DAY)
    assert review.day_count == 5
    assert [name for _id, name in review.staff_choices] == [
        "Camille Martin", "Inès Laurent", "Sophie Bernard"]
    assert dict(review.department_choices)["jewelry"] == "Joaillerie"
    assert dict(review.reason_choices)["size"] == reasons.reason_label("size")
    assert dict(review.reason_choices)["size"] != "size"  # a label, not the code


def test_bad_filters_are_refused(db, manager):
    with pytest.raises(InvalidInput):
        day_review(db, manager, DAY, filters=ReviewFilters(flag="nonsense"))
    with pytest.raises(InvalidInput):
        day_review(db, manager, DAY, filters=ReviewFilters(tender="bitcoin"))


def test_ticket_detail_gives_lines_and_flags(db, manager):
    ids = standard_day(db)
    row = ticket_detail(db, manager, ids["exchange"])
    assert [ln.direction for ln in row.lines] == ["return", "sale"]
    assert row.tenders == {"cash": -3000}
    assert row.kind == "exchange"


# --------------------------------------------------------------------------- journal


@pytest.fixture
def till(tmp_path):
    return TillConfig(key_path=tmp_path / "keys" / "journal.pem",
                      documents_dir=tmp_path / "documents")




def test_totals_equal_the_journal_Z_closure(db, manager, till):
    from pos_returns.usecases.review import close_day

    ids = commit_day(db, till, DAY)
    review = day_review(db, manager, DAY, filters=ReviewFilters(till_no=till.till_no))
    assert {r.ticket_id for r in review.rows} == set(ids)
    t = review.totals
    closure = close_day(db, manager, DAY, till, now=datetime(2025, 3, 15, 20, tzinfo=UTC))
    assert closure.ticket_count == t.tickets == len(ids)
    assert closure.net == t.net
    assert closure.totals["merchandise_returned"] == t.refund_total
    assert closure.totals["merchandise_sold"] == t.charge_total
    assert closure.totals["restocking_fees"] == t.restocking_fees
    assert closure.totals["refunds_by_tender"] == {k: v for k, v in t.by_tender.items() if v}
    assert t.by_tender["cash"] > 0 and t.by_tender["card"] > 0 and t.by_tender["gift_card"] > 0
    assert t.charge_total == 22000  # the exchange's new shoes
    assert closure.grand_total == t.net  # the chain's first closure


def test_closing_a_day_twice_is_refused(db, manager, till):
    from pos_returns.errors import Conflict
    from pos_returns.usecases.review import close_day, day_closure

    commit_day(db, till, DAY)
    assert not day_closure(db, DAY, till).closed
    evening = datetime(2025, 3, 15, 20, tzinfo=UTC)
    close_day(db, manager, DAY, till, now=evening)
    state = day_closure(db, DAY, till)
    assert state.closed and state.closure["ticket_count"] == 6
    with pytest.raises(Conflict):
        close_day(db, manager, DAY, till, now=evening)
    assert db.execute("SELECT COUNT(*) FROM closures WHERE period = ?",
                      [DAY.isoformat()]).fetchone()[0] == 1


def test_R01_only_a_manager_closes_the_day(db, till):
    from pos_returns.usecases.review import close_day

    with pytest.raises(PermissionDenied):
        close_day(db, get_staff(db, 1), DAY, till, now=datetime(2025, 3, 15, 20, tzinfo=UTC))
    assert db.execute("SELECT COUNT(*) FROM closures").fetchone()[0] == 0


def test_perpetual_grand_total_and_month_closure_follow_the_days(db, manager, till):
    from pos_returns.usecases.review import close_day, close_month

    commit_day(db, till, DAY)
    next_day = date(2025, 3, 16)
    commit_day(db, till, next_day)
    net = {d: day_review(db, manager, d).totals.net for d in (DAY, next_day)}
    first = close_day(db, manager, DAY, till, now=datetime(2025, 3, 15, 20, tzinfo=UTC))
    second = close_day(db, manager, next_day, till, now=datetime(2025, 3, 16, 20, tzinfo=UTC))
    assert (first.net, second.net) == (net[DAY], net[next_day])
    assert second.grand_total == net[DAY] + net[next_day]
    month = close_month(db, manager, 2025, 3, till, now=datetime(2025, 4, 1, 8, tzinfo=UTC))
    assert month.net == net[DAY] + net[next_day]
    assert month.ticket_count == 12


def test_reprint_is_a_journaled_duplicata(db, manager, till):
    from pypdf import PdfReader

    from pos_returns.usecases.review import reprint_duplicate

    ids = commit_day(db, till, DAY)
    path = reprint_duplicate(db, manager, ids[0], till)
    text = "".join(page.extract_text() for page in PdfReader(str(path)).pages)
    assert "DUPLICATA" in text
    uuid = db.execute("SELECT uuid FROM return_tickets WHERE id = ?", [ids[0]]).fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM journal WHERE kind = 'duplicate' AND ticket_uuid = ?",
                      [uuid]).fetchone()[0] == 1
    with pytest.raises(PermissionDenied):
        reprint_duplicate(db, get_staff(db, 1), ids[0], till)


@given(st.integers(min_value=-10**13, max_value=10**13), st.sampled_from(["fr_FR", "en_GB"]))
def test_money_text_is_exactly_format_money(cents, locale):
    from pos_returns.i18n import format_money
    from pos_returns.usecases.review import money_text

    assert money_text(cents, locale=locale) == format_money(cents, locale=locale)


def test_unconfirmed_reservations_and_quarantined_rows_in_the_review(db, manager):
    from pos_returns.usecases.review import sync_issues

    assert sync_issues(db, manager).empty
    sync_issue_rows(db)
    issues = sync_issues(db, manager)
    assert [r.uuid for r in issues.stale] == ["r-old"]  # confirmed ones are not shown
    assert [q.reason for q in issues.quarantined] == ["sale_lines.unit_price:bounds"]
    text = "\n".join(issues.lines())
    assert "non confirmée" in text and "jamais validée" in text and "[77]" in text
    with pytest.raises(PermissionDenied):
        sync_issues(db, get_staff(db, 1))
