"""The till's key folder as one set: created once, backed up encrypted, restored (issue 12).

The folder of ``TillConfig.key_path`` (mode 0700) holds the till's secrets, never
the cache: the journal's Ed25519 private key, its pinned public key (``.pub``), the
chain's ID-hash key (``id_hmac.key``), the chain's PIN pepper (``pin_pepper.key``,
:mod:`pos_returns.journal.pins`), the last head HQ anchored (``head-anchor.json``) and
the till's own head after its last commit (``journal-head.json``,
:mod:`pos_returns.journal.head`).

The two chain secrets are the same at every till of the chain: the first till (or
the chain's IT) makes them, ``pos-returns keys export-chain --out FILE`` writes them
encrypted, and ``pos-returns keys import-chain FILE`` installs them on the next
till before its ``keys init``. ``pos-returns keys init`` creates them once; a key that
goes missing afterwards is never recreated silently (a new ID-hash key would
reset every identity's history, R19; a new journal key would fork the chain):
the till stops with a French message that says to restore the backup
(``pos-returns keys restore FILE``).

A backup is one file: ``ALAMARA-KEYS-1`` + a random salt + a nonce + the
AES-256-GCM encryption (key derived from a passphrase with scrypt) of a JSON
object {file role: content in base64}. A chain export is the same with
``ALAMARA-CHAIN-1`` and the chain secrets only.
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
from pos_returns.journal.head import HEAD_FILE, write_initial
from pos_returns.journal.keys import (
    ID_KEY_FILE,
    _create_key,
    create_id_key,
    forget_cached_signers,
    load_signer,
    public_path,
)
from pos_returns.journal.pins import PEPPER_FILE, create_pepper, read_pepper

if TYPE_CHECKING:
    from pos_returns.config import TillConfig

MAGIC = b"ALAMARA-KEYS-1\n"
CHAIN_MAGIC = b"ALAMARA-CHAIN-1\n"
MIN_PASSPHRASE = 12
CHAIN_ROLES = ("id_key", "pin_pepper")  # the same file at every till of the chain


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
        "pin_pepper": key.parent / PEPPER_FILE,
        "anchor": key.parent / ANCHOR_FILE,
        "head": key.parent / HEAD_FILE,
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
    """``pos-returns keys init``: create the till's keys, once. The chain secrets
    already installed (``keys import-chain``) are kept; the missing ones are made
    (the first till of a chain)."""
    files = key_files(cfg)
    present = [files[r] for r in ("journal_key", "journal_pub") if files[r].exists()]
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
    create_pepper(files["pin_pepper"])
    read_pepper(files["pin_pepper"])  # a damaged one stops here, not at the first login
    for role in ("head", "anchor"):  # left by another key set: they mean nothing now
        files[role].unlink(missing_ok=True)
    write_initial(files["journal_key"], signer)
    return KeySet(files["journal_key"].parent, signer.fingerprint,
                  tuple(p for p in files.values() if p.exists()))


def _derive(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise InvalidInput(
            _("The backup passphrase needs at least {count} characters.").format(
                count=MIN_PASSPHRASE),
            code="passphrase",
        )


def _seal(out: Path | str, magic: bytes, content: dict[str, str], passphrase: str) -> Path:
    """Write ``content`` encrypted with the passphrase (scrypt + AES-256-GCM), 0600."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_derive(passphrase, salt)).encrypt(
        nonce, json.dumps(content, sort_keys=True).encode("utf-8"), magic)
    out = Path(out).expanduser()
    if out.exists():
        raise Conflict(_("{path} already exists: choose another file.").format(path=out),
                       code="exists")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, magic + salt + nonce + sealed)
        os.fsync(fd)
    finally:
        os.close(fd)
    return out


def _unseal(path: Path | str, magic: bytes, passphrase: str, roles: set[str],
            required: str) -> dict[str, bytes]:
    """The files of a backup or chain export, checked: {role: content}."""
    not_ours = InvalidInput(_("{path} is not a backup of a till's keys.").format(path=path),
                            code="backup")
    data = Path(path).expanduser().read_bytes()
    if not data.startswith(magic) or len(data) < len(magic) + 28:
        raise not_ours
    body = data[len(magic):]
    salt, nonce, sealed = body[:16], body[16:28], body[28:]
    try:
        plain = AESGCM(_derive(passphrase, salt)).decrypt(nonce, sealed, magic)
    except InvalidTag:
        raise InvalidInput(_("Wrong passphrase, or a damaged backup file."),
                           code="passphrase") from None
    content = json.loads(plain)
    if not isinstance(content, dict) or required not in content or set(content) - roles:
        raise not_ours
    return {role: base64.b64decode(b64) for role, b64 in content.items()}


