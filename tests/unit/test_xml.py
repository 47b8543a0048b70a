"""The KMIP XML encoding (ttlv.xml) and name normalization (ttlv.names)."""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttlv.codec import decode, encode
from ttlv.errors import TTLVError
from ttlv.item import Item, ItemType
from ttlv.kmip14 import TAG_XML_NAMES, CryptographicUsageMask, ObjectType, State, Tag
from ttlv.names import normalize
from ttlv.xml import (
    BYTES_SENTINEL_PREFIX,
    DATE_TIME_SENTINEL_BASE,
    Placeholder,
    PlaceholderError,
    Placeholders,
    XMLError,
    XmlLimits,
    XMLTooDeep,
    XMLTooLarge,
    XMLTooManyElements,
    from_xml,
    from_xml_document,
    parse,
    to_element,
    to_xml,
    to_xml_document,
)

STRUCT, INT, LONG, BIG, ENUM, BOOL, TEXT, BYTES, DT, IVL = (
    ItemType.STRUCTURE,
    ItemType.INTEGER,
    ItemType.LONG_INTEGER,
    ItemType.BIG_INTEGER,
    ItemType.ENUMERATION,
    ItemType.BOOLEAN,
    ItemType.TEXT_STRING,
    ItemType.BYTE_STRING,
    ItemType.DATE_TIME,
    ItemType.INTERVAL,
)


def attribute(name: str, value: Item) -> Item:
    return Item(Tag.ATTRIBUTE, STRUCT, (Item(Tag.ATTRIBUTE_NAME, TEXT, name), value))


# --- normalization -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "normalized"),
    [
        ("Protocol Version Major", "ProtocolVersionMajor"),
        ("SHA-256", "SHA_256"),
        ("Pre-Active", "PreActive"),
        ("Uninterpreted Text String", "UninterpretedTextString"),
        ("3DES", "DES3"),  # leading digits move to the end of the first word
        ("X.509", "X_509"),
        ("PKCS#1", "PKCS_1"),
        ("HMAC-SHA256", "HMAC_SHA256"),  # hyphen before two capitals: not a word break
        ("ANSI X9.31", "ANSIX9_31"),
        ("IV/Counter/Nonce", "IVCounterNonce"),
        ("Re-key Key Pair", "ReKeyKeyPair"),  # lower-case word after a hyphen gets its capital
        ("MAC/sign then encrypt", "MACSignThenEncrypt"),
        ("Private Key Template-Attribute", "PrivateKeyTemplateAttribute"),
        ("Unique Batch Item ID", "UniqueBatchItemID"),
        ("SHA-256 with RSA Encryption (PKCS#1 v1.5)", "SHA_256WithRSAEncryptionPKCS_1V1_5"),
        ("Polynomial Sharing GF (2^16)", "PolynomialSharingGF2_16"),
        ("Index Out of Bounds", "IndexOutOfBounds"),
        ("On-line storage", "OnLineStorage"),
        ("Compromise  Date", "CompromiseDate"),
    ],
)
def test_normalize(spec: str, normalized: str) -> None:
    assert normalize(spec) == normalized


def test_every_xml_tag_name_is_an_xml_name() -> None:
    for name in TAG_XML_NAMES.values():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), name


# --- each type, both ways ----------------------------------------------------------------------

