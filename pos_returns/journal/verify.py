"""Verify a till's chain: the links, the signatures, the heads; name the first broken record."""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlite_utils import Database

from pos_returns.cache import guards
from pos_returns.cache.outbox import canonical_json
from pos_returns.i18n import _, format_money, ngettext
from pos_returns.journal import digest, terminal
from pos_returns.journal.keys import public_key_from_hex, public_pem_from_hex, verify_signature
from pos_returns.journal.records import (
    _ID,
    _KEY,
    _PHASH,
    _PSIG,
    _ROW_COLUMNS,
    _SEQ,
    _SIG,
    _row_bytes,
    record_hash,
)

# --------------------------------------------------------------------------- verify


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """The first record of a chain that does not verify."""

    store_id: int
    till_no: int
    seq: int
    record_id: int | None
    # "signature", "link", "missing", "truncated", "head", "key", "head_missing", and for the
    # tables under the signature: "rows", "unsigned_ticket", "closure", "unsigned_closure",
    # "unsigned_gift_card", "approval_token", "unsigned_token", "id_deletion",
    # "unsigned_id_deletion"; "schema": the guards are not what the migrations create;
    # "terminal_operation": a terminal_operations row against its signed record
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records: int
    chains: int
    seconds: float
    full: bool
    broken: BrokenRecord | None = None
    heads: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)
    tickets: int = 0  # tickets whose rows were checked against their signed digest
    uncovered: int = 0  # tickets signed before format v2: no digest of their rows
    # the guards' schema objects that differ from the migrations' (cache.guards)
    schema: tuple[guards.SchemaDifference, ...] = ()

    def summary(self) -> str:
        text = self._summary()
        if self.schema and (self.broken is None or self.broken.reason != "schema"):
            text += " " + _reason_message("schema", 0, details=guards.describe(self.schema))
        return text

    def _summary(self) -> str:
        if self.ok:
            text = ngettext(
                "Journal verified: {count} record in {chains} chain(s), all signatures hold.",
                "Journal verified: {count} records in {chains} chain(s), all signatures hold.",
                self.records,
            ).format(count=self.records, chains=self.chains)
            if self.full and self.uncovered:
                text += " " + ngettext(
                    "{count} ticket signed before format v2 is not covered: its rows carry "
                    "no digest.",
                    "{count} tickets signed before format v2 are not covered: their rows "
                    "carry no digest.",
                    self.uncovered,
                ).format(count=self.uncovered)
            return text
        assert self.broken is not None
        if self.broken.seq == 0:  # rows without any signed record
            return _("Journal BROKEN (store {store}, till {till}): {message}").format(
                store=self.broken.store_id, till=self.broken.till_no,
                message=self.broken.message,
            )
        return _(
            "Journal BROKEN at record no. {seq} (store {store}, till {till}): {message}"
        ).format(
            seq=self.broken.seq,
            store=self.broken.store_id,
            till=self.broken.till_no,
            message=self.broken.message,
        )

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


def _foreign(
    db: Database, store_id: int, till_no: int, pinned: Pin | None,
    chains: Iterable[tuple[int, int]] = (),
) -> tuple[int, str, dict[str, Any]] | None:
    """With a pin: another till's chain in this till's cache, or a key in
    ``journal_keys`` (of any chain) that is not the pinned one, is reported (seq,
    reason, details)."""
    if pinned is None:
        return None
    if (store_id, till_no) != (pinned.store_id, pinned.till_no):
        return (1, "foreign_chain", {"store": store_id, "till": till_no})
    others = set(chains) - {(store_id, till_no)}  # reported as foreign chains in turn
    pinned_row = (pinned.store_id, pinned.till_no, pinned.key_id, pinned.public_hex,
                  public_pem_from_hex(pinned.public_hex))
    for row in db.execute(
        "SELECT store_id, till_no, key_id, public_key, public_pem FROM journal_keys "
        "ORDER BY rowid"
    ):
        if tuple(row) != pinned_row and (row[0], row[1]) not in others:
            return (0, "foreign_key", {"key_id": row[2]})
    return None


