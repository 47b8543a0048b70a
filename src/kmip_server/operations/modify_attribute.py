"""Modify Attribute (KMIP 1.4 section 4.15): a new value for an existing attribute instance
(Attribute Index 0 when the request gives none).

The rules are ``attribute_policy.modified``'s; the errors follow 11.16 (SKLC-M-3: a new
Activation Date for an Active key is Permission Denied). Setting a Name another live object of
the tenant carries is Illegal Operation. A new Activation or Deactivation Date that has passed
moves the object to Active or Deactivated at once (3.22 transitions 4 and 6).
"""

from __future__ import annotations

from kmip_server.attribute_policy import DEFAULT_ATTRIBUTE_LIMITS, index_of, modified
from kmip_server.errors import IllegalOperation
from kmip_server.identity import Role
from kmip_server.model import Attribute, ModifyAttributeRequestPayload, ModifyAttributeResponsePayload, Name
from kmip_server.operations.attribute_change import apply_change
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(
    ctx: OperationContext, payload: ModifyAttributeRequestPayload
) -> ModifyAttributeResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    attribute = payload.attribute

    def step(record: ObjectRecord) -> tuple[ObjectRecord, Attribute]:
        value = attribute.value
        if attribute.name == "Name" and isinstance(value, Name):
            index = attribute.index or 0
            others = [
                a.value
                for a, at in zip(record.attributes, index_of(record.attributes), strict=True)
                if a.name == "Name" and at != index
            ]
            if any(isinstance(other, Name) and other.name_value == value.name_value for other in others):
                raise IllegalOperation("Name: the object already has this name")
        return modified(record, attribute, version=ctx.version, now=ctx.now, limits=DEFAULT_ATTRIBUTE_LIMITS)

    answer = await apply_change(ctx, unique_identifier, step)
    return ModifyAttributeResponsePayload(unique_identifier=unique_identifier, attribute=answer)


SPEC = HandlerSpec(
    operation=Operation.MODIFY_ATTRIBUTE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
)
