"""The OASIS KMIP 1.4 test cases of the profiles this engine serves, replayed in process.

Each request of the file (vectors/kmip-1.4/test-cases, see PROVENANCE.md) goes through
``RequestEngine.handle`` with its placeholders filled in ($UNIQUE_IDENTIFIER_n learnt from our
own answers, $NOW±n from the engine's clock); each answer is compared with the file's response
item by item: Operation, Unique Batch Item ID, Result Status and Result Reason. Messages that
contain an operation outside this engine's registry (Get Attributes, Locate, Add Attribute...:
another helper's) are skipped with their responses. The full replayer, comparing payloads with
the permitted variations, is the conformance suite's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ttlv
from kmip_server.model import decode_response
from kmip_server.operations import REGISTRY
from tests.unit.engine.support import NOW, Core, run_core, tenant
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Tag
from ttlv.xml import Placeholders, from_xml_document

CASES = Path(__file__).resolve().parents[3] / "vectors" / "kmip-1.4" / "test-cases"
FILES = [
    "SKLC-M-1-14",
    "SKLC-M-2-14",
    "SKLC-M-3-14",
    "SKLC-O-1-14",
    "OMOS-M-1-14",
    "OMOS-O-1-14",
    "AX-M-1-14",
]


def _path(name: str) -> Path:
    return next(CASES.glob(f"*/{name}.xml"))


def _operations(message: Item) -> list[int]:
    return [
        child.value
        for batch in message.find_all(Tag.BATCH_ITEM)
        for child in batch.children
        if child.tag == Tag.OPERATION and isinstance(child.value, int)
    ]


def _version(message: Item) -> tuple[int, int]:
    header = message.find(Tag.REQUEST_HEADER)
    version = header.find(Tag.PROTOCOL_VERSION) if header is not None else None
    assert version is not None
    major, minor = version.find(Tag.PROTOCOL_VERSION_MAJOR), version.find(Tag.PROTOCOL_VERSION_MINOR)
    assert major is not None
    assert minor is not None
    assert isinstance(major.value, int)
    assert isinstance(minor.value, int)
    return (major.value, minor.value)


def _fill(item: Item, placeholders: Placeholders, learnt: dict[str, str]) -> Item:
    if item.type is ItemType.STRUCTURE:
        return Item(item.tag, item.type, tuple(_fill(child, placeholders, learnt) for child in item.children))
    placeholder = placeholders.lookup(item)
    if placeholder is None:
        return item
    if item.type is ItemType.TEXT_STRING:
        return Item(item.tag, item.type, learnt[placeholder.text])
    if item.type is ItemType.DATE_TIME and placeholder.name == "NOW":
        return Item(item.tag, item.type, NOW + placeholder.offset)
    raise AssertionError(f"unexpected placeholder {placeholder.text} in a request")


def _learn(expected: Item, actual: Item, placeholders: Placeholders, learnt: dict[str, str]) -> None:
    """Bind each $UNIQUE_IDENTIFIER_n of the expected response to the value in ours (same position)."""
    if expected.type is ItemType.STRUCTURE and actual.type is ItemType.STRUCTURE:
        for mine, theirs in zip(expected.children, actual.children, strict=False):
            if mine.tag == theirs.tag:
                _learn(mine, theirs, placeholders, learnt)
        return
    placeholder = placeholders.lookup(expected)
    if placeholder is not None and expected.type is ItemType.TEXT_STRING and isinstance(actual.value, str):
        learnt.setdefault(placeholder.text, actual.value)


@pytest.mark.parametrize("name", FILES)
def test_oasis_case(tmp_path: Path, name: str) -> None:
    placeholders = Placeholders()
    messages = from_xml_document(_path(name).read_bytes(), placeholders=placeholders)
    pairs = list(zip(messages[::2], messages[1::2], strict=True))

    async def scenario(core: Core) -> None:
        learnt: dict[str, str] = {}
        replayed = 0
        for request, expected in pairs:
            if not all(op in REGISTRY for op in _operations(request)):
                continue
            answer = await core.engine.handle(
                ttlv.encode(_fill(request, placeholders, learnt)), tenant("tenant-a")
            )
            assert answer is not None
            actual_item = ttlv.decode(answer)
            _learn(expected, actual_item, placeholders, learnt)
            want = decode_response(expected)
            got = decode_response(actual_item)
            summary = [
                (i.operation, i.unique_batch_item_id, i.result_status, i.result_reason)
                for i in got.batch_items
            ]
            wanted = [
                (i.operation, i.unique_batch_item_id, i.result_status, i.result_reason)
                for i in want.batch_items
            ]
            assert summary == wanted, [i.result_message for i in got.batch_items]
            # The response uses the request's version (DESIGN 6). (OMOS-O-1-14's last response
            # says 1.3 to a 1.4 request: a slip in the vector, not followed here.)
            sent = _version(request)
            assert got.response_header.protocol_version.version == sent
            replayed += 1
        assert replayed >= 2

    run_core(tmp_path, scenario)
