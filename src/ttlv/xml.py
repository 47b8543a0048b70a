"""The KMIP XML encoding of TTLV Items (KMIP Profiles v1.4, "XML Encoding"), as the OASIS test cases use it.

One element per Item::

    <ProtocolVersionMajor type="Integer" value="1"/>        an Item of a named tag
    <TTLV tag="0x540001" type="TextString" value="..."/>     a tag without a name (extensions)
    <RequestHeader> ...children... </RequestHeader>         a Structure (``type`` implicit)

- Element names are the normalized spec names of tags (``ttlv.kmip14.TAG_XML_NAMES``, see
  ``ttlv.names``); a tag without a name is written as ``TTLV`` with a ``tag`` attribute.
- Values, by ``type``: Integer, LongInteger, Interval: decimal (``0x`` hex accepted on input);
  Integer mask (Cryptographic Usage Mask, Storage Status Mask): space-separated normalized bit
  names, plus one hex token for bits without a name; Enumeration: the normalized value name, or
  ``0x`` and eight hex digits for a value without one (extensions); BigInteger: ``0x`` and the
  big-endian two's-complement bytes in hex; Boolean: ``true``/``false``; TextString: the text;
  ByteString: hex; DateTime: ISO 8601 (``1970-01-01T00:00:06+00:00``, written in UTC);
  Structure: the children.
- An Attribute's AttributeValue is typed by its sibling AttributeName (KMIP 1.x: the name is a
  tag's spec name), so "Cryptographic Usage Mask" values are mask names and "State" values are
  State names; a name that is no tag ("x-...", custom attributes) leaves the value untyped
  (numbers and hex only).
- ``$NAME`` placeholders (``$UNIQUE_IDENTIFIER_0``, ``$NOW-3600``, ``$KEY_MATERIAL_0``...) in
  TextString, ByteString and DateTime values are turned into sentinel values of the Item's own
  Python type by a ``Placeholders`` table, and back. Items stay plain Items: the binary codec
  carries sentinels like any other value.

Invariants:
- ``to_xml`` is deterministic (fixed attribute order, two-space indentation, UTF-8 text) and
  ``from_xml(to_xml(item)) == item`` for every encodable Item.
- Hostile input: a DOCTYPE, any entity declaration or external entity is refused before it is
  read; size, nesting depth and element count are bounded (``XmlLimits``). Every failure is an
  ``XMLError`` (a ``TTLVError``) carrying the line where it was found when known; messages name
  elements and types, never values (which may be key material).
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final
from xml.parsers import expat

from ttlv.codec import tag_is_valid
from ttlv.errors import TTLVError
from ttlv.item import Item, ItemType, ItemValue
from ttlv.kmip14 import ENUM_FOR_TAG, MASK_FOR_TAG, TAG_NAMES, TAG_XML_NAMES, KmipEnum, KmipMask, Tag

__all__ = [
    "DEFAULT_XML_LIMITS",
    "DOCUMENT_ELEMENT",
    "UNNAMED_TAG_ELEMENT",
    "XML_TYPE_NAMES",
    "Placeholder",
    "PlaceholderError",
    "Placeholders",
    "XMLError",
    "XMLLimitExceeded",
    "XMLTooDeep",
    "XMLTooLarge",
    "XMLTooManyElements",
    "XmlLimits",
    "from_xml",
    "from_xml_document",
    "parse",
    "to_element",
    "to_xml",
    "to_xml_document",
]

DOCUMENT_ELEMENT: Final = "KMIP"
"""Root element of a test-case file: a sequence of RequestMessage / ResponseMessage elements."""

UNNAMED_TAG_ELEMENT: Final = "TTLV"
"""Element name of an Item whose tag has no name; its ``tag`` attribute holds the tag in hex."""

XML_TYPE_NAMES: Final[dict[ItemType, str]] = {
    ItemType.STRUCTURE: "Structure",
    ItemType.INTEGER: "Integer",
    ItemType.LONG_INTEGER: "LongInteger",
    ItemType.BIG_INTEGER: "BigInteger",
    ItemType.ENUMERATION: "Enumeration",
    ItemType.BOOLEAN: "Boolean",
    ItemType.TEXT_STRING: "TextString",
    ItemType.BYTE_STRING: "ByteString",
    ItemType.DATE_TIME: "DateTime",
    ItemType.INTERVAL: "Interval",
}
"""The ``type`` attribute of each item type (the normalized names of Table 280's types)."""


# --------------------------------------------------------------------------------------------
# Errors and limits


class XMLError(TTLVError):
    """The XML is not a valid KMIP XML encoding, or an Item cannot be written as one.

    ``line`` is the 1-based line of the offending element when known, else -1.
    """

    def __init__(self, message: str, line: int = -1) -> None:
        super().__init__(message if line < 0 else f"{message} (at line {line})")
        self.line = line


class XMLLimitExceeded(XMLError):
    """A named limit of ``XmlLimits`` was exceeded; ``limit`` names it."""

    limit: str = ""


class XMLTooLarge(XMLLimitExceeded):
    limit = "max_document_size"


class XMLTooDeep(XMLLimitExceeded):
    limit = "max_depth"


class XMLTooManyElements(XMLLimitExceeded):
    limit = "max_elements"


class PlaceholderError(XMLError):
    """A placeholder is malformed, unknown, or given a value of the wrong type."""


@dataclass(frozen=True, slots=True)
class XmlLimits:
    max_document_size: int = 8 << 20  # bytes (or characters) of XML text (XMLTooLarge)
    max_depth: int = 32  # Item nesting, the top-level Item at depth 1 (XMLTooDeep)
    max_elements: int = 1 << 18  # elements in one document (XMLTooManyElements)

    def __post_init__(self) -> None:
        # Reading and writing recurse once per level: keep far below Python's recursion limit.
        if not 1 <= self.max_depth <= 256:
            raise ValueError("max_depth must be between 1 and 256")


DEFAULT_XML_LIMITS = XmlLimits()


# --------------------------------------------------------------------------------------------
# Placeholders

_PLACEHOLDER = re.compile(r"\$([A-Z][A-Z0-9_]*)([+-][0-9]{1,10})?", re.ASCII)

PLACEHOLDER_TYPES: Final = frozenset({ItemType.TEXT_STRING, ItemType.BYTE_STRING, ItemType.DATE_TIME})
"""Item types whose values may be placeholders."""

BYTES_SENTINEL_PREFIX: Final = b"\x00OpenKCM XML placeholder\x00"
"""A ByteString sentinel is this prefix and a 4-byte big-endian index."""

DATE_TIME_SENTINEL_BASE: Final = -(1 << 62)
"""A DateTime sentinel is this base plus an index: about 146 billion years before the epoch."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One placeholder: its text, parsed, and the sentinel value standing for it in Items."""

    text: str  # as written: "$NOW-3600"
    name: str  # "NOW" (the text without "$" and without the offset)
    offset: int  # -3600 (seconds, for DateTime arithmetic); 0 when absent
    type: ItemType  # TEXT_STRING, BYTE_STRING or DATE_TIME
    sentinel: str | bytes | int  # the Item value: the text itself, marker bytes, a reserved time


class Placeholders:
    """A two-way table between placeholder texts and sentinel Item values.

    ``from_xml`` registers every placeholder it meets and puts its sentinel in the Item;
    ``to_xml`` writes a registered sentinel back as its exact text. One table serves one test
    case (a sequence of messages), so that the same text gets the same sentinel throughout.
    A TextString placeholder's sentinel is its text; ByteString and DateTime ones are values
    no real message carries (``BYTES_SENTINEL_PREFIX``, ``DATE_TIME_SENTINEL_BASE``).
    """

    __slots__ = ("_by_sentinel", "_by_text", "_counts")

    def __init__(self) -> None:
        self._by_text: dict[tuple[ItemType, str], Placeholder] = {}
        self._by_sentinel: dict[tuple[ItemType, str | bytes | int], Placeholder] = {}
        self._counts: dict[ItemType, int] = {}

    def __len__(self) -> int:
        return len(self._by_text)

    def __iter__(self) -> Iterator[Placeholder]:
        return iter(self._by_text.values())

    @staticmethod
    def is_placeholder(text: str) -> bool:
        """Whether ``text`` has the shape of a placeholder (``$NAME``, ``$NAME+n``, ``$NAME-n``)."""
        return _PLACEHOLDER.fullmatch(text) is not None

    def register(self, text: str, item_type: ItemType) -> Placeholder:
        """The placeholder for ``text`` as a value of ``item_type``, created on first use."""
        known = self._by_text.get((item_type, text))
        if known is not None:
            return known
        match = _PLACEHOLDER.fullmatch(text)
        if match is None:
            raise PlaceholderError("not a placeholder ($NAME, $NAME+n or $NAME-n)")
        if item_type not in PLACEHOLDER_TYPES:
            raise PlaceholderError(f"{XML_TYPE_NAMES[item_type]} values cannot be placeholders")
        index = self._counts.get(item_type, 0)
        sentinel: str | bytes | int
        if item_type is ItemType.TEXT_STRING:
            sentinel = text
        elif item_type is ItemType.BYTE_STRING:
            sentinel = BYTES_SENTINEL_PREFIX + index.to_bytes(4, "big")
        else:
            sentinel = DATE_TIME_SENTINEL_BASE + index
        placeholder = Placeholder(
            text=text,
            name=match.group(1),
            offset=int(match.group(2) or 0),
            type=item_type,
            sentinel=sentinel,
        )
        self._counts[item_type] = index + 1
        self._by_text[(item_type, text)] = placeholder
        self._by_sentinel[(item_type, sentinel)] = placeholder
        return placeholder

    def lookup(self, item: Item) -> Placeholder | None:
        """The placeholder whose sentinel ``item`` carries, or None (Structures: always None)."""
        if item.type not in PLACEHOLDER_TYPES:
            return None
        value = item.value
        key = bytes(value) if isinstance(value, bytearray) else value
        if not isinstance(key, (str, bytes, int)) or isinstance(key, bool):
            return None
        return self._by_sentinel.get((item.type, key))

    def find(self, item: Item) -> list[tuple[tuple[int, ...], Placeholder]]:
        """Every placeholder in ``item``'s tree with its path (child indices from ``item``), in order."""
        found: list[tuple[tuple[int, ...], Placeholder]] = []
        stack: list[tuple[tuple[int, ...], Item]] = [((), item)]
        while stack:
            path, node = stack.pop()
            placeholder = self.lookup(node)
            if placeholder is not None:
                found.append((path, placeholder))
            children = node.children
            stack.extend(((*path, i), children[i]) for i in range(len(children) - 1, -1, -1))
        return found

    def substitute(self, item: Item, values: Mapping[str, str | bytes | int]) -> Item:
        """``item`` with each placeholder replaced by ``values[name]`` (plus the offset, for DateTime).

        Raises PlaceholderError if a placeholder's name has no value or a value of the wrong type.
        """
        placeholder = self.lookup(item)
        if placeholder is not None:
            if placeholder.name not in values:
                raise PlaceholderError(f"no value for placeholder ${placeholder.name}")
            value = values[placeholder.name]
            expected = {ItemType.TEXT_STRING: str, ItemType.BYTE_STRING: bytes, ItemType.DATE_TIME: int}
            wanted = expected[placeholder.type]
            if not isinstance(value, wanted) or isinstance(value, bool):
                raise PlaceholderError(f"placeholder ${placeholder.name} needs a {wanted.__name__} value")
            if isinstance(value, int):
                value += placeholder.offset
            return Item(item.tag, item.type, value)
        if item.type is ItemType.STRUCTURE:
            return Item(item.tag, item.type, tuple(self.substitute(child, values) for child in item.children))
        return item


# --------------------------------------------------------------------------------------------
# Name tables (derived once, on first use, from the generated registry)


@dataclass(frozen=True, slots=True)
class _Tables:
    tag_by_xml_name: dict[str, int]
    tag_by_spec_name: dict[str, int]
    type_by_xml_name: dict[str, ItemType]


@functools.cache
def _tables() -> _Tables:
    return _Tables(
        tag_by_xml_name={name: tag for tag, name in TAG_XML_NAMES.items()},
        tag_by_spec_name={name: tag for tag, name in TAG_NAMES.items()},
        type_by_xml_name={name: itype for itype, name in XML_TYPE_NAMES.items()},
    )


@functools.cache
def _values_by_xml_name(cls: type[KmipEnum] | type[KmipMask]) -> dict[str, int]:
    return {name: value for value, name in cls.xml_names().items()}


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """How an Item's value is named: by the enumeration or mask of the tag that types it."""

    enum: type[KmipEnum] | None = None
    mask: type[KmipMask] | None = None


_UNTYPED = _Vocabulary()


def _vocabulary(tag: int | None) -> _Vocabulary:
    if tag is None:
        return _UNTYPED
    return _Vocabulary(ENUM_FOR_TAG.get(tag), MASK_FOR_TAG.get(tag))


def _attribute_tag(attribute_name: str) -> int | None:
    """The tag an attribute name denotes (KMIP 1.x: the tag's spec name); None for custom names."""
    return _tables().tag_by_spec_name.get(attribute_name)


# --------------------------------------------------------------------------------------------
# Value syntax

_DECIMAL = re.compile(r"-?[0-9]{1,40}", re.ASCII)
_DECIMAL_BIG = re.compile(r"-?[0-9]{1,4000}", re.ASCII)  # below int()'s 4300-digit guard
_HEX_NUMBER = re.compile(r"0x([0-9A-Fa-f]{1,16})", re.ASCII)
_HEX_TAG = re.compile(r"0x([0-9A-Fa-f]{6})", re.ASCII)
_HEX_BIG = re.compile(r"0x((?:[0-9A-Fa-f]{2})+)", re.ASCII)
_HEX_BYTES = re.compile(r"(?:[0-9A-Fa-f]{2})*", re.ASCII)
_ISO_8601 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)