BOTH_WAYS = [
    ('<BatchCount type="Integer" value="1"/>', Item(Tag.BATCH_COUNT, INT, 1)),
    ('<BatchCount type="Integer" value="-2147483648"/>', Item(Tag.BATCH_COUNT, INT, -(2**31))),
    ('<UsageLimitsTotal type="LongInteger" value="16"/>', Item(Tag.USAGE_LIMITS_TOTAL, LONG, 16)),
    (
        '<UsageLimitsTotal type="LongInteger" value="-9223372036854775808"/>',
        Item(Tag.USAGE_LIMITS_TOTAL, LONG, -(2**63)),
    ),
    ('<Modulus type="BigInteger" value="0x0000000000000080"/>', Item(Tag.MODULUS, BIG, 128)),
    ('<Modulus type="BigInteger" value="0xFFFFFFFFFFFFFFFF"/>', Item(Tag.MODULUS, BIG, -1)),
    (
        '<Modulus type="BigInteger" value="0x00000000000000010000000000000000"/>',
        Item(Tag.MODULUS, BIG, 2**64),
    ),
    (
        '<ObjectType type="Enumeration" value="SymmetricKey"/>',
        Item(Tag.OBJECT_TYPE, ENUM, ObjectType.SYMMETRIC_KEY),
    ),
    ('<ObjectType type="Enumeration" value="0x000000FF"/>', Item(Tag.OBJECT_TYPE, ENUM, 0xFF)),  # no name
    ('<OpaqueDataType type="Enumeration" value="0x80000001"/>', Item(Tag.OPAQUE_DATA_TYPE, ENUM, 0x80000001)),
    ('<HashingAlgorithm type="Enumeration" value="SHA_256"/>', Item(Tag.HASHING_ALGORITHM, ENUM, 6)),
    ('<Sensitive type="Boolean" value="true"/>', Item(Tag.SENSITIVE, BOOL, True)),
    ('<Sensitive type="Boolean" value="false"/>', Item(Tag.SENSITIVE, BOOL, False)),
    ('<NameValue type="TextString" value="SKLC-M-1-14"/>', Item(Tag.NAME_VALUE, TEXT, "SKLC-M-1-14")),
    ('<NameValue type="TextString" value=""/>', Item(Tag.NAME_VALUE, TEXT, "")),
    (
        '<NameValue type="TextString" value="a&lt;b&amp;&quot;c&quot;&gt;&#10;&#9;&#13;é"/>',
        Item(Tag.NAME_VALUE, TEXT, 'a<b&"c">\n\t\ré'),
    ),
    ('<Data type="ByteString" value="00ff10"/>', Item(Tag.DATA, BYTES, b"\x00\xff\x10")),
    ('<Data type="ByteString" value=""/>', Item(Tag.DATA, BYTES, b"")),
    ('<TimeStamp type="DateTime" value="1970-01-01T00:00:06+00:00"/>', Item(Tag.TIME_STAMP, DT, 6)),
    ('<TimeStamp type="DateTime" value="1969-12-31T23:59:59+00:00"/>', Item(Tag.TIME_STAMP, DT, -1)),
    (
        '<TimeStamp type="DateTime" value="9999-12-31T23:59:59+00:00"/>',
        Item(Tag.TIME_STAMP, DT, 253402300799),
    ),
    (
        '<TimeStamp type="DateTime" value="0x7FFFFFFFFFFFFFFF"/>',
        Item(Tag.TIME_STAMP, DT, 2**63 - 1),
    ),  # no ISO form
    ('<LeaseTime type="Interval" value="3600"/>', Item(Tag.LEASE_TIME, IVL, 3600)),
    ('<LeaseTime type="Interval" value="4294967295"/>', Item(Tag.LEASE_TIME, IVL, 2**32 - 1)),
    ('<TTLV tag="0x540001" type="TextString" value="x"/>', Item(0x540001, TEXT, "x")),
    ('<TTLV tag="0x42FFFF" type="Integer" value="7"/>', Item(0x42FFFF, INT, 7)),  # reserved, no name
    ("<Attribute/>", Item(Tag.ATTRIBUTE, STRUCT, ())),
    (
        '<ProtocolVersion>\n  <ProtocolVersionMajor type="Integer" value="1"/>\n'
        '  <ProtocolVersionMinor type="Integer" value="4"/>\n</ProtocolVersion>',
        Item(
            Tag.PROTOCOL_VERSION,
            STRUCT,
            (Item(Tag.PROTOCOL_VERSION_MAJOR, INT, 1), Item(Tag.PROTOCOL_VERSION_MINOR, INT, 4)),
        ),
    ),
    (
        '<TTLV tag="0x540000">\n  <TTLV tag="0x540001" type="ByteString" value="01"/>\n</TTLV>',
        Item(0x540000, STRUCT, (Item(0x540001, BYTES, b"\x01"),)),
    ),
]


