"""The worker's span-event bytes are exactly those of the generic encoder."""

from __future__ import annotations

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import Event

from otel_replay.formats.otlp_proto import encode_events
from otel_replay.serve.event_bytes import EventEncoder


def _events(ts: int) -> list[Event]:
    return [
        Event("agent_replay.drift.summary", {"a": True, "n": 1, "f": 1.0, "s": "x"}, ts),
        Event("gen_ai.evaluation.result", {"paths": ["$.a", "$.b"], "bad": "\ud800"}, ts),
        Event("agent_replay.drift", {"big": 2**63 - 1, "long": "y" * 300}, ts),
        Event("no attributes", None, ts),
    ]


def test_bytes_equal_the_generic_encoder_for_each_time_and_after_caching() -> None:
    enc = EventEncoder()
    for ts in (0, 1, 1_700_000_000_123_456_789, 2**64 - 1):
        events = _events(ts)
        assert enc.encode(events) == encode_events(events)
        assert enc.encode(events) == encode_events(events)  # from the kept encoding
    assert len(enc._bodies) == 3  # not the one with a list value


def test_equal_values_of_other_types_are_encoded_apart() -> None:
    enc = EventEncoder()
    for value in (True, 1, 1.0):
        ev = [Event("e", {"v": value}, 5)]
        assert enc.encode(ev) == encode_events(ev)
    assert len(enc._bodies) == 3
    parsed = Span.FromString(enc.encode([Event("e", {"v": True}, 5)]))
    assert parsed.events[0].attributes[0].value.bool_value is True
    assert parsed.events[0].time_unix_nano == 5


def test_a_time_fixed64_cannot_hold_raises_as_the_generic_encoder() -> None:
    ev = [Event("e", {"v": 1}, 2**64)]
    with pytest.raises(ValueError, match="out of range"):
        encode_events(ev)
    with pytest.raises(ValueError, match="out of range"):
        EventEncoder().encode(ev)
