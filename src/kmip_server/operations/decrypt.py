"""Decrypt (KMIP 1.4 section 4.30): decrypt data with a managed key, in one request or by parts.

- The key passes ``crypto.usage`` first: usage mask with Decrypt, Active, Deactivated or
  Compromised (3.22: those may still process protected data), after its Process Start Date.
  Decryption is not limited by Usage Limits (3.21).
- A Symmetric Key decrypts through ``crypto.symmetric``, a Private Key (RSA) through
  ``crypto.asymmetric``. A tag that does not verify, padding that does not strip, or any other
  failure of the cipher is Cryptographic Failure with one generic message (no oracle).
- By parts as Encrypt (``operations.encrypt``): GCM takes its tag and additional data with the
  first part (4.30) and verifies the tag when the final part arrives; the plaintext of earlier
  parts is returned before that verification, as the streaming form implies, so a client that
  needs authenticated plaintext decrypts in one request. RSA is single-part.
- Gateways decrypt only with a tenant's L3, unwrapping what their Encrypt wrapped
  (``operations.encrypt``, ``crypto.gateway``).
"""

from __future__ import annotations

from kmip_server.crypto import asymmetric
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.crypto.symmetric import (
    DecryptionStream,
    cipher_algorithm,
    start_decryption,
    symmetric_key_material,
)
from kmip_server.crypto.usage import Usage, use_key
from kmip_server.errors import FeatureNotSupported, PermissionDenied
from kmip_server.identity import Role
from kmip_server.model import DecryptRequestPayload, DecryptResponsePayload
from kmip_server.operations._cipher import resume_stream
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.encrypt import checked_data, gateway_access, refuse_gateway_fields
from ttlv.kmip14 import ObjectType, Operation

__all__ = ["SPEC", "handle"]


async def handle(ctx: OperationContext, payload: DecryptRequestPayload) -> DecryptResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    if ctx.identity.role is Role.GATEWAY:
        return await _gateway_unwrap(ctx, payload, unique_identifier)
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    data = checked_data(ctx, payload.data, part)
    if part is Part.SINGLE or part is Part.FIRST:
        return await _start(ctx, payload, unique_identifier, part, data)
    return await _continue(ctx, payload, unique_identifier, part, data)


async def _start(
    ctx: OperationContext, payload: DecryptRequestPayload, unique_identifier: str, part: Part, data: bytes
) -> DecryptResponsePayload:
    use = await use_key(
        ctx.objects,
        unique_identifier,
        Usage.DECRYPT,
        now=ctx.now,
        parameters=payload.cryptographic_parameters,
    )
    object_type = use.record.object_type
    if object_type in asymmetric.ASYMMETRIC_OBJECT_TYPES:
        if part is not Part.SINGLE:
            raise FeatureNotSupported("RSA decryption is single-part only")
        return DecryptResponsePayload(unique_identifier=unique_identifier, data=asymmetric.decrypt(use, data))
    if object_type is not ObjectType.SYMMETRIC_KEY:
        raise PermissionDenied("the object cannot be used for decryption: it is not a key")
    algorithm = cipher_algorithm(use.key_algorithm, use.parameters, payload.cryptographic_parameters)
    stream = start_decryption(
        algorithm,
        symmetric_key_material(use.managed_object),
        use.parameters,
        payload.iv_counter_nonce,
        aad=payload.authenticated_encryption_additional_data,
        tag=payload.authenticated_encryption_tag,
    )
    if part is Part.SINGLE:
        return DecryptResponsePayload(unique_identifier=unique_identifier, data=stream.finish(data))
    out = stream.update(data)
    correlation = ctx.crypto.streams.open(
        OpenStream(owner_of(ctx.identity), Operation.DECRYPT, unique_identifier, stream), ctx.now
    )
    return DecryptResponsePayload(
        unique_identifier=unique_identifier, data=out, correlation_value=correlation
    )


async def _continue(
    ctx: OperationContext, payload: DecryptRequestPayload, unique_identifier: str, part: Part, data: bytes
) -> DecryptResponsePayload:
    correlation = payload.correlation_value
    assert correlation is not None  # part_of returns MIDDLE or LAST only with one
    opened, stream, _record = await resume_stream(
        ctx,
        correlation,
        operation=Operation.DECRYPT,
        unique_identifier=unique_identifier,
        usage=Usage.DECRYPT,
        state_type=DecryptionStream,
        kind="a decryption",
    )
    if part is Part.LAST:
        return DecryptResponsePayload(unique_identifier=unique_identifier, data=stream.finish(data))
    out = stream.update(data)
    ctx.crypto.streams.put_back(correlation, opened, ctx.now)
    return DecryptResponsePayload(
        unique_identifier=unique_identifier, data=out, correlation_value=correlation
    )


async def _gateway_unwrap(
    ctx: OperationContext, payload: DecryptRequestPayload, unique_identifier: str
) -> DecryptResponsePayload:
    access, reference = gateway_access(ctx, unique_identifier)
    refuse_gateway_fields(payload)
    blob = checked_data(ctx, payload.data, Part.SINGLE)
    material = await access.unwrap(
        ctx.identity, reference, payload.authenticated_encryption_additional_data, blob
    )
    return DecryptResponsePayload(unique_identifier=unique_identifier, data=material)


SPEC = HandlerSpec(
    operation=Operation.DECRYPT,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT, Role.GATEWAY}),
    mutates=False,
    uses_id_placeholder=True,
)
