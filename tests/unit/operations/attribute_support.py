"""Request builders for the attribute operations' tests (Get Attributes, Add / Modify / Delete
Attribute, Locate, Check, Re-key), on top of ``tests.unit.engine.support``."""

from __future__ import annotations

from typing import Any

from kmip_server.model import (
    AddAttributeRequestPayload,
    Attribute,
    CheckRequestPayload,
    DeleteAttributeRequestPayload,
    GetAttributeListRequestPayload,
    GetAttributesRequestPayload,
    GetAttributesResponsePayload,
    LocateRequestPayload,
    ModifyAttributeRequestPayload,
    Name,
    OpaqueObject,
    RegisterRequestPayload,
    RequestBatchItem,
    ResponseBatchItem,
    TemplateAttribute,
)
from kmip_server.model.codec import make_item
from tests.unit.engine.support import Core, batch_item
from ttlv.item import ItemType
from ttlv.kmip14 import NameType, ObjectType, Operation, ResultReason, ResultStatus, Tag

__all__ = [
    "add",
    "check",
    "attribute",
    "custom",
    "delete",
    "failed",
    "get_attribute_list",
    "get_attributes",
    "locate",
    "modify",
    "name",
    "payload_any",
    "register_opaque",
    "shown",
]


def attribute(name: str, value: Any, index: int | None = None) -> Attribute:
    return Attribute(name=name, index=index, value=value)


def name(value: str) -> Attribute:
    return attribute("Name", Name(name_value=value, name_type=NameType.UNINTERPRETED_TEXT_STRING))


def custom(attribute_name: str, text: str) -> Attribute:
    """An "x-" custom attribute with a Text String value."""
    return attribute(attribute_name, make_item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, text))


def add(uid: str | None, new: Attribute) -> RequestBatchItem:
    return batch_item(
        Operation.ADD_ATTRIBUTE, AddAttributeRequestPayload(unique_identifier=uid, attribute=new)
    )


def modify(uid: str | None, new: Attribute) -> RequestBatchItem:
    return batch_item(
        Operation.MODIFY_ATTRIBUTE, ModifyAttributeRequestPayload(unique_identifier=uid, attribute=new)
    )


def delete(uid: str | None, attribute_name: str, index: int | None = None) -> RequestBatchItem:
    return batch_item(
        Operation.DELETE_ATTRIBUTE,
        DeleteAttributeRequestPayload(
            unique_identifier=uid, attribute_name=attribute_name, attribute_index=index
        ),
    )


def get_attributes(uid: str | None, *names: str) -> RequestBatchItem:
    return batch_item(
        Operation.GET_ATTRIBUTES, GetAttributesRequestPayload(unique_identifier=uid, attribute_names=names)
    )


def get_attribute_list(uid: str | None) -> RequestBatchItem:
    return batch_item(Operation.GET_ATTRIBUTE_LIST, GetAttributeListRequestPayload(unique_identifier=uid))


def locate(*attributes: Attribute, **fields: Any) -> RequestBatchItem:
    return batch_item(Operation.LOCATE, LocateRequestPayload(attributes=attributes, **fields))


def check(uid: str | None, **fields: Any) -> RequestBatchItem:
    return batch_item(Operation.CHECK, CheckRequestPayload(unique_identifier=uid, **fields))


async def shown(core: Core, uid: str, *names: str, peer: Any = None) -> dict[str, list[Any]]:
    """The object's attributes through Get Attributes: name -> instances (``Attribute``s with
    their index; typed loosely so that tests reach into values without narrowing)."""
    payload = await core.ok(get_attributes(uid, *names), peer)
    assert isinstance(payload, GetAttributesResponsePayload)
    result: dict[str, list[Any]] = {}
    for item in payload.attributes:
        result.setdefault(item.name, []).append(item)
    return result


async def failed(
    core: Core, item: RequestBatchItem, reason: ResultReason, peer: Any = None
) -> ResponseBatchItem:
    """Send ``item`` and check that it failed with ``reason``."""
    answer = await core.one(item, peer)
    assert answer.result_status is ResultStatus.OPERATION_FAILED, answer
    assert answer.result_reason is reason, (answer.result_reason, answer.result_message)
    return answer


async def register_opaque(core: Core, *attributes: Attribute) -> str:
    payload = await core.ok(
        batch_item(
            Operation.REGISTER,
            RegisterRequestPayload(
                object_type=ObjectType.OPAQUE_OBJECT,
                template_attribute=TemplateAttribute(attributes=attributes),
                managed_object=OpaqueObject(opaque_data_type=0x80000001, opaque_data_value=b"opaque"),  # type: ignore[arg-type]
            ),
        )
    )
    uid: str = payload.unique_identifier
    return uid


def payload_any(item: ResponseBatchItem) -> Any:
    """A batch item's response payload, typed loosely for tests that know what it is."""
    return item.response_payload
