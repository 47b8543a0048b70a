"""MAC (KMIP 1.4 section 4.33): a MAC of data with a managed key, in one request or by parts.

The key passes ``crypto.usage`` (usage mask with MAC Generate, Active, before its Protect Stop
Date; Usage Limits by the bytes of each part when the unit is Byte, else one per operation);
the MAC is the one the resolved Cryptographic Parameters name (``crypto.mac.mac_method``: an
HMAC algorithm, or Block Cipher Mode CMAC with an AES key). By parts as Encrypt: Init Indicator
opens a stream (no MAC Data yet), the Final Indicator's response carries the MAC.
"""

from __future__ import annotations

from kmip_server.crypto.mac import MacStream, mac_method, start_mac
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.crypto.symmetric import symmetric_key_material
from kmip_server.crypto.usage import Usage, allocate_usage, check_usage, use_key
from kmip_server.errors import GeneralFailure, PermissionDenied
from kmip_server.identity import Role
from kmip_server.model import MACRequestPayload, MACResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.encrypt import checked_data
from ttlv.kmip14 import ObjectType, Operation

__all__ = ["SPEC", "handle", "mac_stream"]


async def mac_stream(
    ctx: OperationContext,
    unique_identifier: str,
    usage: Usage,
    payload: MACRequestPayload,
    data_length: int,
) -> MacStream:
    """A MAC stream over the key ``unique_identifier`` once it passed the usage gate for ``usage``
    (MAC Generate or MAC Verify)."""
    use = await use_key(
        ctx.objects,
        unique_identifier,
        usage,
        now=ctx.now,
        parameters=payload.cryptographic_parameters,
        data_length=data_length,
    )
    if use.record.object_type is not ObjectType.SYMMETRIC_KEY:
        raise PermissionDenied("the object cannot be used for MACing: it is not a symmetric key")
    key = symmetric_key_material(use.managed_object)
    return start_mac(mac_method(use.parameters, use.key_algorithm, key), key)


async def handle(ctx: OperationContext, payload: MACRequestPayload) -> MACResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    data = checked_data(ctx, payload.data, part)
    streams = ctx.crypto.streams
    owner = owner_of(ctx.identity)
    if part is Part.SINGLE or part is Part.FIRST:
        stream = await mac_stream(ctx, unique_identifier, Usage.MAC_GENERATE, payload, len(data))
        if part is Part.SINGLE:
            return MACResponsePayload(unique_identifier=unique_identifier, mac_data=stream.finish(data))
        stream.update(data)
        correlation = streams.open(OpenStream(owner, Operation.MAC, unique_identifier, stream), ctx.now)
        return MACResponsePayload(unique_identifier=unique_identifier, correlation_value=correlation)
    continued = payload.correlation_value
    assert continued is not None  # part_of returns MIDDLE or LAST only with one
    opened = streams.take(
        continued, owner=owner, operation=Operation.MAC, unique_identifier=unique_identifier, now=ctx.now
    )
    if not isinstance(opened.state, MacStream):
        raise GeneralFailure("the stream is not a MAC")
    record = await ctx.objects.load(unique_identifier, now=ctx.now)
    check_usage(record, Usage.MAC_GENERATE, ctx.now)
    await allocate_usage(ctx.objects, record, Usage.MAC_GENERATE, now=ctx.now, data_length=len(data))
    if part is Part.LAST:
        return MACResponsePayload(unique_identifier=unique_identifier, mac_data=opened.state.finish(data))
    opened.state.update(data)
    streams.put_back(continued, opened, ctx.now)
    return MACResponsePayload(unique_identifier=unique_identifier, correlation_value=continued)


SPEC = HandlerSpec(
    operation=Operation.MAC,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,  # Usage Limits allocation
    uses_id_placeholder=True,
)
