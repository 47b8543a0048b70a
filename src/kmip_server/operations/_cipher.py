"""What Encrypt and Decrypt share when a later part of a stream arrives (2.1.15-2.1.17).

A part after the first takes its stream out of ``ctx.crypto.streams`` (Item Not Found unless it
is the caller's, for this operation and this object), and checks the key again: a key revoked or
deactivated mid-stream stops the stream.
"""

from __future__ import annotations

from typing import TypeVar

from kmip_server.crypto.streams import OpenStream, owner_of
from kmip_server.crypto.usage import Usage, check_usage
from kmip_server.errors import GeneralFailure
from kmip_server.operations.context import OperationContext
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import Operation

__all__ = ["resume_stream"]

_State = TypeVar("_State")


async def resume_stream(
    ctx: OperationContext,
    correlation: bytes,
    *,
    operation: Operation,
    unique_identifier: str,
    usage: Usage,
    state_type: type[_State],
    kind: str,
) -> tuple[OpenStream, _State, ObjectRecord]:
    """The open stream ``correlation`` names, its cipher state, and the key's record once the key
    still serves ``usage``. ``kind`` words the (internal) failure of a state of another type."""
    opened = ctx.crypto.streams.take(
        correlation,
        owner=owner_of(ctx.identity),
        operation=operation,
        unique_identifier=unique_identifier,
        now=ctx.now,
    )
    state = opened.state
    if not isinstance(state, state_type):
        raise GeneralFailure(f"the stream is not {kind}")
    record = await ctx.objects.load(unique_identifier, now=ctx.now)
    check_usage(record, usage, ctx.now)
    return opened, state, record