def _reason_message(reason: str, seq: int, extra: str = "", **details: Any) -> str:
    if reason == "foreign_chain":
        return _(
            "a chain of store {store}, till {till} appears in this till's cache, signed with "
            "a key that is not pinned here: it is never valid."
        ).format(**details)
    if reason == "foreign_key":
        return _(
            "a public key ({key_id}) that is not the key pinned beside the till's key files "
            "appears in the cache: records signed with it are never valid."
        ).format(**details)
    if reason == "rows":
        return _(
            "the rows of return ticket no. {number} differ from what was signed "
            "(changed: {tables})."
        ).format(**details)
    if reason == "unsigned_ticket":
        return _(
            "return ticket no. {number} ({uuid}) is in the tables without any signed record "
            "(added behind the journal)."
        ).format(**details)
    if reason == "closure":
        return _(
            "the closure {period} ({kind}) in the closures table differs from what was signed."
        ).format(**details)
    if reason == "unsigned_closure":
        return _(
            "the closure {period} ({kind}) is in the closures table without its signed record."
        ).format(**details)
    return _more_reason_message(reason, extra, **details)


def _more_reason_message(reason: str, extra: str, **details: Any) -> str:
    if reason == "terminal_operation":
        return str(details["message"])
    if reason == "schema":
        return _(
            "the guards of the fiscal tables are not what the till created ({details}): "
            "returns are blocked until they are restored (pos-returns journal guards --repair)."
        ).format(**details)
    if reason == "unsigned_gift_card":
        return _(
            "a gift card (number ending {last4}, {amount}) is in the cache without a signed "
            "ticket that issued it (added behind the journal)."
        ).format(**details)
    if reason == "approval_token":
        return _(
            "the used approval token of return ticket no. {number} differs from what was "
            "signed, or is missing (a used token erased can be used again)."
        ).format(**details)
    if reason == "unsigned_token":
        return _(
            "a used approval token ({token}) is in the cache without the signed override "
            "that used it (added behind the journal)."
        ).format(**details)
    if reason == "id_deletion":
        return _(
            "the permission to delete identity data of the purge or erasure of {at} differs "
            "from what was signed."
        ).format(**details)
    if reason == "unsigned_id_deletion":
        return _(
            "a permission to delete identity data ({kind}) is in the cache without the signed "
            "purge or erasure that granted it (the R19 history could be erased)."
        ).format(**details)
    messages = {
        "signature": _("its signature does not match its content (altered record)."),
        "link": _("it does not follow the previous record (chain broken)."),
        "missing": _("the record is missing (deleted)."),
        "truncated": _(
            "the chain ends before its recorded head (records deleted at the end, up to no. "
            "{head})."
        ).format(head=extra),
        "head": _("the last record differs from the recorded chain head."),
        "head_missing": _("the chain head is missing."),
        "key": _("signed with a key that is not this till's."),
    }
    return messages[reason]


def _chain_links_ok(
    prev: Sequence[Any] | None, prev_hash: str, row: Sequence[Any], position: int,
    keys: dict[str, Any],
) -> str:
    """'' when ``row`` (the position-th record, 1-based) is correctly linked, else a reason."""
    if row[_SEQ] != position:
        return "missing"
    if row[_KEY] not in keys:
        return "key"
    if prev is None:
        if row[_PHASH] != "" or row[_PSIG] != "":
            return "link"
        return ""
    if row[_PSIG] != prev[_SIG] or row[_PHASH] != prev_hash:
        return "link"
    return ""


def _signature_ok(row: Sequence[Any], keys: dict[str, Any]) -> bool:
    key = keys.get(row[_KEY])
    if key is None:
        return False
    return verify_signature(key, _row_bytes(row), row[_SIG])


