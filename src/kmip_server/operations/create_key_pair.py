"""Create Key Pair (KMIP 1.4 section 4.2): generate a public/private key pair.

- What is generated is ``crypto.keypairs``' tables: RSA 2048, 3072, 4096 (PKCS#1 both halves),
  and EC on P-256, P-384, P-521 for the algorithms ECDSA, EC and ECDH (PKCS#8 private, X.509
  public). Cryptographic Algorithm is REQUIRED (Missing Data); an RSA pair needs a Cryptographic
  Length, an EC pair a length or the Recommended Curve of Cryptographic Domain Parameters.
- Templates (Table 166 and the text after it): the Common Template-Attribute applies to both
  keys, the Private and Public Key Template-Attributes to theirs; for a single-instance
  attribute the key's own template wins over the Common one, multi-instance attributes are the
  union (``pair_attributes``). Each is checked and shaped like Create's template
  (``attribute_policy.check_client_attributes``), the Common one for both object types.
- Table 168: Cryptographic Algorithm, Length, Domain Parameters and Parameters SHALL be the same
  for both keys: different values in the two key templates are Invalid Field.
- Cryptographic Usage Mask (REQUIRED by Table 168): when a key's templates give none, the server
  sets ``DEFAULT_USAGE_MASKS`` for its half, as Create defaults a symmetric key's mask (PyKMIP's
  client sends none unless asked).
- Names: a Name carried by a live object of the tenant is Invalid Field (11.3), and so is one
  given to both keys (a Common Name), since names are unique per tenant (``objects``); the
  store's ``DuplicateName`` (a request racing this one for the name) is answered the same.
- Links (4.2): the Private Key gets a Public Key Link to the Public Key, the Public Key a Private
  Key Link to the Private Key. The ID Placeholder becomes the Private Key's identifier.
- Server-set attributes: those of every creating operation (``objects.new_object_attributes``),
  Cryptographic Algorithm and Length, the Digest of each half's key material as stored, and the
  Random Number Generator (3.44).
- Both halves are stored as L4 blobs like every managed object (``TenantObjects.new_record``),
  in one write (``TenantObjects.write``): both or neither, whatever happens to the Core. RSA
  generation takes tens to hundreds of milliseconds of CPU: it runs in a worker thread
  (``cryptography`` releases the GIL while OpenSSL searches for primes), off the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from kmip_server.attribute_policy import check_client_attributes
from kmip_server.crypto.keypairs import (
    KeyFamily,
    KeyPair,
    KeyPairSpec,
    generate_key_pair,
    key_pair_spec,
)
from kmip_server.errors import InvalidField
from kmip_server.identity import Role
from kmip_server.model import (
    Attribute,
    CreateKeyPairRequestPayload,
    CreateKeyPairResponsePayload,
    CryptographicDomainParameters,
    Link,
    ManagedObject,
    Name,
    TemplateAttribute,
    attribute_rule,
)
from kmip_server.objects import (
    TenantObjects,
    attribute_values,
    digest_of,
    first_value,
    new_object_attributes,
)
from kmip_server.operations.context import HandlerSpec, OperationContext
from kmip_server.storage.objects import DuplicateName, ObjectRecord
from ttlv.kmip14 import CryptographicUsageMask, LinkType, ObjectType, Operation

__all__ = [
    "DEFAULT_USAGE_MASKS",
    "SAME_FOR_BOTH",
    "SPEC",
    "PairTemplates",
    "generate",
    "handle",
    "pair_attributes",
    "pair_records",
]

_U = CryptographicUsageMask

DEFAULT_USAGE_MASKS: dict[KeyFamily, tuple[CryptographicUsageMask, CryptographicUsageMask]] = {
    KeyFamily.RSA: (_U.SIGN | _U.DECRYPT, _U.VERIFY | _U.ENCRYPT),
    KeyFamily.EC: (_U.SIGN, _U.VERIFY),
}
"""Family -> the (private, public) Cryptographic Usage Masks when the request gives none."""

SAME_FOR_BOTH = (
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Domain Parameters",
    "Cryptographic Parameters",
)
"""Table 168: attributes that SHALL have the same value for the Private and the Public Key."""

_GENERATED_OFF_LOOP = frozenset({KeyFamily.RSA})
"""Families whose generation is slow enough to leave the event loop for."""


@dataclass(frozen=True, slots=True)
class PairTemplates:
    """The client's attributes for each half, checked and merged (``pair_attributes``)."""

    private: tuple[Attribute, ...]
    public: tuple[Attribute, ...]


def _merged(common: Sequence[Attribute], own: Sequence[Attribute]) -> tuple[Attribute, ...]:
    own_names = {attribute.name for attribute in own}
    kept = []
    for attribute in common:
        rule = attribute_rule(attribute.name)
        if attribute.name not in own_names or (rule is not None and rule.multi_instance):
            kept.append(attribute)
    return (*kept, *own)


def pair_attributes(
    common: TemplateAttribute | None,
    private: TemplateAttribute | None,
    public: TemplateAttribute | None,
    operation: Operation,
) -> PairTemplates:
    """Each key's attributes from the three templates (4.2 and 4.5: the key's own template
    before the Common one for single-instance attributes, the union for multi-instance ones),
    checked like Create's; Invalid Field when the keys would differ in ``SAME_FOR_BOTH``."""
    common_for_private = check_client_attributes(ObjectType.PRIVATE_KEY, common, operation)
    common_for_public = check_client_attributes(ObjectType.PUBLIC_KEY, common, operation)
    templates = PairTemplates(
        private=_merged(
            common_for_private, check_client_attributes(ObjectType.PRIVATE_KEY, private, operation)
        ),
        public=_merged(common_for_public, check_client_attributes(ObjectType.PUBLIC_KEY, public, operation)),
    )
    for name in SAME_FOR_BOTH:
        if attribute_values(templates.private, name) != attribute_values(templates.public, name):
            raise InvalidField(f"{name}: SHALL be the same for the Private and the Public Key")
    return templates


