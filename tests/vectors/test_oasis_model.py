"""Every message of the 75 OASIS KMIP 1.4 test cases through the message model.

For each message of vectors/kmip-1.4/test-cases (see PROVENANCE.md):
XML -> Item -> model -> Item -> TTLV bytes -> Item -> model -> Item -> XML, and the XML written at
the end says exactly what the file says. Placeholders ($UNIQUE_IDENTIFIER_n, $NOW-3600,
$KEY_MATERIAL_n...) travel as the sentinel values ``ttlv.xml.Placeholders`` gives them and are
written back as their text; Date-Times being ints in the model, any sentinel survives.

"Says exactly" is judged on canonical element trees built here with the stdlib (names, types,
values, children in order), forgiving only what the XML encoding leaves free: white space,
comments, implicit Structure type, hex case and the order of names in a mask. On top of that the
re-encoded Item must equal the Item read from the file, which also proves that every message in
the suite already lists its fields in the spec order the model writes.

No file is excluded: the three MSGENC files (HTTPS, JSON and XML message-encoding profiles) hold
the same Query exchange written in the XML encoding like every other file, so their messages are
ordinary TTLV messages here (the transports and wire encodings they are about are not tested).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmip_server.model import (
    RequestMessage,
    ResponseMessage,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from ttlv.codec import decode, encode
from ttlv.item import Item
from ttlv.kmip14 import Tag
from ttlv.xml import Placeholders, from_xml_document, to_xml

CASES = Path(__file__).resolve().parents[2] / "vectors" / "kmip-1.4" / "test-cases"
FILES = sorted(CASES.glob("*/*.xml"))

Canonical = tuple[str, tuple[tuple[str, object], ...], tuple["Canonical", ...]]


def canonical(element: ET.Element) -> Canonical:
    attributes: dict[str, object] = dict(element.attrib)
    kind = attributes.setdefault("type", "Structure")
    value = attributes.get("value")
    if isinstance(value, str):
        if kind == "ByteString" or value.startswith("0x"):
            attributes["value"] = value.lower()
        elif kind == "Integer" and not re.fullmatch(r"-?[0-9]+", value):
            attributes["value"] = tuple(sorted(value.split()))
    children = tuple(canonical(child) for child in element if isinstance(child.tag, str))
    return (str(element.tag), tuple(sorted(attributes.items())), children)


def through_model(
    item: Item,
) -> tuple[Item, RequestMessage | ResponseMessage, RequestMessage | ResponseMessage]:
    """item -> model -> Item -> bytes -> Item -> model -> Item."""
    if item.tag == Tag.REQUEST_MESSAGE:
        first_request = decode_request(item)
        second_request = decode_request(decode(encode(encode_request(first_request))))
        return encode_request(second_request), first_request, second_request
    assert item.tag == Tag.RESPONSE_MESSAGE
    first_response = decode_response(item)
    second_response = decode_response(decode(encode(encode_response(first_response))))
    return encode_response(second_response), first_response, second_response


def test_the_suite_is_complete() -> None:
    assert len(FILES) == 75


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_message_round_trips_through_the_model(path: Path) -> None:
    raw = path.read_bytes()
    messages = [child for child in ET.fromstring(raw) if isinstance(child.tag, str)]
    placeholders = Placeholders()
    items = from_xml_document(raw, placeholders=placeholders)
    assert len(items) == len(messages) > 0
    for element, item in zip(messages, items, strict=True):
        final, first, second = through_model(item)
        assert second == first
        assert final == item
        written = ET.fromstring(to_xml(final, placeholders=placeholders))
        assert canonical(written) == canonical(element)


def test_the_comparison_can_fail() -> None:
    """A changed value in the model shows in the XML comparison."""
    path = CASES / "mandatory" / "SKLC-M-1-14.xml"
    raw = path.read_bytes()
    placeholders = Placeholders()
    item = from_xml_document(raw, placeholders=placeholders)[0]
    element = next(child for child in ET.fromstring(raw) if isinstance(child.tag, str))
    request = decode_request(item)
    header = request.request_header
    changed = RequestMessage(
        request_header=type(header)(
            protocol_version=header.protocol_version, batch_count=1, batch_order_option=True
        ),
        batch_items=request.batch_items,
    )
    written = ET.fromstring(to_xml(encode_request(changed), placeholders=placeholders))
    assert canonical(written) != canonical(element)
