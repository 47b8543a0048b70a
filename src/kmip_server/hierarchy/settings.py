"""Every duration and threshold of the key hierarchy, named, with its safe default."""

from __future__ import annotations

from dataclasses import dataclass

from unseal.blob import MAX_WRAPS_PER_KEY

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class HierarchySettings:
    # IVK (DESIGN section 3)
    ivk_max_age: float = 30 * DAY  # rotate the active IVK once it is this old
    ivk_max_wraps: int = MAX_WRAPS_PER_KEY  # ... or once this many wraps were reserved under it (at most so)
    ivk_wrap_reservation: int = 1024  # wraps reserved per store write; a crash only over-counts
    ivk_grace_period: float = DAY  # the previous IVK stays warm (and is never retired) this long
    # L2 and the customer's L1
    sovereign_ttl: float = DAY  # an active binding is honoured this long after the last good L1 check
    l1_recheck_interval: float = 5 * MINUTE
    l1_call_timeout: float = 10.0  # one L1 keystore call (a timeout counts as unavailable)
    l1_retry_after_failure: float = 30.0  # a failed-closed tenant is not retried through L1 sooner
    l1_recheck_concurrency: int = 16  # L1 calls in flight during ``recheck_all``
    l1_recheck_page: int = 500  # tenant roots read per page during ``recheck_all``
    # L3
    l3_max_age: float = 90 * DAY  # rotate a service's L3 once its newest version is this old
    l3_max_wraps: int = MAX_WRAPS_PER_KEY  # ... or once this many L4 wraps were reserved (at most so)
    l3_wrap_reservation: int = 65_536  # L4 wraps a Core reserves per store write; a crash only over-counts
    l3_reload_interval: float = 1.0  # an L4 naming an unknown newer L3 version reloads at most this often
    # Background
    maintenance_interval: float = MINUTE  # IVK policy (rotate, grace -> deprecated), scrub, retire
    scrub_batch_size: int = 256  # tenant roots re-wrapped per store transaction
    store_conflict_retries: int = 8  # compare-and-set attempts before giving up

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"hierarchy setting {name} must be positive")
        if max(self.ivk_max_wraps, self.l3_max_wraps) > MAX_WRAPS_PER_KEY:
            raise ValueError(f"ivk_max_wraps and l3_max_wraps are at most {MAX_WRAPS_PER_KEY} (AES-GCM)")
        if self.sovereign_ttl < self.l1_recheck_interval:
            raise ValueError("sovereign_ttl must be at least one l1_recheck_interval")
