"""The bounded executor: timeouts become KeystoreUnavailable, the bound holds, cancellation propagates."""

from __future__ import annotations

import asyncio
import threading

import pytest

from keystores.base import KeyDisabled, KeystoreUnavailable
from keystores.executor import BoundedExecutor, ExecutorSettings

RELEASE_WAIT = 10.0  # seconds a blocked test call waits at most for the test to release it


def threads_named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def test_a_call_past_the_timeout_is_unavailable() -> None:
    release = threading.Event()
    executor = BoundedExecutor(
        "test", ExecutorSettings(max_workers=1, call_timeout=0.05, close_timeout=RELEASE_WAIT)
    )

    async def scenario() -> None:
        with pytest.raises(KeystoreUnavailable, match="timed out") as caught:
            await executor.run(release.wait, RELEASE_WAIT)
        assert caught.value.__context__ is None
        assert caught.value.__cause__ is None
        release.set()
        assert await executor.run(lambda: "after") == "after"  # the worker is free again
        await executor.close()

    asyncio.run(scenario())


def test_results_and_errors_of_the_callable_pass_through() -> None:
    executor = BoundedExecutor("test")

    def refuse() -> None:
        raise KeyDisabled("key is disabled")

    def own_timeout() -> None:
        raise TimeoutError("socket timeout inside the SDK")

    async def scenario() -> None:
        assert await executor.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(KeyDisabled):
            await executor.run(refuse)
        with pytest.raises(TimeoutError, match="inside the SDK"):  # not mistaken for our deadline
            await executor.run(own_timeout)
        await executor.close()

    asyncio.run(scenario())


def test_never_more_threads_than_max_workers() -> None:
    workers = 4
    executor = BoundedExecutor("test", ExecutorSettings(max_workers=workers, call_timeout=RELEASE_WAIT))
    # Every call waits until `workers` calls are inside at once: only possible with `workers` threads.
    barrier = threading.Barrier(workers, timeout=RELEASE_WAIT)
    lock = threading.Lock()
    inside = 0
    peak = 0

    def call() -> None:
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        barrier.wait()
        with lock:
            inside -= 1

    async def scenario() -> None:
        await asyncio.gather(*(executor.run(call) for _ in range(workers * 5)))
        assert len(threads_named(executor.thread_name_prefix)) == workers
        await executor.close()

    asyncio.run(scenario())
    assert peak == workers
    assert threads_named(executor.thread_name_prefix) == []


def test_calls_beyond_max_pending_are_refused_at_once() -> None:
    release = threading.Event()
    settings = ExecutorSettings(
        max_workers=1, max_pending=2, call_timeout=RELEASE_WAIT, close_timeout=RELEASE_WAIT
    )
    executor = BoundedExecutor("test", settings)

    async def scenario() -> None:
        held = [asyncio.create_task(executor.run(release.wait, RELEASE_WAIT)) for _ in range(2)]
        await asyncio.sleep(0)  # let both tasks enter run()
        with pytest.raises(KeystoreUnavailable, match="pending"):
            await executor.run(lambda: None)
        release.set()
        assert await asyncio.gather(*held) == [True, True]
        assert await executor.run(lambda: "admitted") == "admitted"
        await executor.close()

    asyncio.run(scenario())


def test_cancellation_propagates_and_is_not_swallowed() -> None:
    release = threading.Event()
    executor = BoundedExecutor("test", ExecutorSettings(max_workers=1, call_timeout=RELEASE_WAIT))

    async def scenario() -> None:
        task = asyncio.create_task(executor.run(release.wait, RELEASE_WAIT))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        release.set()
        await executor.close()

    asyncio.run(scenario())


def test_closed_executor_refuses_and_its_threads_are_gone() -> None:
    executor = BoundedExecutor("test")

    async def scenario() -> None:
        await executor.run(lambda: None)
        assert threads_named(executor.thread_name_prefix)
        await executor.close()
        await executor.close()
        with pytest.raises(KeystoreUnavailable, match="closed"):
            await executor.run(lambda: None)

    asyncio.run(scenario())
    assert executor.closed
    assert threads_named(executor.thread_name_prefix) == []


@pytest.mark.parametrize(
    "settings",
    [
        {"max_workers": 0},
        {"max_workers": 4, "max_pending": 3},
        {"call_timeout": 0},
        {"close_timeout": -1},
    ],
)
def test_settings_are_checked(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        ExecutorSettings(**settings)  # type: ignore[arg-type]
