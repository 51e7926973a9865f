"""The till's signing key: an Ed25519 private key in a PEM file outside the cache.

The private key never enters the database; the public key does (table
``journal_keys``), so anyone holding the cache can *verify* the fiscal journal
but only the till holding the key file can *extend* it.

The key file is created on first use with mode 0600 in a directory of mode
0700, atomically (written to a temporary file, then hard-linked into place, so
two processes starting at once agree on one key). A key file readable by group
or others is refused: it may have been copied.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pos_returns.errors import ConfigError
from pos_returns.i18n import _
from pos_returns.journal.head import write_initial
from pos_returns.journal.pins import (
    Pepper,
    create_pepper,
    forget_cached_peppers,
    load_pepper,
    pepper_path,
    write_secret_once,
)

_CACHE: dict[str, Signer] = {}
_LOCK = threading.Lock()


def key_id_of(public_raw: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def fingerprint_of(public_raw: bytes) -> str:
    """The public key's fingerprint: its whole SHA-256, in hex (printed on every Z,
    sent to HQ with the chain head, kept in the ``.pub`` file beside the key)."""
    return hashlib.sha256(public_raw).hexdigest()


def format_fingerprint(fingerprint: str) -> str:
    """``3edb 687e 22e1 …``: groups of four, for paper and screens."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4))


@dataclass(frozen=True, slots=True)
class PinnedKey:
    """The till's public key as pinned in the ``.pub`` file beside the private key."""

    public_hex: str
    path: Path

    @property
    def public_raw(self) -> bytes:
        return bytes.fromhex(self.public_hex)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_raw)


def public_path(key_path: Path | str) -> Path:
    """Where the pinned public key lives: beside the private key, ``.pub``."""
    return Path(key_path).expanduser().with_suffix(".pub")


def _public_text(public_pem: str, fingerprint: str) -> str:
    return (
        "# Alamara Retours: the public key of this till's fiscal journal (pinned).\n"
        f"# fingerprint SHA-256: {fingerprint}\n{public_pem}"
    )


def write_public(key_path: Path | str, signer: Signer) -> Path:
    """Pin ``signer``'s public key beside the key file (atomically, mode 0644)."""
    path = public_path(key_path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _public_text(signer.public_pem(), signer.fingerprint).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never overwrites a pin already there
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_public(path: Path | str) -> PinnedKey:
    """The public key pinned in ``path`` (a ``.pub`` file, or any PEM public key)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="ascii")
        start = text.index("-----BEGIN PUBLIC KEY-----")
        key = serialization.load_pem_public_key(text[start:].encode("ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("The pinned public key {path} cannot be read: restore it from the till's key "
              "backup (pos-returns keys restore).").format(path=path),
            code="key_pin",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(
            _("The pinned public key {path} is not an Ed25519 key.").format(path=path),
            code="key_pin",
        )
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PinnedKey(raw.hex(), path)


def load_pinned(key_path: Path | str) -> PinnedKey | None:
    """The public key pinned beside ``key_path``; None when there is none yet."""
    path = public_path(key_path)
    return read_public(path) if path.exists() else None


class Signer:
    """Signs journal records with the till's private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_raw: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id: str = key_id_of(self.public_raw)
        self.fingerprint: str = fingerprint_of(self.public_raw)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> str:
        """The Ed25519 signature of ``data``, in lower-case hex (128 digits)."""
        return self._key.sign(data).hex()

    @property
    def public_hex(self) -> str:
        return self.public_raw.hex()

    def public_pem(self) -> str:
        pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def derive_secret(self, label: str) -> bytes:
        """A 32-byte secret for ``label`` derived from the private key (HKDF-SHA256,
        RFC 5869, with ``label`` as its info).

        Used for keyed hashes that must not be computable from the cache alone
        (e.g. gift card security codes).
        """
        private_raw = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=label.encode("utf-8")).derive(private_raw)


def verify_signature(public_raw: bytes | Ed25519PublicKey, data: bytes, signature_hex: str) -> bool:
    """True when ``signature_hex`` is a valid Ed25519 signature of ``data``."""
    key = (
        public_raw
        if isinstance(public_raw, Ed25519PublicKey)
        else Ed25519PublicKey.from_public_bytes(public_raw)
    )
    try:
        key.verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_from_hex(public_hex: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))


