"""Re-key (KMIP 1.4 section 4.4): a replacement for an existing symmetric key.

The replacement is generated like Create's (``create.KEY_LENGTHS``: same algorithm and length,
Raw format, the operating system's CSPRNG) and takes the existing key's attributes, except
those Table 173 names (``NOT_COPIED``) and the ones the server sets for every new object
(``objects.new_object_attributes``: Initial, Last Change and Original Creation Date, Fresh,
Always Sensitive, Never Extractable, Lease Time). Then:
- Dates (Table 172): without Offset, Activation, Process Start, Protect Stop and Deactivation
  Date are copied; with Offset, the Activation Date is now + Offset and the other three keep
  their distance to it. Offset together with one of those dates in the template is Invalid
  Message; Offset when the existing key has one of the three but no Activation Date is Illegal
  Operation (11.5). The state follows the dates (3.22 transition 1).
- Name: the replacement takes the existing key's names, which the existing key loses.
- Usage Limits: the Total is copied and the replacement's Count starts at it. (Table 173 says
  "the Count value in the existing key is set to the Total value"; refilling the old key's
  allowance would defeat the limit, so this reads it as the replacement's Count.)
- Links: the existing key gets a Replacement Object Link to the replacement, the replacement a
  Replaced Object Link to the existing key, and no other link of the existing key.
- Digest is computed over the new key, Random Number Generator is this server's.
- A template's attributes (checked and shaped like Create's:
  ``attribute_policy.check_client_attributes``) replace the copies of the same attribute; a
  template Name also leaves the existing key its names, and one a live object of the tenant
  carries is Invalid Field, as for Create (found by the check, or by the store when another
  request takes the name meanwhile: ``DuplicateName``).
- One write: the replacement (with the names) and the existing key's update (names gone,
  Replacement Object Link) are stored together (``TenantObjects.write``), the existing key
  against the revision read, so no crash leaves one without the other (the Name on both keys,
  a link one way only).
- Concurrency: when another request changed the existing key since it was read, nothing is
  stored and the whole Re-key starts over from what is stored now, up to
  ``attribute_change.MAX_ATTEMPTS`` times (then General Failure, "retry").

Refused (11.5): another object type, a key of an algorithm or length this server does not
generate, and a key that has already been replaced (3.35: "only one such replacement object
per Managed Object") are Permission Denied ("not able to be re-keyed"); a destroyed key is Key
Value Not Present. The existing key keeps its state.
"""

from __future__ import annotations

import dataclasses
import secrets

from kmip_server.attribute_policy import appended, check_client_attributes
from kmip_server.errors import (
    ConcurrentModification,
    IllegalOperation,
    InvalidField,
    InvalidMessage,
    KeyValueNotPresent,
    PermissionDenied,
)
from kmip_server.identity import Role
from kmip_server.model import (
    Attribute,
    KeyBlock,
    KeyValue,
    Link,
    Name,
    ReKeyRequestPayload,
    ReKeyResponsePayload,
    SymmetricKey,
    UsageLimits,
)
from kmip_server.objects import (
    DESTROYED_STATES,
    attribute_values,
    digest_of,
    first_value,
    new_object_attributes,
    replace_attribute,
    without_attribute,
)
from kmip_server.operations.attribute_change import MAX_ATTEMPTS
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.create import KEY_LENGTHS, key_size_in_bytes
from kmip_server.storage.objects import DuplicateName, ObjectRecord
from ttlv.kmip14 import CryptographicAlgorithm, KeyFormatType, LinkType, ObjectType, Operation

__all__ = ["NOT_COPIED", "OFFSET_DATES", "SPEC", "handle", "renewed_usage_limits", "replacement_dates"]

