"""The MasterKey and its check value (DESIGN.md section 3).

Invariants:
- A MasterKey is 256 bits from the OS CSPRNG, held only in a ``SecretBuffer``; this module
  never turns it into ``bytes``.
- The check value is HMAC-SHA256 under the MasterKey of a fixed label joined to the cluster
  id. It tells a right reconstruction from a wrong one and, being bound to the cluster id,
  cannot be replayed to vouch for another cluster's key. It reveals nothing about the key.
- Check values are compared in constant time.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from unseal.memory import SecretBuffer

MASTER_KEY_SIZE = 32
CHECK_LABEL = b"OpenKCM MasterKey check value v1"
CHECK_VALUE_SIZE = 32


def new_master_key() -> SecretBuffer:
    """A fresh MasterKey. The caller owns it and wipes it."""
    return SecretBuffer.random(MASTER_KEY_SIZE)


def check_value(master_key: SecretBuffer, cluster_id: str) -> bytes:
    """HMAC-SHA256(MasterKey, label || 0x00 || cluster id)."""
    if len(master_key) != MASTER_KEY_SIZE:
        raise ValueError("a MasterKey is 256 bits")
    # cryptography's HMAC takes the key as a buffer, so the secret is never copied into bytes here.
    mac = crypto_hmac.HMAC(master_key.view(), hashes.SHA256())
    mac.update(CHECK_LABEL + b"\x00" + cluster_id.encode("utf-8"))
    return mac.finalize()


def matches_check_value(master_key: SecretBuffer, cluster_id: str, expected: bytes) -> bool:
    """Whether ``master_key`` is the cluster's MasterKey, by its stored check value."""
    if len(master_key) != MASTER_KEY_SIZE:
        return False
    return hmac.compare_digest(check_value(master_key, cluster_id), expected)
