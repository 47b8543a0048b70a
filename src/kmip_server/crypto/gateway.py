"""The Gateway's path to a tenant's L3 (DESIGN section 3, L4 bullet): a Krypton Gateway keeps the
L4 keys of its workloads in its own vault, wrapped, and asks the Core to wrap and unwrap them
with the tenant's L3 through KMIP Encrypt and Decrypt. L3 never leaves the Core.

How a gateway names the L3 (``parse_l3_identifier``): the Unique Identifier
``l3:<tenant>:<service>``, each name in the identity charset (``[A-Za-z0-9][A-Za-z0-9._-]*``, at
most ``MAX_NAME_LENGTH``). It is not a managed object: no store holds it, so Get, Get Attributes,
Locate and every other operation of a tenant client find nothing by it (Item Not Found, like any
unknown identifier), and a gateway may call nothing but Encrypt and Decrypt with it.

Rules:
- Only gateway identities (``Role.GATEWAY``) use it, and only for the tenants their row of
  ``GatewaySettings.tenants`` lists (nothing by default). Anything else is Permission Denied
  with one message, whether the tenant exists or not.
- Encrypt: Data is the L4 key material; Authenticated Encryption Additional Data is REQUIRED and
  names the L4 object at the gateway (printable, at most ``MAX_OBJECT_ID_LENGTH`` bytes). The
  answer's Data is a wrapped blob of the format of DESIGN section 4 (``KeyHierarchy.wrap_l4``:
  AES-256-GCM under the service's current L3, the header as associated data), its object id
  ``gateway:<the AAD>``. That prefix keeps the gateway's blobs and the Core's own L4 blobs of
  managed objects (UUID object ids) apart: neither can be unwrapped as the other.
- Decrypt: Data is such a blob and the AAD the same object name; the answer is the material.
  Any failure to unwrap (another tenant's or service's blob, another object name, a changed
  byte, an L3 version retired) is Cryptographic Failure with one message (no oracle).
- Cryptographic Parameters, IV and tag fields are not used: the blob format fixes them. A
  request that sets any is Invalid Field, so a client cannot believe it chose something.
- The tenant's state gates everything, as for every L4 operation: sealed, unlinked (the
  kill-switch) or locked by L1, the wrap and unwrap fail with the hierarchy's own errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kmip_server.errors import CryptographicFailure, InvalidField, MissingData, PermissionDenied
from kmip_server.hierarchy import KeyHierarchy, UnwrapFailed
from kmip_server.identity import Identity, Role
from unseal.memory import zeroize

__all__ = [
    "GATEWAY_OBJECT_PREFIX",
    "L3_IDENTIFIER_PREFIX",
    "MAX_NAME_LENGTH",
    "MAX_OBJECT_ID_LENGTH",
    "GatewayAccess",
    "GatewaySettings",
    "L3Reference",
    "l3_identifier",
    "parse_l3_identifier",
]

L3_IDENTIFIER_PREFIX = "l3:"
GATEWAY_OBJECT_PREFIX = "gateway:"
MAX_NAME_LENGTH = 64
MAX_OBJECT_ID_LENGTH = 255
_NAME = re.compile(f"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}")
_OBJECT_ID = re.compile(f"[!-~]{{1,{MAX_OBJECT_ID_LENGTH}}}")  # printable ASCII, no space
_REFUSED = "this identity may not use this tenant's keys"


@dataclass(frozen=True, slots=True)
class L3Reference:
    tenant: str
    service: str


def parse_l3_identifier(unique_identifier: str) -> L3Reference | None:
    """The tenant and service an ``l3:<tenant>:<service>`` identifier names, or None when the
    identifier is not of that form (then it is an ordinary Unique Identifier)."""
    if not unique_identifier.startswith(L3_IDENTIFIER_PREFIX):
        return None
    parts = unique_identifier[len(L3_IDENTIFIER_PREFIX) :].split(":")
    if len(parts) != 2 or not all(_NAME.fullmatch(part) for part in parts):
        return None
    return L3Reference(parts[0], parts[1])


def l3_identifier(tenant: str, service: str) -> str:
    return f"{L3_IDENTIFIER_PREFIX}{tenant}:{service}"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    tenants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Gateway name (its SPIFFE ID's name) -> the tenants it serves. Empty: no gateway may use
    any tenant's L3."""


class GatewayAccess:
    """Wraps and unwraps L4 material with a tenant's L3 for the gateways that serve it."""

    __slots__ = ("_hierarchy", "settings")

    def __init__(self, hierarchy: KeyHierarchy, settings: GatewaySettings) -> None:
        self._hierarchy = hierarchy
        self.settings = settings

    def _check(self, identity: Identity, reference: L3Reference, object_name: bytes | None) -> str:
        if identity.role is not Role.GATEWAY or identity.gateway is None:
            raise PermissionDenied(_REFUSED)
        if reference.tenant not in self.settings.tenants.get(identity.gateway, frozenset()):
            raise PermissionDenied(_REFUSED)
        if object_name is None:
            raise MissingData("the L4 object's name is required as Authenticated Encryption Additional Data")
        try:
            text = object_name.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if not _OBJECT_ID.fullmatch(text):
            raise InvalidField(
                f"the L4 object's name must be 1 to {MAX_OBJECT_ID_LENGTH} printable ASCII bytes"
            )
        return GATEWAY_OBJECT_PREFIX + text

    async def wrap(
        self, identity: Identity, reference: L3Reference, object_name: bytes | None, material: bytes
    ) -> bytes:
        """``material`` wrapped under the service's current L3, bound to the object name."""
        object_id = self._check(identity, reference, object_name)
        return await self._hierarchy.wrap_l4_async(reference.tenant, reference.service, object_id, material)

    async def unwrap(
        self, identity: Identity, reference: L3Reference, object_name: bytes | None, blob: bytes
    ) -> bytes:
        """The material of a blob ``wrap`` made for the same tenant, service and object name."""
        object_id = self._check(identity, reference, object_name)
        try:
            plain = await self._hierarchy.unwrap_l4_async(
                reference.tenant, reference.service, object_id, blob
            )
        except UnwrapFailed:
            raise CryptographicFailure("decryption failed") from None
        try:
            return bytes(plain)
        finally:
            zeroize(plain)
