"""The yearly archive of a till's journal (``journal export --year``) and its verification."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.errors import IntegrityFailure
from pos_returns.i18n import _
from pos_returns.journal.chain import Journal
from pos_returns.journal.keys import Signer, public_key_from_hex, verify_signature
from pos_returns.journal.records import (
    _PHASH,
    _PSIG,
    _SEQ,
    FORMAT_VERSION,
    RECORD_KINDS,
    _local_midnight_utc,
)
from pos_returns.journal.verify import BrokenRecord, VerifyReport, _reason_message, _verify_chain

# --------------------------------------------------------------------------- export


CSV_COLUMNS = (
    "store_id", "till_no", "seq", "kind", "created_at", "ticket_uuid", "key_id",
    "prev_hash", "prev_signature", "signature", "payload",
)


def archive_schema(year: int) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Alamara Retours fiscal journal archive {year}",
        "description": (
            "One CSV row per journal record (RFC 4180, UTF-8, comma separated, header row). "
            "The bytes a record's signature covers are the canonical JSON (sorted keys, no "
            "spaces, UTF-8) of the object {at, key, kind, payload, prev_hash, prev_sig, seq, "
            "store, ticket, till, v} built from the columns created_at, key_id, kind, payload "
            "(already canonical JSON, embedded as is), prev_hash, prev_signature, seq, store_id, "
            "ticket_uuid, till_no and v = 1. signature is Ed25519 over those bytes (hex); "
            "prev_signature is the previous record's signature and prev_hash the SHA-256 (hex) "
            "of the previous record's bytes. The file <csv>.sig holds the Ed25519 signature "
            "(hex) of the CSV file's bytes; the .pem file is the public key."
        ),
        "format_version": FORMAT_VERSION,
        "csv_columns": list(CSV_COLUMNS),
        "type": "object",
        "required": list(CSV_COLUMNS),
        "properties": {
            "store_id": {"type": "integer", "description": "store number"},
            "till_no": {"type": "integer", "description": "till number in the store"},
            "seq": {"type": "integer", "minimum": 1, "description": "gap-free per till"},
            "kind": {
                "type": "string",
                "enum": sorted(RECORD_KINDS),
                "description": "ticket, duplicate (DUPLICATA reprint), closure, or an event",
            },
            "created_at": {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SSZ"},
            "ticket_uuid": {"type": "string", "description": "the return ticket, or empty"},
            "key_id": {"type": "string", "description": "first 16 hex of SHA-256(public key)"},
            "prev_hash": {"type": "string", "pattern": "^([0-9a-f]{64})?$"},
            "prev_signature": {"type": "string", "pattern": "^([0-9a-f]{128})?$"},
            "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
            "payload": {"type": "string", "description": "canonical JSON of the record body"},
        },
    }


@dataclass(frozen=True, slots=True)
class ExportResult:
    csv_path: Path
    schema_path: Path
    signature_path: Path
    public_key_path: Path
    records: int
    sha256: str


def export_year(
    db: Database, year: int, out_dir: Path | str, *, signer: Signer,
    journal: Journal | None = None,
) -> ExportResult:
    """Write the yearly archive of every chain in the cache: CSV of the records
    of ``year`` (store local time), its JSON schema, a detached Ed25519
    signature of the CSV bytes and the public key. When ``journal`` is given,
    the archive itself is journaled (kind ``archive``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = _local_midnight_utc(date(year, 1, 1))
    end = _local_midnight_utc(date(year + 1, 1, 1))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in db.execute(
        "SELECT store_id, till_no, seq, kind, created_at, ticket_uuid, key_id, prev_hash, "
        "prev_signature, signature, payload FROM journal WHERE created_at >= ? AND "
        "created_at < ? ORDER BY store_id, till_no, seq",
        [start, end],
    ):
        writer.writerow(row)
        count += 1
    data = buf.getvalue().encode("utf-8")
    stem = f"journal-{year}"
    csv_path = out / f"{stem}.csv"
    schema_path = out / f"{stem}.schema.json"
    sig_path = out / f"{stem}.csv.sig"
    pem_path = out / f"{stem}.pub.pem"
    csv_path.write_bytes(data)
    schema = archive_schema(year)
    schema["public_keys"] = {
        r[0]: r[1] for r in db.execute("SELECT key_id, public_key FROM journal_keys ORDER BY 1")
    }
    schema["archive_key_id"] = signer.key_id
    schema_path.write_text(
        json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    sig_path.write_text(signer.sign(data) + "\n", encoding="ascii")
    pem_path.write_text(signer.public_pem(), encoding="ascii")
    digest = hashlib.sha256(data).hexdigest()
    if journal is not None:
        journal.event(
            "archive", {"year": year, "records": count, "sha256": digest, "file": csv_path.name}
        )
    return ExportResult(csv_path, schema_path, sig_path, pem_path, count, digest)


def verify_archive(directory: Path | str, year: int) -> VerifyReport:
    """Check an archive written by :func:`export_year` without the cache: the
    detached signature of the CSV, then every chain in it (links, and the
    signatures of every record)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    started = time.perf_counter()
    d = Path(directory)
    stem = f"journal-{year}"
    data = (d / f"{stem}.csv").read_bytes()
    pub = serialization.load_pem_public_key((d / f"{stem}.pub.pem").read_bytes())
    assert isinstance(pub, Ed25519PublicKey)
    sig = (d / f"{stem}.csv.sig").read_text(encoding="ascii").strip()
    if not verify_signature(pub, data, sig):
        raise IntegrityFailure(
            _("The archive file does not match its signature: it was altered."),
            code="archive_signature",
        )
    schema = json.loads((d / f"{stem}.schema.json").read_text(encoding="utf-8"))
    keys = {k: public_key_from_hex(v) for k, v in schema["public_keys"].items()}
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    if tuple(header) != CSV_COLUMNS:
        raise IntegrityFailure(_("The archive's columns are not the expected ones."))
    by_chain: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for rec in reader:
        store, till, seq = int(rec[0]), int(rec[1]), int(rec[2])
        row = (None, store, till, seq, rec[3], rec[4], rec[5], rec[6], rec[10], rec[7], rec[8],
               rec[9])
        by_chain.setdefault((store, till), []).append(row)
    total = 0
    for (store, till), rows in sorted(by_chain.items()):
        first_seq = int(rows[0][_SEQ])
        index = {int(r[_SEQ]): r for r in rows}
        count, _last, broken = _verify_chain(
            rows, keys, full=True, fetch=index.get, first_expected=first_seq,
            first_prev=(rows[0][_PHASH], rows[0][_PSIG]) if first_seq > 1 else None,
        )
        total += count
        if broken is not None:
            seq, reason, _rid = broken
            return VerifyReport(
                ok=False, records=total, chains=len(by_chain),
                seconds=time.perf_counter() - started, full=True,
                broken=BrokenRecord(store, till, seq, None, reason, _reason_message(reason, seq)),
            )
    return VerifyReport(
        ok=True, records=total, chains=len(by_chain), seconds=time.perf_counter() - started,
        full=True,
    )


