"""Signature Verify (KMIP 1.4 section 4.32): verify a signature with a managed Public Key, in one
request or by parts.

- The key passes ``crypto.usage`` first: usage mask with Verify, Active, Deactivated or
  Compromised (verification processes protected data, which 3.22 still allows them), after its
  Process Start Date. Verification is not limited by Usage Limits (3.21 limits protection).
  Only a Public Key verifies; any other object, or parameters naming an algorithm the key is
  not, is Permission Denied (11.33).
- The method is resolved as Sign resolves it (``operations.sign``,
  ``crypto.asymmetric.signature_method``); a PSS Salt Length that neither the request nor the key
  gives accepts the salt length the signature carries.
- A signature that does not verify is Validity Indicator Invalid, never an error, whatever is
  wrong with it (length, encoding, key, data).
- Data or Digested Data (one), and Signature Data, are required in a single-part request. By
  parts, the Data is hashed as it comes, intermediate answers carry Validity Indicator Unknown
  (the field is REQUIRED in the response, Table 236) with the Correlation Value, and the part
  with Final Indicator carries the Signature Data and gets the verdict.
"""

from __future__ import annotations

from kmip_server.crypto import asymmetric
from kmip_server.crypto.streams import OpenStream, Part, owner_of, part_of
from kmip_server.crypto.usage import KeyUse, Usage
from kmip_server.errors import InvalidField, MissingData
from kmip_server.identity import Role
from kmip_server.model import (
    CryptographicParameters,
    SignatureVerifyRequestPayload,
    SignatureVerifyResponsePayload,
)
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.operations.sign import continue_stream, message_of, open_key
from ttlv.kmip14 import Operation, ValidityIndicator

__all__ = ["SPEC", "handle"]


def _signature(signature: bytes | None, part: Part) -> bytes | None:
    if part is Part.SINGLE or part is Part.LAST:
        if signature is None:
            raise MissingData("Signature Data is required to verify")
        return signature
    if signature is not None:
        raise InvalidField("Signature Data: only in the last part of a verification by parts")
    return None


async def handle(
    ctx: OperationContext, payload: SignatureVerifyRequestPayload
) -> SignatureVerifyResponsePayload:
    unique_identifier = required_identifier(payload.unique_identifier)
    part = part_of(payload.init_indicator, payload.final_indicator, payload.correlation_value)
    signature = _signature(payload.signature_data, part)
    message = message_of(ctx, payload.data, payload.digested_data, part)
    if part is Part.SINGLE or part is Part.FIRST:
        return await _start(ctx, payload, unique_identifier, message, signature)
    return await _continue(ctx, payload.correlation_value, unique_identifier, message, signature)


def _unknown(unique_identifier: str, correlation: bytes) -> SignatureVerifyResponsePayload:
    return SignatureVerifyResponsePayload(
        unique_identifier=unique_identifier,
        validity_indicator=ValidityIndicator.UNKNOWN,
        correlation_value=correlation,
    )


async def _start(
    ctx: OperationContext,
    payload: SignatureVerifyRequestPayload,
    unique_identifier: str,
    message: bytes,
    signature: bytes | None,
) -> SignatureVerifyResponsePayload:
    """The first or only part; ``signature`` is given exactly in the only one (``_signature``)."""
    use = await open_key(ctx, unique_identifier, Usage.VERIFY, payload.cryptographic_parameters, len(message))
    key = asymmetric.verifying_key(use)
    method = asymmetric.signature_method(use.parameters, key)
    if signature is None:
        stream = asymmetric.SignatureStream(method, signing=False)
        stream.update(message)
        correlation = ctx.crypto.streams.open(
            OpenStream(owner_of(ctx.identity), Operation.SIGNATURE_VERIFY, unique_identifier, stream), ctx.now
        )
        return _unknown(unique_identifier, correlation)
    if payload.digested_data is not None:
        verdict = asymmetric.verify_digest(key, method, message, signature)
    else:
        verdict = asymmetric.verify(key, method, message, signature)
    return SignatureVerifyResponsePayload(unique_identifier=unique_identifier, validity_indicator=verdict)


async def _continue(
    ctx: OperationContext,
    correlation: bytes | None,
    unique_identifier: str,
    message: bytes,
    signature: bytes | None,
) -> SignatureVerifyResponsePayload:
    """A later part; ``signature`` is given exactly in the last one (``_signature``)."""
    assert correlation is not None  # part_of returns MIDDLE or LAST only with one
    opened, stream, record = await continue_stream(
        ctx,
        operation=Operation.SIGNATURE_VERIFY,
        usage=Usage.VERIFY,
        unique_identifier=unique_identifier,
        correlation=correlation,
        data=message,
    )
    if signature is None:
        ctx.crypto.streams.put_back(correlation, opened, ctx.now)
        return _unknown(unique_identifier, correlation)
    use = KeyUse(record, await ctx.objects.managed_object(record), CryptographicParameters())
    verdict = asymmetric.verify_digest(
        asymmetric.verifying_key(use), stream.method, stream.finalize(), signature
    )
    return SignatureVerifyResponsePayload(unique_identifier=unique_identifier, validity_indicator=verdict)


SPEC = HandlerSpec(
    operation=Operation.SIGNATURE_VERIFY,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
