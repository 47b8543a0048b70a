"""TTLV encoding and decoding (KMIP 1.4 section 9.1).

Invariants:
- ``decode`` accepts exactly the canonical encodings that ``encode`` produces: every accepted
  input re-encodes byte for byte. Lengths must equal the type's fixed length, padding must
  be present and zero, Booleans are 0 or 1, Big Integers use the minimal multiple of eight
  bytes, Text Strings are valid UTF-8, a Structure's children fill it exactly.
- Any input either decodes or raises a ``ttlv.errors.DecodeError`` carrying the offset of
  the offending field (tag: the item's first byte, type: +3, length: +4, value: +8 and on).
  Nothing else escapes: no IndexError, struct.error, UnicodeDecodeError, RecursionError.
- Limits are checked before anything is allocated in proportion to a declared length: the
  top-level length against ``max_message_size`` (and against the bytes actually present),
  every item against ``max_items``, every Structure against ``max_depth``.
- Neither direction recurses: an explicit stack bounds Python frames whatever the nesting.
- Tags must have 0x42 (KMIP) or 0x54 (extension) as their first byte (section 9.1.1.1);
  0x420000 is refused because Table 288 lists it as unused. Tags 0x420125-0x42FFFF are
  reserved for later KMIP versions and pass here; the message layer decides what it knows.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from types import MemberDescriptorType

from ttlv.errors import DecodeError, EncodeError, MessageTooLarge, NestingTooDeep, TooManyItems
from ttlv.item import Item, ItemType
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = ["HEADER_SIZE", "decode", "decode_prefix", "encode", "tag_is_valid"]

HEADER_SIZE = 8
"""Tag (3 bytes), type (1 byte), length (4 bytes)."""

_HEADER = struct.Struct(">II")  # (tag << 8 | type, length)
_I32_PAD = struct.Struct(">iI")  # Integer value, then its 4 padding bytes
_U32_PAD = struct.Struct(">II")  # Enumeration / Interval value, then padding
_I64 = struct.Struct(">q")  # Long Integer / Date-Time
_U64 = struct.Struct(">Q")  # Boolean

# Whole items of the fixed-size types, header included: one pack call per item.
_ENC_INTEGER = struct.Struct(">IIi4x")
_ENC_U32 = struct.Struct(">III4x")
_ENC_I64 = struct.Struct(">IIq")
_ENC_BOOL = struct.Struct(">IIQ")

_MAX_LENGTH = 0xFFFFFFFF  # the largest value a 4-byte length field holds

_ZEROS = tuple(bytes(n) for n in range(8))  # _ZEROS[n]: n padding bytes

_TAG_KMIP = 0x42
_TAG_EXTENSION = 0x54
_TAG_UNUSED = 0x420000

# Item type byte -> ItemType member (None for a byte that is not a type).
_TYPE_FOR_BYTE: tuple[ItemType | None, ...] = tuple(
    ItemType(b) if b in ItemType._value2member_map_ else None for b in range(256)
)

_S, _INT, _LONG, _BIG, _ENUM, _BOOL, _TEXT, _BYTES, _DT, _IVL = (
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

# Building an Item through its slot descriptors skips the frozen dataclass __init__ (three
# object.__setattr__ calls); the object is identical and as immutable as one made by Item().
_new_object = object.__new__


def _slot_setter(name: str) -> Callable[[Item, object], None]:
    descriptor = Item.__dict__[name]
    if not isinstance(descriptor, MemberDescriptorType):
        raise TypeError(f"Item.{name} is not a slot")  # item.py changed shape: revisit here
    setter: Callable[[Item, object], None] = descriptor.__set__
    return setter


def tag_is_valid(tag: int) -> bool:
    """Whether ``tag`` may appear on the wire (section 9.1.1.1; see the module invariants)."""
    return (tag >> 16 == _TAG_KMIP and tag != _TAG_UNUSED) or tag >> 16 == _TAG_EXTENSION


def _big_integer_length(value: int) -> int:
    """Bytes in the minimal two's-complement encoding of ``value``, rounded up to 8."""
    bits = value.bit_length() if value >= 0 else (~value).bit_length()
    return ((bits + 8) // 8 + 7) & ~7  # +1 bit of sign, whole bytes, multiple of 8


# --------------------------------------------------------------------------------------------
# Encoding


def encode(item: Item) -> bytes:
    """The TTLV bytes of ``item``. Raises EncodeError (offset -1) if it cannot be encoded."""
    out: list[bytes | bytearray] = []
    append = out.append
    size = 0  # bytes produced so far
    # Each open Structure: (the iterator of its parent's remaining children, index of its
    # header placeholder in ``out``, its tag-and-type word, ``size`` at its header).
    stack: list[tuple[Iterator[Item], int, int, int]] = []
    children: Iterator[Item] = iter((item,))
    while True:
        for child in children:
            if type(child) is not Item:
                raise EncodeError(f"structure member is {type(child).__name__}, not Item")
            tag = child.tag
            if not isinstance(tag, int) or type(tag) is bool or not tag_is_valid(tag):
                raise EncodeError(f"invalid tag {tag!r}")
            itype = child.type
            if type(itype) is not ItemType:
                raise EncodeError(f"item {tag:#08x}: item type must be an ItemType, not {itype!r}")
            value = child.value
            tt = tag << 8 | itype
            if itype is _S:
                if type(value) is not tuple:
                    raise EncodeError(f"Structure {tag:#08x}: value must be a tuple of Items")
                stack.append((children, len(out), tt, size))
                append(b"")
                size += 8
                children = iter(value)
                break
            if itype is _TEXT:
                if type(value) is not str:
                    raise EncodeError(f"Text String {tag:#08x}: value must be str")
                try:
                    raw: bytes | bytearray = value.encode()
                except UnicodeEncodeError:
                    raise EncodeError(f"Text String {tag:#08x}: not encodable as UTF-8") from None
                n = len(raw)
                if n > _MAX_LENGTH:
                    raise EncodeError(f"Text String {tag:#08x}: longer than a length field can say")
                append(_HEADER.pack(tt, n))
                append(raw)
                pad = -n & 7
                if pad:
                    append(_ZEROS[pad])
                size += 8 + n + pad
            elif itype is _BYTES:
                # bytearray is accepted so that key material need not be copied into an
                # immutable bytes object on its way out.
                if not isinstance(value, (bytes, bytearray)):
                    raise EncodeError(f"Byte String {tag:#08x}: value must be bytes or bytearray")
                n = len(value)
                if n > _MAX_LENGTH:
                    raise EncodeError(f"Byte String {tag:#08x}: longer than a length field can say")
                append(_HEADER.pack(tt, n))
                append(value)
                pad = -n & 7
                if pad:
                    append(_ZEROS[pad])
                size += 8 + n + pad
            elif itype is _BOOL:
                if type(value) is not bool:
                    raise EncodeError(f"Boolean {tag:#08x}: value must be bool")
                append(_ENC_BOOL.pack(tt, 8, value))
                size += 16
            else:
                if not isinstance(value, int) or type(value) is bool:
                    raise EncodeError(
                        f"{_type_name(itype)} {tag:#08x}: value must be int, not {type(value).__name__}"
                    )
                if itype is _ENUM or itype is _IVL:
                    packer, length = _ENC_U32, 4
                elif itype is _INT:
                    packer, length = _ENC_INTEGER, 4
                elif itype is _LONG or itype is _DT:
                    packer, length = _ENC_I64, 8
                elif itype is _BIG:
                    n = _big_integer_length(value)
                    if n > _MAX_LENGTH:
                        raise EncodeError(f"Big Integer {tag:#08x}: longer than a length field can say")
                    append(_HEADER.pack(tt, n))
                    append(value.to_bytes(n, "big", signed=True))
                    size += 8 + n
                    continue
                else:
                    raise EncodeError(f"item {tag:#08x}: unknown item type {itype!r}")
                try:
                    append(packer.pack(tt, length, value))
                except struct.error:
                    raise EncodeError(f"{_type_name(itype)} {tag:#08x}: value out of range") from None
                size += 16
        else:
            if not stack:
                break
            children, index, tt, start = stack.pop()
            length = size - start - 8
            if length > _MAX_LENGTH:
                raise EncodeError(f"Structure {tt >> 8:#08x}: longer than a length field can say")
            out[index] = _HEADER.pack(tt, length)
    return b"".join(out)


def _type_name(itype: object) -> str:
    return itype.name.replace("_", " ").title() if isinstance(itype, ItemType) else repr(itype)


# --------------------------------------------------------------------------------------------
# Decoding


def decode(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> Item:
    """The single TTLV item that ``data`` holds, exactly: trailing bytes are an error."""
    total = _nbytes(data)
    if total > limits.max_message_size:
        raise MessageTooLarge(f"message of {total} bytes exceeds the limit of {limits.max_message_size}", 0)
    item, end = decode_prefix(data, limits)
    if end != total:
        raise DecodeError(f"{total - end} bytes follow the top-level item", end)
    return item


def decode_prefix(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS, start: int = 0
) -> tuple[Item, int]:
    """Decode the item that begins at ``start``; return it and the offset just past it.

    Bytes after the item are left alone. Offsets in errors count from the start of ``data``.
    """
    total = _nbytes(data)
    if not 0 <= start <= total:
        raise DecodeError("start offset outside the data", start)
    if total - start < HEADER_SIZE:
        raise DecodeError("truncated item header", start)
    _, length = _HEADER.unpack_from(data, start)
    span = HEADER_SIZE + ((length + 7) & ~7)
    if span > limits.max_message_size:
        raise MessageTooLarge(
            f"item of {span} bytes exceeds the limit of {limits.max_message_size}", start + 4
        )
    if span > total - start:
        raise DecodeError("item extends beyond the end of the data", start + 4)
    if type(data) is bytes and start == 0 and span == total:
        buf = data
    else:
        # Copy only the item itself (bounded by max_message_size just above): slices of a
        # bytes object are the bytes values the Items carry.
        buf = bytes(memoryview(data)[start : start + span])
    try:
        item = _decode_span(buf, span, limits)
    except DecodeError as exc:
        if start and exc.offset >= 0:
            raise type(exc)(_message_of(exc), exc.offset + start) from None
        raise
    return item, start + span


def _nbytes(data: bytes | bytearray | memoryview) -> int:
    if isinstance(data, memoryview):
        if not data.contiguous:
            raise DecodeError("memoryview is not contiguous", 0)
        return data.nbytes
    return len(data)


def _message_of(exc: DecodeError) -> str:
    text = str(exc.args[0]) if exc.args else ""
    suffix = f" (at offset {exc.offset})"
    return text[: -len(suffix)] if text.endswith(suffix) else text


def _decode_span(data: bytes, end: int, limits: Limits) -> Item:
    """Decode the one item that occupies ``data[0:end]`` (its span was checked by the caller)."""
    max_items = limits.max_items
    max_depth = limits.max_depth
    unpack_header = _HEADER.unpack_from
    types = _TYPE_FOR_BYTE
    zeros = _ZEROS
    new = _new_object
    set_tag, set_type, set_value = _slot_setter("tag"), _slot_setter("type"), _slot_setter("value")

    items: list[Item] = []  # members decoded so far of the innermost open Structure
    root = items
    # Each open Structure: (its parent's member list, its tag, the parent's end offset).
    stack: list[tuple[list[Item], int, int]] = []
    count = 0
    pos = 0
    value: object
    while True:
        if pos == end:
            if not stack:
                break
            value = tuple(items)
            items, tag, end = stack.pop()
            obj = new(Item)
            set_tag(obj, tag)
            set_type(obj, _S)
            set_value(obj, value)
            items.append(obj)
            continue
        if end - pos < 8:
            raise DecodeError("truncated item header", pos)
        tt, length = unpack_header(data, pos)
        tag = tt >> 8
        if (tag >> 16 != _TAG_KMIP or tag == _TAG_UNUSED) and tag >> 16 != _TAG_EXTENSION:
            raise DecodeError(f"invalid tag {tag:#08x}", pos)
        itype = types[tt & 0xFF]
        count += 1
        if count > max_items:
            raise TooManyItems(f"more than {max_items} items", pos)
        vpos = pos + 8
        if itype is _S:
            if length & 7:
                raise DecodeError("Structure length is not a multiple of 8", pos + 4)
            if length > end - vpos:
                raise DecodeError("Structure extends beyond its parent", pos + 4)
            if len(stack) >= max_depth:
                raise NestingTooDeep(f"Structures nested deeper than {max_depth}", pos)
            stack.append((items, tag, end))
            items = []
            end = vpos + length
            pos = vpos
            continue
        if itype is _TEXT or itype is _BYTES:
            padded = (length + 7) & ~7
            if padded > end - vpos:
                raise DecodeError("item extends beyond its parent", pos + 4)
            stop = vpos + length
            pos = vpos + padded
            if data[stop:pos] != zeros[padded - length]:
                raise DecodeError("non-zero padding", stop)
            if itype is _TEXT:
                try:
                    value = data[vpos:stop].decode()
                except UnicodeDecodeError as exc:
                    raise DecodeError("Text String is not valid UTF-8", vpos + exc.start) from None
            else:
                value = data[vpos:stop]
        elif itype is None:
            raise DecodeError(f"unknown item type {tt & 0xFF:#04x}", pos + 3)
        elif itype is _BIG:
            if length & 7 or length == 0:
                raise DecodeError("Big Integer length is not a positive multiple of 8", pos + 4)
            if length > end - vpos:
                raise DecodeError("item extends beyond its parent", pos + 4)
            pos = vpos + length
            big = int.from_bytes(data[vpos:pos], "big", signed=True)
            if _big_integer_length(big) != length:
                raise DecodeError("Big Integer is not minimally encoded", vpos)
            value = big
        else:
            if itype is _ENUM or itype is _IVL or itype is _INT:
                if length != 4:
                    raise DecodeError(f"{_type_name(itype)} length must be 4", pos + 4)
                if end - vpos < 8:
                    raise DecodeError("item extends beyond its parent", pos + 4)
                value, pad = (_I32_PAD if itype is _INT else _U32_PAD).unpack_from(data, vpos)
                if pad:
                    raise DecodeError("non-zero padding", vpos + 4)
            else:  # Long Integer, Date-Time, Boolean
                if length != 8:
                    raise DecodeError(f"{_type_name(itype)} length must be 8", pos + 4)
                if end - vpos < 8:
                    raise DecodeError("item extends beyond its parent", pos + 4)
                if itype is _BOOL:
                    raw_bool = _U64.unpack_from(data, vpos)[0]
                    if raw_bool > 1:
                        raise DecodeError("Boolean value is neither 0 nor 1", vpos)
                    value = raw_bool == 1
                else:
                    value = _I64.unpack_from(data, vpos)[0]
            pos = vpos + 8
        obj = new(Item)
        set_tag(obj, tag)
        set_type(obj, itype)
        set_value(obj, value)
        items.append(obj)
    return root[0]
