"""KMIP messages encoded by PyKMIP 0.11, an independent implementation, with their meaning.

Every entry is built the way PyKMIP's own client (``kmip.services.kmip_client`` and
``kmip.pie.client``) or server (``kmip.services.server.engine``) builds it, from PyKMIP's
message, payload, object and attribute classes, and written with PyKMIP's
``write(stream, kmip_version=...)``. Nothing here uses OpenKCM code, so the bytes are a
witness of what a real PyKMIP peer puts on the wire.

Invariants:
- Building the corpus is deterministic: fixed identifiers, key bytes and time stamps, so
  the same bytes come out on every run and can be compared byte for byte.
- ``CorpusEntry.facts`` is written by hand from the inputs, never read back from the bytes;
  ``pykmip_facts`` reads bytes back with PyKMIP into the same normalized shape, so a test
  can check that PyKMIP itself agrees with the hand-written facts, and that it sees them in
  bytes that someone else encoded.
- Facts use plain Python values only: enumerations and masks as ``int`` (the KMIP wire
  value), identifiers as ``str``, material as ``bytes``, structures as ``dict``.

The normalized facts of one message::

    {"protocol_version": (1, 4), "time_stamp": 1700000000,   # time_stamp: responses only
     "authentication": {"username": ..., "password": ...},   # only when present
     "items": [{"operation": 1, "unique_batch_item_id": b"...",  # id only when present
                "result_status": 0, "result_reason": 1, "result_message": "...",  # responses
                "payload": {...}}]}                          # payload absent on some errors

A payload's facts use the KMIP field names in snake case (``unique_identifier``,
``object_type``, ``attributes``, ``key_block``...); see ``_payload_facts`` for the list.
An attribute is ``(attribute_name, attribute_index or None, value)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kmip.core import attributes as pk_attributes
from kmip.core import enums as pk_enums
from kmip.core import objects as pk_objects
from kmip.core import primitives as pk_primitives
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.factories.secrets import SecretFactory
from kmip.core.messages import contents as pk_contents
from kmip.core.messages import messages as pk_messages
from kmip.core.messages import payloads as pk_payloads
from kmip.core.utils import BytearrayStream

Kind = Literal["request", "response"]
Version = tuple[int, int]

VERSIONS: tuple[Version, ...] = ((1, 2), (1, 4))
"""The protocol versions every corpus message is written with (1.2 is PyKMIP's default)."""

# Fixed inputs: invented identifiers and bytes, chosen to be recognisable in a hex dump.
UID_KEY = "7f9c3a52-1d4e-4b8a-9c61-2e5d8f0a4b17"
UID_SECRET = "0c8e2b91-5a3f-4d6e-8b72-9f1a6c3d5e84"
UID_OTHER = "e3d1c2b4-6f5a-4c8d-9e7b-1a2b3c4d5e6f"
KEY_MATERIAL = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0")
SECRET_MATERIAL = b"correct horse battery staple"
KEY_NAME = "openkcm-interop-aes-256"
PLAINTEXT = b"The quick brown fox jumps over the lazy dog....."  # 48 bytes: 3 AES blocks
CIPHERTEXT = bytes.fromhex(
    "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
    "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"
)
IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
TIME_STAMP = 1_700_000_000  # 2023-11-14T22:13:20Z
INITIAL_DATE = 1_699_999_000
COMPROMISE_DATE = 1_699_990_000
USERNAME = "alice"
PASSWORD = "not-a-real-password"  # a fixed test input, not a credential

# KMIP 1.4 wire values used in the facts (section 9.1.3.2); kept as ints on purpose so the
# corpus does not depend on OpenKCM's generated tables.
OP_CREATE, OP_REGISTER, OP_LOCATE, OP_GET, OP_GET_ATTRIBUTES = 0x01, 0x03, 0x08, 0x0A, 0x0B
OP_ACTIVATE, OP_REVOKE, OP_DESTROY, OP_QUERY, OP_ENCRYPT = 0x12, 0x13, 0x14, 0x18, 0x1F
OBJ_SYMMETRIC_KEY, OBJ_SECRET_DATA = 0x02, 0x07
ALG_AES = 0x03
MASK_ENCRYPT, MASK_DECRYPT = 0x04, 0x08
FORMAT_RAW, FORMAT_OPAQUE = 0x01, 0x02
NAME_UNINTERPRETED_TEXT = 0x01
STATE_PRE_ACTIVE, STATE_ACTIVE = 0x01, 0x02
SECRET_PASSWORD = 0x01
MODE_CBC, PAD_PKCS5 = 0x01, 0x03
STATUS_SUCCESS, STATUS_FAILED = 0x00, 0x01
REASON_ITEM_NOT_FOUND = 0x01
REVOKE_KEY_COMPROMISE = 0x02
QUERY_OPERATIONS, QUERY_OBJECTS, QUERY_SERVER_INFORMATION = 0x01, 0x02, 0x03
VENDOR = "PyKMIP 0.11.0 Software Server"


@dataclass(frozen=True, slots=True)
class CorpusEntry:
    """One message as PyKMIP wrote it, and what it means."""

    name: str  # e.g. "create-request-1.4"
    kind: Kind
    version: Version
    data: bytes = field(repr=False)
    facts: Mapping[str, Any]

    @property
    def operations(self) -> tuple[int, ...]:
        return tuple(int(item["operation"]) for item in self.facts["items"])


# ---------------------------------------------------------------------------------------
# Building PyKMIP messages


def pykmip_version(version: Version) -> Any:
    """PyKMIP's KMIPVersion for a (major, minor) protocol version."""
    return getattr(pk_enums.KMIPVersion, f"KMIP_{version[0]}_{version[1]}")


def write_message(message: Any, version: Version) -> bytes:
    """Encode a PyKMIP RequestMessage or ResponseMessage exactly as PyKMIP's peers do."""
    stream = BytearrayStream()
    message.write(stream, kmip_version=pykmip_version(version))
    return bytes(stream.buffer)


def read_message(kind: Kind, data: bytes) -> Any:
    """Decode bytes with PyKMIP's own parser (the version comes from the header)."""
    message = pk_messages.RequestMessage() if kind == "request" else pk_messages.ResponseMessage()
    # PyKMIP switches to the header's protocol version after reading the header.
    message.read(BytearrayStream(data), kmip_version=pk_enums.KMIPVersion.KMIP_1_0)
    return message


def _operation(op: Any) -> Any:
    return pk_contents.Operation(op)


def _request(version: Version, items: Sequence[tuple[Any, Any, bytes | None]]) -> Any:
    batch = [
        pk_messages.RequestBatchItem(
            operation=_operation(op),
            unique_batch_item_id=None if batch_id is None else pk_contents.UniqueBatchItemID(batch_id),
            request_payload=payload,
        )
        for op, payload, batch_id in items
    ]
    header = pk_messages.RequestHeader(
        protocol_version=pk_contents.ProtocolVersion(*version),
        batch_count=pk_contents.BatchCount(len(batch)),
    )
    return pk_messages.RequestMessage(request_header=header, batch_items=batch)


def _response(version: Version, items: list[Any]) -> Any:
    header = pk_messages.ResponseHeader(
        protocol_version=pk_contents.ProtocolVersion(*version),
        time_stamp=pk_contents.TimeStamp(TIME_STAMP),
        batch_count=pk_contents.BatchCount(len(items)),
    )
    return pk_messages.ResponseMessage(response_header=header, batch_items=items)


def _success(op: Any, payload: Any, batch_id: bytes | None = None) -> Any:
    return pk_messages.ResponseBatchItem(
        operation=_operation(op),
        unique_batch_item_id=None if batch_id is None else pk_contents.UniqueBatchItemID(batch_id),
        result_status=pk_contents.ResultStatus(pk_enums.ResultStatus.SUCCESS),
        response_payload=payload,
    )


_ATTRIBUTES = AttributeFactory()


def _attr(name: Any, value: Any, index: int | None = None) -> Any:
    return _ATTRIBUTES.create_attribute(name, value, index)


def _aes_key_attributes() -> list[Any]:
    """What ``ProxyKmipClient.create(AES, 256, name=...)`` puts in the template."""
    return [
        _attr(pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES),
        _attr(pk_enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
        _attr(
            pk_enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [pk_enums.CryptographicUsageMask.ENCRYPT, pk_enums.CryptographicUsageMask.DECRYPT],
        ),
        _attr(pk_enums.AttributeType.NAME, KEY_NAME),
    ]


def _name_fact(name: str) -> dict[str, Any]:
    return {"name_value": name, "name_type": NAME_UNINTERPRETED_TEXT}


AES_KEY_ATTRIBUTE_FACTS: list[tuple[str, int | None, Any]] = [
    ("Cryptographic Algorithm", None, ALG_AES),
    ("Cryptographic Length", None, 256),
    ("Cryptographic Usage Mask", None, MASK_ENCRYPT | MASK_DECRYPT),
    ("Name", None, _name_fact(KEY_NAME)),
]


def _symmetric_key_secret() -> Any:
    """A Raw 256-bit AES key, built as the server engine's ``_build_core_object`` builds it."""
    return SecretFactory().create(
        pk_enums.ObjectType.SYMMETRIC_KEY,
        {
            "cryptographic_algorithm": pk_enums.CryptographicAlgorithm.AES,
            "cryptographic_length": 256,
            "key_format_type": pk_enums.KeyFormatType.RAW,
            "key_value": KEY_MATERIAL,
            "key_wrapping_data": None,
        },
    )


def _secret_data_secret() -> Any:
    """A password as Secret Data: Opaque key format, no algorithm or length (as the engine)."""
    return SecretFactory().create(
        pk_enums.ObjectType.SECRET_DATA,
        {
            "key_format_type": pk_enums.KeyFormatType.OPAQUE,
            "key_value": SECRET_MATERIAL,
            "secret_data_type": pk_enums.SecretDataType.PASSWORD,
        },
    )


def _credential() -> Any:
    return pk_objects.Credential(
        credential_type=pk_enums.CredentialType.USERNAME_AND_PASSWORD,
        credential_value=pk_objects.UsernamePasswordCredential(username=USERNAME, password=PASSWORD),
    )


def _encrypt_parameters() -> Any:
    return pk_attributes.CryptographicParameters(
        block_cipher_mode=pk_enums.BlockCipherMode.CBC,
        padding_method=pk_enums.PaddingMethod.PKCS5,
        cryptographic_algorithm=pk_enums.CryptographicAlgorithm.AES,
    )


def _uid(value: str) -> Any:
    """The wrapper type the older payloads (Activate, Revoke, Destroy) take."""
    return pk_attributes.UniqueIdentifier(value)


# One builder per corpus message: (PyKMIP message for a version, facts for a version).
Builder = Callable[[Version], tuple[Any, dict[str, Any]]]


def _request_facts(
    version: Version, items: list[dict[str, Any]], authentication: dict[str, str] | None = None
) -> dict[str, Any]:
    facts: dict[str, Any] = {"protocol_version": version, "items": items}
    if authentication is not None:
        facts["authentication"] = authentication
    return facts


def _response_facts(version: Version, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"protocol_version": version, "time_stamp": TIME_STAMP, "items": items}


def _ok(op: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"operation": op, "result_status": STATUS_SUCCESS, "payload": payload}


def create_request(version: Version) -> tuple[Any, dict[str, Any]]:
    """Create an AES-256 key, the shape ``ProxyKmipClient.create`` sends."""
    payload = pk_payloads.CreateRequestPayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
        template_attribute=pk_objects.TemplateAttribute(attributes=_aes_key_attributes()),
    )
    facts = {"object_type": OBJ_SYMMETRIC_KEY, "template_attribute": AES_KEY_ATTRIBUTE_FACTS}
    return (
        _request(version, [(pk_enums.Operation.CREATE, payload, None)]),
        _request_facts(version, [{"operation": OP_CREATE, "payload": facts}]),
    )


def create_request_authenticated(version: Version) -> tuple[Any, dict[str, Any]]:
    message, facts = create_request(version)
    message.request_header.authentication = pk_contents.Authentication([_credential()])
    facts["authentication"] = {"username": USERNAME, "password": PASSWORD}
    return message, facts


def create_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.CreateResponsePayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY, unique_identifier=UID_KEY
    )
    facts = {"object_type": OBJ_SYMMETRIC_KEY, "unique_identifier": UID_KEY}
    return (
        _response(version, [_success(pk_enums.Operation.CREATE, payload)]),
        _response_facts(version, [_ok(OP_CREATE, facts)]),
    )


