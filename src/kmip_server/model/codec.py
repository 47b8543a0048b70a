"""The one mechanism that maps every model dataclass to and from ``ttlv.Item``.

A model class is a frozen, slotted, keyword-only dataclass whose fields are annotated with
``typing.Annotated[<python type>, Tag.<TAG>, <markers>...]``. The Python type gives the item
type (see ``_kind_of``):

    int -> Integer            bool -> Boolean         str -> Text String
    bytes -> Byte String      IntEnum -> Enumeration  IntFlag -> Integer (a mask)
    LongInteger / BigInteger / DateTime / Interval (int with an ItemType marker)
    a model dataclass -> Structure                    ttlv.Item -> kept raw, any type
    X | None -> may be absent (None)                  tuple[X, ...] -> repeated (0..n)

and the markers say the rest: ``Since(1, 2)`` (the protocol version the field appeared in;
by default the version that introduced its tag), ``NonEmpty()`` (a repeated field that the
spec REQUIRES at least once), ``Partial()`` (decode the subtree allowing REQUIRED fields to be
absent: Locate's match templates and Notify's deleted attributes), ``DependsOn`` (the value's
type is chosen by another field: Attribute Value by Attribute Name, payload by Operation, Key
Value by Key Format Type, Credential Value by Credential Type), ``OneOf`` (the item's tag
chooses the type: the managed object of Register/Get/Put/Import/Export), ``Custom`` (a
hand-written converter: Key Material's bytes-or-structure, Operation) and ``Interned()`` (a
text field whose Items are worth reusing: Attribute Name).

Invariants:
- Each class is compiled once, on first use, into a decoder, an encoder and a writer generated
  as straight-line Python (no per-field interpretation at run time); the result is cached.
  Encoders reuse the (immutable) Items of values that repeat: every Enumeration and Boolean,
  the first 64 Integers, masks and interned texts of each field (values of the field's exact
  type only); never Byte Strings.
- The writer (``struct_to_bytes``) writes TTLV straight from the objects, with ttlv's item
  writers, and gives exactly ``ttlv.encode(encode_struct(...))``: the same bytes or the same
  exception (any value of a type its field does not declare is left to that two-step path).
- Decoded values are of the exact Python type of their field; an int subclass (an IntEnum in
  a hand-built Item) is accepted as an int, a bool is not.
- Decoding accepts fields in any order (section 9.1.1.4 orders them, but accepting more costs
  nothing and helps interoperability); encoding always writes the spec order, which is the
  order of the dataclass fields.
- Decoding any Item tree raises nothing but ``ModelError`` subclasses: wrong item type or value
  out of range or outside its enumeration -> InvalidField; a non-repeated field twice or a
  REQUIRED field absent -> InvalidMessage (section 11.1; 11.3 "REQUIRED field(s) missing").
- Unknown tags: with ``STRICT`` in the context (a message whose version this model implements,
  1.0-1.4) an unknown field is InvalidField (section 11.1 row 5); without it (a later 1.x
  minor version) it is ignored (row 4). Extension tags 0x54xxxx are unknown fields like any
  other, except inside the places whose content the spec leaves to vendors, which the model
  keeps as raw Items (Vendor Extension, Server Information, custom attribute values, extension
  Key Material).
- Enumeration values outside the table are InvalidField, except extension values (first
  nibble 8, section 9.1.1.4), which decode to a plain ``int``.
- Encoding follows the protocol version given: a field that appeared after it is omitted (a
  receiver of that version could not parse it); None and empty tuples are omitted.
- Date-Time values are ``int`` seconds since the POSIX epoch, Intervals ``int`` seconds, both
  exactly as on the wire (so that any value, and any test-vector placeholder, round-trips).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Annotated, Any, TypeAlias, Union, get_args, get_origin

from kmip_server.model.errors import InvalidField, InvalidMessage
from ttlv.codec import encode as ttlv_encode
from ttlv.codec import encode_into as ttlv_encode_into
from ttlv.codec import item_writer, structure_header_packer
from ttlv.item import Item, ItemType
from ttlv.kmip14 import TAG_NAMES, Tag

__all__ = [
    "PARTIAL",
    "STRICT",
    "BigInteger",
    "Custom",
    "DateTime",
    "DependsOn",
    "Interned",
    "Interval",
    "LongInteger",
    "NonEmpty",
    "OneOf",
    "Partial",
    "Since",
    "StructCodec",
    "ValueCodec",
    "Version",
    "codec_for",
    "decode_struct",
    "encode_struct",
    "make_item",
    "struct_to_bytes",
    "write_item",
    "write_struct",
    "model",
    "tag_name",
    "tag_since",
    "value_codec",
]

_T = typing.TypeVar("_T")

Version: TypeAlias = tuple[int, int]
"""A KMIP protocol version as (major, minor)."""

# Decoding context flags.
STRICT = 1
"""Unknown fields are InvalidField (the message's version is one this model implements)."""
PARTIAL = 2
"""REQUIRED fields may be absent (decoded as None): Locate match templates, Notify."""

# Item-type markers for the int-valued types other than Integer.
LongInteger: TypeAlias = Annotated[int, ItemType.LONG_INTEGER]
BigInteger: TypeAlias = Annotated[int, ItemType.BIG_INTEGER]
DateTime: TypeAlias = Annotated[int, ItemType.DATE_TIME]
"""Seconds since 1970-01-01T00:00:00Z (POSIX time, section 9.1.1.4)."""
Interval: TypeAlias = Annotated[int, ItemType.INTERVAL]
"""A length of time in seconds (unsigned 32-bit)."""


@dataclass(frozen=True, slots=True)
class Since:
    """The protocol version a field appeared in (when later than its tag's)."""

    major: int
    minor: int


@dataclass(frozen=True, slots=True)
class NonEmpty:
    """A repeated field the spec marks REQUIRED: at least one occurrence."""


@dataclass(frozen=True, slots=True)
class Interned:
    """A Text String field whose values repeat across messages (Attribute Name): its encoder
    reuses the Items it built. Never for text that may be secret."""


@dataclass(frozen=True, slots=True)
class Partial:
    """Decode this field's subtree with REQUIRED fields allowed to be absent."""


@dataclass(frozen=True, slots=True)
class DependsOn:
    """The field's type depends on the value of the field named ``field`` (decoded first).

    ``decode(item, ctx, selector)`` returns the value; ``encode(value, tag, version, selector)``
    returns the Item. ``write(value, tag, version, selector, out)``, optional, appends the TTLV
    bytes of that Item to ``out`` and returns their count (see ``struct_to_bytes``).
    """

    field: str
    decode: Callable[[Item, int, Any], Any]
    encode: Callable[[Any, int, Version, Any], Item]
    write: Callable[[Any, int, Version, Any, list[bytes | bytearray]], int] | None = None


@dataclass(frozen=True, slots=True)
class Custom:
    """A single-tag field converted by hand: ``decode(item, ctx)`` -> value,
    ``encode(value, tag, version)`` -> Item. For the genuinely polymorphic spots only.
    ``write(value, tag, version, out)``, optional: see ``DependsOn.write``."""

    decode: Callable[[Item, int], Any]
    encode: Callable[[Any, int, Version], Item]
    write: Callable[[Any, int, Version, list[bytes | bytearray]], int] | None = None


@dataclass(frozen=True, slots=True)
class OneOf:
    """The field may carry any of ``tags``; the item's tag chooses the value's type.

    ``decode(item, ctx)`` returns the value; ``encode(value, version)`` returns the Item;
    ``write(value, version, out)``, optional: see ``DependsOn.write``.
    """

    tags: tuple[int, ...]
    decode: Callable[[Item, int], Any]
    encode: Callable[[Any, Version], Item]
    write: Callable[[Any, Version, list[bytes | bytearray]], int] | None = None


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(dataclasses.field,))
def model(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a model class: a frozen, slotted, keyword-only dataclass."""
    return dataclass(frozen=True, slots=True, kw_only=True)(cls)


# --------------------------------------------------------------------------------------------
# Tags: names and the version that introduced them

# The last tag of each KMIP 1.x version in Table 283's numbering (tags were appended in order).
_TAG_VERSIONS: tuple[tuple[int, Version], ...] = (
    (0x4200A1, (1, 0)),
    (0x4200B7, (1, 1)),
    (0x4200D3, (1, 2)),
    (0x4200F7, (1, 3)),
    (0x42FFFF, (1, 4)),
)


def tag_since(tag: int) -> Version:
    """The KMIP version that defined ``tag`` (extension tags: 1.0)."""
    for last, version in _TAG_VERSIONS:
        if tag <= last:
            return version
    return (1, 0)


def tag_name(tag: int) -> str:
    """The spec name of ``tag``, or its hex value."""
    name = TAG_NAMES.get(tag)
    return name if name is not None else f"tag {tag:#08x}"


# --------------------------------------------------------------------------------------------
# Items


_new_object = object.__new__
_set_tag = Item.__dict__["tag"].__set__
_set_type = Item.__dict__["type"].__set__
_set_value = Item.__dict__["value"].__set__


def make_item(tag: int, itype: ItemType, value: Any) -> Item:
    """An Item built through its slots (the same object ``Item(...)`` makes, in half the time)."""
    item: Item = _new_object(Item)
    _set_tag(item, tag)
    _set_type(item, itype)
    _set_value(item, value)
    return item


def _signed32(value: int) -> int:
    """A 32-bit mask as the signed Integer that carries it on the wire."""
    value = int(value) & 0xFFFFFFFF  # int() first: IntFlag's own & builds a new flag, slowly
    return value - 0x100000000 if value & 0x80000000 else value


# --------------------------------------------------------------------------------------------
# Error raisers used by generated code (kept out of line: they are the cold path)


def _not_structure(item: Item, where: str) -> typing.NoReturn:
    raise InvalidField(f"{where}: expected a Structure")


def _bad(item: Item) -> typing.NoReturn:
    raise InvalidField(f"{tag_name(_tag_of(item))}: wrong item type or value out of range")


def _duplicate(item: Item) -> typing.NoReturn:
    raise InvalidMessage(f"{tag_name(_tag_of(item))}: field present more than once")


def _missing(where: str, tag: int) -> typing.NoReturn:
    raise InvalidMessage(f"{where}: REQUIRED field {tag_name(tag)} missing")


def _unknown(item: Item, ctx: int, where: str) -> None:
    if ctx & STRICT:
        raise InvalidField(f"{where}: unknown field {tag_name(_tag_of(item))}")


def _as_int(item: Item, itype: ItemType) -> int:
    """The int value of ``item`` when it is of ``itype`` and its value an int of a subclass (an
    IntEnum in a hand-built Item); bool is no int here."""
    value = item.value
    if item.type is not itype or not isinstance(value, int) or isinstance(value, bool):
        _bad(item)
    return int(value)


def _tag_of(item: Item) -> int:
    tag = getattr(item, "tag", 0)
    return tag if isinstance(tag, int) else 0


_EXTENSION_ENUM_MIN = 0x80000000
_EXTENSION_ENUM_MAX = 0x8FFFFFFF


def _enum_extension(item: Item, value: int) -> int:
    """An enumeration value outside the table: allowed only as an extension (first nibble 8)."""
    if _EXTENSION_ENUM_MIN <= value <= _EXTENSION_ENUM_MAX:
        return value
    raise InvalidField(f"{tag_name(_tag_of(item))}: value not in its enumeration")


# --------------------------------------------------------------------------------------------
# Kinds: what one field's values are on the wire


@dataclass(frozen=True, slots=True)
class _Prim:
    itype: ItemType
    pytype: type
    low: int | None = None
    high: int | None = None


_I32 = (-(1 << 31), (1 << 31) - 1)
_I64 = (-(1 << 63), (1 << 63) - 1)
_U32 = (0, (1 << 32) - 1)

_PRIMS: dict[ItemType, _Prim] = {
    ItemType.INTEGER: _Prim(ItemType.INTEGER, int, *_I32),
    ItemType.LONG_INTEGER: _Prim(ItemType.LONG_INTEGER, int, *_I64),
    ItemType.BIG_INTEGER: _Prim(ItemType.BIG_INTEGER, int),
    ItemType.DATE_TIME: _Prim(ItemType.DATE_TIME, int, *_I64),
    ItemType.INTERVAL: _Prim(ItemType.INTERVAL, int, *_U32),
    ItemType.BOOLEAN: _Prim(ItemType.BOOLEAN, bool),
    ItemType.TEXT_STRING: _Prim(ItemType.TEXT_STRING, str),
    ItemType.BYTE_STRING: _Prim(ItemType.BYTE_STRING, bytes),
}


@dataclass(frozen=True, slots=True)
class _Enum:
    cls: type[IntEnum]


@dataclass(frozen=True, slots=True)
class _Mask:
    cls: type[IntFlag]


@dataclass(frozen=True, slots=True)
class _Struct:
    cls: type


@dataclass(frozen=True, slots=True)
class _Raw:
    pass


_Kind: TypeAlias = "_Prim | _Enum | _Mask | _Struct | _Raw | DependsOn | OneOf | Custom"


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    tags: tuple[int, ...]
    kind: _Kind
    repeated: bool
    optional: bool
    non_empty: bool
    since: Version
    partial: bool
    interned: bool = False


def _flatten(annotation: Any, meta: list[Any]) -> Any:
    """Strip Annotated layers from ``annotation``, collecting their metadata into ``meta``."""
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        annotation = args[0]
        meta.extend(args[1:])
    return annotation


def _kind_of(base: Any, meta: list[Any], where: str) -> _Kind:
    for m in meta:
        if isinstance(m, DependsOn | OneOf | Custom):
            return m
    itypes = [m for m in meta if isinstance(m, ItemType)]
    if base is Item:
        return _Raw()
    if itypes:
        if base is not int or len(itypes) != 1:
            raise TypeError(f"{where}: an ItemType marker applies to int only")
        return _PRIMS[itypes[0]]
    if base is bool:
        return _PRIMS[ItemType.BOOLEAN]
    if base is str:
        return _PRIMS[ItemType.TEXT_STRING]
    if base is bytes:
        return _PRIMS[ItemType.BYTE_STRING]
    if base is int:
        return _PRIMS[ItemType.INTEGER]
    if isinstance(base, type) and issubclass(base, IntFlag):
        return _Mask(base)
    if isinstance(base, type) and issubclass(base, IntEnum):
        return _Enum(base)
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        return _Struct(base)
    raise TypeError(f"{where}: no item type for {base!r}")


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _field_of(name: str, annotation: Any, where: str) -> _Field:
    meta: list[Any] = []
    base = _flatten(annotation, meta)
    optional = False
    if _is_union(base):
        members = [a for a in get_args(base) if a is not type(None)]
        optional = len(members) < len(get_args(base))
        if len(members) == 1:
            base = _flatten(members[0], meta)
        elif any(isinstance(m, DependsOn | OneOf | Custom) for m in meta):
            base = members[0]  # the marker gives the codec
        else:
            raise TypeError(f"{where}.{name}: a union of types needs a DependsOn or OneOf marker")
    repeated = False
    if get_origin(base) is tuple:
        args = get_args(base)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{where}.{name}: repeated fields are tuple[X, ...]")
        repeated = True
        base = _flatten(args[0], meta)
        if _is_union(base):
            base = get_args(base)[0]
    tags = tuple(int(m) for m in meta if isinstance(m, Tag))
    kind = _kind_of(base, meta, f"{where}.{name}")
    if isinstance(kind, OneOf):
        tags = kind.tags
    if len(tags) != 1 and not isinstance(kind, OneOf):
        raise TypeError(f"{where}.{name}: exactly one Tag expected in the annotation")
    since_marks = [m for m in meta if isinstance(m, Since)]
    since = (since_marks[0].major, since_marks[0].minor) if since_marks else tag_since(tags[0])
    return _Field(
        name=name,
        tags=tags,
        kind=kind,
        repeated=repeated,
        optional=optional,
        non_empty=any(isinstance(m, NonEmpty) for m in meta),
        since=since,
        partial=any(isinstance(m, Partial) for m in meta),
        interned=any(isinstance(m, Interned) for m in meta),
    )


def _fields_of(cls: type) -> list[_Field]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls, include_extras=True)
    return [_field_of(f.name, hints[f.name], cls.__qualname__) for f in dataclasses.fields(cls)]


# --------------------------------------------------------------------------------------------
# Code generation


@dataclass(frozen=True, slots=True)
class StructCodec:
    """The compiled codec of one model class.

    ``decode(item, ctx)`` -> instance (the item must be a Structure; its tag is not checked);
    ``encode(obj, version)`` -> the tuple of child Items (the caller chooses the tag);
    ``write(obj, version, out)``: the TTLV bytes of those Items appended to ``out`` (in
    pieces), their count returned; only for ``struct_to_bytes`` (see there).
    """

    cls: type
    decode: Callable[[Item, int], Any]
    encode: Callable[[Any, Version], tuple[Item, ...]]
    max_since: Version
    write: Callable[[Any, Version, list[bytes | bytearray]], int]


_M = object()  # "not seen" in generated decoders

_IT = {t: f"_T{t.value}" for t in ItemType}
_ITYPE_OF = {name: t for t, name in _IT.items()}


def _base_env() -> dict[str, Any]:
    env: dict[str, Any] = {
        "_M": _M,
        "_mk": make_item,
        "_Item": Item,
        "_st": _set_tag,
        "_sty": _set_type,
        "_sv": _set_value,
        "_new": _new_object,
        "_bad": _bad,
        "_dup": _duplicate,
        "_missing": _missing,
        "_unknown": _unknown,
        "_not_structure": _not_structure,
        "_enum_ext": _enum_extension,
        "_as_int": _as_int,
        "_s32": _signed32,
        "_put": ttlv_encode_into,
        "_emit": _write_item,
        "_fallback": _fallback,
        "STRICT": STRICT,
        "PARTIAL": PARTIAL,
    }
    for t, name in _IT.items():
        env[name] = t
    return env


def _decode_snippet(f: _Field, i: int, env: dict[str, Any]) -> list[str]:
    """Lines (indented for the tag branch) that leave the converted value of child ``c`` in y."""
    kind = f.kind
    ctx = "ctx | PARTIAL" if f.partial else "ctx"
    if isinstance(kind, _Prim):
        itype = _IT[kind.itype]
        if kind.pytype is not int:
            check = f"c.type is not {itype} or type(x) is not {kind.pytype.__name__}"
            return ["x = c.value", f"if {check}:", "    _bad(c)", "y = x"]
        lines = [
            "x = c.value",
            f"if c.type is not {itype} or type(x) is not int:",
            f"    x = _as_int(c, {itype})",
        ]
        if kind.low is not None:
            lines += [f"if not {kind.low} <= x <= {kind.high}:", "    _bad(c)"]
        return [*lines, "y = x"]
    if isinstance(kind, _Enum):
        env[f"_map{i}"] = kind.cls._value2member_map_
        itype = _IT[ItemType.ENUMERATION]
        return [
            "x = c.value",
            f"if c.type is not {itype} or type(x) is not int:",
            f"    x = _as_int(c, {itype})",
            f"y = _map{i}.get(x)",
            "if y is None:",
            "    y = _enum_ext(c, x)",
        ]
    if isinstance(kind, _Mask):
        env[f"_map{i}"] = kind.cls._value2member_map_
        env[f"_flag{i}"] = kind.cls
        low, high = _I32
        itype = _IT[ItemType.INTEGER]
        return [
            "x = c.value",
            f"if c.type is not {itype} or type(x) is not int:",
            f"    x = _as_int(c, {itype})",
            f"if not {low} <= x <= {high}:",
            "    _bad(c)",
            "x &= 0xFFFFFFFF",
            f"y = _map{i}.get(x)",
            "if y is None:",
            f"    y = _flag{i}(x)",
        ]
    if isinstance(kind, _Struct):
        env[f"_dec{i}"] = codec_for(kind.cls).decode
        return [f"y = _dec{i}(c, {ctx})"]
    if isinstance(kind, _Raw):
        return ["y = c"]
    if isinstance(kind, OneOf | Custom):
        env[f"_dec{i}"] = kind.decode
        return [f"y = _dec{i}(c, {ctx})"]
    # DependsOn: keep the item; it is converted after the loop, once its selector is known.
    return ["y = c"]


def _gen_decoder(cls: type, fields: list[_Field], env: dict[str, Any]) -> str:
    where = cls.__qualname__
    env["_where"] = where
    env["_cls"] = cls
    lines = [
        "def decode(item, ctx):",
        "    value = item.value",
        f"    if item.type is not {_IT[ItemType.STRUCTURE]} or type(value) is not tuple:",
        "        _not_structure(item, _where)",
    ]
    # Initial values: _M (a REQUIRED field not yet seen), None (optional), () (repeated).
    for i, f in enumerate(fields):
        initial = "()" if f.repeated else "None" if f.optional else "_M"
        lines.append(f"    v{i} = {initial}")
    lines.append("    for c in value:")
    lines.append("        t = c.tag")
    first = True
    for i, f in enumerate(fields):
        if len(f.tags) == 1:
            cond = f"t == {f.tags[0]}"
        else:
            env[f"_tags{i}"] = frozenset(f.tags)
            cond = f"t in _tags{i}"
        lines.append(f"        {'if' if first else 'elif'} {cond}:")
        first = False
        body = _decode_snippet(f, i, env)
        if f.repeated:
            body += [f"if v{i}:", f"    v{i}.append(y)", "else:", f"    v{i} = [y]"]
        else:
            unseen = "None" if f.optional else "_M"
            body = [f"if v{i} is not {unseen}:", "    _dup(c)", *body, f"v{i} = y"]
        lines += ["            " + b for b in body]
    if first:
        lines.append("        _unknown(c, ctx, _where)")
    else:
        lines.append("        else:")
        lines.append("            _unknown(c, ctx, _where)")
    # Absent fields: the REQUIRED checks; repeated fields become tuples.
    for i, f in enumerate(fields):
        tag = f.tags[0]
        if f.repeated:
            lines.append(f"    if v{i}:")
            lines.append(f"        v{i} = tuple(v{i})")
            if f.non_empty:
                lines.append("    elif not ctx & PARTIAL:")
                lines.append(f"        _missing(_where, {tag})")
        elif not f.optional:
            lines.append(f"    if v{i} is _M:")
            lines.append("        if ctx & PARTIAL:")
            lines.append(f"            v{i} = None")
            lines.append("        else:")
            lines.append(f"            _missing(_where, {tag})")
    # Fields whose type depends on another field.
    names = [f.name for f in fields]
    for i, f in enumerate(fields):
        if isinstance(f.kind, DependsOn):
            if f.repeated:
                raise TypeError(f"{where}.{f.name}: a DependsOn field cannot be repeated")
            j = names.index(f.kind.field)
            env[f"_dep{i}"] = f.kind.decode
            ctx = "ctx | PARTIAL" if f.partial else "ctx"
            lines.append(f"    if v{i} is not None:")
            lines.append(f"        v{i} = _dep{i}(v{i}, {ctx}, v{j})")
    lines.append("    o = _new(_cls)")
    for i, f in enumerate(fields):
        env[f"_set{i}"] = cls.__dict__[f.name].__set__
        lines.append(f"    _set{i}(o, v{i})")
    lines.append("    return o")
    return "\n".join(lines)


def _encode_parts(f: _Field, i: int, env: dict[str, Any], x: str, tag: str) -> tuple[str, str, str] | str:
    """How to build the Item for value ``x`` of field ``f`` with tag expression ``tag``: either
    (tag, item type, value) expressions of a new Item, or one expression giving the Item."""
    kind = f.kind
    if isinstance(kind, _Prim):
        return (tag, _IT[kind.itype], x)
    if isinstance(kind, _Enum):
        return (tag, _IT[ItemType.ENUMERATION], f"int({x})")
    if isinstance(kind, _Mask):
        return (tag, _IT[ItemType.INTEGER], f"_s32({x})")
    if isinstance(kind, _Struct):
        env[f"_enc{i}"] = codec_for(kind.cls).encode
        return (tag, _IT[ItemType.STRUCTURE], f"_enc{i}({x}, ver)")
    if isinstance(kind, _Raw):
        return x
    if isinstance(kind, OneOf):
        env[f"_enc{i}"] = kind.encode
        return f"_enc{i}({x}, ver)"
    if isinstance(kind, Custom):
        env[f"_enc{i}"] = kind.encode
        return f"_enc{i}({x}, {tag}, ver)"
    env[f"_enc{i}"] = kind.encode
    return f"_enc{i}({x}, {tag}, ver, o.{kind.field})"


_ITEM_CACHE_LIMIT = 64
"""Most Items a field's encoder keeps for reuse (Items are immutable, so one can serve every
message; the bound keeps a stream of distinct values from growing it)."""


def _cache_kind(f: _Field) -> str | None:
    """How the encoder of field ``f`` reuses Items: "table" (every value known in advance),
    "bounded" (the first values met), or None (never: byte strings, which may be secret, and
    free text)."""
    kind = f.kind
    if isinstance(kind, _Enum) or (isinstance(kind, _Prim) and kind.itype is ItemType.BOOLEAN):
        return "table"
    if isinstance(kind, _Mask) or (isinstance(kind, _Prim) and kind.itype is ItemType.INTEGER):
        return "bounded"
    if isinstance(kind, _Prim) and kind.itype is ItemType.TEXT_STRING and f.interned:
        return "bounded"
    return None


def _append_lines(f: _Field, i: int, env: dict[str, Any], x: str) -> list[str]:
    """Statements appending the Item of value ``x`` to the output."""
    return [*_item_lines(f, i, env, x), "a(it)"]


def _item_lines(f: _Field, i: int, env: dict[str, Any], x: str) -> list[str]:
    """Statements leaving the Item of value ``x`` in ``it`` (Items are built in line: no call),
    reusing an Item already built for the same value where ``_cache_kind`` allows."""
    parts = _encode_parts(f, i, env, x, str(f.tags[0]))
    if isinstance(parts, str):
        return [f"it = {parts}"]
    tag, itype, value = parts
    build = ["it = _new(_Item)", f"_st(it, {tag})", f"_sty(it, {itype})", f"_sv(it, {value})"]
    cache = _cache_kind(f)
    if cache is None:
        return build
    if cache == "table":
        kind = f.kind
        item_type = _ITYPE_OF[itype]
        if isinstance(kind, _Enum):
            env[f"_c{i}"] = {v: make_item(f.tags[0], item_type, int(v)) for v in kind.cls}
        else:
            env[f"_c{i}"] = {v: make_item(f.tags[0], item_type, v) for v in (False, True)}
        return [f"it = _c{i}.get({x})", "if it is None:", *("    " + b for b in build)]
    # Only values of the field's exact type are looked up and kept: a value that merely equals
    # one (True == 1, 1.0 == 1) must not borrow, nor leave behind, another value's Item.
    env[f"_c{i}"] = {}
    return [
        f"if {_exact_type(f, i, env, x)}:",
        f"    it = _c{i}.get({x})",
        "    if it is None:",
        *("        " + b for b in build),
        f"        if len(_c{i}) < {_ITEM_CACHE_LIMIT}:",
        f"            _c{i}[{x}] = it",
        "else:",
        *("    " + b for b in build),
    ]


def _exact_type(f: _Field, i: int, env: dict[str, Any], x: str) -> str:
    """The test that value ``x`` of field ``f`` (a "bounded" cache kind) has its exact type."""
    kind = f.kind
    if isinstance(kind, _Mask):
        env[f"_flag{i}"] = kind.cls
        return f"type({x}) is int or type({x}) is _flag{i}"
    return f"type({x}) is {'str' if f.interned else 'int'}"


def _gen_encoder(cls: type, fields: list[_Field], env: dict[str, Any]) -> str:
    lines = ["def encode(o, ver):", "    out = []", "    a = out.append"]
    for i, f in enumerate(fields):
        guard = ""
        if f.since > (1, 0):
            env[f"_since{i}"] = f.since
            guard = f" and ver >= _since{i}"
        lines.append(f"    x = o.{f.name}")
        if f.repeated:
            lines.append(f"    if x{guard}:")
            lines.append("        for y in x:")
            lines += ["            " + b for b in _append_lines(f, i, env, "y")]
        else:
            lines.append(f"    if x is not None{guard}:")
            lines += ["        " + b for b in _append_lines(f, i, env, "x")]
    lines.append("    return tuple(out)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Writers: model object -> TTLV bytes without the Items (struct_to_bytes)
#
# A class's writer follows its encoder field for field and appends the bytes that ttlv.encode
# would give for the Items that encoder builds: the wire rules stay in ttlv (each piece comes
# from ttlv.encode of the same Item, ttlv.encode_into, or ttlv.structure_header). A value of
# any type but the one its field declares makes the writer give up (_Fallback), so that the
# two-step path, whatever it does with such a value, is the one that answers.


class _Fallback(Exception):
    """A writer met a value it does not handle; struct_to_bytes builds the Items instead."""


def _fallback() -> typing.NoReturn:
    raise _Fallback


class _WritingVersion(tuple[int, int]):
    """A protocol version (compares as the plain tuple) that also says: write, do not build.

    Passed through marker encoders (DependsOn, OneOf, Custom), it makes ``encode_struct``
    return a deferred Structure that the writer then writes directly."""

    __slots__ = ()


_writing_versions: dict[Version, _WritingVersion] = {}


def _writing_version(version: Version) -> _WritingVersion:
    writing = _writing_versions.get(version)
    if writing is None:
        writing = _WritingVersion(version)
        if len(_writing_versions) < 16:  # a handful of protocol versions exist
            _writing_versions[version] = writing
    return writing


class _Deferred:
    """The mark that begins a deferred Structure's value: ``(_DEFERRED, obj, writer)``. The value
    is not a tuple of Items, so that nothing but ``_write_item`` can encode it."""

    __slots__ = ()


_DEFERRED = _Deferred()


def _defer(obj: Any, tag: int, write: Callable[[Any, Version, list[bytes | bytearray]], int]) -> Item:
    return make_item(tag, _STRUCTURE, (_DEFERRED, obj, write))


_WRITTEN_ITEMS_LIMIT = 1024
"""Most Items whose bytes ``_write_item`` keeps (the memo is emptied when full)."""

# id(Item) -> (the Item, its bytes), for Items of the fixed-size types markers return: they
# mostly come from encoders' tables of reused Items. Holding the Item keeps its id from being
# reused by another object while the entry exists.
_written_items: dict[int, tuple[Item, bytes]] = {}

_STRUCTURE = ItemType.STRUCTURE
_REUSED_TYPES = frozenset({ItemType.ENUMERATION, ItemType.INTEGER, ItemType.BOOLEAN, ItemType.INTERVAL})


def _write_item(item: Item, version: Version, out: list[bytes | bytearray]) -> int:
    """Append the bytes of ``item``, an Item a marker's encoder returned; return their count."""
    if type(item) is Item:
        itype = item.type
        tag = item.tag
        if itype is _STRUCTURE:
            value: Any = item.value
            if type(value) is tuple and len(value) == 3 and value[0] is _DEFERRED:
                header = _item_writers.get(tag << 8 | 0x01) or _item_writer(tag, _STRUCTURE)
                index = len(out)
                out.append(b"")
                length: int = value[2](value[1], version, out)
                out[index] = header(length)
                return 8 + length
        elif itype in _REUSED_TYPES:
            known = _written_items.get(id(item))
            if known is None or known[0] is not item:
                known = (item, ttlv_encode(item))
                if len(_written_items) >= _WRITTEN_ITEMS_LIMIT:
                    _written_items.clear()
                _written_items[id(item)] = known
            out.append(known[1])
            return 16
        elif type(tag) is int or (isinstance(tag, int) and type(tag) is not bool):  # Tag members too
            write = _item_writers.get(tag << 8 | itype) or _item_writer(tag, itype)
            written: int = write(item.value, out)
            return written
    return ttlv_encode_into(item, out)


