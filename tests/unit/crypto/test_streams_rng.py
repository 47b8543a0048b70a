"""crypto.streams (ownership, bounds, expiry, part rules) and crypto.rng (bounds, seed policies)."""

from __future__ import annotations

import pytest

from kmip_server.crypto.rng import RngSettings, SeedPolicy, random_bytes, seed
from kmip_server.crypto.streams import (
    CORRELATION_VALUE_LENGTH,
    OpenStream,
    Part,
    StreamSettings,
    StreamTable,
    TooManyStreams,
    owner_of,
    part_of,
)
from kmip_server.errors import InvalidField, ItemNotFound, PermissionDenied
from kmip_server.identity import Identity, Role
from tests.unit.engine.support import tenant
from ttlv.kmip14 import Operation

A = ("tenant", "a", "svc")
B = ("tenant", "b", "svc")


def stream(owner: tuple[str, ...] = A, operation: Operation = Operation.ENCRYPT) -> OpenStream:
    return OpenStream(owner, operation, "uid", state=object())


def test_parts() -> None:
    assert part_of(None, None, None) is Part.SINGLE
    assert part_of(True, True, None) is Part.SINGLE
    assert part_of(True, None, None) is Part.FIRST
    assert part_of(None, None, b"c") is Part.MIDDLE
    assert part_of(False, True, b"c") is Part.LAST
    with pytest.raises(InvalidField):
        part_of(True, None, b"c")


def test_owners() -> None:
    assert owner_of(tenant("a")) == ("tenant", "a", "svc")
    assert owner_of(tenant("a", "other")) != owner_of(tenant("a"))
    assert owner_of(Identity(Role.GATEWAY, "gw", gateway="g1")) == ("gateway", "g1")


def test_a_stream_is_only_its_owners_for_its_operation_and_object() -> None:
    table = StreamTable()
    correlation = table.open(stream(), now=0)
    assert len(correlation) == CORRELATION_VALUE_LENGTH
    for owner, operation, uid in [
        (B, Operation.ENCRYPT, "uid"),
        (A, Operation.DECRYPT, "uid"),
        (A, Operation.ENCRYPT, "another"),
    ]:
        with pytest.raises(ItemNotFound) as caught:
            table.take(correlation, owner=owner, operation=operation, unique_identifier=uid, now=1)
        assert caught.value.message == "no outstanding operation with this Correlation Value"
    taken = table.take(correlation, owner=A, operation=Operation.ENCRYPT, unique_identifier="uid", now=1)
    with pytest.raises(ItemNotFound):  # taken out: a second request cannot work on it meanwhile
        table.take(correlation, owner=A, operation=Operation.ENCRYPT, unique_identifier="uid", now=1)
    table.put_back(correlation, taken, now=2)
    assert (
        table.take(correlation, owner=A, operation=Operation.ENCRYPT, unique_identifier=None, now=3) is taken
    )
    assert len(table) == 0


def test_streams_expire_when_idle() -> None:
    table = StreamTable(StreamSettings(idle_timeout=10))
    old = table.open(stream(), now=0)
    young = table.open(stream(), now=5)
    with pytest.raises(ItemNotFound):
        table.take(old, owner=A, operation=Operation.ENCRYPT, unique_identifier="uid", now=10)
    assert table.take(young, owner=A, operation=Operation.ENCRYPT, unique_identifier="uid", now=10)


def test_streams_are_bounded_per_owner_and_in_all() -> None:
    table = StreamTable(StreamSettings(max_streams=3, max_streams_per_owner=2))
    table.open(stream(A), now=0)
    table.open(stream(A), now=0)
    with pytest.raises(TooManyStreams):
        table.open(stream(A), now=0)
    table.open(stream(B), now=0)
    with pytest.raises(TooManyStreams):
        table.open(stream(("tenant", "c", "svc")), now=0)
    with pytest.raises(ValueError, match="max_streams_per_owner"):
        StreamSettings(max_streams=1, max_streams_per_owner=2)


def test_rng_retrieve_is_bounded() -> None:
    settings = RngSettings(max_retrieve_length=64)
    assert len(random_bytes(64, settings)) == 64
    assert random_bytes(32, settings) != random_bytes(32, settings)
    for bad in (0, -1, 65):
        with pytest.raises(InvalidField):
            random_bytes(bad, settings)


def test_seed_policies() -> None:
    mixed: list[bytes] = []

    def mix(data: bytes) -> int:
        mixed.append(data)
        return len(data)

    data = bytes(range(32))
    assert seed(data, RngSettings(), mix) == 0  # IGNORE by default: 4.36 allows it
    assert not mixed
    assert seed(data, RngSettings(seed_policy=SeedPolicy.MIX), mix) == 32
    assert seed(data, RngSettings(seed_policy=SeedPolicy.MIX, max_seed_length=16), mix) == 16
    assert mixed == [data, data[:16]]
    with pytest.raises(PermissionDenied):
        seed(data, RngSettings(seed_policy=SeedPolicy.REFUSE), mix)


def test_seed_mixes_into_the_os_pool() -> None:
    # The real pool: /dev/urandom accepts writes from any user (mixed in, not credited).
    assert seed(b"some seeding material", RngSettings(seed_policy=SeedPolicy.MIX)) == 21
