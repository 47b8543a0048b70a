"""The codec mechanism (kmip_server.model.codec), feature by feature, on small model classes."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from kmip_server.model.codec import (
    PARTIAL,
    STRICT,
    BigInteger,
    Custom,
    DateTime,
    DependsOn,
    Interval,
    LongInteger,
    NonEmpty,
    OneOf,
    Partial,
    Since,
    Version,
    codec_for,
    decode_struct,
    encode_struct,
    make_item,
    model,
    tag_since,
    value_codec,
)
from kmip_server.model.errors import InvalidField, InvalidMessage, ModelError
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    NameType,
    ObjectType,
    Tag,
)

T = ItemType
OUTER = 0x420001  # any tag: the caller of encode_struct chooses the outer tag


@model
class Inner:
    name_value: Annotated[str, Tag.NAME_VALUE]
    name_type: Annotated[NameType, Tag.NAME_TYPE]


@model
class Everything:
    """One field of every kind, in this order."""

    integer: Annotated[int, Tag.CRYPTOGRAPHIC_LENGTH]
    long_integer: Annotated[LongInteger | None, Tag.USAGE_LIMITS_TOTAL] = None
    big_integer: Annotated[BigInteger | None, Tag.MODULUS] = None
    enumeration: Annotated[CryptographicAlgorithm | None, Tag.CRYPTOGRAPHIC_ALGORITHM] = None
    mask: Annotated[CryptographicUsageMask | None, Tag.CRYPTOGRAPHIC_USAGE_MASK] = None
    boolean: Annotated[bool | None, Tag.FRESH] = None
    text: Annotated[str | None, Tag.CONTACT_INFORMATION] = None
    data: Annotated[bytes | None, Tag.DATA] = None
    date_time: Annotated[DateTime | None, Tag.ACTIVATION_DATE] = None
    interval: Annotated[Interval | None, Tag.LEASE_TIME] = None
    inner: Annotated[Inner | None, Tag.NAME] = None
    raw: Annotated[Item | None, Tag.SERVER_INFORMATION] = None
    repeated: Annotated[tuple[str, ...], Tag.OBJECT_GROUP] = ()
    repeated_structs: Annotated[tuple[Inner, ...], Tag.ALTERNATIVE_NAME] = ()


@model
class Versioned:
    old: Annotated[int, Tag.CRYPTOGRAPHIC_LENGTH]
    new_by_tag: Annotated[bytes | None, Tag.AUTHENTICATED_ENCRYPTION_TAG] = None  # a 1.4 tag
    new_by_marker: Annotated[int | None, Tag.ITERATION_COUNT, Since(1, 2)] = None
    new_list: Annotated[tuple[str, ...], Tag.DESCRIPTION] = ()  # a 1.4 tag


@model
class Required:
    first: Annotated[str, Tag.NAME_VALUE]
    many: Annotated[tuple[str, ...], Tag.OBJECT_GROUP, NonEmpty()]
    inner: Annotated[Inner | None, Tag.NAME, Partial()] = None


def item(tag: int, itype: ItemType, value: Any) -> Item:
    return Item(tag, itype, value)


def struct(tag: int, *children: Item) -> Item:
    return Item(tag, T.STRUCTURE, tuple(children))


FULL = Everything(
    integer=256,
    long_integer=1 << 40,
    big_integer=-(1 << 100) + 3,
    enumeration=CryptographicAlgorithm.AES,
    mask=CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
    boolean=True,
    text="contact",
    data=b"\x00\x01",
    date_time=1_700_000_000,
    interval=86_400,
    inner=Inner(name_value="n", name_type=NameType.URI),
    raw=struct(Tag.SERVER_INFORMATION, item(0x540001, T.TEXT_STRING, "vendor")),
    repeated=("a", "b"),
    repeated_structs=(
        Inner(name_value="x", name_type=NameType.URI),
        Inner(name_value="y", name_type=NameType.URI),
    ),
)

FULL_ITEM = struct(
    OUTER,
    item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 256),
    item(Tag.USAGE_LIMITS_TOTAL, T.LONG_INTEGER, 1 << 40),
    item(Tag.MODULUS, T.BIG_INTEGER, -(1 << 100) + 3),
    item(Tag.CRYPTOGRAPHIC_ALGORITHM, T.ENUMERATION, 3),
    item(Tag.CRYPTOGRAPHIC_USAGE_MASK, T.INTEGER, 12),
    item(Tag.FRESH, T.BOOLEAN, True),
    item(Tag.CONTACT_INFORMATION, T.TEXT_STRING, "contact"),
    item(Tag.DATA, T.BYTE_STRING, b"\x00\x01"),
    item(Tag.ACTIVATION_DATE, T.DATE_TIME, 1_700_000_000),
    item(Tag.LEASE_TIME, T.INTERVAL, 86_400),
    struct(Tag.NAME, item(Tag.NAME_VALUE, T.TEXT_STRING, "n"), item(Tag.NAME_TYPE, T.ENUMERATION, 2)),
    struct(Tag.SERVER_INFORMATION, item(0x540001, T.TEXT_STRING, "vendor")),
    item(Tag.OBJECT_GROUP, T.TEXT_STRING, "a"),
    item(Tag.OBJECT_GROUP, T.TEXT_STRING, "b"),
    struct(
        Tag.ALTERNATIVE_NAME, item(Tag.NAME_VALUE, T.TEXT_STRING, "x"), item(Tag.NAME_TYPE, T.ENUMERATION, 2)
    ),
    struct(
        Tag.ALTERNATIVE_NAME, item(Tag.NAME_VALUE, T.TEXT_STRING, "y"), item(Tag.NAME_TYPE, T.ENUMERATION, 2)
    ),
)


# --- every field kind, both ways -------------------------------------------------------------


def test_encode_every_kind_in_field_order() -> None:
    assert encode_struct(FULL, OUTER) == FULL_ITEM


def test_decode_every_kind() -> None:
    decoded = decode_struct(Everything, FULL_ITEM)
    assert decoded == FULL
    assert type(decoded.enumeration) is CryptographicAlgorithm
    assert type(decoded.mask) is CryptographicUsageMask
    assert type(decoded.repeated) is tuple


def test_encoded_enum_and_mask_values_are_plain_ints() -> None:
    encoded = encode_struct(FULL, OUTER)
    for child in encoded.children:
        if child.tag in (Tag.CRYPTOGRAPHIC_ALGORITHM, Tag.CRYPTOGRAPHIC_USAGE_MASK):
            assert type(child.value) is int


def test_decode_accepts_any_field_order() -> None:
    shuffled = struct(OUTER, *reversed(FULL_ITEM.children))
    decoded = decode_struct(Everything, shuffled)
    # Repeated fields keep their relative order; here they were reversed too.
    assert decoded.repeated == ("b", "a")
    assert decoded.integer == 256


def test_absent_optional_fields_are_none_and_empty_tuples() -> None:
    decoded = decode_struct(Everything, struct(OUTER, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1)))
    assert decoded == Everything(integer=1)
    assert decoded.repeated == ()
    assert encode_struct(decoded, OUTER) == struct(OUTER, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1))


def test_codec_is_compiled_once() -> None:
    assert codec_for(Everything) is codec_for(Everything)


def test_model_classes_are_frozen_slotted_keyword_only() -> None:
    with pytest.raises(AttributeError):
        FULL.integer = 1  # type: ignore[misc]
    assert not hasattr(FULL, "__dict__")
    with pytest.raises(TypeError):
        Inner("n", NameType.URI)  # type: ignore[call-arg]


# --- masks and enumerations -------------------------------------------------------------------


def test_mask_with_the_top_bit_travels_as_a_negative_integer() -> None:
    high = CryptographicUsageMask(0x80000001)
    encoded = encode_struct(Everything(integer=0, mask=high), OUTER)
    wire = encoded.children[1]
    assert wire.value == -0x7FFFFFFF
    assert decode_struct(Everything, encoded).mask == high


def test_enumeration_extension_value_decodes_to_a_plain_int() -> None:
    decoded = decode_struct(
        Everything,
        struct(
            OUTER,
            item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1),
            item(Tag.CRYPTOGRAPHIC_ALGORITHM, T.ENUMERATION, 0x80000010),
        ),
    )
    assert decoded.enumeration == 0x80000010
    assert type(decoded.enumeration) is int
    assert encode_struct(decoded, OUTER).children[1].value == 0x80000010


@pytest.mark.parametrize("value", [0, 0x7FFFFFFF, 0x90000000, 0xFFFFFFFF, 1 << 40])
def test_enumeration_value_outside_its_table_is_invalid_field(value: int) -> None:
    bad = struct(
        OUTER,
        item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1),
        item(Tag.CRYPTOGRAPHIC_ALGORITHM, T.ENUMERATION, value),
    )
    with pytest.raises(InvalidField):
        decode_struct(Everything, bad)


# --- errors and their Result Reasons ----------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "bad"),
    [
        (Tag.CRYPTOGRAPHIC_LENGTH, item(Tag.CRYPTOGRAPHIC_LENGTH, T.LONG_INTEGER, 1)),
        (Tag.CRYPTOGRAPHIC_LENGTH, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1 << 31)),
        (Tag.CRYPTOGRAPHIC_LENGTH, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, True)),
        (Tag.CRYPTOGRAPHIC_LENGTH, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, "1")),
        (Tag.USAGE_LIMITS_TOTAL, item(Tag.USAGE_LIMITS_TOTAL, T.LONG_INTEGER, 1 << 63)),
        (Tag.MODULUS, item(Tag.MODULUS, T.BIG_INTEGER, b"\x01")),
        (Tag.CRYPTOGRAPHIC_ALGORITHM, item(Tag.CRYPTOGRAPHIC_ALGORITHM, T.INTEGER, 3)),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, item(Tag.CRYPTOGRAPHIC_USAGE_MASK, T.ENUMERATION, 4)),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, item(Tag.CRYPTOGRAPHIC_USAGE_MASK, T.INTEGER, 1 << 32)),
        (Tag.FRESH, item(Tag.FRESH, T.BOOLEAN, 1)),
        (Tag.CONTACT_INFORMATION, item(Tag.CONTACT_INFORMATION, T.BYTE_STRING, b"x")),
        (Tag.DATA, item(Tag.DATA, T.BYTE_STRING, "x")),
        (Tag.DATA, item(Tag.DATA, T.BYTE_STRING, bytearray(b"x"))),
        (Tag.ACTIVATION_DATE, item(Tag.ACTIVATION_DATE, T.LONG_INTEGER, 1)),
        (Tag.LEASE_TIME, item(Tag.LEASE_TIME, T.INTERVAL, -1)),
        (Tag.LEASE_TIME, item(Tag.LEASE_TIME, T.INTERVAL, 1 << 32)),
        (Tag.NAME, item(Tag.NAME, T.TEXT_STRING, "not a structure")),
        (Tag.NAME, item(Tag.NAME, T.STRUCTURE, [])),
    ],
)
def test_wrong_type_or_range_is_invalid_field(tag: int, bad: Item) -> None:
    children = [c for c in FULL_ITEM.children if c.tag != tag] + [bad]
    with pytest.raises(InvalidField) as caught:
        decode_struct(Everything, struct(OUTER, *children))
    assert caught.value.result_reason.name == "INVALID_FIELD"


def test_field_twice_is_invalid_message() -> None:
    twice = struct(
        OUTER, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1), item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 2)
    )
    with pytest.raises(InvalidMessage, match="more than once"):
        decode_struct(Everything, twice)


def test_required_field_missing_is_invalid_message() -> None:
    with pytest.raises(InvalidMessage, match="Cryptographic Length"):
        decode_struct(Everything, struct(OUTER))


def test_required_repeated_field_missing_is_invalid_message() -> None:
    with pytest.raises(InvalidMessage, match="Object Group"):
        decode_struct(Required, struct(OUTER, item(Tag.NAME_VALUE, T.TEXT_STRING, "a")))


def test_not_a_structure_is_invalid_field() -> None:
    with pytest.raises(InvalidField):
        decode_struct(Everything, item(OUTER, T.TEXT_STRING, "x"))


def test_unknown_field_is_invalid_field_when_strict_and_ignored_otherwise() -> None:
    for unknown in (
        item(Tag.COMMENT, T.TEXT_STRING, "x"),
        item(0x540001, T.INTEGER, 1),
        item(0x420999, T.INTEGER, 1),
    ):
        message = struct(OUTER, item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 1), unknown)
        with pytest.raises(InvalidField, match="unknown field"):
            decode_struct(Everything, message, STRICT)
        assert decode_struct(Everything, message, 0) == Everything(integer=1)


def test_errors_never_echo_values() -> None:
    secret = "s3cr3t-value"
    bad = struct(OUTER, item(Tag.CRYPTOGRAPHIC_LENGTH, T.TEXT_STRING, secret))
    with pytest.raises(ModelError) as caught:
        decode_struct(Everything, bad)
    assert secret not in str(caught.value)


# --- PARTIAL ----------------------------------------------------------------------------------


def test_partial_context_allows_required_fields_to_be_absent() -> None:
    decoded = decode_struct(Required, struct(OUTER), STRICT | PARTIAL)
    assert decoded.first is None
    assert decoded.many == ()


def test_partial_marker_relaxes_only_its_subtree() -> None:
    partial_inner = struct(Tag.NAME, item(Tag.NAME_VALUE, T.TEXT_STRING, "n"))
    decoded = decode_struct(
        Required,
        struct(
            OUTER,
            item(Tag.NAME_VALUE, T.TEXT_STRING, "a"),
            item(Tag.OBJECT_GROUP, T.TEXT_STRING, "g"),
            partial_inner,
        ),
    )
    assert decoded.inner is not None
    assert decoded.inner.name_type is None
    with pytest.raises(InvalidMessage):
        decode_struct(Required, struct(OUTER, partial_inner))  # "first" is outside the subtree
    # What a partial value leaves out stays out when it is encoded again.
    assert encode_struct(decoded, OUTER).children[-1] == partial_inner


# --- versions ---------------------------------------------------------------------------------


def test_tag_versions_follow_the_tag_table() -> None:
    assert tag_since(Tag.CRYPTOGRAPHIC_LENGTH) == (1, 0)
    assert tag_since(Tag.PASSWORD) == (1, 0)
    assert tag_since(Tag.DEVICE_IDENTIFIER) == (1, 1)
    assert tag_since(Tag.KEY_VALUE_LOCATION) == (1, 2)
    assert tag_since(Tag.OFFSET_ITEMS) == (1, 3)
    assert tag_since(Tag.KEY_WRAP_TYPE) == (1, 4)
    assert tag_since(Tag.REPLACE_EXISTING) == (1, 4)


@pytest.mark.parametrize(
    ("version", "present"),
    [
        ((1, 0), {Tag.CRYPTOGRAPHIC_LENGTH}),
        ((1, 1), {Tag.CRYPTOGRAPHIC_LENGTH}),
        ((1, 2), {Tag.CRYPTOGRAPHIC_LENGTH, Tag.ITERATION_COUNT}),
        ((1, 3), {Tag.CRYPTOGRAPHIC_LENGTH, Tag.ITERATION_COUNT}),
        (
            (1, 4),
            {
                Tag.CRYPTOGRAPHIC_LENGTH,
                Tag.ITERATION_COUNT,
                Tag.AUTHENTICATED_ENCRYPTION_TAG,
                Tag.DESCRIPTION,
            },
        ),
    ],
)
def test_fields_newer_than_the_version_are_omitted(version: Version, present: set[int]) -> None:
    value = Versioned(old=1, new_by_tag=b"t", new_by_marker=2, new_list=("d",))
    encoded = encode_struct(value, OUTER, version)
    assert {child.tag for child in encoded.children} == present


def test_newer_fields_decode_whatever_the_version() -> None:
    value = Versioned(old=1, new_by_tag=b"t", new_by_marker=2, new_list=("d",))
    assert decode_struct(Versioned, encode_struct(value, OUTER)) == value


# --- DependsOn, OneOf, Custom -----------------------------------------------------------------


def _decode_by_type(item: Item, ctx: int, object_type: Any) -> object:
    if object_type == ObjectType.SYMMETRIC_KEY:
        return decode_struct(Inner, item, ctx)
    return item.value


def _encode_by_type(value: object, tag: int, version: Version, object_type: Any) -> Item:
    if isinstance(value, Inner):
        return encode_struct(value, tag, version)
    return make_item(tag, ItemType.TEXT_STRING, value)


@model
class Selected:
    value: Annotated[
        Inner | str, Tag.ATTRIBUTE_VALUE, DependsOn("object_type", _decode_by_type, _encode_by_type)
    ]
    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]


def test_depends_on_chooses_the_type_from_another_field_in_any_order() -> None:
    inner = Inner(name_value="n", name_type=NameType.URI)
    for value, object_type in ((inner, ObjectType.SYMMETRIC_KEY), ("text", ObjectType.CERTIFICATE)):
        selected = Selected(value=value, object_type=object_type)
        encoded = encode_struct(selected, OUTER)
        assert decode_struct(Selected, encoded) == selected
        assert decode_struct(Selected, struct(OUTER, *reversed(encoded.children))) == selected


def _decode_one_of(item: Item, ctx: int) -> object:
    return decode_struct(Inner, item, ctx) if item.tag == Tag.NAME else item.value


def _encode_one_of(value: object, version: Version) -> Item:
    if isinstance(value, Inner):
        return encode_struct(value, Tag.NAME, version)
    return make_item(Tag.COMMENT, ItemType.TEXT_STRING, value)


def _decode_custom(item: Item, ctx: int) -> object:
    return item.value[::-1] if isinstance(item.value, str) else None


def _encode_custom(value: object, tag: int, version: Version) -> Item:
    return make_item(tag, ItemType.TEXT_STRING, str(value)[::-1])


@model
class Chosen:
    choice: Annotated[Inner | str, OneOf((Tag.NAME, Tag.COMMENT), _decode_one_of, _encode_one_of)]
    custom: Annotated[str | None, Tag.DESCRIPTION, Custom(_decode_custom, _encode_custom)] = None


def test_one_of_chooses_the_type_from_the_tag() -> None:
    for choice in (Inner(name_value="n", name_type=NameType.URI), "a comment"):
        chosen = Chosen(choice=choice, custom="abc")
        encoded = encode_struct(chosen, OUTER)
        assert encoded.children[1] == item(Tag.DESCRIPTION, T.TEXT_STRING, "cba")
        assert decode_struct(Chosen, encoded) == chosen
    both = struct(
        OUTER,
        item(Tag.COMMENT, T.TEXT_STRING, "x"),
        struct(Tag.NAME, item(Tag.NAME_VALUE, T.TEXT_STRING, "n"), item(Tag.NAME_TYPE, T.ENUMERATION, 2)),
    )
    with pytest.raises(InvalidMessage):
        decode_struct(Chosen, both)  # one field, given twice under two of its tags


# --- value codecs and class definitions -------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "value", "itype"),
    [
        (int, 5, T.INTEGER),
        (DateTime, 5, T.DATE_TIME),
        (Interval, 5, T.INTERVAL),
        (LongInteger, 5, T.LONG_INTEGER),
        (BigInteger, 5, T.BIG_INTEGER),
        (CryptographicAlgorithm, CryptographicAlgorithm.RSA, T.ENUMERATION),
        (CryptographicUsageMask, CryptographicUsageMask.SIGN, T.INTEGER),
        (bool, False, T.BOOLEAN),
        (str, "s", T.TEXT_STRING),
        (bytes, b"b", T.BYTE_STRING),
        (Inner, Inner(name_value="n", name_type=NameType.URI), T.STRUCTURE),
    ],
)
def test_value_codec_round_trips(annotation: Any, value: object, itype: ItemType) -> None:
    codec = value_codec(annotation)
    encoded = codec.encode(value, Tag.ATTRIBUTE_VALUE, (1, 4))
    assert (encoded.tag, encoded.type) == (Tag.ATTRIBUTE_VALUE, itype)
    assert codec.decode(encoded, STRICT) == value


def test_bad_class_definitions_are_refused_when_compiled() -> None:
    @model
    class NoTag:
        field: int

    @model
    class TwoTypes:
        field: Annotated[int | str, Tag.NAME_VALUE]

    @model
    class NotAType:
        field: Annotated[list[int], Tag.NAME_VALUE]

    for cls in (NoTag, TwoTypes, NotAType):
        with pytest.raises(TypeError):
            codec_for(cls)
