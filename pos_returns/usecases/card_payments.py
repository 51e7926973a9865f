"""Card money on the payment terminal, tender by tender: never lost, never doubled.

A return's card refunds (and the card payment of an exchange that leaves the
customer to pay, R16) move money on the store's terminal before the ticket is
committed. For each such amount the till:

1. writes a ``pending`` row in ``terminal_operations`` and commits it
   (:func:`start_operation`) — BEFORE anything is sent. A second attempt on a
   tender whose earlier outcome is unknown is refused here, until a manager
   has confirmed what the terminal printed (:func:`confirm_checked`);
2. calls the terminal, off the UI thread and off the database worker (the
   screen's I/O worker): :class:`~pos_returns.devices.terminal.PaymentTerminal`;
3. records its answer (:func:`record_result`): approved, declined (the money
   did not move; try again, another card, a gift card), or unknown
   (« à vérifier »). Without a terminal, the salesperson does it on the
   terminal by hand and types its authorisation number (:func:`record_manual`).

The ticket is committed (``complete_return(..., card_draft=...)``) only when every
card amount of the plan has an approved operation of that draft, with the same
amount: :func:`require_settled`. The refund rows then carry the terminal's
identifiers and card application, in the ticket's signed journal record and on
the printed ticket.

A till killed during the call leaves its ``pending`` row: at the next start
:func:`recover_interrupted` turns it into ``unknown``; it is listed for the
manager (:func:`to_check`) and blocks a new attempt on that tender. Once the
manager confirms "approved", the next return of the same sale adopts that
operation instead of sending the amount again (same sale card, same amount,
same action): the money is neither lost nor paid twice.

Every move of an operation is journaled (technical records ``terminal`` and
``terminal_check``).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.devices.caisse_ap import terminal_from_config
from pos_returns.devices.terminal import (
    Action,
    Outcome,
    PaymentTerminal,
    TerminalResult,
)
from pos_returns.engine.cards import card_application_label, read_mode_label
from pos_returns.engine.domain import TenderKind
from pos_returns.engine.plan import ReturnPlan
from pos_returns.errors import Conflict, InvalidInput, NotFound, PolicyRefused
from pos_returns.i18n import _, format_money
from pos_returns.journal import terminal as jterm
from pos_returns.journal.chain import Journal
from pos_returns.usecases.auth import authorize_override, pepper_of

PENDING, APPROVED, DECLINED, UNKNOWN = "pending", "approved", "declined", "unknown"
CHECK_RULE = "TPE"  # the manager's confirmation of an unknown outcome (not a policy rule)
MAX_AUTH_NUMBER = 12


def _now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CardAmount:
    """One amount of a plan that moves on the card terminal."""

    index: int  # position in plan.refunds
    key: str  # stable across replans: the sale's card, or the exchange payment
    sale_tender_id: int | None
    action: Action
    amount: int  # positive cents
    card_last4: str = ""


def card_amounts(plan: ReturnPlan) -> list[CardAmount]:
    """The plan's card refunds (credit) and card payment (debit), in order."""
    out = []
    for i, refund in enumerate(plan.refunds):
        if refund.kind != TenderKind.CARD or refund.amount == 0:
            continue
        if refund.amount > 0:
            key = (f"tender:{refund.sale_tender_id}" if refund.sale_tender_id is not None
                   else f"credit:{i}")
            out.append(CardAmount(i, key, refund.sale_tender_id, Action.CREDIT, refund.amount,
                                  refund.card_last4))
        else:
            out.append(CardAmount(i, "debit", None, Action.DEBIT, -refund.amount,
                                  refund.card_last4))
    return out


