"""The request engine's named limits and server choices, with safe defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from ttlv.limits import Limits

__all__ = ["EngineSettings"]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    limits: Limits = field(default_factory=Limits)
    """What ``ttlv.decode`` accepts of one request: size, nesting depth, item count. Exceeding any
    is a message-level Invalid Message answer (the transport bounds the frame size before)."""
    max_batch_items: int = 1000
    """Batch Items in one request. More is refused whole, before any batch item is decoded into the
    model, with a message-level Invalid Message answer: it bounds the work and the undo journal of
    a batch. (A batch so large that it exceeds ``limits.max_items`` is refused by the TTLV decoder
    first, with a message naming that limit.)"""
    vendor_identification: str = "OpenKCM"
    """Vendor Identification in Query Server Information."""
    server_version: str = "0.1.0"
    """Reported inside Server Information (a vendor extension Text String)."""

    def __post_init__(self) -> None:
        if self.max_batch_items < 1:
            raise ValueError("max_batch_items must be at least 1")
