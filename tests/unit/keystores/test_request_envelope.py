"""Request limits, the canonical encryption context, and the local ciphertext envelope."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keystores import envelope
from keystores.base import KeystoreDecryptFailed, KeystoreRequestInvalid
from keystores.request import (
    DEFAULT_REQUEST_LIMITS,
    RequestLimits,
    canonical_context,
    check_ciphertext,
    check_plaintext,
)

LIMITS = DEFAULT_REQUEST_LIMITS
contexts = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5)


def test_canonical_context_is_order_independent() -> None:
    assert canonical_context({"a": "1", "b": "2"}, LIMITS) == canonical_context({"b": "2", "a": "1"}, LIMITS)


def test_canonical_context_layout() -> None:
    assert canonical_context({"b": "2", "a": ""}, LIMITS) == (
        b"\x00\x00\x00\x02"
        + b"\x00\x00\x00\x01a"
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x01b\x00\x00\x00\x012"
    )


@given(contexts, contexts)
def test_canonical_context_is_injective(first: dict[str, str], second: dict[str, str]) -> None:
    if first != second:
        assert canonical_context(first, LIMITS) != canonical_context(second, LIMITS)


def test_boundary_shift_does_not_collide() -> None:
    assert canonical_context({"a": "bc"}, LIMITS) != canonical_context({"ab": "c"}, LIMITS)


@pytest.mark.parametrize(
    "context",
    [
        {f"k{index}": "v" for index in range(LIMITS.max_context_pairs + 1)},
        {"k": "v" * LIMITS.max_context_size},
        {"": "empty key"},
        {"k": "\udcff"},  # lone surrogate: not encodable as UTF-8
        {"k": 1},
    ],
    ids=["too-many-pairs", "too-large", "empty-key", "not-utf8", "not-a-string"],
)
def test_bad_contexts_are_refused(context: dict[str, object]) -> None:
    with pytest.raises(KeystoreRequestInvalid) as caught:
        canonical_context(context, LIMITS)  # type: ignore[arg-type]
    assert caught.value.__context__ is None
    assert "\udcff" not in str(caught.value)


def test_plaintext_limits() -> None:
    assert check_plaintext(b"x" * 32, LIMITS) == 32
    assert check_plaintext(memoryview(bytearray(5)), LIMITS) == 5
    with pytest.raises(KeystoreRequestInvalid, match="empty"):
        check_plaintext(b"", LIMITS)
    with pytest.raises(KeystoreRequestInvalid, match="4096"):
        check_plaintext(b"x" * (LIMITS.max_plaintext_size + 1), LIMITS)
    check_plaintext(b"x" * 10, RequestLimits(max_plaintext_size=10))


def test_ciphertext_limits() -> None:
    check_ciphertext(b"x", LIMITS)
    for bad in (b"", b"x" * (LIMITS.max_ciphertext_size + 1)):
        with pytest.raises(KeystoreDecryptFailed):
            check_ciphertext(bad, LIMITS)


def test_envelope_round_trip() -> None:
    header = envelope.header_for(b"OKSW", "key-1")
    blob = envelope.encode(header, b"n" * 12, b"s" * 20)
    parsed = envelope.parse(b"OKSW", blob)
    assert parsed == envelope.Envelope(header=header, key_id="key-1", nonce=b"n" * 12, sealed=b"s" * 20)
    assert parsed.associated_data(b"ctx") == header + b"ctx"
    assert blob[:4] == b"OKSW"
    assert blob[4] == envelope.VERSION


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"OKSW",
        b"OKHS\x01\x00\x05key-1" + b"n" * 12 + b"s" * 16,  # another driver's magic
        b"OKSW\x02\x00\x05key-1" + b"n" * 12 + b"s" * 16,  # unknown version
        b"OKSW\x01\x00\x00" + b"n" * 12 + b"s" * 16,  # empty key id
        b"OKSW\x01\x00\x05key-1" + b"n" * 12 + b"s" * 15,  # shorter than a tag
        b"OKSW\x01\x00\x02\xff\xfe" + b"n" * 12 + b"s" * 16,  # key id not UTF-8
        b"OKSW\x01\xff\xffkey",  # key id length past the end
    ],
)
def test_malformed_envelopes_fail_vaguely(blob: bytes) -> None:
    with pytest.raises(KeystoreDecryptFailed) as caught:
        envelope.parse(b"OKSW", blob)
    assert str(caught.value) == "decrypt failed"
    assert caught.value.__context__ is None


@given(st.binary(max_size=200))
def test_parse_is_total(blob: bytes) -> None:
    with contextlib.suppress(KeystoreDecryptFailed):
        envelope.parse(b"OKSW", blob)


def test_key_id_size_is_bounded() -> None:
    with pytest.raises(KeystoreRequestInvalid):
        envelope.header_for(b"OKSW", "")
    with pytest.raises(KeystoreRequestInvalid):
        envelope.header_for(b"OKSW", "k" * (envelope.MAX_KEY_ID_SIZE + 1))
