"""SDK span objects from decoded OTLP parts, shared by the protobuf and JSON decoders.

The tables between OTLP and SDK values (span kinds, status codes, span flags), span
assembly (through the fast constructors in :mod:`otel_replay.core.sdkspan`) and
:class:`_DecoderBase`, which caches resources, scopes and trace states across records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_replay.core.sdkspan import new_readable_span, new_span_context
from otel_replay.formats.trace_state import parse_trace_state

# SDK SpanKind value v <-> OTLP Span.SpanKind v + 1 (0 is SPAN_KIND_UNSPECIFIED).
_SDK_KINDS: tuple[SpanKind, ...] = (
    SpanKind.INTERNAL,  # SPAN_KIND_UNSPECIFIED
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
)
_STATUS_UNSET = Status(StatusCode.UNSET)
_STATUS_OK = Status(StatusCode.OK)
_TRACE_FLAGS = tuple(TraceFlags(i) for i in range(256))
_FLAG_HAS_IS_REMOTE = 0x100  # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_FLAG_IS_REMOTE = 0x200  # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_EMPTY_TRACE_STATE = TraceState()


def _remote(flags: int) -> bool:
    return bool(flags & _FLAG_HAS_IS_REMOTE and flags & _FLAG_IS_REMOTE)


def _make_span(
    name: str,
    trace_id: int,
    span_id: int,
    parent_span_id: int,
    trace_state: TraceState,
    flags: int,
    kind: int,
    start: int,
    end: int,
    attributes: Any,
    events: Any,
    links: Any,
    status_code: int,
    status_message: str,
    resource: Resource,
    scope: InstrumentationScope,
) -> ReadableSpan:
    tflags = _TRACE_FLAGS[flags & 0xFF]
    if status_code == 0:
        status = _STATUS_UNSET
    elif status_code == 2:
        status = Status(StatusCode.ERROR, status_message or None)
    else:
        status = _STATUS_OK if status_code == 1 else _STATUS_UNSET
    return new_readable_span(
        name,
        new_span_context(trace_id, span_id, False, tflags, trace_state),
        new_span_context(trace_id, parent_span_id, _remote(flags), tflags, trace_state)
        if parent_span_id
        else None,
        resource,
        attributes,
        events,
        links,
        _SDK_KINDS[kind] if 0 <= kind < 6 else SpanKind.INTERNAL,
        status,
        start or None,
        end or None,
        scope,
    )


class _DecoderBase:
    """Builds ReadableSpans; caches resources, scopes and trace states across records."""

    def __init__(self) -> None:
        self.resources: dict[Any, Resource] = {}
        self.scopes: dict[Any, InstrumentationScope] = {}
        self.trace_states: dict[str, TraceState] = {"": _EMPTY_TRACE_STATE}

    def trace_state(self, header: str) -> TraceState:
        ts = self.trace_states.get(header)
        if ts is None:
            ts = parse_trace_state(header)
            if len(self.trace_states) < 4096:
                self.trace_states[header] = ts
        return ts

    def _resource(self, key: Any, attrs: dict[str, Any], dropped: int, schema_url: str) -> Resource:
        res = Resource(attrs, schema_url)
        if dropped:
            res.attributes.dropped = dropped  # type: ignore[attr-defined]
        if key is not None and len(self.resources) < 4096:
            self.resources[key] = res
        return res

    def _scope(
        self, key: Any, name: str, version: str, attrs: dict[str, Any], schema_url: str
    ) -> InstrumentationScope:
        scope = InstrumentationScope(name, version, schema_url, attrs or None)
        if key is not None and len(self.scopes) < 4096:
            self.scopes[key] = scope
        return scope

    def link(
        self, trace_id: int, span_id: int, trace_state: str, flags: int, attrs: Any, dropped: int
    ) -> Link:
        ctx = new_span_context(
            trace_id,
            span_id,
            _remote(flags),
            _TRACE_FLAGS[flags & 0xFF],
            self.trace_state(trace_state),
        )
        return Link(ctx, _bounded_attributes(attrs, dropped) if dropped else attrs)


def _bounded_attributes(attrs: dict[str, Any], dropped: int) -> BoundedAttributes:
    bounded = BoundedAttributes(attributes=attrs, immutable=True)
    bounded.dropped = dropped
    return bounded


def _bounded_list(items: Sequence[Any], dropped: int) -> BoundedList:
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = dropped
    return bounded
