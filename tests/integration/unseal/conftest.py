"""Real keystore backends (software, moto KMS server, SoftHSM2) for the auto-unseal suite."""

from tests.support.keystores import keystore_env, moto_kms, softhsm

__all__ = ["keystore_env", "moto_kms", "softhsm"]
