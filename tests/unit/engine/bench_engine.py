"""Benchmark: the request engine in process (no network), Get of a 256-bit key and Create.

Run: ``.venv/bin/python -m tests.unit.engine.bench_engine [--count N]``

Prints microseconds per request and requests per second for Get and Create through
``RequestEngine.handle`` (bytes in, bytes out, in-memory object store, warm key hierarchy), and
for a baseline measured in the same run: the message layer alone for the same Get (TTLV and
model decode of the request, model and TTLV encode of a response carrying the same key), so the
ratio is the engine's own cost on top of the codec.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kmip_server.model import (
    GetRequestPayload,
    GetResponsePayload,
    ProtocolVersion,
    RequestHeader,
    RequestMessage,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    request_from_bytes,
    request_to_bytes,
    response_from_bytes,
    response_to_bytes,
)
from tests.unit.engine.support import Core, batch_item, create_aes, create_item, run_core, tenant
from ttlv.kmip14 import Operation, ResultStatus


def _message(*items: object) -> bytes:
    return request_to_bytes(
        RequestMessage(
            request_header=RequestHeader(
                protocol_version=ProtocolVersion(major=1, minor=2), batch_count=len(items)
            ),
            batch_items=items,  # type: ignore[arg-type]
        )
    )


def _report(label: str, count: int, elapsed: float, baseline: float | None = None) -> None:
    per = elapsed / count * 1e6
    ratio = f"  ({per / baseline:.1f}x the baseline)" if baseline else ""
    print(f"{label:<34} {per:8.1f} us/request {count / elapsed:10.0f} requests/s{ratio}")


async def _bench(core: Core, count: int) -> None:
    peer = tenant("tenant-a")
    uid = await create_aes(core)
    get = _message(batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)))
    answer = await core.engine.handle(get, peer)
    assert answer is not None
    response = response_from_bytes(answer)
    payload = response.batch_items[0].response_payload
    assert isinstance(payload, GetResponsePayload)

    started = time.perf_counter()
    for _ in range(count):
        request = request_from_bytes(get)
        response_to_bytes(
            ResponseMessage(
                response_header=ResponseHeader(
                    protocol_version=request.request_header.protocol_version, time_stamp=0, batch_count=1
                ),
                batch_items=(
                    ResponseBatchItem(
                        operation=Operation.GET, result_status=ResultStatus.SUCCESS, response_payload=payload
                    ),
                ),
            )
        )
    baseline = (time.perf_counter() - started) / count * 1e6
    _report("baseline: codec only (Get)", count, baseline * count / 1e6)

    started = time.perf_counter()
    for _ in range(count):
        await core.engine.handle(get, peer)
    _report("engine: Get AES-256", count, time.perf_counter() - started, baseline)

    create = _message(create_item())
    creates = max(1, count // 4)
    started = time.perf_counter()
    for _ in range(creates):
        await core.engine.handle(create, peer)
    _report("engine: Create AES-256", creates, time.perf_counter() - started, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:

        async def scenario(core: Core) -> None:
            await _bench(core, args.count)

        run_core(Path(directory), scenario)


if __name__ == "__main__":
    main()
