"""Discover Versions (KMIP 1.4 section 4.26): the protocol versions both sides support.

The server's versions in its order of preference (1.4 first). With a list from the client,
only those in both lists, in the server's order; an empty answer when none is shared. Without
a list, all of the server's versions.
"""

from __future__ import annotations

from kmip_server.identity import Role
from kmip_server.model import DiscoverVersionsRequestPayload, DiscoverVersionsResponsePayload, ProtocolVersion
from kmip_server.operations.context import HandlerSpec, OperationContext
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "handle"]


async def handle(
    ctx: OperationContext, payload: DiscoverVersionsRequestPayload
) -> DiscoverVersionsResponsePayload:
    offered = {version.version for version in payload.protocol_versions}
    versions = [v for v in ctx.server.versions if not offered or v in offered]
    return DiscoverVersionsResponsePayload(
        protocol_versions=tuple(ProtocolVersion(major=major, minor=minor) for major, minor in versions)
    )


SPEC = HandlerSpec(
    operation=Operation.DISCOVER_VERSIONS,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT, Role.GATEWAY, Role.OPERATOR}),
    mutates=False,
)
