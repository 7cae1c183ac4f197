"""The one place that reads or writes private fields of the OpenTelemetry SDK's spans.

Per-span hot paths and bulk loading use these instead of the public API, which copies, locks
or validates on every call. Each function checks the types it relies on and falls back to
the public API for any other span, so an SDK release that changes a field makes a fast path
slower, never wrong; ``tests/test_sdkspan.py`` pins every fast path to its public equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_replay.core import conventions as c

__all__ = [
    "Parts",
    "span_attributes",
    "span_parts",
    "public_parts",
    "started_attributes",
    "stamp_started",
    "own_attributes",
    "events_and_links",
    "replace_attributes",
    "update_attributes",
    "set_event_attributes",
    "set_link_attributes",
    "set_status",
    "set_resource",
    "set_name",
    "new_span_context",
    "new_readable_span",
    "new_event",
]

# ------------------------------------------------------------------ reading ended spans


def span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a mapping, without copying.

    For SDK spans this is the plain ``dict`` inside their ``BoundedAttributes`` (C-speed
    lookups, and the span's own dict: writes to it are visible); anything else falls back
    to the public ``span.attributes``.
    """
    d = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(d) is dict:
        return d
    return span.attributes or {}


#: (attributes, trace id, span id, parent span id, name, status code value, status
#: description, start, end): all atomic but the attribute dict, so a lazily normalized step
#: adds few objects for the cyclic garbage collector to traverse.
Parts = tuple[Mapping[str, Any], int, "int | None", "int | None", str, int, "str | None", int, Any]
_ERROR = StatusCode.ERROR.value
_OK = StatusCode.OK.value
_UNSET = StatusCode.UNSET.value
_UNSET_CODE = StatusCode.UNSET


def span_parts(span: ReadableSpan) -> Parts:
    """The parts of an ended span a lazily normalized step keeps (``otel_replay.model.steps``)."""
    if type(span) is ReadableSpan:
        # What the SDK hands to on_end: its instance fields instead of seven properties
        # (tests/test_sdkspan.py checks this against the public API).
        try:
            sd = span.__dict__
            bounded = sd["_attributes"]
            ctx, parent, status = sd["_context"], sd["_parent"], sd["_status"]
            if (
                type(status) is Status
                and type(ctx) is SpanContext
                and (parent is None or type(parent) is SpanContext)
            ):
                attrs = getattr(bounded, "_dict", None)
                # SpanContext is a tuple (trace id, span id, ...); Status keeps two fields
                return (
                    attrs if type(attrs) is dict else (bounded or {}),
                    ctx[0],
                    ctx[1],
                    parent[1] if parent is not None else None,
                    sd["_name"],
                    # most spans are UNSET: an identity test (Enum.value runs Python code)
                    _UNSET if status._status_code is _UNSET_CODE else status._status_code.value,
                    status._description,
                    sd["_start_time"] or 0,
                    sd["_end_time"],
                )
        except (KeyError, AttributeError):
            pass
    return public_parts(span)


def public_parts(span: ReadableSpan) -> Parts:
    """:func:`span_parts` through the span's public API (any ``ReadableSpan``)."""
    ctx, parent, status = span.context, span.parent, span.status
    return (
        span_attributes(span),
        ctx.trace_id if ctx is not None else 0,
        ctx.span_id if ctx is not None else None,
        parent.span_id if parent is not None else None,
        span.name,
        status.status_code.value,
        status.description,
        span.start_time or 0,
        span.end_time,
    )


# ------------------------------------------------------------------ writing spans

_BoundedAttributes = BoundedAttributes
_SpanContext = SpanContext
_SESSION_ID = c.SESSION_ID
_STEP_SEQUENCE = c.STEP_SEQUENCE


def started_attributes(span: Span) -> tuple[dict[str, Any], BoundedAttributes, int] | None:
    """``(attribute dict, its BoundedAttributes, trace id)`` of an SDK span in ``on_start``,
    for :func:`stamp_started`; ``None`` for any other span (use the public API)."""
    try:
        bounded: Any = span._attributes
        ctx = span._context
        attrs = bounded._dict
    except AttributeError:
        return None
    if type(bounded) is not _BoundedAttributes or type(ctx) is not _SpanContext:
        return None
    return attrs, bounded, ctx[0]  # SpanContext is a tuple: (trace id, span id, ...)


