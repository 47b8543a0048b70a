"""Encrypt (KMIP 1.4 section 4.29): encrypt data with a managed key, in one request or by parts.

- The key passes ``crypto.usage`` first (usage mask with Encrypt, Active, before its Protect
  Stop Date; Usage Limits allocated by the bytes of each part when the unit is Byte, or one per
  operation), then the cipher follows the resolved Cryptographic Parameters
  (``crypto.usage.resolve_parameters``): a Symmetric Key through ``crypto.symmetric``, a Public
  Key (RSA) through ``crypto.asymmetric``.
- By parts (2.1.15-2.1.17): Init Indicator opens a stream, answered with the data encrypted so
  far and a Correlation Value; each later request carries it (and the same Unique Identifier);
  the one with Final Indicator returns the rest and, for GCM, the tag. Every part checks the
  key again (a key revoked mid-stream stops the stream) and allocates its own Usage Limits.
  Streams are ``ctx.crypto.streams``: owned by the caller, bounded, expiring. RSA is single-part.
- Random IV: a generated IV is returned in the first (or only) response.
- GCM needs KMIP 1.4 (``AUTHENTICATED_ENCRYPTION_SINCE``): before it no field carries the tag.
- Data is at most ``CryptoSettings.max_data_length`` bytes per request (Invalid Field beyond).
- Gateways (``Role.GATEWAY``) encrypt only with a tenant's L3, named ``l3:<tenant>:<service>``,
  single-part, to wrap the L4 keys of their vault (``crypto.gateway``).
"""

from __future__ import annotations

from kmip_server.crypto import asymmetric
from kmip_server.crypto.gateway import GatewayAccess, L3Reference, parse_l3_identifier
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.crypto.symmetric import (
    AUTHENTICATED_MODES,
    EncryptionStream,
    cipher_algorithm,
    start_encryption,
    symmetric_key_material,
)
from kmip_server.crypto.usage import Usage, allocate_usage, use_key
from kmip_server.errors import (
    FeatureNotSupported,
    InvalidField,
    MissingData,
    PermissionDenied,
)
from kmip_server.identity import Role
from kmip_server.model import DecryptRequestPayload, EncryptRequestPayload, EncryptResponsePayload
from kmip_server.operations._cipher import resume_stream
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from ttlv.kmip14 import ObjectType, Operation

__all__ = [
    "AUTHENTICATED_ENCRYPTION_SINCE",
    "SPEC",
    "checked_data",
    "gateway_access",
    "handle",
    "refuse_gateway_fields",
]

AUTHENTICATED_ENCRYPTION_SINCE = (1, 4)
"""The Authenticated Encryption Tag and Additional Data fields exist from KMIP 1.4 (2.1.22,
2.1.23): an earlier response could not carry the tag, so GCM is refused rather than answered
with a ciphertext nobody can verify."""


def checked_data(ctx: OperationContext, data: bytes | None, part: Part) -> bytes:
    """The request's Data: required in a single-part request, bounded in every request."""
    if data is None:
        if part is Part.SINGLE:
            raise MissingData("Data is required in a single-part request")
        return b""
    limit = ctx.crypto.settings.max_data_length
    if len(data) > limit:
        raise InvalidField(f"Data is longer than this server's limit of {limit} bytes per request")
    return data


async def handle(ctx: OperationContext, payload: EncryptRequestPayload) -> EncryptResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    if ctx.identity.role is Role.GATEWAY:
        return await _gateway_wrap(ctx, payload, unique_identifier)
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    data = checked_data(ctx, payload.data, part)
    if part is Part.SINGLE or part is Part.FIRST:
        return await _start(ctx, payload, unique_identifier, part, data)
    return await _continue(ctx, payload, unique_identifier, part, data)


