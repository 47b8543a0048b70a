"""Derive Key (KMIP 1.4 section 4.6): a new Symmetric Key or Secret Data from a managed key.

- The first Unique Identifier names the derivation key (a Symmetric Key, or a Secret Data such
  as a password for PBKDF2): it must pass ``crypto.usage`` for Derive Key (the mask's Derive
  Key bit, Active, before its Protect Stop Date, Usage Limits). A second one may name a Secret
  Data object whose bytes are the Derivation Data (4.6), under the same rules; giving both that
  and Derivation Data is Invalid Message (11.7 "Ambiguous derivation data"). More is Invalid
  Field. The ID Placeholder is never used for them (4.6).
- The method is ``crypto.derive.DERIVATIONS`` (PBKDF2, HMAC, Encrypt, NIST SP 800-108 counter
  mode). The template's Cryptographic Length (bits, whole bytes) is REQUIRED, and so is the
  Cryptographic Algorithm for a Symmetric Key (Missing Data); the rest of the template is
  checked as Create checks its own (``attribute_policy.check_client_attributes``), names unique
  among the tenant's live objects (Invalid Field, found by the check or by the store:
  ``DuplicateName``).
- The new object (wrapped under the caller's L3) has a Derivation Base Object Link to each
  object it was derived from, and each of those gets a Derived Key Link to it (4.6): all of it
  one write (``TenantObjects.write``), so no crash leaves a link one way only. The objects
  derived from are written with compare-and-set; when one changed since it was read, they are
  read again and the write repeated. The response's Unique Identifier becomes the ID Placeholder.
"""

from __future__ import annotations

import dataclasses

from kmip_server.attribute_policy import appended, check_client_attributes
from kmip_server.crypto.derive import DerivationInput, derive
from kmip_server.crypto.usage import Usage, use_key
from kmip_server.errors import (
    ConcurrentModification,
    InvalidField,
    InvalidMessage,
    MissingData,
    PermissionDenied,
)
from kmip_server.identity import Role
from kmip_server.model import (
    ATTRIBUTES,
    Attribute,
    CryptographicParameters,
    DeriveKeyRequestPayload,
    DeriveKeyResponsePayload,
    KeyBlock,
    KeyValue,
    Link,
    ManagedObject,
    Name,
    SecretData,
    SymmetricKey,
    TemplateAttribute,
)
from kmip_server.objects import (
    TenantObjects,
    attribute_values,
    digest_of,
    first_value,
    new_object_attributes,
    replace_attribute,
)
from kmip_server.operations.context import HandlerSpec, OperationContext
from kmip_server.storage.objects import DuplicateName, ObjectRecord
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    SecretDataType,
)

__all__ = ["DERIVED_TYPES", "MAX_LINK_ATTEMPTS", "SPEC", "handle"]

DERIVED_TYPES = frozenset({ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA})
"""What Derive Key makes, and what it derives from."""

MAX_LINK_ATTEMPTS = 5
"""Attempts of the write of the new object and the Derived Key Links when the objects it was
derived from change meanwhile."""

_PARAMETERS = frozenset({"Cryptographic Algorithm", "Cryptographic Length"})


def _material(managed_object: ManagedObject) -> bytes:
    key_block = getattr(managed_object, "key_block", None)
    key_value = key_block.key_value if key_block is not None else None
    material = key_value.key_material if isinstance(key_value, KeyValue) else None
    if not isinstance(material, bytes | bytearray):
        raise PermissionDenied("the derivation object has no key bytes this server can use")
    return bytes(material)


def _template(
    payload: DeriveKeyRequestPayload,
) -> tuple[tuple[Attribute, ...], CryptographicAlgorithm | None, int]:
    """The client's attributes for the new object, its algorithm and its length in bytes."""
    given = payload.template_attribute
    parameters = [a for a in given.attributes if a.name in _PARAMETERS]
    rest = TemplateAttribute(
        names=given.names, attributes=tuple(a for a in given.attributes if a.name not in _PARAMETERS)
    )
    attributes = check_client_attributes(payload.object_type, rest, Operation.DERIVE_KEY)
    algorithm = first_value(parameters, "Cryptographic Algorithm")
    length = first_value(parameters, "Cryptographic Length")
    if length is None:
        raise MissingData("Cryptographic Length: required to derive an object")
    if not isinstance(length, int) or length <= 0 or length % 8:
        raise InvalidField("Cryptographic Length: a positive number of whole bytes, in bits")
    if payload.object_type is ObjectType.SYMMETRIC_KEY and algorithm is None:
        raise MissingData("Cryptographic Algorithm: required to derive a key")
    if algorithm is not None and not isinstance(algorithm, CryptographicAlgorithm):
        raise InvalidField("Cryptographic Algorithm: not a supported value")
    return attributes, algorithm, length // 8


