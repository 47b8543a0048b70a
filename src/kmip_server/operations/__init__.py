"""KMIP operations: one module per operation, and the registry the engine dispatches through.

To add an operation: write ``operations/<name>.py`` with ``async def handle(ctx:
OperationContext, payload: XRequestPayload) -> XResponsePayload`` and a ``SPEC = HandlerSpec(...)``
(roles, whether it mutates, ID Placeholder use), then add the module's ``SPEC`` to ``REGISTRY``
below. An operation absent from ``REGISTRY`` is answered Operation Not Supported by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kmip_server.operations import (
    activate,
    add_attribute,
    check,
    create,
    create_key_pair,
    decrypt,
    delete_attribute,
    derive_key,
    destroy,
    discover_versions,
    encrypt,
    get,
    get_attribute_list,
    get_attributes,
    hash,
    locate,
    mac,
    mac_verify,
    modify_attribute,
    obtain_lease,
    query,
    register,
    rekey,
    rekey_key_pair,
    revoke,
    rng_retrieve,
    rng_seed,
    sign,
    signature_verify,
)
from kmip_server.operations.context import (
    Handler,
    HandlerSpec,
    OperationContext,
    ServerInfo,
    required_identifier,
)
from ttlv.kmip14 import Operation

__all__ = [
    "REGISTRY",
    "Handler",
    "HandlerSpec",
    "OperationContext",
    "ServerInfo",
    "required_identifier",
]

REGISTRY: Mapping[Operation, HandlerSpec] = MappingProxyType(
    {
        spec.operation: spec
        for spec in (
            create.SPEC,
            register.SPEC,
            get.SPEC,
            activate.SPEC,
            revoke.SPEC,
            destroy.SPEC,
            query.SPEC,
            discover_versions.SPEC,
            rekey.SPEC,
            locate.SPEC,
            check.SPEC,
            get_attributes.SPEC,
            get_attribute_list.SPEC,
            add_attribute.SPEC,
            modify_attribute.SPEC,
            delete_attribute.SPEC,
            obtain_lease.SPEC,
            encrypt.SPEC,
            decrypt.SPEC,
            mac.SPEC,
            mac_verify.SPEC,
            hash.SPEC,
            rng_retrieve.SPEC,
            rng_seed.SPEC,
            derive_key.SPEC,
            create_key_pair.SPEC,
            rekey_key_pair.SPEC,
            sign.SPEC,
            signature_verify.SPEC,
        )
    }
)
"""Operation -> its handler and rules: the only dispatch table of the engine."""
