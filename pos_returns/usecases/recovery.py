"""A manager accepts the till's cache as it is, when the heads kept beside its keys block
it (issue 12; docs/security.md, "The till's own head").

Returns are blocked when the cache no longer holds the record the till last wrote
(``journal-head.json``), or when that file or the HQ anchor file is missing or
damaged (:func:`pos_returns.journal.anchor.integrity_block`). The first remedy is to
put back what was lost: the till's latest cache, or the keys folder from its backup.
When that cannot be done, a manager accepts the cache as it is, with their PIN and a
written reason: the cache's own chain must verify; an ``integrity_failure`` record
(reason ``head_accepted``: the head that was lost, the cache's head, the manager, the
reason) is signed into the journal and sent to HQ; then the head beside the keys is
written again from the cache. A cache behind HQ is not lifted this way: a sync pulls
the till's own tickets back (:mod:`pos_returns.sync.anchor`).
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from pos_returns.cache import outbox
from pos_returns.cache.db import atomic
from pos_returns.config import TillConfig
from pos_returns.errors import Conflict, IntegrityFailure
from pos_returns.i18n import _
from pos_returns.journal.anchor import LOCAL_BLOCKS, anchor_path, integrity_block
from pos_returns.journal.chain import Journal
from pos_returns.journal.head import head_seq, read_head, reset_head
from pos_returns.journal.verify import verify
from pos_returns.usecases.auth import authorize_override, pepper_of

HEAD_RULE = "HEAD"  # the manager's decision that accepts the cache (not a policy rule)


@dataclass(frozen=True)
class AcceptedHead:
    block: str  # what was blocking (anchor.LOCAL_BLOCKS)
    lost_seq: int  # the head the file kept (0: the file was missing or damaged)
    seq: int  # the cache's head, now written beside the keys
    record_seq: int  # the integrity_failure record that says so


def accept_cache_head(db: Database, cfg: TillConfig, *, manager_code: str, pin: str,
                      note: str, now: datetime | None = None) -> AcceptedHead:
    """Lift a block of :data:`LOCAL_BLOCKS` for the till of ``cfg`` (see the module)."""
    journal = Journal.for_config(db, cfg)
    store_id, till_no = journal.store_id, journal.till_no
    block = integrity_block(db, cfg.key_path, store_id, till_no)
    if block is None:
        raise Conflict(_("Nothing to accept: the till's journal matches the heads kept "
                         "beside its keys."), code="nothing_to_accept")
    if block.code not in LOCAL_BLOCKS:
        raise Conflict(block.message, code=block.code)
    report = verify(db, pinned=journal.pin())
    if not report.ok:
        raise IntegrityFailure(
            _("The cache's own journal does not verify, so it cannot be accepted: {details} "
              "Call support.").format(details=report.summary()),
            code="journal")
    decision = authorize_override(db, manager_code, pin, rule=HEAD_RULE, reason=note,
                                  store_id=cfg.store_id, pepper=pepper_of(cfg),
                                  journal=journal, now=now)
    lost, _problem = read_head(cfg.key_path, journal.signer)
    local = head_seq(db, store_id, till_no)
    event = {
        "reason": "head_accepted", "block": block.code,
        "lost_seq": lost.seq if lost else 0, "lost_hash": lost.record_hash if lost else "",
        "local_seq": local, "manager_id": decision.manager_id, "note": decision.reason,
        "store_id": store_id, "till_no": till_no,
    }
    with atomic(db):
        record = journal.append("integrity_failure", event, now=now)
        outbox.enqueue(db, kind="integrity_event", uuid=str(uuidlib.uuid4()),
                       payload={**event, "journal": {"seq": record.seq,
                                                     "signature": record.signature}})
    anchored = None
    if block.code in ("anchor_missing", "anchor_damaged"):
        anchored = False  # the next sync writes HQ's anchor again
        damaged = anchor_path(cfg.key_path)
        if damaged.exists():
            damaged.replace(damaged.with_name(damaged.name + f".{record.seq}.damaged"))
    head = reset_head(db, cfg.key_path, journal.signer, store_id, till_no, anchored=anchored)
    return AcceptedHead(block.code, lost.seq if lost else 0, head.seq, record.seq)