def _verify_chain(
    rows: Iterable[Sequence[Any]],
    keys: dict[str, Any],
    *,
    full: bool,
    fetch: Callable[[int], Sequence[Any] | None],
    first_expected: int = 1,
    first_prev: tuple[str, str] | None = None,
) -> tuple[int, Sequence[Any] | None, tuple[int, str, int | None] | None]:
    """Walk one chain. Returns (records, last row, broken) where broken is
    (seq, reason, record id).

    Fast mode checks every link (sequence, previous signature, previous hash)
    and the Ed25519 signature of the last record, which covers every record
    before it through the hashes; ``full`` checks every signature too. When
    something is wrong, the first broken record is found by bisection: a record
    whose links back to the start hold and whose signature is valid proves
    every record before it.
    """
    count = 0
    prev: Sequence[Any] | None = None
    prev_hash = ""
    break_at: tuple[int, str, int | None] | None = None  # (position, reason, id): first bad
    for row in rows:
        position = first_expected + count
        count += 1
        if prev is None and first_prev is not None:
            reason = ""
            if row[_SEQ] != position:
                reason = "missing"
            elif row[_KEY] not in keys:
                reason = "key"
        else:
            reason = _chain_links_ok(prev, prev_hash, row, position, keys)
        if not reason and full and not _signature_ok(row, keys):
            reason = "signature"
        if reason:
            break_at = (position, reason, row[_ID])
            break
        prev = row
        prev_hash = record_hash(_row_bytes(row))
    if break_at is None:
        if prev is None:
            return 0, None, None
        if full or _signature_ok(prev, keys):
            return count, prev, None
        # the head's signature fails: some record before it was altered
        hi = first_expected + count - 1
    else:
        position, reason, record_id = break_at
        if full and reason in ("missing", "signature"):
            # every record before was proven by the walk
            return count, prev, (position, reason, record_id if reason == "signature" else None)
        hi = position
    # bisection over [first_expected, hi]: the first position whose record is not
    # proven by (links ok up to it) + (its signature valid)
    lo = first_expected
    while lo < hi:
        mid = (lo + hi) // 2
        probe = fetch(mid)
        if probe is not None and probe[_SEQ] == mid and _signature_ok(probe, keys):
            lo = mid + 1
        else:
            hi = mid
    found = fetch(lo)
    if found is None or found[_SEQ] != lo:
        return count, prev, (lo, "missing", None)
    if break_at and break_at[0] == lo and break_at[1] == "key":
        return count, prev, (lo, "key", found[_ID])
    if not _signature_ok(found, keys):
        return count, prev, (lo, "signature", found[_ID])
    reason = break_at[1] if break_at and break_at[0] == lo else "link"
    return count, prev, (lo, reason, found[_ID])


def chain_keys(db: Database, store_id: int, till_no: int) -> dict[str, Any]:
    """The chain's public keys; a damaged one is left out, so that ``verify`` names
    the records it signed (reason ``key``) instead of failing with a ValueError."""
    keys: dict[str, Any] = {}
    for key_id, public_hex in db.execute(
        "SELECT key_id, public_key FROM journal_keys WHERE store_id = ? AND till_no = ?",
        [store_id, till_no],
    ):
        try:
            keys[key_id] = public_key_from_hex(public_hex)
        except (ValueError, TypeError):
            continue
    return keys


@dataclass(frozen=True, slots=True)
class Pin:
    """The till's chain and the public key pinned outside the cache for it."""

    store_id: int
    till_no: int
    public_hex: str
    key_id: str


def verify(
    db: Database,
    *,
    full: bool = False,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None = None,
    pinned: Pin | None = None,
) -> VerifyReport:
    """Verify every chain in the cache; name the first broken record.

    ``expected_heads`` are the heads HQ last received ((store, till) -> (seq,
    signature)); the cache's own ``journal_heads`` are checked too, so a journal
    truncated at its end is noticed.

    ``pinned`` (the till's own chain and the public key kept beside its key files):
    only that key makes a record valid — the keys in the cache's ``journal_keys`` are
    not trusted — and a second key, or another chain, found in the cache is reported.

    The guards themselves are checked too (:mod:`pos_returns.cache.guards`): a trigger,
    index or view of the guarded tables that is not what the migrations create makes
    the report fail (``schema``), whatever the chains say.
    """
    started = time.perf_counter()
    schema = tuple(guards.schema_differences(db))
    report = _verify_chains(db, full=full, expected_heads=expected_heads, pinned=pinned,
                            started=started)
    broken = report.broken
    if broken is None and schema:
        store_id, till_no = (pinned.store_id, pinned.till_no) if pinned else (0, 0)
        broken = BrokenRecord(store_id, till_no, 0, None, "schema", _reason_message(
            "schema", 0, details=guards.describe(schema)))
    return replace(report, ok=broken is None, broken=broken, schema=schema,
                   seconds=time.perf_counter() - started)