class _BadValue(Exception):
    """Raised by the value parsers; turned into XMLError with the element's name and line."""


def _number(text: str, bits: int, *, signed: bool) -> int:
    """A decimal or hex (the raw ``bits``-bit pattern) number in range for its type."""
    if _DECIMAL.fullmatch(text):
        value = int(text)
    elif (match := _HEX_NUMBER.fullmatch(text)) is not None and len(match.group(1)) <= bits // 4:
        value = int(match.group(1), 16)
        if signed and value >= 1 << (bits - 1):
            value -= 1 << bits
    else:
        raise _BadValue("is not a decimal or 0x hex number")
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise _BadValue("is out of range")
    return value


def _parse_mask(text: str, mask: type[KmipMask]) -> int:
    names = _values_by_xml_name(mask)
    tokens = text.split()
    if not tokens:
        raise _BadValue("is an empty mask")
    bits = 0
    for token in tokens:
        bit = names.get(token)
        bits |= bit if bit is not None else _number(token, 32, signed=False)
    return bits - (1 << 32) if bits >= 1 << 31 else bits  # an Integer is signed on the wire


def _format_mask(value: int, mask: type[KmipMask]) -> str:
    bits = value & 0xFFFFFFFF
    named = [(bit, name) for bit, name in sorted(mask.xml_names().items()) if bits & bit]
    rest = bits & ~sum(bit for bit, _ in named)
    parts = [name for _, name in named] + ([f"0x{rest:08X}"] if rest else [])
    return " ".join(parts) or "0"