def public_pem_from_hex(public_hex: str) -> str:
    """The PEM the till writes beside a raw public key (``journal_keys.public_pem``)."""
    pem = public_key_from_hex(public_hex).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def _read_key(path: Path) -> Signer:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            _(
                "The journal key {path} can be read by other users (mode {mode}). "
                "It may have been copied: restrict it to mode 0600 after checking it."
            ).format(path=path, mode=f"{mode:04o}"),
            code="key_mode",
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise ConfigError(
            _("The journal key {path} is not a valid private key.").format(path=path),
            code="key_invalid",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            _("The journal key {path} is not an Ed25519 key.").format(path=path),
            code="key_invalid",
        )
    return Signer(key)


def _create_key(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(parent, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic: fails if another process created the key first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_signer(path: Path | str, *, create: bool = True) -> Signer:
    """The till's signer, from the PEM file at ``path`` (created when missing and
    ``create`` is true). Cached per path for the life of the process."""
    path = Path(path).expanduser()
    cache_key = str(path.resolve()) if path.exists() else str(path.absolute())
    with _LOCK:
        cached = _CACHE.get(cache_key)
        if cached is not None and path.exists():
            return cached
        if not path.exists():
            if not create or key_set_started(path):
                # never recreated silently (issue 12): a new key would fork the chain
                raise ConfigError(missing_key_message(path), code="key_missing")
            # a till's first start, with no key at all: the whole set at once, as
            # `pos-returns keys init` makes it
            _create_key(path)
            create_id_key(path.parent / ID_KEY_FILE)
            create_pepper(pepper_path(path))
            created = True
        else:
            created = False
        signer = _read_key(path)
        _check_pin(path, signer)
        if created:  # the till's own head beside the keys, from the start (journal/head.py)
            write_initial(path, signer)
        _CACHE[str(path.resolve())] = signer
        return signer


def _check_pin(path: Path, signer: Signer) -> None:
    """The key file must be the key pinned beside it; the first load pins it."""
    pinned = load_pinned(path)
    if pinned is None:
        write_public(path, signer)
        return
    if pinned.public_hex != signer.public_hex:
        raise ConfigError(
            _(
                "The journal key {path} is not the key pinned beside it ({pub}): the key "
                "file was replaced. Restore the till's keys from their backup "
                "(pos-returns keys restore)."
            ).format(path=path, pub=pinned.path),
            code="key_pin",
        )


ID_KEY_FILE = "id_hmac.key"  # the chain's ID-hash key (pos_returns.usecases.idcheck)


def key_set_started(key_path: Path) -> bool:
    """True when this till's journal key was made already: its pinned public key is
    there. A missing key is then restored, never created. (The ID-hash key is the
    chain's: several tills' keys may share a folder with it.)"""
    return public_path(key_path).exists()


def create_id_key(path: Path) -> bool:
    """Create the chain's ID-hash secret (64 hex digits, 0600) unless it exists."""
    return write_secret_once(path, secrets.token_bytes(32))


def missing_key_message(path: Path | str) -> str:
    """What the till says when one of its keys is gone."""
    return _(
        "The till's key {path} is missing. Keys are never recreated silently: restore them "
        "from their backup (pos-returns keys restore FILE), or, for a new till only, create "
        "them once (pos-returns keys init)."
    ).format(path=path)


def forget_cached_signers() -> None:
    """Drop the per-process cache (tests that replace key files)."""
    with _LOCK:
        _CACHE.clear()
    forget_cached_peppers()


def till_pepper(key_path: Path | str) -> Pepper:
    """The chain's PIN pepper beside this till's journal key. A till's first start
    (no key at all yet) makes the whole key set at once, as :func:`load_signer`
    does; afterwards a missing pepper is never made again (ConfigError)."""
    path = Path(key_path).expanduser()
    if not pepper_path(path).exists() and not path.exists() and not key_set_started(path):
        load_signer(path)
    return load_pepper(path)
