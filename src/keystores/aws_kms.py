"""AWS KMS as an L1 / seal keystore, through boto3.

Invariants:
- One botocore client per keystore, with its own endpoint, region and credentials, connect and
  read timeouts, a connection pool as large as the executor, and botocore's own retries turned
  off (one attempt): ``keystores.retry`` decides what is retried, once, for every driver.
- Every boto3 call runs in this keystore's ``BoundedExecutor``, under its call timeout.
- SDK errors are translated in the worker thread, by table, into the normalized errors: the AWS
  error code picks the class (``ERROR_CODES``), then the botocore exception type
  (``BOTOCORE_ERRORS``), then the HTTP status. The message names the operation and the error code
  only; the SDK's message is never copied, and the normalized error is raised outside the
  handler so the SDK exception is not attached as its context.
- The encryption context is passed as KMS ``EncryptionContext`` (KMS binds it as AAD), and
  ``KeyId`` is always passed to Decrypt, so a ciphertext made under another key is refused.
- ``validate`` = DescribeKey (state Enabled, usage ENCRYPT_DECRYPT, spec SYMMETRIC_DEFAULT) and then
  a probe Encrypt + Decrypt round trip. DescribeKey alone would not notice a key policy or grant
  that still allows DescribeKey but no longer Decrypt, which is exactly how a customer may cut us
  off; the probe costs two requests per check and shows up in the customer's CloudTrail with
  the context ``{"openkcm:purpose": "validate"}``.
- Plaintext returned by boto3 arrives as an immutable ``bytes`` (base64-decoded by botocore); it
  is copied into the returned ``bytearray`` and the ``bytes`` left to the garbage collector,
  which is as far as Python lets this driver go.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)

from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
    KeystoreRequestInvalid,
    KeystoreThrottled,
    KeystoreUnavailable,
)
from keystores.executor import DEFAULT_EXECUTOR_SETTINGS, BoundedExecutor, ExecutorSettings
from keystores.request import (
    DEFAULT_REQUEST_LIMITS,
    RequestLimits,
    check_ciphertext,
    check_context,
    check_plaintext,
)
from keystores.settings import EXECUTOR_SETTINGS, SettingsReader

DEFAULT_CONNECT_TIMEOUT = 2.0  # seconds to open a connection to the KMS endpoint
DEFAULT_READ_TIMEOUT = 5.0  # seconds to wait for a response on an open connection
VALIDATE_CONTEXT = {"openkcm:purpose": "validate"}
VALIDATE_PROBE_SIZE = 32
SETTINGS = (
    "region",
    "endpoint_url",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "profile",
    "connect_timeout",
    "read_timeout",
    *EXECUTOR_SETTINGS,
)

# AWS KMS error codes (API reference, "Errors" of Encrypt, Decrypt, DescribeKey, and the common
# errors of every AWS API) -> the normalized error.
ERROR_CODES: Mapping[str, type[KeystoreError]] = {
    "NotFoundException": KeyNotFound,
    "DisabledException": KeyDisabled,
    "KMSInvalidStateException": KeyDisabled,
    "AccessDeniedException": KeystoreDenied,
    "AccessDenied": KeystoreDenied,
    "InvalidKeyUsageException": KeystoreDenied,
    "InvalidGrantTokenException": KeystoreDenied,
    "UnrecognizedClientException": KeystoreDenied,
    "InvalidClientTokenId": KeystoreDenied,
    "InvalidSignatureException": KeystoreDenied,
    "SignatureDoesNotMatch": KeystoreDenied,
    "IncompleteSignature": KeystoreDenied,
    "MissingAuthenticationToken": KeystoreDenied,
    "ExpiredTokenException": KeystoreDenied,
    "RequestExpired": KeystoreDenied,
    "OptInRequired": KeystoreDenied,
    "InvalidCiphertextException": KeystoreDecryptFailed,
    "IncorrectKeyException": KeystoreDecryptFailed,
    "ThrottlingException": KeystoreThrottled,
    "Throttling": KeystoreThrottled,
    "LimitExceededException": KeystoreThrottled,
    "TooManyRequestsException": KeystoreThrottled,
    "RequestLimitExceeded": KeystoreThrottled,
    "KeyUnavailableException": KeystoreUnavailable,
    "DependencyTimeoutException": KeystoreUnavailable,
    "KMSInternalException": KeystoreUnavailable,
    "InternalFailure": KeystoreUnavailable,
    "ServiceUnavailable": KeystoreUnavailable,
    "ServiceUnavailableException": KeystoreUnavailable,
    "ValidationException": KeystoreRequestInvalid,
}

# botocore's own exceptions (no response from KMS) -> the normalized error; first match wins.
BOTOCORE_ERRORS: tuple[tuple[type[BotoCoreError], type[KeystoreError]], ...] = (
    (NoCredentialsError, KeystoreDenied),
    (PartialCredentialsError, KeystoreDenied),
    (ProfileNotFound, KeystoreDenied),
    (ParamValidationError, KeystoreRequestInvalid),
    (CredentialRetrievalError, KeystoreUnavailable),
    (ConnectionError, KeystoreUnavailable),
    (HTTPClientError, KeystoreUnavailable),
    (BotoCoreError, KeystoreUnavailable),
)

# DescribeKey KeyState -> KeyStatus. Anything not listed (a state AWS adds later) reads DISABLED:
# unusable until someone looks.
KEY_STATES: Mapping[str, KeyStatus] = {
    "Enabled": KeyStatus.ENABLED,
    "Disabled": KeyStatus.DISABLED,
    "PendingDeletion": KeyStatus.PENDING_DELETION,
    "PendingReplicaDeletion": KeyStatus.PENDING_DELETION,
    "PendingImport": KeyStatus.DISABLED,
    "Unavailable": KeyStatus.DISABLED,
    "Creating": KeyStatus.DISABLED,
    "Updating": KeyStatus.DISABLED,
}

_ERROR_CODE_SHAPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def map_client_error(error: ClientError, operation: str) -> KeystoreError:
    """The normalized error for an error response from KMS. Never carries the SDK's message."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    error_class = ERROR_CODES.get(code)
    if error_class is None:
        if isinstance(status, int) and status >= 500:
            error_class = KeystoreUnavailable
        elif status == 429:
            error_class = KeystoreThrottled
        else:
            error_class = KeystoreDenied
    if error_class is KeystoreDecryptFailed:
        return KeystoreDecryptFailed("decrypt failed")
    shown = code if _ERROR_CODE_SHAPE.fullmatch(code) else "unrecognized error"
    return error_class(f"AWS KMS {operation}: {shown}")


