"""Recordings as standard OTLP files.

Two on-disk formats, both written by the OpenTelemetry Collector's ``file`` exporter:

* OTLP JSON lines (``.jsonl``, also ``.json``): one ``TracesData`` per line in the OTLP/JSON
  encoding (lowerCamelCase names, hex trace/span ids, enums as integers, 64-bit integers as
  decimal strings).
* Length-prefixed protobuf (``.binpb``): each serialized ``TracesData`` is preceded by its
  length as a 4-byte big-endian unsigned integer (the Collector's ``format: proto`` framing,
  ``exportMessageAsBuffer`` in ``exporter/fileexporter/file_writer.go``).

:class:`RecordingExporter` writes them, :func:`load_recording` reads them back into real
SDK :class:`~opentelemetry.sdk.trace.ReadableSpan` objects.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import json
import logging
import math
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Literal

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.metrics import MeterProvider
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.core.selfmetrics import ErrorReporter, get_meter
from otel_replay.model.span_shapes import session_id_of
from otel_replay.model.steps import Step, normalize_span

_orjson: Any
try:  # optional fast JSON codec; the stdlib is the fallback and the reference for messages
    import orjson

    _orjson = orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

__all__ = [
    "RecordingError",
    "RecordingFormatError",
    "RecordingSizeError",
    "RecordingWarning",
    "RecordingExporter",
    "Recording",
    "RecordingFormat",
    "encode_spans",
    "traces_data_to_json",
    "traces_data_from_json",
    "spans_from_traces_data",
    "load_recording",
    "write_recording",
    "JSONL_SUFFIXES",
    "PROTOBUF_SUFFIX",
]

_logger = logging.getLogger("otel_replay")

RecordingFormat = Literal["jsonl", "protobuf"]
#: File name endings read as OTLP JSON lines.
JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".json")
#: File name ending of length-prefixed protobuf recordings.
PROTOBUF_SUFFIX = ".binpb"
_SUFFIX: dict[str, str] = {"jsonl": ".jsonl", "protobuf": PROTOBUF_SUFFIX}
_WRITE_BATCH = 1000  # spans per line/frame in write_recording


# --- Errors ---------------------------------------------------------------------------------
class RecordingError(Exception):
    """A recording cannot be read or written."""


class RecordingFormatError(RecordingError):
    """A recording file is not valid OTLP JSON lines / length-prefixed OTLP protobuf."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, offset: int | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.offset = offset
        self.reason = message
        super().__init__(_where(path, line, offset) + message)


class RecordingSizeError(RecordingError):
    """A recording, line or file exceeds a configured size cap."""


class RecordingWarning(UserWarning):
    """A recording was loaded but part of it was skipped (e.g. a truncated last line)."""


def _where(path: str, line: int | None, offset: int | None) -> str:
    if line is not None:
        return f"{path}:{line}: "
    if offset is not None:
        return f"{path}: at byte offset {offset}: "
    return f"{path}: "


