"""The two implementations of ttlv.codec's decode loop, for tests that run against both.

``ttlv.codec._decode_span_py`` is the reference; ``ttlv.codec._decode_span_c`` is
ttlv/_speedups.c, None when it was not built (or OPENKCM_TTLV_PURE=1). ``decoding_with(name)``
makes ``decode`` and ``decode_prefix`` use one of them; ``ttlv_decoder`` is an autouse fixture
that runs every test of a module that imports it once per implementation (skipping "c" when the
extension is missing: tests/unit/ttlv/test_speedups.py fails instead when CI requires it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from ttlv import codec

IMPLEMENTATIONS = ("python", "c")


def decode_span_of(name: str) -> codec.DecodeSpan | None:
    return codec._decode_span_py if name == "python" else codec._decode_span_c


@contextlib.contextmanager
def decoding_with(name: str) -> Iterator[codec.DecodeSpan]:
    """``decode`` and ``decode_prefix`` run implementation ``name`` inside the block."""
    decode_span = decode_span_of(name)
    if decode_span is None:
        pytest.skip("ttlv._speedups is not built (or OPENKCM_TTLV_PURE=1)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec, "_decode_span", decode_span)
        yield decode_span


@pytest.fixture(scope="module", params=IMPLEMENTATIONS, autouse=True)
def ttlv_decoder(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    with decoding_with(name):
        yield name