def _names(attributes: Sequence[Attribute]) -> list[str]:
    return [value.name_value for value in attribute_values(attributes, "Name") if isinstance(value, Name)]


async def check_names(objects: TenantObjects, templates: PairTemplates) -> None:
    """Invalid Field for a Name a live object of the tenant carries, or one given to both keys."""
    private_names, public_names = _names(templates.private), _names(templates.public)
    if objects.settings.unique_names and set(private_names) & set(public_names):
        raise InvalidField("Name: the Private and the Public Key cannot carry the same name")
    wanted = private_names + public_names
    if wanted and await objects.name_in_use(wanted):
        raise InvalidField("Name: an object with this name already exists")


def requested_spec(attributes: Sequence[Attribute]) -> KeyPairSpec:
    """The key pair a (merged, Table 168-consistent) template asks for."""
    domain = first_value(attributes, "Cryptographic Domain Parameters")
    if domain is not None and not isinstance(domain, CryptographicDomainParameters):
        raise InvalidField("Cryptographic Domain Parameters: not a structure")
    if domain is not None and domain.qlength is not None:
        raise InvalidField("Cryptographic Domain Parameters: Qlength is for DSA and DH keys")
    return key_pair_spec(
        first_value(attributes, "Cryptographic Algorithm"),
        first_value(attributes, "Cryptographic Length"),
        domain.recommended_curve if domain is not None else None,
    )


async def generate(spec: KeyPairSpec) -> KeyPair:
    """A new key pair; RSA in a worker thread (module docstring)."""
    if spec.family in _GENERATED_OFF_LOOP:
        return await asyncio.to_thread(generate_key_pair, spec)
    return generate_key_pair(spec)


def _with_usage_mask(
    attributes: tuple[Attribute, ...], default: CryptographicUsageMask
) -> tuple[Attribute, ...]:
    if first_value(attributes, "Cryptographic Usage Mask") is not None:
        return attributes
    return (*attributes, Attribute(name="Cryptographic Usage Mask", value=default))


def _server_set(managed_object: ManagedObject, spec: KeyPairSpec, objects: TenantObjects) -> list[Attribute]:
    result = [
        Attribute(name="Cryptographic Algorithm", value=spec.algorithm),
        Attribute(name="Cryptographic Length", value=spec.length),
    ]
    digest = digest_of(managed_object)
    if digest is not None:
        result.append(Attribute(name="Digest", value=digest))
    generator = objects.settings.random_number_generator
    if generator is not None:
        result.append(Attribute(name="Random Number Generator", value=generator))
    return result


def _link(link_type: LinkType, unique_identifier: str) -> Attribute:
    return Attribute(name="Link", value=Link(link_type=link_type, linked_object_identifier=unique_identifier))


async def pair_records(
    ctx: OperationContext,
    pair: KeyPair,
    spec: KeyPairSpec,
    templates: PairTemplates,
    operation: Operation,
) -> tuple[ObjectRecord, ObjectRecord]:
    """The (private, public) records of both halves with their attributes and the Public Key
    Link / Private Key Link between them, not yet stored (``TenantObjects.write`` stores them)."""
    objects = ctx.objects
    private_mask, public_mask = DEFAULT_USAGE_MASKS[spec.family]
    private_state, private_attributes = new_object_attributes(
        ObjectType.PRIVATE_KEY,
        _with_usage_mask(templates.private, private_mask),
        operation=operation,
        now=ctx.now,
        server_set=_server_set(pair.private_key, spec, objects),
        settings=objects.settings,
    )
    public_state, public_attributes = new_object_attributes(
        ObjectType.PUBLIC_KEY,
        _with_usage_mask(templates.public, public_mask),
        operation=operation,
        now=ctx.now,
        server_set=_server_set(pair.public_key, spec, objects),
        settings=objects.settings,
    )
    private_record = await objects.new_record(pair.private_key, private_attributes, private_state)
    public_record = await objects.new_record(
        pair.public_key,
        (*public_attributes, _link(LinkType.PRIVATE_KEY_LINK, private_record.unique_identifier)),
        public_state,
    )
    linked = dataclasses.replace(
        private_record,
        attributes=(
            *private_record.attributes,
            _link(LinkType.PUBLIC_KEY_LINK, public_record.unique_identifier),
        ),
    )
    return linked, public_record


async def handle(ctx: OperationContext, payload: CreateKeyPairRequestPayload) -> CreateKeyPairResponsePayload:
    objects = ctx.objects
    templates = pair_attributes(
        payload.common_template_attribute,
        payload.private_key_template_attribute,
        payload.public_key_template_attribute,
        Operation.CREATE_KEY_PAIR,
    )
    spec = requested_spec(templates.private)
    await check_names(objects, templates)
    pair = await generate(spec)
    private_record, public_record = await pair_records(ctx, pair, spec, templates, Operation.CREATE_KEY_PAIR)
    try:
        await objects.write(inserts=(private_record, public_record))
    except DuplicateName:
        raise InvalidField("Name: an object with this name already exists") from None
    ctx.id_placeholder = private_record.unique_identifier  # 4.2: the Private Key's identifier
    return CreateKeyPairResponsePayload(
        private_key_unique_identifier=private_record.unique_identifier,
        public_key_unique_identifier=public_record.unique_identifier,
    )


SPEC = HandlerSpec(
    operation=Operation.CREATE_KEY_PAIR,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
)