def _key_block_facts(
    key_format_type: int, material: bytes, algorithm: int | None, length: int | None
) -> dict[str, Any]:
    return {
        "key_format_type": key_format_type,
        "key_material": material,
        "cryptographic_algorithm": algorithm,
        "cryptographic_length": length,
    }


SYMMETRIC_KEY_FACTS = _key_block_facts(FORMAT_RAW, KEY_MATERIAL, ALG_AES, 256)
SECRET_DATA_FACTS = _key_block_facts(FORMAT_OPAQUE, SECRET_MATERIAL, None, None)


def register_symmetric_key_request(version: Version) -> tuple[Any, dict[str, Any]]:
    """Register a 256-bit AES key, the shape ``ProxyKmipClient.register`` sends."""
    template = pk_objects.TemplateAttribute(
        attributes=[
            _attr(
                pk_enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                [pk_enums.CryptographicUsageMask.ENCRYPT, pk_enums.CryptographicUsageMask.DECRYPT],
            ),
            _attr(pk_enums.AttributeType.NAME, KEY_NAME),
        ]
    )
    payload = pk_payloads.RegisterRequestPayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
        template_attribute=template,
        managed_object=_symmetric_key_secret(),
    )
    facts = {
        "object_type": OBJ_SYMMETRIC_KEY,
        "template_attribute": [
            ("Cryptographic Usage Mask", None, MASK_ENCRYPT | MASK_DECRYPT),
            ("Name", None, _name_fact(KEY_NAME)),
        ],
        "symmetric_key": SYMMETRIC_KEY_FACTS,
    }
    return (
        _request(version, [(pk_enums.Operation.REGISTER, payload, None)]),
        _request_facts(version, [{"operation": OP_REGISTER, "payload": facts}]),
    )