class _Invalid(ValueError):
    """Content error inside one TracesData; ``where`` is filled while unwinding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []

    def at(self, part: str) -> _Invalid:
        self.where.append(part)
        return self

    def __str__(self) -> str:
        if not self.where:
            return self.message
        return ".".join(reversed(self.where)) + ": " + self.message


# --- Shared tables --------------------------------------------------------------------------
# SDK SpanKind value v <-> OTLP Span.SpanKind v + 1 (0 is SPAN_KIND_UNSPECIFIED).
_SDK_KINDS: tuple[SpanKind, ...] = (
    SpanKind.INTERNAL,  # SPAN_KIND_UNSPECIFIED
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
)
_KIND_NAMES: dict[str, int] = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_STATUS_UNSET = Status(StatusCode.UNSET)
_STATUS_OK = Status(StatusCode.OK)
_TRACE_FLAGS = tuple(TraceFlags(i) for i in range(256))
_FLAG_HAS_IS_REMOTE = 0x100  # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_FLAG_IS_REMOTE = 0x200  # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_EMPTY_TRACE_STATE = TraceState()


def _remote(flags: int) -> bool:
    return bool(flags & _FLAG_HAS_IS_REMOTE and flags & _FLAG_IS_REMOTE)


# --- Encoding: spans -> TracesData ----------------------------------------------------------
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
        if ctx.trace_state:
            pb.trace_state = ctx.trace_state.to_header()
        flags |= int(ctx.trace_flags) & 0xFF
    parent = span.parent
    if parent is not None:
        pb.parent_span_id = parent.span_id.to_bytes(8, "big")
        if parent.is_remote:
            flags |= _FLAG_IS_REMOTE
    pb.flags = flags
    pb.name = span.name
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
        ev = pb.events.add()
        ev.name = event.name
        if event.timestamp:
            ev.time_unix_nano = event.timestamp
        if event.attributes:
            _encode_attributes(ev.attributes, event.attributes)
        dropped = getattr(event, "dropped_attributes", 0)
        if dropped:
            ev.dropped_attributes_count = dropped
    if span.dropped_events:
        pb.dropped_events_count = span.dropped_events
    for link in span.links:
        lk = pb.links.add()
        lctx = link.context
        lk.trace_id = lctx.trace_id.to_bytes(16, "big")
        lk.span_id = lctx.span_id.to_bytes(8, "big")
        if lctx.trace_state:
            lk.trace_state = lctx.trace_state.to_header()
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
            pb.status.message = status.description


def _encode_attributes(target: Any, attributes: Mapping[str, Any]) -> None:
    for key, value in attributes.items():
        kv = target.add()
        kv.key = key
        try:
            _set_any(kv.value, value)
        except (TypeError, ValueError, OverflowError) as exc:
            del target[-1]
            _logger.debug("recording: dropped attribute %r: %s", key, exc)


def _set_any(av: Any, value: Any) -> None:
    t = type(value)
    if t is str:
        av.string_value = value
    elif t is int:
        av.int_value = value
    elif t is bool:
        av.bool_value = value
    elif t is float:
        av.double_value = value
    elif value is None:
        return
    elif isinstance(value, bool):
        av.bool_value = value
    elif isinstance(value, int):
        av.int_value = int(value)
    elif isinstance(value, float):
        av.double_value = float(value)
    elif isinstance(value, str):
        av.string_value = str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        av.bytes_value = bytes(value)
    elif isinstance(value, Mapping):
        kvl = av.kvlist_value
        kvl.SetInParent()
        for k, v in value.items():
            kv = kvl.values.add()
            kv.key = str(k)
            _set_any(kv.value, v)
    elif isinstance(value, Sequence):
        arr = av.array_value
        arr.SetInParent()
        for v in value:
            _set_any(arr.values.add(), v)
    else:
        raise TypeError(f"unsupported attribute value type {type(value).__name__}")


# --- Spans -> OTLP/JSON objects (direct, no protobuf round trip) ----------------------------
class _JsonEncoder:
    """Spans -> OTLP/JSON ``TracesData`` objects; caches encoded resources and scopes.

    The output is identical to ``_td_to_obj(encode_spans(spans))``.
    """

    def __init__(self) -> None:
        # id() -> (object kept alive so the id stays unique, encoded form)
        self._resources: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._scopes: dict[int, tuple[Any, dict[str, Any]]] = {}

    def _resource(self, resource: Any) -> dict[str, Any]:
        hit = self._resources.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        obj: dict[str, Any] = {}
        if resource is not None and resource.attributes:
            obj["attributes"] = _attrs_to_obj(resource.attributes)
        if len(self._resources) > 64:
            self._resources.clear()
        self._resources[id(resource)] = (resource, obj)
        return obj

    def _scope(self, scope: Any) -> dict[str, Any]:
        hit = self._scopes.get(id(scope))
        if hit is not None and hit[0] is scope:
            return hit[1]
        obj: dict[str, Any] = {}
        if scope is not None:
            if scope.name:
                obj["name"] = scope.name
            if scope.version:
                obj["version"] = scope.version
            if scope.attributes:
                obj["attributes"] = _attrs_to_obj(scope.attributes)
        if len(self._scopes) > 256:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, obj)
        return obj

    def traces_data(self, spans: Iterable[ReadableSpan]) -> dict[str, Any]:
        rss: list[dict[str, Any]] = []
        groups: dict[int, tuple[dict[str, Any], dict[int, list[dict[str, Any]]]]] = {}
        for span in spans:
            resource = span.resource
            group = groups.get(id(resource))
            if group is None:
                rs: dict[str, Any] = {"resource": self._resource(resource), "scopeSpans": []}
                if resource is not None and resource.schema_url:
                    rs["schemaUrl"] = resource.schema_url
                rss.append(rs)
                group = (rs, {})
                groups[id(resource)] = group
            scope = span.instrumentation_scope
            out = group[1].get(id(scope))
            if out is None:
                out = []
                ss: dict[str, Any] = {"scope": self._scope(scope), "spans": out}
                if scope is not None and scope.schema_url:
                    ss["schemaUrl"] = scope.schema_url
                group[0]["scopeSpans"].append(ss)
                group[1][id(scope)] = out
            out.append(_span_obj(span))
        return {"resourceSpans": rss}


def _span_obj(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    parent = span.parent
    flags = _FLAG_HAS_IS_REMOTE
    if ctx is not None:
        o: dict[str, Any] = {
            "traceId": format(ctx.trace_id, "032x"),
            "spanId": format(ctx.span_id, "016x"),
        }
        if ctx.trace_state:
            o["traceState"] = ctx.trace_state.to_header()
        flags |= int(ctx.trace_flags) & 0xFF
    else:
        o = {"traceId": "", "spanId": ""}
    if parent is not None:
        o["parentSpanId"] = format(parent.span_id, "016x")
        if parent.is_remote:
            flags |= _FLAG_IS_REMOTE
    o["flags"] = flags
    o["name"] = span.name
    o["kind"] = span.kind.value + 1
    o["startTimeUnixNano"] = str(span.start_time or 0)
    o["endTimeUnixNano"] = str(span.end_time or 0)
    attributes = span.attributes
    if attributes:
        encoded = _attrs_to_obj(attributes)
        if encoded:
            o["attributes"] = encoded
    if span.dropped_attributes:
        o["droppedAttributesCount"] = span.dropped_attributes
    if span.events:
        events = []
        for event in span.events:
            eo: dict[str, Any] = {"timeUnixNano": str(event.timestamp or 0), "name": event.name}
            if event.attributes:
                encoded = _attrs_to_obj(event.attributes)
                if encoded:
                    eo["attributes"] = encoded
            dropped = getattr(event, "dropped_attributes", 0)
            if dropped:
                eo["droppedAttributesCount"] = dropped
            events.append(eo)
        o["events"] = events
    if span.dropped_events:
        o["droppedEventsCount"] = span.dropped_events
    if span.links:
        links = []
        for link in span.links:
            lctx = link.context
            lo: dict[str, Any] = {
                "traceId": format(lctx.trace_id, "032x"),
                "spanId": format(lctx.span_id, "016x"),
            }
            if lctx.trace_state:
                lo["traceState"] = lctx.trace_state.to_header()
            if link.attributes:
                encoded = _attrs_to_obj(link.attributes)
                if encoded:
                    lo["attributes"] = encoded
            if link.dropped_attributes:
                lo["droppedAttributesCount"] = link.dropped_attributes
            lflags = _FLAG_HAS_IS_REMOTE | (int(lctx.trace_flags) & 0xFF)
            if lctx.is_remote:
                lflags |= _FLAG_IS_REMOTE
            lo["flags"] = lflags
            links.append(lo)
        o["links"] = links
    if span.dropped_links:
        o["droppedLinksCount"] = span.dropped_links
    status = span.status
    st: dict[str, Any] = {}
    if status is not None:
        if status.description:
            st["message"] = status.description
        if status.status_code is not StatusCode.UNSET:
            st["code"] = status.status_code.value
    o["status"] = st
    return o


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _attrs_to_obj(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in attributes.items():
        if type(value) is str:
            out.append({"key": key, "value": {"stringValue": value}})
            continue
        try:
            out.append({"key": key, "value": _value_obj(value)})
        except (TypeError, ValueError) as exc:
            _logger.debug("recording: dropped attribute %r: %s", key, exc)
    return out


def _value_obj(value: Any) -> dict[str, Any]:
    t = type(value)
    if t is str:
        return {"stringValue": value}
    if t is bool:
        return {"boolValue": value}
    if t is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer {value} is out of the int64 range")
        return {"intValue": str(value)}
    if t is float:
        return {"doubleValue": _json_double_out(value)}
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": bool(value)}
    if isinstance(value, int):
        return _value_obj(int(value))
    if isinstance(value, float):
        return {"doubleValue": _json_double_out(float(value))}
    if isinstance(value, str):
        return {"stringValue": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        kvs = [{"key": str(k), "value": _value_obj(v)} for k, v in value.items()]
        return {"kvlistValue": {"values": kvs} if kvs else {}}
    if isinstance(value, Sequence):
        values = [_value_obj(v) for v in value]
        return {"arrayValue": {"values": values} if values else {}}
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


# --- TracesData <-> OTLP/JSON ---------------------------------------------------------------
def traces_data_to_json(td: TracesData) -> str:
    """One line of OTLP/JSON (no trailing newline), as the Collector's ``file`` exporter writes."""
    return _dumps(_td_to_obj(td)).decode("utf-8")


def _dumps(obj: Any) -> bytes:
    if _orjson is not None:
        try:
            return bytes(_orjson.dumps(obj))
        except TypeError:  # e.g. lone surrogates; the stdlib escapes them
            pass
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8", "backslashreplace"
    )


def _td_to_obj(td: Any) -> dict[str, Any]:
    out_rss = []
    for rs in td.resource_spans:
        res: dict[str, Any] = {}
        if rs.resource.attributes:
            res["attributes"] = _kvs_to_obj(rs.resource.attributes)
        if rs.resource.dropped_attributes_count:
            res["droppedAttributesCount"] = rs.resource.dropped_attributes_count
        obj_rs: dict[str, Any] = {"resource": res, "scopeSpans": []}
        for ss in rs.scope_spans:
            scope: dict[str, Any] = {}
            sc = ss.scope
            if sc.name:
                scope["name"] = sc.name
            if sc.version:
                scope["version"] = sc.version
            if sc.attributes:
                scope["attributes"] = _kvs_to_obj(sc.attributes)
            if sc.dropped_attributes_count:
                scope["droppedAttributesCount"] = sc.dropped_attributes_count
            obj_ss: dict[str, Any] = {"scope": scope, "spans": [_pb_span_obj(s) for s in ss.spans]}
            if ss.schema_url:
                obj_ss["schemaUrl"] = ss.schema_url
            obj_rs["scopeSpans"].append(obj_ss)
        if rs.schema_url:
            obj_rs["schemaUrl"] = rs.schema_url
        out_rss.append(obj_rs)
    return {"resourceSpans": out_rss}