@pytest.mark.parametrize(
    ("text", "item"), BOTH_WAYS, ids=[t.split()[0] + str(i) for i, (t, _) in enumerate(BOTH_WAYS)]
)
def test_each_type_both_ways(text: str, item: Item) -> None:
    assert from_xml(text) == item
    assert to_xml(item) == text + "\n"
    assert decode(encode(item)) == item  # every case is also valid TTLV


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('<BatchCount type="Integer" value="0xFFFFFFFF"/>', -1),  # hex is the 32-bit pattern
        ('<BatchCount type="Integer" value="0x10"/>', 16),
        ('<UsageLimitsTotal type="LongInteger" value="0xFFFFFFFFFFFFFFFF"/>', -1),
        ('<LeaseTime type="Interval" value="0x00000E10"/>', 3600),
        ('<Modulus type="BigInteger" value="0x80"/>', -128),  # two's complement of the bytes given
        ('<Modulus type="BigInteger" value="12345678901234567890"/>', 12345678901234567890),
        ('<Modulus type="BigInteger" value="-' + "9" * 100 + '"/>', -int("9" * 100)),
        ('<Data type="ByteString" value="FF0a"/>', b"\xff\x0a"),  # either case
        ('<TimeStamp type="DateTime" value="1970-01-01T10:00:06+10:00"/>', 6),  # converted to UTC
        ('<TimeStamp type="DateTime" value="1970-01-01T00:00:06Z"/>', 6),
        ('<TimeStamp type="DateTime" value="1969-12-31T19:00:06-05:00"/>', 6),
        ('<ObjectType type="Enumeration" value="0x2"/>', 2),
    ],
)
def test_accepted_input_spellings(text: str, value: object) -> None:
    assert from_xml(text).value == value


def test_explicit_structure_type_and_comments_are_accepted() -> None:
    text = (
        '<ProtocolVersion type="Structure"><!-- c -->'
        '<ProtocolVersionMajor type="Integer" value="1"/></ProtocolVersion>'
    )
    assert from_xml(text) == Item(Tag.PROTOCOL_VERSION, STRUCT, (Item(Tag.PROTOCOL_VERSION_MAJOR, INT, 1),))


def test_element_input_with_comment_nodes() -> None:
    builder = ET.TreeBuilder(insert_comments=True)
    parser = ET.XMLParser(target=builder)
    parser.feed(
        '<ProtocolVersion><!-- c --><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>'
    )
    element = parser.close()
    assert from_xml(element) == Item(
        Tag.PROTOCOL_VERSION, STRUCT, (Item(Tag.PROTOCOL_VERSION_MINOR, INT, 4),)
    )


def test_to_element_attribute_order() -> None:
    element = to_element(Item(0x540001, INT, 1))
    assert list(element.attrib) == ["tag", "type", "value"]
    assert element.tag == "TTLV"


def test_document_both_ways() -> None:
    items = [
        Item(Tag.REQUEST_MESSAGE, STRUCT, ()),
        Item(Tag.RESPONSE_MESSAGE, STRUCT, (Item(Tag.BATCH_COUNT, INT, 1),)),
    ]
    text = to_xml_document(items)
    assert text.startswith("<KMIP>\n")
    assert text.endswith("</KMIP>\n")
    assert from_xml_document(text) == items
    assert from_xml_document(parse(text)) == items


# --- masks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "written"),
    [
        ("Encrypt Decrypt", 12, "Encrypt Decrypt"),
        ("Decrypt Encrypt", 12, "Encrypt Decrypt"),  # written in bit order
        ("Encrypt  Decrypt MACGenerate MACVerify", 0x18C, "Encrypt Decrypt MACGenerate MACVerify"),
        ("ContentCommitmentNonRepudiation", 0x400, "ContentCommitmentNonRepudiation"),
        ("Encrypt 0x00100000", 0x100004, "Encrypt 0x00100000"),  # a bit without a name
        ("12", 12, "Encrypt Decrypt"),
        ("0x0000000C", 12, "Encrypt Decrypt"),
        ("0", 0, "0"),
        ("0x80000000", -(2**31), "0x80000000"),  # an Integer is signed on the wire
    ],
)
def test_cryptographic_usage_mask(text: str, value: int, written: str) -> None:
    item = from_xml(f'<CryptographicUsageMask type="Integer" value="{text}"/>')
    assert item == Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, INT, value)
    assert to_xml(item) == f'<CryptographicUsageMask type="Integer" value="{written}"/>\n'
    assert decode(encode(item)) == item


