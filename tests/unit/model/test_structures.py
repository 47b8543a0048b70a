"""Every model class round-trips, fully filled and minimal, at every protocol version."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kmip_server.model import OPERATIONS, InvalidMessage
from kmip_server.model.codec import (
    Version,
    _fields_of,
    _Struct,
    codec_for,
    decode_struct,
    encode_struct,
)
from tests.unit.model.samples import model_classes, sample
from ttlv.codec import decode, encode
from ttlv.item import Item
from ttlv.kmip14 import Operation

CLASSES = model_classes()
TAG = 0x420001
VERSIONS: list[Version] = [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]


def ids(cls: type) -> str:
    return cls.__qualname__


def test_the_package_has_the_expected_number_of_model_classes() -> None:
    # A guard that model_classes() finds them; update when classes are added.
    assert len(CLASSES) > 100


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
@pytest.mark.parametrize("full", [True, False], ids=["full", "minimal"])
def test_round_trip_through_items_and_bytes(cls: type, full: bool) -> None:
    value = sample(cls, full=full)
    encoded = encode_struct(value, TAG)
    assert decode_struct(cls, encoded) == value
    assert decode_struct(cls, decode(encode(encoded))) == value


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_minimal_form_lacks_only_optional_fields(cls: type) -> None:
    """Dropping any one REQUIRED field of the minimal form is InvalidMessage."""
    encoded = encode_struct(sample(cls, full=False), TAG)
    for index in range(len(encoded.children)):
        children = encoded.children[:index] + encoded.children[index + 1 :]
        if any(c.tag == encoded.children[index].tag for c in children):
            continue  # a repeated field still present
        with pytest.raises(InvalidMessage):
            decode_struct(cls, type(encoded)(TAG, encoded.type, children))


def _strip(value: Any, version: Version) -> Any:
    """``value`` without the fields ``version`` does not define, at any depth."""
    if isinstance(value, tuple):
        return tuple(_strip(v, version) for v in value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type | Item):
        return value
    changes: dict[str, Any] = {}
    for f in _fields_of(type(value)):
        current = getattr(value, f.name)
        if f.since > version:
            changes[f.name] = () if f.repeated else None
        else:
            changes[f.name] = _strip(current, version)
    return dataclasses.replace(value, **changes)


def _reachable_at(cls: type, version: Version) -> bool:
    """Whether every REQUIRED field of ``cls`` (recursively) exists at ``version``."""
    for f in _fields_of(cls):
        if f.optional or (f.repeated and not f.non_empty):
            continue
        if f.since > version:
            return False
        if isinstance(f.kind, _Struct) and not _reachable_at(f.kind.cls, version):
            return False
    return True


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v[0]}.{v[1]}")
def test_older_versions_lose_exactly_the_newer_fields(cls: type, version: Version) -> None:
    if not _reachable_at(cls, version):
        pytest.skip("the class cannot occur in this version")
    value = sample(cls)
    encoded = encode_struct(value, TAG, version)
    assert decode_struct(cls, encoded) == _strip(value, version)


def test_every_operation_has_payloads_and_a_section() -> None:
    assert set(OPERATIONS) == set(Operation)
    sections = [spec.section for spec in OPERATIONS.values()]
    assert len(set(sections)) == len(sections)
    for spec in OPERATIONS.values():
        codec_for(spec.request)
        if spec.response is not None:
            codec_for(spec.response)
    assert [op for op, spec in OPERATIONS.items() if spec.response is None] == [Operation.POLL]
    assert {op for op, spec in OPERATIONS.items() if spec.server_to_client} == {
        Operation.NOTIFY,
        Operation.PUT,
    }


@pytest.mark.parametrize(
    ("operation", "since"),
    [
        (Operation.CREATE, (1, 0)),
        (Operation.RE_KEY_KEY_PAIR, (1, 1)),
        (Operation.DISCOVER_VERSIONS, (1, 1)),
        (Operation.ENCRYPT, (1, 2)),
        (Operation.JOIN_SPLIT_KEY, (1, 2)),
        (Operation.IMPORT, (1, 4)),
        (Operation.EXPORT, (1, 4)),
    ],
)
def test_operation_versions(operation: Operation, since: Version) -> None:
    assert OPERATIONS[operation].since == since
