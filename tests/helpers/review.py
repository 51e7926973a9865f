"""Shared helpers of the review tests: a standard day of returns, committed days."""

from __future__ import annotations

import itertools
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pos_returns.cache.db import atomic

DAY = date(2025, 3, 15)
_numbers = itertools.count(1)


@dataclass
class RL:
    """A return line for the factory: sku, amount refunded (cents, positive), reason."""

    sku: str
    amount: int
    reason: str = "size"
    qty: int = 1
    direction: str = "return"
    rule_codes: str = ""


@dataclass
class Ticket:
    lines: list[RL]
    refunds: dict[str, int]  # kind -> cents to the customer
    staff_id: int = 1
    kind: str = "receipt"
    at: str = "2025-03-15T10:00:00Z"  # UTC
    store_id: int = 1
    till_no: int = 1
    approvals: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)
    fees: int = 0


def add_return(db, t: Ticket) -> tuple[int, str]:
    """Insert a return document straight into the cache tables (no policy engine)."""
    refund_total = sum(ln.amount for ln in t.lines if ln.direction == "return")
    charge_total = sum(ln.amount for ln in t.lines if ln.direction == "sale")
    net = refund_total - charge_total - t.fees
    assert sum(t.refunds.values()) == net, "refunds must add up to the net"
    uuid = str(uuidlib.uuid4())
    with atomic(db):
        tid = db["return_tickets"].insert({
            "uuid": uuid, "store_id": t.store_id, "till_no": t.till_no,
            "number": next(_numbers), "created_at": t.at, "staff_id": t.staff_id,
            "sale_id": None, "kind": t.kind, "refund_total": refund_total,
            "charge_total": charge_total, "net": net, "restocking_fees": t.fees,
        }).last_pk
        for n, ln in enumerate(t.lines, 1):
            sign = -1 if ln.direction == "return" else 1
            db["return_lines"].insert({
                "ticket_id": tid, "line_no": n, "direction": ln.direction, "sku": ln.sku,
                "quantity": ln.qty, "unit_amount": ln.amount // ln.qty,
                "amount": sign * ln.amount, "vat_rate_bp": 2000,
                "reason": ln.reason if ln.direction == "return" else "",
                "rule_codes": ln.rule_codes,
            })
        for kind, amount in t.refunds.items():
            db["refunds"].insert({"ticket_id": tid, "kind": kind, "amount": amount})
        for rule, reason in t.approvals:
            db["approvals"].insert({
                "ticket_id": tid, "rule": rule, "manager_id": 3, "decision": "approved",
                "reason": reason, "decided_at": t.at,
            })
    return int(tid), uuid


def standard_day(db) -> dict[str, int]:
    """Five tickets on DAY, one the day before and one in Lyon; returns ids by name."""
    ids = {}
    ids["cash"], _u = add_return(db, Ticket([RL("SKU-ROBE-01", 18900)], {"cash": 18900}))
    ids["card"], _u = add_return(db, Ticket(
        [RL("SKU-CHEM-01", 7900, "defective"), RL("SKU-ESCA-01", 22000, "size")],
        {"card": 29900}, staff_id=2, at="2025-03-15T14:00:00Z"))
    ids["no_receipt"], _u = add_return(db, Ticket(
        [RL("SKU-PARF-01", 9500, "gift")], {"gift_card": 9500}, kind="no_receipt",
        approvals=[("R07", "Client connu, parfum neuf")], at="2025-03-15T15:00:00Z"))
    # an exchange where the customer pays 30 € in cash (R16)
    ids["exchange"], _u = add_return(db, Ticket(
        [RL("SKU-CHEM-01", 7900, "size"), RL("SKU-LIVR-01", 10900, direction="sale")],
        {"cash": -3000}, kind="exchange", staff_id=3, at="2025-03-15T16:00:00Z"))
    ids["jewelry"], _u = add_return(db, Ticket(
        [RL("SKU-BAGU-01", 640000, "changed_mind")], {"card": 640000}, staff_id=2,
        at="2025-03-14T23:30:00Z"))  # 00:30 in Paris on the 15th
    ids["yesterday"], _u = add_return(db, Ticket(
        [RL("SKU-ROBE-01", 18900)], {"cash": 18900}, at="2025-03-14T22:30:00Z"))  # 23:30
    ids["lyon"], _u = add_return(db, Ticket(
        [RL("SKU-ROBE-01", 18900)], {"cash": 18900}, store_id=2, staff_id=4))
    return ids