def test_storage_status_mask() -> None:
    item = from_xml('<StorageStatusMask type="Integer" value="ArchivalStorage OnLineStorage"/>')
    assert item.value == 3
    assert to_xml(item) == '<StorageStatusMask type="Integer" value="OnLineStorage ArchivalStorage"/>\n'


@pytest.mark.parametrize("text", ["", "Encrypt Bogus", "encrypt", "Encrypt|Decrypt", "0x100000000"])
def test_bad_masks(text: str) -> None:
    with pytest.raises(XMLError, match="CryptographicUsageMask"):
        from_xml(f'<CryptographicUsageMask type="Integer" value="{text}"/>')


def test_mask_names_only_where_a_mask_is() -> None:
    with pytest.raises(XMLError):
        from_xml('<BatchCount type="Integer" value="Encrypt"/>')


# --- attribute values typed by their attribute name --------------------------------------------


def test_attribute_value_typed_by_attribute_name() -> None:
    usage = attribute("Cryptographic Usage Mask", Item(Tag.ATTRIBUTE_VALUE, INT, 12))
    state = attribute("State", Item(Tag.ATTRIBUTE_VALUE, ENUM, State.PRE_ACTIVE))
    algorithm = attribute("Cryptographic Algorithm", Item(Tag.ATTRIBUTE_VALUE, ENUM, 3))
    text = to_xml(Item(Tag.TEMPLATE_ATTRIBUTE, STRUCT, (usage, state, algorithm)))
    assert '<AttributeValue type="Integer" value="Encrypt Decrypt"/>' in text
    assert '<AttributeValue type="Enumeration" value="PreActive"/>' in text
    assert '<AttributeValue type="Enumeration" value="AES"/>' in text
    assert from_xml(text) == Item(Tag.TEMPLATE_ATTRIBUTE, STRUCT, (usage, state, algorithm))


def test_attribute_name_after_value_still_types_it() -> None:
    text = (
        '<Attribute><AttributeValue type="Enumeration" value="Active"/>'
        '<AttributeName type="TextString" value="State"/></Attribute>'
    )
    item = from_xml(text)
    assert item.children[0] == Item(Tag.ATTRIBUTE_VALUE, ENUM, State.ACTIVE)


def test_structured_attribute_value_uses_its_childrens_tags() -> None:
    text = (
        '<Attribute><AttributeName type="TextString" value="Name"/><AttributeValue>'
        '<NameValue type="TextString" value="k"/>'
        '<NameType type="Enumeration" value="UninterpretedTextString"/>'
        "</AttributeValue></Attribute>"
    )
    item = from_xml(text)
    value = item.children[1]
    assert value.children[1] == Item(Tag.NAME_TYPE, ENUM, 1)
    assert to_xml(item) == to_xml(from_xml(to_xml(item)))


def test_custom_attribute_values_are_untyped() -> None:
    item = attribute("x-Custom", Item(Tag.ATTRIBUTE_VALUE, ENUM, 2))
    text = to_xml(item)
    assert '<AttributeValue type="Enumeration" value="0x00000002"/>' in text
    assert from_xml(text) == item
    with pytest.raises(XMLError, match="AttributeValue"):
        from_xml(text.replace("0x00000002", "SymmetricKey"))


def test_attribute_value_outside_an_attribute_has_no_vocabulary() -> None:
    with pytest.raises(XMLError):
        from_xml('<AttributeValue type="Enumeration" value="Active"/>')


# --- placeholders ------------------------------------------------------------------------------


def test_text_placeholder_without_a_table_is_text() -> None:
    assert from_xml('<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>').value == (
        "$UNIQUE_IDENTIFIER_0"
    )


@pytest.mark.parametrize(
    "text", ['<Data type="ByteString" value="$DATA_0"/>', '<TimeStamp type="DateTime" value="$NOW"/>']
)
def test_other_placeholders_need_a_table(text: str) -> None:
    with pytest.raises(XMLError, match="Placeholders table"):
        from_xml(text)


