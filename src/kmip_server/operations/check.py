"""Check (KMIP 1.4 section 4.10): may the client use the object as it says it intends to?

What is checked, each only when the request gives it:
- Cryptographic Usage Mask: every requested usage is in the object's mask, the object's state
  allows it (3.22: Active objects may be used for everything their mask allows; Deactivated and
  Compromised ones SHALL NOT apply protection, so only processing usages remain; Pre-Active and
  destroyed ones none), and its dates do too (3.25, 3.26: no processing before the Process
  Start Date, no protection after the Protect Stop Date). ``USAGES_BY_STATE`` and
  ``PROCESSING_USAGES`` are the tables, shared with every cryptographic operation
  (``crypto.usage``).
- Usage Limits Count: the object's remaining count (3.21) covers it; no Usage Limits, no limit.
- Lease Time: a lease that a batched Obtain Lease would grant (4.10): the object's state lets
  it be leased at all, and the lease asked is at most the object's Lease Time (3.20: the
  longest lease the server serves); an object without one (or with 0) needs no lease, so any
  is fine. The rules are Obtain Lease's own (``obtain_lease.lease_refusal``, ``granted_lease``).

Allowed: the response carries the Unique Identifier. Refused: Operation Failed, Permission
Denied (11.11), the message naming the attributes that caused the refusal, and the ID
Placeholder emptied so that the batched Get that usually follows cannot run (4.10). Section 4.10
also speaks of a response carrying those attributes; a failed batch item has no payload, and
the client is told to batch Check with Stop or Undo, which only a failure triggers, so the
refusal is a failure. An object that cannot be used cryptographically at all (Opaque Object)
is Illegal Operation (11.11 "Check cannot be performed on this object").
"""

from __future__ import annotations

from kmip_server.crypto.usage import PROCESSING_USAGES, USAGES_BY_STATE
from kmip_server.errors import IllegalOperation, PermissionDenied
from kmip_server.identity import Role
from kmip_server.model import CheckRequestPayload, CheckResponsePayload, UsageLimits
from kmip_server.model.attribute_table import ALL_CRYPTOGRAPHIC_OBJECTS
from kmip_server.objects import first_value
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.obtain_lease import granted_lease, lease_refusal
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation

__all__ = ["PROCESSING_USAGES", "SPEC", "USAGES_BY_STATE", "handle", "refusals"]


def _usage_refused(record: ObjectRecord, wanted: int, now: int) -> bool:
    mask = first_value(record.attributes, "Cryptographic Usage Mask")
    if not isinstance(mask, int) or mask & wanted != wanted:
        return True
    if wanted & ~USAGES_BY_STATE[record.state]:
        return True
    start = first_value(record.attributes, "Process Start Date")
    if wanted & PROCESSING_USAGES and isinstance(start, int) and now < start:
        return True
    stop = first_value(record.attributes, "Protect Stop Date")
    return bool(wanted & ~PROCESSING_USAGES) and isinstance(stop, int) and now > stop


def refusals(record: ObjectRecord, payload: CheckRequestPayload, now: int) -> list[str]:
    """The names of the request's fields that the object's use does not allow, in request order."""
    result: list[str] = []
    wanted = payload.cryptographic_usage_mask
    if wanted is not None and _usage_refused(record, int(wanted), now):
        result.append("Cryptographic Usage Mask")
    count = payload.usage_limits_count
    limits = first_value(record.attributes, "Usage Limits")
    if count is not None and isinstance(limits, UsageLimits):
        remaining = limits.usage_limits_count
        if remaining is None:
            remaining = limits.usage_limits_total
        if remaining is not None and count > remaining:
            result.append("Usage Limits Count")
    lease = payload.lease_time
    if lease is not None and _lease_refused(record, lease):
        result.append("Lease Time")
    return result


def _lease_refused(record: ObjectRecord, lease: int) -> bool:
    if lease_refusal(record) is not None:
        return True
    longest = granted_lease(record)
    return longest != 0 and lease > longest


async def handle(ctx: OperationContext, payload: CheckRequestPayload) -> CheckResponsePayload:
    record = await ctx.objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    if record.object_type not in ALL_CRYPTOGRAPHIC_OBJECTS:
        ctx.id_placeholder = None
        raise IllegalOperation("this object type is not used cryptographically")
    refused = refusals(record, payload, ctx.now)
    if refused:
        ctx.id_placeholder = None
        raise PermissionDenied("the object may not be used as checked: " + ", ".join(refused))
    return CheckResponsePayload(unique_identifier=record.unique_identifier)


SPEC = HandlerSpec(
    operation=Operation.CHECK,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