async def _derivation_data(
    ctx: OperationContext, payload: DeriveKeyRequestPayload
) -> tuple[bytes | None, str | None]:
    """The Derivation Data, given or held by a Secret Data object, and that object's identifier."""
    identifiers = payload.unique_identifiers
    given = payload.derivation_parameters.derivation_data
    if len(identifiers) > 2:
        raise InvalidField("Derive Key takes a derivation key and at most one Secret Data object")
    if len(identifiers) == 1:
        return given, None
    if given is not None:
        raise InvalidMessage("ambiguous derivation data: both Derivation Data and a Secret Data object")
    use = await use_key(ctx.objects, identifiers[1], Usage.DERIVE_KEY, now=ctx.now)
    if use.record.object_type is not ObjectType.SECRET_DATA:
        raise InvalidField("the second object of a derivation must be Secret Data")
    return _material(use.managed_object), use.record.unique_identifier


def _new_object(
    object_type: ObjectType, material: bytes, algorithm: CryptographicAlgorithm | None, bits: int
) -> ManagedObject:
    if object_type is ObjectType.SYMMETRIC_KEY:
        block = KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=KeyValue(key_material=material),
            cryptographic_algorithm=algorithm,
            cryptographic_length=bits,
        )
        return SymmetricKey(key_block=block)
    block = KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=KeyValue(key_material=material))
    return SecretData(secret_data_type=SecretDataType.SEED, key_block=block)


def _linked_to(source: ObjectRecord, derived: str, now: int) -> ObjectRecord:
    """``source`` with a Derived Key Link to ``derived`` (4.6)."""
    link = Link(link_type=LinkType.DERIVED_KEY_LINK, linked_object_identifier=derived)
    attributes, _index = appended(replace_attribute(source.attributes, "Last Change Date", now), "Link", link)
    return dataclasses.replace(source, attributes=attributes)


async def _store_derived(objects: TenantObjects, derived: ObjectRecord, sources: list[str], now: int) -> None:
    """Store ``derived`` and the Derived Key Link of each of ``sources`` to it in one write,
    reading the sources again when one changed meanwhile."""
    for _attempt in range(MAX_LINK_ATTEMPTS):
        changes = []
        for source in dict.fromkeys(sources):
            current = await objects.load(source, now=now)
            changes.append((current, _linked_to(current, derived.unique_identifier, now)))
        try:
            await objects.write(inserts=(derived,), replaces=changes)
        except DuplicateName:
            raise InvalidField("Name: an object with this name already exists") from None
        except ConcurrentModification:
            continue
        return
    raise ConcurrentModification


async def handle(ctx: OperationContext, payload: DeriveKeyRequestPayload) -> DeriveKeyResponsePayload:
    object_type = payload.object_type
    if object_type not in DERIVED_TYPES:
        raise InvalidField("Object Type: Derive Key makes Symmetric Keys or Secret Data")
    objects = ctx.objects
    attributes, algorithm, length = _template(payload)
    names = [value.name_value for value in attribute_values(attributes, "Name") if isinstance(value, Name)]
    if names and await objects.name_in_use(names):
        raise InvalidField("Name: an object with this name already exists")

    base = await use_key(objects, payload.unique_identifiers[0], Usage.DERIVE_KEY, now=ctx.now)
    if base.record.object_type not in DERIVED_TYPES:
        raise InvalidField("the derivation object must be a Symmetric Key or Secret Data")
    data, data_object = await _derivation_data(ctx, payload)
    key_parameters = first_value(base.record.attributes, "Cryptographic Parameters")
    material = derive(
        payload.derivation_method,
        DerivationInput(
            key=_material(base.managed_object),
            key_algorithm=base.key_algorithm,
            key_parameters=key_parameters if isinstance(key_parameters, CryptographicParameters) else None,
            parameters=payload.derivation_parameters,
            data=data,
            length=length,
        ),
    )

    managed_object = _new_object(object_type, material, algorithm, length * 8)
    server_set = [Attribute(name="Cryptographic Length", value=length * 8)]
    if algorithm is not None:
        server_set.append(Attribute(name="Cryptographic Algorithm", value=algorithm))
    digest = digest_of(managed_object)
    if digest is not None:
        server_set.append(Attribute(name="Digest", value=digest))
    state, stored = new_object_attributes(
        object_type,
        attributes,
        operation=Operation.DERIVE_KEY,
        now=ctx.now,
        server_set=[a for a in server_set if _applies(a.name, object_type)],
        settings=objects.settings,
    )
    sources = [base.record.unique_identifier] + ([data_object] if data_object is not None else [])
    for source in sources:
        stored, _index = appended(
            stored,
            "Link",
            Link(link_type=LinkType.DERIVATION_BASE_OBJECT_LINK, linked_object_identifier=source),
        )
    record = await objects.new_record(managed_object, stored, state)
    await _store_derived(objects, record, sources, ctx.now)
    return DeriveKeyResponsePayload(unique_identifier=record.unique_identifier)


def _applies(name: str, object_type: ObjectType) -> bool:
    return object_type in ATTRIBUTES[name].applies_to


SPEC = HandlerSpec(
    operation=Operation.DERIVE_KEY,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    sets_id_placeholder=True,
)
