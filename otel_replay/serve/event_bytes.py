"""Span events as bytes to append to a serialized span, with the encoding of each event's
name and attributes kept: the verdict events of runs of one checkpoint are mostly the same
but for their time, which is written into the kept bytes. The bytes are exactly those of
:func:`~otel_replay.formats.otlp_proto.encode_events`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from otel_replay.formats.otlp_proto import encode_events
from otel_replay.formats.protowire import skip_varint, varint

__all__ = ["EventEncoder"]

_EVENTS_TAG = 0x5A  # Span field 11 (events), length-delimited
_TIME_TAG = b"\x09"  # Event field 1 (time_unix_nano), fixed64
_KEPT = 256  # encoded events kept (by name and attributes)


class EventEncoder:
    """:func:`~otel_replay.formats.otlp_proto.encode_events` with the encoding of each
    event's name and attributes kept (up to 256 of them; not those with a list value)."""

    def __init__(self) -> None:
        self._bodies: dict[Any, bytes] = {}

    def encode(self, events: Sequence[Any]) -> bytes:
        """``events`` serialized as a ``Span`` holding only them (the bytes of
        :func:`~otel_replay.formats.otlp_proto.encode_events`)."""
        try:
            return b"".join([self._event(e) for e in events])
        except (struct.error, OverflowError):  # a time protobuf's fixed64 cannot hold
            return encode_events(events)

    def _event(self, event: Any) -> bytes:
        attrs = event.attributes
        try:  # the types are part of the key: True == 1 == 1.0, encoded differently
            key = (
                event.name,
                getattr(event, "dropped_attributes", 0),
                tuple(attrs.items()) if attrs else (),
                tuple(map(type, attrs.values())) if attrs else (),
            )
            body = self._bodies.get(key)
        except TypeError:  # an unhashable value (a list): not kept
            key, body = None, None
        if body is None:
            body = self._body(event)
            if key is not None:
                if len(self._bodies) >= _KEPT:
                    self._bodies.clear()
                self._bodies[key] = body
        ts = event.timestamp
        if ts:
            body = _TIME_TAG + struct.pack("<Q", ts) + body
        return bytes([_EVENTS_TAG]) + varint(len(body)) + body

    @staticmethod
    def _body(event: Any) -> bytes:
        """The event's fields after its time, serialized."""
        timeless = _Timeless(event)
        blob = encode_events([timeless])
        return blob[skip_varint(blob, 1) :]


class _Timeless:
    """An event read without its time."""

    __slots__ = ("name", "attributes", "dropped_attributes")
    timestamp = 0

    def __init__(self, event: Any) -> None:
        self.name = event.name
        self.attributes = event.attributes
        self.dropped_attributes = getattr(event, "dropped_attributes", 0)
