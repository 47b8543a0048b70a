"""MAC Verify (KMIP 1.4 section 4.34): does a MAC match the data under a managed key?

The key passes ``crypto.usage`` for MAC Verify (Active, Deactivated or Compromised: 3.22 lets
those process protected data; after its Process Start Date; not limited by Usage Limits). The
MAC computed (``crypto.mac``, as the MAC operation computes it) is compared in constant time
with the MAC Data given: Validity Indicator Valid or Invalid, never an error for a mismatch.
By parts: the MAC Data may come with any part and is needed by the final one (Missing Data
otherwise); the Final Indicator's response carries the verdict.
"""

from __future__ import annotations

import dataclasses

from kmip_server.crypto.mac import MacStream, macs_equal
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.crypto.usage import Usage, check_usage
from kmip_server.errors import GeneralFailure, MissingData
from kmip_server.identity import Role
from kmip_server.model import MACRequestPayload, MACVerifyRequestPayload, MACVerifyResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.encrypt import checked_data
from kmip_server.operations.mac import mac_stream
from ttlv.kmip14 import Operation, ValidityIndicator

__all__ = ["SPEC", "handle"]


@dataclasses.dataclass(slots=True)
class _Verification:
    stream: MacStream
    mac_data: bytes | None


def _verdict(verification: _Verification, data: bytes) -> ValidityIndicator:
    if verification.mac_data is None:
        raise MissingData("MAC Data is required to verify")
    computed = verification.stream.finish(data)
    return (
        ValidityIndicator.VALID if macs_equal(computed, verification.mac_data) else ValidityIndicator.INVALID
    )


async def handle(ctx: OperationContext, payload: MACVerifyRequestPayload) -> MACVerifyResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    data = checked_data(ctx, payload.data, part)
    streams = ctx.crypto.streams
    owner = owner_of(ctx.identity)
    if part is Part.SINGLE or part is Part.FIRST:
        if part is Part.SINGLE and payload.mac_data is None:
            raise MissingData("MAC Data is required in a single-part request")
        request = MACRequestPayload(
            unique_identifier=unique_identifier, cryptographic_parameters=payload.cryptographic_parameters
        )
        stream = await mac_stream(ctx, unique_identifier, Usage.MAC_VERIFY, request, len(data))
        verification = _Verification(stream, payload.mac_data)
        if part is Part.SINGLE:
            return MACVerifyResponsePayload(
                unique_identifier=unique_identifier, validity_indicator=_verdict(verification, data)
            )
        stream.update(data)
        correlation = streams.open(
            OpenStream(owner, Operation.MAC_VERIFY, unique_identifier, verification), ctx.now
        )
        return MACVerifyResponsePayload(
            unique_identifier=unique_identifier,
            validity_indicator=ValidityIndicator.UNKNOWN,
            correlation_value=correlation,
        )
    continued = payload.correlation_value
    assert continued is not None  # part_of returns MIDDLE or LAST only with one
    opened = streams.take(
        continued,
        owner=owner,
        operation=Operation.MAC_VERIFY,
        unique_identifier=unique_identifier,
        now=ctx.now,
    )
    if not isinstance(opened.state, _Verification):
        raise GeneralFailure("the stream is not a MAC verification")
    verification = opened.state
    check_usage(await ctx.objects.load(unique_identifier, now=ctx.now), Usage.MAC_VERIFY, ctx.now)
    if payload.mac_data is not None:
        verification.mac_data = payload.mac_data
    if part is Part.LAST:
        return MACVerifyResponsePayload(
            unique_identifier=unique_identifier, validity_indicator=_verdict(verification, data)
        )
    verification.stream.update(data)
    streams.put_back(continued, opened, ctx.now)
    return MACVerifyResponsePayload(
        unique_identifier=unique_identifier,
        validity_indicator=ValidityIndicator.UNKNOWN,
        correlation_value=continued,
    )


SPEC = HandlerSpec(
    operation=Operation.MAC_VERIFY,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