def _install(files: dict[str, Path], content: dict[str, bytes]) -> list[Path]:
    """Write the files not there yet. A chain secret already there with the same
    content is kept; any other file already there stops everything (never
    overwritten: a different key would fork the chain or orphan every PIN)."""
    todo = {}
    for role, data in content.items():
        target = files[role]
        if target.exists():
            if role in CHAIN_ROLES and target.read_bytes() == data:
                continue
            raise Conflict(
                _("{path} already exists: the till's keys are not overwritten by a "
                  "restore.").format(path=target),
                code="keys_exist",
            )
        todo[role] = data
    for role, data in sorted(todo.items()):
        _write_private(files[role], data)
    return [files[r] for r in sorted(todo)]


def _b64_files(files: dict[str, Path], roles: tuple[str, ...] | None = None) -> dict[str, str]:
    return {role: base64.b64encode(p.read_bytes()).decode("ascii")
            for role, p in files.items() if p.exists() and (roles is None or role in roles)}


def backup_keys(cfg: TillConfig, out: Path | str, passphrase: str) -> Path:
    """``pos-returns keys backup --out FILE``: every key file, encrypted with the
    passphrase (scrypt + AES-256-GCM), written 0600."""
    _check_passphrase(passphrase)
    files = key_files(cfg)
    if not files["journal_key"].exists():
        raise ConfigError(
            _("There are no keys to back up in {folder}: create them with pos-returns keys "
              "init.").format(folder=files["journal_key"].parent),
            code="key_missing",
        )
    return _seal(out, MAGIC, _b64_files(files), passphrase)


def restore_keys(cfg: TillConfig, backup: Path | str, passphrase: str) -> KeySet:
    """``pos-returns keys restore FILE``: bring the key files back from a backup. Keys
    already present are never overwritten (a till that still has its keys does not
    need them, and a different key would fork its chain)."""
    files = key_files(cfg)
    content = _unseal(backup, MAGIC, passphrase, set(files), "journal_key")
    # the heads kept beside the keys: one still there is newer than the backup's, kept
    content = {role: data for role, data in content.items()
               if role not in ("anchor", "head") or not files[role].exists()}
    written = _install(files, content)
    public = public_path(cfg.key_path)
    if public.exists():
        os.chmod(public, 0o644)
    forget_cached_signers()
    signer = load_signer(cfg.key_path, create=False)
    return KeySet(files["journal_key"].parent, signer.fingerprint, tuple(written))


def export_chain(cfg: TillConfig, out: Path | str, passphrase: str) -> Path:
    """``pos-returns keys export-chain --out FILE``: the chain's secrets (ID-hash key,
    PIN pepper), encrypted, for the chain's next till or HQ's staff tooling."""
    _check_passphrase(passphrase)
    files = key_files(cfg)
    missing = [files[r] for r in CHAIN_ROLES if not files[r].exists()]
    if missing:
        raise ConfigError(
            _("The chain's secret {path} is not on this till: export the chain's secrets "
              "from a till that has them.").format(path=missing[0]),
            code="key_missing",
        )
    read_pepper(files["pin_pepper"])
    return _seal(out, CHAIN_MAGIC, _b64_files(files, CHAIN_ROLES), passphrase)


def import_chain(cfg: TillConfig, path: Path | str, passphrase: str) -> tuple[Path, ...]:
    """``pos-returns keys import-chain FILE``: install the chain's secrets (before
    ``keys init`` on a new till, or on a till that lacks the PIN pepper). Returns
    the files written (none when the same secrets were already there)."""
    files = key_files(cfg)
    content = _unseal(path, CHAIN_MAGIC, passphrase, set(CHAIN_ROLES), "pin_pepper")
    written = _install(files, content)
    forget_cached_signers()
    read_pepper(files["pin_pepper"])
    return tuple(written)