@dataclass(frozen=True)
class CardOperation:
    uuid: str
    draft_uuid: str
    tender_key: str
    sale_tender_id: int | None
    store_id: int
    till_no: int
    staff_id: int
    action: Action
    amount: int
    mode: str
    status: str
    reason_code: str = ""
    message: str = ""
    card_application: str = ""
    read_mode: str = ""
    transaction_id: str = ""
    auth_number: str = ""
    raw: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""
    answered_at: str | None = None
    checked_by: int | None = None
    checked_at: str | None = None
    check_note: str = ""
    ticket_uuid: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    @property
    def card_application_label(self) -> str:
        return card_application_label(self.card_application)

    @property
    def read_mode_label(self) -> str:
        return read_mode_label(self.read_mode)

    @property
    def terminal_status(self) -> str:
        """What the refund row says: 'terminal', 'manual' or 'checked' (by a manager)."""
        if self.checked_by is not None:
            return "checked"
        return self.mode

    def describe(self) -> str:
        amount = format_money(self.amount)
        if self.status == UNKNOWN:
            return _("{amount} on the payment terminal: to be checked.").format(amount=amount)
        if self.status == PENDING:
            return _("{amount} sent to the payment terminal…").format(amount=amount)
        if self.status == DECLINED:
            return self.message or _("{amount}: not done on the payment terminal.").format(
                amount=amount)
        return _("{amount} confirmed by the payment terminal.").format(amount=amount)

    def journal_payload(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid, "draft_uuid": self.draft_uuid, "tender_key": self.tender_key,
            "sale_tender_id": self.sale_tender_id, "action": str(self.action),
            "amount": self.amount, "mode": self.mode, "status": self.status,
            "reason_code": self.reason_code, "card_application": self.card_application,
            "read_mode": self.read_mode, "transaction_id": self.transaction_id,
            "auth_number": self.auth_number, "staff_id": self.staff_id,
            "checked_by": self.checked_by,
        }


_COLUMNS = (
    "uuid, draft_uuid, tender_key, sale_tender_id, store_id, till_no, staff_id, action, "
    "amount, mode, status, reason_code, message, card_application, read_mode, "
    "transaction_id, auth_number, raw, created_at, answered_at, checked_by, checked_at, "
    "check_note, ticket_uuid"
)


def _row(row: Sequence[Any]) -> CardOperation:
    values = list(row)
    values[7] = Action(values[7])
    values[17] = json.loads(values[17] or "{}")
    return CardOperation(*values)


def get_operation(db: Database, op_uuid: str) -> CardOperation:
    row = db.execute(f"SELECT {_COLUMNS} FROM terminal_operations WHERE uuid = ?",
                     [op_uuid]).fetchone()
    if row is None:
        raise NotFound(_("This payment terminal operation does not exist."), code="terminal_op")
    return _row(row)


def operations_for(db: Database, draft_uuid: str) -> list[CardOperation]:
    return [_row(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM terminal_operations WHERE draft_uuid = ? "
        "ORDER BY created_at, rowid", [draft_uuid])]


def _chains(db: Database, store_id: int | None,
            till_no: int | None = None) -> list[tuple[int, int]]:
    """The tills whose card operations this cache holds (rows or signed records)."""
    found = {(int(a), int(b)) for a, b in db.execute(
        "SELECT DISTINCT store_id, till_no FROM terminal_operations")}
    found |= {(int(a), int(b)) for a, b in db.execute(
        "SELECT DISTINCT store_id, till_no FROM journal WHERE kind IN ('terminal', "
        "'terminal_check')")}
    return sorted(c for c in found if (store_id is None or c[0] == store_id)
                  and (till_no is None or c[1] == till_no))


def _from_signed(signed: jterm.SignedOperation, row: CardOperation | None) -> CardOperation:
    """The operation as the journal signed it (the row's other columns when it has one)."""
    f = signed.fields
    base = row or CardOperation(
        uuid=signed.uuid, draft_uuid="", tender_key="", sale_tender_id=None,
        store_id=int(signed.record[1]), till_no=int(signed.record[2]), staff_id=0,
        action=Action.CREDIT, amount=0, mode="terminal", status=UNKNOWN,
        created_at=str(signed.record[5]))
    return replace(
        base, draft_uuid=str(f["draft_uuid"] or ""), tender_key=str(f["tender_key"] or ""),
        sale_tender_id=f["sale_tender_id"], staff_id=int(f["staff_id"] or 0),
        action=Action(f["action"] or "credit"), amount=int(f["amount"] or 0),
        mode=str(f["mode"] or "terminal"), status=str(f["status"] or UNKNOWN),
        reason_code=str(f["reason_code"] or ""),
        card_application=str(f["card_application"] or ""),
        read_mode=str(f["read_mode"] or ""), transaction_id=str(f["transaction_id"] or ""),
        auth_number=str(f["auth_number"] or ""), checked_by=f["checked_by"])


