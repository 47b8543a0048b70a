"""Interoperability with PyKMIP 0.11, an independent KMIP implementation (no network).

The corpus (``tests.support.pykmip_corpus``) holds requests and responses that PyKMIP's own
classes encoded, with their meaning written down by hand. Here:

- codec level: every corpus message decodes with ``ttlv`` and re-encodes to the same bytes;
- model level: every corpus message decodes through the KMIP message model to the facts,
  and the model re-encodes it to the same bytes PyKMIP wrote;
- reverse: messages built with the model and encoded by OpenKCM are read by PyKMIP's parser,
  which must see the same facts.
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum, IntFlag
from functools import cache
from typing import Any

import pytest

from kmip_server import model as m
from tests.support import pykmip_corpus as corpus
from ttlv.codec import decode, encode
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    BlockCipherMode,
    CredentialType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    NameType,
    ObjectType,
    Operation,
    PaddingMethod,
    QueryFunction,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    SecretDataType,
    Tag,
)

NAMES = [f"{base}-{major}.{minor}" for base in corpus.BUILDERS for major, minor in corpus.VERSIONS]


@cache
def _entries() -> dict[str, corpus.CorpusEntry]:
    return {entry.name: entry for entry in corpus.build_corpus()}


def entry(name: str) -> corpus.CorpusEntry:
    return _entries()[name]


# ---------------------------------------------------------------------------------------
# The corpus itself


@pytest.mark.parametrize("name", NAMES)
def test_pykmip_reads_back_the_hand_written_facts(name: str) -> None:
    """The facts are right about the bytes, according to PyKMIP itself."""
    e = entry(name)
    assert corpus.pykmip_facts(e.kind, e.data) == e.facts


def test_corpus_covers_the_operations_and_versions_of_the_issue() -> None:
    ops = {(e.kind, op) for e in _entries().values() for op in e.operations}
    for op in (
        corpus.OP_CREATE,
        corpus.OP_REGISTER,
        corpus.OP_GET,
        corpus.OP_GET_ATTRIBUTES,
        corpus.OP_LOCATE,
        corpus.OP_DESTROY,
        corpus.OP_ENCRYPT,
        corpus.OP_QUERY,
        corpus.OP_ACTIVATE,
        corpus.OP_REVOKE,
    ):
        assert ("request", op) in ops
        assert ("response", op) in ops
    assert {e.version for e in _entries().values()} == {(1, 2), (1, 4)}


# ---------------------------------------------------------------------------------------
# Codec level: bytes -> Item -> bytes


def _walk(item: Item) -> list[Item]:
    out = [item]
    for child in item.children:
        out.extend(_walk(child))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_codec_round_trips_pykmip_bytes_exactly(name: str) -> None:
    e = entry(name)
    item = decode(e.data)
    assert encode(item) == e.data
    assert encode(decode(bytearray(e.data))) == e.data


@pytest.mark.parametrize("name", NAMES)
def test_codec_items_carry_the_header_facts(name: str) -> None:
    """Independently of the model, the Item tree has the message's shape and values."""
    e = entry(name)
    item = decode(e.data)
    top, header_tag = (
        (Tag.REQUEST_MESSAGE, Tag.REQUEST_HEADER)
        if e.kind == "request"
        else (Tag.RESPONSE_MESSAGE, Tag.RESPONSE_HEADER)
    )
    assert item.tag == top
    assert item.type is ItemType.STRUCTURE
    header = item.find(header_tag)
    assert header is not None
    version = header.find(Tag.PROTOCOL_VERSION)
    assert version is not None
    major = version.find(Tag.PROTOCOL_VERSION_MAJOR)
    minor = version.find(Tag.PROTOCOL_VERSION_MINOR)
    assert major is not None
    assert minor is not None
    assert (major.value, minor.value) == e.facts["protocol_version"]
    count = header.find(Tag.BATCH_COUNT)
    assert count is not None
    assert count.type is ItemType.INTEGER
    batch = item.find_all(Tag.BATCH_ITEM)
    assert count.value == len(batch) == len(e.facts["items"])
    for batch_item, facts in zip(batch, e.facts["items"], strict=True):
        operation = batch_item.find(Tag.OPERATION)
        assert operation is not None
        assert operation.type is ItemType.ENUMERATION
        assert operation.value == facts["operation"]
    if e.kind == "response":
        stamp = header.find(Tag.TIME_STAMP)
        assert stamp is not None
        assert stamp.type is ItemType.DATE_TIME
        assert stamp.value == e.facts["time_stamp"]


