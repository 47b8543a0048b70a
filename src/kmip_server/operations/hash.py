"""Hash (KMIP 1.4 section 4.37, since 1.2): the digest of data, in one request or by parts.

No managed object is involved: the Hashing Algorithm of the request's Cryptographic Parameters
names the hash (``crypto.mac.HASHES``: SHA-1, SHA-2, SHA-3). By parts as Encrypt: the stream
belongs to the caller (its Correlation Value means nothing to anyone else) and the Final
Indicator's response carries the digest.
"""

from __future__ import annotations

from kmip_server.crypto.mac import HashStream, start_hash
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.errors import GeneralFailure
from kmip_server.identity import Role
from kmip_server.model import HashRequestPayload, HashResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext
from kmip_server.operations.encrypt import checked_data
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: HashRequestPayload) -> HashResponsePayload:
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    data = checked_data(ctx, payload.data, part)
    streams = ctx.crypto.streams
    owner = owner_of(ctx.identity)
    if part is Part.SINGLE or part is Part.FIRST:
        stream = start_hash(payload.cryptographic_parameters.hashing_algorithm)
        if part is Part.SINGLE:
            return HashResponsePayload(data=stream.finish(data))
        stream.update(data)
        correlation = streams.open(OpenStream(owner, Operation.HASH, None, stream), ctx.now)
        return HashResponsePayload(correlation_value=correlation)
    continued = payload.correlation_value
    assert continued is not None  # part_of returns MIDDLE or LAST only with one
    opened = streams.take(
        continued, owner=owner, operation=Operation.HASH, unique_identifier=None, now=ctx.now
    )
    if not isinstance(opened.state, HashStream):
        raise GeneralFailure("the stream is not a hash")
    if part is Part.LAST:
        return HashResponsePayload(data=opened.state.finish(data))
    opened.state.update(data)
    streams.put_back(continued, opened, ctx.now)
    return HashResponsePayload(correlation_value=continued)


SPEC = HandlerSpec(
    operation=Operation.HASH,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
)