def test_placeholders_both_ways_and_through_ttlv() -> None:
    text = (
        "<ResponsePayload>\n"
        '  <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_3"/>\n'
        '  <KeyMaterial type="ByteString" value="$KEY_MATERIAL_0"/>\n'
        '  <IVCounterNonce type="ByteString" value="$IV_COUNTER_NONCE"/>\n'
        '  <ActivationDate type="DateTime" value="$NOW-3600"/>\n'
        '  <DeactivationDate type="DateTime" value="$NOW+3600"/>\n'
        '  <TimeStamp type="DateTime" value="$NOW"/>\n'
        '  <CorrelationValue type="ByteString" value="$KEY_MATERIAL_0"/>\n'
        "</ResponsePayload>\n"
    )
    table = Placeholders()
    item = from_xml(text, placeholders=table)
    assert len(table) == 6  # $KEY_MATERIAL_0 twice: one placeholder, one sentinel
    values = [child.value for child in item.children]
    assert values[0] == "$UNIQUE_IDENTIFIER_3"
    assert isinstance(values[1], bytes)
    assert values[1].startswith(BYTES_SENTINEL_PREFIX)
    assert values[1] == values[6] != values[2]
    assert values[3] == DATE_TIME_SENTINEL_BASE
    assert len({values[3], values[4], values[5]}) == 3
    back = decode(encode(item))
    assert back == item
    assert to_xml(back, placeholders=table) == text
    assert to_xml(back) != text  # without the table, sentinels are plain values


def test_placeholder_fields() -> None:
    table = Placeholders()
    p = table.register("$NOW-3600", DT)
    assert p == Placeholder("$NOW-3600", "NOW", -3600, DT, DATE_TIME_SENTINEL_BASE)
    assert table.register("$NOW-3600", DT) is p
    assert table.register("$NOW+5", DT).offset == 5
    assert table.register("$X", BYTES).sentinel == BYTES_SENTINEL_PREFIX + b"\x00\x00\x00\x00"
    assert table.register("$X", TEXT).sentinel == "$X"  # per type
    assert [q.text for q in table] == ["$NOW-3600", "$NOW+5", "$X", "$X"]


@pytest.mark.parametrize("text", ["NOW", "$now", "$", "$NOW-", "$NOW*2", "$1A"])
def test_malformed_placeholders_refused(text: str) -> None:
    assert not Placeholders.is_placeholder(text)
    with pytest.raises(PlaceholderError):
        Placeholders().register(text, TEXT)


def test_placeholder_of_other_types_refused() -> None:
    with pytest.raises(PlaceholderError, match="Integer"):
        Placeholders().register("$N", INT)
    with pytest.raises(XMLError):
        from_xml('<BatchCount type="Integer" value="$N"/>', placeholders=Placeholders())