def test_codec_carries_key_material_and_text_exactly() -> None:
    items = _walk(decode(entry("get-response-1.4").data))
    materials = [i.value for i in items if i.tag == Tag.KEY_MATERIAL]
    assert materials == [corpus.KEY_MATERIAL]
    uids = [i.value for i in items if i.tag == Tag.UNIQUE_IDENTIFIER]
    assert uids == [corpus.UID_KEY]


# ---------------------------------------------------------------------------------------
# The model's view of a message, in the corpus's normalized facts (see pykmip_corpus).


def _attribute_value_facts(value: Any) -> Any:
    if isinstance(value, m.Name):
        return {"name_value": value.name_value, "name_type": int(value.name_type)}
    if isinstance(value, m.CryptographicParameters):
        return _parameters_facts(value)
    if isinstance(value, bool | str | bytes):
        return value
    if isinstance(value, int):
        return int(value)
    raise AssertionError(f"corpus has no attribute value of type {type(value).__name__}")


def _attributes_facts(attributes: tuple[m.Attribute, ...]) -> list[tuple[str, int | None, Any]]:
    return [(a.name, a.index, _attribute_value_facts(a.value)) for a in attributes]


def _parameters_facts(params: m.CryptographicParameters) -> dict[str, Any]:
    return {
        field.name: getattr(params, field.name)
        for field in dataclasses.fields(params)
        if getattr(params, field.name) is not None
    }


def _key_block_facts(block: m.KeyBlock) -> dict[str, Any]:
    assert isinstance(block.key_value, m.KeyValue), "the corpus has no wrapped keys"
    assert block.key_value.attributes == ()
    return {
        "key_format_type": block.key_format_type,
        "key_material": block.key_value.key_material,
        "cryptographic_algorithm": block.cryptographic_algorithm,
        "cryptographic_length": block.cryptographic_length,
    }


def _managed_object_facts(obj: m.ManagedObject, facts: dict[str, Any]) -> None:
    if isinstance(obj, m.SymmetricKey):
        facts["symmetric_key"] = _key_block_facts(obj.key_block)
    elif isinstance(obj, m.SecretData):
        facts["secret_data"] = {
            "secret_data_type": obj.secret_data_type,
            "key_block": _key_block_facts(obj.key_block),
        }
    else:
        raise TypeError(f"corpus has no {type(obj).__name__}")


def _model_payload_facts(payload: Any) -> dict[str, Any]:
    """Every field the model decoded that is set, under the corpus's names."""
    facts: dict[str, Any] = {}
    for field in dataclasses.fields(payload):
        value = getattr(payload, field.name)
        if value is None or value == ():
            continue
        if field.name == "template_attribute":
            assert value.names == ()
            facts["template_attribute"] = _attributes_facts(value.attributes)
        elif field.name == "attributes":
            facts["attributes"] = _attributes_facts(value)
        elif field.name == "managed_object":
            _managed_object_facts(value, facts)
        elif field.name == "cryptographic_parameters":
            facts[field.name] = _parameters_facts(value)
        elif field.name == "revocation_reason":
            facts[field.name] = {
                "revocation_reason_code": value.revocation_reason_code,
                "revocation_message": value.revocation_message,
            }
        elif isinstance(value, tuple):
            facts[field.name] = list(value)
        else:
            facts[field.name] = value
    return facts