def _pb_span_obj(s: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"traceId": s.trace_id.hex(), "spanId": s.span_id.hex()}
    if s.trace_state:
        o["traceState"] = s.trace_state
    if s.parent_span_id:
        o["parentSpanId"] = s.parent_span_id.hex()
    if s.flags:
        o["flags"] = s.flags
    o["name"] = s.name
    o["kind"] = s.kind
    o["startTimeUnixNano"] = str(s.start_time_unix_nano)
    o["endTimeUnixNano"] = str(s.end_time_unix_nano)
    if s.attributes:
        o["attributes"] = _kvs_to_obj(s.attributes)
    if s.dropped_attributes_count:
        o["droppedAttributesCount"] = s.dropped_attributes_count
    if s.events:
        events = []
        for e in s.events:
            eo: dict[str, Any] = {"timeUnixNano": str(e.time_unix_nano), "name": e.name}
            if e.attributes:
                eo["attributes"] = _kvs_to_obj(e.attributes)
            if e.dropped_attributes_count:
                eo["droppedAttributesCount"] = e.dropped_attributes_count
            events.append(eo)
        o["events"] = events
    if s.dropped_events_count:
        o["droppedEventsCount"] = s.dropped_events_count
    if s.links:
        links = []
        for lk in s.links:
            lo: dict[str, Any] = {"traceId": lk.trace_id.hex(), "spanId": lk.span_id.hex()}
            if lk.trace_state:
                lo["traceState"] = lk.trace_state
            if lk.attributes:
                lo["attributes"] = _kvs_to_obj(lk.attributes)
            if lk.dropped_attributes_count:
                lo["droppedAttributesCount"] = lk.dropped_attributes_count
            if lk.flags:
                lo["flags"] = lk.flags
            links.append(lo)
        o["links"] = links
    if s.dropped_links_count:
        o["droppedLinksCount"] = s.dropped_links_count
    st: dict[str, Any] = {}
    if s.status.message:
        st["message"] = s.status.message
    if s.status.code:
        st["code"] = s.status.code
    o["status"] = st
    return o


def _kvs_to_obj(kvs: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"key": kv.key, "value": _any_to_obj(kv.value)} for kv in kvs]


def _any_to_obj(av: Any) -> dict[str, Any]:
    which = av.WhichOneof("value")
    if which == "string_value":
        return {"stringValue": av.string_value}
    if which == "int_value":
        return {"intValue": str(av.int_value)}
    if which == "bool_value":
        return {"boolValue": av.bool_value}
    if which == "double_value":
        return {"doubleValue": _json_double_out(av.double_value)}
    if which == "array_value":
        values = av.array_value.values
        return {"arrayValue": {"values": [_any_to_obj(v) for v in values]} if values else {}}
    if which == "kvlist_value":
        kvs = av.kvlist_value.values
        return {"kvlistValue": {"values": _kvs_to_obj(kvs)} if kvs else {}}
    if which == "bytes_value":
        return {"bytesValue": base64.b64encode(av.bytes_value).decode("ascii")}
    return {}


def _json_double_out(v: float) -> float | str:
    if math.isfinite(v):
        return v
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def traces_data_from_json(text: str | bytes) -> TracesData:
    """Parse one OTLP/JSON ``TracesData`` object (hex ids; unknown fields ignored).

    Raises :class:`ValueError` with a description when the text is not such an object.
    """
    try:
        obj = _loads(text)
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {_json_error_text(exc)}") from None
    td = TracesData()
    try:
        for i, rs in enumerate(_resource_spans_of(obj)):
            try:
                _rs_to_pb(td.resource_spans.add(), rs)
            except _Invalid as exc:
                raise exc.at(f"resourceSpans[{i}]") from None
    except _Invalid as exc:
        raise ValueError(str(exc)) from None
    return td


def _rs_to_pb(pb: Any, rs: Any) -> None:
    rs = _obj(rs, "resource spans")
    res = rs.get("resource")
    if res is not None:
        res = _obj(res, "resource")
        _kvs_to_pb(pb.resource.attributes, res.get("attributes"))
        pb.resource.dropped_attributes_count = _json_int(
            res.get("droppedAttributesCount"), "droppedAttributesCount"
        )
    pb.schema_url = _json_str(rs.get("schemaUrl"), "schemaUrl")
    for j, ss in enumerate(_scope_spans_of(rs)):
        try:
            ss = _obj(ss, "scope spans")
            pss = pb.scope_spans.add()
            scope = _scope_of(ss)
            if scope is not None:
                pss.scope.name = _json_str(scope.get("name"), "name")
                pss.scope.version = _json_str(scope.get("version"), "version")
                _kvs_to_pb(pss.scope.attributes, scope.get("attributes"))
                pss.scope.dropped_attributes_count = _json_int(
                    scope.get("droppedAttributesCount"), "droppedAttributesCount"
                )
            pss.schema_url = _json_str(ss.get("schemaUrl"), "schemaUrl")
            for k, span in enumerate(_list(ss.get("spans"), "spans")):
                try:
                    _span_to_pb(pss.spans.add(), _span_dict(span))
                except _Invalid as exc:
                    raise exc.at(f"spans[{k}]") from None
        except _Invalid as exc:
            raise exc.at(f"scopeSpans[{j}]") from None


def _span_to_pb(pb: Any, s: dict[str, Any]) -> None:
    g = s.get
    pb.trace_id = _json_id(g("traceId"), 16, "traceId").to_bytes(16, "big")
    pb.span_id = _json_id(g("spanId"), 8, "spanId").to_bytes(8, "big")
    parent = _json_id(g("parentSpanId"), 8, "parentSpanId")
    if parent:
        pb.parent_span_id = parent.to_bytes(8, "big")
    pb.trace_state = _json_str(g("traceState"), "traceState")
    pb.flags = _json_int(g("flags"), "flags") & 0xFFFFFFFF
    pb.name = _json_str(g("name"), "name")
    pb.kind = _json_enum(g("kind"), _KIND_NAMES, "kind")
    pb.start_time_unix_nano = _json_int(g("startTimeUnixNano"), "startTimeUnixNano")
    pb.end_time_unix_nano = _json_int(g("endTimeUnixNano"), "endTimeUnixNano")
    _kvs_to_pb(pb.attributes, g("attributes"))
    pb.dropped_attributes_count = _json_int(g("droppedAttributesCount"), "droppedAttributesCount")
    for e in _list(g("events"), "events"):
        e = _obj(e, "event")
        pe = pb.events.add()
        pe.time_unix_nano = _json_int(e.get("timeUnixNano"), "timeUnixNano")
        pe.name = _json_str(e.get("name"), "name")
        _kvs_to_pb(pe.attributes, e.get("attributes"))
        pe.dropped_attributes_count = _json_int(
            e.get("droppedAttributesCount"), "droppedAttributesCount"
        )
    pb.dropped_events_count = _json_int(g("droppedEventsCount"), "droppedEventsCount")
    for lk in _list(g("links"), "links"):
        lk = _obj(lk, "link")
        pl = pb.links.add()
        pl.trace_id = _json_id(lk.get("traceId"), 16, "traceId").to_bytes(16, "big")
        pl.span_id = _json_id(lk.get("spanId"), 8, "spanId").to_bytes(8, "big")
        pl.trace_state = _json_str(lk.get("traceState"), "traceState")
        _kvs_to_pb(pl.attributes, lk.get("attributes"))
        pl.dropped_attributes_count = _json_int(
            lk.get("droppedAttributesCount"), "droppedAttributesCount"
        )
        pl.flags = _json_int(lk.get("flags"), "flags") & 0xFFFFFFFF
    pb.dropped_links_count = _json_int(g("droppedLinksCount"), "droppedLinksCount")
    st = g("status")
    if st is not None:
        st = _obj(st, "status")
        pb.status.SetInParent()
        pb.status.message = _json_str(st.get("message"), "message")
        pb.status.code = _json_enum(st.get("code"), _STATUS_NAMES, "code")