_ITEM_WRITERS_LIMIT = 512
_item_writers: dict[int, Callable[..., Any]] = {}  # tag << 8 | type -> writer or header packer


def _item_writer(tag: int, itype: ItemType) -> Callable[..., Any]:
    """ttlv's writer of items of ``tag`` and ``itype`` (for a Structure, its header packer)."""
    write = structure_header_packer(tag) if itype is _STRUCTURE else item_writer(tag, itype)
    if len(_item_writers) < _ITEM_WRITERS_LIMIT:  # tags of raw Items come from messages
        _item_writers[tag << 8 | itype] = write
    return write


def _write_lines(f: _Field, i: int, env: dict[str, Any], x: str) -> list[str]:
    """Statements appending the bytes of the Item of value ``x`` to ``out`` (through ``a``) and
    adding their count to ``n``: the same Item ``_item_lines`` builds."""
    kind = f.kind
    tag = f.tags[0]
    if isinstance(kind, _Struct):
        env[f"_w{i}"] = codec_for(kind.cls).write
        env[f"_cls{i}"] = kind.cls
        env[f"_hdr{i}"] = structure_header_packer(tag)
        return [
            f"if type({x}) is not _cls{i}:",
            "    _fallback()",
            "k = len(out)",
            'a(b"")',
            f"m = _w{i}({x}, ver, out)",
            f"out[k] = _hdr{i}(m)",
            "n += 8 + m",
        ]
    if isinstance(kind, _Raw):
        return [f"n += _put({x}, out)"]
    if isinstance(kind, OneOf | Custom | DependsOn):
        if kind.write is not None:  # the marker writes its bytes itself
            env[f"_wr{i}"] = kind.write
            if isinstance(kind, OneOf):
                return [f"n += _wr{i}({x}, ver, out)"]
            if isinstance(kind, Custom):
                return [f"n += _wr{i}({x}, {tag}, ver, out)"]
            return [f"n += _wr{i}({x}, {tag}, ver, o.{kind.field}, out)"]
        (expr,) = [line[len("it = ") :] for line in _item_lines(f, i, env, x)]
        return [f"n += _emit({expr}, ver, out)"]
    cache = _cache_kind(f)
    parts = _encode_parts(f, i, env, x, str(tag))
    if not isinstance(parts, tuple):  # pragma: no cover - every other kind is a new Item
        raise TypeError(f"{f.name}: unexpected encoder")
    build = f"_mk({', '.join(parts)})"
    if cache is None:
        itype = _ITYPE_OF[parts[1]]
        env[f"_lw{i}"] = item_writer(tag, itype)
        return [f"n += _lw{i}({parts[2]}, out)"]
    if cache == "table":
        # The same keys as the encoder's table of Items, so the same values hit it.
        items = env[f"_c{i}"]
        env[f"_b{i}"] = {key: ttlv_encode(item) for key, item in items.items()}
        return [
            f"b = _b{i}.get({x})",
            "if b is None:",
            f"    n += _put({build}, out)",
            "else:",
            "    a(b)",
            "    n += len(b)",
        ]
    # Bounded: only values of the field's exact type, like the encoder's cache; any other
    # value is left to the encoder (whose Item ttlv may well refuse).
    env[f"_b{i}"] = {}
    return [
        f"if not ({_exact_type(f, i, env, x)}):",
        "    _fallback()",
        f"b = _b{i}.get({x})",
        "if b is None:",
        f"    b = _enc_bytes({build})",
        f"    if len(_b{i}) < {_ITEM_CACHE_LIMIT}:",
        f"        _b{i}[{x}] = b",
        "a(b)",
        "n += len(b)",
    ]