def _verify_chains(
    db: Database,
    *,
    full: bool,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None,
    pinned: Pin | None,
    started: float,
) -> VerifyReport:
    chains = _chains(db, expected_heads, pinned)
    total = 0
    checked_tickets = uncovered = 0
    heads: dict[tuple[int, int], tuple[int, str]] = {}
    conn = db.conn
    extras = _Extras.read(db)

    def failed(store_id: int, till_no: int, seq: int, record_id: int | None, reason: str,
               message: str) -> VerifyReport:
        return VerifyReport(
            ok=False, records=total, chains=len(chains),
            seconds=time.perf_counter() - started, full=full,
            broken=BrokenRecord(store_id, till_no, seq, record_id, reason, message),
            tickets=checked_tickets, uncovered=uncovered,
        )

    for store_id, till_no in chains:
        keys = chain_keys(db, store_id, till_no)
        foreign = _foreign(db, store_id, till_no, pinned, chains)
        if foreign is not None:
            return failed(store_id, till_no, foreign[0], None, foreign[1],
                          _reason_message(foreign[1], foreign[0], **foreign[2]))

        def fetch(seq: int, _s: int = store_id, _t: int = till_no) -> Sequence[Any] | None:
            return conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? "
                "AND seq = ?",
                [_s, _t, seq],
            ).fetchone()

        keys = _trusted_keys(keys, pinned, fetch(1))
        cursor = conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM journal WHERE store_id = ? AND till_no = ? ORDER BY seq",
            [store_id, till_no],
        )
        count, last, broken = _verify_chain(cursor, keys, full=full, fetch=fetch)
        cursor.close()
        total += count
        if broken is None:
            broken = _check_heads(db, store_id, till_no, last, expected_heads)
        if broken is not None:
            seq, reason, record_id = broken
            extra = ""
            if reason == "truncated":
                extra = str(_known_head(db, store_id, till_no, expected_heads)[0])
            return failed(store_id, till_no, seq, record_id, reason,
                          _reason_message(reason, seq, extra))
        rows = _check_rows(db, store_id, till_no, extras)
        checked_tickets += rows.checked
        uncovered += rows.uncovered
        if rows.broken is None:
            rows.broken = _check_terminal(db, store_id, till_no)
        if rows.broken is not None:
            seq, reason, record_id, details = rows.broken
            return failed(store_id, till_no, seq, record_id, reason,
                          _reason_message(reason, seq, **details))
        if last is not None:
            heads[(store_id, till_no)] = (int(last[_SEQ]), str(last[_SIG]))
    leftover = _leftovers(db, extras, chains)
    if leftover is not None:
        reason, details = leftover
        store_id, till_no = (pinned.store_id, pinned.till_no) if pinned else (0, 0)
        return failed(store_id, till_no, 0, None, reason, _reason_message(reason, 0, **details))
    return VerifyReport(
        ok=True,
        records=total,
        chains=len(chains),
        seconds=time.perf_counter() - started,
        full=full,
        heads=heads,
        tickets=checked_tickets,
        uncovered=uncovered,
    )


def _chains(
    db: Database, expected_heads: dict[tuple[int, int], tuple[int, str]] | None,
    pinned: Pin | None,
) -> list[tuple[int, int]]:
    """Every chain to verify: in the journal, in the heads, known to HQ, pinned."""
    chains = {
        (int(r[0]), int(r[1]))
        for r in db.execute(
            "SELECT DISTINCT store_id, till_no FROM journal "
            "UNION SELECT store_id, till_no FROM journal_heads"
        )
    } | set(expected_heads or {})
    if pinned is not None:
        chains.add((pinned.store_id, pinned.till_no))
    return sorted(chains)


def _trusted_keys(keys: dict[str, Any], pinned: Pin | None,
                  first: Sequence[Any] | None) -> dict[str, Any]:
    """With a pin, only the pinned key. Without, no key rotation (docs/journal.md): the
    chain's one key is the key of its first record — journal_keys takes INSERTs, so
    another key registered there later must not make records signed with it pass."""
    if pinned is not None:
        return {pinned.key_id: public_key_from_hex(pinned.public_hex)}
    if first is not None and first[_KEY] in keys:
        return {first[_KEY]: keys[first[_KEY]]}
    return keys