def test_lookup_find_and_substitute() -> None:
    table = Placeholders()
    text = (
        "<RequestPayload>"
        '<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>'
        '<TemplateAttribute><Attribute><AttributeName type="TextString" value="Activation Date"/>'
        '<AttributeValue type="DateTime" value="$NOW-3600"/></Attribute></TemplateAttribute>'
        '<Data type="ByteString" value="$DATA_0"/>'
        '<BatchCount type="Integer" value="1"/>'
        "</RequestPayload>"
    )
    item = from_xml(text, placeholders=table)
    found = table.find(item)
    assert [(path, p.text) for path, p in found] == [
        ((0,), "$UNIQUE_IDENTIFIER_0"),
        ((1, 0, 1), "$NOW-3600"),
        ((2,), "$DATA_0"),
    ]
    data = item.children[2]
    assert table.lookup(Item(data.tag, BYTES, bytearray(data.value))) is not None  # type: ignore[arg-type]
    assert table.lookup(item.children[3]) is None
    assert table.lookup(item) is None
    real = table.substitute(item, {"UNIQUE_IDENTIFIER_0": "uid-1", "NOW": 1_000_000, "DATA_0": b"\x01\x02"})
    assert real.children[0].value == "uid-1"
    assert real.children[1].children[0].children[1].value == 1_000_000 - 3600
    assert real.children[2].value == b"\x01\x02"
    assert real.children[3] == item.children[3]
    assert table.find(real) == []
    with pytest.raises(PlaceholderError, match="NOW"):
        table.substitute(item, {"UNIQUE_IDENTIFIER_0": "u", "DATA_0": b""})
    with pytest.raises(PlaceholderError, match="DATA_0"):
        table.substitute(item, {"UNIQUE_IDENTIFIER_0": "u", "NOW": 0, "DATA_0": "text"})


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<ProtocolVersion>", "malformed XML"),
        ("", "malformed XML"),
        ("<A/><B/>", "malformed XML"),
        ('<Bogus type="Integer" value="1"/>', "unknown element name"),
        ('<ns:BatchCount xmlns:ns="urn:x" type="Integer" value="1"/>', "unknown element name"),
        ('<BatchCount type="Int" value="1"/>', "unknown type"),
        ('<BatchCount type="Integer"/>', "needs a value"),
        ('<BatchCount type="Integer" value="1" extra="2"/>', "unexpected attribute"),
        ('<BatchCount type="Integer" value="1">text</BatchCount>', "unexpected text"),
        (
            '<BatchCount type="Integer" value="1"><BatchCount type="Integer" value="1"/></BatchCount>',
            "not children",
        ),
        ('<ProtocolVersion value="1"/>', "not a value"),
        (
            '<ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/>x</ProtocolVersion>',
            "unexpected text",
        ),
        ('<BatchCount tag="0x42000D" type="Integer" value="1"/>', "unexpected attribute"),
        ('<TTLV type="Integer" value="1"/>', "tag attribute"),
        ('<TTLV tag="540001" type="Integer" value="1"/>', "tag attribute"),
        ('<TTLV tag="0x5400011" type="Integer" value="1"/>', "tag attribute"),
        ('<TTLV tag="0x420000" type="Integer" value="1"/>', "not a KMIP or extension tag"),
        ('<TTLV tag="0x110001" type="Integer" value="1"/>', "not a KMIP or extension tag"),
        ('<BatchCount type="Integer" value="1.5"/>', "Integer value"),
        ('<BatchCount type="Integer" value="2147483648"/>', "out of range"),
        ('<BatchCount type="Integer" value="0x100000000"/>', "Integer value"),
        ('<BatchCount type="Integer" value=" 1"/>', "Integer value"),
        ('<UsageLimitsTotal type="LongInteger" value="9223372036854775808"/>', "out of range"),
        ('<LeaseTime type="Interval" value="-1"/>', "out of range"),
        ('<ObjectType type="Enumeration" value="Bogus"/>', "Enumeration value"),
        ('<ObjectType type="Enumeration" value="1"/>', "Enumeration value"),  # names or hex only
        ('<ObjectType type="Enumeration" value="0x100000000"/>', "Enumeration value"),
        ('<Sensitive type="Boolean" value="True"/>', "Boolean value"),
        ('<Sensitive type="Boolean" value="1"/>', "Boolean value"),
        ('<Data type="ByteString" value="abc"/>', "ByteString value"),
        ('<Data type="ByteString" value="zz"/>', "ByteString value"),
        ('<Data type="ByteString" value="0x00"/>', "ByteString value"),
        ('<Modulus type="BigInteger" value="0x1"/>', "BigInteger value"),
        ('<Modulus type="BigInteger" value="0x"/>', "BigInteger value"),
        ('<Modulus type="BigInteger" value="' + "9" * 5000 + '"/>', "BigInteger value"),
        ('<TimeStamp type="DateTime" value="2020-13-01T00:00:00Z"/>', "DateTime value"),
        ('<TimeStamp type="DateTime" value="2020-01-01T00:00:00"/>', "DateTime value"),  # no zone
        ('<TimeStamp type="DateTime" value="2020-01-01T00:00:00.5Z"/>', "DateTime value"),
        ('<TimeStamp type="DateTime" value="2020-01-01T00:00:60Z"/>', "DateTime value"),
        ('<TimeStamp type="DateTime" value="2020-01-01T00:00:00+24:00"/>', "DateTime value"),
        ('<TimeStamp type="DateTime" value="2020-01-01 00:00:00Z"/>', "DateTime value"),
    ],
)
def test_malformed_input(text: str, match: str) -> None:
    with pytest.raises(XMLError, match=match) as info:
        from_xml(text)
    assert isinstance(info.value, TTLVError)