def _gen_writer(fields: list[_Field], env: dict[str, Any]) -> str:
    env["_enc_bytes"] = ttlv_encode
    lines = ["def write(o, ver, out):", "    a = out.append", "    n = 0"]
    for i, f in enumerate(fields):
        guard = f" and ver >= _since{i}" if f.since > (1, 0) else ""
        lines.append(f"    x = o.{f.name}")
        if f.repeated:
            lines.append(f"    if x{guard}:")
            lines.append("        for y in x:")
            lines += ["            " + b for b in _write_lines(f, i, env, "y")]
        else:
            lines.append(f"    if x is not None{guard}:")
            lines += ["        " + b for b in _write_lines(f, i, env, "x")]
    lines.append("    return n")
    return "\n".join(lines)


_compiling: set[type] = set()
_codecs: dict[type, StructCodec] = {}  # the compiled codecs: a memo, filled on first use


_compile_lock = threading.RLock()  # one compilation at a time (the cycle check needs it)


def codec_for(cls: type) -> StructCodec:
    """The compiled codec of model class ``cls`` (compiled on first use, then cached)."""
    codec = _codecs.get(cls)
    if codec is None:
        with _compile_lock:
            codec = _codecs.get(cls)
            if codec is None:
                codec = _codecs[cls] = _compile(cls)
    return codec


