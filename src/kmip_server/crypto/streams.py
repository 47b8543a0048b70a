"""The open streams of the Init / Continue / Final form of Encrypt, Decrypt, MAC, MAC Verify
and Hash (KMIP 1.4 sections 2.1.15-2.1.17, 4.29-4.37), kept in this Core process's memory.

Invariants:
- A stream belongs to the identity that opened it (``owner``: the tenant and service of a
  tenant client, the gateway's name for a gateway) and to the operation and object it was
  opened for. A Correlation Value presented by anyone else, for another operation or another
  object, or after the stream ended or expired, is Item Not Found (11.30: "No outstanding
  operation with the specified Correlation Value exists"): the same answer, so that a
  Correlation Value reveals nothing about other callers' streams.
- Correlation Values are 16 random bytes: unguessable, and meaningless outside this table.
- Bounded (``StreamSettings``): at most ``max_streams`` in the process and
  ``max_streams_per_owner`` per owner (more is ``TooManyStreams``); a stream untouched for
  ``idle_timeout`` seconds is dropped. The table is ordered by last use, so expiry looks at the
  oldest entries only.
- A stream is taken out while a request works on it and put back only when that part
  succeeded and was not the final one: a failed part ends the stream (a client cannot retry a
  part whose cipher state is unknown), and two requests can never work on one stream at once.
- Per process: a Core with several worker processes keeps each stream in the worker whose
  connection opened it, so a client continues a stream on the same connection (what every
  client does). Streams do not survive a restart.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum

from kmip_server.errors import InvalidField, ItemNotFound, KmipError
from kmip_server.identity import Identity, Role
from ttlv.kmip14 import Operation, ResultReason

__all__ = [
    "CORRELATION_VALUE_LENGTH",
    "OpenStream",
    "Part",
    "StreamSettings",
    "StreamTable",
    "TooManyStreams",
    "owner_of",
    "part_of",
]

CORRELATION_VALUE_LENGTH = 16


class TooManyStreams(KmipError):
    """``StreamSettings.max_streams`` or ``max_streams_per_owner`` reached."""

    result_reason = ResultReason.GENERAL_FAILURE
    default = "too many streaming operations are open: finish one before starting another"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    max_streams: int = 4096
    """Open streams in one Core process, all owners together."""
    max_streams_per_owner: int = 64
    """Open streams of one identity (tenant and service, or gateway)."""
    idle_timeout: int = 300
    """Seconds a stream may wait for its next part before it is dropped."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_streams_per_owner <= self.max_streams:
            raise ValueError("max_streams_per_owner must be between 1 and max_streams")
        if self.idle_timeout < 1:
            raise ValueError("idle_timeout must be at least one second")


Owner = tuple[str, ...]


def owner_of(identity: Identity) -> Owner:
    """Whose streams these are: the role and the names that identify the caller."""
    if identity.role is Role.TENANT_CLIENT:
        return ("tenant", identity.tenant or "", identity.service or "")
    if identity.role is Role.GATEWAY:
        return ("gateway", identity.gateway or "")
    return ("other", identity.subject)


class Part(IntEnum):
    """Which part of a by-parts operation a request is (2.1.15-2.1.17)."""

    SINGLE = 0  # the whole operation in one request
    FIRST = 1  # Init Indicator: opens a stream, answered with a Correlation Value
    MIDDLE = 2  # Correlation Value: one more part
    LAST = 3  # Correlation Value and Final Indicator: the end of the stream


def part_of(init: bool | None, final: bool | None, correlation: bytes | None) -> Part:
    """The part a request is, from its Init Indicator, Final Indicator and Correlation Value."""
    if correlation is None:
        if init and not final:
            return Part.FIRST
        return Part.SINGLE  # Init and Final together, or neither: one request does it all
    if init:
        raise InvalidField("an Init Indicator opens a stream: it cannot come with a Correlation Value")
    return Part.LAST if final else Part.MIDDLE


@dataclass(slots=True)
class OpenStream:
    """One stream: whose, for what, and the operation's own state (a cipher context...)."""

    owner: Owner
    operation: Operation
    unique_identifier: str | None  # the key used (None for Hash)
    state: object
    last_used: int = 0


class StreamTable:
    """The open streams of one Core process (see the module docstring)."""

    __slots__ = ("_by_owner", "_streams", "settings")

    def __init__(self, settings: StreamSettings | None = None) -> None:
        self.settings = settings or StreamSettings()
        self._streams: OrderedDict[bytes, OpenStream] = OrderedDict()
        self._by_owner: dict[Owner, int] = {}

    def __len__(self) -> int:
        return len(self._streams)

    def open(self, stream: OpenStream, now: int) -> bytes:
        """Keep ``stream``; returns its new Correlation Value."""
        self._expire(now)
        if len(self._streams) >= self.settings.max_streams:
            raise TooManyStreams
        if self._by_owner.get(stream.owner, 0) >= self.settings.max_streams_per_owner:
            raise TooManyStreams
        correlation = secrets.token_bytes(CORRELATION_VALUE_LENGTH)
        self._insert(correlation, stream, now)
        return correlation

    def take(
        self,
        correlation: bytes,
        *,
        owner: Owner,
        operation: Operation,
        unique_identifier: str | None,
        now: int,
    ) -> OpenStream:
        """Take the stream out of the table for one part (``put_back`` it afterwards unless the
        part was the final one or failed). Item Not Found for any mismatch (module docstring)."""
        self._expire(now)
        stream = self._streams.get(correlation)
        if (
            stream is None
            or stream.owner != owner
            or stream.operation is not operation
            or (unique_identifier is not None and stream.unique_identifier != unique_identifier)
        ):
            raise ItemNotFound("no outstanding operation with this Correlation Value")
        self._remove(correlation)
        return stream

    def put_back(self, correlation: bytes, stream: OpenStream, now: int) -> None:
        """Keep a stream taken by ``take`` for its next part."""
        self._insert(correlation, stream, now)

    def _insert(self, correlation: bytes, stream: OpenStream, now: int) -> None:
        stream.last_used = now
        self._streams[correlation] = stream
        self._by_owner[stream.owner] = self._by_owner.get(stream.owner, 0) + 1

    def _remove(self, correlation: bytes) -> None:
        stream = self._streams.pop(correlation)
        remaining = self._by_owner[stream.owner] - 1
        if remaining:
            self._by_owner[stream.owner] = remaining
        else:
            del self._by_owner[stream.owner]

    def _expire(self, now: int) -> None:
        deadline = now - self.settings.idle_timeout
        while self._streams:
            correlation, oldest = next(iter(self._streams.items()))
            if oldest.last_used > deadline:
                return
            self._remove(correlation)
