"""Query (4.25): operations, objects, server information, RNGs, profiles, capabilities."""

from __future__ import annotations

from pathlib import Path

from kmip_server.engine import CLAIMED_PROFILES, SUPPORTED_OBJECT_TYPES
from kmip_server.model import QueryRequestPayload, QueryResponsePayload, RequestBatchItem
from kmip_server.operations import REGISTRY
from tests.unit.engine.support import OPERATOR, Core, batch_item, payload_of, run_core
from ttlv.kmip14 import Operation, QueryFunction, RNGAlgorithm


def query(*functions: QueryFunction) -> RequestBatchItem:
    return batch_item(Operation.QUERY, QueryRequestPayload(query_functions=functions))


def test_query_everything(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        answer = await core.one(query(*QueryFunction), OPERATOR)
        payload = payload_of(answer, QueryResponsePayload)
        assert set(payload.operations) == set(REGISTRY)
        assert payload.object_types == SUPPORTED_OBJECT_TYPES
        assert payload.vendor_identification == "OpenKCM"
        assert payload.server_information is not None
        assert [p.profile_name for p in payload.profile_information] == list(CLAIMED_PROFILES)
        (capabilities,) = payload.capability_information
        assert capabilities.batch_undo_capability is True
        assert capabilities.batch_continue_capability is True
        assert capabilities.asynchronous_capability is False
        assert [p.rng_algorithm for p in payload.rng_parameters] == [RNGAlgorithm.UNSPECIFIED]
        assert payload.application_namespaces == ()
        assert payload.extension_information == ()

    run_core(tmp_path, scenario)


def test_query_answers_only_what_was_asked_and_what_the_version_defines(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        only_objects = payload_of(await core.one(query(QueryFunction.QUERY_OBJECTS)), QueryResponsePayload)
        assert only_objects.operations == ()
        assert only_objects.object_types == SUPPORTED_OBJECT_TYPES
        response = await core.send(query(QueryFunction.QUERY_OPERATIONS), version=(1, 0))
        old = payload_of(response.batch_items[0], QueryResponsePayload)
        assert Operation.DISCOVER_VERSIONS not in old.operations  # a KMIP 1.1 operation
        assert Operation.CREATE in old.operations

    run_core(tmp_path, scenario)