def _compile(cls: type) -> StructCodec:
    if cls in _compiling:
        raise TypeError(f"{cls.__qualname__}: recursive model structures are not supported")
    _compiling.add(cls)
    try:
        fields = _fields_of(cls)
        env = _base_env()
        source = "\n\n".join(
            [_gen_decoder(cls, fields, env), _gen_encoder(cls, fields, env), _gen_writer(fields, env), ""]
        )
        code = compile(source, f"<kmip model codec {cls.__qualname__}>", "exec")
        exec(code, env)  # noqa: S102 -- source generated above from the class's own fields
    finally:
        _compiling.discard(cls)
    max_since = max((f.since for f in fields), default=(1, 0))
    return StructCodec(
        cls=cls, decode=env["decode"], encode=env["encode"], max_since=max_since, write=env["write"]
    )


def decode_struct(cls: type[_T], item: Item, ctx: int = STRICT) -> _T:
    """Decode Structure ``item`` as a ``cls`` (its tag is the caller's business)."""
    result: _T = (_codecs.get(cls) or codec_for(cls)).decode(item, ctx)
    return result


def encode_struct(obj: Any, tag: int, version: Version = (1, 4)) -> Item:
    """Encode model object ``obj`` as a Structure with ``tag`` for protocol ``version``.

    Under ``struct_to_bytes`` (``version`` is then a ``_WritingVersion``) the Item returned
    stands for the Structure without holding its items: a marker's encoder hands it back, and
    the writer writes ``obj`` directly. Any other use of such an Item fails to encode.
    """
    codec = _codecs.get(type(obj)) or codec_for(type(obj))
    item: Item = _new_object(Item)
    _set_tag(item, tag)
    _set_type(item, _STRUCTURE)
    if type(version) is _WritingVersion:
        _set_value(item, (_DEFERRED, obj, codec.write))
    else:
        _set_value(item, codec.encode(obj, version))
    return item


