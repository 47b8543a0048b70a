"""Interoperability with PyKMIP 0.11, an independent KMIP implementation (no network).

The corpus (``tests.support.pykmip_corpus``) holds requests and responses that PyKMIP's own
classes encoded, with their meaning written down by hand. Here:

- codec level: every corpus message decodes with ``ttlv`` and re-encodes to the same bytes;
- model level: every corpus message decodes through the KMIP message model to the facts,
  and the model re-encodes it to the same bytes PyKMIP wrote;
- reverse: messages built with the model and encoded by OpenKCM are read by PyKMIP's parser,
  which must see the same facts.
"""

from __future__ import annotations

from functools import cache

import pytest

from tests.support import pykmip_corpus as corpus
from ttlv.codec import decode, encode
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Tag

NAMES = [f"{base}-{major}.{minor}" for base in corpus.BUILDERS for major, minor in corpus.VERSIONS]


@cache
def _entries() -> dict[str, corpus.CorpusEntry]:
    return {entry.name: entry for entry in corpus.build_corpus()}


def entry(name: str) -> corpus.CorpusEntry:
    return _entries()[name]


# ---------------------------------------------------------------------------------------
# The corpus itself


@pytest.mark.parametrize("name", NAMES)
def test_pykmip_reads_back_the_hand_written_facts(name: str) -> None:
    """The facts are right about the bytes, according to PyKMIP itself."""
    e = entry(name)
    assert corpus.pykmip_facts(e.kind, e.data) == e.facts


def test_corpus_covers_the_operations_and_versions_of_the_issue() -> None:
    ops = {(e.kind, op) for e in _entries().values() for op in e.operations}
    for op in (
        corpus.OP_CREATE,
        corpus.OP_REGISTER,
        corpus.OP_GET,
        corpus.OP_GET_ATTRIBUTES,
        corpus.OP_LOCATE,
        corpus.OP_DESTROY,
        corpus.OP_ENCRYPT,
        corpus.OP_QUERY,
        corpus.OP_ACTIVATE,
        corpus.OP_REVOKE,
    ):
        assert ("request", op) in ops
        assert ("response", op) in ops
    assert {e.version for e in _entries().values()} == {(1, 2), (1, 4)}


# ---------------------------------------------------------------------------------------
# Codec level: bytes -> Item -> bytes


def _walk(item: Item) -> list[Item]:
    out = [item]
    for child in item.children:
        out.extend(_walk(child))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_codec_round_trips_pykmip_bytes_exactly(name: str) -> None:
    e = entry(name)
    item = decode(e.data)
    assert encode(item) == e.data
    assert encode(decode(bytearray(e.data))) == e.data


@pytest.mark.parametrize("name", NAMES)
def test_codec_items_carry_the_header_facts(name: str) -> None:
    """Independently of the model, the Item tree has the message's shape and values."""
    e = entry(name)
    item = decode(e.data)
    top, header_tag = (
        (Tag.REQUEST_MESSAGE, Tag.REQUEST_HEADER)
        if e.kind == "request"
        else (Tag.RESPONSE_MESSAGE, Tag.RESPONSE_HEADER)
    )
    assert item.tag == top
    assert item.type is ItemType.STRUCTURE
    header = item.find(header_tag)
    assert header is not None
    version = header.find(Tag.PROTOCOL_VERSION)
    assert version is not None
    major = version.find(Tag.PROTOCOL_VERSION_MAJOR)
    minor = version.find(Tag.PROTOCOL_VERSION_MINOR)
    assert major is not None
    assert minor is not None
    assert (major.value, minor.value) == e.facts["protocol_version"]
    count = header.find(Tag.BATCH_COUNT)
    assert count is not None
    assert count.type is ItemType.INTEGER
    batch = item.find_all(Tag.BATCH_ITEM)
    assert count.value == len(batch) == len(e.facts["items"])
    for batch_item, facts in zip(batch, e.facts["items"], strict=True):
        operation = batch_item.find(Tag.OPERATION)
        assert operation is not None
        assert operation.type is ItemType.ENUMERATION
        assert operation.value == facts["operation"]
    if e.kind == "response":
        stamp = header.find(Tag.TIME_STAMP)
        assert stamp is not None
        assert stamp.type is ItemType.DATE_TIME
        assert stamp.value == e.facts["time_stamp"]


def test_codec_carries_key_material_and_text_exactly() -> None:
    items = _walk(decode(entry("get-response-1.4").data))
    materials = [i.value for i in items if i.tag == Tag.KEY_MATERIAL]
    assert materials == [corpus.KEY_MATERIAL]
    uids = [i.value for i in items if i.tag == Tag.UNIQUE_IDENTIFIER]
    assert uids == [corpus.UID_KEY]