def _kvs_to_pb(target: Any, kvs: Any) -> None:
    for key, value in _json_attrs(kvs).items():
        kv = target.add()
        kv.key = key
        try:
            _set_any(kv.value, value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Invalid(f"attribute {key!r}: {exc}") from None


# --- OTLP/JSON field helpers ----------------------------------------------------------------
_CAMEL: dict[str, str] = {}


def _camel(key: str) -> str:
    out = _CAMEL.get(key)
    if out is None:
        head, *rest = key.split("_")
        out = head + "".join(p[:1].upper() + p[1:] for p in rest)
        if len(_CAMEL) < 4096:
            _CAMEL[key] = out
    return out


def _camelize(obj: Any) -> Any:
    """Rename proto field names (``trace_id``) to their JSON names (``traceId``)."""
    if type(obj) is dict:
        return {(_camel(k) if "_" in k else k): _camelize(v) for k, v in obj.items()}
    if type(obj) is list:
        return [_camelize(v) for v in obj]
    return obj


def _span_dict(s: Any) -> dict[str, Any]:
    if type(s) is not dict:
        raise _Invalid(f"span is {_json_kind(s)}, expected an object")
    if "trace_id" in s or "span_id" in s:  # proto field names are valid proto3 JSON too
        return _camelize(s)  # type: ignore[no-any-return]
    return s


def _obj(v: Any, what: str) -> dict[str, Any]:
    if type(v) is not dict:
        raise _Invalid(f"{what} is {_json_kind(v)}, expected an object")
    return v


def _list(v: Any, what: str) -> list[Any]:
    if v is None:
        return []
    if type(v) is not list:
        raise _Invalid(f'"{what}" is {_json_kind(v)}, expected an array')
    return v


def _json_type(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "boolean"
    if v is None:
        return "null"
    return "number"


def _json_kind(v: Any) -> str:
    t = _json_type(v)
    return t if t == "null" else ("an " if t[0] in "ao" else "a ") + t


def _json_str(v: Any, what: str) -> str:
    if type(v) is str:
        return v  # type: ignore[no-any-return]
    if v is None:
        return ""
    raise _Invalid(f"{what} is {_json_kind(v)}, expected a string")


def _json_int(v: Any, what: str) -> int:
    t = type(v)
    if t is str:
        try:
            return int(v)
        except ValueError:
            pass
    elif t is int:
        return v  # type: ignore[no-any-return]
    elif v is None:
        return 0
    elif t is float and v.is_integer():
        return int(v)
    raise _Invalid(f"{what}: invalid integer {v!r:.40}")


def _json_enum(v: Any, names: Mapping[str, int], what: str) -> int:
    if type(v) is str and v in names:
        return names[v]
    return _json_int(v, what)


def _json_id(v: Any, nbytes: int, what: str) -> int:
    if type(v) is str:
        n = len(v)
        if n == 2 * nbytes:
            if v.isalnum():  # int() would also accept a sign, "_" and spaces
                try:
                    return int(v, 16)
                except ValueError:
                    pass
        elif n == 0:
            return 0
        else:  # tolerate base64 ids (the generic proto3 JSON mapping of bytes)
            try:
                raw = base64.b64decode(
                    v + "=" * (-n % 4),
                    altchars=b"-_" if "-" in v or "_" in v else None,
                    validate=True,
                )
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == nbytes:
                return int.from_bytes(raw, "big")
    elif v is None:
        return 0
    raise _Invalid(f"{what}: invalid id {v!r:.60} (expected {2 * nbytes} hex digits)")


def _json_double(v: Any) -> float:
    t = type(v)
    if t is float:
        return v  # type: ignore[no-any-return]
    if t is int:
        return float(v)
    if t is str:
        try:
            return float(v)  # accepts "NaN", "Infinity", "-Infinity"
        except ValueError:
            pass
    raise _Invalid(f"doubleValue: invalid number {v!r:.40}")


def _json_bytes(v: Any) -> bytes:
    if type(v) is str:
        try:
            if "-" in v or "_" in v:
                return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
            return base64.b64decode(v + "=" * (-len(v) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _Invalid(f"bytesValue: invalid base64 {v!r:.40}")


def _json_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _Invalid(f"boolValue is {_json_kind(v)}, expected true or false")
    return v  # type: ignore[no-any-return]


def _json_array(v: Any) -> tuple[Any, ...]:
    v = _obj(v, "arrayValue")
    return tuple([_json_any(x) for x in _list(v.get("values"), "values")])


def _json_kvlist(v: Any) -> dict[str, Any]:
    v = _obj(v, "kvlistValue")
    return _json_attrs(v.get("values"))


_VALUE_DECODERS: dict[str, Callable[[Any], Any]] = {
    "stringValue": lambda v: _json_str(v, "stringValue"),
    "intValue": lambda v: _json_int(v, "intValue"),
    "boolValue": _json_bool,
    "doubleValue": _json_double,
    "arrayValue": _json_array,
    "kvlistValue": _json_kvlist,
    "bytesValue": _json_bytes,
}
for _key in list(_VALUE_DECODERS):
    _VALUE_DECODERS[_key.replace("V", "_v")] = _VALUE_DECODERS[_key]  # proto field names


def _json_any(v: Any) -> Any:
    if type(v) is not dict:
        raise _Invalid(f"attribute value is {_json_kind(v)}, expected an object")
    for key, x in v.items():
        # fast paths for well-formed scalars; anything else goes through _VALUE_DECODERS
        t = type(x)
        if t is str:
            if key == "stringValue":
                return x
            if key == "intValue":
                try:
                    return int(x)
                except ValueError:
                    pass
        elif key == "boolValue" and t is bool or key == "doubleValue" and t is float:
            return x
        dec = _VALUE_DECODERS.get(key)
        if dec is not None:
            return None if x is None else dec(x)
    return None  # an empty AnyValue


def _json_attrs(kvs: Any) -> dict[str, Any]:
    if type(kvs) is not list:
        if kvs is None:
            return {}
        raise _Invalid(f'"attributes" is {_json_kind(kvs)}, expected an array')
    out: dict[str, Any] = {}
    for kv in kvs:
        # Fast path for well-formed KeyValues with a scalar value (a subscript that succeeds
        # proves a dict); everything else, errors included, goes through the general code.
        try:
            key = kv["key"]
            value = kv["value"]
            if "stringValue" in value:
                x = value["stringValue"]
                if type(x) is str and type(key) is str:
                    out[key] = x
                    continue
            elif len(value) == 1 and type(key) is str:
                if "intValue" in value:
                    x = value["intValue"]
                    if type(x) is str:
                        out[key] = int(x)
                        continue
                elif "doubleValue" in value:
                    x = value["doubleValue"]
                    if type(x) is float:
                        out[key] = x
                        continue
                elif "boolValue" in value:
                    x = value["boolValue"]
                    if type(x) is bool:
                        out[key] = x
                        continue
                elif "arrayValue" in value:
                    x = value["arrayValue"]["values"]
                    if type(x) is list:
                        out[key] = tuple([_json_any(v) for v in x])
                        continue
        except (KeyError, TypeError, IndexError, ValueError):  # _Invalid too
            pass
        if type(kv) is dict:
            key = kv.get("key")
            value = kv.get("value")
            if type(key) is str and type(value) is dict:
                x = value.get("stringValue")
                if type(x) is str:
                    out[key] = x
                    continue
                try:
                    out[key] = _json_any(value)
                except _Invalid as exc:
                    raise exc.at(f"attributes[{key!r}]") from None
                continue
            if type(key) is str and value is None:
                out[key] = None
                continue
            if type(key) is not str:
                raise _Invalid(f"attribute key is {_json_kind(key)}, expected a string")
            raise _Invalid(f"attribute {key!r}: value is {_json_kind(value)}, expected an object")
        raise _Invalid(f"attribute is {_json_kind(kv)}, expected an object")
    return out


def _resource_spans_of(obj: Any) -> list[Any]:
    if type(obj) is not dict:
        raise _Invalid(f"not an OTLP TracesData object (a JSON {_json_type(obj)})")
    rss = obj.get("resourceSpans")
    if rss is None:
        rss = obj.get("resource_spans")
        if rss is None:
            raise _Invalid('not an OTLP TracesData object (no "resourceSpans")')
        rss = _camelize(rss)
    if type(rss) is not list:
        raise _Invalid(f'"resourceSpans" is {_json_kind(rss)}, expected an array')
    return rss  # type: ignore[no-any-return]


def _scope_spans_of(rs: dict[str, Any]) -> list[Any]:
    sss = rs.get("scopeSpans")
    if sss is None:
        sss = rs.get("scope_spans")
        if sss is None:  # OTLP < 0.15 (Collector < 0.46) wrote instrumentationLibrarySpans
            sss = rs.get("instrumentationLibrarySpans")
        sss = _camelize(sss)
    return _list(sss, "scopeSpans")


def _scope_of(ss: dict[str, Any]) -> dict[str, Any] | None:
    scope = ss.get("scope")
    if scope is None:
        scope = ss.get("instrumentationLibrary")
        if scope is None:
            return None
    return _obj(scope, "scope")


# --- Decoding to SDK spans ------------------------------------------------------------------
_TRACE_ID_MAX = 2**128 - 1
_SPAN_ID_MAX = 2**64 - 1
_new_object = object.__new__
_new_tuple = tuple.__new__


def _span_context(
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


def _readable_span(
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


def _event(name: str, attributes: Any, timestamp: int) -> Event:
    """The event ``Event(name, attributes, timestamp)`` builds."""
    event: Event = _new_object(Event)
    event._name = name
    event._timestamp = timestamp
    event._attributes = attributes
    return event


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
    return _readable_span(
        name,
        _span_context(trace_id, span_id, False, tflags, trace_state),
        _span_context(trace_id, parent_span_id, _remote(flags), tflags, trace_state)
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


class _Decoder:
    """Builds ReadableSpans; caches resources, scopes and trace states across records."""

    def __init__(self) -> None:
        self.resources: dict[Any, Resource] = {}
        self.scopes: dict[Any, InstrumentationScope] = {}
        self.trace_states: dict[str, TraceState] = {"": _EMPTY_TRACE_STATE}
        # serialized KeyValue -> decoded (key, value), for values without a (mutable) dict
        self.key_values: dict[bytes, tuple[str, Any]] = {}

    def trace_state(self, header: str) -> TraceState:
        ts = self.trace_states.get(header)
        if ts is None:
            ts = TraceState.from_header([header])
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
        ctx = _span_context(
            trace_id,
            span_id,
            _remote(flags),
            _TRACE_FLAGS[flags & 0xFF],
            self.trace_state(trace_state),
        )
        return Link(ctx, _bounded_attributes(attrs, dropped) if dropped else attrs)

    # -- protobuf ------------------------------------------------------------------------
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
                            _event(
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

    # -- OTLP/JSON object ----------------------------------------------------------------
    def from_json(self, obj: Any, out: list[ReadableSpan]) -> None:
        for i, rs in enumerate(_resource_spans_of(obj)):
            try:
                self._json_rs(rs, out)
            except _Invalid as exc:
                raise exc.at(f"resourceSpans[{i}]") from None

    def _json_rs(self, rs: Any, out: list[ReadableSpan]) -> None:
        rs = _obj(rs, "resource spans")
        res = rs.get("resource")
        schema_url = _json_str(rs.get("schemaUrl"), "schemaUrl")
        try:
            res = {} if res is None else _obj(res, "resource")
            attrs = _json_attrs(res.get("attributes"))
            dropped = _json_int(res.get("droppedAttributesCount"), "droppedAttributesCount")
        except _Invalid as exc:
            raise exc.at("resource") from None
        key = _cache_key(attrs, schema_url, dropped)
        resource = self.resources.get(key) if key is not None else None
        if resource is None:
            resource = self._resource(key, attrs, dropped, schema_url)
        for j, ss in enumerate(_scope_spans_of(rs)):
            try:
                ss = _obj(ss, "scope spans")
                sc = _scope_of(ss) or {}
                name = _json_str(sc.get("name"), "name")
                version = _json_str(sc.get("version"), "version")
                sattrs = _json_attrs(sc.get("attributes"))
                sschema = _json_str(ss.get("schemaUrl"), "schemaUrl")
                key = _cache_key(sattrs, name, version, sschema)
                scope = self.scopes.get(key) if key is not None else None
                if scope is None:
                    scope = self._scope(key, name, version, sattrs, sschema)
                for k, s in enumerate(_list(ss.get("spans"), "spans")):
                    try:
                        out.append(self._json_span(s, resource, scope))
                    except _Invalid as exc:
                        raise exc.at(f"spans[{k}]") from None
            except _Invalid as exc:
                raise exc.at(f"scopeSpans[{j}]") from None

    def _json_span(self, s: Any, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
        s = _span_dict(s)
        g = s.get
        attrs: Any = _json_attrs(g("attributes"))
        dropped = g("droppedAttributesCount")
        if dropped:
            attrs = _bounded_attributes(attrs, _json_int(dropped, "droppedAttributesCount"))
        events: Any = ()
        raw = g("events")
        if raw:
            events = [self._json_event(e) for e in _list(raw, "events")]
        dropped = g("droppedEventsCount")
        if dropped:
            events = _bounded_list(list(events), _json_int(dropped, "droppedEventsCount"))
        links: Any = ()
        raw = g("links")
        if raw:
            links = [self._json_link(lk) for lk in _list(raw, "links")]
        dropped = g("droppedLinksCount")
        if dropped:
            links = _bounded_list(list(links), _json_int(dropped, "droppedLinksCount"))
        st = g("status")
        if st:
            st = _obj(st, "status")
            code = _json_enum(st.get("code"), _STATUS_NAMES, "code")
            message = _json_str(st.get("message"), "message")
        elif st is None or type(st) is dict:
            code, message = 0, ""
        else:
            raise _Invalid(f"status is {_json_kind(st)}, expected an object")
        kind = g("kind")
        return _make_span(
            _json_str(g("name"), "name"),
            _json_id(g("traceId"), 16, "traceId"),
            _json_id(g("spanId"), 8, "spanId"),
            _json_id(g("parentSpanId"), 8, "parentSpanId"),
            self.trace_state(_json_str(g("traceState"), "traceState")),
            _json_int(g("flags"), "flags"),
            kind if type(kind) is int else _json_enum(kind, _KIND_NAMES, "kind"),
            _json_int(g("startTimeUnixNano"), "startTimeUnixNano"),
            _json_int(g("endTimeUnixNano"), "endTimeUnixNano"),
            attrs,
            events,
            links,
            code,
            message,
            resource,
            scope,
        )

    def _json_event(self, e: Any) -> Event:
        e = _obj(e, "event")
        attrs: Any = _json_attrs(e.get("attributes"))
        dropped = e.get("droppedAttributesCount")
        if dropped:
            attrs = _bounded_attributes(attrs, _json_int(dropped, "droppedAttributesCount"))
        return _event(
            _json_str(e.get("name"), "name"),
            attrs,
            _json_int(e.get("timeUnixNano"), "timeUnixNano"),
        )

    def _json_link(self, lk: Any) -> Link:
        lk = _obj(lk, "link")
        return self.link(
            _json_id(lk.get("traceId"), 16, "traceId"),
            _json_id(lk.get("spanId"), 8, "spanId"),
            _json_str(lk.get("traceState"), "traceState"),
            _json_int(lk.get("flags"), "flags"),
            _json_attrs(lk.get("attributes")),
            _json_int(lk.get("droppedAttributesCount"), "droppedAttributesCount"),
        )


def _cache_key(attrs: dict[str, Any], *extra: Any) -> tuple[Any, ...] | None:
    """A cache key for decoded attributes that keeps types apart (``1``, ``1.0`` and
    ``True`` are equal as dict keys); ``None`` (no caching) for array or map values."""
    types = tuple(map(type, attrs.values()))
    if tuple in types or dict in types:
        return None
    return (extra, tuple(attrs.items()), types)


def _bounded_attributes(attrs: dict[str, Any], dropped: int) -> BoundedAttributes:
    bounded = BoundedAttributes(attributes=attrs, immutable=True)
    bounded.dropped = dropped
    return bounded


def _bounded_list(items: Sequence[Any], dropped: int) -> BoundedList:
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = dropped
    return bounded


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


def _raw_traces_data_class() -> Any:
    """``TracesData`` with the ``attributes`` of spans, events and links declared as
    ``repeated bytes``: the wire format is the same, but parsing leaves each ``KeyValue``
    serialized, so identical attributes are decoded once (:meth:`_Decoder.raw_attrs`)."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    _file_protos(TracesData.DESCRIPTOR.file, files)
    trace = files[TracesData.DESCRIPTOR.file.name]
    span = next(m for m in trace.message_type if m.name == "Span")
    for message in (span, *span.nested_type):
        for field in message.field:
            if field.name == "attributes":
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                field.ClearField("type_name")
    pool = descriptor_pool.DescriptorPool()
    for proto in files.values():
        pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(TracesData.DESCRIPTOR.full_name)
    )


_RawTracesData: Any = _raw_traces_data_class()


def spans_from_traces_data(td: TracesData) -> list[ReadableSpan]:
    """Rebuild SDK ``ReadableSpan`` objects (contexts, parent, kind, status, times,
    attributes, events, links, resource, scope) from a ``TracesData``."""
    out: list[ReadableSpan] = []
    _Decoder().from_pb(td, out)
    return out


# --- JSON parsing ---------------------------------------------------------------------------
def _loads(raw: str | bytes) -> Any:
    if _orjson is not None:
        try:
            return _orjson.loads(raw)
        except ValueError:
            pass  # the stdlib gives the reference message (and accepts NaN, big ints)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"invalid UTF-8 at column {exc.start + 1}") from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nests too deeply") from None


def _json_error_text(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return str(exc)


# --- Exporter -------------------------------------------------------------------------------
class RecordingExporter(SpanExporter):
    """Span exporter that appends spans to an OTLP file (JSON lines or framed protobuf).

    Each :meth:`export` writes one ``TracesData`` as one line (or one length-prefixed frame)
    with a single unbuffered write, so a crash loses at most the record being written. Safe
    to call from several threads; never raises into the caller (failures return
    ``SpanExportResult.FAILURE``, are logged once per error type on the ``otel_replay``
    logger and counted in :attr:`failures`). One exporter per file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: RecordingFormat = "jsonl",
        max_bytes: int | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if format not in _SUFFIX:
            raise ValueError(
                f"unknown recording format {format!r} (expected 'jsonl' or 'protobuf')"
            )
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        target = os.fspath(path)
        seps = tuple(s for s in (os.sep, os.altsep) if s)
        self._dir_mode = os.path.isdir(target) or target.endswith(seps)
        self._target = target
        self.format: RecordingFormat = format
        self.max_bytes = max_bytes
        #: Number of :meth:`export` calls that returned FAILURE.
        self.failures = 0
        self._errors = ErrorReporter("recording_exporter", get_meter(meter_provider))
        self._file: IO[bytes] | None = None
        self._path: str | None = None
        self._size = 0
        self._pid = os.getpid()
        self._forked = False
        self._shutdown = False
        self._logged: set[str] = set()
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._json = _JsonEncoder()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                exporter = ref()
                if exporter is not None:
                    exporter._reset_after_fork()

            os.register_at_fork(after_in_child=_after_fork_in_child)

    @property
    def path(self) -> str | None:
        """The file being written (``None`` until the first export in directory mode)."""
        if self._path is None and not self._dir_mode:
            return self._target
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans`` as one record; FAILURE (never an exception) on any error."""
        if self._shutdown:
            return self._failed("shutdown", "recording exporter is shut down; dropping spans")
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            record = self._encode(spans)
        except Exception as exc:  # noqa: BLE001 - an exporter must not raise
            return self._failed(
                f"encode:{type(exc).__name__}", f"cannot encode spans for the recording: {exc!r}"
            )
        with self._lock:
            if self._shutdown:
                return self._failed("shutdown", "recording exporter is shut down; dropping spans")
            if self._pid != os.getpid():
                self._reset_after_fork()
            try:
                f = self._file if self._file is not None else self._open()
            except Exception as exc:  # noqa: BLE001
                return self._failed(
                    f"open:{type(exc).__name__}",
                    f"cannot open recording file {self._describe_target()}: {exc}",
                )
            if self.max_bytes is not None and self._size + len(record) > self.max_bytes:
                return self._failed(
                    "max_bytes",
                    f"recording file {self._path} reached its size cap of {self.max_bytes} "
                    "bytes; dropping further spans",
                )
            try:
                _write_all(f, record)
            except Exception as exc:  # noqa: BLE001
                self._rollback(f)
                return self._failed(
                    f"write:{type(exc).__name__}",
                    f"cannot write recording file {self._path}: {exc}",
                )
            self._size += len(record)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file; later exports return FAILURE."""
        with self._lock:
            self._shutdown = True
            f, self._file = self._file, None
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered: every export is written before it returns."""
        return True

    # -- internals -------------------------------------------------------------------------
    def _encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        if self.format == "jsonl":
            return _dumps(self._json.traces_data(spans)) + b"\n"
        payload = encode_spans(spans).SerializeToString()
        return len(payload).to_bytes(4, "big") + payload

    def _describe_target(self) -> str:
        return self._path or self._target

    def _open(self) -> IO[bytes]:
        pid = os.getpid()
        suffix = _SUFFIX[self.format]
        if self._dir_mode:
            os.makedirs(self._target, exist_ok=True)
            now = time.time()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
            base = os.path.join(self._target, f"spans-{pid}-{stamp}")
            for attempt in range(1000):
                path = base + (f"-{attempt}" if attempt else "") + suffix
                try:
                    f = open(path, "xb", buffering=0)  # noqa: SIM115 - kept open
                    break
                except FileExistsError:
                    continue
            else:  # pragma: no cover - 1000 files created in the same microsecond
                raise FileExistsError(base + suffix)
        else:
            path = self._target
            if self._forked:
                root, ext = os.path.splitext(path)
                path = f"{root}-{pid}{ext}"
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            f = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open
        self._size = os.fstat(f.fileno()).st_size
        self._file = f
        self._path = path
        self._pid = pid
        return f

    def _rollback(self, f: IO[bytes]) -> None:
        """Remove a partially written record so the next one starts on a clean boundary."""
        try:
            if os.fstat(f.fileno()).st_size > self._size:
                os.ftruncate(f.fileno(), self._size)
        except OSError:
            pass

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
        self._path = None
        self._size = 0
        self._pid = os.getpid()
        self._forked = True

    def _failed(self, kind: str, message: str) -> SpanExportResult:
        with self._stats_lock:
            self.failures += 1
            first = kind not in self._logged
            self._logged.add(kind)
        if first:
            _logger.error(
                "%s (further failures of this kind are counted in %s, not logged)",
                message,
                c.METRIC_PROCESSOR_ERRORS,
            )
        self._errors.add(kind.rpartition(":")[2])
        return SpanExportResult.FAILURE


def _write_all(f: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = f.write(view)
        if n is None:  # pragma: no cover - non-blocking files only
            raise BlockingIOError("write would block")
        view = view[n:]


# --- Loading --------------------------------------------------------------------------------
class Recording:
    """Spans loaded from one or more recording files, with normalized steps."""

    def __init__(
        self,
        paths: Sequence[str],
        spans: Sequence[ReadableSpan],
        warnings: Sequence[str] = (),
    ) -> None:
        self.paths: list[str] = list(paths)
        self.spans: list[ReadableSpan] = list(spans)
        self.warnings: list[str] = list(warnings)
        self._steps: list[Step] | None = None
        self._by_session: dict[str, list[Step]] | None = None
        self._sessions: list[str] | None = None

    def __len__(self) -> int:
        return len(self.spans)

    def __repr__(self) -> str:
        return f"Recording(paths={self.paths!r}, spans={len(self.spans)}, warnings={len(self.warnings)})"

    def steps(self) -> list[Step]:
        """All spans as steps, sorted by (session id, sequence, start time).

        A span without a session attribute takes the session of its trace (from the first
        span of the trace that names one), so child spans join their agent's session. Steps
        without a sequence sort after the sequenced steps of their session.
        """
        if self._steps is None:
            self._normalize()
        assert self._steps is not None
        return list(self._steps)

    def sessions(self) -> list[str]:
        """Session ids in first-seen (file) order."""
        if self._sessions is None:
            self._normalize()
        assert self._sessions is not None
        return list(self._sessions)

    def steps_for_session(self, session_id: str) -> list[Step]:
        """Steps of one session, in :meth:`steps` order (empty if unknown)."""
        if self._by_session is None:
            self._normalize()
        assert self._by_session is not None
        return list(self._by_session.get(session_id, ()))

    # The lead adds ``checkpoints()`` here (decoding lives in otel_replay/checkpoints.py).

    def _normalize(self) -> None:
        trace_session: dict[int, str] = {}
        for span in self.spans:
            ctx = span.context
            tid = ctx.trace_id if ctx is not None else 0
            if tid in trace_session:
                continue
            sid = session_id_of(span.attributes, tid)
            if sid != format(tid, "032x"):
                trace_session[tid] = sid
        unsorted: list[Step] = []
        sessions: dict[str, None] = {}
        for span in self.spans:
            ctx = span.context
            step = normalize_span(span, trace_session.get(ctx.trace_id if ctx is not None else 0))
            sessions.setdefault(step.session_id)
            unsorted.append(step)
        steps = sorted(
            unsorted,
            key=lambda s: (
                s.session_id,
                s.sequence is None,
                s.sequence if s.sequence is not None else 0,
                s.start_time_unix_nano,
            ),
        )
        by_session: dict[str, list[Step]] = {}
        for step in steps:
            by_session.setdefault(step.session_id, []).append(step)
        self._steps = steps
        self._by_session = by_session
        self._sessions = list(sessions)


def load_recording(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_file_bytes: int | None = None,
) -> Recording:
    """Load a recording file, or every ``*.jsonl``/``*.json``/``*.binpb`` file at the top
    level of a directory (sorted by name).

    ``max_bytes`` caps one JSON line / protobuf frame (default:
    ``$OTEL_REPLAY_RECORDING_MAX_LINE_BYTES``, else 64 MiB), ``max_file_bytes`` one file.
    Raises :class:`RecordingError` (missing path, no recording files),
    :class:`RecordingFormatError` (corrupt content, with file and line or byte offset) or
    :class:`RecordingSizeError` (a cap is exceeded). A truncated last line or frame (a
    crashed writer) is skipped with a :class:`RecordingWarning`.
    """
    if max_bytes is None:
        max_bytes = env_int(c.ENV_RECORDING_MAX_LINE_BYTES, c.DEFAULT_RECORDING_MAX_LINE_BYTES)
    root = os.fspath(path)
    if os.path.isdir(root):
        try:
            names = sorted(os.listdir(root))
        except OSError as exc:
            raise RecordingError(f"{root}: cannot list directory: {exc.strerror or exc}") from None
        files = [
            os.path.join(root, n)
            for n in names
            if n.endswith((*JSONL_SUFFIXES, PROTOBUF_SUFFIX))
            and os.path.isfile(os.path.join(root, n))
        ]
        if not files:
            raise RecordingError(
                f"{root}: no recording files (*.jsonl, *.json, *.binpb) in directory"
            )
    elif os.path.exists(root):
        files = [root]
    else:
        raise RecordingError(f"{root}: no such recording file or directory")
    spans: list[ReadableSpan] = []
    notes: list[str] = []
    decoder = _Decoder()
    with _gc_paused():
        for file in files:
            _load_file(file, decoder, spans, notes, max_bytes, max_file_bytes)
    return Recording(files, spans, notes)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: bulk loads/writes allocate many long-lived, acyclic objects and
    the collector would rescan them again and again (2-3x slower)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_file(
    path: str,
    decoder: _Decoder,
    spans: list[ReadableSpan],
    notes: list[str],
    max_bytes: int,
    max_file_bytes: int | None,
) -> None:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with f:
        if max_file_bytes is not None:
            size = os.fstat(f.fileno()).st_size
            if size > max_file_bytes:
                raise RecordingSizeError(
                    f"{path}: file is {size} bytes, larger than the cap of {max_file_bytes} bytes"
                )
        if path.endswith(JSONL_SUFFIXES):
            fmt = "jsonl"
        elif path.endswith(PROTOBUF_SUFFIX):
            fmt = "protobuf"
        else:
            head = f.peek(64)[:64] if hasattr(f, "peek") else b""  # type: ignore[union-attr]
            fmt = "jsonl" if head.lstrip()[:1] in (b"{", b"") else "protobuf"
        if fmt == "jsonl":
            _load_jsonl(path, f, decoder, spans, notes, max_bytes)
        else:
            _load_binpb(path, f, decoder, spans, notes, max_bytes)


def _warn(notes: list[str], message: str) -> None:
    notes.append(message)
    warnings.warn(message, RecordingWarning, stacklevel=5)


def _looks_binary(raw: bytes) -> bool:
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _looks_text(raw: bytes) -> bool:
    """Whether a file head is UTF-8 text (its end may cut a multi-byte character)."""
    for cut in range(4):
        try:
            text = raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return False


def _load_jsonl(
    path: str,
    f: IO[bytes],
    decoder: _Decoder,
    spans: list[ReadableSpan],
    notes: list[str],
    max_bytes: int,
) -> None:
    line = 0
    limit = max_bytes + 1
    readline = f.readline
    loads = _orjson.loads if _orjson is not None else None
    while True:
        raw = readline(limit)
        if not raw:
            return
        line += 1
        complete = raw.endswith(b"\n")
        if not complete and len(raw) >= limit:
            raise RecordingSizeError(
                f"{path}:{line}: line is longer than the cap of {max_bytes} bytes "
                f"(max_bytes / {c.ENV_RECORDING_MAX_LINE_BYTES})"
            )
        obj: Any
        try:
            if loads is None:
                raise ValueError
            obj = loads(raw)
        except ValueError:
            if not raw.strip():
                continue
            last = not complete
            if (line == 1 or not last) and _looks_binary(raw):
                raise RecordingFormatError(
                    path,
                    "expected OTLP JSON lines but found binary data "
                    f"(a protobuf recording must use the {PROTOBUF_SUFFIX} extension)",
                    line=line,
                ) from None
            try:
                obj = _loads(raw)
            except ValueError as exc:
                if last:
                    _warn(
                        notes,
                        f"{path}:{line}: skipped truncated last line ({len(raw)} bytes, "
                        "no trailing newline; the writer probably crashed)",
                    )
                    return
                raise RecordingFormatError(
                    path, f"invalid JSON: {_json_error_text(exc)}", line=line
                ) from None
        try:
            decoder.from_json(obj, spans)
        except _Invalid as exc:
            raise RecordingFormatError(path, str(exc), line=line) from None


def _load_binpb(
    path: str,
    f: IO[bytes],
    decoder: _Decoder,
    spans: list[ReadableSpan],
    notes: list[str],
    max_bytes: int,
) -> None:
    offset = 0
    read = f.read
    head = b""
    while True:
        header = read(4)
        if not header:
            return
        if offset == 0:
            head = header + (f.peek(60)[:60] if hasattr(f, "peek") else b"")  # type: ignore[union-attr]
        problem: str | None = None
        body = b""
        size = 0
        if len(header) < 4:
            problem = "truncated"
        else:
            size = int.from_bytes(header, "big")
            if size > max_bytes:
                problem = (
                    f"frame length {size} exceeds the cap of {max_bytes} bytes (corrupt frame?)"
                )
            else:
                body = read(size)
                if len(body) < size:
                    problem = "truncated"
        if problem is not None and offset == 0 and _looks_text(head):
            raise RecordingFormatError(
                path,
                "expected length-prefixed OTLP protobuf but found text "
                f"(a JSON lines recording must use the {JSONL_SUFFIXES[0]} extension)",
                offset=0,
            )
        if problem == "truncated":
            have = len(header) + len(body)
            want = f"{4 + size} bytes" if len(header) == 4 else "a 4-byte length prefix"
            _warn(
                notes,
                f"{path}: at byte offset {offset}: skipped truncated last frame ({have} bytes "
                f"left, expected {want}; the writer probably crashed)",
            )
            return
        if problem is not None:
            raise RecordingFormatError(path, problem, offset=offset)
        count = len(spans)
        try:
            decoder.from_pb(_RawTracesData.FromString(body), spans, decoder.raw_attrs)
        except (DecodeError, ValueError, TypeError, OverflowError):
            # The frame is redone through the full TracesData schema, which names the error.
            del spans[count:]
        else:
            offset += 4 + len(body)
            continue
        try:
            td = TracesData.FromString(body)
        except DecodeError as exc:
            if offset == 0 and _looks_text(head):
                raise RecordingFormatError(
                    path,
                    "expected length-prefixed OTLP protobuf but found text "
                    f"(a JSON lines recording must use the {JSONL_SUFFIXES[0]} extension)",
                    offset=0,
                ) from None
            raise RecordingFormatError(
                path, f"undecodable OTLP TracesData frame: {exc}", offset=offset
            ) from None
        try:
            decoder.from_pb(td, spans)
        except (ValueError, TypeError, OverflowError) as exc:
            raise RecordingFormatError(path, f"invalid span data: {exc}", offset=offset) from None
        offset += 4 + len(body)


# --- Writing --------------------------------------------------------------------------------
def write_recording(
    path: str | os.PathLike[str],
    spans: Iterable[ReadableSpan],
    *,
    format: RecordingFormat = "jsonl",
) -> str:
    """Write ``spans`` to a new recording file (replacing it); return the path written.

    Spans are written in batches of 1000 per line (``jsonl``) or frame (``protobuf``).
    """
    if format not in _SUFFIX:
        raise ValueError(f"unknown recording format {format!r} (expected 'jsonl' or 'protobuf')")
    target = os.fspath(path)
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    batch: list[ReadableSpan] = []
    encoder = _JsonEncoder()
    with open(target, "wb") as f, _gc_paused():

        def flush() -> None:
            if format == "jsonl":
                f.write(_dumps(encoder.traces_data(batch)) + b"\n")
            else:
                payload = encode_spans(batch).SerializeToString()
                f.write(len(payload).to_bytes(4, "big") + payload)
            batch.clear()

        for span in spans:
            batch.append(span)
            if len(batch) >= _WRITE_BATCH:
                flush()
        if batch:
            flush()
    return target
