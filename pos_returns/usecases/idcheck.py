"""Identity checks for no-receipt returns (R07, R19) — with RGPD minimisation.

What the till keeps of an identity document, and nothing more (docs/privacy.md):

* the document type (``cni``, ``passport``, ``residence_permit``, ``driving_licence``);
* the last 4 characters of the normalised number (so that staff and the customer
  can recognise the document when reviewing a return);
* a keyed hash, HMAC-SHA256 of the normalised number with the chain's secret, so
  that repeat returners are counted chain-wide (R19) without the number itself;
* the name.

Never the full number, never a picture. The secret lives in a key file next to
the journal key (``TillConfig.key_path.parent / "id_hmac.key"``), never in the
database; without it a hash cannot be reversed by trying every possible number.

ID data lives in its own tables, guarded like the fiscal ones (issue 12): never
changed once decided, deleted only by :func:`purge` after the retention period
(``PolicyConfig.id_retention_months``, 13 months by default) or by an erasure
request (``usecases.privacy``), each granting its deletion in ``id_deletions`` and
journaling it; a refunded check and its ledger row are under the signature of the
ticket that used them:

``id_checks``
    one row per capture at this till: type, last4, hash, name, the ticket it
    ended in (``ticket_uuid``) and its status (``pending`` until the manager
    decides, then ``refunded`` or ``refused``).
``id_ledger``
    the chain-wide count of no-receipt refunds per hash: one row per refunded
    no-receipt return, from this till (``origin='local'``) or pulled from HQ
    (``origin='hq'``), unique by ``uuid``. No name, no last4: only the hash, the
    amount, the date and the store. HQ sync reads local rows with
    :func:`ledger_rows_since` and stores other tills' rows with
    :func:`insert_ledger_rows`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
import unicodedata
import uuid as uuidlib
from calendar import monthrange
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic
from pos_returns.config import PolicyConfig, TillConfig
from pos_returns.engine.text import clean_text
from pos_returns.errors import ConfigError, Conflict, InvalidInput, NotFound
from pos_returns.i18n import N_, _
from pos_returns.journal.chain import record_event
from pos_returns.journal.keys import key_set_started, load_signer, missing_key_message

KEY_FILE_NAME = "id_hmac.key"
PENDING_MAX_AGE = timedelta(hours=24)  # an undecided capture older than this is purged
PURGE_CLOCK_SLACK = timedelta(days=1)  # a purge dated later than the clock plus this: refused
MAX_NAME_LENGTH = 120


# --------------------------------------------------------------------------- types


class DocType(StrEnum):
    CNI = "cni"  # carte nationale d'identité
    PASSPORT = "passport"
    RESIDENCE_PERMIT = "residence_permit"  # titre de séjour
    DRIVING_LICENCE = "driving_licence"  # permis de conduire


DOC_TYPE_LABELS: dict[DocType, str] = {
    DocType.CNI: N_("National identity card"),
    DocType.PASSPORT: N_("Passport"),
    DocType.RESIDENCE_PERMIT: N_("Residence permit"),
    DocType.DRIVING_LICENCE: N_("Driving licence"),
}

# Plausible lengths of the normalised number (letters and digits only).
# CNI: 12 characters (before 2021) or 9 (since 2021). Passports: French ones have 9
# characters, foreign ones 6 to 12. Titre de séjour: 9 or 10. Permis de conduire:
# 12 (old French), 9 to 15 for the EU formats.
DOC_LENGTHS: dict[DocType, tuple[int, int]] = {
    DocType.CNI: (9, 12),
    DocType.PASSPORT: (6, 12),
    DocType.RESIDENCE_PERMIT: (8, 12),
    DocType.DRIVING_LICENCE: (6, 15),
}


class HistoryLevel(StrEnum):
    OK = "ok"
    WARN = "warn"
    MANAGER = "manager"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class IdCheck:
    """What is stored of one identity check. Never the number itself."""

    uuid: str
    doc_type: DocType
    last4: str
    id_hash: str
    name: str
    store_id: int
    till_no: int
    created_at: str
    staff_id: int | None = None
    status: str = "pending"
    ticket_uuid: str | None = None
    amount: int = 0

    @property
    def doc_label(self) -> str:
        return doc_type_label(self.doc_type)

    @property
    def masked_number(self) -> str:
        """What the till may show of the number: "•••• 4L2X"."""
        return f"•••• {self.last4}"


@dataclass(frozen=True, slots=True)
class History:
    """R19: earlier no-receipt refunds of one identity in the rolling window."""

    count: int
    amount: int
    level: HistoryLevel


def doc_type_label(doc_type: DocType | str) -> str:
    return _(DOC_TYPE_LABELS[DocType(doc_type)])


# --------------------------------------------------------------------------- time


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to the
    last day of a shorter month: 31 March minus one month is 28/29 February)."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(moment.day, monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --------------------------------------------------------------------------- key


def key_path(cfg: TillConfig) -> Path:
    """Where the chain's ID secret lives: next to the journal key, never in the cache."""
    return Path(cfg.key_path).parent / KEY_FILE_NAME