@dataclass
class _RowsCheck:
    checked: int = 0
    uncovered: int = 0
    broken: tuple[int, str, int | None, dict[str, Any]] | None = None


@dataclass
class _Extras:
    """Rows of the cache that signed records must account for, across every chain: the
    used approval tokens (override records) and the permissions to delete identity data
    (privacy records). What no chain accounts for is reported at the end."""

    tokens: dict[str, tuple[Any, ...]]  # token_id -> (ticket_uuid, manager_id, rule, used_at)
    deletions: dict[str, list[tuple[Any, ...]]]  # purge_id -> [(kind, cutoff, row_uuid, at)]

    @classmethod
    def read(cls, db: Database) -> _Extras:
        tokens: dict[str, tuple[Any, ...]] = {}
        if db["approval_tokens"].exists():
            tokens = {str(r[0]): tuple(r[1:]) for r in db.execute(
                "SELECT token_id, ticket_uuid, manager_id, rule, used_at FROM approval_tokens")}
        deletions: dict[str, list[tuple[Any, ...]]] = {}
        if db["id_deletions"].exists():
            for row in db.execute("SELECT purge_id, kind, cutoff, row_uuid, created_at "
                                  "FROM id_deletions ORDER BY id"):
                deletions.setdefault(str(row[0]), []).append(tuple(row[1:]))
        return cls(tokens, deletions)


@dataclass
class _Privacy:
    """What the signed purges and erasures of one chain allow to be gone."""

    cutoff: str = ""  # the latest retention cutoff signed
    erased: set[str] = field(default_factory=set)  # identity check / ledger uuids erased


_CLOSURE_FIELDS = (
    # (closures column, payload key)
    ("period_kind", "period_kind"), ("period", "period"), ("staff_id", "staff_id"),
    ("first_number", "first_number"), ("last_number", "last_number"),
    ("ticket_count", "tickets"), ("net", "net"), ("grand_total", "grand_total"),
    ("grand_total_abs", "grand_total_abs"),
)


def _records(db: Database, store_id: int, till_no: int, kind: str) -> list[tuple[Any, ...]]:
    """(seq, id, kind, ticket_uuid, payload, created_at) of one kind, by seq: each read
    is a range of the journal_kind index."""
    return db.conn.execute(
        "SELECT seq, id, kind, ticket_uuid, payload, created_at FROM journal "
        "WHERE store_id = ? AND till_no = ? AND kind = ? ORDER BY seq",
        [store_id, till_no, kind],
    ).fetchall()


def _check_terminal(db: Database, store_id: int,
                    till_no: int) -> tuple[int, str, int | None, dict[str, Any]] | None:
    """The payment terminal's operations against their last signed record (journal/
    terminal.py): the first row that differs, has no record, or is gone."""
    if not db["terminal_operations"].exists():
        return None
    found = terminal.first_mismatch(db, store_id, till_no)
    if found is None:
        return None
    return (found[0], "terminal_operation", None, {"message": found[1]})


