"""PKCS#11 error translation, by table, on python-pkcs11's exception classes."""

from __future__ import annotations

import inspect

import pytest
from pkcs11 import exceptions as p11

from keystores.base import (
    KeyNotFound,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
    KeystoreRequestInvalid,
    KeystoreUnavailable,
)
from keystores.pkcs11 import DECRYPT_ERRORS, PKCS11_ERRORS, map_pkcs11_error

SDK_MESSAGE = "No key matching {<Attribute.LABEL>: 'tenant-secret-label'}"


@pytest.mark.parametrize(
    ("sdk_class", "expected"), PKCS11_ERRORS, ids=lambda value: getattr(value, "__name__", str(value))
)
def test_every_table_entry(sdk_class: type[p11.PKCS11Error], expected: type[KeystoreError]) -> None:
    error = map_pkcs11_error(sdk_class(SDK_MESSAGE), "encrypt")
    assert type(error) is expected
    assert "tenant-secret-label" not in str(error)
    assert sdk_class.__name__ in str(error)


@pytest.mark.parametrize(
    ("sdk_class", "expected"), DECRYPT_ERRORS, ids=lambda value: getattr(value, "__name__", str(value))
)
def test_decrypt_reads_ciphertext_errors_as_decrypt_failed(
    sdk_class: type[p11.PKCS11Error], expected: type[KeystoreError]
) -> None:
    error = map_pkcs11_error(sdk_class(SDK_MESSAGE), "decrypt")
    assert type(error) is expected is KeystoreDecryptFailed
    assert str(error) == "decrypt failed"


def test_required_entries() -> None:
    assert type(map_pkcs11_error(p11.NoSuchKey(), "encrypt")) is KeyNotFound
    assert type(map_pkcs11_error(p11.PinIncorrect(), "encrypt")) is KeystoreDenied
    assert type(map_pkcs11_error(p11.MultipleObjectsReturned(), "status")) is KeystoreDenied
    assert type(map_pkcs11_error(p11.TokenNotPresent(), "encrypt")) is KeystoreUnavailable
    assert type(map_pkcs11_error(p11.GeneralError(), "encrypt")) is KeystoreUnavailable
    assert type(map_pkcs11_error(p11.DataLenRange(), "encrypt")) is KeystoreRequestInvalid
    # python-pkcs11 raises the base class for return values it does not know (e.g. 0x68).
    unmapped = map_pkcs11_error(p11.PKCS11Error("Unmapped error code 0x68"), "encrypt")
    assert type(unmapped) is KeystoreUnavailable
    assert "0x68" not in str(unmapped)


def test_specific_classes_come_before_their_bases() -> None:
    classes = [sdk_class for sdk_class, _ in PKCS11_ERRORS]
    for index, sdk_class in enumerate(classes):
        for later in classes[index + 1 :]:
            assert not issubclass(later, sdk_class) or later is sdk_class, f"{later} shadowed by {sdk_class}"


def test_every_python_pkcs11_exception_is_covered() -> None:
    every = [cls for _, cls in inspect.getmembers(p11, inspect.isclass) if issubclass(cls, p11.PKCS11Error)]
    for sdk_class in every:
        error = map_pkcs11_error(sdk_class(), "encrypt")
        assert isinstance(error, KeystoreError)
