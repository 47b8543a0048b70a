"""The 75 OASIS KMIP 1.4 profile test cases (vectors/kmip-1.4/test-cases, see PROVENANCE.md).

Every file parses; every message survives XML -> Item -> TTLV bytes -> Item -> XML with nothing
lost. "Nothing lost" is judged on canonicalized element trees built here with the stdlib alone
(same element names, attributes and values, children in order), so that the check does not
trust the module under test. The canonical form forgives exactly what the XML encoding leaves
free: white space and comments, implicit ``type="Structure"``, the case of hex digits, and the
order of the names in a mask value ("Decrypt Encrypt" is the same Integer as "Encrypt Decrypt").

MSGENC-HTTPS-M-1-14, MSGENC-JSON-M-1-14 and MSGENC-XML-M-1-14 belong to the message-encoding
profiles (KMIP over HTTPS, and the JSON and XML encodings as wire formats). Their content is
the same Query exchange, written, like every file, in the XML encoding; here they are parsed and
round-tripped like the others, which exercises none of those transports or wire encodings.

Comments are not messages: CS-BC-M-GCM-3-14 keeps two messages inside a comment (disabled by
the authors), and the GCM files label their steps with comments; all are dropped on reading.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ttlv.codec import decode, encode
from ttlv.item import ItemType
from ttlv.xml import Placeholders, from_xml, from_xml_document, to_xml, to_xml_document

CASES = Path(__file__).resolve().parents[2] / "vectors" / "kmip-1.4" / "test-cases"
FILES = sorted(CASES.glob("*/*.xml"))
MESSAGE_ENCODING_FILES = ("MSGENC-HTTPS-M-1-14.xml", "MSGENC-JSON-M-1-14.xml", "MSGENC-XML-M-1-14.xml")

Canonical = tuple[str, tuple[tuple[str, object], ...], tuple["Canonical", ...]]


def canonical(element: ET.Element) -> Canonical:
    """An order-preserving, comment-free form of a KMIP XML element (see the module docstring)."""
    attributes = dict(element.attrib)
    kind = attributes.setdefault("type", "Structure")
    values: dict[str, object] = dict(attributes)
    value = attributes.get("value")
    if value is not None:
        if kind == "ByteString" or value.startswith("0x"):
            values["value"] = value.lower()
        elif kind == "Integer" and not re.fullmatch(r"-?[0-9]+", value):
            values["value"] = tuple(sorted(value.split()))  # mask names
    if "tag" in values:
        values["tag"] = str(values["tag"]).lower()
    children = tuple(canonical(child) for child in element if isinstance(child.tag, str))
    return (str(element.tag), tuple(sorted(values.items())), children)


def test_all_75_test_cases_are_present() -> None:
    assert len(FILES) == 75
    assert len(list(CASES.glob("mandatory/*.xml"))) == 68
    assert len(list(CASES.glob("optional/*.xml"))) == 7


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_round_trip_through_ttlv(path: Path) -> None:
    raw = path.read_bytes()
    original = ET.fromstring(raw)
    assert original.tag == "KMIP"
    messages = [child for child in original if isinstance(child.tag, str)]
    assert messages, "no messages"
    assert [m.tag for m in messages] == ["RequestMessage", "ResponseMessage"] * (len(messages) // 2)

    placeholders = Placeholders()
    items = from_xml_document(raw, placeholders=placeholders)
    assert len(items) == len(messages)
    for message, item in zip(messages, items, strict=True):
        wire = encode(item)
        back = decode(wire)
        assert back == item
        assert encode(back) == wire
        text = to_xml(back, placeholders=placeholders)
        assert canonical(ET.fromstring(text)) == canonical(message)
        # Deterministic, and the written text reads back to the same Item.
        assert to_xml(item, placeholders=placeholders) == text
        assert from_xml(text, placeholders=placeholders) == item

    # The whole document too, through to_xml_document.
    rewritten = ET.fromstring(to_xml_document(items, placeholders=placeholders))
    assert [canonical(m) for m in rewritten] == [canonical(m) for m in messages]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_placeholders_are_all_registered_and_found(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    # From the parsed tree: CS-BC-M-GCM-3-14 has two messages commented out, placeholders and all.
    written = [e.get("value", "") for e in ET.fromstring(raw).iter() if e.get("value", "").startswith("$")]
    placeholders = Placeholders()
    items = from_xml_document(raw, placeholders=placeholders)
    assert {p.text for p in placeholders} == set(written)
    found = [placeholder.text for item in items for _, placeholder in placeholders.find(item)]
    assert found == written  # every occurrence, in document order
    for placeholder in placeholders:
        assert placeholder.type in {ItemType.TEXT_STRING, ItemType.BYTE_STRING, ItemType.DATE_TIME}
        if placeholder.type is not ItemType.TEXT_STRING:
            assert placeholder.sentinel != placeholder.text


def test_placeholder_kinds_across_the_suite() -> None:
    """The placeholders the replayer must handle, by type (a new kind should be noticed)."""
    kinds: dict[ItemType, set[str]] = {}
    for path in FILES:
        placeholders = Placeholders()
        from_xml_document(path.read_bytes(), placeholders=placeholders)
        for p in placeholders:
            kinds.setdefault(p.type, set()).add(re.sub(r"_[0-9]+$", "_n", p.name))
    assert kinds == {
        ItemType.TEXT_STRING: {"UNIQUE_IDENTIFIER_n"},
        ItemType.DATE_TIME: {"NOW"},
        ItemType.BYTE_STRING: {
            "AUTHENTICATED_ENCRYPTION_TAG",
            "CORRELATION_VALUE",
            "DATA_n",
            "IV_COUNTER_NONCE",
            "KEY_MATERIAL_n",
            "KEY_VALUE_n",
            "MAC_DATA",
            "SIGNATURE_DATA",
        },
    }


def test_message_encoding_files_hold_the_same_exchange() -> None:
    documents = []
    for name in MESSAGE_ENCODING_FILES:
        (path,) = [p for p in FILES if p.name == name]
        documents.append(from_xml_document(path.read_bytes(), placeholders=Placeholders()))
    assert documents[0] == documents[1] == documents[2]


def test_canonical_form_sees_a_changed_value() -> None:
    """The comparison above can fail: a changed value, name or child order is a difference."""
    a = ET.fromstring('<A><B type="Integer" value="1"/><C type="TextString" value="x"/></A>')
    b = ET.fromstring('<A><B type="Integer" value="2"/><C type="TextString" value="x"/></A>')
    c = ET.fromstring('<A><C type="TextString" value="x"/><B type="Integer" value="1"/></A>')
    d = ET.fromstring(
        '<A type="Structure"><!-- note --><B type="Integer" value="1"/><C type="TextString" value="x"/></A>'
    )
    assert canonical(a) != canonical(b)
    assert canonical(a) != canonical(c)
    assert canonical(a) == canonical(d)
    masks = [
        ET.fromstring(f'<M type="Integer" value="{v}"/>')
        for v in ("Encrypt Decrypt", "Decrypt Encrypt", "Encrypt")
    ]
    assert canonical(masks[0]) == canonical(masks[1]) != canonical(masks[2])
