"""Named limits on what the decoder accepts, with safe defaults.

Every limit, when exceeded, raises its own ``LimitExceeded`` subclass (see ``ttlv.errors``).
The defaults bound a single message's decode to a few MiB of memory whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_size: int = 1 << 20  # bytes, header included (MessageTooLarge)
    max_depth: int = 32  # Structure nesting (NestingTooDeep)
    max_items: int = 16_384  # items in one message (TooManyItems)


DEFAULT_LIMITS = Limits()
