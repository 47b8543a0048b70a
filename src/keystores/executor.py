"""A bounded thread pool for blocking keystore SDK calls (boto3, PKCS#11), with a timeout on each call.

Invariants:
- At most ``max_workers`` SDK calls run at once per executor, and at most ``max_pending`` are
  waiting or running; past that a caller gets ``KeystoreUnavailable`` at once instead of queueing
  without bound behind a keystore that has stopped answering.
- Every call is awaited under ``call_timeout`` (time in the queue included). A call that times out
  raises ``KeystoreUnavailable``; if it had not started it never will (its future is cancelled),
  and if it had, the thread finishes it in the background and the result is dropped. Python
  cannot interrupt a thread blocked in C, so the SDK's own socket timeouts must be set as well.
- ``asyncio.CancelledError`` always propagates: cancelling the awaiting task cancels the wait,
  never the cancellation.
- Exceptions raised by the callable propagate unchanged; drivers translate SDK errors to the
  normalized ``KeystoreError`` classes inside the callable, in the worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from keystores.base import KeystoreUnavailable

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    max_workers: int = 8  # SDK calls running at once
    max_pending: int = 256  # calls waiting or running before new ones are refused (KeystoreUnavailable)
    call_timeout: float = 5.0  # seconds per call, queueing included (KeystoreUnavailable)
    close_timeout: float = 5.0  # seconds close() waits for running calls before giving up on them

    def __post_init__(self) -> None:
        if self.max_workers < 1 or self.max_pending < self.max_workers:
            raise ValueError("need max_workers >= 1 and max_pending >= max_workers")
        if self.call_timeout <= 0 or self.close_timeout < 0:
            raise ValueError("call_timeout must be positive and close_timeout non-negative")


DEFAULT_EXECUTOR_SETTINGS = ExecutorSettings()


class BoundedExecutor:
    """Runs blocking callables off the event loop, a bounded number at a time, each under a timeout."""

    __slots__ = ("_closed", "_lock", "_pending", "_pool", "_running", "_settings", "_thread_name_prefix")

    def __init__(self, name: str, settings: ExecutorSettings = DEFAULT_EXECUTOR_SETTINGS) -> None:
        self._settings = settings
        self._thread_name_prefix = f"keystore-{name}-{id(self):x}"
        self._pool = ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix=self._thread_name_prefix
        )
        self._lock = threading.Lock()
        self._pending = 0
        self._running: set[Future[Any]] = set()
        self._closed = False

    @property
    def settings(self) -> ExecutorSettings:
        return self._settings

    @property
    def thread_name_prefix(self) -> str:
        """Prefix of this executor's worker thread names (to observe them in tests and dumps)."""
        return self._thread_name_prefix

    @property
    def closed(self) -> bool:
        return self._closed

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        """Run ``fn(*args)`` in a worker thread and return its result, or raise ``KeystoreUnavailable``."""
        if self._closed:
            raise KeystoreUnavailable("keystore is closed")
        with self._lock:
            admitted = self._pending < self._settings.max_pending
            if admitted:
                self._pending += 1
        if not admitted:
            raise KeystoreUnavailable("too many keystore calls pending")
        try:
            work = self._pool.submit(fn, *args)
            self._running.add(work)
            work.add_done_callback(self._running.discard)
            deadline = asyncio.timeout(self._settings.call_timeout)
            try:
                async with deadline:
                    # Cancelling this wrapper (timeout or caller) cancels ``work`` if not yet started.
                    return await asyncio.wrap_future(work)
            except TimeoutError:
                if not deadline.expired():
                    raise  # raised by fn itself, not by our deadline
            # Raised outside the handler so no SDK or asyncio exception rides along as __context__.
            raise KeystoreUnavailable("keystore call timed out")
        finally:
            with self._lock:
                self._pending -= 1

    async def close(self) -> None:
        """Refuse new calls, drop queued ones, and wait (bounded) for running ones to finish."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        running = [asyncio.wrap_future(work) for work in list(self._running) if not work.done()]
        if running:
            _, still_running = await asyncio.wait(running, timeout=self._settings.close_timeout)
            if still_running:
                # Their threads finish in the background; joining them here could block for as
                # long as the SDK's own socket timeout.
                logging.getLogger(__name__).warning(
                    "keystore executor %s closed with %d calls still running",
                    self._thread_name_prefix,
                    len(still_running),
                )
                return
        self._pool.shutdown(wait=True)  # only idle threads are left: they exit at once