async def _start(
    ctx: OperationContext, payload: EncryptRequestPayload, unique_identifier: str, part: Part, data: bytes
) -> EncryptResponsePayload:
    use = await use_key(
        ctx.objects,
        unique_identifier,
        Usage.ENCRYPT,
        now=ctx.now,
        parameters=payload.cryptographic_parameters,
        data_length=len(data),
    )
    object_type = use.record.object_type
    if object_type in asymmetric.ASYMMETRIC_OBJECT_TYPES:
        if part is not Part.SINGLE:
            raise FeatureNotSupported("RSA encryption is single-part only")
        return EncryptResponsePayload(unique_identifier=unique_identifier, data=asymmetric.encrypt(use, data))
    if object_type is not ObjectType.SYMMETRIC_KEY:
        raise PermissionDenied("the object cannot be used for encryption: it is not a key")
    algorithm = cipher_algorithm(use.key_algorithm, use.parameters, payload.cryptographic_parameters)
    if (
        ctx.version < AUTHENTICATED_ENCRYPTION_SINCE
        and use.parameters.block_cipher_mode in AUTHENTICATED_MODES
    ):
        raise FeatureNotSupported(
            "authenticated encryption needs KMIP 1.4: earlier versions cannot carry its tag"
        )
    stream, generated_iv = start_encryption(
        algorithm,
        symmetric_key_material(use.managed_object),
        use.parameters,
        payload.iv_counter_nonce,
        aad=payload.authenticated_encryption_additional_data,
    )
    if part is Part.SINGLE:
        out, tag = stream.finish(data)
        return EncryptResponsePayload(
            unique_identifier=unique_identifier,
            data=out,
            iv_counter_nonce=generated_iv,
            authenticated_encryption_tag=tag,
        )
    out = stream.update(data)
    correlation = ctx.crypto.streams.open(
        OpenStream(owner_of(ctx.identity), Operation.ENCRYPT, unique_identifier, stream), ctx.now
    )
    return EncryptResponsePayload(
        unique_identifier=unique_identifier,
        data=out,
        iv_counter_nonce=generated_iv,
        correlation_value=correlation,
    )


async def _continue(
    ctx: OperationContext, payload: EncryptRequestPayload, unique_identifier: str, part: Part, data: bytes
) -> EncryptResponsePayload:
    correlation = payload.correlation_value
    assert correlation is not None  # part_of returns MIDDLE or LAST only with one
    opened, stream, record = await resume_stream(
        ctx,
        correlation,
        operation=Operation.ENCRYPT,
        unique_identifier=unique_identifier,
        usage=Usage.ENCRYPT,
        state_type=EncryptionStream,
        kind="an encryption",
    )
    await allocate_usage(ctx.objects, record, Usage.ENCRYPT, now=ctx.now, data_length=len(data))
    if part is Part.LAST:
        out, tag = stream.finish(data)
        return EncryptResponsePayload(
            unique_identifier=unique_identifier, data=out, authenticated_encryption_tag=tag
        )
    out = stream.update(data)
    ctx.crypto.streams.put_back(correlation, opened, ctx.now)
    return EncryptResponsePayload(
        unique_identifier=unique_identifier, data=out, correlation_value=correlation
    )


def gateway_access(ctx: OperationContext, unique_identifier: str) -> tuple[GatewayAccess, L3Reference]:
    """The L3 a gateway's request names (``crypto.gateway``); Permission Denied for anything else
    (a gateway has no managed objects of its own)."""
    reference = parse_l3_identifier(unique_identifier)
    access = ctx.crypto.gateway
    if reference is None or access is None:
        raise PermissionDenied("a gateway may only use a tenant's L3 (l3:<tenant>:<service>)")
    return access, reference


def refuse_gateway_fields(payload: EncryptRequestPayload | DecryptRequestPayload) -> None:
    """The blob format fixes the cipher: fields that would choose one are refused."""
    chosen = (
        payload.cryptographic_parameters,
        payload.iv_counter_nonce,
        payload.correlation_value,
        payload.init_indicator,
        payload.final_indicator,
        getattr(payload, "authenticated_encryption_tag", None),
    )
    if any(value is not None for value in chosen):
        raise InvalidField("the L3 wrap takes Data and the object's name (Additional Data) only")


async def _gateway_wrap(
    ctx: OperationContext, payload: EncryptRequestPayload, unique_identifier: str
) -> EncryptResponsePayload:
    access, reference = gateway_access(ctx, unique_identifier)
    refuse_gateway_fields(payload)
    data = checked_data(ctx, payload.data, Part.SINGLE)
    blob = await access.wrap(ctx.identity, reference, payload.authenticated_encryption_additional_data, data)
    return EncryptResponsePayload(unique_identifier=unique_identifier, data=blob)


SPEC = HandlerSpec(
    operation=Operation.ENCRYPT,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT, Role.GATEWAY}),
    mutates=True,  # Usage Limits allocation
    uses_id_placeholder=True,
)
