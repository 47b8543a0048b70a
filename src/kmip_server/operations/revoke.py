"""Revoke (KMIP 1.4 section 4.20).

Key Compromise or CA Compromise: -> Compromised (Destroyed -> Destroyed Compromised), Compromise
Date set to now, Compromise Occurrence Date set to the request's or, without one, to the
object's Initial Date. Any other reason: Active -> Deactivated, Deactivation Date set to now.
Both record the Revocation Reason. A Compromise Occurrence Date with another reason is Invalid
Field (the request SHALL NOT carry one); transitions the state machine does not have are
Illegal Operation (``lifecycle.REFUSALS``). Templates cannot be revoked (none are stored).
"""

from __future__ import annotations

import dataclasses

from kmip_server.errors import InvalidField
from kmip_server.identity import Role
from kmip_server.lifecycle import Event, revocation_event
from kmip_server.model import RevokeRequestPayload, RevokeResponsePayload
from kmip_server.objects import first_value, replace_attribute, transitioned
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: RevokeRequestPayload) -> RevokeResponsePayload:
    event = revocation_event(payload.revocation_reason.revocation_reason_code)
    if event is Event.REVOKE and payload.compromise_occurrence_date is not None:
        raise InvalidField("Compromise Occurrence Date: only with a compromise revocation reason")
    objects = ctx.objects
    record = await objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    after = transitioned(record, event, ctx.now)
    attributes = replace_attribute(after.attributes, "Revocation Reason", payload.revocation_reason)
    if event is Event.REVOKE_COMPROMISED:
        occurred = payload.compromise_occurrence_date
        if occurred is None:
            initial = first_value(record.attributes, "Initial Date")
            occurred = initial if isinstance(initial, int) else ctx.now
        attributes = replace_attribute(attributes, "Compromise Occurrence Date", occurred)
    await objects.save(record, dataclasses.replace(after, attributes=attributes))
    return RevokeResponsePayload(unique_identifier=record.unique_identifier)


SPEC = HandlerSpec(
    operation=Operation.REVOKE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    uses_id_placeholder=True,
)
