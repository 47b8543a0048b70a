"""Regression: allocating a secret (every L2 the hierarchy opens) must not start a process.

unseal.memory used to look libc up with ctypes.util.find_library on every mlock and munlock,
which runs ``ldconfig -p`` in a child process: two fork+execs per SecretBuffer, milliseconds
each, on the path that opens a tenant.
"""

from __future__ import annotations

import sys
from typing import Any

from unseal.memory import SecretBuffer

_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec"})


class _SpawnRecorder:
    def __init__(self) -> None:
        self.recording = False
        self.spawned: list[str] = []

    def __call__(self, event: str, _args: tuple[Any, ...]) -> None:
        if self.recording and event in _SPAWN_EVENTS:
            self.spawned.append(event)


_recorder = _SpawnRecorder()
sys.addaudithook(_recorder)  # cannot be removed; it records only while a test below asks it to


def test_secret_buffers_start_no_process() -> None:
    SecretBuffer.random(32).wipe()  # the first use may look libc up once
    _recorder.recording = True
    try:
        for _ in range(20):
            with SecretBuffer.random(32) as secret:
                assert len(secret) == 32
    finally:
        _recorder.recording = False
    assert _recorder.spawned == []
