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
- Decoded Items of the fixed-size types that repeat (Enumeration, Integer, Interval, Boolean)
  may be one shared object across messages: a bounded memo keyed by the item's 16 bytes. Items
  are immutable, so sharing is invisible; nothing that may hold key material is kept.
- A layer that writes messages itself (the model's writer) does so with this module's pieces:
  ``encode_into``, ``item_writer``, ``structure_header``; they check and fail as ``encode``
  does, so the wire rules stay here.
- Tags must have 0x42 (KMIP) or 0x54 (extension) as their first byte (section 9.1.1.1);
  0x420000 is refused because Table 288 lists it as unused. Tags 0x420125-0x42FFFF are
  reserved for later KMIP versions and pass here; the message layer decides what it knows.

The decode loop has two implementations with the same accepted inputs, Item trees and errors
(class, message, offset, in the same order): ``_decode_span_py`` here, the reference, and
``ttlv._speedups.decode_span``, the same loop in C, built by ``pip install`` where a compiler is
at hand (setup.py; optional). ``decode`` and ``decode_prefix`` use the C one when it imports
(``ACCELERATED`` says which); ``OPENKCM_TTLV_PURE=1`` in the environment at import forces the
Python one. The tests run against both and compare them on arbitrary and mutated input.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable, Iterator
from types import MemberDescriptorType
from typing import Any

from ttlv.errors import DecodeError, EncodeError, MessageTooLarge, NestingTooDeep, TooManyItems
from ttlv.item import VALUE_TYPES, Item, ItemType
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "ACCELERATED",
    "HEADER_SIZE",
    "decode",
    "decode_prefix",
    "encode",
    "encode_into",
    "item_writer",
    "structure_header",
    "structure_header_packer",
    "tag_is_valid",
]

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

# Section 9.1.1.1: first byte 0x42 (KMIP) or 0x54 (extensions); Table 288 lists 0x420000
# as unused.
_TAG_FIRST, _TAG_LAST = 0x420001, 0x42FFFF
_EXTENSION_FIRST, _EXTENSION_LAST = 0x540000, 0x54FFFF
_TT_FIRST, _TT_LAST = _TAG_FIRST << 8, _TAG_LAST << 8 | 0xFF
_TT_EXTENSION_FIRST, _TT_EXTENSION_LAST = _EXTENSION_FIRST << 8, _EXTENSION_LAST << 8 | 0xFF