def model_facts(message: m.RequestMessage | m.ResponseMessage) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    if isinstance(message, m.RequestMessage):
        header = message.request_header
        facts["protocol_version"] = header.protocol_version.version
        if header.authentication is not None:
            (credential,) = header.authentication.credentials
            value = credential.credential_value
            assert credential.credential_type == CredentialType.USERNAME_AND_PASSWORD
            assert isinstance(value, m.UsernamePasswordCredential)
            facts["authentication"] = {"username": value.username, "password": value.password}
        assert header.batch_count == len(message.batch_items)
        for request_item in message.batch_items:
            item: dict[str, Any] = {"operation": request_item.operation}
            if request_item.unique_batch_item_id is not None:
                item["unique_batch_item_id"] = request_item.unique_batch_item_id
            item["payload"] = _model_payload_facts(request_item.request_payload)
            items.append(item)
    else:
        response_header = message.response_header
        facts["protocol_version"] = response_header.protocol_version.version
        facts["time_stamp"] = response_header.time_stamp
        assert response_header.batch_count == len(message.batch_items)
        for response_item in message.batch_items:
            item = {"operation": response_item.operation}
            if response_item.unique_batch_item_id is not None:
                item["unique_batch_item_id"] = response_item.unique_batch_item_id
            item["result_status"] = response_item.result_status
            for name in ("result_reason", "result_message"):
                if getattr(response_item, name) is not None:
                    item[name] = getattr(response_item, name)
            if response_item.response_payload is not None:
                item["payload"] = _model_payload_facts(response_item.response_payload)
            items.append(item)
    facts["items"] = items
    return facts


def decode_with_model(e: corpus.CorpusEntry) -> m.RequestMessage | m.ResponseMessage:
    item = decode(e.data)
    return m.decode_request(item) if e.kind == "request" else m.decode_response(item)


def encode_with_model(message: m.RequestMessage | m.ResponseMessage) -> bytes:
    if isinstance(message, m.RequestMessage):
        return encode(m.encode_request(message))
    return encode(m.encode_response(message))


# ---------------------------------------------------------------------------------------
# Model level: bytes -> Item -> model -> Item -> bytes


@pytest.mark.parametrize("name", NAMES)
def test_model_decodes_pykmip_messages_to_the_facts(name: str) -> None:
    e = entry(name)
    assert model_facts(decode_with_model(e)) == e.facts


@pytest.mark.parametrize("name", NAMES)
def test_model_reencodes_pykmip_messages_to_the_same_bytes(name: str) -> None:
    e = entry(name)
    message = decode_with_model(e)
    assert encode_with_model(message) == e.data
    # The bytes helpers are the same path.
    if isinstance(message, m.RequestMessage):
        assert m.request_to_bytes(m.request_from_bytes(e.data)) == e.data
    else:
        assert m.response_to_bytes(m.response_from_bytes(e.data)) == e.data


def test_model_values_have_their_kmip_types() -> None:
    """Enumerations decode to the generated IntEnums and masks to IntFlags, not bare ints."""
    message = decode_with_model(entry("create-request-1.4"))
    assert isinstance(message, m.RequestMessage)
    (batch_item,) = message.batch_items
    assert batch_item.operation is Operation.CREATE
    payload = batch_item.request_payload
    assert isinstance(payload, m.CreateRequestPayload)
    assert payload.object_type is ObjectType.SYMMETRIC_KEY
    values = {a.name: a.value for a in payload.template_attribute.attributes}
    assert values["Cryptographic Algorithm"] is CryptographicAlgorithm.AES
    mask = values["Cryptographic Usage Mask"]
    assert isinstance(mask, CryptographicUsageMask)
    assert mask == CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
    assert values["Name"] == m.Name(name_value=corpus.KEY_NAME, name_type=NameType.UNINTERPRETED_TEXT_STRING)


def test_model_keeps_secrets_out_of_repr() -> None:
    """Key material and passwords decoded from PyKMIP's bytes never show in a repr."""
    for name, secret in (
        ("get-response-1.4", corpus.KEY_MATERIAL),
        ("register-secret-data-request-1.2", corpus.SECRET_MATERIAL),
        ("create-request-authenticated-1.4", corpus.PASSWORD.encode()),
    ):
        text = repr(decode_with_model(entry(name)))
        assert secret.hex() not in text
        assert repr(secret) not in text
        assert secret.decode("latin-1") not in text


# ---------------------------------------------------------------------------------------
# Reverse: messages built with the model, encoded by OpenKCM, read by PyKMIP