def stamp_started(
    span: Span,
    attrs: dict[str, Any],
    bounded: BoundedAttributes,
    session_id: str | None,
    sequence: int,
) -> None:
    """Set ``agent_replay.step.sequence`` (and ``agent_replay.session.id`` unless
    ``session_id`` is None) on a span no other code has seen yet: straight into its dict
    (``attrs``, ``bounded`` from :func:`started_attributes`) while the span's attribute limit
    has room, else through the public API. The session id is truncated to the span's value
    length limit, as ``set_attribute`` would."""
    maxlen = bounded.maxlen
    if maxlen is None or len(attrs) + 2 <= maxlen:
        if session_id is not None:
            limit = bounded.max_value_len
            attrs[_SESSION_ID] = session_id if limit is None else session_id[:limit]
        attrs[_STEP_SEQUENCE] = sequence
    elif session_id is not None:
        span.set_attributes({_SESSION_ID: session_id, _STEP_SEQUENCE: sequence})
    else:
        span.set_attribute(_STEP_SEQUENCE, sequence)


def own_attributes(span: ReadableSpan) -> Any:
    """The span's attribute object itself (the SDK's ``BoundedAttributes``, shared by a
    ``Span`` and the ``ReadableSpan`` made from it), where ``span.attributes`` is a read-only
    proxy made anew on each call; any other span: its public ``attributes``."""
    try:
        return span._attributes
    except AttributeError:
        return span.attributes


def events_and_links(span: ReadableSpan) -> tuple[Sequence[Event], Sequence[Any]]:
    """The span's own event and link sequences (``span.events`` and ``span.links`` copy
    them into new tuples on each call); any other span: its public ``events`` and ``links``."""
    try:
        return span._events, span._links
    except AttributeError:
        return span.events, span.links


def replace_attributes(span: ReadableSpan, attributes: Any) -> None:
    """Make ``attributes`` the attributes of the ended ``span`` (no public API does)."""
    span._attributes = attributes


def update_attributes(attributes: Any, changes: Mapping[str, Any]) -> Any:
    """Apply ``changes`` to ``attributes`` in place when possible (an ended span's
    ``BoundedAttributes`` are read-only through their public API); return the mapping to keep."""
    if isinstance(attributes, BoundedAttributes):
        with attributes._lock:
            attributes._dict.update(changes)
        return attributes
    if isinstance(attributes, dict):
        attributes.update(changes)
        return attributes
    merged = dict(attributes or {})
    merged.update(changes)
    return merged


def set_event_attributes(event: Any, attributes: Any) -> None:
    """Make ``attributes`` the attributes of a span ``event``."""
    event._attributes = attributes


def set_link_attributes(link: Any, attributes: Any) -> None:
    """Make ``attributes`` the attributes of a span ``link``."""
    link._attributes = attributes


def set_status(span: ReadableSpan, status: Status) -> None:
    """Replace the status of the ended ``span``."""
    span._status = status


def set_resource(span: ReadableSpan, resource: Resource) -> None:
    """Replace the resource of the ended ``span``."""
    span._resource = resource


def set_name(span: ReadableSpan, name: str) -> None:
    """Rename the ended ``span`` (``Span.update_name`` refuses once it ended)."""
    span._name = name


# ------------------------------------------------------------------ building spans

_TRACE_ID_MAX = 2**128 - 1
_SPAN_ID_MAX = 2**64 - 1
_new_object = object.__new__
_new_tuple = tuple.__new__


def new_span_context(
    trace_id: int, span_id: int, is_remote: bool, flags: TraceFlags, trace_state: TraceState
) -> SpanContext:
    """The tuple ``SpanContext(trace_id, span_id, is_remote, flags, trace_state)`` builds."""
    return _new_tuple(  # type: ignore[no-any-return]
        SpanContext,
        (
            trace_id,
            span_id,
            is_remote,
            flags,
            trace_state,
            0 < trace_id <= _TRACE_ID_MAX and 0 < span_id <= _SPAN_ID_MAX,
        ),
    )


def new_readable_span(
    name: str,
    context: SpanContext,
    parent: SpanContext | None,
    resource: Resource,
    attributes: Any,
    events: Any,
    links: Any,
    kind: SpanKind,
    status: Status,
    start_time: int | None,
    end_time: int | None,
    scope: InstrumentationScope,
) -> ReadableSpan:
    """The span ``ReadableSpan(...)`` builds (same fields, set in the same order), without
    the keyword-argument call overhead."""
    span: ReadableSpan = _new_object(ReadableSpan)
    span._name = name
    span._context = context
    span._kind = kind
    span._instrumentation_info = None
    span._instrumentation_scope = scope
    span._parent = parent
    span._start_time = start_time
    span._end_time = end_time
    span._attributes = attributes
    span._events = events
    span._links = links
    span._resource = resource
    span._status = status
    return span


def new_event(name: str, attributes: Any, timestamp: int) -> Event:
    """The event ``Event(name, attributes, timestamp)`` builds."""
    event: Event = _new_object(Event)
    event._name = name
    event._timestamp = timestamp
    event._attributes = attributes
    return event