def _as_signed(db: Database, store_id: int | None,
               till_no: int | None = None) -> list[tuple[CardOperation, bool]]:
    """Every open operation of these tills as the journal signed it — unknown, pending,
    or approved on no ticket, whatever its row says — and whether its row differs."""
    out = []
    for store, till in _chains(db, store_id, till_no):
        uuids = jterm.open_uuids(db, store, till)
        signed = jterm.last_records(db, store, till, uuids)
        rows = jterm.rows_of(db, uuids)
        for op_uuid in uuids:
            row = get_operation(db, op_uuid) if op_uuid in rows else None
            sig = signed.get(op_uuid)
            differs = bool(jterm.differences(db, rows.get(op_uuid), sig))
            if sig is None:
                if row is not None:
                    out.append((row, differs))
                continue
            op = _from_signed(sig, row)
            out.append((replace(op, ticket_uuid=jterm.attached(db, sig)), differs))
    out.sort(key=lambda pair: (pair[0].created_at, pair[0].uuid))
    return out


def to_check(db: Database, *, store_id: int | None = None,
             till_no: int | None = None) -> list[CardOperation]:
    """Every operation whose outcome is unknown (« à vérifier »), oldest first: the
    manager's review lists them until they are confirmed. As the journal signed them:
    a row edited to hide one hides nothing (issue 12)."""
    return [op for op, _differs in _as_signed(db, store_id, till_no)
            if op.status in (PENDING, UNKNOWN)]


def unticketed(db: Database, *, store_id: int | None = None) -> list[CardOperation]:
    """Card money the terminal moved (approved) that no ticket carries yet: a return
    abandoned after its card amount was done. The next return of the same sale card and
    amount adopts it; otherwise the manager's review shows it. As the journal signed it."""
    return [op for op, _differs in _as_signed(db, store_id)
            if op.status == APPROVED and op.ticket_uuid is None]


def integrity_problems(db: Database, *, store_id: int | None = None) -> list[str]:
    """The operations whose row differs from what the journal signed (the review shows
    them; ``journal verify`` names the first): one French sentence each."""
    out = []
    for store, till in _chains(db, store_id):
        signed = jterm.all_last_records(db, store, till)
        rows = {r[0] for r in db.execute(
            "SELECT uuid FROM terminal_operations WHERE store_id = ? AND till_no = ?",
            [store, till])}
        row_data = jterm.rows_of(db, rows | set(signed))
        for op_uuid in sorted(rows | set(signed)):
            fields = jterm.differences(db, row_data.get(op_uuid), signed.get(op_uuid))
            if fields:
                out.append(jterm.mismatch_message(row_data.get(op_uuid), signed.get(op_uuid),
                                                  fields))
    return out


def _journal(db: Database, cfg: TillConfig, kind: str, op: CardOperation,
             **extra: Any) -> None:
    # "v": 2 — the ticket that carries the operation is journaled too (attach_to_ticket)
    Journal.for_config(db, cfg, store_id=op.store_id, till_no=op.till_no).append(
        kind, {**op.journal_payload(), "v": jterm.FORMAT, **extra})


# --------------------------------------------------------------------------- the truth


def _integrity_refusal(message: str) -> PolicyRefused:
    return PolicyRefused(
        message + " " + _("Nothing is done with it: a manager must look into it "
                          "(pos-returns journal verify names it)."),
        code="terminal_integrity")


def _signed_ops(db: Database, cfg: TillConfig, store_id: int, till_no: int, *,
                draft_uuid: str = "", sale_tender_ids: Sequence[int | None] = ()
                ) -> list[CardOperation]:
    """The operations of a draft or of sale cards — found by their rows AND by the journal —
    each row checked against the last signed ``terminal`` record of its operation (the
    journal is the truth, journal/terminal.py; its signature checked with the till's
    pinned key). A row that differs, a row no record signed, a signed operation whose row
    is gone: :class:`PolicyRefused` (``terminal_integrity``). Oldest first."""
    uuids = jterm.uuids_about(db, store_id, till_no, draft_uuid=draft_uuid,
                              sale_tender_ids=[t for t in sale_tender_ids if t is not None])
    _check_against_journal(db, cfg, store_id, till_no, uuids)
    ops = [get_operation(db, op_uuid) for op_uuid in uuids]
    return sorted(ops, key=lambda op: (op.created_at, op.uuid))


