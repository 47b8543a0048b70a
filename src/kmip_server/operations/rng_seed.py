"""RNG Seed (KMIP 1.4 section 4.36): seeding material for the server's generator, used as
``RngSettings.seed_policy`` says (``crypto.rng.seed``: ignored and 0 reported by default, as
4.36 allows; mixed into the OS pool; or refused). The response's Data Length is the number of
bytes used."""

from __future__ import annotations

from kmip_server.crypto.rng import seed
from kmip_server.identity import Role
from kmip_server.model import RNGSeedRequestPayload, RNGSeedResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: RNGSeedRequestPayload) -> RNGSeedResponsePayload:
    return RNGSeedResponsePayload(data_length=seed(payload.data, ctx.crypto.settings.rng))


SPEC = HandlerSpec(
    operation=Operation.RNG_SEED,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
)
