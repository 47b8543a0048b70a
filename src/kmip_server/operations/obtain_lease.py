"""Obtain Lease (KMIP 1.4 section 4.17): a new lease on a cryptographic object.

The lease granted is the object's Lease Time (3.20: "the maximum Lease Time it is able to
serve", set at creation from ``ObjectSettings.lease_time``); an object without one, or with 0,
is granted 0, which 4.17 defines as "no lease interval is effective": the client may use the
object without a lease limit. The response also carries the object's Last Change Date, so that
the client can tell whether what it cached is stale. Nothing is stored: a lease is the client's
to keep, and the server's policy is the attribute.

Refused with Permission Denied (11.18: "a new lease is not permitted to be issued for the
specified cryptographic object"), by ``LEASE_REFUSALS`` (one row per state, 3.22): objects that
may not be used for any cryptographic purpose, which are Pre-Active, Destroyed and Destroyed
Compromised ones; and objects that are not Managed Cryptographic Objects (Opaque Objects), which
have no Lease Time (3.20 applies to "All Cryptographic Objects"). Deactivated and Compromised
objects may still process protected data (decrypt, verify), so they are leased. An object of
another tenant is Item Not Found, as everywhere. Nothing is archived here, so Object Archived
(11.18) never occurs.

Check (4.10) asks the same questions when its request carries a Lease Time: ``lease_refusal``
and ``granted_lease`` are what it calls, so that a Check that passes means the batched Obtain
Lease after it will grant at least the lease checked.
"""

from __future__ import annotations

from kmip_server.errors import PermissionDenied
from kmip_server.identity import Role
from kmip_server.model import ObtainLeaseRequestPayload, ObtainLeaseResponsePayload
from kmip_server.model.attribute_table import ALL_CRYPTOGRAPHIC_OBJECTS
from kmip_server.objects import StoredObjectCorrupt, first_value
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation, State

__all__ = ["LEASE_REFUSALS", "SPEC", "granted_lease", "handle", "lease_refusal"]

LEASE_REFUSALS: dict[State, str | None] = {
    State.PRE_ACTIVE: "the object is Pre-Active and may not be used yet",
    State.ACTIVE: None,
    State.DEACTIVATED: None,  # may still process protected data (3.22)
    State.COMPROMISED: None,  # likewise, for clients trusted with compromised objects (3.22)
    State.DESTROYED: "the object is destroyed",
    State.DESTROYED_COMPROMISED: "the object is destroyed",
}
"""State -> why no lease is issued for an object in it, or None when one is (3.22)."""


def lease_refusal(record: ObjectRecord) -> str | None:
    """Why no lease may be issued for ``record`` now, or None."""
    if record.object_type not in ALL_CRYPTOGRAPHIC_OBJECTS:
        return "the object is not a cryptographic object and has no lease"
    return LEASE_REFUSALS[record.state]


def granted_lease(record: ObjectRecord) -> int:
    """The lease, in seconds, Obtain Lease grants on ``record`` (0: no lease limit, 4.17)."""
    lease = first_value(record.attributes, "Lease Time")
    return lease if isinstance(lease, int) else 0


async def handle(ctx: OperationContext, payload: ObtainLeaseRequestPayload) -> ObtainLeaseResponsePayload:
    record = await ctx.objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    refusal = lease_refusal(record)
    if refusal is not None:
        raise PermissionDenied(f"no lease is issued: {refusal}")
    last_change = first_value(record.attributes, "Last Change Date")
    if not isinstance(last_change, int):
        # Every creating operation sets it (3.38): a record without one is corrupt.
        raise StoredObjectCorrupt("a stored object has no Last Change Date")
    return ObtainLeaseResponsePayload(
        unique_identifier=record.unique_identifier,
        lease_time=granted_lease(record),
        last_change_date=last_change,
    )


SPEC = HandlerSpec(
    operation=Operation.OBTAIN_LEASE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
