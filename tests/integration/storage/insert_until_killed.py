"""Child process of the SIGKILL test: insert records and print each identifier once acknowledged.

    python -m tests.integration.storage.insert_until_killed KIND PLACE COUNT WRITERS

WRITERS coroutines insert concurrently (so writes share commits); a line is printed, and
flushed, only after the store's ``insert`` returned. The parent kills this process mid-way.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.integration.storage.stores import STORE_KINDS, record_for_uid


async def main(kind_name: str, place: Path, count: int, writers: int) -> None:
    store = await STORE_KINDS[kind_name].open(place)
    numbers = iter(range(count))

    async def writer() -> None:
        for number in numbers:
            uid = f"uid-{number:06d}"
            await store.insert(record_for_uid(uid))
            sys.stdout.write(uid + "\n")
            sys.stdout.flush()

    async with asyncio.TaskGroup() as group:
        for _ in range(writers):
            group.create_task(writer())
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
