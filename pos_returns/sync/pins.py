"""The short exchange of PIN events between sync rounds (issue 12).

Every wrong PIN, lockout and unlock at a till is an outbox ``pin_event``; HQ counts
them per staff member across the chain (``hq_pin_event``) and every till pulls the
counts back (``staff_pin_state``). A full sync round does it every minute; this
exchange does only that, in a few milliseconds, right after a wrong PIN and every
few seconds, so that five wrong PINs spread over several tills lock the account
everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.hq import schema as hq_schema
from pos_returns.journal.pins import signed_lockouts
from pos_returns.sync.anchor import anchor
from pos_returns.sync.pull import pull
from pos_returns.sync.push import record_answer, send_document
from pos_returns.sync.reserve import DEFAULT_DEADLINE
from pos_returns.sync.state import CONNECT_TIMEOUT, PULL_TABLES, PullTable

PIN_TABLES: list[PullTable] = [t for t in PULL_TABLES if t.name == "staff_pin_state"]


def pending_pin_events(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM outbox WHERE sent_at = '' AND kind = "
                          "'pin_event'").fetchone()[0])


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def journaled_locks(db: Database) -> dict[int, str]:
    """Staff id -> when the lockout the journal signed last began, for the lockouts
    still running."""
    now = _now_text()
    return {sid: began for sid, (until, began) in signed_lockouts(db).items() if until > now}


def chain_states(db: Database, staff_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Staff id -> (locked_until, unlocked_at) of the chain's state as the cache holds it."""
    if not staff_ids:
        return {}
    marks = ", ".join("?" * len(staff_ids))
    return {int(r[0]): (str(r[1]), str(r[2])) for r in db.execute(
        f"SELECT staff_id, locked_until, unlocked_at FROM staff_pin_state "
        f"WHERE staff_id IN ({marks})", staff_ids)}


def journal_hq_unlocks(db: Database, journal: Any, locks: dict[int, str],
                       before: dict[int, tuple[str, str]]) -> int:
    """After a pull: a person this till's journal holds locked, whose chain state HQ has
    just sent as unlocked since the lockout began (a manager unlocked them at another
    till), is unlocked here by a signed ``unlock`` record (``source: hq``). Only what
    the pull brought counts: a row edited in the cache before it unlocks nobody."""
    if journal is None or not locks:
        return 0
    after = chain_states(db, list(locks))
    now = _now_text()
    done = 0
    for sid, began in locks.items():
        state = after.get(sid)
        if state is None or state == before.get(sid):
            continue
        until, unlocked = state
        if until <= now and unlocked >= began:  # HQ recorded a manager's unlock since
            with atomic(db):
                journal.append("unlock", {"staff_id": sid, "manager_id": None,
                                          "source": "hq"})
            done += 1
    return done


def exchange_pins(
    db: Database, dsn: str, *, store_id: int, till_no: int,
    deadline: float = DEFAULT_DEADLINE, connect_timeout: float = CONNECT_TIMEOUT,
    journal: Any = None,
) -> tuple[int, int]:
    """Send this till's unsent PIN events, then pull the chain's counts; a lockout HQ
    lifted is journaled lifted here (``journal``). Returns (events sent, counts
    received). HQ away raises ``psycopg.OperationalError``: the caller
    (the I/O pool) treats it as offline; the events wait in the outbox for the next
    round."""
    sent = 0
    with hq_schema.connect(dsn, timeout=connect_timeout, statement_timeout=deadline) as conn:
        rows = db.execute(
            "SELECT id, uuid, kind, payload FROM outbox WHERE sent_at = '' AND "
            "kind = 'pin_event' ORDER BY id LIMIT 500").fetchall()
        if rows and journal is not None:
            # HQ takes an unlock only signed by the key it anchored for this till:
            # anchor first (a till's first minutes, before its first sync round)
            anchor(conn, db, store_id=store_id, till_no=till_no,
                   fingerprint=journal.signer.fingerprint,
                   key_path=getattr(journal, "key_path", None))
            conn.commit()
        for outbox_id, uuid, kind, payload in rows:
            answer = send_document(conn, kind, uuid, payload, store_id=store_id,
                                   till_no=till_no)
            record_answer(db, outbox_id, uuid, kind, answer)
            sent += 1
        conn.commit()
        locks = journaled_locks(db)
        before = chain_states(db, list(locks))
        pulled = pull(conn, db, store_id=store_id, till_no=till_no, tables=PIN_TABLES,
                      statement_timeout=deadline)
        journal_hq_unlocks(db, journal, locks, before)
    return sent, sum(pulled.values())
