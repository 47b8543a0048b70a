"""An independent peer for Locate, Check, Re-key and the attribute operations: requests built
with PyKMIP 0.11's message classes (as its client sends them) go through the engine, and
PyKMIP's own parser reads every answer, at KMIP 1.2 (PyKMIP's default) and 1.4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kmip.core import enums as pk_enums
from kmip.core.messages import payloads as pk_payloads

from tests.support import pykmip_corpus as corpus
from tests.unit.engine.support import Core, run_core, tenant

VERSIONS = [(1, 2), (1, 4)]
Op = pk_enums.Operation


async def one(core: Core, version: tuple[int, int], operation: Any, payload: Any) -> Any:
    """Send one PyKMIP batch item; PyKMIP's parser reads the answer."""
    message = corpus._request(version, [(operation, payload, None)])
    answer = await core.engine.handle(corpus.write_message(message, version), tenant("tenant-a"))
    assert answer is not None
    response = corpus.read_message("response", answer)
    assert response.response_header.protocol_version.minor == version[1]
    return response.batch_items[0]


def ok(item: Any) -> Any:
    assert item.result_status.value is pk_enums.ResultStatus.SUCCESS, (
        item.result_reason,
        item.result_message,
    )
    return item.response_payload


@pytest.mark.parametrize("version", VERSIONS)
def test_pykmip_reads_every_answer(tmp_path: Path, version: tuple[int, int]) -> None:
    async def scenario(core: Core) -> None:
        message, _facts = corpus.create_request(version)
        answer = await core.engine.handle(corpus.write_message(message, version), tenant("tenant-a"))
        assert answer is not None
        uid = corpus.read_message("response", answer).batch_items[0].response_payload.unique_identifier

        locate_message, _facts = corpus.locate_request(version)  # Object Type, AES, the Create's name
        locate_payload = locate_message.batch_items[0].request_payload
        located = ok(await one(core, version, Op.LOCATE, locate_payload))
        assert located.unique_identifiers == [uid]

        names = ["State", "Cryptographic Usage Mask", "Name", "Object Type", "Unique Identifier"]
        got = ok(
            await one(
                core,
                version,
                Op.GET_ATTRIBUTES,
                pk_payloads.GetAttributesRequestPayload(unique_identifier=uid, attribute_names=names),
            )
        )
        assert [a.attribute_name.value for a in got.attributes] == names
        assert got.attributes[0].attribute_value.value is pk_enums.State.PRE_ACTIVE
        assert got.attributes[2].attribute_value.name_value.value == corpus.KEY_NAME

        listed = ok(
            await one(core, version, Op.GET_ATTRIBUTE_LIST, pk_payloads.GetAttributeListRequestPayload(uid))
        )
        assert {"Unique Identifier", "Object Type", "State", "Name", "Digest"} <= set(listed.attribute_names)

        activate = pk_payloads.ActivateRequestPayload(unique_identifier=corpus._uid(uid))
        ok(await one(core, version, Op.ACTIVATE, activate))
        checked = ok(
            await one(
                core,
                version,
                Op.CHECK,
                pk_payloads.CheckRequestPayload(
                    unique_identifier=uid,
                    cryptographic_usage_mask=pk_enums.CryptographicUsageMask.ENCRYPT.value,
                ),
            )
        )
        assert checked.unique_identifier == uid
        refused = await one(
            core,
            version,
            Op.CHECK,
            pk_payloads.CheckRequestPayload(
                unique_identifier=uid, cryptographic_usage_mask=pk_enums.CryptographicUsageMask.SIGN.value
            ),
        )
        assert refused.result_status.value is pk_enums.ResultStatus.OPERATION_FAILED
        assert refused.result_reason.value is pk_enums.ResultReason.PERMISSION_DENIED

        contact = corpus._attr(pk_enums.AttributeType.CONTACT_INFORMATION, "ops@example.com")
        denied = await one(
            core,
            version,
            Op.MODIFY_ATTRIBUTE,
            pk_payloads.ModifyAttributeRequestPayload(uid, attribute=contact),
        )
        assert denied.result_reason.value is pk_enums.ResultReason.INVALID_FIELD  # not there yet
        renamed = corpus._attr(pk_enums.AttributeType.NAME, "renamed by pykmip")
        modified = ok(
            await one(
                core,
                version,
                Op.MODIFY_ATTRIBUTE,
                pk_payloads.ModifyAttributeRequestPayload(uid, attribute=renamed),
            )
        )
        assert modified.attribute.attribute_value.name_value.value == "renamed by pykmip"

        rekeyed = ok(
            await one(core, version, Op.REKEY, pk_payloads.RekeyRequestPayload(unique_identifier=uid))
        )
        new = rekeyed.unique_identifier
        assert new != uid

        deleted = ok(
            await one(
                core,
                version,
                Op.DELETE_ATTRIBUTE,
                pk_payloads.DeleteAttributeRequestPayload(unique_identifier=new, attribute_name="Name"),
            )
        )
        assert deleted.attribute.attribute_value.name_value.value == "renamed by pykmip"

    run_core(tmp_path, scenario)
