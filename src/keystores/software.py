"""DEVELOPMENT ONLY: an L1 keystore whose keys live in this process (and optionally in a local file).

This driver exists so that ``openkcm dev`` and the test suites have a customer "KMS" without a
cloud account or an HSM. It defeats the purpose of OpenKCM in production: the L1 key is meant to
be held by the customer, outside the platform, and here it sits beside the keys it protects.
Constructing one logs a warning saying so.

Invariants:
- Keys are AES-256, generated from the OS CSPRNG, held in ``bytearray``s that are zeroized when a
  key is deleted and when the keystore is closed. (AESGCM objects copy the key into OpenSSL for
  the duration of one call; that copy is outside our control.)
- Ciphertext is the ``keystores.envelope`` format with magic ``OKSW``: AES-256-GCM, a fresh
  12-byte random nonce per encrypt, associated data = header (magic, version, key id) followed
  by the canonical encryption context. Decrypt with any other key id or context fails with
  ``KeystoreDecryptFailed``.
- Key states follow AWS KMS's rules, so kill-switch tests read the same against every driver:
  enabled; disabled (refuses encrypt, decrypt, validate); pending deletion (refuses likewise;
  cancelling returns the key to disabled); deleted (gone, material zeroized).
- With ``data_dir`` the keys are also written to ``<data_dir>/dev-l1-keys.json``, created with
  mode 0600 and replaced atomically; a file readable or writable by anyone but its owner is
  refused on load. The file holds the raw dev L1 keys (base64): it is a dev convenience for
  surviving restarts, NOT a production key store.
- Encrypt and decrypt are in-memory AES on at most a few KiB, so they run on the event loop;
  the admin methods (create, disable, ...) are synchronous and write the file when persisted.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import stat
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keystores import envelope
from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreRequestInvalid,
    KeystoreUnavailable,
)
from keystores.request import (
    DEFAULT_REQUEST_LIMITS,
    RequestLimits,
    canonical_context,
    check_ciphertext,
    check_plaintext,
)
from keystores.settings import SettingsReader

MAGIC = b"OKSW"
KEY_SIZE = 32
KEY_FILE_NAME = "dev-l1-keys.json"
FILE_FORMAT = "openkcm-dev-l1-keystore"
FILE_VERSION = 1
SETTINGS = ("data_dir",)

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_PERSISTED_STATES = {
    status.value: status for status in (KeyStatus.ENABLED, KeyStatus.DISABLED, KeyStatus.PENDING_DELETION)
}


@dataclass(slots=True)
class _DevKey:
    material: bytearray = field(repr=False)
    status: KeyStatus

    def wipe(self) -> None:
        self.material[:] = bytes(len(self.material))
        self.material.clear()


class SoftwareKeystore(Keystore):
    """DEVELOPMENT ONLY: AES-256-GCM under keys held in process memory (optionally a 0600 file)."""

    kind = "software"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
    ) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._keys: dict[str, _DevKey] = {}
        self._closed = False
        self._path = Path(data_dir) / KEY_FILE_NAME if data_dir is not None else None
        logging.getLogger(__name__).warning(
            "SoftwareKeystore is for DEVELOPMENT ONLY: L1 keys are held by this process%s, not by the "
            "customer. Never use it in production.",
            f" and stored in {self._path}" if self._path else "",
        )
        if self._path is not None:
            _prepare_directory(self._path.parent)
            if self._path.exists():
                self._keys = _load(self._path)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> SoftwareKeystore:
        reader = SettingsReader(cls.kind, settings, SETTINGS)
        return cls(reader.text("data_dir"))

    @property
    def path(self) -> Path | None:
        """The key file when persisted, else None."""
        return self._path

    # -- the customer's console (admin operations, synchronous) ------------------------------

    def create_key(self, key_id: str | None = None) -> str:
        """Generate a new enabled AES-256 key and return its id (``dev-<uuid>`` unless given)."""
        key_id = key_id if key_id is not None else f"dev-{uuid.uuid4()}"
        envelope.header_for(MAGIC, key_id)  # validates the id's size
        material = bytearray(KEY_SIZE)
        material[:] = secrets.token_bytes(KEY_SIZE)
        with self._lock:
            self._check_open()
            if key_id in self._keys:
                material[:] = bytes(KEY_SIZE)
                raise KeystoreRequestInvalid("a key with this id already exists")
            self._keys[key_id] = _DevKey(material, KeyStatus.ENABLED)
            self._persist()
        return key_id

    def disable_key(self, key_id: str) -> None:
        self._transition(key_id, {KeyStatus.ENABLED, KeyStatus.DISABLED}, KeyStatus.DISABLED)

    def enable_key(self, key_id: str) -> None:
        self._transition(key_id, {KeyStatus.ENABLED, KeyStatus.DISABLED}, KeyStatus.ENABLED)

    def schedule_deletion(self, key_id: str) -> None:
        """Mark the key pending deletion (unusable); ``delete_key`` then removes it for good."""
        self._transition(
            key_id,
            {KeyStatus.ENABLED, KeyStatus.DISABLED, KeyStatus.PENDING_DELETION},
            KeyStatus.PENDING_DELETION,
        )

    def cancel_deletion(self, key_id: str) -> None:
        """Like AWS KMS: a key rescued from pending deletion comes back disabled."""
        self._transition(key_id, {KeyStatus.PENDING_DELETION}, KeyStatus.DISABLED)

    def delete_key(self, key_id: str) -> None:
        """Remove the key at once and zeroize its material."""
        with self._lock:
            self._check_open()
            key = self._keys.pop(key_id, None)
            if key is None:
                raise KeyNotFound("key not found")
            key.wipe()
            self._persist()

    def _transition(self, key_id: str, allowed_from: set[KeyStatus], to: KeyStatus) -> None:
        with self._lock:
            self._check_open()
            key = self._keys.get(key_id)
            if key is None:
                raise KeyNotFound("key not found")
            if key.status not in allowed_from:
                raise KeyDisabled(f"key is {key.status.value}")
            key.status = to
            self._persist()

    # -- the Keystore interface -------------------------------------------------------------

    async def validate(self, key_id: str) -> None:
        with self._lock:
            self._usable(key_id)

    async def key_status(self, key_id: str) -> KeyStatus:
        with self._lock:
            self._check_open()
            key = self._keys.get(key_id)
            return key.status if key is not None else KeyStatus.NOT_FOUND

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        check_plaintext(plaintext, self._limits)
        header = envelope.header_for(MAGIC, key_id)
        aad = header + canonical_context(context, self._limits)
        with self._lock:
            cipher = AESGCM(self._usable(key_id).material)
        nonce = secrets.token_bytes(envelope.NONCE_SIZE)
        return envelope.encode(header, nonce, cipher.encrypt(nonce, plaintext, aad))

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        check_ciphertext(ciphertext, self._limits)
        context_bytes = canonical_context(context, self._limits)
        with self._lock:
            cipher = AESGCM(self._usable(key_id).material)
        sealed = envelope.parse(MAGIC, ciphertext)
        if sealed.key_id != key_id:
            raise KeystoreDecryptFailed("decrypt failed")
        plaintext = bytearray(len(sealed.sealed) - envelope.TAG_SIZE)
        if not _open_into(cipher, sealed, sealed.associated_data(context_bytes), plaintext):
            raise KeystoreDecryptFailed("decrypt failed")
        return plaintext

    async def close(self) -> None:
        """Zeroize every key held in memory; later calls raise ``KeystoreUnavailable``."""
        with self._lock:
            for key in self._keys.values():
                key.wipe()
            self._keys.clear()
            self._closed = True

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise KeystoreUnavailable("keystore is closed")

    def _usable(self, key_id: str) -> _DevKey:
        """The key if it may encrypt and decrypt; the caller holds the lock."""
        self._check_open()
        key = self._keys.get(key_id)
        if key is None:
            raise KeyNotFound("key not found")
        if key.status is not KeyStatus.ENABLED:
            raise KeyDisabled(f"key is {key.status.value}")
        return key

    def _persist(self) -> None:
        """Write every key to the file (atomically, 0600); the caller holds the lock."""
        if self._path is None:
            return
        document = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "warning": "DEVELOPMENT ONLY: raw OpenKCM dev L1 keys. Not for production.",
            "keys": [
                {
                    "key_id": key_id,
                    "status": key.status.value,
                    "material": base64.b64encode(key.material).decode("ascii"),
                }
                for key_id, key in sorted(self._keys.items())
            ],
        }
        _write_private(self._path, json.dumps(document, indent=1).encode("utf-8"))


def _open_into(cipher: AESGCM, sealed: envelope.Envelope, aad: bytes, out: bytearray) -> bool:
    try:
        cipher.decrypt_into(sealed.nonce, sealed.sealed, aad, out)
    except InvalidTag:
        out[:] = bytes(len(out))
        return False
    return True


def _prepare_directory(directory: Path) -> None:
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, _FILE_MODE)
    try:
        os.fchmod(descriptor, _FILE_MODE)  # a stale temporary file may have had another mode
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _load(path: Path) -> dict[str, _DevKey]:
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise KeystoreDenied("dev key file must be a regular file owned by this user with mode 0600")
    keys = _parse_document(path.read_bytes())
    if keys is None:
        raise KeystoreUnavailable("dev key file is not a valid OpenKCM dev keystore")
    return keys


def _parse_document(raw: bytes) -> dict[str, _DevKey] | None:
    try:
        document: Any = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(document, dict)
        or document.get("format") != FILE_FORMAT
        or document.get("version") != FILE_VERSION
        or not isinstance(document.get("keys"), list)
    ):
        return None
    keys: dict[str, _DevKey] = {}
    for entry in document["keys"]:
        parsed = _parse_entry(entry)
        if parsed is None or parsed[0] in keys:
            return None
        keys[parsed[0]] = parsed[1]
    return keys


def _parse_entry(entry: Any) -> tuple[str, _DevKey] | None:
    if not isinstance(entry, dict):
        return None
    key_id, status, material = entry.get("key_id"), entry.get("status"), entry.get("material")
    if (
        not isinstance(key_id, str)
        or not key_id
        or status not in _PERSISTED_STATES
        or not isinstance(material, str)
    ):
        return None
    try:
        decoded = bytearray(base64.b64decode(material, validate=True))
    except (binascii.Error, ValueError):
        return None
    if len(decoded) != KEY_SIZE:
        return None
    return key_id, _DevKey(decoded, _PERSISTED_STATES[status])
