"""RNG Retrieve (KMIP 1.4 section 4.35): random bytes from the server's generator
(``crypto.rng``: the operating system's CSPRNG, at most ``RngSettings.max_retrieve_length``)."""

from __future__ import annotations

from kmip_server.crypto.rng import random_bytes
from kmip_server.identity import Role
from kmip_server.model import RNGRetrieveRequestPayload, RNGRetrieveResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: RNGRetrieveRequestPayload) -> RNGRetrieveResponsePayload:
    return RNGRetrieveResponsePayload(data=random_bytes(payload.data_length, ctx.crypto.settings.rng))


SPEC = HandlerSpec(
    operation=Operation.RNG_RETRIEVE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
)