def register_secret_data_request(version: Version) -> tuple[Any, dict[str, Any]]:
    template = pk_objects.TemplateAttribute(
        attributes=[
            _attr(
                pk_enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                [pk_enums.CryptographicUsageMask.DERIVE_KEY],
            ),
            _attr(pk_enums.AttributeType.NAME, "openkcm-interop-secret"),
        ]
    )
    payload = pk_payloads.RegisterRequestPayload(
        object_type=pk_enums.ObjectType.SECRET_DATA,
        template_attribute=template,
        managed_object=_secret_data_secret(),
    )
    facts = {
        "object_type": OBJ_SECRET_DATA,
        "template_attribute": [
            ("Cryptographic Usage Mask", None, 0x200),  # Derive Key
            ("Name", None, _name_fact("openkcm-interop-secret")),
        ],
        "secret_data": {"secret_data_type": SECRET_PASSWORD, "key_block": SECRET_DATA_FACTS},
    }
    return (
        _request(version, [(pk_enums.Operation.REGISTER, payload, None)]),
        _request_facts(version, [{"operation": OP_REGISTER, "payload": facts}]),
    )


def register_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.RegisterResponsePayload(unique_identifier=UID_SECRET)
    return (
        _response(version, [_success(pk_enums.Operation.REGISTER, payload)]),
        _response_facts(version, [_ok(OP_REGISTER, {"unique_identifier": UID_SECRET})]),
    )


