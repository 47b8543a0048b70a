"""The hierarchy's tables and small pure parts: errors, IVK states, settings, clock, single-flight."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect

import pytest

from kmip_server.hierarchy import HierarchySettings, ManualClock, errors
from kmip_server.hierarchy.ivk import STATE_USES, TRANSITIONS, Event, Use
from kmip_server.hierarchy.keys import SingleFlight, TenantKeys
from kmip_server.storage import IvkState
from ttlv.kmip14 import ResultReason
from unseal.memory import SecretBuffer


def test_every_error_is_listed_with_a_result_reason_and_a_fixed_message() -> None:
    defined = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.HierarchyError) and cls is not errors.HierarchyError
    }
    assert defined == set(errors.ALL_ERRORS)
    messages = set()
    for cls in errors.ALL_ERRORS:
        error = cls()
        assert isinstance(cls.result_reason, ResultReason)
        assert str(error) == cls.message
        messages.add(cls.message)
    assert len(messages) == len(errors.ALL_ERRORS)
    assert errors.UnwrapFailed.result_reason is ResultReason.CRYPTOGRAPHIC_FAILURE


def test_ivk_state_table_is_complete_and_consistent() -> None:
    assert set(STATE_USES) == set(IvkState)
    assert [state for state, uses in STATE_USES.items() if Use.WRAP in uses] == [IvkState.ACTIVE]
    assert STATE_USES[IvkState.RETIRED] == Use.NONE
    for state in (IvkState.ACTIVE, IvkState.GRACE, IvkState.DEPRECATED):
        assert Use.UNWRAP in STATE_USES[state]
    for (source, event), target in TRANSITIONS.items():
        assert isinstance(event, Event)
        assert target.value > source.value  # states only move forward
    assert not any(source is IvkState.RETIRED for source, _ in TRANSITIONS)
    assert {event for _, event in TRANSITIONS} == set(Event)


def test_settings_defaults_and_validation() -> None:
    settings = HierarchySettings()
    day = 24 * 3600
    assert (settings.ivk_max_age, settings.ivk_grace_period, settings.sovereign_ttl) == (30 * day, day, day)
    assert (settings.ivk_max_wraps, settings.l1_recheck_interval, settings.l3_max_age) == (
        2**32,
        300,
        90 * day,
    )
    for field in dataclasses.fields(HierarchySettings):
        with pytest.raises(ValueError, match=field.name):
            HierarchySettings(**{field.name: 0})
    with pytest.raises(ValueError, match="sovereign_ttl"):
        HierarchySettings(sovereign_ttl=60, l1_recheck_interval=120)


def test_manual_clock_only_moves_forward() -> None:
    clock = ManualClock(100.0)
    clock.advance(5)
    assert clock.now() == 105.0
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)


def test_tenant_keys_close_wipes_l2_and_refuses_further_use() -> None:
    l2 = SecretBuffer.random(32)
    keys = TenantKeys("t", "l2-x", l2, honoured_until=10.0)
    keys.cipher()
    keys.close()
    assert l2.wiped
    assert keys.closed
    assert keys.services == {}
    with pytest.raises(errors.NotReady):
        keys.cipher()
    assert "l2" not in repr(keys).lower() or "closed=True" in repr(keys)


def test_single_flight_shares_one_run_and_survives_a_cancelled_waiter() -> None:
    async def scenario() -> None:
        flights = SingleFlight()
        runs = 0
        gate = asyncio.Event()

        async def work() -> int:
            nonlocal runs
            runs += 1
            await gate.wait()
            return 42

        waiters = [asyncio.ensure_future(flights.run("k", work)) for _ in range(50)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        gate.set()
        results = await asyncio.gather(*waiters[1:])
        assert results == [42] * 49
        assert runs == 1
        assert await flights.run("k", work) == 42  # finished flights are not reused
        assert runs == 2

        async def failing() -> int:
            raise errors.TenantLocked

        outcomes = await asyncio.gather(
            *(flights.run("f", failing) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(outcome, errors.TenantLocked) for outcome in outcomes)

    asyncio.run(scenario())
