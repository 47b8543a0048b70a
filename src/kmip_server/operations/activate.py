"""Activate (KMIP 1.4 section 4.19): Pre-Active -> Active, Activation Date set to now.

Any other state is Permission Denied (11.20, through ``lifecycle.REFUSALS``); an object without
a lifecycle (Opaque Object, Template) is Illegal Operation (11.20).
"""

from __future__ import annotations

from kmip_server.errors import IllegalOperation
from kmip_server.identity import Role
from kmip_server.lifecycle import Event
from kmip_server.model import ATTRIBUTES, ActivateRequestPayload, ActivateResponsePayload
from kmip_server.objects import transitioned
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: ActivateRequestPayload) -> ActivateResponsePayload:
    objects = ctx.objects
    record = await objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    if record.object_type not in ATTRIBUTES["State"].applies_to:
        raise IllegalOperation("this object type cannot be activated")
    await objects.save(record, transitioned(record, Event.ACTIVATE, ctx.now))
    return ActivateResponsePayload(unique_identifier=record.unique_identifier)


SPEC = HandlerSpec(
    operation=Operation.ACTIVATE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
)