def map_botocore_error(error: BotoCoreError, operation: str) -> KeystoreError:
    """The normalized error for a failure inside botocore (connection, credentials, parameters)."""
    for sdk_class, error_class in BOTOCORE_ERRORS:
        if isinstance(error, sdk_class):
            return error_class(f"AWS KMS {operation}: {type(error).__name__}")
    return KeystoreUnavailable(f"AWS KMS {operation}: {type(error).__name__}")  # pragma: no cover


class AwsKmsKeystore(Keystore):
    """An AWS KMS symmetric key (id, ARN or alias) as L1: Encrypt / Decrypt with EncryptionContext."""

    kind = "aws-kms"

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        executor: ExecutorSettings = DEFAULT_EXECUTOR_SETTINGS,
        limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
    ) -> None:
        self._limits = limits
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            profile_name=profile,
            region_name=region,
        )
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=executor.max_workers,
        )
        self._client: Any = session.client("kms", endpoint_url=endpoint_url, config=config)
        self._executor = BoundedExecutor(self.kind, executor)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> AwsKmsKeystore:
        reader = SettingsReader(cls.kind, settings, SETTINGS)
        return cls(
            region=reader.required("region"),
            endpoint_url=reader.text("endpoint_url"),
            access_key_id=reader.text("access_key_id"),
            secret_access_key=reader.text("secret_access_key"),
            session_token=reader.text("session_token"),
            profile=reader.text("profile"),
            connect_timeout=reader.seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=reader.seconds("read_timeout", DEFAULT_READ_TIMEOUT),
            executor=reader.executor(DEFAULT_EXECUTOR_SETTINGS),
        )

    @property
    def executor(self) -> BoundedExecutor:
        return self._executor

    async def validate(self, key_id: str) -> None:
        metadata = await self._describe(key_id)
        status = KEY_STATES.get(str(metadata.get("KeyState")), KeyStatus.DISABLED)
        if status is not KeyStatus.ENABLED:
            raise KeyDisabled(f"AWS KMS key is {status.value}")
        if (
            # Absent fields read as CreateKey's defaults (moto omits them when they were defaulted).
            metadata.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT"
            or metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
        ):
            raise KeystoreDenied("AWS KMS key is not a symmetric encrypt/decrypt key")
        probe = bytearray(secrets.token_bytes(VALIDATE_PROBE_SIZE))
        try:
            ciphertext = await self.encrypt(key_id, probe, VALIDATE_CONTEXT)
            echoed = await self.decrypt(key_id, ciphertext, VALIDATE_CONTEXT)
            matches = hmac.compare_digest(echoed, probe)
            echoed[:] = bytes(len(echoed))
        finally:
            probe[:] = bytes(len(probe))
        if not matches:
            raise KeystoreDecryptFailed("decrypt failed")

    async def key_status(self, key_id: str) -> KeyStatus:
        try:
            metadata = await self._describe(key_id)
        except KeyNotFound:
            return KeyStatus.NOT_FOUND
        return KEY_STATES.get(str(metadata.get("KeyState")), KeyStatus.DISABLED)

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        check_plaintext(plaintext, self._limits)
        encryption_context = check_context(context, self._limits)
        # botocore takes bytes or bytearray; a memoryview is copied into a bytearray we can wipe.
        copied = not isinstance(plaintext, bytes | bytearray)
        blob = bytearray(plaintext) if copied else plaintext
        try:
            response = await self._executor.run(
                self._call,
                "Encrypt",
                self._client.encrypt,
                {"KeyId": key_id, "Plaintext": blob, "EncryptionContext": encryption_context},
            )
        finally:
            if copied and isinstance(blob, bytearray):
                blob[:] = bytes(len(blob))
        return bytes(response["CiphertextBlob"])

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        check_ciphertext(ciphertext, self._limits)
        encryption_context = check_context(context, self._limits)
        response = await self._executor.run(
            self._call,
            "Decrypt",
            self._client.decrypt,
            {"KeyId": key_id, "CiphertextBlob": bytes(ciphertext), "EncryptionContext": encryption_context},
        )
        return bytearray(response["Plaintext"])

    async def close(self) -> None:
        """Stop the executor (waiting, bounded, for running calls) and close the HTTP connections."""
        if self._executor.closed:
            return
        await self._executor.close()
        self._client.close()

    async def _describe(self, key_id: str) -> Mapping[str, Any]:
        response = await self._executor.run(
            self._call, "DescribeKey", self._client.describe_key, {"KeyId": key_id}
        )
        metadata: Mapping[str, Any] = response.get("KeyMetadata", {})
        return metadata

    @staticmethod
    def _call(
        operation: str, method: Callable[..., dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        """Runs in a worker thread: one boto3 call, its failure translated to a normalized error."""
        error: KeystoreError
        try:
            return method(**params)
        except ClientError as sdk_error:
            error = map_client_error(sdk_error, operation)
        except BotoCoreError as sdk_error:
            error = map_botocore_error(sdk_error, operation)
        raise error