def _check_rows(db: Database, store_id: int, till_no: int, extras: _Extras) -> _RowsCheck:
    """The tables against what the (already verified) records signed: each ticket's
    rows against its record's digests, each closure's row against its record, the used
    approval tokens against the override records, the permissions to delete identity
    data against the privacy records; then rows that no record signed. Names the
    first that differs."""
    out = _RowsCheck()
    privacy = _check_privacy(db, store_id, till_no, extras, out)
    if out.broken is None:
        _check_tokens(db, store_id, till_no, extras, out)
    if out.broken is not None:
        return out
    conn = db.conn
    actual = digest.all_ticket_rows(db, store_id, till_no)
    closures: dict[int, Sequence[Any]] = {
        int(r[-1]): r
        for r in conn.execute(
            f"SELECT {', '.join(c for c, _k in _CLOSURE_FIELDS)}, totals, created_at, "
            "journal_seq FROM closures WHERE store_id = ? AND till_no = ?",
            [store_id, till_no],
        )
    }
    for seq, rec_id, kind, ticket_uuid, payload_json, created_at in heapq.merge(
        _records(db, store_id, till_no, "ticket"), _records(db, store_id, till_no, "closure")
    ):
        payload = json.loads(payload_json)
        if kind == "ticket":
            changed = _ticket_differs(payload, actual.pop(ticket_uuid, None), privacy, out)
            if changed:
                out.broken = (int(seq), "rows", int(rec_id), {
                    "number": payload.get("number"), "tables": ", ".join(changed)})
                return out
        else:
            row = closures.pop(int(seq), None)
            if row is None or _closure_differs(row, payload, created_at):
                out.broken = (int(seq), "closure", int(rec_id), {
                    "period": payload.get("period"), "kind": payload.get("period_kind")})
                return out
    if actual:
        number = conn.execute(
            "SELECT MIN(number) FROM return_tickets WHERE uuid IN "
            f"({','.join('?' * len(actual))})", list(actual),
        ).fetchone()[0]
        uuid = conn.execute(
            "SELECT uuid FROM return_tickets WHERE store_id = ? AND till_no = ? AND number = ?",
            [store_id, till_no, number],
        ).fetchone()
        out.broken = (0, "unsigned_ticket", None, {"number": number,
                                                   "uuid": uuid[0] if uuid else ""})
    elif closures:
        row = closures[min(closures)]
        out.broken = (0, "unsigned_closure", None, {"period": row[1], "kind": row[0]})
    return out


def _ticket_differs(payload: dict[str, Any], rows: digest.TicketRows | None,
                    privacy: _Privacy, out: _RowsCheck) -> list[str]:
    """The tables of one ticket whose rows differ from its record ([] when they agree)."""
    signed = payload.get("rows")
    if not isinstance(signed, dict):
        out.uncovered += 1  # format v1: signed before the rows' digests
        if rows is not None and _v1_gift_cards(payload) != {
                (str(g[0]), int(g[2])) for g in rows.gift_cards}:
            return ["gift_cards"]  # v1 records list the cards they issued
        return []
    out.checked += 1
    changed = digest.differing_parts(signed, rows)
    if changed and set(changed) <= set(digest.ID_PARTS) and rows is not None \
            and not rows.id_check and _id_check_purged(payload, privacy):
        return []  # the identity check went with a signed purge or erasure (RGPD)
    return changed


def _v1_gift_cards(payload: dict[str, Any]) -> set[tuple[str, int]]:
    cards = payload.get("gift_cards") or []
    return {(str(c.get("number")), int(c.get("amount", 0))) for c in cards
            if isinstance(c, dict)}


def _id_check_purged(payload: dict[str, Any], privacy: _Privacy) -> bool:
    info = payload.get("id_check")
    if not isinstance(info, dict) or not info.get("uuid") or not info.get("created_at"):
        return False
    return (str(info["uuid"]) in privacy.erased
            or (bool(privacy.cutoff) and str(info["created_at"]) < privacy.cutoff))


def _check_tokens(db: Database, store_id: int, till_no: int, extras: _Extras,
                  out: _RowsCheck) -> None:
    """Each override record's token against its ``approval_tokens`` row: a used token
    erased would be usable again within its ten minutes."""
    for seq, rec_id, _kind, _ticket, payload_json, created_at in _records(
            db, store_id, till_no, "override"):
        payload = json.loads(payload_json)
        token_id = payload.get("token_id")
        if not token_id:
            continue  # an override signed before the approval tokens (issue 12)
        row = extras.tokens.pop(str(token_id), None)
        signed = (payload.get("ticket_uuid"), payload.get("manager_id"), payload.get("rule"),
                  created_at)
        if row != signed:
            out.broken = (int(seq), "approval_token", int(rec_id),
                          {"number": payload.get("ticket_number")})
            return