def _attribute_from_facts(name: str, index: int | None, value: Any) -> m.Attribute:
    rule = m.ATTRIBUTES[name]
    typed: Any
    if isinstance(value, dict):
        typed = m.Name(name_value=value["name_value"], name_type=NameType(value["name_type"]))
    elif isinstance(rule.value_type, type) and issubclass(rule.value_type, IntEnum | IntFlag):
        typed = rule.value_type(value)
    else:
        typed = value
    return m.Attribute(name=name, index=index, value=typed)


def _attributes_from_facts(facts: list[tuple[str, int | None, Any]]) -> tuple[m.Attribute, ...]:
    return tuple(_attribute_from_facts(*fact) for fact in facts)


def _key_block_from_facts(facts: dict[str, Any]) -> m.KeyBlock:
    algorithm = facts["cryptographic_algorithm"]
    return m.KeyBlock(
        key_format_type=KeyFormatType(facts["key_format_type"]),
        key_value=m.KeyValue(key_material=facts["key_material"]),
        cryptographic_algorithm=None if algorithm is None else CryptographicAlgorithm(algorithm),
        cryptographic_length=facts["cryptographic_length"],
    )


def _managed_object_from_facts(facts: dict[str, Any]) -> m.ManagedObject:
    if "symmetric_key" in facts:
        return m.SymmetricKey(key_block=_key_block_from_facts(facts["symmetric_key"]))
    secret = facts["secret_data"]
    return m.SecretData(
        secret_data_type=SecretDataType(secret["secret_data_type"]),
        key_block=_key_block_from_facts(secret["key_block"]),
    )


def _request_payload_from_facts(op: Operation, p: dict[str, Any]) -> m.RequestPayload:
    uid = p.get("unique_identifier")
    if op is Operation.CREATE:
        return m.CreateRequestPayload(
            object_type=ObjectType(p["object_type"]),
            template_attribute=m.TemplateAttribute(
                attributes=_attributes_from_facts(p["template_attribute"])
            ),
        )
    if op is Operation.REGISTER:
        return m.RegisterRequestPayload(
            object_type=ObjectType(p["object_type"]),
            template_attribute=m.TemplateAttribute(
                attributes=_attributes_from_facts(p["template_attribute"])
            ),
            managed_object=_managed_object_from_facts(p),
        )
    if op is Operation.GET:
        return m.GetRequestPayload(unique_identifier=uid)
    if op is Operation.GET_ATTRIBUTES:
        return m.GetAttributesRequestPayload(
            unique_identifier=uid, attribute_names=tuple(p["attribute_names"])
        )
    if op is Operation.LOCATE:
        return m.LocateRequestPayload(
            maximum_items=p["maximum_items"], attributes=_attributes_from_facts(p["attributes"])
        )
    if op in (Operation.DESTROY, Operation.ACTIVATE):
        return m.UniqueIdentifierRequestPayload(unique_identifier=uid)
    if op is Operation.ENCRYPT:
        params = p["cryptographic_parameters"]
        return m.EncryptRequestPayload(
            unique_identifier=uid,
            cryptographic_parameters=m.CryptographicParameters(
                block_cipher_mode=BlockCipherMode(params["block_cipher_mode"]),
                padding_method=PaddingMethod(params["padding_method"]),
                cryptographic_algorithm=CryptographicAlgorithm(params["cryptographic_algorithm"]),
            ),
            data=p["data"],
            iv_counter_nonce=p["iv_counter_nonce"],
        )
    if op is Operation.QUERY:
        return m.QueryRequestPayload(query_functions=tuple(QueryFunction(q) for q in p["query_functions"]))
    if op is Operation.REVOKE:
        reason = p["revocation_reason"]
        return m.RevokeRequestPayload(
            unique_identifier=uid,
            revocation_reason=m.RevocationReason(
                revocation_reason_code=RevocationReasonCode(reason["revocation_reason_code"]),
                revocation_message=reason["revocation_message"],
            ),
            compromise_occurrence_date=p["compromise_occurrence_date"],
        )
    raise AssertionError(f"no request builder for {op!r}")


