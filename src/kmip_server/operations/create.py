"""Create (KMIP 1.4 section 4.1): generate a new symmetric key.

The key is random bytes from the operating system's CSPRNG, stored in the Raw format.
Generated algorithms and lengths are one table (``KEY_LENGTHS``); any other algorithm or
length is Invalid Field (11.2 "Incorrect attribute value(s) specified"). Cryptographic
Algorithm and Length are REQUIRED (Missing Data without them).

The template is checked and shaped by ``attribute_policy.check_client_attributes`` (as Add
Attribute shapes values: Usage Limits Count starts at the Total, Application Specific
Information needs its Application Data). A Name already carried by a live object of the tenant
is Invalid Field (11.2; ``TenantObjects.name_in_use``: destroyed objects keep their names but
do not block them), whether the check finds it or, for a request racing another for the name,
the store (``DuplicateName``). The server sets the attributes of ``objects.new_object_attributes``,
among them the Lease Time of ``ObjectSettings.lease_time``.
"""

from __future__ import annotations

import secrets

from kmip_server.attribute_policy import check_client_attributes
from kmip_server.errors import InvalidField, MissingData
from kmip_server.identity import Role
from kmip_server.model import (
    Attribute,
    CreateRequestPayload,
    CreateResponsePayload,
    KeyBlock,
    KeyValue,
    Name,
    SymmetricKey,
)
from kmip_server.objects import (
    attribute_values,
    digest_of,
    first_value,
    new_object_attributes,
)
from kmip_server.operations.context import HandlerSpec, OperationContext
from kmip_server.storage.objects import DuplicateName
from ttlv.kmip14 import CryptographicAlgorithm, KeyFormatType, ObjectType, Operation

__all__ = ["KEY_LENGTHS", "SPEC", "handle", "key_size_in_bytes"]

_A = CryptographicAlgorithm
_HMAC_LENGTHS = range(128, 4097, 8)

KEY_LENGTHS: dict[CryptographicAlgorithm, frozenset[int] | range] = {
    _A.AES: frozenset({128, 192, 256}),
    _A.TRIPLE_DES: frozenset({112, 128, 168, 192}),  # two- or three-key, with or without parity bits
    _A.HMAC_SHA1: _HMAC_LENGTHS,
    _A.HMAC_SHA224: _HMAC_LENGTHS,
    _A.HMAC_SHA256: _HMAC_LENGTHS,
    _A.HMAC_SHA384: _HMAC_LENGTHS,
    _A.HMAC_SHA512: _HMAC_LENGTHS,
    _A.CHACHA20: frozenset({256}),
}
"""Cryptographic Algorithm -> the Cryptographic Lengths (bits) Create generates."""

_KEY_BYTES: dict[tuple[CryptographicAlgorithm, int], int] = {
    (_A.TRIPLE_DES, 112): 16,  # effective lengths: the key bytes carry parity bits
    (_A.TRIPLE_DES, 168): 24,
}


def key_size_in_bytes(algorithm: CryptographicAlgorithm, length: int) -> int:
    """The number of key bytes for ``length`` bits of ``algorithm`` (InvalidField if not generated)."""
    lengths = KEY_LENGTHS.get(algorithm)
    if lengths is None:
        raise InvalidField("Cryptographic Algorithm: this server does not generate keys of this algorithm")
    if length not in lengths:
        raise InvalidField("Cryptographic Length: not a supported length for this algorithm")
    return _KEY_BYTES.get((algorithm, length), length // 8)


async def handle(ctx: OperationContext, payload: CreateRequestPayload) -> CreateResponsePayload:
    if payload.object_type is not ObjectType.SYMMETRIC_KEY:
        raise InvalidField("Object Type: Create makes symmetric keys (use Create Key Pair or Register)")
    objects = ctx.objects
    attributes = check_client_attributes(
        ObjectType.SYMMETRIC_KEY, payload.template_attribute, Operation.CREATE
    )
    algorithm = first_value(attributes, "Cryptographic Algorithm")
    length = first_value(attributes, "Cryptographic Length")
    if algorithm is None:
        raise MissingData("Cryptographic Algorithm: required to create a key")
    if length is None:
        raise MissingData("Cryptographic Length: required to create a key")
    if not isinstance(algorithm, CryptographicAlgorithm) or not isinstance(length, int):
        raise InvalidField("Cryptographic Algorithm: not a supported value")
    size = key_size_in_bytes(algorithm, length)
    names = [value.name_value for value in attribute_values(attributes, "Name") if isinstance(value, Name)]
    if names and await objects.name_in_use(names):
        raise InvalidField("Name: an object with this name already exists")

    key = SymmetricKey(
        key_block=KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=KeyValue(key_material=secrets.token_bytes(size)),
            cryptographic_algorithm=algorithm,
            cryptographic_length=length,
        )
    )
    server_set = [
        Attribute(name="Cryptographic Algorithm", value=algorithm),
        Attribute(name="Cryptographic Length", value=length),
    ]
    digest = digest_of(key)
    if digest is not None:
        server_set.append(Attribute(name="Digest", value=digest))
    state, stored = new_object_attributes(
        ObjectType.SYMMETRIC_KEY,
        attributes,
        operation=Operation.CREATE,
        now=ctx.now,
        server_set=server_set,
        settings=objects.settings,
    )
    try:
        record = await objects.create(key, stored, state)
    except DuplicateName:
        raise InvalidField("Name: an object with this name already exists") from None
    return CreateResponsePayload(
        object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=record.unique_identifier
    )


SPEC = HandlerSpec(
    operation=Operation.CREATE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    sets_id_placeholder=True,
)
