"""Delete Attribute (KMIP 1.4 section 4.16): remove one attribute instance (Attribute Index 0
when the request gives none); the other instances keep their indices (2.1.1).

The rules are ``attribute_policy.deleted``'s; the errors follow 11.17: an attribute that is
always REQUIRED or read-only is Permission Denied, a name or index the object lacks Item Not
Found. The response carries the deleted instance.
"""

from __future__ import annotations

from kmip_server.attribute_policy import deleted
from kmip_server.identity import Role
from kmip_server.model import Attribute, DeleteAttributeRequestPayload, DeleteAttributeResponsePayload
from kmip_server.operations.attribute_change import apply_change
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(
    ctx: OperationContext, payload: DeleteAttributeRequestPayload
) -> DeleteAttributeResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)

    def step(record: ObjectRecord) -> tuple[ObjectRecord, Attribute]:
        return deleted(
            record, payload.attribute_name, payload.attribute_index, version=ctx.version, now=ctx.now
        )

    answer = await apply_change(ctx, unique_identifier, step, gives_value=False)
    return DeleteAttributeResponsePayload(unique_identifier=unique_identifier, attribute=answer)


SPEC = HandlerSpec(
    operation=Operation.DELETE_ATTRIBUTE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
)
