"""Opening a keystore from configuration: one table from kind to driver module.

Invariants:
- ``KEYSTORE_KINDS`` is the only place a kind name is bound to a driver. Driver modules are
  imported when a keystore of that kind is opened, never before, so a deployment without boto3
  or python-pkcs11 installed can still open the others.
- Every driver module exposes a class with ``kind`` equal to its table key and a
  ``from_settings(settings)`` class method; ``tests/unit/keystores/test_factory.py`` checks that
  the table is complete and consistent.
- ``open_keystore`` wraps the driver in ``RetryingKeystore``; the ``retry_*`` settings tune it and
  ``retry_max_attempts = 1`` turns retrying off. Every other setting goes to the driver, which
  refuses names it does not know.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from keystores.base import Keystore
from keystores.retry import DEFAULT_RETRY_POLICY, RetryingKeystore
from keystores.settings import RETRY_SETTINGS, KeystoreConfigError, SettingsReader


@dataclass(frozen=True, slots=True)
class DriverEntry:
    module: str  # imported on first use
    class_name: str


KEYSTORE_KINDS: Mapping[str, DriverEntry] = {
    "software": DriverEntry("keystores.software", "SoftwareKeystore"),
    "aws-kms": DriverEntry("keystores.aws_kms", "AwsKmsKeystore"),
    "pkcs11": DriverEntry("keystores.pkcs11", "Pkcs11Keystore"),
}


def driver_class(kind: str) -> type[Keystore]:
    """The driver class registered for ``kind`` (importing its module and SDK now)."""
    entry = KEYSTORE_KINDS.get(kind)
    if entry is None:
        raise KeystoreConfigError(
            f"unknown keystore kind {kind!r}; known: {', '.join(sorted(KEYSTORE_KINDS))}"
        )
    driver: type[Keystore] = getattr(importlib.import_module(entry.module), entry.class_name)
    return driver


def open_keystore(kind: str, settings: Mapping[str, str]) -> Keystore:
    """Open the keystore ``kind`` configured by ``settings``, wrapped in retry with backoff."""
    driver = driver_class(kind)
    retry_settings = {name: value for name, value in settings.items() if name in RETRY_SETTINGS}
    driver_settings = {name: value for name, value in settings.items() if name not in RETRY_SETTINGS}
    policy = SettingsReader(kind, retry_settings, RETRY_SETTINGS).retry_policy(DEFAULT_RETRY_POLICY)
    from_settings = getattr(driver, "from_settings", None)
    if from_settings is None:  # pragma: no cover - guarded by the table test
        raise KeystoreConfigError(f"keystore kind {kind!r} cannot be opened from settings")
    inner: Keystore = from_settings(driver_settings)
    return RetryingKeystore(inner, policy)