def _check_against_journal(db: Database, cfg: TillConfig, store_id: int, till_no: int,
                           uuids: set[str]) -> None:
    if not uuids:
        return
    key = Journal.for_config(db, cfg, store_id=store_id, till_no=till_no).signer.public_raw
    signed = jterm.last_records(db, store_id, till_no, uuids)
    rows = jterm.rows_of(db, uuids)
    for op_uuid in sorted(uuids):
        sig = signed.get(op_uuid)
        if sig is not None and not sig.signature_holds(key):
            raise _integrity_refusal(_(
                "The journal record of a payment terminal operation (record no. {seq}) does "
                "not hold its signature: it was altered.").format(seq=sig.seq))
        fields = jterm.differences(db, rows.get(op_uuid), sig)
        if fields:
            raise _integrity_refusal(jterm.mismatch_message(rows.get(op_uuid), sig, fields))


def _differs(db: Database, op: CardOperation) -> bool:
    signed = jterm.last_records(db, op.store_id, op.till_no, [op.uuid]).get(op.uuid)
    return bool(jterm.differences(db, jterm.rows_of(db, [op.uuid]).get(op.uuid), signed))


def _checked_operation(db: Database, cfg: TillConfig, op_uuid: str) -> CardOperation:
    """One operation, its row checked against the journal before it moves on."""
    op = get_operation(db, op_uuid)
    _check_against_journal(db, cfg, op.store_id, op.till_no, {op_uuid})
    return op


def _mine(op: CardOperation, draft_uuid: str, amount: CardAmount) -> bool:
    return op.draft_uuid == draft_uuid and op.tender_key == amount.key


def _same_card(op: CardOperation, amount: CardAmount) -> bool:
    return amount.sale_tender_id is not None and op.sale_tender_id == amount.sale_tender_id


def _about(db: Database, cfg: TillConfig, draft_uuid: str,
           amount: CardAmount) -> list[CardOperation]:
    return _signed_ops(db, cfg, cfg.store_id, cfg.till_no, draft_uuid=draft_uuid,
                       sale_tender_ids=[amount.sale_tender_id])


def _blocking(ops: Sequence[CardOperation], draft_uuid: str,
              amount: CardAmount) -> CardOperation | None:
    """An earlier operation on this tender whose outcome is still unknown."""
    return next((op for op in ops if op.status in (PENDING, UNKNOWN) and (
        _mine(op, draft_uuid, amount) or (_same_card(op, amount) and op.ticket_uuid is None))),
        None)


def blocking_operation(db: Database, draft_uuid: str, amount: CardAmount, *,
                       cfg: TillConfig) -> CardOperation | None:
    """The operation « à vérifier » that stops a new attempt on this amount's card."""
    return _blocking(_about(db, cfg, draft_uuid, amount), draft_uuid, amount)


def _to_check_refusal(op: CardOperation) -> Conflict:
    return Conflict(
        _("An earlier operation of {amount} on this card is « to be checked »: a manager "
          "must confirm what the payment terminal printed before another attempt.").format(
            amount=format_money(op.amount)),
        code="terminal_to_check",
    )


def _usable(ops: Sequence[CardOperation], draft_uuid: str,
            amount: CardAmount) -> CardOperation | None:
    """An approved operation already covering this amount: of this draft, or one a
    manager confirmed for the same sale card after the till lost its draft."""
    fits = [op for op in ops if op.status == APPROVED and op.ticket_uuid is None
            and (op.action, op.amount) == (amount.action, amount.amount)
            and (_mine(op, draft_uuid, amount)
                 or (_same_card(op, amount) and op.draft_uuid != draft_uuid))]
    fits.sort(key=lambda op: op.draft_uuid != draft_uuid)  # stable: then the oldest
    return fits[0] if fits else None


def _loose(ops: Sequence[CardOperation], draft_uuid: str,
           amount: CardAmount) -> CardOperation | None:
    """Card money already moved on this card (or this amount of this return) that no
    ticket carries and that this amount cannot take over (another amount): sending more
    would pay twice."""
    return next((op for op in ops if op.status == APPROVED and op.ticket_uuid is None
                 and (_mine(op, draft_uuid, amount) or _same_card(op, amount))), None)


def _loose_refusal(op: CardOperation) -> Conflict:
    return Conflict(
        _("{amount} were already done on the payment terminal for this card, and no ticket "
          "carries them: make the return for that amount to the card (the manager's review "
          "lists it).").format(
            amount=format_money(op.amount)),
        code="terminal_unticketed",
    )


