"""The table-driven polymorphic spots: Attribute Value by name, Key Material by Key Format Type,
managed object by tag, Credential Value by Credential Type, and the PARTIAL contexts."""

from __future__ import annotations

from typing import Any

import pytest

from kmip_server.model import (
    ATTRIBUTES,
    MANAGED_OBJECTS,
    Attribute,
    Credential,
    DeviceCredential,
    GetResponsePayload,
    InvalidField,
    InvalidMessage,
    KeyBlock,
    KeyValue,
    LocateRequestPayload,
    Nonce,
    NotifyRequestPayload,
    RegisterRequestPayload,
    SymmetricKey,
    TemplateAttribute,
    TransparentRSAPrivateKey,
    TransparentSymmetricKey,
    UsernamePasswordCredential,
    object_type_of,
)
from kmip_server.model.base import TRANSPARENT_KEY_TYPES, AttestationCredential
from kmip_server.model.codec import PARTIAL, STRICT, decode_struct, encode_struct
from tests.unit.model.samples import sample
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    AttestationType,
    CredentialType,
    CryptographicAlgorithm,
    KeyFormatType,
    LinkType,
    ObjectType,
    State,
    Tag,
)

T = ItemType
OUTER = 0x420001


def struct(tag: int, *children: Item) -> Item:
    return Item(tag, T.STRUCTURE, tuple(children))


def attribute_item(name: str, value: Item | None) -> Item:
    children = [Item(Tag.ATTRIBUTE_NAME, T.TEXT_STRING, name)]
    if value is not None:
        children.append(value)
    return struct(Tag.ATTRIBUTE, *children)


# --- Attribute Value by Attribute Name --------------------------------------------------------


def _sample_value(rule_type: Any) -> Any:
    from kmip_server.model.codec import _Enum, _kind_of, _Mask, _Prim, _Struct  # noqa: PLC0415
    from tests.unit.model.samples import PRIMITIVES, _enum_member, _mask_value  # noqa: PLC0415

    kind = _kind_of(*_flat(rule_type), "test")
    if isinstance(kind, _Prim):
        return PRIMITIVES[kind.itype]
    if isinstance(kind, _Enum):
        return _enum_member(kind.cls)
    if isinstance(kind, _Mask):
        return _mask_value(kind.cls)
    assert isinstance(kind, _Struct)
    return sample(kind.cls)


def _flat(annotation: Any) -> tuple[Any, list[Any]]:
    from kmip_server.model.codec import _flatten  # noqa: PLC0415

    meta: list[Any] = []
    return _flatten(annotation, meta), meta


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_every_attribute_value_round_trips_with_its_type(name: str) -> None:
    value = _sample_value(ATTRIBUTES[name].value_type)
    attribute = Attribute(name=name, index=1, value=value)
    encoded = encode_struct(attribute, Tag.ATTRIBUTE)
    decoded = decode_struct(Attribute, encoded)
    assert decoded == attribute
    assert type(decoded.value) is type(value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Cryptographic Algorithm", Item(Tag.ATTRIBUTE_VALUE, T.INTEGER, 3)),
        ("Cryptographic Length", Item(Tag.ATTRIBUTE_VALUE, T.TEXT_STRING, "256")),
        ("State", Item(Tag.ATTRIBUTE_VALUE, T.ENUMERATION, 99)),
        ("Activation Date", Item(Tag.ATTRIBUTE_VALUE, T.INTEGER, 1)),
        ("Name", Item(Tag.ATTRIBUTE_VALUE, T.TEXT_STRING, "a name")),
        ("Lease Time", Item(Tag.ATTRIBUTE_VALUE, T.DATE_TIME, 1)),
    ],
)
def test_attribute_value_of_the_wrong_type_is_invalid_field(name: str, value: Item) -> None:
    with pytest.raises(InvalidField):
        decode_struct(Attribute, attribute_item(name, value))


