"""Get Attributes (KMIP 1.4 section 4.12): the object's attributes, those named or all.

- Named attributes come in the order the request names them, every instance of each with its
  Attribute Index; a name the object has no value for (or that names no attribute at all) is
  simply absent from the response (4.12), so a request naming only such names is answered with
  the Unique Identifier alone. A name given twice is Invalid Message (11.13).
- Without names, every attribute: Unique Identifier, Object Type and State first, then the
  stored ones (``attribute_policy.presented``). Attributes that the request's protocol version
  does not define are not shown.
- Destroyed objects answer with the attributes they kept (4.21).
"""

from __future__ import annotations

from kmip_server.attribute_policy import presented
from kmip_server.errors import InvalidMessage
from kmip_server.identity import Role
from kmip_server.model import Attribute, GetAttributesRequestPayload, GetAttributesResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: GetAttributesRequestPayload) -> GetAttributesResponsePayload:
    names = payload.attribute_names
    if len(frozenset(names)) != len(names):
        raise InvalidMessage("Attribute Name: the same name is given more than once")
    record = await ctx.objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    shown = presented(record, ctx.version)
    if names:
        by_name: dict[str, list[Attribute]] = {}
        for attribute in shown:
            by_name.setdefault(attribute.name, []).append(attribute)
        shown = tuple(attribute for name in names for attribute in by_name.get(name, ()))
    return GetAttributesResponsePayload(unique_identifier=record.unique_identifier, attributes=shown)


SPEC = HandlerSpec(
    operation=Operation.GET_ATTRIBUTES,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