def load_secret(cfg: TillConfig, *, create: bool = True) -> bytes:
    """The chain's HMAC secret (32 bytes), created (0600) with the till's whole key set
    on its first start, never alone afterwards (``pos-returns keys restore``).

    The file holds 64 hex characters. In a real chain HQ distributes the same
    file to every till, so that one identity has the same hash everywhere.
    A file readable by group or others is refused.
    """
    path = key_path(cfg)
    if not path.exists() and create and not Path(cfg.key_path).exists() \
            and not key_set_started(Path(cfg.key_path)):
        load_signer(cfg.key_path)  # a first start: the whole key set at once (issue 12)
    if not path.exists():
        if not create:
            raise NotFound(
                _("The ID key file {path} does not exist.").format(path=path), code="id_key"
            )
        # never recreated silently (issue 12): a new key would reset every history (R19)
        raise ConfigError(missing_key_message(path), code="key_missing")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            _(
                "The ID key file {path} can be read by other users: "
                "restrict it to its owner (chmod 600)."
            ).format(path=path),
            code="id_key",
        )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigError(
            _("The ID key file {path} is damaged (64 hexadecimal characters expected).").format(
                path=path
            ),
            code="id_key",
        )
    return key


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of the key, to check two tills share the same one."""
    return hashlib.sha256(b"alamara-id-key:" + key).hexdigest()[:16]


# --------------------------------------------------------------------------- numbers

_SEPARATORS = re.compile(r"[\s\-.]")
_ALNUM = re.compile(r"^[A-Z0-9]+$")


def normalise_number(number: str) -> str:
    """Upper case, without spaces, dashes or dots: "x7q 9zk-4.l2" -> "X7Q9ZK4L2"."""
    text = unicodedata.normalize("NFKC", number or "")
    return _SEPARATORS.sub("", text).upper()


def id_hash(key: bytes, normalised: str) -> str:
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def _validate(doc_type: str, number: str, name: str) -> tuple[DocType, str, str]:
    try:
        dtype = DocType(doc_type)
    except ValueError:
        raise InvalidInput(
            _("Choose the type of identity document."), code="doc_type"
        ) from None
    normalised = normalise_number(number)
    if not normalised:
        raise InvalidInput(_("Type the number of the identity document."), code="id_number")
    low, high = DOC_LENGTHS[dtype]
    label = doc_type_label(dtype)
    if not _ALNUM.match(normalised):
        raise InvalidInput(
            _("The document number may contain only letters and digits."), code="id_number"
        )
    if not low <= len(normalised) <= high:
        raise InvalidInput(
            _("A {document} number has {low} to {high} letters or digits.").format(
                document=label, low=low, high=high
            ),
            code="id_number",
        )
    if not any(c.isdigit() for c in normalised) or len(set(normalised)) < 3:
        raise InvalidInput(
            _("This does not look like a {document} number: check it on the document.").format(
                document=label
            ),
            code="id_number",
        )
    # NFC, no control or bidi-override character (U+202E would show « Jean » as « naeJ »)
    clean_name = clean_text(name, field=_("The name"), max_length=MAX_NAME_LENGTH, strict=True)
    if sum(c.isalpha() for c in clean_name) < 2:
        raise InvalidInput(_("Type the name shown on the document."), code="name")
    if len(clean_name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            _("The name is too long (at most {count} characters).").format(count=MAX_NAME_LENGTH),
            code="name",
        )
    return dtype, normalised, clean_name


# --------------------------------------------------------------------------- notice


def notice_text(cfg: TillConfig) -> str:
    """The information notice shown to the customer before the capture (RGPD art. 13)."""
    months = cfg.policy.id_retention_months
    contact = cfg.privacy_contact or "dpo@alamara.fr"
    parts = [
        _("Information about your personal data"),
        _(
            "Purpose: for a return without a receipt or any other record of sale, Alamara "
            "records a few details of an identity document to prevent abuse of returns "
            "without receipt (repeat returns, resale of stolen goods)."
        ),
        _(
            "What is recorded: the type of document, the last 4 characters of its number, "
            "a coded fingerprint of the number that cannot be read back, and your name. "
            "Neither the full number nor a copy or photo of the document is kept."
        ),
        _(
            "Legal basis: Alamara's legitimate interest in preventing fraud "
            "(article 6(1)(f) of the GDPR)."
        ),
        _(
            "Recipients: the staff of the store and Alamara's head office, which counts "
            "returns without receipt across all the chain's stores."
        ),
        _(
            "Retention: {months} months from the return, after which the data is deleted."
        ).format(months=months),
        _(
            "Your rights: you may access, rectify and erase your data, and object to its "
            "processing, by asking the store's staff or Alamara's data protection officer "
            "({contact}). You may also lodge a complaint with the CNIL (www.cnil.fr)."
        ).format(contact=contact),
    ]
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- capture


def _row_to_check(row: Mapping[str, Any]) -> IdCheck:
    return IdCheck(
        uuid=row["uuid"], doc_type=DocType(row["doc_type"]), last4=row["last4"],
        id_hash=row["id_hash"], name=row["name"], store_id=row["store_id"],
        till_no=row["till_no"], created_at=row["created_at"], staff_id=row["staff_id"],
        status=row["status"], ticket_uuid=row["ticket_uuid"], amount=row["amount"],
    )


def capture(
    db: Database,
    cfg: TillConfig,
    *,
    doc_type: str,
    number: str,
    name: str,
    staff_id: int | None = None,
    now: datetime | None = None,
    key: bytes | None = None,
) -> IdCheck:
    """Record an identity check before a no-receipt return (R07).

    Validates the input (raises :class:`InvalidInput` in French, writing
    nothing), then stores the type, the last 4 characters, the keyed hash and
    the name. The number itself is dropped here and never stored.
    """
    dtype, normalised, clean_name = _validate(doc_type, number, name)
    secret = key if key is not None else load_secret(cfg)
    check = IdCheck(
        uuid=str(uuidlib.uuid4()), doc_type=dtype, last4=normalised[-4:],
        id_hash=id_hash(secret, normalised), name=clean_name, store_id=cfg.store_id,
        till_no=cfg.till_no, created_at=_iso(_now(now)), staff_id=staff_id,
    )
    with atomic(db):
        db.execute(
            "INSERT INTO id_checks(uuid, doc_type, last4, id_hash, name, store_id, till_no, "
            "staff_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [check.uuid, check.doc_type.value, check.last4, check.id_hash, check.name,
             check.store_id, check.till_no, check.staff_id, check.created_at],
        )
    return check


def get_check(db: Database, check_uuid: str) -> IdCheck:
    rows = list(db.query("SELECT * FROM id_checks WHERE uuid = ?", [check_uuid]))
    if not rows:
        raise NotFound(
            _("This identity check no longer exists (purged or cancelled)."), code="id_check"
        )
    return _row_to_check(rows[0])


def link_ticket(
    db: Database,
    check_uuid: str,
    *,
    ticket_uuid: str,
    amount: int,
    now: datetime | None = None,
) -> IdCheck:
    """The no-receipt return was refunded: tie the check to its ticket and count it.

    Call it inside the transaction that commits the ticket (it nests), so that
    a committed no-receipt return is always counted for R19. Idempotent.
    """
    if amount < 0:
        raise InvalidInput(_("A refunded amount cannot be negative."), code="amount")
    with atomic(db):
        check = get_check(db, check_uuid)
        if check.status == "refunded":
            if check.ticket_uuid == ticket_uuid:
                return check
            # One identity check, one refunded return: reused, R19 would miss a return.
            raise Conflict(
                _("This identity check was already used for another return: record the "
                  "customer's ID document again."),
                code="id_check_used",
            )
        if check.status == "refused":  # a manager's refusal is final (issue 12 guards)
            raise Conflict(
                _("A manager refused the return for this identity check: record the "
                  "customer's ID document again for a new decision."),
                code="id_check_refused",
            )
        moment = _iso(_now(now))
        db.execute(
            "UPDATE id_checks SET status = 'refunded', ticket_uuid = ?, amount = ?, "
            "decided_at = ? WHERE uuid = ?",
            [ticket_uuid, amount, moment, check_uuid],
        )
        db.execute(
            "INSERT INTO id_ledger(uuid, id_hash, amount, store_id, till_no, created_at, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, 'local') ON CONFLICT(uuid) DO NOTHING",
            [check.uuid, check.id_hash, amount, check.store_id, check.till_no, moment],
        )
    return get_check(db, check_uuid)


def link_committed(db: Database, ticket: Any, *, now: datetime | None = None) -> IdCheck | None:
    """Link the ID check named by a committed ticket's request (``id_check_uuid``).

    For the ticket writer (inside its transaction) or, failing that, the till
    right after the commit; idempotent. Returns None for a ticket without ID check.
    """
    request = ticket.plan.request
    check_uuid = getattr(request, "id_check_uuid", "")
    if not check_uuid:
        return None
    return link_ticket(
        db, check_uuid, ticket_uuid=ticket.uuid, amount=ticket.plan.refund_total, now=now
    )


def mark_refused(db: Database, check_uuid: str, *, now: datetime | None = None) -> IdCheck:
    """The manager refused the no-receipt return: keep the check (evidence of the
    decision, until the purge), not counted as a refund."""
    with atomic(db):
        check = get_check(db, check_uuid)
        if check.status == "refunded":
            raise InvalidInput(
                _("This return was already refunded; it cannot be refused now."), code="status"
            )
        db.execute(
            "UPDATE id_checks SET status = 'refused', decided_at = ? WHERE uuid = ?",
            [_iso(_now(now)), check_uuid],
        )
    return get_check(db, check_uuid)


def discard(db: Database, check_uuid: str) -> bool:
    """The salesperson cancelled before any decision: nothing is kept."""
    with atomic(db):
        cur = db.execute(
            "DELETE FROM id_checks WHERE uuid = ? AND status = 'pending'", [check_uuid]
        )
    return cur.rowcount > 0


# --------------------------------------------------------------------------- R19


def history(
    db: Database,
    id_hash: str,
    *,
    now: datetime | None = None,
    window_days: int = 365,
) -> tuple[int, int]:
    """R19: (count, amount in cents) of the no-receipt refunds of this identity,
    chain-wide, in the rolling window of ``window_days`` before ``now``.

    A refund exactly ``window_days`` old has left the window; one a second
    younger is still in it.
    """
    cutoff = _iso(_now(now) - timedelta(days=window_days))
    row = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM id_ledger "
        "WHERE id_hash = ? AND created_at > ?",
        [id_hash, cutoff],
    ).fetchone()
    return int(row[0]), int(row[1])


def classify_history(
    count: int, amount: int, policy: PolicyConfig, *, current_amount: int = 0
) -> HistoryLevel:
    """R19 level from the earlier no-receipt refunds of an identity.

    ``refuse`` from ``no_receipt_refuse_count`` refunds or when their total plus
    ``current_amount`` (the return being made) reaches ``no_receipt_refuse_amount``;
    ``manager`` from ``no_receipt_manager_count``; ``warn`` from
    ``no_receipt_warn_count``; otherwise ``ok``. The same thresholds as the policy
    engine's R19 reason (:mod:`pos_returns.engine.policy`), which decides; this level only
    lets the till warn as soon as the ID is captured.
    """
    if count >= policy.no_receipt_refuse_count or (
        amount + current_amount >= policy.no_receipt_refuse_amount
    ):
        return HistoryLevel.REFUSE
    if count >= policy.no_receipt_manager_count:
        return HistoryLevel.MANAGER
    if count >= policy.no_receipt_warn_count:
        return HistoryLevel.WARN
    return HistoryLevel.OK


def history_for(
    db: Database, check: IdCheck, policy: PolicyConfig, *, now: datetime | None = None
) -> History:
    """The R19 history of the identity of ``check`` (its own return not included)."""
    count, amount = history(db, check.id_hash, now=now, window_days=policy.no_receipt_window_days)
    return History(count=count, amount=amount, level=classify_history(count, amount, policy))


# --------------------------------------------------------------------------- purge


def purge(db: Database, cfg: TillConfig, *, now: datetime | None = None) -> int:
    """Delete ID data past retention; return the number of rows deleted.

    Deletes identity checks and ledger rows older than
    ``cfg.policy.id_retention_months`` months, and captures still undecided after
    24 hours (abandoned). Journals a ``privacy_purge`` technical event (counts
    only, no personal data) when the fiscal journal is available. The fiscal
    tables are not touched, so the journal still verifies.
    """
    moment = _now(now)
    if moment > datetime.now(UTC) + PURGE_CLOCK_SLACK:
        # a purge "as of" a later date would delete history still within its retention
        raise InvalidInput(
            _("A purge cannot be dated after today: check the date (--now) and the "
              "till's clock."),
            code="date",
        )
    cutoff = _iso(months_before(moment, cfg.policy.id_retention_months))
    stale = _iso(moment - PENDING_MAX_AGE)
    purge_id = str(uuidlib.uuid4())
    db.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten with zeros
    with atomic(db):
        # the guards let the history go only past a cutoff granted here and signed below
        # (cache/schema/idcheck.py m002; journal verify matches the two)
        db.execute(
            "INSERT INTO id_deletions(purge_id, kind, cutoff, created_at) "
            "VALUES (?, 'retention', ?, ?)", [purge_id, cutoff, _iso(moment)],
        )
        checks = db.execute("DELETE FROM id_checks WHERE created_at < ?", [cutoff]).rowcount
        pending = db.execute(
            "DELETE FROM id_checks WHERE status = 'pending' AND created_at < ?", [stale]
        ).rowcount
        ledger = db.execute("DELETE FROM id_ledger WHERE created_at < ?", [cutoff]).rowcount
        total = checks + pending + ledger
        _journal_purge(
            db, cfg, now=moment,
            payload={"purge_id": purge_id, "cutoff": cutoff, "id_checks": checks + pending,
                     "id_ledger": ledger},
        )
    if total:
        # Overwrite the freed pages and fold the WAL back, so deleted data does
        # not linger in the files.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return total


def _journal_purge(db: Database, cfg: TillConfig, *, now: datetime, payload: dict) -> None:
    record_event(db, cfg, "privacy_purge", payload, now=now)


# --------------------------------------------------------------------------- HQ sync


LEDGER_FIELDS = ("uuid", "id_hash", "amount", "store_id", "till_no", "created_at")


def ledger_rows_since(
    db: Database, cursor: int = 0, *, limit: int = 1000, origin: str = "local"
) -> list[dict[str, Any]]:
    """Ledger rows after ``cursor`` (their ``seq``), oldest first, for HQ push.

    Each row is a dict of :data:`LEDGER_FIELDS` plus ``seq``; the next cursor is
    the last row's ``seq``. ``origin="local"`` (default) gives this till's own
    rows; ``origin=""`` gives every row.
    """
    where = "seq > ?"
    params: list[Any] = [cursor]
    if origin:
        where += " AND origin = ?"
        params.append(origin)
    rows = db.execute(
        f"SELECT seq, {', '.join(LEDGER_FIELDS)} FROM id_ledger WHERE {where} "
        "ORDER BY seq LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [dict(zip(("seq", *LEDGER_FIELDS), r, strict=True)) for r in rows]


def insert_ledger_rows(
    db: Database, rows: Iterable[Mapping[str, Any]], *, origin: str = "hq"
) -> int:
    """Store ledger rows pulled from HQ (idempotent by ``uuid``); return how many were new.

    Rows older than the retention are still accepted here; the next purge removes them.
    """
    inserted = 0
    with atomic(db):
        for row in rows:
            missing = [f for f in LEDGER_FIELDS if f not in row]
            if missing:
                raise InvalidInput(
                    _("A ledger row from HQ lacks {fields}.").format(fields=", ".join(missing)),
                    code="id_ledger",
                )
            cur = db.execute(
                "INSERT INTO id_ledger(uuid, id_hash, amount, store_id, till_no, created_at, "
                "origin) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(uuid) DO NOTHING",
                [str(row["uuid"]), str(row["id_hash"]), int(row["amount"]),
                 int(row["store_id"]), int(row["till_no"]), str(row["created_at"]), origin],
            )
            inserted += cur.rowcount
    return inserted


def ledger_for_hash(db: Database, id_hash: str) -> Sequence[dict[str, Any]]:
    """Every ledger row of one identity, newest first (manager review, access requests)."""
    rows = db.execute(
        "SELECT uuid, amount, store_id, till_no, created_at, origin FROM id_ledger "
        "WHERE id_hash = ? ORDER BY created_at DESC",
        [id_hash],
    ).fetchall()
    keys = ("uuid", "amount", "store_id", "till_no", "created_at", "origin")
    return [dict(zip(keys, r, strict=True)) for r in rows]