# Item type byte -> ItemType member (None for a byte that is not a type).
_TYPE_FOR_BYTE: tuple[ItemType | None, ...] = tuple(
    next((itype for itype in ItemType if itype == code), None) for code in range(256)
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


_set_tag, _set_type, _set_value = _slot_setter("tag"), _slot_setter("type"), _slot_setter("value")

_INT_RANGES = {
    ItemType.INTEGER: (-(1 << 31), (1 << 31) - 1),
    ItemType.LONG_INTEGER: (-(1 << 63), (1 << 63) - 1),
    ItemType.DATE_TIME: (-(1 << 63), (1 << 63) - 1),
    ItemType.ENUMERATION: (0, (1 << 32) - 1),
    ItemType.INTERVAL: (0, (1 << 32) - 1),
}


def tag_is_valid(tag: int) -> bool:
    """Whether ``tag`` may appear on the wire (section 9.1.1.1; see the module invariants)."""
    return _TAG_FIRST <= tag <= _TAG_LAST or _EXTENSION_FIRST <= tag <= _EXTENSION_LAST


def _big_integer_length(value: int) -> int:
    """Bytes in the minimal two's-complement encoding of ``value``, rounded up to 8."""
    bits = value.bit_length() if value >= 0 else (~value).bit_length()
    return ((bits + 8) // 8 + 7) & ~7  # +1 bit of sign, whole bytes, multiple of 8


# --------------------------------------------------------------------------------------------
# Encoding


def encode(item: Item) -> bytes:
    """The TTLV bytes of ``item``. Raises EncodeError (offset -1) if it cannot be encoded.

    Integer-valued items take any ``int`` (IntEnum and IntFlag members included) but not a
    ``bool``; Byte Strings take ``bytes`` or ``bytearray``.
    """
    out: list[bytes | bytearray] = []
    try:
        _encode(item, out)
    except (AttributeError, TypeError, struct.error) as exc:
        raise EncodeError(_explain(item, exc)) from None
    return b"".join(out)


def encode_into(item: Item, out: list[bytes | bytearray]) -> int:
    """Append the TTLV bytes of ``item`` to ``out`` (in pieces) and return how many there are.

    For a higher layer that writes messages itself: ``b"".join(out)`` is the message. The
    checks and errors are those of ``encode``; after an EncodeError, ``out`` holds part of the
    item and is to be discarded.
    """
    try:
        return _encode(item, out)
    except (AttributeError, TypeError, struct.error) as exc:
        # Cheap checks stay in the loop; the rarer shapes of wrong input (a non-Item member,
        # a tag that is not a number, a value struct cannot pack) surface here.
        raise EncodeError(_explain(item, exc)) from None


def structure_header(tag: int, length: int) -> bytes:
    """The 8-byte header of a Structure with ``tag`` whose value (its items) is ``length`` bytes.

    For a higher layer that writes a Structure's items itself (see ``encode_into``).
    """
    _check_tag(tag)
    if type(length) is not int or not 0 <= length <= _MAX_LENGTH or length & 7:
        raise EncodeError(f"Structure {tag:#08x}: invalid length")
    return _HEADER.pack(tag << 8 | 0x01, length)


def structure_header_packer(tag: int) -> Callable[[int], bytes]:
    """``structure_header`` for one ``tag``, checked here once: a function of the length.

    For lengths that are sums of ``encode_into`` counts (so multiples of 8), which it does not
    check; one that does not fit the 32-bit length field raises ``struct.error``.
    """
    structure_header(tag, 0)  # the tag's checks
    return functools.partial(_HEADER.pack, tag << 8 | 0x01)


def _encode(item: Item, out: list[bytes | bytearray]) -> int:
    """Append the bytes of ``item`` to ``out``; return their count."""
    append = out.append
    pack_header = _HEADER.pack
    pack_u32 = _ENC_U32.pack
    pack_i32 = _ENC_INTEGER.pack
    size = 0  # bytes produced so far
    # Each open Structure: (the iterator of its parent's remaining children, index of its
    # header placeholder in ``out``, its tag-and-type word, ``size`` at its header).
    stack: list[tuple[Iterator[Item], int, int, int]] = []
    children: Iterator[Item] = iter((item,))
    # One flat loop, most frequent types first: this is the hot path of every response.
    while True:
        for child in children:
            tag = child.tag
            if not (_TAG_FIRST <= tag <= _TAG_LAST or _EXTENSION_FIRST <= tag <= _EXTENSION_LAST):
                raise EncodeError(f"invalid tag {tag!r}")
            itype = child.type
            value = child.value
            if itype is _S:
                if type(value) is not tuple and not isinstance(value, tuple):
                    raise EncodeError(f"Structure {tag:#08x}: value must be a tuple of Items")
                stack.append((children, len(out), tag << 8 | 0x01, size))
                append(b"")
                size += 8
                children = iter(value)
                break
            if itype is _TEXT:
                size += _write_text(tag, value, out)
                continue
            if type(value) is bool and itype is not _BOOL:
                raise EncodeError(f"{_type_name(itype)} {tag:#08x}: value must be int, not bool")
            if itype is _ENUM:
                append(pack_u32(tag << 8 | 0x05, 4, value))
                size += 16
            elif itype is _INT:
                append(pack_i32(tag << 8 | 0x02, 4, value))
                size += 16
            elif itype is _BYTES:
                size += _write_byte_string(tag, value, out)
            elif itype is _BOOL:
                if type(value) is not bool:
                    raise EncodeError(f"Boolean {tag:#08x}: value must be bool")
                append(_ENC_BOOL.pack(tag << 8 | 0x06, 8, value))
                size += 16
            elif itype is _LONG or itype is _DT:
                append(_ENC_I64.pack(tag << 8 | itype, 8, value))
                size += 16
            elif itype is _IVL:
                append(pack_u32(tag << 8 | 0x0A, 4, value))
                size += 16
            elif itype is _BIG:
                if not isinstance(value, int):
                    raise EncodeError(f"Big Integer {tag:#08x}: value must be int")
                n = _big_integer_length(value)
                if n > _MAX_LENGTH:
                    raise EncodeError(f"Big Integer {tag:#08x}: longer than a length field can say")
                append(pack_header(tag << 8 | 0x04, n))
                append(value.to_bytes(n, "big", signed=True))
                size += 8 + n
            else:
                raise EncodeError(f"item {tag:#08x}: unknown item type {itype!r}")
        else:
            if not stack:
                break
            children, index, tt, start = stack.pop()
            length = size - start - 8
            if length > _MAX_LENGTH:
                raise EncodeError(f"Structure {tt >> 8:#08x}: longer than a length field can say")
            out[index] = pack_header(tt, length)
    return size


def _write_text(tag: int, value: object, out: list[bytes | bytearray]) -> int:
    """Append a Text String item (``tag`` already checked); return its size."""
    if type(value) is not str and not isinstance(value, str):  # StrEnum members too
        raise EncodeError(f"Text String {tag:#08x}: value must be str")
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        raise EncodeError(f"Text String {tag:#08x}: not encodable as UTF-8") from None
    n = len(raw)
    if n > _MAX_LENGTH:
        raise EncodeError(f"Text String {tag:#08x}: longer than a length field can say")
    pad = -n & 7
    out.append(_HEADER.pack(tag << 8 | 0x07, n) + raw + _ZEROS[pad])
    return 8 + n + pad


def _write_byte_string(tag: int, value: object, out: list[bytes | bytearray]) -> int:
    """Append a Byte String item (``tag`` already checked) in pieces; return its size."""
    # bytearray is accepted so that key material need not be copied into an immutable bytes
    # object on its way out; for the same reason the value is appended as it is.
    if type(value) is bool:  # encode's check of every type but Text String and Boolean
        raise EncodeError(f"Byte String {tag:#08x}: value must be int, not bool")
    if not isinstance(value, bytes | bytearray):
        raise EncodeError(f"Byte String {tag:#08x}: value must be bytes or bytearray")
    n = len(value)
    if n > _MAX_LENGTH:
        raise EncodeError(f"Byte String {tag:#08x}: longer than a length field can say")
    out.append(_HEADER.pack(tag << 8 | 0x08, n))
    out.append(value)
    pad = -n & 7
    if pad:
        out.append(_ZEROS[pad])
    return 8 + n + pad


def _write_long(tt: int, value: object, out: list[bytes | bytearray]) -> int:
    """Append a Long Integer or Date-Time item (``tt``: tag and type, tag checked); return 16."""
    if type(value) is int and -(1 << 63) <= value < 1 << 63:
        out.append(_ENC_I64.pack(tt, 8, value))
        return 16
    item: Item = _new_object(Item)  # anything else: encode's own path, checks and errors
    _set_tag(item, tt >> 8)
    _set_type(item, _TYPE_FOR_BYTE[tt & 0xFF])
    _set_value(item, value)
    return encode_into(item, out)


def item_writer(tag: int, itype: ItemType) -> Callable[[Any, list[bytes | bytearray]], int]:
    """``write(value, out)``: ``encode_into(Item(tag, itype, value), out)`` without the Item.

    For a higher layer that writes messages itself. The tag is checked here, once; the value
    on each call, with the errors of ``encode``. Not for Structures (see ``structure_header``).
    """
    _check_tag(tag)
    if itype is _TEXT:
        return functools.partial(_write_text, tag)
    if itype is _BYTES:
        return functools.partial(_write_byte_string, tag)
    if itype is _LONG or itype is _DT:
        return functools.partial(_write_long, tag << 8 | itype)
    if itype is _S or not isinstance(itype, ItemType):
        raise EncodeError(f"item {tag:#08x}: no writer for item type {itype!r}")

    def write(value: Any, out: list[bytes | bytearray]) -> int:
        item: Item = _new_object(Item)
        _set_tag(item, tag)
        _set_type(item, itype)
        _set_value(item, value)
        return encode_into(item, out)

    return write


def _check_tag(tag: object) -> None:
    if type(tag) is not int and (not isinstance(tag, int) or isinstance(tag, bool)):
        raise EncodeError(f"tag must be int, not {type(tag).__name__}")
    if not (_TAG_FIRST <= tag <= _TAG_LAST or _EXTENSION_FIRST <= tag <= _EXTENSION_LAST):
        raise EncodeError(f"invalid tag {tag!r}")


def _explain(item: Item, exc: Exception) -> str:
    """Name the first item that cannot be encoded (a slow second pass, on failure only)."""
    pending: list[object] = [item]
    while pending:
        current = pending.pop()
        if not isinstance(current, Item):
            return f"structure member is {type(current).__name__}, not Item"
        tag, itype, value = current.tag, current.type, current.value
        if not isinstance(tag, int) or isinstance(tag, bool):
            return f"tag must be int, not {type(tag).__name__}"
        if itype is _S:
            pending.extend(value if isinstance(value, tuple) else ())
            continue
        if not isinstance(value, VALUE_TYPES.get(itype, ())):
            return f"{_type_name(itype)} {tag:#08x}: value must not be {type(value).__name__}"
        if isinstance(exc, struct.error):
            low, high = _INT_RANGES.get(itype, (0, -1))
            if isinstance(value, int) and not low <= value <= high:
                return f"{_type_name(itype)} {tag:#08x}: value out of range"
    return f"item cannot be encoded ({type(exc).__name__})"


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
    if isinstance(data, bytes):
        return _decode_span(data, start, start + span, limits), start + span
    # Copy only the item itself (bounded by max_message_size just above): slices of a bytes
    # object are the bytes values the Items carry.
    with memoryview(data) as view, view.cast("B") as octets:
        buf = bytes(octets[start : start + span])
    try:
        item = _decode_span(buf, 0, span, limits)
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


_ITEM_CACHE_SIZE = 1024
"""Most decoded fixed-size Items kept for reuse (the memo is emptied when it is full)."""

# The 16 bytes of a valid Enumeration, Integer, Interval or Boolean item -> its (immutable)
# Item. Such values repeat from message to message (operations, object types, algorithms,
# lengths, versions, flags); a hit skips unpacking, checking and building, since the bytes are
# the very ones already checked. Only these types: never Byte Strings or Big Integers (key
# material), text, or Date-Times and Long Integers (rarely repeated).
_decoded_items: dict[bytes, Item] = {}


def _decode_span_py(data: bytes, start: int, end: int, limits: Limits) -> Item:
    """Decode the one item that occupies ``data[start:end]`` (its span was checked by the caller).

    The reference implementation: ttlv/_speedups.c is this loop in C; change both together.
    """
    max_items = limits.max_items
    max_depth = limits.max_depth
    unpack_header = _HEADER.unpack_from
    unpack_u32 = _U32_PAD.unpack_from
    unpack_i32 = _I32_PAD.unpack_from
    zeros = _ZEROS
    new = _new_object
    set_tag, set_type, set_value = _set_tag, _set_type, _set_value
    memo = _decoded_items
    memo_get = memo.get

    items: list[Item] = []  # members decoded so far of the innermost open Structure
    root = items
    # Each open Structure: (its parent's member list, its tag, the parent's end offset).
    stack: list[tuple[list[Item], int, int]] = []
    count = 0
    depth = 0  # open Structures, len(stack)
    pos = start
    value: object
    # One flat loop, most frequent cases first, type bytes compared as ints: the hot path.
    while True:
        if pos == end:
            if not stack:
                break
            value = tuple(items)
            items, tag, end = stack.pop()
            depth -= 1
            obj = new(Item)
            set_tag(obj, tag)
            set_type(obj, _S)
            set_value(obj, value)
            items.append(obj)
            continue
        if end - pos >= 16:
            known = memo_get(data[pos : pos + 16])
            if known is not None:  # a fixed-size item seen before: valid, and its Item built
                count += 1
                if count > max_items:
                    raise TooManyItems(f"more than {max_items} items", pos)
                items.append(known)
                pos += 16
                continue
        # end - pos is a positive multiple of 8 here: every span and every Structure length
        # is (checked below), so a whole header is always present.
        tt, length = unpack_header(data, pos)
        # tt is tag << 8 | type: the tag ranges of tag_is_valid, shifted.
        if not (_TT_FIRST <= tt <= _TT_LAST or _TT_EXTENSION_FIRST <= tt <= _TT_EXTENSION_LAST):
            raise DecodeError(f"invalid tag {tt >> 8:#08x}", pos)
        count += 1
        if count > max_items:
            raise TooManyItems(f"more than {max_items} items", pos)
        code = tt & 0xFF
        vpos = pos + 8
        if code == 0x01:  # Structure
            if length & 7:
                raise DecodeError("Structure length is not a multiple of 8", pos + 4)
            if length > end - vpos:
                raise DecodeError("Structure extends beyond its parent", pos + 4)
            if depth >= max_depth:
                raise NestingTooDeep(f"Structures nested deeper than {max_depth}", pos)
            depth += 1
            stack.append((items, tt >> 8, end))
            items = []
            end = vpos + length
            pos = vpos
            continue
        if code in {0x07, 0x08}:  # Text String, Byte String
            padded = (length + 7) & ~7
            if padded > end - vpos:
                raise DecodeError("item extends beyond its parent", pos + 4)
            stop = vpos + length
            pos = vpos + padded
            if data[stop:pos] != zeros[padded - length]:
                raise DecodeError("non-zero padding", stop)
            obj = new(Item)
            set_tag(obj, tt >> 8)
            if code == 0x07:
                try:
                    set_value(obj, data[vpos:stop].decode())
                except UnicodeDecodeError as exc:
                    raise DecodeError("Text String is not valid UTF-8", vpos + exc.start) from None
                set_type(obj, _TEXT)
            else:
                set_value(obj, data[vpos:stop])
                set_type(obj, _BYTES)
            items.append(obj)
            continue
        if code in {0x05, 0x02, 0x0A, 0x06}:  # Enumeration, Integer, Interval, Boolean
            itype = _TYPE_FOR_BYTE[code]
            if length != (8 if code == 0x06 else 4):
                raise DecodeError(f"{_type_name(itype)} length must be {8 if code == 0x06 else 4}", pos + 4)
            if end - vpos < 8:
                raise DecodeError("item extends beyond its parent", pos + 4)
            if code == 0x06:
                raw_bool = _U64.unpack_from(data, vpos)[0]
                if raw_bool > 1:
                    raise DecodeError("Boolean value is neither 0 nor 1", vpos)
                value = raw_bool == 1
            else:
                value, pad = (unpack_i32 if code == 0x02 else unpack_u32)(data, vpos)
                if pad:
                    raise DecodeError("non-zero padding", vpos + 4)
            pos = vpos + 8
            obj = new(Item)
            set_tag(obj, tt >> 8)
            set_type(obj, itype)
            set_value(obj, value)
            if len(memo) >= _ITEM_CACHE_SIZE:
                memo.clear()
            memo[data[vpos - 8 : pos]] = obj
            items.append(obj)
            continue
        if code in {0x03, 0x09}:  # Long Integer, Date-Time
            itype = _TYPE_FOR_BYTE[code]
            if length != 8:
                raise DecodeError(f"{_type_name(itype)} length must be 8", pos + 4)
            if end - vpos < 8:
                raise DecodeError("item extends beyond its parent", pos + 4)
            value = _I64.unpack_from(data, vpos)[0]
            pos = vpos + 8
        elif code == 0x04:  # Big Integer
            if length & 7 or length == 0:
                raise DecodeError("Big Integer length is not a positive multiple of 8", pos + 4)
            if length > end - vpos:
                raise DecodeError("item extends beyond its parent", pos + 4)
            pos = vpos + length
            big = int.from_bytes(data[vpos:pos], "big", signed=True)
            if _big_integer_length(big) != length:
                raise DecodeError("Big Integer is not minimally encoded", vpos)
            value = big
            itype = _BIG
        else:
            raise DecodeError(f"unknown item type {code:#04x}", pos + 3)
        obj = new(Item)
        set_tag(obj, tt >> 8)
        set_type(obj, itype)
        set_value(obj, value)
        items.append(obj)
    return root[0]


DecodeSpan = Callable[[bytes, int, int, Limits], Item]


def _load_decode_span_c() -> DecodeSpan | None:
    """The C decode loop, or None if it was not built (or is turned off: OPENKCM_TTLV_PURE=1)."""
    if os.environ.get("OPENKCM_TTLV_PURE") == "1":
        return None
    try:
        from ttlv import _speedups  # noqa: PLC0415 -- optional: a build without a compiler lacks it
    except ImportError:
        return None
    return _speedups.decode_span


_decode_span_c = _load_decode_span_c()
_decode_span: DecodeSpan = _decode_span_c or _decode_span_py

ACCELERATED: bool = _decode_span_c is not None
"""Whether ``decode`` and ``decode_prefix`` run the C decode loop (ttlv/_speedups.c)."""
