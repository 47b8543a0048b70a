"""The L3 wrap budget's arithmetic (``kmip_server.hierarchy.keys``): what a reservation grants,
and when a version is spent. No store: the stored count is a plain integer here, advanced as
the stores' atomic ``reserve_service_key_wraps`` advances it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from kmip_server.hierarchy import HierarchySettings
from kmip_server.hierarchy.keys import ServiceKeys, wraps_granted
from unseal.blob import MAX_WRAPS_PER_KEY


@pytest.mark.parametrize(
    ("total", "block", "limit", "granted"),
    [
        (3, 3, 10, 3),  # well below the limit: the whole block
        (9, 3, 10, 3),
        (10, 3, 10, 3),  # ends exactly on the limit
        (12, 3, 10, 1),  # straddles it: only the part below
        (15, 3, 10, 0),  # began at or past it: nothing
        (13, 3, 10, 0),
        (65_536, 65_536, 10, 10),  # a block larger than the whole budget
        (2**32, 65_536, 2**32, 65_536),  # the default budget's last full block
        (2**32 + 65_536, 65_536, 2**32, 0),
    ],
)
def test_a_reservation_grants_only_what_stays_within_the_limit(
    total: int, block: int, limit: int, granted: int
) -> None:
    assert wraps_granted(total, block, limit) == granted


@given(
    limit=st.integers(1, 200),
    blocks=st.lists(st.integers(1, 40), min_size=1, max_size=60),
)
def test_interleaved_reservations_never_grant_more_than_the_limit_and_waste_none_below_it(
    limit: int, blocks: list[int]
) -> None:
    """Any order of reservations (any Cores, any block sizes): the grants add up to the
    stored count while it is below the limit, and to exactly the limit once it passed it."""
    total = granted = 0
    for block in blocks:
        total += block  # what the store's atomic add returns
        granted += wraps_granted(total, block, limit)
        assert granted == min(total, limit)


def fresh_keys(reserved_total: int = 0) -> ServiceKeys:
    return ServiceKeys("t", "svc", {1: AESGCM(bytes(32))}, 100.0, 0.0, reserved_total=reserved_total)


def test_a_version_is_spent_only_when_this_core_used_its_wraps_and_the_count_reached_the_limit() -> None:
    keys = fresh_keys()
    assert (keys.unreserved, keys.reserved_total) == (0, 0)
    assert not keys.spent(10)  # nothing reserved yet: reserve, do not rotate
    keys.unreserved, keys.reserved_total = 1, 12
    assert not keys.spent(10)  # one wrap still this Core's to make
    keys.unreserved = 0
    assert keys.spent(10)
    assert keys.spent(12)
    assert not keys.spent(13)
    assert fresh_keys(reserved_total=10).spent(10)  # loaded from a store that already reached it


def test_l3_budget_settings_defaults_and_validation() -> None:
    settings = HierarchySettings()
    assert (settings.l3_max_wraps, settings.l3_wrap_reservation) == (2**32, 65_536)
    for name in ("l3_max_wraps", "l3_wrap_reservation"):
        with pytest.raises(ValueError, match=name):
            HierarchySettings(**{name: 0})


@pytest.mark.parametrize("name", ["ivk_max_wraps", "l3_max_wraps"])
def test_no_wrap_budget_may_pass_the_aes_gcm_bound(name: str) -> None:
    assert getattr(HierarchySettings(**{name: MAX_WRAPS_PER_KEY}), name) == MAX_WRAPS_PER_KEY
    with pytest.raises(ValueError, match="AES-GCM"):
        HierarchySettings(**{name: MAX_WRAPS_PER_KEY + 1})
