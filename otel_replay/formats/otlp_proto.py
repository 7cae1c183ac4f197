"""Spans <-> OTLP protobuf ``TracesData``: :func:`encode_spans`, :func:`spans_from_traces_data`
and the fast protobuf decoding of recordings (:data:`_RawTracesData`, whose attributes stay
serialized, and the per-load cache of decoded ``KeyValue`` messages)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_replay.core.sdkspan import new_event
from otel_replay.formats.coercion import bad_str, big_int, dropped
from otel_replay.formats.sdk_spans import (
    _FLAG_HAS_IS_REMOTE,
    _FLAG_IS_REMOTE,
    _bounded_attributes,
    _bounded_list,
    _DecoderBase,
    _make_span,
)
from otel_replay.formats.trace_state import RecordedTraceState, trace_state_header

__all__ = ["encode_spans", "encode_events", "spans_from_traces_data"]

_logger = logging.getLogger("otel_replay")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def encode_spans(spans: Sequence[ReadableSpan]) -> TracesData:
    """Encode SDK spans as one OTLP ``TracesData``, grouped by resource and scope.

    Unlike the SDK's OTLP encoder this keeps the W3C trace flags (``Span.flags`` bits 0-7),
    link trace state and link flags, so a load gives back the same span contexts.
    """
    td = TracesData()
    groups: dict[int, tuple[Any, dict[int, Any]]] = {}
    for span in spans:
        resource = span.resource
        group = groups.get(id(resource))
        if group is None:
            rs = td.resource_spans.add()
            if resource is not None:
                _encode_attributes(rs.resource.attributes, resource.attributes)
                if resource.schema_url:
                    rs.schema_url = resource.schema_url
            group = (rs, {})
            groups[id(resource)] = group
        scope = span.instrumentation_scope
        ss = group[1].get(id(scope))
        if ss is None:
            ss = group[0].scope_spans.add()
            if scope is not None:
                ss.scope.name = scope.name
                if scope.version:
                    ss.scope.version = scope.version
                if scope.attributes:
                    _encode_attributes(ss.scope.attributes, scope.attributes)
                if scope.schema_url:
                    ss.schema_url = scope.schema_url
            group[1][id(scope)] = ss
        _encode_span(ss.spans.add(), span)
    return td


def _encode_span(pb: Any, span: ReadableSpan) -> None:
    ctx = span.context
    flags = _FLAG_HAS_IS_REMOTE
    if ctx is not None:
        pb.trace_id = ctx.trace_id.to_bytes(16, "big")
        pb.span_id = ctx.span_id.to_bytes(8, "big")
        if ctx.trace_state or isinstance(ctx.trace_state, RecordedTraceState):
            pb.trace_state = trace_state_header(ctx.trace_state)
        flags |= int(ctx.trace_flags) & 0xFF
    parent = span.parent
    if parent is not None:
        pb.parent_span_id = parent.span_id.to_bytes(8, "big")
        if parent.is_remote:
            flags |= _FLAG_IS_REMOTE
    pb.flags = flags
    _set_text(pb, "name", span.name)
    pb.kind = span.kind.value + 1
    if span.start_time:
        pb.start_time_unix_nano = span.start_time
    if span.end_time:
        pb.end_time_unix_nano = span.end_time
    if span.attributes:
        _encode_attributes(pb.attributes, span.attributes)
    if span.dropped_attributes:
        pb.dropped_attributes_count = span.dropped_attributes
    for event in span.events:
        _encode_event(pb.events.add(), event)
    if span.dropped_events:
        pb.dropped_events_count = span.dropped_events
    for link in span.links:
        lk = pb.links.add()
        lctx = link.context
        lk.trace_id = lctx.trace_id.to_bytes(16, "big")
        lk.span_id = lctx.span_id.to_bytes(8, "big")
        if lctx.trace_state or isinstance(lctx.trace_state, RecordedTraceState):
            lk.trace_state = trace_state_header(lctx.trace_state)
        lflags = _FLAG_HAS_IS_REMOTE | (int(lctx.trace_flags) & 0xFF)
        if lctx.is_remote:
            lflags |= _FLAG_IS_REMOTE
        lk.flags = lflags
        if link.attributes:
            _encode_attributes(lk.attributes, link.attributes)
        if link.dropped_attributes:
            lk.dropped_attributes_count = link.dropped_attributes
    if span.dropped_links:
        pb.dropped_links_count = span.dropped_links
    status = span.status
    if status is not None:
        pb.status.SetInParent()
        if status.status_code is not StatusCode.UNSET:
            pb.status.code = status.status_code.value
        if status.description:
            _set_text(pb.status, "message", status.description)


def _encode_event(ev: Any, event: Any) -> None:
    _set_text(ev, "name", event.name)
    if event.timestamp:
        ev.time_unix_nano = event.timestamp
    if event.attributes:
        _encode_attributes(ev.attributes, event.attributes)
    dropped = getattr(event, "dropped_attributes", 0)
    if dropped:
        ev.dropped_attributes_count = dropped


def encode_events(events: Sequence[Any]) -> bytes:
    """``events`` serialized as a ``Span`` holding only them: appended to a serialized
    span, they are added to its events (a repeated field's entries may come anywhere)."""
    pb = Span()
    for event in events:
        _encode_event(pb.events.add(), event)
    return bytes(pb.SerializeToString())


def _set_text(message: Any, field: str, text: str) -> None:
    """Set a string field; text protobuf cannot encode (a lone surrogate) takes the fallback."""
    try:
        setattr(message, field, text)
    except ValueError:
        setattr(message, field, bad_str(field, text))


def _encode_attributes(target: Any, attributes: Mapping[str, Any]) -> None:
    for key, value in attributes.items():
        kv = target.add()
        try:
            kv.key = key
        except (TypeError, ValueError):
            kv.key = bad_str("(key)", key) if isinstance(key, str) else str(key)
        try:
            _set_any(kv.value, value, key)
        except (TypeError, ValueError, OverflowError) as exc:
            del target[-1]
            dropped(key, exc)


def _set_any(av: Any, value: Any, key: str = "") -> None:
    t = type(value)
    if t is str:
        try:
            av.string_value = value
        except ValueError:  # not encodable as UTF-8 (a lone surrogate)
            av.string_value = bad_str(key, value)
    elif t is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            av.int_value = value
        else:
            av.string_value = big_int(key, value)
    elif t is bool:
        av.bool_value = value
    elif t is float:
        av.double_value = value
    elif value is None:
        return
    elif isinstance(value, bool):
        av.bool_value = value
    elif isinstance(value, int):
        _set_any(av, int(value), key)
    elif isinstance(value, float):
        av.double_value = float(value)
    elif isinstance(value, str):
        _set_any(av, str(value), key)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        av.bytes_value = bytes(value)
    elif isinstance(value, Mapping):
        kvl = av.kvlist_value
        kvl.SetInParent()
        for k, v in value.items():
            kv = kvl.values.add()
            try:
                kv.key = str(k)
            except ValueError:
                kv.key = bad_str(key, str(k))
            _set_any(kv.value, v, key)
    elif isinstance(value, Sequence):
        arr = av.array_value
        arr.SetInParent()
        for v in value:
            _set_any(arr.values.add(), v, key)
    else:
        raise TypeError(f"unsupported attribute value type {type(value).__name__}")


class _ProtoDecoder(_DecoderBase):
    """Builds ReadableSpans from protobuf ``TracesData``; also caches decoded ``KeyValue``
    messages across records."""

    def __init__(self) -> None:
        super().__init__()
        # serialized KeyValue -> decoded (key, value), for values without a (mutable) dict
        self.key_values: dict[bytes, tuple[str, Any]] = {}

    def raw_attrs(self, raws: Iterable[bytes]) -> dict[str, Any]:
        """Attributes from serialized ``KeyValue`` messages (as :func:`_pb_attrs` decodes
        them); each distinct message is parsed once per decoder."""
        out: dict[str, Any] = {}
        get = self.key_values.get
        for raw in raws:
            kv = get(raw)
            if kv is None:
                kv = self._key_value(raw)
            out[kv[0]] = kv[1]
        return out

    def _key_value(self, raw: bytes) -> tuple[str, Any]:
        """Parse one serialized ``KeyValue`` (``DecodeError`` if invalid) and cache it unless
        its value holds a dict (each span gets its own) or it is large."""
        kv = _KeyValue.FromString(raw)
        value = _pb_value(kv.value)
        t = type(value)
        if (t is tuple or t is dict) and _nesting(value) > _KV_MAX_NESTING:
            # Parsed alone, a KeyValue escapes the depth limit the whole frame is parsed with.
            raise DecodeError("attribute value nested too deeply; parse the whole frame")
        pair = (kv.key, value)
        if len(raw) <= _KV_CACHE_MAX_BYTES and not _holds_dict(value):
            cache = self.key_values
            if len(cache) >= _KV_CACHE_SIZE:
                cache.clear()
            cache[raw] = pair
        return pair

    def from_pb(
        self,
        td: Any,
        out: list[ReadableSpan],
        attributes: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        """Append the spans of ``td`` to ``out``: a ``TracesData``, or with ``attributes``
        :meth:`raw_attrs` a :data:`_RawTracesData` (span, event and link attributes serialized)."""
        append = out.append
        from_bytes = int.from_bytes
        attrs_of = _pb_attrs if attributes is None else attributes
        for rs in td.resource_spans:
            r = rs.resource
            key = (r.SerializeToString(deterministic=True), rs.schema_url)
            resource = self.resources.get(key)
            if resource is None:
                resource = self._resource(
                    key, _pb_attrs(r.attributes), r.dropped_attributes_count, rs.schema_url
                )
            for ss in rs.scope_spans:
                sc = ss.scope
                key = (sc.SerializeToString(deterministic=True), ss.schema_url)
                scope = self.scopes.get(key)
                if scope is None:
                    scope = self._scope(
                        key, sc.name, sc.version, _pb_attrs(sc.attributes), ss.schema_url
                    )
                for s in ss.spans:
                    attrs: Any = attrs_of(s.attributes)
                    if s.dropped_attributes_count:
                        attrs = _bounded_attributes(attrs, s.dropped_attributes_count)
                    events: Any = ()
                    if s.events:
                        events = [
                            new_event(
                                e.name,
                                _bounded_attributes(
                                    attrs_of(e.attributes), e.dropped_attributes_count
                                )
                                if e.dropped_attributes_count
                                else attrs_of(e.attributes),
                                e.time_unix_nano,
                            )
                            for e in s.events
                        ]
                    if s.dropped_events_count:
                        events = _bounded_list(events, s.dropped_events_count)
                    links: Any = ()
                    if s.links:
                        links = [
                            self.link(
                                from_bytes(lk.trace_id, "big"),
                                from_bytes(lk.span_id, "big"),
                                lk.trace_state,
                                lk.flags,
                                attrs_of(lk.attributes),
                                lk.dropped_attributes_count,
                            )
                            for lk in s.links
                        ]
                    if s.dropped_links_count:
                        links = _bounded_list(links, s.dropped_links_count)
                    st = s.status
                    append(
                        _make_span(
                            s.name,
                            from_bytes(s.trace_id, "big"),
                            from_bytes(s.span_id, "big"),
                            from_bytes(s.parent_span_id, "big"),
                            self.trace_state(s.trace_state),
                            s.flags,
                            s.kind,
                            s.start_time_unix_nano,
                            s.end_time_unix_nano,
                            attrs,
                            events,
                            links,
                            st.code,
                            st.message,
                            resource,
                            scope,
                        )
                    )


_PB_SCALARS = frozenset({"string_value", "int_value", "bool_value", "double_value", "bytes_value"})


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        x = v.string_value  # fast path: "" when unset or another type
        if x:
            out[kv.key] = x
            continue
        which = v.WhichOneof("value")
        if which in _PB_SCALARS:
            out[kv.key] = getattr(v, which)
        else:
            out[kv.key] = _pb_value(v)
    return out


def _pb_value(av: Any) -> Any:
    which = av.WhichOneof("value")
    if which in _PB_SCALARS:
        return getattr(av, which)
    if which == "array_value":
        return tuple(_pb_value(v) for v in av.array_value.values)
    if which == "kvlist_value":
        return _pb_attrs(av.kvlist_value.values)
    return None


_KeyValue: Any = KeyValue
_KV_CACHE_SIZE = 1 << 16  # decoded KeyValues kept per load (the cache restarts when full)
_KV_CACHE_MAX_BYTES = 1024  # larger KeyValues (long strings) are decoded every time


_KV_MAX_NESTING = 8  # deeper attribute values are decoded through the full TracesData schema


def _nesting(value: Any) -> int:
    """Levels of arrays and maps in an attribute value (0 for a scalar)."""
    t = type(value)
    if t is tuple:
        return 1 + max(map(_nesting, value), default=0)
    if t is dict:
        return 1 + max(map(_nesting, value.values()), default=0)
    return 0


def _holds_dict(value: Any) -> bool:
    t = type(value)
    if t is dict:
        return True
    return t is tuple and any(_holds_dict(v) for v in value)


def _file_protos(fd: Any, seen: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
    """``fd`` and the files it imports as ``FileDescriptorProto``, dependencies first."""
    for dep in fd.dependencies:
        _file_protos(dep, seen)
    if fd.name not in seen:
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        seen[fd.name] = proto


def traces_data_with_bytes_fields(fields: Set[tuple[str, str]]) -> Any:
    """A ``TracesData`` class whose ``(message, field)`` pairs of the trace proto (nested
    messages as ``"Span.Event"``) are declared ``bytes``: the wire format is the same, but
    parsing leaves those fields serialized."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    _file_protos(TracesData.DESCRIPTOR.file, files)

    def retype(messages: Any, prefix: str) -> None:
        for message in messages:
            name = prefix + message.name
            for field in message.field:
                if (name, field.name) in fields:
                    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    field.ClearField("type_name")
            retype(message.nested_type, name + ".")

    retype(files[TracesData.DESCRIPTOR.file.name].message_type, "")
    pool = descriptor_pool.DescriptorPool()
    for proto in files.values():
        pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(TracesData.DESCRIPTOR.full_name)
    )


#: ``TracesData`` with the ``attributes`` of spans, events and links declared as ``repeated
#: bytes``, so identical attributes are decoded once (:meth:`_ProtoDecoder.raw_attrs`).
_RawTracesData: Any = traces_data_with_bytes_fields(
    {("Span", "attributes"), ("Span.Event", "attributes"), ("Span.Link", "attributes")}
)


def spans_from_traces_data(td: TracesData) -> list[ReadableSpan]:
    """Rebuild SDK ``ReadableSpan`` objects (contexts, parent, kind, status, times,
    attributes, events, links, resource, scope) from a ``TracesData``."""
    out: list[ReadableSpan] = []
    _ProtoDecoder().from_pb(td, out)
    return out
