"""A PKCS#11 HSM token as an L1 / seal keystore, through python-pkcs11.

Invariants:
- Keys are AES secret keys on the token, found by ``CKA_LABEL`` (key id = label). A key is
  ENABLED when both ``CKA_ENCRYPT`` and ``CKA_DECRYPT`` are true and DISABLED otherwise (that is
  how a customer switches it off without destroying it); a label that matches nothing is
  NOT_FOUND (PKCS#11 has no "pending deletion": a destroyed object is simply gone); a label that
  matches several keys is refused (``KeystoreDenied``) rather than guessed.
- Ciphertext is the ``keystores.envelope`` format with magic ``OKHS``: CKM_AES_GCM with a random
  12-byte IV generated here, a 128-bit tag, and associated data = header (magic, version, label)
  followed by the canonical encryption context. (SoftHSM 2.6 does GCM correctly through
  python-pkcs11; it reports a failed tag check as CKR_GENERAL_ERROR, which the decrypt table
  therefore reads as ``KeystoreDecryptFailed``.)
- python-pkcs11 calls ``C_Initialize(NULL_PTR)``, which promises the module that the application
  will not call it from several threads at once (SoftHSM then turns its own mutexes off). Every
  call into a library therefore holds that library's ``Pkcs11Module`` lock (acquired with a
  timeout); the bounded executor only keeps those calls off the event loop and bounds their wait.
- PKCS#11 login is per application and token, not per session: logging out in one session logs
  out all of them. A ``Pkcs11Module`` therefore logs in once per token (an "anchor" session kept
  open) and counts the sessions that rely on it; the anchor is closed, logging out, when the last
  one closes. Keystores sharing a library in one process must share one ``Pkcs11Module`` (the
  composition root passes it); two modules on one library would break both rules above.
- python-pkcs11 takes single-part plaintext only as ``bytes`` and returns ``bytes``: the plaintext
  is copied into immutable objects for the duration of a call, outside our zeroization.
- SDK errors are translated in the worker thread by table (``PKCS11_ERRORS``, and for decrypt
  ``DECRYPT_ERRORS`` first); messages name the operation and the PKCS#11 error class only, and
  the normalized error is raised outside the handler so the SDK exception is not its context.
  After an error that means the session or token went away, the session is dropped and the next
  call opens a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from keystores import envelope
from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
    KeystoreRequestInvalid,
    KeystoreUnavailable,
)
from keystores.executor import BoundedExecutor, ExecutorSettings
from keystores.request import (
    DEFAULT_REQUEST_LIMITS,
    RequestLimits,
    canonical_context,
    check_ciphertext,
    check_plaintext,
)
from keystores.settings import EXECUTOR_SETTINGS, SettingsReader

T = TypeVar("T")

MAGIC = b"OKHS"
TAG_BITS = 128
REQUIRED_KEY_BITS = 256
DEFAULT_LOCK_TIMEOUT = 5.0  # seconds a call waits for the library lock (KeystoreUnavailable)
# Calls into one library are serialized anyway; a few workers only keep queued calls moving.
DEFAULT_PKCS11_EXECUTOR_SETTINGS = ExecutorSettings(max_workers=4)
VALIDATE_PROBE_SIZE = 32
VALIDATE_CONTEXT = {"openkcm:purpose": "validate"}
SETTINGS = ("library_path", "token_label", "user_pin", "lock_timeout", *EXECUTOR_SETTINGS)

# python-pkcs11 exception -> normalized error, first match wins (subclasses before PKCS11Error).
PKCS11_ERRORS: tuple[tuple[type[p11.PKCS11Error], type[KeystoreError]], ...] = (
    (p11.NoSuchKey, KeyNotFound),
    (p11.KeyHandleInvalid, KeyNotFound),
    (p11.ObjectHandleInvalid, KeyNotFound),
    (p11.MultipleObjectsReturned, KeystoreDenied),
    (p11.PinIncorrect, KeystoreDenied),
    (p11.PinInvalid, KeystoreDenied),
    (p11.PinLenRange, KeystoreDenied),
    (p11.PinExpired, KeystoreDenied),
    (p11.PinLocked, KeystoreDenied),
    (p11.UserPinNotInitialized, KeystoreDenied),
    (p11.UserNotLoggedIn, KeystoreDenied),
    (p11.AnotherUserAlreadyLoggedIn, KeystoreDenied),
    (p11.KeyTypeInconsistent, KeystoreDenied),
    (p11.KeySizeRange, KeystoreDenied),
    (p11.MechanismInvalid, KeystoreDenied),
    (p11.MechanismParamInvalid, KeystoreDenied),
    (p11.FunctionNotSupported, KeystoreDenied),
    (p11.AttributeSensitive, KeystoreDenied),
    (p11.AttributeTypeInvalid, KeystoreDenied),
    (p11.DataLenRange, KeystoreRequestInvalid),
    (p11.DataInvalid, KeystoreRequestInvalid),
    (p11.ArgumentsBad, KeystoreRequestInvalid),
    (p11.NoSuchToken, KeystoreUnavailable),
    (p11.TokenNotPresent, KeystoreUnavailable),
    (p11.TokenNotRecognised, KeystoreUnavailable),
    (p11.SlotIDInvalid, KeystoreUnavailable),
    (p11.DeviceRemoved, KeystoreUnavailable),
    (p11.DeviceError, KeystoreUnavailable),
    (p11.DeviceMemory, KeystoreUnavailable),
    (p11.HostMemory, KeystoreUnavailable),
    (p11.SessionClosed, KeystoreUnavailable),
    (p11.SessionHandleInvalid, KeystoreUnavailable),
    (p11.SessionCount, KeystoreUnavailable),
    (p11.OperationActive, KeystoreUnavailable),
    (p11.FunctionFailed, KeystoreUnavailable),
    (p11.FunctionCancelled, KeystoreUnavailable),
    (p11.GeneralError, KeystoreUnavailable),
    # Unknown or unmapped return values (python-pkcs11 raises the base class for those, e.g.
    # CKR_KEY_FUNCTION_NOT_PERMITTED): an outage until proven otherwise, so retried and bounded
    # by the sovereign TTL rather than failing a tenant closed on a device hiccup.
    (p11.PKCS11Error, KeystoreUnavailable),
)

# Read first for decrypt: how a token says "this ciphertext, tag or AAD is not right".
DECRYPT_ERRORS: tuple[tuple[type[p11.PKCS11Error], type[KeystoreError]], ...] = (
    (p11.EncryptedDataInvalid, KeystoreDecryptFailed),
    (p11.EncryptedDataLenRange, KeystoreDecryptFailed),
    (p11.DataLenRange, KeystoreDecryptFailed),
    (p11.DataInvalid, KeystoreDecryptFailed),
    (p11.GeneralError, KeystoreDecryptFailed),  # SoftHSM's answer to a failed GCM tag check
)

# Errors after which the session (or the token behind it) is gone: drop it and reopen next call.
SESSION_LOST = (
    p11.SessionClosed,
    p11.SessionHandleInvalid,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.DeviceError,
    p11.UserNotLoggedIn,
)


def map_pkcs11_error(error: p11.PKCS11Error, operation: str) -> KeystoreError:
    """The normalized error for a python-pkcs11 exception. Never carries the SDK's message."""
    table = DECRYPT_ERRORS + PKCS11_ERRORS if operation == "decrypt" else PKCS11_ERRORS
    error_class: type[KeystoreError] = KeystoreUnavailable
    for sdk_class, mapped in table:
        if isinstance(error, sdk_class):
            error_class = mapped
            break
    if error_class is KeystoreDecryptFailed:
        return KeystoreDecryptFailed("decrypt failed")
    return error_class(f"PKCS#11 {operation}: {type(error).__name__}")