def write_struct(obj: Any, tag: int, version: Version, out: list[bytes | bytearray]) -> int:
    """For a marker's ``write``: append the bytes of ``encode_struct(obj, tag, version)``."""
    index = len(out)
    out.append(b"")
    length: int = (_codecs.get(type(obj)) or codec_for(type(obj))).write(obj, version, out)
    out[index] = (_item_writers.get(tag << 8 | 0x01) or _item_writer(tag, _STRUCTURE))(length)
    return 8 + length


def write_item(item: Item, version: Version, out: list[bytes | bytearray]) -> int:
    """For a marker's ``write``: append the bytes of ``item``, which ``encode`` returned."""
    return _write_item(item, version, out)


def struct_to_bytes(obj: Any, tag: int, version: Version = (1, 4)) -> bytes:
    """``ttlv.encode(encode_struct(obj, tag, version))``, written without building the Items.

    The same bytes, or the same exception: the writers handle the values of the exact types
    their fields declare and give up on anything else (``_Fallback``, or any error at all),
    and then the Items are built and encoded after all, whose outcome is the answer.
    """
    try:
        out: list[bytes | bytearray] = [b""]
        codec = _codecs.get(type(obj)) or codec_for(type(obj))
        length = codec.write(obj, _writing_versions.get(version) or _writing_version(version), out)
        header = _item_writers.get(tag << 8 | 0x01) or _item_writer(tag, _STRUCTURE)
        out[0] = header(length)
        return b"".join(out)
    except Exception:  # noqa: S110 -- the two-step path below decides, and raises
        pass
    return ttlv_encode(encode_struct(obj, tag, version))


