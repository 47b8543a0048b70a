"""Get Attribute List (KMIP 1.4 section 4.13): the names of the attributes the object has.

Each name once, in the order Get Attributes shows the attributes (Unique Identifier, Object
Type, State first); names the request's protocol version does not define are left out.
Destroyed objects answer with the attributes they kept.
"""

from __future__ import annotations

from kmip_server.attribute_policy import presented
from kmip_server.identity import Role
from kmip_server.model import GetAttributeListRequestPayload, GetAttributeListResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(
    ctx: OperationContext, payload: GetAttributeListRequestPayload
) -> GetAttributeListResponsePayload:
    record = await ctx.objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    names = tuple(dict.fromkeys(attribute.name for attribute in presented(record, ctx.version)))
    return GetAttributeListResponsePayload(unique_identifier=record.unique_identifier, attribute_names=names)


SPEC = HandlerSpec(
    operation=Operation.GET_ATTRIBUTE_LIST,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
