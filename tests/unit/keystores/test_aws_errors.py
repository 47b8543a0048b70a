"""AWS KMS error translation, by table: botocore ClientError codes and botocore exceptions."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from keystores.aws_kms import BOTOCORE_ERRORS, ERROR_CODES, KEY_STATES, map_botocore_error, map_client_error
from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
    KeystoreRequestInvalid,
    KeystoreThrottled,
    KeystoreUnavailable,
)

SDK_MESSAGE = "arn:aws:kms:eu-central-1:123456789012:key/secret-detail rejected 0xDEADBEEF"


def client_error(code: str, status: int = 400, operation: str = "Decrypt") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": SDK_MESSAGE}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


# The contract from the issue, spelled out independently of the driver's table.
REQUIRED = {
    "NotFoundException": KeyNotFound,
    "DisabledException": KeyDisabled,
    "KMSInvalidStateException": KeyDisabled,
    "AccessDeniedException": KeystoreDenied,
    "InvalidCiphertextException": KeystoreDecryptFailed,
    "IncorrectKeyException": KeystoreDecryptFailed,
    "ThrottlingException": KeystoreThrottled,
    "LimitExceededException": KeystoreThrottled,
    "KMSInternalException": KeystoreUnavailable,
    "DependencyTimeoutException": KeystoreUnavailable,
    "KeyUnavailableException": KeystoreUnavailable,
}


@pytest.mark.parametrize(("code", "expected"), sorted(REQUIRED.items()))
def test_required_codes(code: str, expected: type[KeystoreError]) -> None:
    error = map_client_error(client_error(code), "Decrypt")
    assert type(error) is expected


@pytest.mark.parametrize(("code", "expected"), sorted(ERROR_CODES.items()))
def test_every_table_entry_maps_and_hides_the_sdk_message(code: str, expected: type[KeystoreError]) -> None:
    error = map_client_error(client_error(code), "Encrypt")
    assert type(error) is expected
    assert SDK_MESSAGE not in str(error)
    assert "secret-detail" not in str(error)
    assert "DEADBEEF" not in str(error)
    if expected is KeystoreDecryptFailed:
        assert str(error) == "decrypt failed"  # deliberately vague
    else:
        assert code in str(error)  # operators can tell errors apart by code


@pytest.mark.parametrize(
    ("status", "expected"),
    [(500, KeystoreUnavailable), (503, KeystoreUnavailable), (429, KeystoreThrottled), (400, KeystoreDenied)],
)
def test_unknown_codes_fall_back_on_the_http_status(status: int, expected: type[KeystoreError]) -> None:
    assert type(map_client_error(client_error("SomethingNewException", status), "Encrypt")) is expected


def test_a_strange_code_is_not_echoed() -> None:
    error = map_client_error(client_error("<script>" + "x" * 100, 400), "Encrypt")
    assert type(error) is KeystoreDenied
    assert "script" not in str(error)


def test_retryability_follows_the_class() -> None:
    assert map_client_error(client_error("ThrottlingException"), "Encrypt").retryable
    assert map_client_error(client_error("KMSInternalException", 500), "Encrypt").retryable
    assert not map_client_error(client_error("AccessDeniedException"), "Encrypt").retryable
    assert not map_client_error(client_error("DisabledException"), "Encrypt").retryable


@pytest.mark.parametrize(
    ("sdk_error", "expected"),
    [
        (EndpointConnectionError(endpoint_url="https://kms.example"), KeystoreUnavailable),
        (ConnectTimeoutError(endpoint_url="https://kms.example"), KeystoreUnavailable),
        (ReadTimeoutError(endpoint_url="https://kms.example"), KeystoreUnavailable),
        (CredentialRetrievalError(provider="imds", error_msg=SDK_MESSAGE), KeystoreUnavailable),
        (NoCredentialsError(), KeystoreDenied),
        (ParamValidationError(report=SDK_MESSAGE), KeystoreRequestInvalid),
        (BotoCoreError(), KeystoreUnavailable),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_botocore_exceptions(sdk_error: BotoCoreError, expected: type[KeystoreError]) -> None:
    error = map_botocore_error(sdk_error, "Encrypt")
    assert type(error) is expected
    assert "kms.example" not in str(error)
    assert SDK_MESSAGE not in str(error)


def test_botocore_table_ends_with_its_catch_all() -> None:
    assert BOTOCORE_ERRORS[-1] == (BotoCoreError, KeystoreUnavailable)


def test_key_states() -> None:
    # Every KeyState in the AWS KMS API reference (KeyMetadata.KeyState).
    documented = {
        "Creating",
        "Enabled",
        "Disabled",
        "PendingDeletion",
        "PendingImport",
        "PendingReplicaDeletion",
        "Unavailable",
        "Updating",
    }
    assert set(KEY_STATES) == documented
    assert [state for state, status in KEY_STATES.items() if status is KeyStatus.ENABLED] == ["Enabled"]