# --------------------------------------------------------------------------------------------
# Standalone value codecs (for values whose type is chosen at run time: Attribute Value)


@dataclass(frozen=True, slots=True)
class ValueCodec:
    """Decoder and encoder of one field-like value, for a tag chosen by the caller.

    ``decode(item, ctx)`` -> value; ``encode(value, tag, version)`` -> Item.
    """

    decode: Callable[[Item, int], Any]
    encode: Callable[[Any, int, Version], Item]


@functools.cache
def value_codec(annotation: Any) -> ValueCodec:
    """The codec of a single value of type ``annotation`` (as written in a model field)."""
    meta: list[Any] = []
    base = _flatten(annotation, meta)
    kind = _kind_of(base, meta, f"value {annotation!r}")
    if isinstance(kind, DependsOn | OneOf | Custom):
        raise TypeError("value codecs are for single-type values")
    probe = _Field("value", (0,), kind, False, False, False, (1, 0), False)
    env = _base_env()
    body = _decode_snippet(probe, 0, env)
    dec_src = "\n".join(["def decode(c, ctx):", *("    " + b for b in body), "    return y"])
    parts = _encode_parts(probe, 0, env, "x", "tag")
    if isinstance(parts, str):
        enc_src = f"def encode(x, tag, ver):\n    return {parts}\n"
    elif isinstance(kind, _Struct):
        # Under struct_to_bytes, a deferred Structure (see encode_struct) for its writer.
        env.update(_WV=_WritingVersion, _defer=_defer, _w0=codec_for(kind.cls).write)
        enc_src = "\n".join(
            [
                "def encode(x, tag, ver):",
                "    if type(ver) is _WV:",
                "        return _defer(x, tag, _w0)",
                f"    return _mk({', '.join(parts)})",
            ]
        )
    elif _cache_kind(probe) is None:
        enc_src = f"def encode(x, tag, ver):\n    return _mk({', '.join(parts)})\n"
    else:
        # Attribute values repeat (AES, 256, Encrypt|Decrypt...): reuse their Items, as
        # field encoders do, for the one tag they are written with.
        reuse = _item_lines(dataclasses.replace(probe, tags=(Tag.ATTRIBUTE_VALUE,)), 0, env, "x")
        enc_src = "\n".join(
            [
                "def encode(x, tag, ver):",
                f"    if tag != {int(Tag.ATTRIBUTE_VALUE)}:",
                f"        return _mk({', '.join(parts)})",
                *("    " + line for line in reuse),
                "    return it",
            ]
        )
    code = compile(dec_src + "\n\n" + enc_src, f"<kmip value codec {annotation!r}>", "exec")
    exec(code, env)  # noqa: S102 -- source generated above from the annotation
    return ValueCodec(decode=env["decode"], encode=env["encode"])