def test_error_carries_the_line() -> None:
    with pytest.raises(XMLError, match="at line 3") as info:
        from_xml(
            '<ProtocolVersion>\n  <ProtocolVersionMajor type="Integer" value="1"/>\n'
            "  <Bogus/>\n</ProtocolVersion>"
        )
    assert info.value.line == 3


def test_errors_do_not_echo_values() -> None:
    secret = "5ec2e7c0ffee5ec2e7c0ffeeZ"
    with pytest.raises(XMLError) as info:
        from_xml(f'<KeyMaterial type="ByteString" value="{secret}"/>')
    assert secret not in str(info.value)
    assert "KeyMaterial" in str(info.value)


def test_document_errors() -> None:
    with pytest.raises(XMLError, match="must be KMIP"):
        from_xml_document("<RequestMessage/>")
    with pytest.raises(XMLError, match="unexpected"):
        from_xml_document("<KMIP>text<RequestMessage/></KMIP>")
    with pytest.raises(XMLError, match="unexpected"):
        from_xml_document('<KMIP version="1"/>')
    with pytest.raises(XMLError, match="unexpected"):
        from_xml_document("<KMIP><RequestMessage/>tail</KMIP>")
    assert from_xml_document("<KMIP><!-- only a comment --></KMIP>") == []


# --- hostile input -----------------------------------------------------------------------------

HOSTILE = {
    "doctype": '<!DOCTYPE BatchCount><BatchCount type="Integer" value="1"/>',
    "billion-laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<NameValue type="TextString" value="&lol2;"/>'
    ),
    "external-entity": (
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><NameValue type="TextString" value="&xxe;"/>'
    ),
    "external-dtd": '<!DOCTYPE x SYSTEM "http://example.invalid/x.dtd"><BatchCount/>',
    "parameter-entity": '<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><BatchCount/>',
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_doctype_and_entities_refused(text: str) -> None:
    with pytest.raises(XMLError, match="DOCTYPE not allowed"):
        from_xml(text)
    with pytest.raises(XMLError, match="DOCTYPE not allowed"):
        from_xml(text.encode())


def test_undefined_entity_refused() -> None:
    with pytest.raises(XMLError, match="malformed XML"):
        from_xml('<NameValue type="TextString" value="&xxe;"/>')


def test_character_references_are_text() -> None:
    assert from_xml('<NameValue type="TextString" value="&#65;&amp;"/>').value == "A&"


def nested(depth: int) -> str:
    return (
        "<RequestPayload>" * (depth - 1)
        + '<BatchCount type="Integer" value="1"/>'
        + "</RequestPayload>" * (depth - 1)
    )


def test_depth_limit() -> None:
    assert from_xml(nested(32)) is not None  # the default limit, exactly
    with pytest.raises(XMLTooDeep) as info:
        from_xml(nested(33))
    assert info.value.limit == "max_depth"
    with pytest.raises(XMLTooDeep):
        from_xml(nested(5), limits=XmlLimits(max_depth=4))
    with pytest.raises(XMLTooDeep):  # refused while parsing, before any tree is built
        from_xml(nested(100_000))


def test_depth_limit_on_elements_and_items() -> None:
    element = ET.fromstring(nested(40))
    with pytest.raises(XMLTooDeep):
        from_xml(element)
    deep = Item(Tag.BATCH_COUNT, INT, 1)
    for _ in range(40):
        deep = Item(Tag.REQUEST_PAYLOAD, STRUCT, (deep,))
    with pytest.raises(XMLTooDeep):
        to_xml(deep)


def test_element_count_limit() -> None:
    text = "<RequestPayload>" + '<BatchCount type="Integer" value="1"/>' * 20 + "</RequestPayload>"
    assert len(from_xml(text, limits=XmlLimits(max_elements=21)).children) == 20
    with pytest.raises(XMLTooManyElements) as info:
        from_xml(text, limits=XmlLimits(max_elements=20))
    assert info.value.limit == "max_elements"
    with pytest.raises(XMLTooManyElements):
        from_xml(ET.fromstring(text), limits=XmlLimits(max_elements=20))