NOT_COPIED = frozenset(
    {
        # Table 173: not set, new, or set otherwise.
        "Initial Date",
        "Destroy Date",
        "Compromise Occurrence Date",
        "Compromise Date",
        "Revocation Reason",
        "Unique Identifier",
        "State",
        "Digest",
        "Link",
        "Last Change Date",
        "Random Number Generator",
        "Usage Limits",  # Total copied, Count reset: below
        "Name",  # moved: below
        # Set for every new object by the server (new_object_attributes) or from the new key.
        "Original Creation Date",
        "Fresh",
        "Lease Time",
        "Always Sensitive",
        "Never Extractable",
        "Cryptographic Algorithm",
        "Cryptographic Length",
        # They describe the existing key's value, not the replacement's.
        "Key Value Present",
        "Key Value Location",
        "Archive Date",
        # Table 172: computed.
        "Activation Date",
        "Process Start Date",
        "Protect Stop Date",
        "Deactivation Date",
    }
)
"""Attributes of the existing key that the replacement does not inherit as they are."""

OFFSET_DATES = ("Process Start Date", "Protect Stop Date", "Deactivation Date")
"""Dates that keep their distance to the Activation Date when an Offset is given (Table 172)."""


def replacement_dates(existing: tuple[Attribute, ...], offset: int | None, now: int) -> list[Attribute]:
    """The Activation, Process Start, Protect Stop and Deactivation Dates of the replacement
    (Table 172)."""
    if offset is None:
        return [
            Attribute(name=name, value=value)
            for name in ("Activation Date", *OFFSET_DATES)
            if (value := first_value(existing, name)) is not None
        ]
    activation = now + offset
    result = [Attribute(name="Activation Date", value=activation)]
    old_activation = first_value(existing, "Activation Date")
    for name in OFFSET_DATES:
        value = first_value(existing, name)
        if not isinstance(value, int):
            continue
        if not isinstance(old_activation, int):
            raise IllegalOperation(f"Offset: the key has a {name} but no Activation Date to shift it by")
        result.append(Attribute(name=name, value=value + (activation - old_activation)))
    return result


def renewed_usage_limits(existing: tuple[Attribute, ...]) -> list[Attribute]:
    """The replacement's Usage Limits: the existing key's total, with the count back at it."""
    limits = first_value(existing, "Usage Limits")
    if not isinstance(limits, UsageLimits):
        return []
    total = limits.usage_limits_total
    fresh = UsageLimits(
        usage_limits_total=total, usage_limits_count=total, usage_limits_unit=limits.usage_limits_unit
    )
    return [Attribute(name="Usage Limits", value=fresh)]


def _checked_existing(record: ObjectRecord) -> tuple[CryptographicAlgorithm, int]:
    if record.object_type is not ObjectType.SYMMETRIC_KEY:
        raise PermissionDenied("only symmetric keys can be re-keyed")
    if record.state in DESTROYED_STATES or record.material is None:
        raise KeyValueNotPresent("the key was destroyed")
    for link in attribute_values(record.attributes, "Link"):
        if isinstance(link, Link) and link.link_type is LinkType.REPLACEMENT_OBJECT_LINK:
            raise PermissionDenied("the key has already been replaced")
    algorithm = first_value(record.attributes, "Cryptographic Algorithm")
    length = first_value(record.attributes, "Cryptographic Length")
    if (
        not isinstance(algorithm, CryptographicAlgorithm)
        or not isinstance(length, int)
        or length not in KEY_LENGTHS.get(algorithm, ())
    ):
        raise PermissionDenied("this server does not generate keys of this algorithm and length")
    return algorithm, length


