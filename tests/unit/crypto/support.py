"""Helpers for the crypto tests: the published vectors of ``vectors/crypto`` and requests that
register keys and run the cryptographic operations through an in-process Core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    DecryptRequestPayload,
    EncryptRequestPayload,
    KeyBlock,
    KeyValue,
    RegisterRequestPayload,
    RequestBatchItem,
    SymmetricKey,
    TemplateAttribute,
)
from tests.unit.engine.support import NOW, Core, batch_item
from ttlv.kmip14 import CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation

__all__ = [
    "VECTORS",
    "decrypt_item",
    "encrypt_item",
    "load_vectors",
    "register_key",
]

VECTORS = Path(__file__).resolve().parents[3] / "vectors" / "crypto"

U = CryptographicUsageMask


def load_vectors(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())
    return entries


async def register_key(
    core: Core,
    key: bytes,
    algorithm: CryptographicAlgorithm = CryptographicAlgorithm.AES,
    *,
    mask: CryptographicUsageMask = U.ENCRYPT | U.DECRYPT,
    active: bool = True,
    parameters: CryptographicParameters | None = None,
    extra: tuple[Attribute, ...] = (),
    object_type: ObjectType = ObjectType.SYMMETRIC_KEY,
    peer: Any = None,
) -> str:
    """Register ``key`` (Raw) and return its Unique Identifier; Active unless ``active`` is False."""
    attributes = [Attribute(name="Cryptographic Usage Mask", value=mask), *extra]
    if active:
        attributes.append(Attribute(name="Activation Date", value=NOW - 3600))
    if parameters is not None:
        attributes.append(Attribute(name="Cryptographic Parameters", value=parameters))
    managed = SymmetricKey(
        key_block=KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=KeyValue(key_material=key),
            cryptographic_algorithm=algorithm,
            cryptographic_length=len(key) * 8,
        )
    )
    payload = await core.ok(
        batch_item(
            Operation.REGISTER,
            RegisterRequestPayload(
                object_type=object_type,
                template_attribute=TemplateAttribute(attributes=tuple(attributes)),
                managed_object=managed,
            ),
        ),
        peer,
    )
    uid: str = payload.unique_identifier
    return uid


def encrypt_item(uid: str | None, data: bytes | None, **fields: Any) -> RequestBatchItem:
    return batch_item(Operation.ENCRYPT, EncryptRequestPayload(unique_identifier=uid, data=data, **fields))


def decrypt_item(uid: str | None, data: bytes | None, **fields: Any) -> RequestBatchItem:
    return batch_item(Operation.DECRYPT, DecryptRequestPayload(unique_identifier=uid, data=data, **fields))