@dataclass(slots=True)
class _Login:
    anchor: Any  # the logged-in session, or None when someone else in the process logged in
    pin_digest: bytes = field(repr=False)
    users: int = 0


class Pkcs11Module:
    """One PKCS#11 library as loaded in this process: the lock around every call, and token logins."""

    __slots__ = ("_lib", "_library_path", "_lock", "_lock_timeout", "_logins")

    def __init__(self, library_path: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._library_path = library_path
        self._lock_timeout = lock_timeout
        self._lock = threading.Lock()
        self._lib: Any = None
        self._logins: dict[str, _Login] = {}

    @property
    def library_path(self) -> str:
        return self._library_path

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the library lock (every PKCS#11 call must), or raise ``KeystoreUnavailable``."""
        if not self._lock.acquire(timeout=self._lock_timeout):
            raise KeystoreUnavailable("PKCS#11 module busy")
        try:
            yield
        finally:
            self._lock.release()

    def open_session(self, token_label: str, user_pin: str, *, read_write: bool = False) -> Pkcs11Session:
        """A session on the token, logged in as the user (blocking; call from a worker thread).

        Raises python-pkcs11's exceptions; drivers translate them.
        """
        with self.exclusive():
            if self._lib is None:
                self._lib = pkcs11.lib(self._library_path)
            token = self._lib.get_token(token_label=token_label)
            digest = hashlib.sha256(user_pin.encode("utf-8")).digest()
            login = self._logins.get(token_label)
            if login is None:
                login = _Login(anchor=_log_in(token, user_pin), pin_digest=digest)
                self._logins[token_label] = login
            elif not hmac.compare_digest(login.pin_digest, digest):
                raise p11.PinIncorrect()
            try:
                session = token.open(rw=read_write)
            except p11.PKCS11Error:
                login.users += 1
                self._release(token_label)  # logs out again if nobody else relies on the login
                raise
            login.users += 1
            return Pkcs11Session(self, token_label, session)

    def _release(self, token_label: str) -> None:
        """A session on ``token_label`` closed; the caller holds the lock."""
        login = self._logins.get(token_label)
        if login is None:
            return
        login.users -= 1
        if login.users <= 0:
            del self._logins[token_label]
            if login.anchor is not None:
                _close_quietly(login.anchor)  # closes the anchor, logging the application out


class Pkcs11Session:
    """One PKCS#11 session; ``call`` runs a function on it holding the library lock."""

    __slots__ = ("_module", "_session", "_token_label")

    def __init__(self, module: Pkcs11Module, token_label: str, session: Any) -> None:
        self._module = module
        self._token_label = token_label
        self._session: Any = session

    @property
    def open(self) -> bool:
        return self._session is not None

    def call(self, fn: Callable[[Any], T]) -> T:
        with self._module.exclusive():
            if self._session is None:
                raise p11.SessionClosed()
            return fn(self._session)

    def close(self) -> None:
        with self._module.exclusive():
            if self._session is None:
                return
            session, self._session = self._session, None
            _close_quietly(session)
            self._module._release(self._token_label)


def _log_in(token: Any, user_pin: str) -> Any:
    try:
        return token.open(user_pin=user_pin)
    except p11.UserAlreadyLoggedIn:
        # Another component of this process logged in to this token outside this module (the
        # session python-pkcs11 opened for the attempt leaks). Sessions inherit that login.
        return None


def _close_quietly(session: Any) -> None:
    # The session is gone either way; nothing the caller could do with the reason.
    with contextlib.suppress(p11.PKCS11Error):
        session.close()


class Pkcs11Keystore(Keystore):
    """AES keys on a PKCS#11 token (found by label) as L1: CKM_AES_GCM with the context as AAD."""

    kind = "pkcs11"

    def __init__(
        self,
        *,
        token_label: str,
        user_pin: str,
        library_path: str | None = None,
        module: Pkcs11Module | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        executor: ExecutorSettings = DEFAULT_PKCS11_EXECUTOR_SETTINGS,
        limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
    ) -> None:
        if module is None:
            if library_path is None:
                raise ValueError("Pkcs11Keystore needs library_path or a shared Pkcs11Module")
            module = Pkcs11Module(library_path, lock_timeout=lock_timeout)
        elif library_path is not None and library_path != module.library_path:
            raise ValueError("library_path does not match the shared Pkcs11Module")
        self._module = module
        self._token_label = token_label
        self._user_pin = user_pin
        self._limits = limits
        self._session: Pkcs11Session | None = None
        self._session_lock = threading.Lock()
        self._executor = BoundedExecutor(self.kind, executor)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Pkcs11Keystore:
        reader = SettingsReader(cls.kind, settings, SETTINGS)
        return cls(
            library_path=reader.required("library_path"),
            token_label=reader.required("token_label"),
            user_pin=reader.required("user_pin"),
            lock_timeout=reader.seconds("lock_timeout", DEFAULT_LOCK_TIMEOUT),
            executor=reader.executor(DEFAULT_PKCS11_EXECUTOR_SETTINGS),
        )

    def __repr__(self) -> str:
        return f"Pkcs11Keystore(library={self._module.library_path!r}, token={self._token_label!r})"

    @property
    def module(self) -> Pkcs11Module:
        return self._module

    @property
    def executor(self) -> BoundedExecutor:
        return self._executor

    async def validate(self, key_id: str) -> None:
        await self._executor.run(self._in_thread, "validate", lambda session: self._probe(session, key_id))

    async def key_status(self, key_id: str) -> KeyStatus:
        return await self._executor.run(self._in_thread, "status", lambda session: _status(session, key_id))

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        check_plaintext(plaintext, self._limits)
        header = envelope.header_for(MAGIC, key_id)
        aad = header + canonical_context(context, self._limits)
        return await self._executor.run(
            self._in_thread, "encrypt", lambda session: _seal(session, key_id, header, aad, plaintext)
        )

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        check_ciphertext(ciphertext, self._limits)
        context_bytes = canonical_context(context, self._limits)
        return await self._executor.run(
            self._in_thread,
            "decrypt",
            lambda session: _open(session, key_id, bytes(ciphertext), context_bytes),
        )

    async def close(self) -> None:
        """Close this keystore's session (after calls already queued) and stop its executor."""
        if self._executor.closed:
            return
        try:
            await self._executor.run(self._drop_session)
        finally:
            await self._executor.close()

    def _probe(self, session: Any, key_id: str) -> None:
        key = _usable_key(session, key_id)
        if key.key_length != REQUIRED_KEY_BITS:
            raise KeystoreDenied(f"PKCS#11 key is not AES-{REQUIRED_KEY_BITS}")
        probe = secrets.token_bytes(VALIDATE_PROBE_SIZE)
        header = envelope.header_for(MAGIC, key_id)
        context_bytes = canonical_context(VALIDATE_CONTEXT, self._limits)
        blob = _seal(session, key_id, header, header + context_bytes, probe)
        echoed = _open(session, key_id, blob, context_bytes)
        matches = hmac.compare_digest(echoed, probe)
        echoed[:] = bytes(len(echoed))
        if not matches:
            raise KeystoreDecryptFailed("decrypt failed")

    def _in_thread(self, operation: str, fn: Callable[[Any], T]) -> T:
        """Runs in a worker thread: ``fn`` on this keystore's session, SDK errors translated."""
        error: KeystoreError
        try:
            return self._current_session().call(fn)
        except p11.PKCS11Error as sdk_error:
            if isinstance(sdk_error, SESSION_LOST):
                self._drop_session()
            error = map_pkcs11_error(sdk_error, operation)
        raise error

    def _current_session(self) -> Pkcs11Session:
        with self._session_lock:
            if self._session is None or not self._session.open:
                self._session = self._module.open_session(self._token_label, self._user_pin)
            return self._session

    def _drop_session(self) -> None:
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


def _find_key(session: Any, key_id: str) -> Any:
    return session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_id)


def _status_of(key: Any) -> KeyStatus:
    return KeyStatus.ENABLED if key[Attribute.ENCRYPT] and key[Attribute.DECRYPT] else KeyStatus.DISABLED


def _status(session: Any, key_id: str) -> KeyStatus:
    try:
        key = _find_key(session, key_id)
    except p11.NoSuchKey:
        return KeyStatus.NOT_FOUND
    return _status_of(key)


def _usable_key(session: Any, key_id: str) -> Any:
    key = _find_key(session, key_id)
    if key.key_type != KeyType.AES:
        raise KeystoreDenied("PKCS#11 key is not an AES key")
    if _status_of(key) is not KeyStatus.ENABLED:
        raise KeyDisabled("PKCS#11 key is disabled")
    return key


def _seal(
    session: Any, key_id: str, header: bytes, aad: bytes, plaintext: bytes | bytearray | memoryview
) -> bytes:
    key = _usable_key(session, key_id)
    nonce = secrets.token_bytes(envelope.NONCE_SIZE)
    sealed = key.encrypt(
        bytes(plaintext), mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, TAG_BITS)
    )
    return envelope.encode(header, nonce, bytes(sealed))


def _open(session: Any, key_id: str, ciphertext: bytes, context_bytes: bytes) -> bytearray:
    key = _usable_key(session, key_id)
    sealed = envelope.parse(MAGIC, ciphertext)
    if sealed.key_id != key_id:
        raise KeystoreDecryptFailed("decrypt failed")
    aad = sealed.associated_data(context_bytes)
    plaintext = key.decrypt(
        sealed.sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(sealed.nonce, aad, TAG_BITS)
    )
    return bytearray(plaintext)