def check_no_loose_money(db: Database, plan: ReturnPlan,
                         operations: Mapping[int, CardOperation] | None, *,
                         cfg: TillConfig) -> None:
    """Before a ticket of a sale: no card money the terminal moved for this sale's cards
    is left out of it (a return abandoned after its card amount, then made otherwise —
    e.g. on a gift card — would refund twice). Each operation as the journal signed it:
    a row set to 'declined' behind the till's back hides nothing."""
    sale_id = plan.request.sale_id
    if sale_id is None:
        return
    tenders = [int(r[0]) for r in db.execute("SELECT id FROM tenders WHERE sale_id = ?",
                                             [sale_id])]
    used = {op.uuid for op in (operations or {}).values()}
    for op in _signed_ops(db, cfg, plan.request.store_id, plan.request.till_no,
                          sale_tender_ids=tenders):
        if (op.status == APPROVED and op.ticket_uuid is None and op.sale_tender_id in tenders
                and op.uuid not in used):
            raise PolicyRefused(str(_loose_refusal(op)), code="terminal_unticketed")


def _adopt(db: Database, cfg: TillConfig, op: CardOperation, draft_uuid: str,
           key: str) -> CardOperation:
    if op.draft_uuid == draft_uuid and op.tender_key == key:
        return op
    db.execute("UPDATE terminal_operations SET draft_uuid = ?, tender_key = ? WHERE uuid = ?",
               [draft_uuid, key, op.uuid])
    adopted = get_operation(db, op.uuid)
    _journal(db, cfg, "terminal", adopted, event="adopted", previous_draft=op.draft_uuid)
    return adopted


def _insert(db: Database, op: CardOperation) -> None:
    db.execute(
        f"INSERT INTO terminal_operations({_COLUMNS}) VALUES "
        f"({','.join('?' * 24)})",
        [op.uuid, op.draft_uuid, op.tender_key, op.sale_tender_id, op.store_id, op.till_no,
         op.staff_id, str(op.action), op.amount, op.mode, op.status, op.reason_code,
         op.message, op.card_application, op.read_mode, op.transaction_id, op.auth_number,
         json.dumps(dict(op.raw), sort_keys=True), op.created_at, op.answered_at,
         op.checked_by, op.checked_at, op.check_note, op.ticket_uuid])


def start_operation(db: Database, cfg: TillConfig, *, draft_uuid: str, amount: CardAmount,
                    staff_id: int, now: datetime | None = None) -> CardOperation:
    """Before calling the terminal: the ``pending`` row, committed (or the approved
    operation that already covers this amount: then nothing is to be sent).

    Raises :class:`Conflict` while an earlier operation on this tender is unknown.
    """
    if not draft_uuid:
        raise InvalidInput(_("A card operation belongs to a return."), code="terminal_op")
    with atomic(db):
        done = _already_done_or_refused(db, cfg, draft_uuid, amount)
        if done is not None:
            return done
        op = CardOperation(
            uuid=str(uuidlib.uuid4()), draft_uuid=draft_uuid, tender_key=amount.key,
            sale_tender_id=amount.sale_tender_id, store_id=cfg.store_id, till_no=cfg.till_no,
            staff_id=staff_id, action=amount.action, amount=amount.amount, mode="terminal",
            status=PENDING, created_at=_now_text(now))
        _insert(db, op)
        _journal(db, cfg, "terminal", op, event="sent")
    return op


def record_result(db: Database, cfg: TillConfig, op_uuid: str, result: TerminalResult, *,
                  now: datetime | None = None) -> CardOperation:
    """The terminal's answer for a pending operation (journaled)."""
    status = {Outcome.APPROVED: APPROVED, Outcome.DECLINED: DECLINED,
              Outcome.UNKNOWN: UNKNOWN}[result.outcome]
    with atomic(db):
        op = _checked_operation(db, cfg, op_uuid)
        if op.status != PENDING:
            raise Conflict(_("This payment terminal operation already has its outcome."),
                           code="terminal_op")
        if (result.amount_cents, result.action) != (op.amount, op.action):
            status = UNKNOWN  # not the answer to this operation: never trusted
        db.execute(
            "UPDATE terminal_operations SET status = ?, reason_code = ?, message = ?, "
            "card_application = ?, read_mode = ?, transaction_id = ?, raw = ?, answered_at = ? "
            "WHERE uuid = ? AND status = 'pending'",
            [status, result.reason_code, result.message, result.card_application,
             result.read_mode, result.transaction_id,
             json.dumps(dict(result.raw), sort_keys=True), _now_text(now), op_uuid])
        op = get_operation(db, op_uuid)
        _journal(db, cfg, "terminal", op, event="answer")
    return op