def _check_privacy(db: Database, store_id: int, till_no: int, extras: _Extras,
                   out: _RowsCheck) -> _Privacy:
    """Each permission to delete identity data (``id_deletions``) against the signed
    purge or erasure that granted it; returns what they allow to be gone."""
    privacy = _Privacy()
    records = heapq.merge(_records(db, store_id, till_no, "privacy_purge"),
                          _records(db, store_id, till_no, "privacy_request"))
    for seq, rec_id, kind, _ticket, payload_json, created_at in records:
        payload = json.loads(payload_json)
        purge_id = payload.get("purge_id")
        if not purge_id:
            continue  # a purge or request signed before the guards, or an access request
        uuids = {str(u) for u in payload.get("uuids") or []}
        cutoff = str(payload.get("cutoff", ""))
        for row_kind, row_cutoff, row_uuid, at in extras.deletions.pop(str(purge_id), []):
            if kind == "privacy_purge":  # a cutoff in the past of the purge, as signed
                granted = (row_kind == "retention" and row_uuid == ""
                           and row_cutoff == cutoff < created_at)
            else:  # the rows the erasure named, as signed
                granted = row_kind == "erasure" and row_cutoff == "" and row_uuid in uuids
            if not granted or at != created_at:
                out.broken = (int(seq), "id_deletion", int(rec_id), {"at": created_at})
                return privacy
        if kind == "privacy_purge":
            privacy.cutoff = max(privacy.cutoff, cutoff)
        else:
            privacy.erased |= uuids
    return privacy


def _leftovers(db: Database, extras: _Extras,
               chains: list[tuple[int, int]]) -> tuple[str, dict[str, Any]] | None:
    """Rows that no verified chain signed: a gift card not issued by a ticket of a
    verified chain (or pulled from HQ), a used token without its override, a
    permission to delete identity data without its purge or erasure."""
    known = set(chains)
    for number, amount, origin, store_id, till_no in db.execute(
        "SELECT g.number, g.initial_amount, t.origin, t.store_id, t.till_no FROM gift_cards g "
        "LEFT JOIN return_tickets t ON t.id = g.issued_ticket_id ORDER BY g.rowid"
    ):
        if origin is None or (origin == "local" and (store_id, till_no) not in known):
            return "unsigned_gift_card", {"last4": str(number)[-4:],
                                          "amount": format_money(int(amount))}
    if extras.tokens:
        return "unsigned_token", {"token": min(extras.tokens)}
    if extras.deletions:
        rows = extras.deletions[min(extras.deletions)]
        return "unsigned_id_deletion", {"kind": rows[0][0]}
    return None


def _closure_differs(row: Sequence[Any], payload: dict[str, Any], created_at: str) -> bool:
    for i, (_col, key) in enumerate(_CLOSURE_FIELDS):
        if row[i] != payload.get(key):
            return True
    n = len(_CLOSURE_FIELDS)
    return row[n] != canonical_json(payload.get("totals")) or row[n + 1] != created_at


def _known_head(
    db: Database,
    store_id: int,
    till_no: int,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None,
) -> tuple[int, str]:
    row = db.execute(
        "SELECT seq, signature FROM journal_heads WHERE store_id = ? AND till_no = ?",
        [store_id, till_no],
    ).fetchone()
    best = (int(row[0]), str(row[1])) if row else (0, "")
    hq = (expected_heads or {}).get((store_id, till_no))
    if hq is not None and hq[0] > best[0]:
        best = (int(hq[0]), str(hq[1]))
    return best


def _check_heads(
    db: Database,
    store_id: int,
    till_no: int,
    last: Sequence[Any] | None,
    expected_heads: dict[tuple[int, int], tuple[int, str]] | None,
) -> tuple[int, str, int | None] | None:
    row = db.execute(
        "SELECT seq, signature FROM journal_heads WHERE store_id = ? AND till_no = ?",
        [store_id, till_no],
    ).fetchone()
    candidates: list[tuple[int, str]] = []
    if row is not None:
        candidates.append((int(row[0]), str(row[1])))
    elif last is not None:
        return (int(last[_SEQ]), "head_missing", int(last[_ID]))
    hq = (expected_heads or {}).get((store_id, till_no))
    if hq is not None:
        candidates.append((int(hq[0]), str(hq[1])))
    last_seq = int(last[_SEQ]) if last is not None else 0
    for head_seq, head_sig in candidates:
        if head_seq > last_seq:
            return (last_seq + 1, "truncated", None)
        if head_seq == last_seq and last is not None and head_sig != last[_SIG]:
            return (last_seq, "head", int(last[_ID]))
        if head_seq < last_seq and row is not None and head_seq == int(row[0]):
            # the cache's head must be the last record; HQ's may lag behind
            return (head_seq + 1, "head", None)
    return None


