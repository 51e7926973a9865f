"""Fine-jewelry mode (R14): a state of the till's session, kept in the fiscal journal.

Entering and leaving are technical events of the journal; the ticket writer
records a fine-jewelry ticket only while the journal says the mode is on. The
checks themselves are pure (:mod:`pos_returns.engine.jewelry`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.reference import get_store
from pos_returns.config import TillConfig
from pos_returns.engine.domain import Staff, Store
from pos_returns.engine.jewelry import (
    LEAVE_REASONS,
    MODE_OFF,
    MODE_ON,
    may_enter_mode,
    signature_required,
)
from pos_returns.engine.plan import ReturnPlan
from pos_returns.errors import InvalidInput, PermissionDenied, PolicyRefused
from pos_returns.i18n import _
from pos_returns.journal.chain import record_event
from pos_returns.journal.records import JournalRecord
from pos_returns.usecases.auth import get_staff


@dataclass(frozen=True, slots=True)
class ModeState:
    on: bool
    staff_id: int | None = None
    since: str = ""


def _mode_payload(store: Store, staff: Staff, reason: str = "") -> dict[str, Any]:
    payload: dict[str, Any] = {
        "store_id": int(store.id), "staff_id": int(staff.id), "staff_code": staff.code,
        "role": str(staff.role),
    }
    if reason:
        payload["reason"] = reason
    return payload


def enter_mode(db: Database, cfg: TillConfig, staff_id: int) -> JournalRecord:
    """Switch the till of ``cfg`` to fine-jewelry mode for ``staff_id``: checked
    (:func:`may_enter_mode`, staff of this store) and journaled (``jewelry_mode_on``).
    Raises :class:`PermissionDenied` with the reason when it may not."""

    store = get_store(db, cfg.store_id)
    staff = get_staff(db, staff_id)
    if staff.store_id != store.id:
        raise PermissionDenied(
            _("{name} does not belong to this store.").format(name=staff.name), code="R14"
        )
    why = may_enter_mode(store, staff)
    if why is not None:
        raise PermissionDenied(why.message, code="R14")
    return record_event(db, cfg, MODE_ON, _mode_payload(store, staff))


def leave_mode(db: Database, cfg: TillConfig, staff_id: int, *, reason: str = "leave"
               ) -> JournalRecord | None:
    """Leave fine-jewelry mode (``jewelry_mode_off`` in the journal, with why: the
    specialist left it, the session was locked or closed, the till restarted).
    Does nothing (None) when the journal says the mode is already off."""

    if reason not in LEAVE_REASONS:
        raise InvalidInput(_("Unknown reason for leaving the fine-jewelry mode."), code="reason")
    if not mode_state(db, cfg.store_id, cfg.till_no).on:
        return None
    store = get_store(db, cfg.store_id)
    staff = get_staff(db, staff_id)
    return record_event(db, cfg, MODE_OFF, _mode_payload(store, staff, reason))


def mode_state(db: Database, store_id: int, till_no: int) -> ModeState:
    """What the journal says: is the till in fine-jewelry mode, since when, for whom."""
    if not db["journal"].exists():
        return ModeState(False)
    row = db.execute(
        "SELECT kind, payload, created_at FROM journal WHERE store_id = ? AND till_no = ? "
        "AND kind IN (?, ?) ORDER BY seq DESC LIMIT 1",
        [store_id, till_no, MODE_ON, MODE_OFF],
    ).fetchone()
    if row is None or row[0] == MODE_OFF:
        return ModeState(False)
    return ModeState(True, json.loads(row[1]).get("staff_id"), row[2])


def close_left_open(db: Database, cfg: TillConfig) -> JournalRecord | None:
    """At start: a mode left on by a crash is closed (``reason: restart``)."""
    state = mode_state(db, cfg.store_id, cfg.till_no)
    if not state.on or state.staff_id is None:
        return None
    return leave_mode(db, cfg, int(state.staff_id), reason="restart")


def require_mode(db: Database, plan: ReturnPlan) -> None:
    """A fine-jewelry ticket is recorded only while the journal says this till is in
    fine-jewelry mode (entered by a specialist or a manager): a request that merely
    claims ``jewelry_mode`` is not enough. Call inside the ticket's transaction."""
    if not signature_required(plan):
        return
    req = plan.request
    if not mode_state(db, req.store_id, req.till_no).on:
        raise PolicyRefused(
            _("This till is not in fine-jewelry mode: the fine-jewelry return cannot be "
              "recorded."),
            code="R14",
        )