async def handle(ctx: OperationContext, payload: ReKeyRequestPayload) -> ReKeyResponsePayload:
    objects = ctx.objects
    unique_identifier = required_identifier(payload.unique_identifier)
    for attempt in range(MAX_ATTEMPTS):
        existing = await objects.load(unique_identifier, now=ctx.now)
        replacement, names_moved = await _replacement(ctx, payload, existing)
        replaced = _replaced(existing, replacement, ctx.now, names_moved=names_moved)
        try:
            await objects.write(inserts=(replacement,), replaces=((existing, replaced),))
        except DuplicateName:
            raise InvalidField("Name: an object with this name already exists") from None
        except ConcurrentModification:
            # The existing key changed since it was read (a Modify, another Re-key...), so the
            # replacement was derived from a stale copy: start over from what is stored now
            # (after another Re-key won, that is Permission Denied).
            if attempt + 1 == MAX_ATTEMPTS:
                raise
            continue
        return ReKeyResponsePayload(unique_identifier=replacement.unique_identifier)
    raise ConcurrentModification  # pragma: no cover - the loop returns or raises


async def _replacement(
    ctx: OperationContext, payload: ReKeyRequestPayload, existing: ObjectRecord
) -> tuple[ObjectRecord, bool]:
    """The replacement key, not yet stored, and whether it took the existing key's names."""
    objects = ctx.objects
    algorithm, length = _checked_existing(existing)
    template = check_client_attributes(ObjectType.SYMMETRIC_KEY, payload.template_attribute, Operation.RE_KEY)
    given = {attribute.name for attribute in template}
    if payload.offset is not None and given & {"Activation Date", *OFFSET_DATES}:
        raise InvalidMessage("Offset: not permitted together with the dates it computes")

    inherited: list[Attribute] = [
        Attribute(name=a.name, value=a.value) for a in existing.attributes if a.name not in NOT_COPIED
    ]
    inherited += replacement_dates(existing.attributes, payload.offset, ctx.now)
    inherited += renewed_usage_limits(existing.attributes)
    names_moved = "Name" not in given
    if names_moved:
        inherited += [Attribute(name="Name", value=a.value) for a in existing.attributes if a.name == "Name"]
    else:
        wanted = [v.name_value for v in attribute_values(template, "Name") if isinstance(v, Name)]
        if await objects.name_in_use(wanted):
            raise InvalidField("Name: an object with this name already exists")
    attributes = [a for a in inherited if a.name not in given]
    attributes += template  # shaped: a Usage Limits Count starts at its Total (3.21)
    attributes.append(
        Attribute(
            name="Link",
            value=Link(
                link_type=LinkType.REPLACED_OBJECT_LINK, linked_object_identifier=existing.unique_identifier
            ),
        )
    )

    size = key_size_in_bytes(algorithm, length)
    key = SymmetricKey(
        key_block=KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=KeyValue(key_material=secrets.token_bytes(size)),
            cryptographic_algorithm=algorithm,
            cryptographic_length=length,
        )
    )
    server_set = [
        Attribute(name="Cryptographic Algorithm", value=algorithm),
        Attribute(name="Cryptographic Length", value=length),
    ]
    digest = digest_of(key)
    if digest is not None:
        server_set.append(Attribute(name="Digest", value=digest))
    generator = objects.settings.random_number_generator
    if generator is not None:
        server_set.append(Attribute(name="Random Number Generator", value=generator))
    state, stored = new_object_attributes(
        ObjectType.SYMMETRIC_KEY,
        attributes,
        operation=Operation.RE_KEY,
        now=ctx.now,
        server_set=server_set,
        settings=objects.settings,
    )
    return await objects.new_record(key, stored, state), names_moved


def _replaced(
    existing: ObjectRecord, replacement: ObjectRecord, now: int, *, names_moved: bool
) -> ObjectRecord:
    """The existing key once replaced: a Replacement Object Link to the replacement, without
    the names the replacement took, Last Change Date now."""
    kept = without_attribute(existing.attributes, "Name") if names_moved else existing.attributes
    link = Link(
        link_type=LinkType.REPLACEMENT_OBJECT_LINK, linked_object_identifier=replacement.unique_identifier
    )
    kept, _index = appended(replace_attribute(kept, "Last Change Date", now), "Link", link)
    return dataclasses.replace(existing, attributes=kept)


SPEC = HandlerSpec(
    operation=Operation.RE_KEY,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
    sets_id_placeholder=True,
)
