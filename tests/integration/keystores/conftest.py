"""Fixtures for the keystore behaviour suite; they live in tests.support.keystores for reuse."""

from tests.support.keystores import keystore_env, moto_kms, softhsm

__all__ = ["keystore_env", "moto_kms", "softhsm"]
