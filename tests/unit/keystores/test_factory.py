"""The kind -> driver table and opening keystores from string settings."""

from __future__ import annotations

import asyncio
import logging

import pytest

from keystores.base import Keystore
from keystores.executor import DEFAULT_EXECUTOR_SETTINGS
from keystores.factory import KEYSTORE_KINDS, driver_class, open_keystore
from keystores.retry import DEFAULT_RETRY_POLICY, RetryingKeystore, RetryPolicy
from keystores.settings import KeystoreConfigError
from keystores.software import SoftwareKeystore


@pytest.mark.parametrize("kind", sorted(KEYSTORE_KINDS))
def test_table_is_consistent(kind: str) -> None:
    driver = driver_class(kind)
    assert issubclass(driver, Keystore)
    assert driver.kind == kind
    assert callable(getattr(driver, "from_settings", None))


def test_unknown_kind() -> None:
    with pytest.raises(KeystoreConfigError, match="unknown keystore kind"):
        open_keystore("azure-keyvault", {})


def test_software_opens_wrapped_in_retry(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keystores.software"):
        keystore = open_keystore("software", {"retry_max_attempts": "2", "retry_total_timeout": "3.5"})
    assert isinstance(keystore, RetryingKeystore)
    assert isinstance(keystore.inner, SoftwareKeystore)
    assert keystore.policy == RetryPolicy(
        max_attempts=2,
        base_delay=DEFAULT_RETRY_POLICY.base_delay,
        max_delay=DEFAULT_RETRY_POLICY.max_delay,
        total_timeout=3.5,
    )
    assert "DEVELOPMENT ONLY" in caplog.text
    asyncio.run(keystore.close())


def test_unknown_settings_are_refused_and_values_not_echoed() -> None:
    with pytest.raises(KeystoreConfigError, match="user_pinn") as caught:
        open_keystore("pkcs11", {"library_path": "/x.so", "token_label": "t", "user_pinn": "1234-secret"})
    assert "1234-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "settings", "message"),
    [
        ("aws-kms", {}, "region is required"),
        ("pkcs11", {"token_label": "t", "user_pin": "p"}, "library_path is required"),
        ("aws-kms", {"region": "eu-west-1", "call_timeout": "soon"}, "call_timeout"),
        ("aws-kms", {"region": "eu-west-1", "max_workers": "0"}, "max_workers"),
        ("software", {"retry_max_attempts": "-1"}, "retry_max_attempts"),
        ("software", {"retry_base_delay": "nan"}, "retry_base_delay"),
    ],
)
def test_bad_settings(kind: str, settings: dict[str, str], message: str) -> None:
    with pytest.raises(KeystoreConfigError, match=message):
        open_keystore(kind, settings)


def test_aws_settings_reach_the_driver() -> None:
    keystore = open_keystore(
        "aws-kms",
        {
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:1",
            "access_key_id": "id",
            "secret_access_key": "secret",
            "max_workers": "3",
            "call_timeout": "1.5",
            "connect_timeout": "0.5",
        },
    )
    assert isinstance(keystore, RetryingKeystore)
    inner = keystore.inner
    executor = getattr(inner, "executor")  # noqa: B009 - the AWS driver's own attribute
    assert executor.settings.max_workers == 3
    assert executor.settings.call_timeout == 1.5
    assert executor.settings.max_pending == DEFAULT_EXECUTOR_SETTINGS.max_pending
    asyncio.run(keystore.close())