def test_custom_attributes_keep_their_raw_item() -> None:
    for name in ("x-ID", "y-server-made"):
        for value in (
            Item(Tag.ATTRIBUTE_VALUE, T.TEXT_STRING, "v"),
            Item(Tag.ATTRIBUTE_VALUE, T.DATE_TIME, 5),
            struct(Tag.ATTRIBUTE_VALUE, Item(0x540001, T.INTEGER, 1)),
        ):
            decoded = decode_struct(Attribute, attribute_item(name, value))
            assert decoded.value == value
            assert encode_struct(decoded, Tag.ATTRIBUTE) == attribute_item(name, value)


def test_custom_value_given_with_another_tag_is_written_as_attribute_value() -> None:
    attribute = Attribute(name="x-a", value=Item(0x540002, T.TEXT_STRING, "v"))
    assert encode_struct(attribute, Tag.ATTRIBUTE) == attribute_item(
        "x-a", Item(Tag.ATTRIBUTE_VALUE, T.TEXT_STRING, "v")
    )


def test_unknown_attribute_name_is_invalid_field_or_raw_when_tolerant() -> None:
    value = Item(Tag.ATTRIBUTE_VALUE, T.TEXT_STRING, "v")
    with pytest.raises(InvalidField):
        decode_struct(Attribute, attribute_item("Not An Attribute", value), STRICT)
    assert decode_struct(Attribute, attribute_item("Not An Attribute", value), 0).value == value


def test_attribute_without_value_is_invalid_message_except_in_partial_context() -> None:
    with pytest.raises(InvalidMessage):
        decode_struct(Attribute, attribute_item("State", None))
    assert decode_struct(Attribute, attribute_item("State", None), STRICT | PARTIAL).value is None


def test_notify_carries_deleted_attributes_without_value() -> None:
    payload = struct(
        OUTER,
        Item(Tag.UNIQUE_IDENTIFIER, T.TEXT_STRING, "1"),
        attribute_item("Last Change Date", Item(Tag.ATTRIBUTE_VALUE, T.DATE_TIME, 10)),
        attribute_item("Contact Information", None),
    )
    decoded = decode_struct(NotifyRequestPayload, payload)
    assert [a.value for a in decoded.attributes] == [10, None]
    assert encode_struct(decoded, OUTER) == payload


def test_locate_matches_on_partial_structured_values() -> None:
    """Section 4.9: "if the Linked Object Identifier value is specified without the Link Type"."""
    partial_link = struct(Tag.ATTRIBUTE_VALUE, Item(Tag.LINKED_OBJECT_IDENTIFIER, T.TEXT_STRING, "target"))
    payload = struct(
        OUTER,
        attribute_item("Link", partial_link),
        attribute_item("State", Item(Tag.ATTRIBUTE_VALUE, T.ENUMERATION, State.ACTIVE)),
    )
    decoded = decode_struct(LocateRequestPayload, payload)
    link, state = decoded.attributes
    assert link.value.linked_object_identifier == "target"  # type: ignore[union-attr]
    assert link.value.link_type is None  # type: ignore[union-attr]
    assert state.value is State.ACTIVE
    assert encode_struct(decoded, OUTER) == payload
    # Outside Locate, the same Link is missing a REQUIRED field.
    with pytest.raises(InvalidMessage):
        decode_struct(Attribute, attribute_item("Link", partial_link))


def test_link_with_both_fields_decodes_outside_locate() -> None:
    full = struct(
        Tag.ATTRIBUTE_VALUE,
        Item(Tag.LINK_TYPE, T.ENUMERATION, LinkType.PUBLIC_KEY_LINK),
        Item(Tag.LINKED_OBJECT_IDENTIFIER, T.TEXT_STRING, "pub"),
    )
    assert decode_struct(Attribute, attribute_item("Link", full)).value.link_type is LinkType.PUBLIC_KEY_LINK  # type: ignore[union-attr]


# --- Key Material by Key Format Type ----------------------------------------------------------


def key_block(kft: int, value: Item | None, **extra: Item) -> Item:
    children = [Item(Tag.KEY_FORMAT_TYPE, T.ENUMERATION, kft)]
    if value is not None:
        children.append(value)
    children += extra.values()
    return struct(Tag.KEY_BLOCK, *children)


def key_value(material: Item) -> Item:
    return struct(Tag.KEY_VALUE, material)


