"""Push: the outbox's documents to HQ, idempotently; the journal head."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlite_utils import Database

from pos_returns.cache.db import atomic, get_meta, set_meta
from pos_returns.hq import receive as hq_receive
from pos_returns.sync.reserve import mark_pushed
from pos_returns.sync.state import (
    Progress,
    ProgressCallback,
    _local_columns,
    _local_exists,
    now_iso,
    offline_reason,
)

if TYPE_CHECKING:  # pragma: no cover
    import psycopg


# -- push ---------------------------------------------------------------------------


def journal_head(db: Database, store_id: int, till_no: int) -> tuple[int, str] | None:
    """This till's journal chain head (last seq, its signature), read from the
    ``journal`` table (pos_returns.journal.chain) when it exists."""
    if not _local_exists(db, "journal"):
        return None
    cols = _local_columns(db, "journal")
    if "seq" not in cols or "signature" not in cols:
        return None
    where, params = "", []
    if "store_id" in cols and "till_no" in cols:
        where, params = "WHERE store_id = ? AND till_no = ?", [store_id, till_no]
    row = db.execute(
        f"SELECT seq, signature FROM journal {where} ORDER BY seq DESC LIMIT 1", params
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


@dataclass
class PushResult:
    pushed: int = 0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0  # documents HQ could not take (left waiting, flagged)
    journal_head_ok: bool | None = None


def _flag(db: Database, uuid: str, outbox_id: int, kind: str, answer: str) -> None:
    """Record a document for the manager's review (once per uuid)."""
    with atomic(db):
        ticket = db.execute("SELECT id FROM return_tickets WHERE uuid = ?", [uuid]).fetchone()
        db.execute(
            "INSERT INTO sync_conflicts (ticket_uuid, ticket_id, outbox_id, kind, answer, "
            "detected_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ticket_uuid) DO NOTHING",
            [uuid, ticket[0] if ticket else None, outbox_id, kind, answer, now_iso()],
        )


def _push_id_ledger(conn: psycopg.Connection, db: Database, *, store_id: int,
                    till_no: int) -> int:
    """This till's id ledger rows (pos_returns.usecases.idcheck), by its ``seq`` cursor."""
    if not _local_exists(db, "id_ledger") or "seq" not in _local_columns(db, "id_ledger"):
        return 0

    sent = 0
    while True:
        cursor = int(get_meta(db, "sync.id_ledger_pushed", "0") or 0)
        rows = db.execute(
            "SELECT seq, uuid, id_hash, amount, store_id, till_no, created_at FROM id_ledger "
            "WHERE seq > ? AND origin = 'local' ORDER BY seq LIMIT 500",
            [cursor],
        ).fetchall()
        if not rows:
            return sent
        with conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO id_ledger (uuid, id_hash, amount, store_id, till_no, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (uuid) DO NOTHING",
                [r[1:] for r in rows],
            )
        with atomic(db):
            set_meta(db, "sync.id_ledger_pushed", str(rows[-1][0]))
        sent += len(rows)


@dataclass(frozen=True)
class OutboxDocument:
    """One outbox row, read on the database worker to be sent from the I/O pool."""

    outbox_id: int
    uuid: str
    kind: str
    payload: str
    sent: bool = False


def outbox_document(db: Database, uuid: str) -> OutboxDocument | None:
    row = db.execute(
        "SELECT id, uuid, kind, payload, sent_at FROM outbox WHERE uuid = ?", [uuid]
    ).fetchone()
    if row is None:
        return None
    return OutboxDocument(int(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]))


def send_document(conn: psycopg.Connection, kind: str, uuid: str, payload: str, *,
                  store_id: int, till_no: int) -> hq_receive.Answer:
    """HQ's reception of one outbox document (no cache: runs on the I/O pool too)."""
    doc = json.loads(payload)
    return hq_receive.receive_document(
        conn, kind, uuid, doc,
        store_id=int(doc.get("store_id", store_id)),
        till_no=int(doc.get("till_no", till_no)),
    )


def record_answer(db: Database, outbox_id: int, uuid: str, kind: str,
                  answer: hq_receive.Answer) -> None:
    """Mark the outbox row sent with HQ's answer (once: a second push of the same
    document, from the sync round and the push after commit, changes nothing),
    confirm its reservation, flag a conflict for the manager."""
    with atomic(db):
        db.execute(
            "UPDATE outbox SET sent_at = ?, result = ? WHERE id = ? AND sent_at = ''",
            [now_iso(), answer.result, outbox_id],
        )
        if kind == "return_ticket":
            mark_pushed(db, uuid, answer.result)
        if answer.result == "conflict":
            _flag(db, uuid, outbox_id, kind, answer.as_json())


def push(
    conn: psycopg.Connection,
    db: Database,
    *,
    store_id: int,
    till_no: int,
    progress: ProgressCallback | None = None,
) -> PushResult:
    """Send the outbox, oldest first; each document idempotent at HQ by its uuid.

    The outbox row is marked sent (``ok`` / ``conflict``) only after HQ
    committed: a crash in between replays the document, and HQ answers the same.
    """
    import psycopg

    result = PushResult()
    total = int(db.execute("SELECT count(*) FROM outbox WHERE sent_at = ''").fetchone()[0])
    last_id = 0
    while True:
        rows = db.execute(
            "SELECT id, uuid, kind, payload FROM outbox WHERE sent_at = '' AND id > ? "
            "ORDER BY id LIMIT 200",
            [last_id],
        ).fetchall()
        if not rows:
            break
        for outbox_id, uuid, kind, payload in rows:
            last_id = outbox_id
            try:
                answer = send_document(conn, kind, uuid, payload, store_id=store_id,
                                       till_no=till_no)
            except psycopg.OperationalError:
                raise  # HQ went away: the round ends offline, the document waits
            except (psycopg.Error, ValueError, KeyError, TypeError) as exc:
                # HQ cannot take this document (malformed): it stays waiting, flagged
                # for the manager, and does not hold back the documents behind it.
                _flag(db, uuid, outbox_id, kind,
                      json.dumps({"result": "error", "message": offline_reason(exc)}))
                result.errors += 1
                continue
            record_answer(db, outbox_id, uuid, kind, answer)
            result.pushed += 1
            if answer.result == "conflict":
                result.conflicts += 1
            else:
                result.ok += 1
            if progress:
                progress(Progress("push", "outbox", result.pushed, total))
    result.pushed += _push_id_ledger(conn, db, store_id=store_id, till_no=till_no)
    head = journal_head(db, store_id, till_no)
    if head is not None:
        result.journal_head_ok = hq_receive.raise_journal_head(
            conn, store_id=store_id, till_no=till_no, seq=head[0], signature=head[1]
        )
    return result
