"""Create -> Activate -> Get -> Destroy through the engine, in one batch and item by item."""

from __future__ import annotations

from pathlib import Path

from kmip_server.model import CreateResponsePayload, GetRequestPayload, GetResponsePayload
from tests.unit.engine.support import Core, batch_item, create_item, payload_of, run_core, uid_item
from ttlv.kmip14 import Operation, ResultStatus, State


def test_create_activate_get_in_one_batch(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(batch_id=b"1"),
            uid_item(Operation.ACTIVATE, batch_id=b"2"),
            batch_item(Operation.GET, GetRequestPayload(), b"3"),
        )
        statuses = [item.result_status for item in response.batch_items]
        assert statuses == [ResultStatus.SUCCESS] * 3, [i.result_message for i in response.batch_items]
        created = payload_of(response.batch_items[0], CreateResponsePayload)
        got = payload_of(response.batch_items[2], GetResponsePayload)
        assert got.unique_identifier == created.unique_identifier
        record = await core.store.get("tenant-a", created.unique_identifier)
        assert record is not None
        assert record.state is State.ACTIVE

    run_core(tmp_path, scenario)