def record_lost_answer(db: Database, cfg: TillConfig, op_uuid: str, *,
                       now: datetime | None = None) -> CardOperation:
    """The call never came back (the I/O pool's deadline passed): unknown, never assumed."""
    with atomic(db):
        _checked_operation(db, cfg, op_uuid)
        cur = db.execute(
            "UPDATE terminal_operations SET status = 'unknown', reason_code = 'lost', "
            "message = ?, answered_at = ? WHERE uuid = ? AND status = 'pending'",
            [_("The payment terminal's answer never reached the till."), _now_text(now),
             op_uuid])
        op = get_operation(db, op_uuid)
        if cur.rowcount:
            _journal(db, cfg, "terminal", op, event="lost")
    return op


def _clean_auth(auth_number: str) -> str:
    text = "".join((auth_number or "").split()).upper()
    if not text or len(text) > MAX_AUTH_NUMBER or not text.isalnum():
        raise InvalidInput(
            _("Type the authorisation number printed by the payment terminal "
              "(letters and digits, at most {count})." ).format(count=MAX_AUTH_NUMBER),
            code="auth_number")
    return text



def _already_done_or_refused(db: Database, cfg: TillConfig, draft_uuid: str,
                             amount: CardAmount) -> CardOperation | None:
    """Before any new card operation on this amount (inside its transaction): the one
    that already covers it (adopted), or a refusal while an earlier one is unknown or
    card money moved without a ticket; None when a new operation may start."""
    ops = _about(db, cfg, draft_uuid, amount)
    done = _usable(ops, draft_uuid, amount)
    if done is not None:
        return _adopt(db, cfg, done, draft_uuid, amount.key)
    blocking = _blocking(ops, draft_uuid, amount)
    if blocking is not None:
        raise _to_check_refusal(blocking)
    loose = _loose(ops, draft_uuid, amount)
    if loose is not None:
        raise _loose_refusal(loose)
    return None

def record_manual(db: Database, cfg: TillConfig, *, draft_uuid: str, amount: CardAmount,
                  staff_id: int, auth_number: str, now: datetime | None = None) -> CardOperation:
    """No terminal connected: the salesperson did the amount on the terminal by hand
    and confirms it with the terminal's authorisation number."""
    auth = _clean_auth(auth_number)
    with atomic(db):
        done = _already_done_or_refused(db, cfg, draft_uuid, amount)
        if done is not None:
            return done
        moment = _now_text(now)
        op = CardOperation(
            uuid=str(uuidlib.uuid4()), draft_uuid=draft_uuid, tender_key=amount.key,
            sale_tender_id=amount.sale_tender_id, store_id=cfg.store_id, till_no=cfg.till_no,
            staff_id=staff_id, action=amount.action, amount=amount.amount, mode="manual",
            status=APPROVED, auth_number=auth, created_at=moment, answered_at=moment)
        _insert(db, op)
        _journal(db, cfg, "terminal", op, event="manual")
    return op


def recover_interrupted(db: Database, cfg: TillConfig, *, now: datetime | None = None) -> int:
    """At start: an operation left ``pending`` (the till stopped during the call) is
    unknown — never retried, never assumed. Returns how many."""
    with atomic(db):
        rows = [_row(r) for r in db.execute(
            f"SELECT {_COLUMNS} FROM terminal_operations WHERE status = 'pending' "
            "AND store_id = ? AND till_no = ?", [cfg.store_id, cfg.till_no])]
        # a row changed behind the journal moves no further (start-up's verify names it)
        rows = [op for op in rows if not _differs(db, op)]
        for op in rows:
            db.execute(
                "UPDATE terminal_operations SET status = 'unknown', reason_code = 'interrupted', "
                "message = ?, answered_at = ? WHERE uuid = ? AND status = 'pending'",
                [_("The till stopped while the payment terminal was working."),
                 _now_text(now), op.uuid])
            _journal(db, cfg, "terminal", get_operation(db, op.uuid), event="interrupted")
    return len(rows)


