"""Add Attribute (KMIP 1.4 section 4.14): a new instance of an attribute, or the first value of
a single-instance one.

The rules (who may add what, to which object types, in which state; limits) are
``attribute_policy.added``'s; the errors follow 11.15. Adding a Name that the object or another
live object of the tenant already carries is Illegal Operation. The response carries the added
instance with its new Attribute Index (omitted when 0).
"""

from __future__ import annotations

from kmip_server.attribute_policy import DEFAULT_ATTRIBUTE_LIMITS, added
from kmip_server.errors import IllegalOperation
from kmip_server.identity import Role
from kmip_server.model import AddAttributeRequestPayload, AddAttributeResponsePayload, Attribute, Name
from kmip_server.operations.attribute_change import apply_change
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: AddAttributeRequestPayload) -> AddAttributeResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    attribute = payload.attribute

    def step(record: ObjectRecord) -> tuple[ObjectRecord, Attribute]:
        value = attribute.value
        if attribute.name == "Name" and isinstance(value, Name) and value.name_value in record.names:
            raise IllegalOperation("Name: the object already has this name")
        return added(record, attribute, version=ctx.version, now=ctx.now, limits=DEFAULT_ATTRIBUTE_LIMITS)

    answer = await apply_change(ctx, unique_identifier, step)
    return AddAttributeResponsePayload(unique_identifier=unique_identifier, attribute=answer)


SPEC = HandlerSpec(
    operation=Operation.ADD_ATTRIBUTE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
)
