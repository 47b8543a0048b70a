"""Re-key Key Pair (KMIP 1.4 section 4.5): a replacement pair for an existing key pair.

The existing pair is the Private Key named (or the ID Placeholder) and the Public Key its Public
Key Link points to. The replacement pair is generated like Create Key Pair's
(``create_key_pair``: same algorithm, length and curve, stored formats, links between the new
halves) and each new half takes its existing half's attributes, except those Table 177 names
and the server sets for every new object (the same list as Re-key's, ``rekey.NOT_COPIED``).
Then, per half:
- Dates (Table 176): without Offset, Activation and Deactivation Date (and Process Start and
  Protect Stop Date) are copied; with Offset, the Activation Date is now + Offset and the other
  dates keep their distance to it (``rekey.replacement_dates``). Offset together with one of
  those dates in a template is Invalid Message (11.6); Offset when the existing key has one of
  them but no Activation Date is Illegal Operation. The state follows the dates.
- Name: the new half takes its existing half's names, which the existing half loses, unless
  the templates give the new half names of its own.
- Usage Limits: the Total is copied and the new half's Count starts at it (as for Re-key).
- Links (4.5): each existing half gets a Replacement Object Link to its new half, each new half
  a Replaced Object Link to its existing half, besides the Public / Private Key Links of the
  new pair. No other link of the existing halves is copied.
- Digest is computed over the new key material; Random Number Generator is this server's.
- Templates (Common, Private, Public: ``create_key_pair.pair_attributes``) replace the copies of
  the attributes they give.
- One write: the new pair and the updates of both existing halves are stored together
  (``TenantObjects.write``), each existing half against the revision read, so no crash leaves
  part of it (a Name on an old and a new half, a link one way only). A template Name a live
  object carries is Invalid Field, found by the check or by the store (``DuplicateName``).
- Concurrency: when another request changed either existing half since it was read, nothing
  is stored and the whole Re-key Key Pair starts over from what is stored now, up to
  ``attribute_change.MAX_ATTEMPTS`` times (then General Failure, "retry").

Refused (11.6): an object that is not a Private Key, one without a Public Key Link to a Public
Key of the tenant, one of an algorithm or length this server does not generate, and one already
replaced (3.35: one replacement per object) are Permission Denied ("not able to be re-keyed");
a destroyed Private Key is Key Value Not Present. The existing keys keep their states.
"""

from __future__ import annotations

import dataclasses

from kmip_server.attribute_policy import appended
from kmip_server.crypto.keypairs import KeyPairSpec, key_pair_spec
from kmip_server.errors import (
    ConcurrentModification,
    InvalidField,
    InvalidMessage,
    ItemNotFound,
    KeyValueNotPresent,
    MissingData,
    PermissionDenied,
)
from kmip_server.identity import Role
from kmip_server.model import (
    Attribute,
    CryptographicDomainParameters,
    Link,
    ReKeyKeyPairRequestPayload,
    ReKeyKeyPairResponsePayload,
)
from kmip_server.objects import (
    DESTROYED_STATES,
    attribute_values,
    first_value,
    replace_attribute,
    without_attribute,
)
from kmip_server.operations.attribute_change import MAX_ATTEMPTS
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.create_key_pair import (
    PairTemplates,
    check_names,
    generate,
    pair_attributes,
    pair_records,
)
from kmip_server.operations.rekey import (
    NOT_COPIED,
    OFFSET_DATES,
    renewed_usage_limits,
    replacement_dates,
)
from kmip_server.storage.objects import DuplicateName, ObjectRecord
from ttlv.kmip14 import LinkType, ObjectType, Operation

__all__ = ["SPEC", "handle"]

_DATES = frozenset({"Activation Date", *OFFSET_DATES})


def _linked(record: ObjectRecord, link_type: LinkType) -> str | None:
    for link in attribute_values(record.attributes, "Link"):
        if isinstance(link, Link) and link.link_type is link_type:
            return link.linked_object_identifier
    return None


def _existing_spec(private: ObjectRecord) -> KeyPairSpec:
    if private.object_type is not ObjectType.PRIVATE_KEY:
        raise PermissionDenied("only the Private Key of a key pair can be re-keyed as a pair")
    if private.state in DESTROYED_STATES or private.material is None:
        raise KeyValueNotPresent("the key was destroyed")
    if _linked(private, LinkType.REPLACEMENT_OBJECT_LINK) is not None:
        raise PermissionDenied("the key pair has already been replaced")
    domain = first_value(private.attributes, "Cryptographic Domain Parameters")
    curve = domain.recommended_curve if isinstance(domain, CryptographicDomainParameters) else None
    try:
        return key_pair_spec(
            first_value(private.attributes, "Cryptographic Algorithm"),
            first_value(private.attributes, "Cryptographic Length"),
            curve,
        )
    except (InvalidField, MissingData):
        raise PermissionDenied(
            "this server does not generate key pairs of this algorithm and length"
        ) from None


