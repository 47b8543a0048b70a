"""What every operation handler receives, and how a handler is described in the registry.

A handler is ``async def handle(ctx: OperationContext, payload: XRequestPayload) ->
XResponsePayload``. It raises ``kmip_server.errors.KmipError`` subclasses for failures (model
and hierarchy errors may pass through; the engine translates all of them in one place) and
never catches ``Exception`` broadly.

Invariants:
- ``ctx.objects`` is the caller's tenant scope; it exists only for tenant clients (anything else
  reaching it is Permission Denied), so a handler cannot name another tenant.
- ``ctx.now`` is the request's time (POSIX seconds), one value for the whole message: every
  date an operation sets within a batch is that time.
- ``ctx.crypto`` is what cryptographic operations share across requests of this Core process
  (their settings, the open streams of Init / Continue / Final); one per engine.
- ``ctx.id_placeholder`` is the batch's ID Placeholder (section 4). The engine fills a missing
  Unique Identifier from it for handlers registered with ``uses_id_placeholder`` and stores the
  response's Unique Identifier into it for those with ``sets_id_placeholder``; a handler with
  other needs (Locate: one match sets it, several empty it) assigns it itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kmip_server.crypto.services import CryptoServices
from kmip_server.errors import MissingData, PermissionDenied
from kmip_server.identity import Identity, Role
from kmip_server.model import CapabilityInformation, ProfileInformation, RNGParameters
from kmip_server.model.codec import Version
from kmip_server.objects import TenantObjects
from ttlv.item import Item
from ttlv.kmip14 import ObjectType, Operation

__all__ = ["Handler", "HandlerSpec", "OperationContext", "ServerInfo", "required_identifier"]

Handler = Callable[["OperationContext", Any], Awaitable[Any]]
"""``async def handle(ctx, payload) -> response payload``."""


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """One row of the operation registry."""

    operation: Operation
    handler: Handler
    roles: frozenset[Role]  # who may call it (Role.UNKNOWN never)
    mutates: bool  # changes stored objects (journaled, undone by Batch Error Continuation Undo)
    uses_id_placeholder: bool = False  # an omitted Unique Identifier is the ID Placeholder
    sets_id_placeholder: bool = False  # the response's Unique Identifier becomes the ID Placeholder


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What Query and Discover Versions report; built once by the engine."""

    vendor_identification: str
    server_information: Item | None
    operations: tuple[Operation, ...]
    object_types: tuple[ObjectType, ...]
    versions: tuple[Version, ...]
    profiles: tuple[ProfileInformation, ...]
    capabilities: CapabilityInformation
    rng_parameters: tuple[RNGParameters, ...]


@dataclass(slots=True)
class OperationContext:
    """The state one request message shares across its batch items. Mutable only in
    ``id_placeholder``."""

    identity: Identity
    version: Version  # the protocol version of the response
    now: int
    server: ServerInfo
    correlation: str  # this message's Server Correlation Value (also in logs and audit)
    scope: TenantObjects | None  # the caller's tenant objects (tenant clients only)
    id_placeholder: str | None = None
    crypto: CryptoServices = field(default_factory=CryptoServices)  # the engine passes its own

    @property
    def objects(self) -> TenantObjects:
        """The caller's tenant objects; Permission Denied for a caller that is no tenant client."""
        scope = self.scope
        if scope is None:
            raise PermissionDenied("this identity does not act for a tenant")
        return scope


def required_identifier(unique_identifier: str | None) -> str:
    """A request's Unique Identifier once the engine applied the ID Placeholder (never None for
    handlers registered with ``uses_id_placeholder``; Missing Data otherwise)."""
    if unique_identifier is None:
        raise MissingData("Unique Identifier missing and no ID Placeholder")
    return unique_identifier
