"""An independent peer: requests built by PyKMIP 0.11 (as its client sends them) go through
the engine, and PyKMIP's own parser reads every answer, at KMIP 1.2 (PyKMIP's default) and 1.4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kmip.core import enums as pk_enums
from kmip.core.messages import payloads as pk_payloads

from kmip_server.identity import Identity
from tests.support import pykmip_corpus as corpus
from tests.unit.engine.support import Core, run_core, tenant

VERSIONS = [(1, 2), (1, 4)]


async def exchange(core: Core, message: Any, version: tuple[int, int], peer: Identity | None = None) -> Any:
    answer = await core.engine.handle(corpus.write_message(message, version), peer or core_peer())
    assert answer is not None
    return corpus.read_message("response", answer)


def core_peer() -> Identity:
    return tenant("tenant-a")


def status(response: Any, index: int = 0) -> Any:
    return response.batch_items[index].result_status.value


@pytest.mark.parametrize("version", VERSIONS)
def test_pykmip_requests_and_parser(tmp_path: Path, version: tuple[int, int]) -> None:
    async def scenario(core: Core) -> None:
        message, _facts = corpus.create_request(version)
        created = await exchange(core, message, version)
        assert created.response_header.protocol_version.minor == version[1]
        assert status(created) is pk_enums.ResultStatus.SUCCESS
        uid = created.batch_items[0].response_payload.unique_identifier

        get = corpus._request(
            version, [(pk_enums.Operation.GET, pk_payloads.GetRequestPayload(unique_identifier=uid), None)]
        )
        got = await exchange(core, get, version)
        assert status(got) is pk_enums.ResultStatus.SUCCESS
        key_block = got.batch_items[0].response_payload.secret.key_block
        assert len(key_block.key_value.key_material.value) == 32

        activate = corpus._request(
            version,
            [
                (
                    pk_enums.Operation.ACTIVATE,
                    pk_payloads.ActivateRequestPayload(unique_identifier=corpus._uid(uid)),
                    None,
                )
            ],
        )
        assert status(await exchange(core, activate, version)) is pk_enums.ResultStatus.SUCCESS
        destroy = corpus._request(
            version,
            [
                (
                    pk_enums.Operation.DESTROY,
                    pk_payloads.DestroyRequestPayload(unique_identifier=corpus._uid(uid)),
                    None,
                )
            ],
        )
        refused = await exchange(core, destroy, version)
        assert status(refused) is pk_enums.ResultStatus.OPERATION_FAILED
        assert refused.batch_items[0].result_reason.value is pk_enums.ResultReason.PERMISSION_DENIED

        # In the other tenant: the corpus registers under the name its Create used, and names
        # are unique among a tenant's live objects.
        for build in (
            corpus.register_symmetric_key_request,
            corpus.register_secret_data_request,
            corpus.query_request,
        ):
            request, _facts = build(version)
            answer = await exchange(core, request, version, tenant("tenant-b"))
            item = answer.batch_items[0]
            assert status(answer) is pk_enums.ResultStatus.SUCCESS, (build.__name__, item.result_message)

        # PyKMIP reads a message-level failure (no Operation) too.
        answer = await core.engine.handle(b"\x42\x00\x78\x01\x00\x00\x00\x08garbage!", core_peer())
        assert answer is not None
        failure = corpus.read_message("response", answer)
        assert status(failure) is pk_enums.ResultStatus.OPERATION_FAILED
        assert failure.batch_items[0].result_reason.value is pk_enums.ResultReason.INVALID_MESSAGE

    run_core(tmp_path, scenario)
