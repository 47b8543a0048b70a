"""Replay OASIS test-case files through an in-process Core (``tests.unit.engine.support``) with
the conformance suite's own matcher (``conformance.replay.replay_case``): the same checks as the
live replay, without a network, so a file can be replayed under several server settings."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import cast

import ttlv
from conformance.cases import DEFAULT_CASES_DIR, load_case
from conformance.matcher import ReplayState
from conformance.replay import CaseResult, Connect, replay_case
from kmip_server.client import KmipClient
from tests.unit.engine.support import Core, tenant
from ttlv.item import Item

__all__ = ["case_path", "replay_in_process"]


def case_path(name: str) -> Path:
    return next(DEFAULT_CASES_DIR.glob(f"*/{name}.xml"))


class _InProcessClient:
    """What ``replay_case`` needs of a ``KmipClient``: ``send_item`` and ``async with``."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def __aenter__(self) -> _InProcessClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    async def send_item(self, request: Item) -> Item:
        answer = await self._core.engine.handle(ttlv.encode(request), tenant("tenant-a"))
        assert answer is not None
        return ttlv.decode(answer)


async def replay_in_process(core: Core, name: str, carried: ReplayState | None = None) -> CaseResult:
    """Replay the file ``name`` against ``core`` (as tenant-a), on the Core's clock."""

    async def connect() -> KmipClient:
        return cast(KmipClient, _InProcessClient(core))

    opener: Connect = connect
    return await replay_case(
        load_case(case_path(name)), opener, clock=lambda: float(core.clock[0]), carried=carried
    )
