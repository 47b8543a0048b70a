"""Destroy (KMIP 1.4 section 4.21): the key material goes, the attributes stay.

Pre-Active and Deactivated -> Destroyed, Compromised -> Destroyed Compromised, Destroy Date set
to now; the stored L4 blob is dropped from the record. An Active object, or one already
destroyed, is Permission Denied (11.22, through ``lifecycle.REFUSALS``).
"""

from __future__ import annotations

from kmip_server.identity import Role
from kmip_server.lifecycle import Event
from kmip_server.model import DestroyRequestPayload, DestroyResponsePayload
from kmip_server.objects import transitioned
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: DestroyRequestPayload) -> DestroyResponsePayload:
    objects = ctx.objects
    record = await objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    await objects.save(record, transitioned(record, Event.DESTROY, ctx.now))
    return DestroyResponsePayload(unique_identifier=record.unique_identifier)


SPEC = HandlerSpec(
    operation=Operation.DESTROY,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
)
