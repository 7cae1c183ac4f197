"""``otel_replay.core.sdkspan`` is the one place that touches private fields of SDK spans.

Each fast path is pinned to the public API here, so an SDK change that moves a field fails
these tests instead of silently changing steps, stamps, recordings or redaction.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_replay.core import conventions as c
from otel_replay.core import sdkspan
from tests.spanfactory import status_spans


def test_fast_parts_equal_the_public_api() -> None:
    spans = status_spans()
    assert [type(s) for s in spans] == [ReadableSpan] * 3
    for span in spans:
        fast = sdkspan.span_parts(span)
        public = sdkspan.public_parts(span)
        assert fast == public
        assert fast[0] is public[0]  # the span's own attribute dict, not a copy
    assert [p[5] for p in map(sdkspan.span_parts, spans)] == [
        StatusCode.ERROR.value,
        StatusCode.OK.value,
        StatusCode.UNSET.value,
    ]
    assert [p[3] is None for p in map(sdkspan.span_parts, spans)] == [False, False, True]


def test_fast_constructors_build_what_the_sdk_constructors_build() -> None:

    from opentelemetry.sdk.trace import Event

    state = TraceState([("a", "b")])
    for trace_id, span_id in (
        (1, 2),
        (0, 2),
        (1, 0),
        (2**128, 2),
        (1, 2**64),
        (2**128 - 1, 2**64 - 1),
    ):
        real = SpanContext(trace_id, span_id, True, TraceFlags(1), state)
        fast = sdkspan.new_span_context(trace_id, span_id, True, TraceFlags(1), state)
        assert type(fast) is SpanContext
        assert tuple(fast) == tuple(real)
        assert fast.is_valid is real.is_valid

    event = Event("e", {"a": 1}, 5)
    fast_event = sdkspan.new_event("e", {"a": 1}, 5)
    assert type(fast_event) is Event
    assert list(vars(fast_event).items()) == list(vars(event).items())

    # A new ReadableSpan field (or parameter) in an SDK upgrade must be added to new_readable_span.
    assert list(inspect.signature(ReadableSpan.__init__).parameters) == [
        "self",
        "name",
        "context",
        "parent",
        "resource",
        "attributes",
        "events",
        "links",
        "kind",
        "instrumentation_info",
        "status",
        "start_time",
        "end_time",
        "instrumentation_scope",
    ]
    args: dict[str, Any] = {
        "name": "n",
        "context": SpanContext(1, 2, False, TraceFlags(1), state),
        "parent": SpanContext(1, 3, True, TraceFlags(1), state),
        "resource": Resource({"r": 1}),
        "attributes": {"a": 1},
        "events": [event],
        "links": [Link(SpanContext(4, 5, False))],
        "kind": SpanKind.CLIENT,
        "status": Status(StatusCode.ERROR, "bad"),
        "start_time": 10,
        "end_time": 20,
    }
    scope = InstrumentationScope("s", "1")
    real_span = ReadableSpan(**args, instrumentation_scope=scope)
    fast_span = sdkspan.new_readable_span(*args.values(), scope)
    assert type(fast_span) is ReadableSpan
    assert list(vars(fast_span)) == list(vars(real_span))
    assert all(vars(fast_span)[k] is v for k, v in vars(real_span).items())


def test_span_attributes_is_the_spans_own_mapping() -> None:
    for span in status_spans():
        attrs = sdkspan.span_attributes(span)
        assert type(attrs) is dict
        assert attrs == dict(span.attributes or {})
        assert attrs is sdkspan.own_attributes(span)._dict  # not a copy


class _Recorder(SpanProcessor):
    """Calls ``fn(span)`` in on_start, as the ReplayProcessor does."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        self.fn(span)


def _start_with(fn: Any, limits: SpanLimits | None = None) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits or SpanLimits())
    provider.add_span_processor(_Recorder(fn))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("s", attributes={"a": 1}):
        pass
    provider.shutdown()
    [span] = exporter.get_finished_spans()
    return span


@pytest.mark.parametrize("with_session", [True, False])
def test_started_attributes_and_stamp_started_equal_set_attributes(with_session: bool) -> None:
    values: dict[str, Any] = {c.STEP_SEQUENCE: 7}
    if with_session:
        values[c.SESSION_ID] = "x" * 40
    seen: list[int] = []

    def fast(span: Span) -> None:
        view = sdkspan.started_attributes(span)
        assert view is not None
        attrs, bounded, trace_id = view
        assert attrs is sdkspan.own_attributes(span)._dict
        assert trace_id == span.get_span_context().trace_id
        seen.append(trace_id)
        sdkspan.stamp_started(span, attrs, bounded, values.get(c.SESSION_ID), 7)

    for limits in (SpanLimits(), SpanLimits(max_attribute_length=8), SpanLimits(max_attributes=2)):
        written = _start_with(fast, limits)
        public = _start_with(lambda span: span.set_attributes(values), limits)  # noqa: B023
        assert dict(written.attributes or {}) == dict(public.attributes or {})
        assert written.dropped_attributes == public.dropped_attributes
    assert len(seen) == 3


def test_started_attributes_is_none_for_otherstatus_spans() -> None:
    class Other:
        attributes = {"a": 1}

    assert sdkspan.started_attributes(Other()) is None  # type: ignore[arg-type]


def test_ended_span_writes_show_through_the_public_api() -> None:
    span = status_spans()[1]
    event_holder = _start_with(lambda s: s.add_event("e", {"k": "v"}))
    link_ctx = SpanContext(4, 5, False)
    linked = ReadableSpan(
        name="l", context=SpanContext(1, 2, False), links=[Link(link_ctx, {"k": "v"})]
    )

    own = sdkspan.own_attributes(span)
    assert type(own) is BoundedAttributes
    assert dict(own) == dict(span.attributes or {})
    sdkspan.replace_attributes(span, sdkspan.update_attributes(own, {"new": 1}))
    assert sdkspan.own_attributes(span) is own
    assert dict(span.attributes or {})["new"] == 1
    sdkspan.set_status(span, Status(StatusCode.ERROR, "redacted"))
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "redacted")
    sdkspan.set_resource(span, Resource({"r": "x"}))
    assert dict(span.resource.attributes) == {"r": "x"}
    sdkspan.set_name(span, "renamed")
    assert span.name == "renamed"
    own_events, own_links = sdkspan.events_and_links(event_holder)
    assert list(own_events) == list(event_holder.events)
    assert list(own_links) == list(event_holder.links) == []
    [event] = event_holder.events
    sdkspan.set_event_attributes(event, {"k": "x"})
    assert dict(event_holder.events[0].attributes or {}) == {"k": "x"}
    [link] = linked.links
    sdkspan.set_link_attributes(link, {"k": "x"})
    assert dict(linked.links[0].attributes or {}) == {"k": "x"}
    assert sdkspan.update_attributes({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert sdkspan.update_attributes(None, {"b": 2}) == {"b": 2}
