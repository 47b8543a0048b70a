"""A sans-I/O framer: a byte stream in, whole TTLV messages out.

Usage (the transport owns the socket; this object owns no I/O)::

    framer = Framer(limits)
    while (chunk := await reader.read(framer.bytes_needed or 65536)):
        framer.feed(chunk)
        while (message := framer.next_message()) is not None:
            handle(ttlv.decode(message, limits))
    framer.end_of_stream()  # raises if the peer stopped inside a message

Invariants:
- A message is one top-level Structure: an 8-byte header and the value its length declares.
  The header is judged as soon as its 8 bytes are in: the tag must be a legal tag, the type
  Structure, the length a multiple of 8 whose message fits ``limits.max_message_size``.
  Nothing is kept beyond what has been fed; ``bytes_needed`` lets a transport read no more
  than the current message, so that at most one message is buffered.
- ``next_message`` returns a complete message, or None when more bytes are needed. A stream
  that breaks the rules raises a ``DecodeError`` (offsets count from the start of the stream)
  and stays broken: every later call raises the same error.
- The framer checks only headers; the caller decodes each message with ``ttlv.decode``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from ttlv.codec import HEADER_SIZE, tag_is_valid
from ttlv.errors import DecodeError, MessageTooLarge
from ttlv.item import ItemType
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = ["Framer"]


class Framer:
    """Splits a stream of bytes into whole top-level TTLV Structures."""

    __slots__ = ("_buffer", "_error", "_limits", "_message_size", "_stream_offset")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._stream_offset = 0  # offset in the stream of the first buffered byte
        self._message_size = 0  # size of the message being buffered once its header is in
        self._error: DecodeError | None = None

    @property
    def broken(self) -> DecodeError | None:
        """The error that broke the stream, or None while it is sound."""
        return self._error

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet returned as a message."""
        return len(self._buffer)

    @property
    def bytes_needed(self) -> int:
        """How many more bytes complete the current header or message (0: one is ready)."""
        self._raise_if_broken()
        if not self._message_size:
            self._read_header()
        return max((self._message_size or HEADER_SIZE) - len(self._buffer), 0)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes from the stream; raises at once if the header now present is bad."""
        self._raise_if_broken()
        self._buffer += data
        if not self._message_size:
            self._read_header()

    def next_message(self) -> bytes | None:
        """The next whole message, or None if more bytes are needed."""
        self._raise_if_broken()
        if not self._message_size:
            self._read_header()  # the header of a message that followed the last one returned
        size = self._message_size
        if not size or len(self._buffer) < size:
            return None
        with memoryview(self._buffer) as view:
            message = bytes(view[:size])  # one copy, no intermediate bytearray
        del self._buffer[:size]
        self._stream_offset += size
        self._message_size = 0
        return message

    def __iter__(self) -> Iterator[bytes]:
        """The whole messages buffered now (stops when more bytes are needed)."""
        while (message := self.next_message()) is not None:
            yield message

    def end_of_stream(self) -> None:
        """The peer closed the stream: an error if it stopped inside a message."""
        self._raise_if_broken()
        if self._buffer:
            self._break(DecodeError("stream ended inside a message", self._stream_offset + len(self._buffer)))

    def _read_header(self) -> None:
        buffer = self._buffer
        if len(buffer) < HEADER_SIZE:
            return
        offset = self._stream_offset
        tag = int.from_bytes(buffer[0:3], "big")
        if not tag_is_valid(tag):
            self._break(DecodeError(f"invalid tag {tag:#08x}", offset))
        if buffer[3] != ItemType.STRUCTURE:
            self._break(DecodeError("top-level item is not a Structure", offset + 3))
        length = int.from_bytes(buffer[4:8], "big")
        size = HEADER_SIZE + length
        if size > self._limits.max_message_size:
            self._break(
                MessageTooLarge(
                    f"message of {size} bytes exceeds the limit of {self._limits.max_message_size}",
                    offset + 4,
                )
            )
        if length & 7:
            self._break(DecodeError("Structure length is not a multiple of 8", offset + 4))
        self._message_size = size

    def _break(self, error: DecodeError) -> NoReturn:
        self._error = error
        self._buffer = bytearray()  # release what was buffered: nothing more will be read
        raise error

    def _raise_if_broken(self) -> None:
        if self._error is not None:
            raise self._error.with_traceback(None)