def _parse_enumeration(text: str, enum: type[KmipEnum] | None) -> int:
    if enum is not None and (value := _values_by_xml_name(enum).get(text)) is not None:
        return value
    if text.startswith("0x"):
        return _number(text, 32, signed=False)
    raise _BadValue("is not a value name of this enumeration nor 0x hex")


def _parse_date_time(text: str) -> int:
    if text.startswith("0x"):
        return _number(text, 64, signed=True)
    match = _ISO_8601.fullmatch(text)
    if match is None:
        raise _BadValue("is not ISO 8601 (YYYY-MM-DDThh:mm:ss with Z or +hh:mm)")
    zone = match.group(7)
    if zone == "Z":
        tz = UTC
    else:
        minutes = int(zone[1:3]) * 60 + int(zone[4:6])
        if minutes >= 24 * 60:
            raise _BadValue("has a time zone offset out of range")
        tz = timezone(timedelta(minutes=minutes if zone[0] == "+" else -minutes))
    try:
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        when = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        raise _BadValue("is not a valid date and time") from None
    return (when - _EPOCH) // _ONE_SECOND


def _format_date_time(value: int) -> str:
    try:
        when = _EPOCH + timedelta(seconds=value)
    except OverflowError:
        when = None
    if when is None or not 1 <= when.year <= 9999:
        return f"0x{value & 0xFFFFFFFFFFFFFFFF:016X}"  # no ISO 8601 form: the raw 64-bit value
    return when.isoformat()