def test_size_limit() -> None:
    text = '<NameValue type="TextString" value="' + "a" * 100 + '"/>'
    with pytest.raises(XMLTooLarge) as info:
        from_xml(text, limits=XmlLimits(max_document_size=100))
    assert info.value.limit == "max_document_size"
    assert from_xml(text, limits=XmlLimits(max_document_size=len(text))).value == "a" * 100


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        XmlLimits(max_depth=0)
    with pytest.raises(ValueError, match="max_depth"):
        XmlLimits(max_depth=10_000)


@pytest.mark.parametrize("text", ["\ud800", '<NameValue type="TextString" value="\udfff"/>'])
def test_lone_surrogates_refused(text: str) -> None:
    with pytest.raises(XMLError, match="surrogate"):
        from_xml(text)


_SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "vectors"
    / "kmip-1.4"
    / "test-cases"
    / "mandatory"
    / "SKLC-M-1-14.xml"
)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mangled_documents_raise_only_xml_errors(data: st.DataObject) -> None:
    """Any input is read or refused with the codec's own error, never anything else."""
    raw = bytearray(_SAMPLE.read_bytes()[:3000])
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip":
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del raw[position]
        elif action == "insert":
            raw[position:position] = data.draw(
                st.sampled_from([b"<", b">", b'"', b"&", b"$", b"<!--", b"/", b" x"])
            )
        else:
            del raw[position:]
        if not raw:
            raw += b"<"
    with contextlib.suppress(XMLError):
        from_xml_document(bytes(raw), placeholders=Placeholders())


def test_non_text_source_refused() -> None:
    with pytest.raises(XMLError, match="str or bytes"):
        from_xml(123)  # type: ignore[arg-type]


# --- writing errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        Item(Tag.BATCH_COUNT, INT, "1"),
        Item(Tag.BATCH_COUNT, INT, True),
        Item(Tag.SENSITIVE, BOOL, 1),
        Item(Tag.DATA, BYTES, "00"),
        Item(Tag.NAME_VALUE, TEXT, b"x"),
        Item(Tag.PROTOCOL_VERSION, STRUCT, [Item(Tag.BATCH_COUNT, INT, 1)]),  # type: ignore[arg-type]
        Item(Tag.PROTOCOL_VERSION, STRUCT, ("not an item",)),  # type: ignore[arg-type]
        Item(0x1000000, INT, 1),
        Item(Tag.NAME_VALUE, TEXT, "nul\x00"),
        Item(Tag.NAME_VALUE, TEXT, "\ufffe"),
    ],
)
def test_unwritable_items(item: Item) -> None:
    with pytest.raises(XMLError):
        to_xml(item)


# --- round trip, generated ---------------------------------------------------------------------

_TAGS = st.sampled_from([int(t) for t in Tag] + [0x540000, 0x540ABC, 0x42FFFE])
_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\ufffe\uffff"), max_size=20
).filter(lambda s: not re.search("[\x01-\x08\x0b\x0c\x0e-\x1f]", s))
_SCALARS: dict[ItemType, st.SearchStrategy[object]] = {
    INT: st.integers(-(2**31), 2**31 - 1),
    LONG: st.integers(-(2**63), 2**63 - 1),
    BIG: st.integers(-(2**200), 2**200),
    ENUM: st.integers(0, 2**32 - 1),
    BOOL: st.booleans(),
    TEXT: _TEXT,
    BYTES: st.binary(max_size=20),
    DT: st.integers(-(2**63), 2**63 - 1),
    IVL: st.integers(0, 2**32 - 1),
}


def _scalar_items() -> st.SearchStrategy[Item]:
    return st.one_of(*(st.builds(Item, _TAGS, st.just(itype), values) for itype, values in _SCALARS.items()))


_ITEMS: st.SearchStrategy[Item] = st.recursive(
    _scalar_items(),
    lambda children: st.builds(Item, _TAGS, st.just(STRUCT), st.lists(children, max_size=4).map(tuple)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_ITEMS)
def test_any_encodable_item_round_trips(item: Item) -> None:
    text = to_xml(item)
    assert from_xml(text) == item
    assert to_xml(from_xml(text)) == text
    assert decode(encode(item)) == item


def test_mask_names_come_from_the_registry() -> None:
    names = CryptographicUsageMask.xml_names()
    assert names[CryptographicUsageMask.ENCRYPT] == "Encrypt"
    assert names[CryptographicUsageMask.MAC_GENERATE] == "MACGenerate"
