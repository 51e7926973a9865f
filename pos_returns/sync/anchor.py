"""The till's side of the chain heads anchored at HQ (issue 12).

Each sync round, before anything is pushed, the till compares its chain with the
head HQ last anchored (:func:`reconcile`): when its own record at the anchored
number is missing or different (a cache restored from a backup, a rewritten
journal), returns are blocked (``journal.anchor.BEHIND_META``), the till pulls its
own tickets back from HQ (so their lines count as returned and nothing is
refunded twice), then lifts the block. After the push, the head is anchored
(:func:`anchor`): HQ checks it extends the last one, or raises an alert that stays
until a manager resolves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic, set_meta
from pos_returns.hq import receive as hq_receive
from pos_returns.journal import terminal as jterm
from pos_returns.journal.anchor import (
    BEHIND_META,
    head_seq,
    record_hash_at,
    write_anchor,
)
from pos_returns.journal.head import read_head, reset_head
from pos_returns.journal.keys import load_signer
from pos_returns.sync.pull import _plan, _write_returns
from pos_returns.sync.state import PULL_TABLES

if TYPE_CHECKING:  # pragma: no cover
    import psycopg


@dataclass(frozen=True)
class Reconciled:
    behind: bool = False
    hq_seq: int = 0
    local_seq: int = 0
    recovered: int = 0  # own tickets pulled back from HQ


def recover_own_tickets(conn: psycopg.Connection, db: Database, store_id: int,
                        till_no: int) -> int:
    """This till's tickets that HQ has and the cache lost, pulled back (origin 'hq':
    they are outside the till's rebuilt chain, but their lines count as returned)."""
    spec = next(t for t in PULL_TABLES if t.name == "return_tickets")
    plan = _plan(conn, db, spec)
    if plan is None:
        return 0
    rows = conn.execute(
        f"SELECT {', '.join(plan.select)} FROM return_tickets WHERE store_id = %s "
        "AND till_no = %s ORDER BY id", [store_id, till_no],
    ).fetchall()
    ui = 2 + plan.cols.index("uuid")
    local = {r[0] for r in db.execute(
        "SELECT uuid FROM return_tickets WHERE store_id = ? AND till_no = ?",
        [store_id, till_no])}
    missing = [r for r in rows if r[ui] not in local]
    if not missing:
        return 0
    with atomic(db):
        return _write_returns(conn, db, plan, missing, (0, 0))


def reconcile(conn: psycopg.Connection, db: Database, *, store_id: int, till_no: int,
              key_path: Path | str | None, journal: Any = None) -> Reconciled:
    """Compare the till's chain with HQ's last anchor; when behind, block, pull the
    till's own tickets back, then unblock (see the module's docstring)."""
    last = hq_receive.last_anchor(conn, store_id, till_no)
    if last is None:
        return Reconciled()
    if record_hash_at(db, store_id, till_no, last.seq) == last.record_hash:
        return Reconciled()
    local = head_seq(db, store_id, till_no)
    with atomic(db):
        set_meta(db, BEHIND_META, json.dumps({"hq_seq": last.seq, "local_seq": local}))
    recovered = recover_own_tickets(conn, db, store_id, till_no)
    with atomic(db):
        if journal is not None and (recovered or local < last.seq):
            journal.append("integrity_failure", {
                "reason": "behind_hq", "hq_seq": last.seq, "local_seq": local,
                "tickets_recovered": recovered,
            })
            _attach_recovered_operations(db, journal)
        db.execute("DELETE FROM meta WHERE key = ?", [BEHIND_META])
    if key_path is not None:
        # the till's tickets are back: it may refund again on its rebuilt chain; the
        # alert stays at HQ until a manager resolves it
        head = head_seq(db, store_id, till_no)
        write_anchor(key_path, head, record_hash_at(db, store_id, till_no, head))
        _rebase_local_head(db, key_path, store_id, till_no, last.seq)
    return Reconciled(True, last.seq, local, recovered)


def _attach_recovered_operations(db: Database, journal: Any) -> None:
    """Card operations of the restored cache that a ticket pulled back from HQ carries:
    on that ticket (row and signed record, journal/terminal.py), so they are not taken
    for card money on no ticket."""
    for op_uuid, ticket_uuid in db.execute(
            "SELECT o.uuid, t.uuid FROM terminal_operations o JOIN refunds f ON "
            "f.terminal_operation = o.uuid JOIN return_tickets t ON t.id = f.ticket_id "
            "WHERE o.ticket_uuid IS NULL AND o.status = 'approved' AND o.store_id = ? "
            "AND o.till_no = ?", [journal.store_id, journal.till_no]).fetchall():
        jterm.journal_attachment(db, journal, op_uuid, ticket_uuid, v=jterm.FORMAT,
                                 recovered=True)


def _rebase_local_head(db: Database, key_path: Path | str, store_id: int, till_no: int,
                       anchored_seq: int) -> None:
    """The till's own head beside its keys follows the rebuilt chain only when HQ had
    anchored everything it says (so every ticket it covers was pulled back). A head
    beyond HQ's anchor stays: records the till made after its last sync are lost, and
    only a manager may accept that (pos-returns journal accept-head)."""
    signer = load_signer(key_path, create=False)
    own, _problem = read_head(key_path, signer)
    if own is not None and own.covers(store_id, till_no) and own.seq <= anchored_seq:
        reset_head(db, key_path, signer, store_id, till_no)


def anchor(conn: psycopg.Connection, db: Database, *, store_id: int, till_no: int,
           fingerprint: str, key_path: Path | str | None) -> hq_receive.AnchorAnswer | None:
    """Anchor the till's head at HQ; remember it beside the keys when HQ accepts it."""
    seq = head_seq(db, store_id, till_no)
    if seq == 0:
        return None
    row = db.execute(
        "SELECT signature FROM journal WHERE store_id = ? AND till_no = ? AND seq = ?",
        [store_id, till_no, seq],
    ).fetchone()
    head_hash = record_hash_at(db, store_id, till_no, seq)
    last = hq_receive.last_anchor(conn, store_id, till_no)
    at_seq = last.seq if last else 0
    at_hash = record_hash_at(db, store_id, till_no, at_seq) if last else ""
    answer = hq_receive.anchor_head(
        conn, store_id=store_id, till_no=till_no, seq=seq, record_hash=head_hash,
        signature=str(row[0]), fingerprint=fingerprint, at_seq=at_seq, at_hash=at_hash,
    )
    if answer.status == "ok" and key_path is not None and answer.anchor is not None:
        write_anchor(key_path, answer.anchor.seq, answer.anchor.record_hash)
    return answer