def get_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.GetRequestPayload(unique_identifier=UID_KEY)
    return (
        _request(version, [(pk_enums.Operation.GET, payload, None)]),
        _request_facts(version, [{"operation": OP_GET, "payload": {"unique_identifier": UID_KEY}}]),
    )


def get_response(version: Version) -> tuple[Any, dict[str, Any]]:
    """A 256-bit AES key in Raw format, as PyKMIP's server answers Get."""
    payload = pk_payloads.GetResponsePayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
        unique_identifier=UID_KEY,
        secret=_symmetric_key_secret(),
    )
    facts = {
        "object_type": OBJ_SYMMETRIC_KEY,
        "unique_identifier": UID_KEY,
        "symmetric_key": SYMMETRIC_KEY_FACTS,
    }
    return (
        _response(version, [_success(pk_enums.Operation.GET, payload)]),
        _response_facts(version, [_ok(OP_GET, facts)]),
    )


def get_secret_data_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.GetResponsePayload(
        object_type=pk_enums.ObjectType.SECRET_DATA,
        unique_identifier=UID_SECRET,
        secret=_secret_data_secret(),
    )
    facts = {
        "object_type": OBJ_SECRET_DATA,
        "unique_identifier": UID_SECRET,
        "secret_data": {"secret_data_type": SECRET_PASSWORD, "key_block": SECRET_DATA_FACTS},
    }
    return (
        _response(version, [_success(pk_enums.Operation.GET, payload)]),
        _response_facts(version, [_ok(OP_GET, facts)]),
    )


def get_error_response(version: Version) -> tuple[Any, dict[str, Any]]:
    """A failed Get: no payload, Item Not Found, a result message."""
    item = pk_messages.ResponseBatchItem(
        operation=_operation(pk_enums.Operation.GET),
        result_status=pk_contents.ResultStatus(pk_enums.ResultStatus.OPERATION_FAILED),
        result_reason=pk_contents.ResultReason(pk_enums.ResultReason.ITEM_NOT_FOUND),
        result_message=pk_contents.ResultMessage("Could not locate object: " + UID_OTHER),
    )
    facts = {
        "operation": OP_GET,
        "result_status": STATUS_FAILED,
        "result_reason": REASON_ITEM_NOT_FOUND,
        "result_message": "Could not locate object: " + UID_OTHER,
    }
    return _response(version, [item]), _response_facts(version, [facts])


GET_ATTRIBUTE_NAMES = [
    "Object Type",
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Usage Mask",
    "State",
    "Name",
    "Initial Date",
]


def get_attributes_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.GetAttributesRequestPayload(
        unique_identifier=UID_KEY, attribute_names=list(GET_ATTRIBUTE_NAMES)
    )
    facts = {"unique_identifier": UID_KEY, "attribute_names": list(GET_ATTRIBUTE_NAMES)}
    return (
        _request(version, [(pk_enums.Operation.GET_ATTRIBUTES, payload, None)]),
        _request_facts(version, [{"operation": OP_GET_ATTRIBUTES, "payload": facts}]),
    )


