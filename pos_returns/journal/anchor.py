"""The chain head HQ anchored, and the till's own head, remembered beside its keys (issue 12).

At every sync the till's head (seq, record hash, key fingerprint) is anchored at HQ
(:mod:`pos_returns.sync.anchor`), and the last head HQ accepted is written here,
beside the key files, *outside the cache* (``head-anchor.json``, with a MAC under a
secret derived from the journal key). A cache restored from an older backup no
longer holds the anchored record unchanged: the till then refuses returns
(:func:`integrity_block`) until a sync has pulled its own tickets back from HQ, so
nothing is refunded twice. The same block is set in the cache's ``meta`` when HQ
itself says the till is behind.

Between two syncs, the till's own head (:mod:`pos_returns.journal.head`, written after
every commit) catches what HQ cannot know yet: a cache restored from a copy taken
after the last sync, or its last tickets deleted. Once the key set exists, a missing
head file — or a missing anchor file once the till was anchored — blocks too.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from pos_returns.cache.db import get_meta
from pos_returns.i18n import _
from pos_returns.journal.head import (
    DAMAGED,
    MISSING,
    HeadUnwritable,
    KeyHolder,
    advance,
    extends,
    head_path,
    head_seq,
    mac_of,
    mark_anchored,
    read_head,
    record_hash_at,
)
from pos_returns.journal.keys import key_set_started, load_signer

__all__ = [
    "ANCHOR_FILE",
    "BEHIND_META",
    "LOCAL_BLOCKS",
    "Block",
    "anchor_path",
    "head_seq",
    "integrity_block",
    "read_anchor",
    "record_hash_at",
    "restore_block",
    "write_anchor",
]

ANCHOR_FILE = "head-anchor.json"
BEHIND_META = "integrity.behind_hq"  # JSON {"hq_seq", "local_seq"} while tickets are missing
ANCHOR_LABEL = "alamara-retours head anchor v1"
# the blocks a manager may lift by accepting the cache as it is (usecases.recovery)
LOCAL_BLOCKS = ("head_missing", "head_damaged", "anchor_missing", "anchor_damaged",
                "behind_local_head")


@dataclass(frozen=True, slots=True)
class Block:
    """Why the till refuses returns: a code and the French sentence that says what to do."""

    code: str
    message: str
    seq: int = 0  # the record the cache no longer holds as written (0: not known)


def anchor_path(key_path: Path | str) -> Path:
    return Path(key_path).expanduser().parent / ANCHOR_FILE


def read_anchor(key_path: Path | str, signer: KeyHolder) -> tuple[int, str] | str:
    """(seq, record hash) of the last head anchored at HQ, or MISSING / DAMAGED (a file
    whose MAC does not hold under this till's key is damaged: it blocks)."""
    try:
        data = json.loads(anchor_path(key_path).read_text(encoding="utf-8"))
        body = {"seq": int(data["seq"]), "record_hash": str(data["record_hash"])}
        mac = str(data["mac"])
    except FileNotFoundError:
        return MISSING
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return DAMAGED
    if mac != mac_of(signer.derive_secret(ANCHOR_LABEL), body):
        return DAMAGED
    return body["seq"], body["record_hash"]


def write_anchor(key_path: Path | str, seq: int, record_hash_hex: str) -> None:
    path = anchor_path(key_path)
    if not path.parent.exists() or not Path(key_path).expanduser().exists():
        return  # no key folder (a till without keys never anchors)
    signer = load_signer(key_path, create=False)
    body = {"seq": int(seq), "record_hash": record_hash_hex}
    body["mac"] = mac_of(signer.derive_secret(ANCHOR_LABEL), body)  # type: ignore[assignment]
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(body).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    mark_anchored(key_path, signer)  # after the file: a crash in between is no alarm


def _what_to_do() -> str:
    return _(
        "Restore the till's keys folder from its backup (move the folder aside, then "
        "pos-returns keys restore FILE), or have a manager accept the cache as it is "
        "(pos-returns journal accept-head --manager CODE: journaled and sent to HQ)."
    )


def _behind_hq(hq_seq: int, local: int) -> Block:
    return Block("behind_hq", _(
        "This till is behind HQ: its journal stops at record no. {local} but HQ anchored "
        "record no. {hq} (a cache restored from a backup?). Returns are blocked until the "
        "till has pulled its own tickets back from HQ: connect it to HQ and synchronise "
        "(pos-returns sync), then try again."
    ).format(local=local, hq=hq_seq), hq_seq)


def _file_block(code: str, path: Path) -> Block:
    texts = {
        "head_missing": _("The file {path}, which keeps this till's journal head beside "
                          "its keys, is missing. Returns are blocked."),
        "head_damaged": _("The file {path}, which keeps this till's journal head beside its "
                          "keys, is damaged or was not written with this till's key. Returns "
                          "are blocked."),
        "anchor_missing": _("The file {path}, which keeps the head HQ anchored, is missing "
                            "although this till was anchored. Returns are blocked."),
        "anchor_damaged": _("The file {path}, which keeps the head HQ anchored, is damaged "
                            "or was not written with this till's key. Returns are blocked."),
    }
    return Block(code, texts[code].format(path=path) + " " + _what_to_do())


def integrity_block(db: Database, key_path: Path | str, store_id: int,
                    till_no: int) -> Block | None:
    """None when the till may refund; else why not and what to do: the cache is behind
    the head HQ anchored (a restored backup), or behind the till's own head kept beside
    its keys, or one of those files is gone or damaged."""
    behind = get_meta(db, BEHIND_META)
    if behind:
        data = json.loads(behind)
        return _behind_hq(int(data["hq_seq"]), int(data["local_seq"]))
    if not key_set_started(Path(key_path).expanduser()):
        return None  # no key set yet: a till's very first start
    signer = load_signer(key_path, create=False)
    anchored = read_anchor(key_path, signer)
    if anchored == DAMAGED:
        return _file_block("anchor_damaged", anchor_path(key_path))
    if isinstance(anchored, tuple) and record_hash_at(db, store_id, till_no,
                                                      anchored[0]) != anchored[1]:
        return _behind_hq(anchored[0], head_seq(db, store_id, till_no))
    head, problem = read_head(key_path, signer)
    if head is None:
        return _file_block("head_missing" if problem == MISSING else "head_damaged",
                           head_path(key_path))
    if head.anchored and anchored == MISSING and head.covers(store_id, till_no):
        return _file_block("anchor_missing", anchor_path(key_path))
    if head.covers(store_id, till_no) and head.seq < head_seq(db, store_id, till_no) \
            and extends(db, head, store_id, till_no):
        try:  # a head left behind (a crash after a commit, a write that failed): forward
            advance(db, key_path, signer, store_id, till_no)
        except HeadUnwritable as exc:
            return Block("head_unwritable", str(exc))
    if not extends(db, head, store_id, till_no):
        return Block("behind_local_head", _(
            "This till's journal no longer holds record no. {seq} as the till wrote it "
            "(the cache stops at record no. {local}): the cache was replaced by an older "
            "copy, or its last records were deleted. Returns are blocked. Put back the "
            "till's latest cache, or have a manager accept this cache as it is "
            "(pos-returns journal accept-head --manager CODE: journaled and sent to HQ)."
        ).format(seq=head.seq, local=head_seq(db, store_id, till_no)), head.seq)
    return None


def restore_block(db: Database, key_path: Path | str, store_id: int, till_no: int) -> str:
    """'' when the till may refund; else the French message that says why not and
    what to do (:func:`integrity_block`)."""
    block = integrity_block(db, key_path, store_id, till_no)
    return block.message if block else ""
