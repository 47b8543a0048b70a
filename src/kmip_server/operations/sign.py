"""Sign (KMIP 1.4 section 4.31): sign data with a managed Private Key, in one request or by parts.

- The key passes ``crypto.usage`` first: usage mask with Sign, Active (Deactivated and
  Compromised keys SHALL NOT apply protection, 3.22), before its Protect Stop Date, and a Usage
  Limits allocation for the bytes signed (or one operation). Only a Private Key signs; any other
  object, or parameters naming an algorithm the key is not, is Permission Denied (11.32).
- The signature method comes from the resolved Cryptographic Parameters (the request's fields,
  the rest from the key's first Cryptographic Parameters attribute, ``crypto.usage``) through
  ``crypto.asymmetric.signature_method``: RSA PKCS#1 v1.5, RSA-PSS, ECDSA (DER signatures).
- Data or Digested Data (the hash already computed, of the method's hash length), not both.
- By parts (2.1.15-2.1.17): Init Indicator opens a stream of Data (never Digested Data) that is
  hashed as it comes; each later part carries the Correlation Value and the same Unique
  Identifier, checks the key again and allocates its own Usage Limits; the part with Final
  Indicator signs the hash and returns the Signature Data. Streams are ``ctx.crypto.streams``
  (owned by the caller, bounded, expiring), shared with the symmetric operations.
- Data is at most ``CryptoSettings.max_data_length`` bytes per request (Invalid Field beyond).
"""

from __future__ import annotations

from kmip_server.crypto import asymmetric
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.crypto.usage import KeyUse, Usage, allocate_usage, check_usage, use_key
from kmip_server.errors import GeneralFailure, InvalidField, MissingData
from kmip_server.identity import Role
from kmip_server.model import CryptographicParameters, SignRequestPayload, SignResponsePayload
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation

__all__ = ["SPEC", "continue_stream", "handle", "message_of"]


def message_of(ctx: OperationContext, data: bytes | None, digested: bytes | None, part: Part) -> bytes:
    """What a Sign or Signature Verify request carries to sign: its Data or Digested Data (one,
    required in a single-part request; only Data by parts), bounded in size."""
    if data is not None and digested is not None:
        raise InvalidField("Data and Digested Data: give one of them, not both")
    if digested is not None and part is not Part.SINGLE:
        raise InvalidField("Digested Data: only in a single-part request")
    message = data if data is not None else digested
    if message is None:
        if part is Part.SINGLE:
            raise MissingData("Data or Digested Data is required in a single-part request")
        return b""
    limit = ctx.crypto.settings.max_data_length
    if len(message) > limit:
        raise InvalidField(f"Data is longer than this server's limit of {limit} bytes per request")
    return message


async def open_key(
    ctx: OperationContext,
    unique_identifier: str,
    usage: Usage,
    parameters: CryptographicParameters | None,
    length: int,
) -> KeyUse:
    """The key cleared for ``usage`` (first or only part)."""
    return await use_key(
        ctx.objects, unique_identifier, usage, now=ctx.now, parameters=parameters, data_length=length
    )


async def continue_stream(
    ctx: OperationContext,
    *,
    operation: Operation,
    usage: Usage,
    unique_identifier: str,
    correlation: bytes,
    data: bytes,
) -> tuple[OpenStream, asymmetric.SignatureStream, ObjectRecord]:
    """Take the caller's stream for one more part (Item Not Found for anything but theirs, for
    this operation and key), check the key again and allocate this part's Usage Limits, and feed
    it ``data``. Returns the stream as taken, its state and the key's record (after the
    allocation); the caller puts the stream back unless the part is the last."""
    opened = ctx.crypto.streams.take(
        correlation,
        owner=owner_of(ctx.identity),
        operation=operation,
        unique_identifier=unique_identifier,
        now=ctx.now,
    )
    stream = opened.state
    if not isinstance(stream, asymmetric.SignatureStream):
        raise GeneralFailure("the stream is not a signature")
    record = await ctx.objects.load(unique_identifier, now=ctx.now)
    check_usage(record, usage, ctx.now)
    record = await allocate_usage(ctx.objects, record, usage, now=ctx.now, data_length=len(data))
    stream.update(data)
    return opened, stream, record


async def handle(ctx: OperationContext, payload: SignRequestPayload) -> SignResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    message = message_of(ctx, payload.data, payload.digested_data, part)
    if part is Part.SINGLE or part is Part.FIRST:
        return await _start(ctx, payload, unique_identifier, part, message)
    return await _continue(ctx, payload.correlation_value, unique_identifier, part, message)


async def _start(
    ctx: OperationContext, payload: SignRequestPayload, unique_identifier: str, part: Part, message: bytes
) -> SignResponsePayload:
    use = await open_key(ctx, unique_identifier, Usage.SIGN, payload.cryptographic_parameters, len(message))
    key = asymmetric.signing_key(use)
    method = asymmetric.signature_method(use.parameters, key)
    if part is Part.SINGLE:
        if payload.digested_data is not None:
            signature = asymmetric.sign_digest(key, method, message)
        else:
            signature = asymmetric.sign(key, method, message)
        return SignResponsePayload(unique_identifier=unique_identifier, signature_data=signature)
    stream = asymmetric.SignatureStream(method, signing=True)
    stream.update(message)
    correlation = ctx.crypto.streams.open(
        OpenStream(owner_of(ctx.identity), Operation.SIGN, unique_identifier, stream), ctx.now
    )
    return SignResponsePayload(unique_identifier=unique_identifier, correlation_value=correlation)


async def _continue(
    ctx: OperationContext, correlation: bytes | None, unique_identifier: str, part: Part, message: bytes
) -> SignResponsePayload:
    assert correlation is not None  # part_of returns MIDDLE or LAST only with one
    opened, stream, record = await continue_stream(
        ctx,
        operation=Operation.SIGN,
        usage=Usage.SIGN,
        unique_identifier=unique_identifier,
        correlation=correlation,
        data=message,
    )
    if part is Part.MIDDLE:
        ctx.crypto.streams.put_back(correlation, opened, ctx.now)
        return SignResponsePayload(unique_identifier=unique_identifier, correlation_value=correlation)
    use = KeyUse(record, await ctx.objects.managed_object(record), CryptographicParameters())
    signature = asymmetric.sign_digest(asymmetric.signing_key(use), stream.method, stream.finalize())
    return SignResponsePayload(unique_identifier=unique_identifier, signature_data=signature)


SPEC = HandlerSpec(
    operation=Operation.SIGN,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,  # Usage Limits allocation
    uses_id_placeholder=True,
)