async def _existing_public(ctx: OperationContext, private: ObjectRecord) -> ObjectRecord:
    identifier = _linked(private, LinkType.PUBLIC_KEY_LINK)
    if identifier is None:
        raise PermissionDenied("the Private Key has no Public Key Link: it is not part of a key pair")
    try:
        public = await ctx.objects.load(identifier, now=ctx.now)
    except ItemNotFound:
        raise PermissionDenied("the Public Key of the pair is not found") from None
    if public.object_type is not ObjectType.PUBLIC_KEY:
        raise PermissionDenied("the Public Key Link does not point to a Public Key")
    return public


def _inherited(
    existing: ObjectRecord, template: tuple[Attribute, ...], offset: int | None, now: int
) -> tuple[tuple[Attribute, ...], bool]:
    """A new half's attributes from its existing half and its template, and whether it took
    the existing half's names."""
    given = {attribute.name for attribute in template}
    copied = [Attribute(name=a.name, value=a.value) for a in existing.attributes if a.name not in NOT_COPIED]
    copied += replacement_dates(existing.attributes, offset, now)
    copied += renewed_usage_limits(existing.attributes)
    names_moved = "Name" not in given
    if names_moved:
        copied += [Attribute(name="Name", value=a.value) for a in existing.attributes if a.name == "Name"]
    attributes = [a for a in copied if a.name not in given]
    attributes += template
    attributes.append(
        Attribute(
            name="Link",
            value=Link(
                link_type=LinkType.REPLACED_OBJECT_LINK, linked_object_identifier=existing.unique_identifier
            ),
        )
    )
    return tuple(attributes), names_moved


def _replaced(existing: ObjectRecord, replacement: str, now: int, *, names_moved: bool) -> ObjectRecord:
    """An existing half once replaced: a Replacement Object Link, without the names its new half
    took, Last Change Date now."""
    kept = without_attribute(existing.attributes, "Name") if names_moved else existing.attributes
    link = Link(link_type=LinkType.REPLACEMENT_OBJECT_LINK, linked_object_identifier=replacement)
    kept, _index = appended(replace_attribute(kept, "Last Change Date", now), "Link", link)
    return dataclasses.replace(existing, attributes=kept)


async def handle(ctx: OperationContext, payload: ReKeyKeyPairRequestPayload) -> ReKeyKeyPairResponsePayload:
    unique_identifier = required_identifier(payload.private_key_unique_identifier or ctx.id_placeholder)
    templates = pair_attributes(
        payload.common_template_attribute,
        payload.private_key_template_attribute,
        payload.public_key_template_attribute,
        Operation.RE_KEY_KEY_PAIR,
    )
    if payload.offset is not None and any(a.name in _DATES for a in (*templates.private, *templates.public)):
        raise InvalidMessage("Offset: not permitted together with the dates it computes")
    await check_names(ctx.objects, templates)
    for attempt in range(MAX_ATTEMPTS):
        private = await ctx.objects.load(unique_identifier, now=ctx.now)
        spec = _existing_spec(private)
        public = await _existing_public(ctx, private)
        new_private, new_public, moved = await _replacements(
            ctx, offset=payload.offset, templates=templates, spec=spec, private=private, public=public
        )
        private_replaced = _replaced(private, new_private.unique_identifier, ctx.now, names_moved=moved[0])
        public_replaced = _replaced(public, new_public.unique_identifier, ctx.now, names_moved=moved[1])
        try:
            await ctx.objects.write(
                inserts=(new_private, new_public),
                replaces=((private, private_replaced), (public, public_replaced)),
            )
        except DuplicateName:
            raise InvalidField("Name: an object with this name already exists") from None
        except ConcurrentModification:
            # An existing half changed since it was read (another Re-key Key Pair, a Modify...):
            # the replacements were derived from a stale copy; start over from what is stored now.
            if attempt + 1 == MAX_ATTEMPTS:
                raise
            continue
        ctx.id_placeholder = new_private.unique_identifier  # 4.5: the new Private Key's identifier
        return ReKeyKeyPairResponsePayload(
            private_key_unique_identifier=new_private.unique_identifier,
            public_key_unique_identifier=new_public.unique_identifier,
        )
    raise ConcurrentModification  # pragma: no cover - the loop returns or raises


async def _replacements(
    ctx: OperationContext,
    *,
    offset: int | None,
    templates: PairTemplates,
    spec: KeyPairSpec,
    private: ObjectRecord,
    public: ObjectRecord,
) -> tuple[ObjectRecord, ObjectRecord, tuple[bool, bool]]:
    """The replacement pair, linked to each other but not yet stored, and whether each new half
    took its existing half's names."""
    private_attributes, private_moved = _inherited(private, templates.private, offset, ctx.now)
    public_attributes, public_moved = _inherited(public, templates.public, offset, ctx.now)
    pair = await generate(spec)
    new_private, new_public = await pair_records(
        ctx, pair, spec, PairTemplates(private_attributes, public_attributes), Operation.RE_KEY_KEY_PAIR
    )
    return new_private, new_public, (private_moved, public_moved)


SPEC = HandlerSpec(
    operation=Operation.RE_KEY_KEY_PAIR,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
)
