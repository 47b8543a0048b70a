"""The MasterKey and its check value."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from unseal.master_key import (
    CHECK_LABEL,
    MASTER_KEY_SIZE,
    check_value,
    matches_check_value,
    new_master_key,
)
from unseal.memory import SecretBuffer


def test_master_key_is_256_random_bits_in_a_secret_buffer() -> None:
    first, second = new_master_key(), new_master_key()
    assert isinstance(first, SecretBuffer)
    assert len(first) == MASTER_KEY_SIZE == 32
    assert not first.equals(second)


def test_check_value_is_hmac_sha256_of_the_label_bound_to_the_cluster() -> None:
    key = bytes(range(32))
    expected = hmac.new(key, CHECK_LABEL + b"\x00" + b"cluster-a", hashlib.sha256).digest()
    assert check_value(SecretBuffer(key), "cluster-a") == expected


def test_check_value_tells_keys_and_clusters_apart() -> None:
    key = new_master_key()
    value = check_value(key, "cluster-a")
    assert matches_check_value(key, "cluster-a", value)
    assert not matches_check_value(key, "cluster-b", value)
    assert not matches_check_value(new_master_key(), "cluster-a", value)
    assert not matches_check_value(key, "cluster-a", value[:-1])
    assert not matches_check_value(SecretBuffer(16), "cluster-a", value)


def test_check_value_refuses_a_key_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="256"):
        check_value(SecretBuffer(16), "cluster-a")