def _response_payload_from_facts(op: Operation, p: dict[str, Any]) -> m.ResponsePayload:
    uid: str = p.get("unique_identifier", "")
    if op is Operation.CREATE:
        return m.CreateResponsePayload(object_type=ObjectType(p["object_type"]), unique_identifier=uid)
    if op is Operation.GET:
        return m.GetResponsePayload(
            object_type=ObjectType(p["object_type"]),
            unique_identifier=uid,
            managed_object=_managed_object_from_facts(p),
        )
    if op is Operation.GET_ATTRIBUTES:
        return m.GetAttributesResponsePayload(
            unique_identifier=uid, attributes=_attributes_from_facts(p["attributes"])
        )
    if op is Operation.LOCATE:
        return m.LocateResponsePayload(unique_identifiers=tuple(p["unique_identifiers"]))
    if op in (Operation.REGISTER,):
        return m.RegisterResponsePayload(unique_identifier=uid)
    if op in (Operation.DESTROY, Operation.ACTIVATE, Operation.REVOKE):
        return m.UniqueIdentifierResponsePayload(unique_identifier=uid)
    if op is Operation.ENCRYPT:
        return m.EncryptResponsePayload(unique_identifier=uid, data=p["data"])
    if op is Operation.QUERY:
        return m.QueryResponsePayload(
            operations=tuple(Operation(o) for o in p["operations"]),
            object_types=tuple(ObjectType(o) for o in p["object_types"]),
            vendor_identification=p["vendor_identification"],
        )
    raise AssertionError(f"no response builder for {op!r}")


def model_from_facts(kind: corpus.Kind, facts: dict[str, Any]) -> m.RequestMessage | m.ResponseMessage:
    """A message built field by field with the model's classes, from the hand-written facts."""
    version = m.ProtocolVersion(major=facts["protocol_version"][0], minor=facts["protocol_version"][1])
    if kind == "request":
        authentication = None
        if "authentication" in facts:
            credential = m.Credential(
                credential_type=CredentialType.USERNAME_AND_PASSWORD,
                credential_value=m.UsernamePasswordCredential(
                    username=facts["authentication"]["username"],
                    password=facts["authentication"]["password"],
                ),
            )
            authentication = m.Authentication(credentials=(credential,))
        request_items = tuple(
            m.RequestBatchItem(
                operation=Operation(item["operation"]),
                unique_batch_item_id=item.get("unique_batch_item_id"),
                request_payload=_request_payload_from_facts(Operation(item["operation"]), item["payload"]),
            )
            for item in facts["items"]
        )
        return m.RequestMessage(
            request_header=m.RequestHeader(
                protocol_version=version, authentication=authentication, batch_count=len(request_items)
            ),
            batch_items=request_items,
        )
    response_items = tuple(
        m.ResponseBatchItem(
            operation=Operation(item["operation"]),
            unique_batch_item_id=item.get("unique_batch_item_id"),
            result_status=ResultStatus(item["result_status"]),
            result_reason=None if "result_reason" not in item else ResultReason(item["result_reason"]),
            result_message=item.get("result_message"),
            response_payload=(
                None
                if "payload" not in item
                else _response_payload_from_facts(Operation(item["operation"]), item["payload"])
            ),
        )
        for item in facts["items"]
    )
    return m.ResponseMessage(
        response_header=m.ResponseHeader(
            protocol_version=version, time_stamp=facts["time_stamp"], batch_count=len(response_items)
        ),
        batch_items=response_items,
    )


@pytest.mark.parametrize("name", NAMES)
def test_pykmip_reads_what_the_model_builds_and_encodes(name: str) -> None:
    e = entry(name)
    ours = encode_with_model(model_from_facts(e.kind, dict(e.facts)))
    assert corpus.pykmip_facts(e.kind, ours) == e.facts


@pytest.mark.parametrize("name", NAMES)
def test_model_built_messages_encode_to_pykmips_bytes(name: str) -> None:
    """Same content, same bytes: both follow the spec's field order and omit absent fields."""
    e = entry(name)
    assert encode_with_model(model_from_facts(e.kind, dict(e.facts))) == e.data