@pytest.mark.parametrize(
    "kft",
    [
        KeyFormatType.RAW,
        KeyFormatType.OPAQUE,
        KeyFormatType.PKCS_1,
        KeyFormatType.PKCS_8,
        KeyFormatType.X_509,
        KeyFormatType.ECPRIVATEKEY,
        KeyFormatType.PKCS_12,
    ],
)
def test_byte_string_formats_carry_bytes(kft: KeyFormatType) -> None:
    block = key_block(kft, key_value(Item(Tag.KEY_MATERIAL, T.BYTE_STRING, b"k" * 32)))
    decoded = decode_struct(KeyBlock, block)
    assert isinstance(decoded.key_value, KeyValue)
    assert decoded.key_value.key_material == b"k" * 32
    assert encode_struct(decoded, Tag.KEY_BLOCK) == block
    structure = key_block(kft, key_value(struct(Tag.KEY_MATERIAL, Item(Tag.KEY, T.BYTE_STRING, b"k"))))
    with pytest.raises(InvalidField):
        decode_struct(KeyBlock, structure)


@pytest.mark.parametrize("kft", sorted(TRANSPARENT_KEY_TYPES), ids=lambda k: KeyFormatType(k).name)
def test_transparent_formats_carry_their_structure(kft: int) -> None:
    cls = TRANSPARENT_KEY_TYPES[kft]
    material = sample(cls)
    block = KeyBlock(key_format_type=KeyFormatType(kft), key_value=KeyValue(key_material=material))
    encoded = encode_struct(block, Tag.KEY_BLOCK)
    decoded = decode_struct(KeyBlock, encoded)
    assert decoded == block
    assert isinstance(decoded.key_value, KeyValue)
    assert type(decoded.key_value.key_material) is cls


def test_transparent_structure_of_the_wrong_shape_is_an_error() -> None:
    rsa_fields = struct(Tag.KEY_MATERIAL, Item(Tag.MODULUS, T.BIG_INTEGER, 5))
    block = key_block(KeyFormatType.TRANSPARENT_SYMMETRIC_KEY, key_value(rsa_fields))
    with pytest.raises(InvalidField):  # Modulus is no field of a Transparent Symmetric Key
        decode_struct(KeyBlock, block)
    good = key_block(KeyFormatType.TRANSPARENT_RSA_PRIVATE_KEY, key_value(rsa_fields))
    decoded = decode_struct(KeyBlock, good)
    assert isinstance(decoded.key_value, KeyValue)
    assert decoded.key_value.key_material == TransparentRSAPrivateKey(modulus=5)


def test_wrapped_key_value_and_wrapped_key_material_are_bytes() -> None:
    wrapped_value = key_block(
        KeyFormatType.TRANSPARENT_SYMMETRIC_KEY, Item(Tag.KEY_VALUE, T.BYTE_STRING, b"w" * 40)
    )
    assert decode_struct(KeyBlock, wrapped_value).key_value == b"w" * 40
    wrapped_material = key_block(
        KeyFormatType.TRANSPARENT_SYMMETRIC_KEY, key_value(Item(Tag.KEY_MATERIAL, T.BYTE_STRING, b"w" * 40))
    )
    decoded = decode_struct(KeyBlock, wrapped_material)
    assert isinstance(decoded.key_value, KeyValue)
    assert decoded.key_value.key_material == b"w" * 40
    assert encode_struct(decoded, Tag.KEY_BLOCK) == wrapped_material


def test_extension_format_keeps_a_structure_raw() -> None:
    material = struct(Tag.KEY_MATERIAL, Item(0x540010, T.BYTE_STRING, b"vendor"))
    block = key_block(0x80000001, key_value(material))
    decoded = decode_struct(KeyBlock, block)
    assert isinstance(decoded.key_value, KeyValue)
    assert decoded.key_value.key_material == material
    assert encode_struct(decoded, Tag.KEY_BLOCK) == block


def test_key_material_of_another_type_is_invalid_field() -> None:
    block = key_block(KeyFormatType.RAW, key_value(Item(Tag.KEY_MATERIAL, T.TEXT_STRING, "k")))
    with pytest.raises(InvalidField):
        decode_struct(KeyBlock, block)
    no_value = key_block(KeyFormatType.RAW, None)
    assert decode_struct(KeyBlock, no_value).key_value is None  # Key Value is OPTIONAL (Table 7)