def get_attributes_response(version: Version) -> tuple[Any, dict[str, Any]]:
    """Typed attributes as PyKMIP's server returns them (Name with an index, as it does)."""
    attrs = [
        _attr(pk_enums.AttributeType.OBJECT_TYPE, pk_enums.ObjectType.SYMMETRIC_KEY),
        _attr(pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES),
        _attr(pk_enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
        _attr(
            pk_enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [pk_enums.CryptographicUsageMask.ENCRYPT, pk_enums.CryptographicUsageMask.DECRYPT],
        ),
        _attr(pk_enums.AttributeType.STATE, pk_enums.State.PRE_ACTIVE),
        _attr(pk_enums.AttributeType.NAME, KEY_NAME, 0),
        _attr(pk_enums.AttributeType.INITIAL_DATE, INITIAL_DATE),
    ]
    payload = pk_payloads.GetAttributesResponsePayload(unique_identifier=UID_KEY, attributes=attrs)
    facts = {
        "unique_identifier": UID_KEY,
        "attributes": [
            ("Object Type", None, OBJ_SYMMETRIC_KEY),
            ("Cryptographic Algorithm", None, ALG_AES),
            ("Cryptographic Length", None, 256),
            ("Cryptographic Usage Mask", None, MASK_ENCRYPT | MASK_DECRYPT),
            ("State", None, STATE_PRE_ACTIVE),
            ("Name", 0, _name_fact(KEY_NAME)),
            ("Initial Date", None, INITIAL_DATE),
        ],
    }
    return (
        _response(version, [_success(pk_enums.Operation.GET_ATTRIBUTES, payload)]),
        _response_facts(version, [_ok(OP_GET_ATTRIBUTES, facts)]),
    )


def locate_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.LocateRequestPayload(
        maximum_items=10,
        attributes=[
            _attr(pk_enums.AttributeType.OBJECT_TYPE, pk_enums.ObjectType.SYMMETRIC_KEY),
            _attr(pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES),
            _attr(pk_enums.AttributeType.NAME, KEY_NAME),
        ],
    )
    facts = {
        "maximum_items": 10,
        "attributes": [
            ("Object Type", None, OBJ_SYMMETRIC_KEY),
            ("Cryptographic Algorithm", None, ALG_AES),
            ("Name", None, _name_fact(KEY_NAME)),
        ],
    }
    return (
        _request(version, [(pk_enums.Operation.LOCATE, payload, None)]),
        _request_facts(version, [{"operation": OP_LOCATE, "payload": facts}]),
    )


LOCATED = [UID_KEY, UID_SECRET, UID_OTHER]


def locate_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.LocateResponsePayload(unique_identifiers=list(LOCATED))
    return (
        _response(version, [_success(pk_enums.Operation.LOCATE, payload)]),
        _response_facts(version, [_ok(OP_LOCATE, {"unique_identifiers": list(LOCATED)})]),
    )


def destroy_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.DestroyRequestPayload(unique_identifier=_uid(UID_KEY))
    return (
        _request(version, [(pk_enums.Operation.DESTROY, payload, None)]),
        _request_facts(version, [{"operation": OP_DESTROY, "payload": {"unique_identifier": UID_KEY}}]),
    )


def destroy_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.DestroyResponsePayload(unique_identifier=_uid(UID_KEY))
    return (
        _response(version, [_success(pk_enums.Operation.DESTROY, payload)]),
        _response_facts(version, [_ok(OP_DESTROY, {"unique_identifier": UID_KEY})]),
    )


ENCRYPT_PARAMETER_FACTS = {
    "block_cipher_mode": MODE_CBC,
    "padding_method": PAD_PKCS5,
    "cryptographic_algorithm": ALG_AES,
}


def encrypt_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.EncryptRequestPayload(
        unique_identifier=UID_KEY,
        cryptographic_parameters=_encrypt_parameters(),
        data=PLAINTEXT,
        iv_counter_nonce=IV,
    )
    facts = {
        "unique_identifier": UID_KEY,
        "cryptographic_parameters": ENCRYPT_PARAMETER_FACTS,
        "data": PLAINTEXT,
        "iv_counter_nonce": IV,
    }
    return (
        _request(version, [(pk_enums.Operation.ENCRYPT, payload, None)]),
        _request_facts(version, [{"operation": OP_ENCRYPT, "payload": facts}]),
    )


def encrypt_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.EncryptResponsePayload(unique_identifier=UID_KEY, data=CIPHERTEXT)
    return (
        _response(version, [_success(pk_enums.Operation.ENCRYPT, payload)]),
        _response_facts(version, [_ok(OP_ENCRYPT, {"unique_identifier": UID_KEY, "data": CIPHERTEXT})]),
    )


QUERY_FUNCTIONS = [QUERY_OPERATIONS, QUERY_OBJECTS, QUERY_SERVER_INFORMATION]
QUERY_OPERATION_LIST = [
    OP_CREATE,
    OP_REGISTER,
    OP_LOCATE,
    OP_GET,
    OP_GET_ATTRIBUTES,
    OP_ACTIVATE,
    OP_REVOKE,
    OP_DESTROY,
    OP_QUERY,
    OP_ENCRYPT,
]
QUERY_OBJECT_LIST = [OBJ_SYMMETRIC_KEY, OBJ_SECRET_DATA]


def query_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.QueryRequestPayload(
        query_functions=[pk_enums.QueryFunction(value) for value in QUERY_FUNCTIONS]
    )
    return (
        _request(version, [(pk_enums.Operation.QUERY, payload, None)]),
        _request_facts(
            version, [{"operation": OP_QUERY, "payload": {"query_functions": list(QUERY_FUNCTIONS)}}]
        ),
    )


def query_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.QueryResponsePayload(
        operations=[pk_enums.Operation(value) for value in QUERY_OPERATION_LIST],
        object_types=[pk_enums.ObjectType(value) for value in QUERY_OBJECT_LIST],
        vendor_identification=VENDOR,
    )
    facts = {
        "operations": list(QUERY_OPERATION_LIST),
        "object_types": list(QUERY_OBJECT_LIST),
        "vendor_identification": VENDOR,
    }
    return (
        _response(version, [_success(pk_enums.Operation.QUERY, payload)]),
        _response_facts(version, [_ok(OP_QUERY, facts)]),
    )


def activate_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.ActivateRequestPayload(unique_identifier=_uid(UID_KEY))
    return (
        _request(version, [(pk_enums.Operation.ACTIVATE, payload, None)]),
        _request_facts(version, [{"operation": OP_ACTIVATE, "payload": {"unique_identifier": UID_KEY}}]),
    )


def activate_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.ActivateResponsePayload(unique_identifier=_uid(UID_KEY))
    return (
        _response(version, [_success(pk_enums.Operation.ACTIVATE, payload)]),
        _response_facts(version, [_ok(OP_ACTIVATE, {"unique_identifier": UID_KEY})]),
    )


def revoke_request(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.RevokeRequestPayload(
        unique_identifier=_uid(UID_KEY),
        revocation_reason=pk_objects.RevocationReason(
            code=pk_enums.RevocationReasonCode.KEY_COMPROMISE, message="laptop stolen"
        ),
        compromise_occurrence_date=pk_primitives.DateTime(
            COMPROMISE_DATE, tag=pk_enums.Tags.COMPROMISE_OCCURRENCE_DATE
        ),
    )
    facts = {
        "unique_identifier": UID_KEY,
        "revocation_reason": {
            "revocation_reason_code": REVOKE_KEY_COMPROMISE,
            "revocation_message": "laptop stolen",
        },
        "compromise_occurrence_date": COMPROMISE_DATE,
    }
    return (
        _request(version, [(pk_enums.Operation.REVOKE, payload, None)]),
        _request_facts(version, [{"operation": OP_REVOKE, "payload": facts}]),
    )


def revoke_response(version: Version) -> tuple[Any, dict[str, Any]]:
    payload = pk_payloads.RevokeResponsePayload(unique_identifier=_uid(UID_KEY))
    return (
        _response(version, [_success(pk_enums.Operation.REVOKE, payload)]),
        _response_facts(version, [_ok(OP_REVOKE, {"unique_identifier": UID_KEY})]),
    )


BATCH_IDS = (b"\x00\x00\x00\x01", b"\x00\x00\x00\x02")


def batch_request(version: Version) -> tuple[Any, dict[str, Any]]:
    """Two batch items with Unique Batch Item IDs: Activate then Get."""
    items = [
        (
            pk_enums.Operation.ACTIVATE,
            pk_payloads.ActivateRequestPayload(unique_identifier=_uid(UID_KEY)),
            BATCH_IDS[0],
        ),
        (pk_enums.Operation.GET, pk_payloads.GetRequestPayload(unique_identifier=UID_KEY), BATCH_IDS[1]),
    ]
    facts = [
        {
            "operation": OP_ACTIVATE,
            "unique_batch_item_id": BATCH_IDS[0],
            "payload": {"unique_identifier": UID_KEY},
        },
        {
            "operation": OP_GET,
            "unique_batch_item_id": BATCH_IDS[1],
            "payload": {"unique_identifier": UID_KEY},
        },
    ]
    return _request(version, items), _request_facts(version, facts)


def batch_response(version: Version) -> tuple[Any, dict[str, Any]]:
    activate = pk_payloads.ActivateResponsePayload(unique_identifier=_uid(UID_KEY))
    get = pk_payloads.GetResponsePayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
        unique_identifier=UID_KEY,
        secret=_symmetric_key_secret(),
    )
    items = [
        _success(pk_enums.Operation.ACTIVATE, activate, BATCH_IDS[0]),
        _success(pk_enums.Operation.GET, get, BATCH_IDS[1]),
    ]
    facts = [
        _ok(OP_ACTIVATE, {"unique_identifier": UID_KEY}) | {"unique_batch_item_id": BATCH_IDS[0]},
        _ok(
            OP_GET,
            {
                "object_type": OBJ_SYMMETRIC_KEY,
                "unique_identifier": UID_KEY,
                "symmetric_key": SYMMETRIC_KEY_FACTS,
            },
        )
        | {"unique_batch_item_id": BATCH_IDS[1]},
    ]
    return _response(version, items), _response_facts(version, facts)


BUILDERS: dict[str, tuple[Kind, Builder]] = {
    "create-request": ("request", create_request),
    "create-request-authenticated": ("request", create_request_authenticated),
    "create-response": ("response", create_response),
    "register-symmetric-key-request": ("request", register_symmetric_key_request),
    "register-secret-data-request": ("request", register_secret_data_request),
    "register-response": ("response", register_response),
    "get-request": ("request", get_request),
    "get-response": ("response", get_response),
    "get-secret-data-response": ("response", get_secret_data_response),
    "get-error-response": ("response", get_error_response),
    "get-attributes-request": ("request", get_attributes_request),
    "get-attributes-response": ("response", get_attributes_response),
    "locate-request": ("request", locate_request),
    "locate-response": ("response", locate_response),
    "destroy-request": ("request", destroy_request),
    "destroy-response": ("response", destroy_response),
    "encrypt-request": ("request", encrypt_request),
    "encrypt-response": ("response", encrypt_response),
    "query-request": ("request", query_request),
    "query-response": ("response", query_response),
    "activate-request": ("request", activate_request),
    "activate-response": ("response", activate_response),
    "revoke-request": ("request", revoke_request),
    "revoke-response": ("response", revoke_response),
    "batch-request": ("request", batch_request),
    "batch-response": ("response", batch_response),
}
"""Every corpus message by base name; the entry name adds the version ("get-response-1.4")."""


def locate_request_paged(version: Version) -> tuple[Any, dict[str, Any]]:
    """Locate with Offset Items, a field KMIP 1.3 added; PyKMIP writes it at any version."""
    payload = pk_payloads.LocateRequestPayload(
        maximum_items=2,
        offset_items=4,
        attributes=[_attr(pk_enums.AttributeType.OBJECT_TYPE, pk_enums.ObjectType.SYMMETRIC_KEY)],
    )
    facts = {
        "maximum_items": 2,
        "offset_items": 4,
        "attributes": [("Object Type", None, OBJ_SYMMETRIC_KEY)],
    }
    return (
        _request(version, [(pk_enums.Operation.LOCATE, payload, None)]),
        _request_facts(version, [{"operation": OP_LOCATE, "payload": facts}]),
    )


def locate_response_counted(version: Version) -> tuple[Any, dict[str, Any]]:
    """Locate answer with Located Items, a field KMIP 1.3 added; PyKMIP writes it at any version."""
    payload = pk_payloads.LocateResponsePayload(located_items=7, unique_identifiers=list(LOCATED[:2]))
    facts = {"located_items": 7, "unique_identifiers": list(LOCATED[:2])}
    return (
        _response(version, [_success(pk_enums.Operation.LOCATE, payload)]),
        _response_facts(version, [_ok(OP_LOCATE, facts)]),
    )


VERSION_GATED_BUILDERS: dict[str, tuple[Kind, Builder, int]] = {
    "locate-request-paged": ("request", locate_request_paged, pk_enums.Tags.OFFSET_ITEMS.value),
    "locate-response-counted": ("response", locate_response_counted, pk_enums.Tags.LOCATED_ITEMS.value),
}
"""Messages carrying a field that KMIP 1.3 introduced (its tag is the third element).

PyKMIP writes such fields whatever the protocol version in the header; a KMIP 1.2 message
cannot carry them (KMIP 1.2 defines no such tag). They are kept apart from ``BUILDERS`` because
at 1.2 a re-encoding for the header's version legitimately differs from PyKMIP's bytes."""


def _entry(base: str, kind: Kind, builder: Builder, version: Version) -> CorpusEntry:
    message, facts = builder(version)
    return CorpusEntry(
        name=f"{base}-{version[0]}.{version[1]}",
        kind=kind,
        version=version,
        data=write_message(message, version),
        facts=facts,
    )


def build_corpus() -> tuple[CorpusEntry, ...]:
    """Every message of ``BUILDERS`` at every version of ``VERSIONS``, encoded by PyKMIP."""
    return tuple(
        _entry(base, kind, builder, version)
        for base, (kind, builder) in BUILDERS.items()
        for version in VERSIONS
    )


def build_version_gated() -> tuple[tuple[CorpusEntry, int], ...]:
    """Every message of ``VERSION_GATED_BUILDERS`` at every version, with its 1.3 field's tag."""
    return tuple(
        (_entry(base, kind, builder, version), tag)
        for base, (kind, builder, tag) in VERSION_GATED_BUILDERS.items()
        for version in VERSIONS
    )


# ---------------------------------------------------------------------------------------
# Reading PyKMIP messages back into facts


def _value(primitive: Any) -> Any:
    """The plain value of a PyKMIP primitive, or of a plain value PyKMIP's newer classes return."""
    value = getattr(primitive, "value", primitive)
    if hasattr(value, "value") and not isinstance(value, (int, str, bytes)):
        value = value.value  # a PyKMIP enum member
    return value


def _int(value: Any) -> int:
    value = _value(value)
    return int(value.value if hasattr(value, "value") else value)


def _attribute_value_facts(name: str, value: Any) -> Any:
    if name == "Name":
        return {"name_value": _value(value.name_value), "name_type": _int(value.name_type)}
    if name == "Cryptographic Parameters":
        return _cryptographic_parameters_facts(value)
    return _value(value)


def _attribute_facts(attribute: Any) -> tuple[str, int | None, Any]:
    name = str(_value(attribute.attribute_name))
    index = None if attribute.attribute_index is None else _int(attribute.attribute_index)
    return name, index, _attribute_value_facts(name, attribute.attribute_value)


def _cryptographic_parameters_facts(params: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for key in (
        "block_cipher_mode",
        "padding_method",
        "hashing_algorithm",
        "key_role_type",
        "digital_signature_algorithm",
        "cryptographic_algorithm",
        "random_iv",
        "iv_length",
        "tag_length",
    ):
        value = getattr(params, key)
        if value is not None:
            facts[key] = int(value.value) if hasattr(value, "value") else value
    return facts


def _key_block_facts_of(key_block: Any) -> dict[str, Any]:
    return {
        "key_format_type": _int(key_block.key_format_type),
        "key_material": bytes(_value(key_block.key_value.key_material)),
        "cryptographic_algorithm": (
            None if key_block.cryptographic_algorithm is None else _int(key_block.cryptographic_algorithm)
        ),
        "cryptographic_length": (
            None if key_block.cryptographic_length is None else _int(key_block.cryptographic_length)
        ),
    }


def _secret_facts(payload: Any, facts: dict[str, Any]) -> None:
    secret = getattr(payload, "secret", None) or getattr(payload, "managed_object", None)
    if secret is None:
        return
    if secret.tag == pk_enums.Tags.SYMMETRIC_KEY:
        facts["symmetric_key"] = _key_block_facts_of(secret.key_block)
    elif secret.tag == pk_enums.Tags.SECRET_DATA:
        facts["secret_data"] = {
            "secret_data_type": _int(secret.secret_data_type),
            "key_block": _key_block_facts_of(secret.key_block),
        }
    else:
        raise AssertionError(f"corpus has no {secret.tag} objects")


def _payload_facts(op: int | None, payload: Any) -> dict[str, Any]:
    """The facts of one PyKMIP payload; the keys present depend on the payload's fields."""
    facts: dict[str, Any] = {}
    uid = getattr(payload, "unique_identifier", None)
    if uid is not None:
        facts["unique_identifier"] = str(_value(uid))
    object_type = getattr(payload, "object_type", None)
    if object_type is not None:
        facts["object_type"] = _int(object_type)
    template = getattr(payload, "template_attribute", None)
    if template is not None:
        facts["template_attribute"] = [_attribute_facts(a) for a in template.attributes]
    if op in (OP_REGISTER, OP_GET):
        _secret_facts(payload, facts)
    if op == OP_GET_ATTRIBUTES:
        names = getattr(payload, "attribute_names", None)
        if names:
            facts["attribute_names"] = [str(n) for n in names]
        attrs = getattr(payload, "attributes", None)
        if attrs:
            facts["attributes"] = [_attribute_facts(a) for a in attrs]
    if op == OP_LOCATE:
        for key in ("maximum_items", "offset_items", "located_items"):
            if getattr(payload, key, None) is not None:
                facts[key] = int(getattr(payload, key))
        attrs = getattr(payload, "attributes", None)
        if attrs:
            facts["attributes"] = [_attribute_facts(a) for a in attrs]
        uids = getattr(payload, "unique_identifiers", None)
        if uids:
            facts["unique_identifiers"] = [str(u) for u in uids]
    if op == OP_ENCRYPT:
        params = getattr(payload, "cryptographic_parameters", None)
        if params is not None:
            facts["cryptographic_parameters"] = _cryptographic_parameters_facts(params)
        facts["data"] = bytes(payload.data)
        if payload.iv_counter_nonce is not None:
            facts["iv_counter_nonce"] = bytes(payload.iv_counter_nonce)
    if op == OP_QUERY:
        if getattr(payload, "query_functions", None):
            facts["query_functions"] = [_int(q) for q in payload.query_functions]
        if getattr(payload, "operations", None):
            facts["operations"] = [_int(o) for o in payload.operations]
        if getattr(payload, "object_types", None):
            facts["object_types"] = [_int(o) for o in payload.object_types]
        if getattr(payload, "vendor_identification", None) is not None:
            facts["vendor_identification"] = str(payload.vendor_identification)
    if op == OP_REVOKE and getattr(payload, "revocation_reason", None) is not None:
        reason = payload.revocation_reason
        facts["revocation_reason"] = {
            "revocation_reason_code": _int(reason.revocation_code),
            "revocation_message": None
            if reason.revocation_message is None
            else str(_value(reason.revocation_message)),
        }
        if payload.compromise_occurrence_date is not None:
            facts["compromise_occurrence_date"] = _int(payload.compromise_occurrence_date)
    return facts


def pykmip_facts(kind: Kind, data: bytes) -> dict[str, Any]:
    """Decode ``data`` with PyKMIP and describe it in the corpus's normalized shape."""
    message = read_message(kind, data)
    header = message.request_header if kind == "request" else message.response_header
    version = (int(header.protocol_version.major), int(header.protocol_version.minor))
    facts: dict[str, Any] = {"protocol_version": version}
    if kind == "response":
        facts["time_stamp"] = _int(header.time_stamp)
    elif header.authentication is not None:
        credential = header.authentication.credentials[0]
        facts["authentication"] = {
            "username": str(_value(credential.credential_value.username)),
            "password": str(_value(credential.credential_value.password)),
        }
    items = []
    for batch_item in message.batch_items:
        # A response to a message that could not be parsed carries no Operation.
        op = None if batch_item.operation is None else _int(batch_item.operation)
        item: dict[str, Any] = {"operation": op}
        if batch_item.unique_batch_item_id is not None:
            item["unique_batch_item_id"] = bytes(_value(batch_item.unique_batch_item_id))
        if kind == "request":
            item["payload"] = _payload_facts(op, batch_item.request_payload)
        else:
            item["result_status"] = _int(batch_item.result_status)
            if batch_item.result_reason is not None:
                item["result_reason"] = _int(batch_item.result_reason)
            if batch_item.result_message is not None:
                item["result_message"] = str(_value(batch_item.result_message))
            if batch_item.response_payload is not None:
                item["payload"] = _payload_facts(op, batch_item.response_payload)
        items.append(item)
    facts["items"] = items
    return facts