def test_pykmip_reads_a_model_message_it_never_wrote() -> None:
    """A Get response at 1.4 with a Located-Items-free Locate and a Name index PyKMIP's server
    would not emit: PyKMIP's parser still reads every value."""
    facts: dict[str, Any] = {
        "protocol_version": (1, 4),
        "time_stamp": corpus.TIME_STAMP + 1,
        "items": [
            {
                "operation": corpus.OP_GET_ATTRIBUTES,
                "result_status": corpus.STATUS_SUCCESS,
                "unique_batch_item_id": b"\xff" * 16,
                "payload": {
                    "unique_identifier": corpus.UID_SECRET,
                    "attributes": [
                        ("Name", 0, {"name_value": "first", "name_type": 1}),
                        ("Name", 1, {"name_value": "https://example.test/k", "name_type": 2}),
                        ("Cryptographic Usage Mask", None, 0x7FFFFF),
                    ],
                },
            },
            {"operation": corpus.OP_LOCATE, "result_status": corpus.STATUS_SUCCESS, "payload": {}},
        ],
    }
    facts["items"][1]["payload"] = {"unique_identifiers": [f"uid-{i}" for i in range(50)]}
    data = encode_with_model(model_from_facts("response", facts))
    assert corpus.pykmip_facts("response", data) == facts


# ---------------------------------------------------------------------------------------
# Fields newer than the header's version: the one legitimate byte difference found


GATED_NAMES = [
    f"{base}-{major}.{minor}" for base in corpus.VERSION_GATED_BUILDERS for major, minor in corpus.VERSIONS
]


@cache
def _gated() -> dict[str, tuple[corpus.CorpusEntry, int]]:
    return {e.name: (e, tag) for e, tag in corpus.build_version_gated()}


def _without(item: Item, tag: int) -> Item:
    """``item`` with every descendant tagged ``tag`` removed."""
    if item.type is not ItemType.STRUCTURE:
        return item
    return Item(item.tag, item.type, tuple(_without(c, tag) for c in item.children if c.tag != tag))


@pytest.mark.parametrize("name", GATED_NAMES)
def test_model_reads_fields_newer_than_the_header_version(name: str) -> None:
    e, _ = _gated()[name]
    assert corpus.pykmip_facts(e.kind, e.data) == e.facts
    assert model_facts(decode_with_model(e)) == e.facts


@pytest.mark.parametrize("name", GATED_NAMES)
def test_model_encodes_fields_newer_than_the_header_version_only_where_defined(name: str) -> None:
    """PyKMIP writes Offset Items and Located Items (KMIP 1.3 fields) even in a 1.2 message.

    The model encodes for the header's version and leaves out fields that version does not
    define, since a 1.2 peer could not parse them. So at 1.4 the bytes are PyKMIP's exactly;
    at 1.2 they are PyKMIP's minus that one item, and PyKMIP reads everything else unchanged.
    """
    e, tag = _gated()[name]
    ours = encode_with_model(decode_with_model(e))
    if e.version >= (1, 3):
        assert ours == e.data
        return
    assert ours != e.data
    assert decode(ours) == _without(decode(e.data), tag)
    seen = corpus.pykmip_facts(e.kind, ours)
    (payload,) = (item["payload"] for item in seen["items"])
    expected_payload = dict(e.facts["items"][0]["payload"])
    dropped = {"offset_items", "located_items"} & expected_payload.keys()
    assert len(dropped) == 1
    for key in dropped:
        del expected_payload[key]
    assert payload == expected_payload


def test_pykmip_reads_a_model_message_level_error_response() -> None:
    """The answer to an unparsable request has no Operation and no payload (section 11.1)."""
    message = m.ResponseMessage(
        response_header=m.ResponseHeader(
            protocol_version=m.ProtocolVersion(major=1, minor=2), time_stamp=corpus.TIME_STAMP, batch_count=1
        ),
        batch_items=(
            m.ResponseBatchItem(
                result_status=ResultStatus.OPERATION_FAILED,
                result_reason=ResultReason.INVALID_MESSAGE,
                result_message="Message cannot be parsed",
            ),
        ),
    )
    assert corpus.pykmip_facts("response", encode_with_model(message)) == {
        "protocol_version": (1, 2),
        "time_stamp": corpus.TIME_STAMP,
        "items": [
            {
                "operation": None,
                "result_status": int(ResultStatus.OPERATION_FAILED),
                "result_reason": int(ResultReason.INVALID_MESSAGE),
                "result_message": "Message cannot be parsed",
            }
        ],
    }