def _parse_big_integer(text: str) -> int:
    if _DECIMAL_BIG.fullmatch(text):
        return int(text)
    match = _HEX_BIG.fullmatch(text)
    if match is None:
        raise _BadValue("is not 0x hex of whole bytes")
    return int.from_bytes(bytes.fromhex(match.group(1)), "big", signed=True)


def _format_big_integer(value: int) -> str:
    # The bytes TTLV carries: two's complement, sign-extended to a multiple of eight bytes.
    bits = value.bit_length() if value >= 0 else (~value).bit_length()
    length = ((bits + 8) // 8 + 7) & ~7
    return "0x" + value.to_bytes(length, "big", signed=True).hex().upper()


def _parse_bytes(text: str) -> bytes:
    if _HEX_BYTES.fullmatch(text) is None:
        raise _BadValue("is not hex of whole bytes")
    return bytes.fromhex(text)


def _parse_boolean(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise _BadValue("is not true or false")


def _parse_value(itype: ItemType, text: str, vocabulary: _Vocabulary) -> ItemValue:
    if itype is ItemType.INTEGER:
        return _parse_mask(text, vocabulary.mask) if vocabulary.mask else _number(text, 32, signed=True)
    if itype is ItemType.LONG_INTEGER:
        return _number(text, 64, signed=True)
    if itype is ItemType.INTERVAL:
        return _number(text, 32, signed=False)
    if itype is ItemType.ENUMERATION:
        return _parse_enumeration(text, vocabulary.enum)
    if itype is ItemType.BIG_INTEGER:
        return _parse_big_integer(text)
    if itype is ItemType.BOOLEAN:
        return _parse_boolean(text)
    if itype is ItemType.TEXT_STRING:
        return text
    if itype is ItemType.BYTE_STRING:
        return _parse_bytes(text)
    if itype is ItemType.DATE_TIME:
        return _parse_date_time(text)
    raise _BadValue("has a type without a value syntax")  # Structure is handled by the caller


_INTEGRAL_TYPES: Final = frozenset(
    {
        ItemType.INTEGER,
        ItemType.LONG_INTEGER,
        ItemType.BIG_INTEGER,
        ItemType.ENUMERATION,
        ItemType.DATE_TIME,
        ItemType.INTERVAL,
    }
)
"""Item types whose value is an int (never a bool)."""


def _format_value(item: Item, vocabulary: _Vocabulary) -> str:
    itype, value = item.type, item.value
    if itype is ItemType.TEXT_STRING and isinstance(value, str):
        return value
    if itype is ItemType.BYTE_STRING and isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if itype is ItemType.BOOLEAN and isinstance(value, bool):
        return "true" if value else "false"
    if itype not in _INTEGRAL_TYPES or not isinstance(value, int) or isinstance(value, bool):
        raise XMLError(f"{_element_name(item.tag)}: a {XML_TYPE_NAMES[itype]} value of the wrong Python type")
    if itype is ItemType.ENUMERATION:
        name = vocabulary.enum.xml_names().get(value) if vocabulary.enum else None
        return name if name is not None else f"0x{value & 0xFFFFFFFF:08X}"
    if itype is ItemType.INTEGER and vocabulary.mask is not None:
        return _format_mask(value, vocabulary.mask)
    if itype is ItemType.BIG_INTEGER:
        return _format_big_integer(value)
    if itype is ItemType.DATE_TIME:
        return _format_date_time(value)
    return str(value)


def _element_name(tag: int) -> str:
    return TAG_XML_NAMES.get(tag, UNNAMED_TAG_ELEMENT)


# --------------------------------------------------------------------------------------------
# Parsing (expat, with DOCTYPE and entities refused)


def parse(source: str | bytes, limits: XmlLimits = DEFAULT_XML_LIMITS) -> ET.Element:
    """The element tree of ``source``, refusing DTDs and entities, within ``limits``."""
    return _parse(source, limits)[0]


def _parse(source: str | bytes, limits: XmlLimits) -> tuple[ET.Element, dict[int, int]]:
    """The root element and the line of each element (keyed by ``id``) of ``source``."""
    if not isinstance(source, (str, bytes)):
        raise XMLError(f"XML source must be str or bytes, not {type(source).__name__}")
    if len(source) > limits.max_document_size:
        raise XMLTooLarge(f"XML document larger than {limits.max_document_size}")
    if isinstance(source, str):
        try:
            source.encode("utf-8")  # expat is handed str as UTF-8: lone surrogates cannot be
        except UnicodeEncodeError:
            raise XMLError("XML text holds a lone surrogate") from None
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = ET.TreeBuilder()
    lines: dict[int, int] = {}
    depth = 0
    count = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, count
        depth += 1
        count += 1
        line = parser.CurrentLineNumber
        if depth > limits.max_depth + 1:  # + 1: the KMIP document element
            raise XMLTooDeep(f"XML nested deeper than {limits.max_depth}", line)
        if count > limits.max_elements:
            raise XMLTooManyElements(f"XML with more than {limits.max_elements} elements", line)
        lines[id(builder.start(name, attributes))] = line

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(name)

    def refuse(what: str) -> None:
        raise XMLError(f"{what} not allowed", parser.CurrentLineNumber)

    def refuse_doctype(*_: object) -> None:
        refuse("DOCTYPE")

    def refuse_entity(*_: object) -> None:
        refuse("entity declaration")

    def refuse_external(*_: object) -> int:
        refuse("external entity")
        return 0

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.NotationDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    try:
        parser.Parse(source, True)
    except expat.ExpatError as exc:
        raise XMLError(f"malformed XML: {expat.ErrorString(exc.code)}", exc.lineno) from None
    return builder.close(), lines


# --------------------------------------------------------------------------------------------
# XML -> Item


class _Reader:
    """One conversion: the placeholder table, the limits, the element lines, an element count."""

    def __init__(self, placeholders: Placeholders | None, limits: XmlLimits, lines: dict[int, int]) -> None:
        self.placeholders = placeholders
        self.limits = limits
        self.lines = lines
        self.count = 0

    def error(self, message: str, element: ET.Element) -> XMLError:
        return XMLError(message, self.lines.get(id(element), -1))

    def item(self, element: ET.Element, depth: int, value_tag: int | None) -> Item:
        """The Item of ``element``; ``value_tag`` is the tag whose enumeration or mask names its value."""
        name = element.tag
        if not isinstance(name, str):
            raise self.error("expected an element", element)
        if depth > self.limits.max_depth:
            raise XMLTooDeep(
                f"Items nested deeper than {self.limits.max_depth}", self.lines.get(id(element), -1)
            )
        self.count += 1
        if self.count > self.limits.max_elements:
            raise XMLTooManyElements(
                f"more than {self.limits.max_elements} elements", self.lines.get(id(element), -1)
            )
        tag = self.tag(element)
        allowed = {"type", "value", "tag"} if name == UNNAMED_TAG_ELEMENT else {"type", "value"}
        for attribute in element.attrib:
            if attribute not in allowed:
                raise self.error(f"{name}: unexpected attribute {attribute[:40]!r}", element)
        if (element.text or "").strip():
            raise self.error(f"{name}: unexpected text content", element)
        type_name = element.get("type", "Structure")
        itype = _tables().type_by_xml_name.get(type_name)
        if itype is None:
            raise self.error(f"{name}: unknown type {type_name[:40]!r}", element)
        children = [child for child in element if isinstance(child.tag, str)]
        for child in element:
            if (child.tail or "").strip():
                raise self.error(f"{name}: unexpected text content", element)
        if itype is ItemType.STRUCTURE:
            if "value" in element.attrib:
                raise self.error(f"{name}: a Structure has children, not a value", element)
            return Item(tag, itype, self.structure(tag, children, depth))
        if children:
            raise self.error(f"{name}: a {type_name} has a value, not children", element)
        text = element.get("value")
        if text is None:
            raise self.error(f"{name}: a {type_name} needs a value attribute", element)
        if self.placeholders is not None and itype in PLACEHOLDER_TYPES and Placeholders.is_placeholder(text):
            return Item(tag, itype, self.placeholders.register(text, itype).sentinel)
        try:
            value = _parse_value(itype, text, _vocabulary(tag if value_tag is None else value_tag))
        except _BadValue as exc:
            hint = " (a $placeholder needs a Placeholders table)" if text.startswith("$") else ""
            raise self.error(f"{name}: {type_name} value {exc}{hint}", element) from None
        return Item(tag, itype, value)

    def tag(self, element: ET.Element) -> int:
        name = str(element.tag)
        if name != UNNAMED_TAG_ELEMENT:
            tag = _tables().tag_by_xml_name.get(name)
            if tag is None:
                raise self.error(f"unknown element name {name[:60]!r}", element)
            return tag
        match = _HEX_TAG.fullmatch(element.get("tag", ""))
        if match is None:
            raise self.error(f"{name}: the tag attribute must be 0x and six hex digits", element)
        tag = int(match.group(1), 16)
        if not tag_is_valid(tag):
            raise self.error(f"{name}: tag 0x{tag:06X} is not a KMIP or extension tag", element)
        return tag

    def structure(self, tag: int, children: list[ET.Element], depth: int) -> tuple[Item, ...]:
        attribute_tag = self.attribute_tag(children) if tag == Tag.ATTRIBUTE else None
        return tuple(
            self.item(child, depth + 1, attribute_tag if child.tag == _ATTRIBUTE_VALUE_NAME else None)
            for child in children
        )

    def attribute_tag(self, children: list[ET.Element]) -> int | None:
        for child in children:
            if child.tag == _ATTRIBUTE_NAME_NAME and child.get("type") == "TextString":
                return _attribute_tag(child.get("value", ""))
        return None


def _root(source: str | bytes | ET.Element, limits: XmlLimits) -> tuple[ET.Element, dict[int, int]]:
    if isinstance(source, ET.Element):
        return source, {}  # already parsed by the caller: no line numbers
    return _parse(source, limits)


_ATTRIBUTE_NAME_NAME: Final = "AttributeName"
_ATTRIBUTE_VALUE_NAME: Final = "AttributeValue"


def from_xml(
    source: str | bytes | ET.Element,
    *,
    placeholders: Placeholders | None = None,
    limits: XmlLimits = DEFAULT_XML_LIMITS,
) -> Item:
    """The Item of one KMIP XML element (a message or any Item), given as text or as an element.

    With ``placeholders``, ``$NAME`` values of TextString, ByteString and DateTime items become
    sentinels registered in that table; without it, a TextString placeholder stays plain text and
    any other is an error.
    """
    root, lines = _root(source, limits)
    return _Reader(placeholders, limits, lines).item(root, 1, None)


def from_xml_document(
    source: str | bytes | ET.Element,
    *,
    placeholders: Placeholders | None = None,
    limits: XmlLimits = DEFAULT_XML_LIMITS,
) -> list[Item]:
    """The Items (RequestMessage, ResponseMessage...) of a ``<KMIP>`` document, in order; comments dropped."""
    root, lines = _root(source, limits)
    reader = _Reader(placeholders, limits, lines)
    if root.tag != DOCUMENT_ELEMENT:
        raise reader.error(f"the document element must be {DOCUMENT_ELEMENT}", root)
    if root.attrib or (root.text or "").strip():
        raise reader.error(f"{DOCUMENT_ELEMENT}: unexpected attributes or text", root)
    items = []
    for child in root:
        if (child.tail or "").strip():
            raise reader.error(f"{DOCUMENT_ELEMENT}: unexpected text content", root)
        if isinstance(child.tag, str):
            items.append(reader.item(child, 1, None))
    return items


# --------------------------------------------------------------------------------------------
# Item -> XML


def to_element(
    item: Item, *, placeholders: Placeholders | None = None, limits: XmlLimits = DEFAULT_XML_LIMITS
) -> ET.Element:
    """The element of ``item`` (attributes in the order tag, type, value)."""
    return _element(item, placeholders, limits, 1, None)


def _element(
    item: Item, placeholders: Placeholders | None, limits: XmlLimits, depth: int, value_tag: int | None
) -> ET.Element:
    if not isinstance(item, Item) or not isinstance(item.type, ItemType):
        raise XMLError(f"cannot write {type(item).__name__} as KMIP XML")
    if depth > limits.max_depth:
        raise XMLTooDeep(f"Items nested deeper than {limits.max_depth}")
    tag = item.tag
    if not isinstance(tag, int) or isinstance(tag, bool) or not 0 <= tag <= 0xFFFFFF:
        raise XMLError("an Item's tag must be an int of three bytes")
    name = _element_name(tag)
    element = ET.Element(name)
    if name == UNNAMED_TAG_ELEMENT:
        element.set("tag", f"0x{tag:06X}")
    if item.type is ItemType.STRUCTURE:
        if not isinstance(item.value, tuple):
            raise XMLError(f"{name}: a Structure's value must be a tuple of Items")
        children = item.value
        attribute_tag = _attribute_tag_of(children) if tag == Tag.ATTRIBUTE else None
        for child in children:
            context = attribute_tag if isinstance(child, Item) and child.tag == Tag.ATTRIBUTE_VALUE else None
            element.append(_element(child, placeholders, limits, depth + 1, context))
        return element
    element.set("type", XML_TYPE_NAMES[item.type])
    placeholder = placeholders.lookup(item) if placeholders is not None else None
    if placeholder is not None:
        element.set("value", placeholder.text)
    else:
        element.set("value", _format_value(item, _vocabulary(tag if value_tag is None else value_tag)))
    return element


def _attribute_tag_of(children: Iterable[Item]) -> int | None:
    for child in children:
        if isinstance(child, Item) and child.tag == Tag.ATTRIBUTE_NAME and isinstance(child.value, str):
            return _attribute_tag(child.value)
    return None


def to_xml(
    item: Item, *, placeholders: Placeholders | None = None, limits: XmlLimits = DEFAULT_XML_LIMITS
) -> str:
    """``item`` as KMIP XML text: two-space indentation, one element per line, ending in a newline."""
    out: list[str] = []
    _write(to_element(item, placeholders=placeholders, limits=limits), 0, out)
    return "".join(out)


def to_xml_document(
    items: Iterable[Item], *, placeholders: Placeholders | None = None, limits: XmlLimits = DEFAULT_XML_LIMITS
) -> str:
    """A ``<KMIP>`` document of ``items`` (the layout of the OASIS test-case files, without comments)."""
    out = [f"<{DOCUMENT_ELEMENT}>\n"]
    for item in items:
        out.append("\n")
        _write(to_element(item, placeholders=placeholders, limits=limits), 0, out)
    out.append(f"\n</{DOCUMENT_ELEMENT}>\n")
    return "".join(out)


# Characters XML 1.0 cannot carry at all (section 2.2): C0 controls other than tab, LF, CR,
# surrogates, U+FFFE and U+FFFF.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)


def _write(element: ET.Element, level: int, out: list[str]) -> None:
    indent = "  " * level
    attributes = ""
    for key, value in element.attrib.items():
        if _NOT_XML_CHAR.search(value):
            raise XMLError(f"{element.tag}: the value holds a character XML cannot carry")
        # Tab, LF and CR are written as character references: attribute-value normalization
        # would turn them into spaces otherwise.
        attributes += f' {key}="{value.translate(_ESCAPES)}"'
    if len(element) == 0:
        out.append(f"{indent}<{element.tag}{attributes}/>\n")
        return
    out.append(f"{indent}<{element.tag}{attributes}>\n")
    for child in element:
        _write(child, level + 1, out)
    out.append(f"{indent}</{element.tag}>\n")
