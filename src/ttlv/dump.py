"""A human-readable, log-safe rendering of TTLV items.

Invariants:
- By default nothing secret is shown: Byte Strings and Big Integers (key material, RSA
  private components) appear as their length only, and so does the Text String of a
  Password. ``redact=False`` shows them and is for debugging on a developer's machine only.
- Output is one line per item and cannot forge log lines: text is shown escaped (repr) and
  cut at ``max_text`` characters.
- Names come from the generated KMIP 1.4 tables; an unknown tag or enumeration value is shown
  in hex. Rendering never raises on any Item the codec can produce.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from ttlv.codec import decode
from ttlv.errors import TTLVError
from ttlv.item import Item, ItemType
from ttlv.kmip14 import ENUM_FOR_TAG, MASK_FOR_TAG, TAG_NAMES, Tag
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = ["dump", "dump_bytes"]

_TYPE_NAMES = {
    ItemType.STRUCTURE: "Structure",
    ItemType.INTEGER: "Integer",
    ItemType.LONG_INTEGER: "Long Integer",
    ItemType.BIG_INTEGER: "Big Integer",
    ItemType.ENUMERATION: "Enumeration",
    ItemType.BOOLEAN: "Boolean",
    ItemType.TEXT_STRING: "Text String",
    ItemType.BYTE_STRING: "Byte String",
    ItemType.DATE_TIME: "Date-Time",
    ItemType.INTERVAL: "Interval",
}

_SECRET_TEXT_TAGS = frozenset({Tag.PASSWORD})

_EXTENSION_ENUM_MASK = 0xF0000000
_EXTENSION_ENUM = 0x80000000  # section 9.1.1.4: extension enumeration values start with hex 8


def dump(item: Item, *, redact: bool = True, indent: str = "  ", max_text: int = 256) -> str:
    """An indented tree of ``item``, one line per item."""
    lines: list[str] = []
    # (item, depth, the tag whose tables name its value: an Attribute Value is named after
    # its sibling Attribute Name, e.g. "Cryptographic Algorithm")
    stack: list[tuple[Item, int, int]] = [(item, 0, item.tag)]
    while stack:
        current, depth, value_tag = stack.pop()
        lines.append(f"{indent * depth}{_describe(current, value_tag, redact, max_text)}")
        if current.type == ItemType.STRUCTURE:
            attribute_tag = _attribute_tag(current)
            stack.extend(
                (child, depth + 1, attribute_tag if child.tag == Tag.ATTRIBUTE_VALUE else child.tag)
                for child in reversed(current.children)
            )
    return "\n".join(lines)


def dump_bytes(
    data: bytes | bytearray | memoryview,
    limits: Limits = DEFAULT_LIMITS,
    *,
    redact: bool = True,
    max_text: int = 256,
) -> str:
    """``dump`` of the item ``data`` holds, or a one-line note of why it does not decode."""
    try:
        item = decode(data, limits)
    except TTLVError as exc:
        return f"<undecodable TTLV, {memoryview(data).nbytes} bytes: {exc}>"
    return dump(item, redact=redact, max_text=max_text)


def tag_name(tag: int) -> str:
    """The specification's name of ``tag``, or its hex value."""
    return TAG_NAMES.get(tag) or f"0x{tag:06X}"


def _attribute_tag(structure: Item) -> int:
    name = structure.find(Tag.ATTRIBUTE_NAME)
    if name is None or not isinstance(name.value, str):
        return Tag.ATTRIBUTE_VALUE
    return _tags_by_name().get(name.value, Tag.ATTRIBUTE_VALUE)


@cache
def _tags_by_name() -> dict[str, int]:
    return {name: tag for tag, name in TAG_NAMES.items()}


def _describe(item: Item, value_tag: int, redact: bool, max_text: int) -> str:
    itype = item.type
    head = f"{tag_name(item.tag)} ({_TYPE_NAMES.get(itype, repr(itype))})"
    if itype == ItemType.STRUCTURE:
        return f"{head}: {len(item.children)} items" if not item.children else head
    return f"{head}: {_render_value(item, value_tag, redact, max_text)}"


def _render_value(item: Item, value_tag: int, redact: bool, max_text: int) -> str:
    value = item.value
    itype = item.type
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>" if redact else value.hex()
    if isinstance(value, str):
        if redact and item.tag in _SECRET_TEXT_TAGS:
            return f"<{len(value)} characters>"
        shown = repr(value[:max_text])
        return shown if len(value) <= max_text else f"{shown}... ({len(value)} characters)"
    if isinstance(value, bool):
        return "True" if value else "False"
    if not isinstance(value, int):
        return f"<{type(value).__name__}>"
    if itype == ItemType.BIG_INTEGER:
        size = (value.bit_length() + 8) // 8
        # Hex, not decimal: str() of a huge int is slow and limited (sys.int_info).
        return f"<{size} bytes>" if redact else hex(value)
    if itype == ItemType.ENUMERATION:
        return _enumeration(value_tag, value)
    if itype == ItemType.INTEGER and value_tag in MASK_FOR_TAG:
        return _mask(value_tag, value)
    if itype == ItemType.DATE_TIME:
        try:
            when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            return str(value)
        return f"{when} ({value})"
    if itype == ItemType.INTERVAL:
        return f"{value} s"
    return str(value)


def _enumeration(tag: int, value: int) -> str:
    enum = ENUM_FOR_TAG.get(tag)
    names: dict[int, str] = enum.spec_names() if enum is not None else {}
    name = names.get(value)
    if name is not None:
        return f"{name} (0x{value:08X})"
    if value & _EXTENSION_ENUM_MASK == _EXTENSION_ENUM:
        return f"extension 0x{value:08X}"
    return f"0x{value:08X}"


def _mask(tag: int, value: int) -> str:
    names: dict[int, str] = MASK_FOR_TAG[tag].spec_names()
    parts = [name for bit, name in names.items() if value & bit]
    rest = value & ~sum(names)
    if rest:
        parts.append(f"{rest:#x}")
    return f"{' | '.join(parts) or '0'} (0x{value:08X})"
