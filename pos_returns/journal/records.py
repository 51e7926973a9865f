"""A journal record: its kinds, its canonical bytes, its hash (see docs/journal.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pos_returns.i18n import STORE_TZ

if TYPE_CHECKING:
    pass

FORMAT_VERSION = 1

TICKET = "ticket"
DUPLICATE = "duplicate"
CLOSURE = "closure"
TECHNICAL_KINDS = frozenset(
    {
        "start",
        "stop",
        "login",
        "login_failed",
        "lockout",
        "unlock",
        "override",
        "sync",
        "config_change",
        "integrity_failure",
        "jewelry_mode_on",
        "jewelry_mode_off",
        "privacy_purge",
        "archive",
        "drawer_open",  # the cash drawer pulsed for a cash refund or exchange (issue 15)
        "setting_change",  # a store setting changed on the till: who, before, after
        "staff_change",  # a staff account added, disabled, its PIN reset, its role changed
        "privacy_request",  # an RGPD access (export) or erasure request: counts only
        "terminal",  # a card amount on the payment terminal: sent, answered, interrupted
        "terminal_check",  # a manager confirms what the terminal printed (« à vérifier »)
        "guards_repair",  # the fiscal tables' guards put back as the migrations make them
    }
)
RECORD_KINDS = frozenset({TICKET, DUPLICATE, CLOSURE}) | TECHNICAL_KINDS

# Tables whose rows are fiscal documents: never updated, never deleted.
# --------------------------------------------------------------------------- records


# json.dumps(text, ensure_ascii=False) for a str, without json.dumps' overhead (the C encoder)
_js: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def record_bytes(
    *,
    store_id: int,
    till_no: int,
    seq: int,
    kind: str,
    created_at: str,
    ticket_uuid: str,
    key_id: str,
    prev_hash: str,
    prev_signature: str,
    payload_json: str,
) -> bytes:
    """The exact bytes a record's signature covers: the canonical JSON of the
    record (``payload_json`` must itself be canonical JSON)."""
    return (
        f'{{"at":{_js(created_at)},"key":{_js(key_id)},"kind":{_js(kind)},'
        f'"payload":{payload_json},"prev_hash":{_js(prev_hash)},'
        f'"prev_sig":{_js(prev_signature)},"seq":{int(seq)},"store":{int(store_id)},'
        f'"ticket":{_js(ticket_uuid)},"till":{int(till_no)},"v":{FORMAT_VERSION}}}'
    ).encode()


def record_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_ROW_COLUMNS = (
    "id, store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, payload, "
    "prev_hash, prev_signature, signature"
)
# positions in a row tuple
_ID, _STORE, _TILL, _SEQ, _KIND, _AT, _TICKET, _KEY, _PAYLOAD, _PHASH, _PSIG, _SIG = range(12)


def _row_bytes(row: Sequence[Any]) -> bytes:
    return record_bytes(
        store_id=row[_STORE],
        till_no=row[_TILL],
        seq=row[_SEQ],
        kind=row[_KIND],
        created_at=row[_AT],
        ticket_uuid=row[_TICKET],
        key_id=row[_KEY],
        prev_hash=row[_PHASH],
        prev_signature=row[_PSIG],
        payload_json=row[_PAYLOAD],
    )


@dataclass(frozen=True, slots=True)
class JournalRecord:
    id: int
    store_id: int
    till_no: int
    seq: int
    kind: str
    created_at: str
    ticket_uuid: str
    key_id: str
    payload_json: str
    prev_hash: str
    prev_signature: str
    signature: str

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)

    @property
    def data(self) -> bytes:
        """The signed bytes."""
        return _row_bytes(self._row())

    @property
    def hash(self) -> str:
        return record_hash(self.data)

    def _row(self) -> tuple[Any, ...]:
        return (
            self.id, self.store_id, self.till_no, self.seq, self.kind, self.created_at,
            self.ticket_uuid, self.key_id, self.payload_json, self.prev_hash,
            self.prev_signature, self.signature,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> JournalRecord:
        return cls(*row)


def _utc_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_midnight_utc(day: date) -> str:
    return _utc_text(datetime(day.year, day.month, day.day, tzinfo=STORE_TZ))


