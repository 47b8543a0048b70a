"""Query (KMIP 1.4 section 4.25): what this server supports.

Each Query Function adds its fields; functions for features this server does not have
(application namespaces, extensions, attestation, validations, client registration methods)
add nothing, which section 4.25 allows ("if the server supports any"). Operations are those of
the registry that the message's protocol version defines.
"""

from __future__ import annotations

from typing import Any

from kmip_server.identity import Role
from kmip_server.model import OPERATIONS, QueryRequestPayload, QueryResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext
from ttlv.kmip14 import Operation, QueryFunction

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: QueryRequestPayload) -> QueryResponsePayload:
    functions = frozenset(payload.query_functions)
    server = ctx.server
    answers: dict[QueryFunction, dict[str, Any]] = {
        QueryFunction.QUERY_OPERATIONS: {
            "operations": tuple(op for op in server.operations if OPERATIONS[op].since <= ctx.version)
        },
        QueryFunction.QUERY_OBJECTS: {"object_types": server.object_types},
        QueryFunction.QUERY_SERVER_INFORMATION: {
            "vendor_identification": server.vendor_identification,
            "server_information": server.server_information,
        },
        QueryFunction.QUERY_RNGS: {"rng_parameters": server.rng_parameters},
        QueryFunction.QUERY_PROFILES: {"profile_information": server.profiles},
        QueryFunction.QUERY_CAPABILITIES: {"capability_information": (server.capabilities,)},
    }
    fields: dict[str, Any] = {}
    for function, answer in answers.items():
        if function in functions:
            fields.update(answer)
    return QueryResponsePayload(**fields)


SPEC = HandlerSpec(
    operation=Operation.QUERY,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT, Role.GATEWAY, Role.OPERATOR}),
    mutates=False,
)