def confirm_checked(db: Database, cfg: TillConfig, op_uuid: str, *, manager_code: str,
                    pin: str, approved: bool, note: str, auth_number: str = "",
                    now: datetime | None = None) -> CardOperation:
    """A manager confirms what the terminal printed for an unknown operation: approved
    (with its authorisation number) or not done. PIN-checked, journaled."""
    auth = _clean_auth(auth_number) if approved else ""
    decision = authorize_override(db, manager_code, pin, rule=CHECK_RULE, reason=note,
                                  store_id=cfg.store_id, pepper=pepper_of(cfg),
                                  journal=Journal.for_config(db, cfg), now=now)
    with atomic(db):
        op = _checked_operation(db, cfg, op_uuid)
        if op.status not in (UNKNOWN, PENDING):
            raise Conflict(_("This payment terminal operation is not waiting to be checked."),
                           code="terminal_op")
        db.execute(
            "UPDATE terminal_operations SET status = ?, auth_number = ?, checked_by = ?, "
            "checked_at = ?, check_note = ? WHERE uuid = ? AND status IN ('pending', 'unknown')",
            [APPROVED if approved else DECLINED, auth, decision.manager_id, _now_text(now),
             decision.reason, op_uuid])
        op = get_operation(db, op_uuid)
        _journal(db, cfg, "terminal_check", op, note=decision.reason)
    return op


def require_settled(db: Database, plan: ReturnPlan, draft_uuid: str, *,
                    cfg: TillConfig) -> dict[int, CardOperation]:
    """Every card amount of ``plan`` has an approved operation of this draft with the
    same amount and action: refund index -> operation. Otherwise :class:`PolicyRefused`:
    a ticket never shows a card refund the terminal did not confirm — as the journal
    signed it (a row set to 'approved' behind the till's back is refused)."""
    signed = _signed_ops(db, cfg, plan.request.store_id, plan.request.till_no,
                         draft_uuid=draft_uuid)
    ops = {op.tender_key: op for op in signed
           if op.draft_uuid == draft_uuid and op.approved and op.ticket_uuid is None}
    out: dict[int, CardOperation] = {}
    for amount in card_amounts(plan):
        op = ops.get(amount.key)
        if op is None or (op.amount, op.action) != (amount.amount, amount.action):
            raise PolicyRefused(
                _("{amount} on the card is not confirmed by the payment terminal: the "
                  "return cannot be completed yet.").format(amount=format_money(amount.amount)),
                code="terminal_unsettled")
        out[amount.index] = op
    return out


def refund_columns(op: CardOperation | None) -> dict[str, str]:
    """The terminal's columns of a refund row (empty strings when not a card amount)."""
    if op is None:
        return {"terminal_status": "", "card_application": "", "read_mode": "",
                "transaction_id": "", "auth_number": "", "terminal_operation": ""}
    return {"terminal_status": op.terminal_status, "card_application": op.card_application,
            "read_mode": op.read_mode, "transaction_id": op.transaction_id,
            "auth_number": op.auth_number, "terminal_operation": op.uuid}


def attach_to_ticket(db: Database, cfg: TillConfig, ops: Mapping[int, CardOperation],
                     ticket_uuid: str) -> None:
    """Inside the ticket's transaction: these operations are now on this ticket — their
    rows, and a signed ``terminal`` record each (event ``ticket``: the truth that no
    row edit can take back, journal/terminal.py)."""
    for op in ops.values():
        # the row as the journal signed it (a declined credit relabelled approved, handed
        # straight to the writer, is refused here too)
        _check_against_journal(db, cfg, op.store_id, op.till_no, {op.uuid})
        free = db.execute(
            "SELECT 1 FROM terminal_operations WHERE uuid = ? AND status = 'approved' AND "
            "ticket_uuid IS NULL", [op.uuid]).fetchone()
        if free is None:
            raise Conflict(_("A card operation of this return is already on another ticket."),
                           code="terminal_op")
        jterm.journal_attachment(
            db, Journal.for_config(db, cfg, store_id=op.store_id, till_no=op.till_no),
            op.uuid, ticket_uuid, v=jterm.FORMAT)


# --------------------------------------------------------------------------- the call


def terminal_for(cfg: TillConfig) -> PaymentTerminal | None:
    """The till's terminal as configured; ``None``: the salesperson does it by hand."""
    return terminal_from_config(cfg)


def send_to_terminal(terminal: PaymentTerminal, operation: CardOperation) -> TerminalResult:
    """On the I/O pool (no database): the operation's amount on the terminal. Blocks
    up to the terminal's timeout; never raises for a device failure (the outcome says)."""
    if operation.action is Action.CREDIT:
        return terminal.refund(operation.amount, reference=operation.uuid)
    return terminal.pay(operation.amount, reference=operation.uuid)
