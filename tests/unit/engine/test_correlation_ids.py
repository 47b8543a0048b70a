"""Server Correlation Values: random, distinct, 128 bits in hex, one system call per block."""

from __future__ import annotations

import os

import pytest

from kmip_server.engine.engine import CorrelationIds


def test_values_are_128_bit_hex_and_distinct_across_blocks() -> None:
    ids = CorrelationIds()
    values = [ids() for _ in range(3 * CorrelationIds.BLOCK + 5)]
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in values)
    assert len(set(values)) == len(values)


def test_one_system_call_per_block(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom

    def counting(size: int) -> bytes:
        calls.append(size)
        return real(size)

    monkeypatch.setattr(os, "urandom", counting)
    ids = CorrelationIds()
    for _ in range(2 * CorrelationIds.BLOCK + 1):
        ids()
    assert calls == [CorrelationIds.SIZE * CorrelationIds.BLOCK] * 3