def commit_day(db, cfg, day: date) -> list[int]:
    """Real tickets through the ticket writer (H3): card, cash, split, exchange,
    gift (R06), no-receipt with an override (R07), exchange (R16), on ``day`` from 10:00 UTC."""
    from pos_returns.demo.returns import direct_plan
    from pos_returns.engine.plan import Approval
    from pos_returns.usecases import idcheck
    from pos_returns.usecases.tickets import commit_plan
    from tests.helpers import L, T, add_sale, granted

    def lines_of(sale_id):
        return [r[0] for r in db.execute(
            "SELECT id FROM sale_lines WHERE sale_id = ? ORDER BY line_no", [sale_id])]

    card = add_sale(db, [L("SKU-ROBE-01", 1, 18900)], sold_on=day)
    cash = add_sale(db, [L("SKU-CHEM-01", 2, 7900)], [T("cash", 15800)], sold_on=day)
    split = add_sale(db, [L("SKU-ESCA-01", 1, 22000)],
                     [T("card", 12000, "1111", "fp-1"), T("cash", 10000)], sold_on=day)
    gift = add_sale(db, [L("SKU-PARF-01", 1, 9500)], sold_on=day, gift_receipt=True)
    swap = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("cash", 7900)], sold_on=day)
    plans = [
        direct_plan(db, sale_id=card, picks=[(lines_of(card)[0], 1)]),
        direct_plan(db, sale_id=cash, picks=[(lines_of(cash)[0], 2)], staff_id=2),
        direct_plan(db, sale_id=split, picks=[(lines_of(split)[0], 1)]),
        direct_plan(db, sale_id=gift, picks=[(lines_of(gift)[0], 1)], gift=True),
        direct_plan(db, sale_id=None, no_receipt_skus=[("SKU-LIVR-01", 1)],
                    id_check_uuid=idcheck.capture(db, cfg, doc_type="cni", number="X7Q9ZK4L2",
                                                  name="Marie Dupont").uuid,
                    approvals=[Approval("R07", 3, "approved", "Livre neuf, client connu")]),
        # an exchange for dearer shoes: the customer pays the difference (R16)
        direct_plan(db, sale_id=swap, picks=[(lines_of(swap)[0], 1)],
                    new_items=[("SKU-ESCA-01", 1)]),
    ]
    ids = []
    for hour, plan in enumerate(plans):
        moment = datetime(day.year, day.month, day.day, 10 + hour, tzinfo=UTC)
        # approvals granted as the till grants them (issue 12)
        ids.append(commit_plan(db, cfg, granted(db, cfg, plan), now=moment).ticket_id)
    return ids


def sync_issue_rows(db) -> None:
    """A reservation HQ never confirmed (and one it did), and a quarantined row."""
    db.execute(
        "INSERT INTO pending_reservations (uuid, sale_id, lines, tenders, state, created_at, "
        "updated_at) VALUES ('r-old', NULL, '[[1, 1, 1000]]', '[]', 'reserved', "
        "'2020-01-01T10:00:00Z', '2020-01-01T10:00:00Z')")
    db.execute(
        "INSERT INTO pending_reservations (uuid, sale_id, lines, tenders, state, created_at, "
        "updated_at) VALUES ('r-done', NULL, '[[1, 1, 1000]]', '[]', 'confirmed', "
        "'2020-01-01T10:00:00Z', '2020-01-01T10:00:00Z')")
    db.execute(
        "INSERT INTO sync_quarantine (tbl, row_key, reason, detected_at) "
        "VALUES ('sale_lines', '[77]', 'sale_lines.unit_price:bounds', '2020-01-01T10:00:00Z')")
