"""The till's key folder as one set: created once, backed up encrypted, restored (issue 12).

The folder of ``TillConfig.key_path`` (mode 0700) holds the till's secrets, never
the cache: the journal's Ed25519 private key, its pinned public key (``.pub``), the
chain's ID-hash key (``id_hmac.key``) and the last head HQ anchored
(``head-anchor.json``). ``pos-returns keys init`` creates them once; a key that
goes missing afterwards is never recreated silently (a new ID-hash key would
reset every identity's history, R19; a new journal key would fork the chain):
the till stops with a French message that says to restore the backup
(``pos-returns keys restore FILE``).

A backup is one file: ``ALAMARA-KEYS-1`` + a random salt + a nonce + the
AES-256-GCM encryption (key derived from a passphrase with scrypt) of a JSON
object {file name: content in base64}.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pos_returns.errors import ConfigError, Conflict, InvalidInput
from pos_returns.i18n import _
from pos_returns.journal.anchor import ANCHOR_FILE
from pos_returns.journal.keys import (
    ID_KEY_FILE,
    _create_key,
    create_id_key,
    forget_cached_signers,
    load_signer,
    public_path,
)

if TYPE_CHECKING:
    from pos_returns.config import TillConfig

MAGIC = b"ALAMARA-KEYS-1\n"
MIN_PASSPHRASE = 12


@dataclass(frozen=True)
class KeySet:
    folder: Path
    fingerprint: str
    files: tuple[Path, ...]


def key_files(cfg: TillConfig) -> dict[str, Path]:
    """The till's key files by role."""
    key = Path(cfg.key_path).expanduser()
    return {
        "journal_key": key,
        "journal_pub": public_path(key),
        "id_key": key.parent / ID_KEY_FILE,
        "anchor": key.parent / ANCHOR_FILE,
    }


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def init_keys(cfg: TillConfig) -> KeySet:
    """``pos-returns keys init``: create the till's keys, once."""
    files = key_files(cfg)
    present = [p for role, p in files.items() if role != "anchor" and p.exists()]
    if present:
        raise Conflict(
            _("The till's keys already exist ({path}): they are created only once. To bring "
              "back a backup, use pos-returns keys restore.").format(path=present[0]),
            code="keys_exist",
        )
    files["journal_key"].parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(files["journal_key"].parent, 0o700)
    _create_key(files["journal_key"])
    signer = load_signer(files["journal_key"])  # pins the .pub
    create_id_key(files["id_key"])
    return KeySet(files["journal_key"].parent, signer.fingerprint,
                  tuple(p for p in files.values() if p.exists()))


def _derive(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


def backup_keys(cfg: TillConfig, out: Path | str, passphrase: str) -> Path:
    """``pos-returns keys backup --out FILE``: every key file, encrypted with the
    passphrase (scrypt + AES-256-GCM), written 0600."""
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise InvalidInput(
            _("The backup passphrase needs at least {count} characters.").format(
                count=MIN_PASSPHRASE),
            code="passphrase",
        )
    files = key_files(cfg)
    if not files["journal_key"].exists():
        raise ConfigError(
            _("There are no keys to back up in {folder}: create them with pos-returns keys "
              "init.").format(folder=files["journal_key"].parent),
            code="key_missing",
        )
    content = {role: base64.b64encode(p.read_bytes()).decode("ascii")
               for role, p in files.items() if p.exists()}
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_derive(passphrase, salt)).encrypt(
        nonce, json.dumps(content, sort_keys=True).encode("utf-8"), MAGIC)
    out = Path(out).expanduser()
    if out.exists():
        raise Conflict(_("{path} already exists: choose another file.").format(path=out),
                       code="exists")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, MAGIC + salt + nonce + sealed)
        os.fsync(fd)
    finally:
        os.close(fd)
    return out


def restore_keys(cfg: TillConfig, backup: Path | str, passphrase: str) -> KeySet:
    """``pos-returns keys restore FILE``: bring the key files back from a backup. Keys
    already present are never overwritten (a till that still has its keys does not
    need them, and a different key would fork its chain)."""
    data = Path(backup).expanduser().read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 28:
        raise InvalidInput(_("{path} is not a backup of a till's keys.").format(path=backup),
                           code="backup")
    body = data[len(MAGIC):]
    salt, nonce, sealed = body[:16], body[16:28], body[28:]
    try:
        plain = AESGCM(_derive(passphrase, salt)).decrypt(nonce, sealed, MAGIC)
    except InvalidTag:
        raise InvalidInput(_("Wrong passphrase, or a damaged backup file."),
                           code="passphrase") from None
    content: dict[str, str] = json.loads(plain)
    files = key_files(cfg)
    if not isinstance(content, dict) or "journal_key" not in content or set(content) - set(files):
        raise InvalidInput(_("{path} is not a backup of a till's keys.").format(path=backup),
                           code="backup")
    for role in content:
        if files[role].exists():
            raise Conflict(
                _("{path} already exists: the till's keys are not overwritten by a "
                  "restore.").format(path=files[role]),
                code="keys_exist",
            )
    written = []
    for role, b64 in sorted(content.items()):
        _write_private(files[role], base64.b64decode(b64))
        written.append(files[role])
    folder = files["journal_key"].parent
    public = public_path(cfg.key_path)
    if public.exists():
        os.chmod(public, 0o644)
    forget_cached_signers()
    signer = load_signer(cfg.key_path, create=False)
    return KeySet(folder, signer.fingerprint, tuple(written))
