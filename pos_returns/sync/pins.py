"""The short exchange of PIN events between sync rounds (issue 12).

Every wrong PIN, lockout and unlock at a till is an outbox ``pin_event``; HQ counts
them per staff member across the chain (``hq_pin_event``) and every till pulls the
counts back (``staff_pin_state``). A full sync round does it every minute; this
exchange does only that, in a few milliseconds, right after a wrong PIN and every
few seconds, so that five wrong PINs spread over several tills lock the account
everywhere.
"""

from __future__ import annotations

from sqlite_utils import Database

from pos_returns.hq import schema as hq_schema
from pos_returns.sync.pull import pull
from pos_returns.sync.push import record_answer, send_document
from pos_returns.sync.reserve import DEFAULT_DEADLINE
from pos_returns.sync.state import CONNECT_TIMEOUT, PULL_TABLES, PullTable

PIN_TABLES: list[PullTable] = [t for t in PULL_TABLES if t.name == "staff_pin_state"]


def pending_pin_events(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM outbox WHERE sent_at = '' AND kind = "
                          "'pin_event'").fetchone()[0])


def exchange_pins(
    db: Database, dsn: str, *, store_id: int, till_no: int,
    deadline: float = DEFAULT_DEADLINE, connect_timeout: float = CONNECT_TIMEOUT,
) -> tuple[int, int]:
    """Send this till's unsent PIN events, then pull the chain's counts. Returns (events
    sent, counts received). HQ away raises ``psycopg.OperationalError``: the caller
    (the I/O pool) treats it as offline; the events wait in the outbox for the next
    round."""
    sent = 0
    with hq_schema.connect(dsn, timeout=connect_timeout, statement_timeout=deadline) as conn:
        rows = db.execute(
            "SELECT id, uuid, kind, payload FROM outbox WHERE sent_at = '' AND "
            "kind = 'pin_event' ORDER BY id LIMIT 500").fetchall()
        for outbox_id, uuid, kind, payload in rows:
            answer = send_document(conn, kind, uuid, payload, store_id=store_id,
                                   till_no=till_no)
            record_answer(db, outbox_id, uuid, kind, answer)
            sent += 1
        conn.commit()
        pulled = pull(conn, db, store_id=store_id, till_no=till_no, tables=PIN_TABLES,
                      statement_timeout=deadline)
    return sent, sum(pulled.values())