def test_key_material_is_not_in_repr() -> None:
    key = SymmetricKey(
        key_block=KeyBlock(
            key_format_type=KeyFormatType.TRANSPARENT_SYMMETRIC_KEY,
            key_value=KeyValue(key_material=TransparentSymmetricKey(key=b"\xaa" * 4)),
        )
    )
    assert "aa" not in repr(key).lower().replace("transparent", "")
    assert "xaa" not in repr(key)
    assert "secret" not in repr(UsernamePasswordCredential(username="u", password="secret"))


# --- managed object by tag --------------------------------------------------------------------


@pytest.mark.parametrize("object_type", list(ObjectType), ids=lambda t: t.name)
def test_managed_object_is_chosen_by_its_tag(object_type: ObjectType) -> None:
    tag, cls = MANAGED_OBJECTS[object_type]
    managed = sample(cls)
    assert object_type_of(managed) is object_type
    payload = RegisterRequestPayload(
        object_type=object_type, template_attribute=TemplateAttribute(), managed_object=managed
    )
    encoded = encode_struct(payload, OUTER)
    assert encoded.children[-1].tag == tag
    assert decode_struct(RegisterRequestPayload, encoded) == payload


def test_missing_or_doubled_managed_object() -> None:
    base = struct(
        OUTER,
        Item(Tag.OBJECT_TYPE, T.ENUMERATION, ObjectType.SYMMETRIC_KEY),
        Item(Tag.UNIQUE_IDENTIFIER, T.TEXT_STRING, "1"),
    )
    with pytest.raises(InvalidMessage):
        decode_struct(GetResponsePayload, base)
    obj = encode_struct(sample(SymmetricKey), Tag.SYMMETRIC_KEY)
    other = encode_struct(sample(MANAGED_OBJECTS[ObjectType.SECRET_DATA][1]), Tag.SECRET_DATA)
    with pytest.raises(InvalidMessage):
        decode_struct(GetResponsePayload, struct(OUTER, *base.children, obj, other))


# --- Credential Value by Credential Type ------------------------------------------------------


@pytest.mark.parametrize(
    ("credential_type", "value"),
    [
        (CredentialType.USERNAME_AND_PASSWORD, UsernamePasswordCredential(username="u", password="p")),
        (CredentialType.DEVICE, DeviceCredential(device_serial_number="sn", machine_identifier="m")),
        (
            CredentialType.ATTESTATION,
            AttestationCredential(
                nonce=Nonce(nonce_id=b"1", nonce_value=b"2"),
                attestation_type=AttestationType.TPM_QUOTE,
                attestation_measurement=b"m",
            ),
        ),
    ],
)
def test_credential_value_by_credential_type(credential_type: CredentialType, value: Any) -> None:
    credential = Credential(credential_type=credential_type, credential_value=value)
    assert decode_struct(Credential, encode_struct(credential, Tag.CREDENTIAL)) == credential


def test_credential_value_of_another_type_is_an_error() -> None:
    device = encode_struct(DeviceCredential(device_serial_number="sn"), Tag.CREDENTIAL_VALUE)
    mixed = struct(
        Tag.CREDENTIAL, Item(Tag.CREDENTIAL_TYPE, T.ENUMERATION, CredentialType.USERNAME_AND_PASSWORD), device
    )
    with pytest.raises(InvalidField):  # Device Serial Number is no field of Username and Password
        decode_struct(Credential, mixed)
    extension = struct(Tag.CREDENTIAL, Item(Tag.CREDENTIAL_TYPE, T.ENUMERATION, 0x80000002), device)
    assert decode_struct(Credential, extension).credential_value == device


def test_attribute_value_types_cover_every_structure_used_by_the_table() -> None:
    """CryptographicAlgorithm values travel as Enumerations, masks as Integers."""
    encoded = encode_struct(
        Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES), Tag.ATTRIBUTE
    )
    assert encoded.children[1] == Item(Tag.ATTRIBUTE_VALUE, T.ENUMERATION, 3)
