"""Spans and ``TracesData`` -> OTLP/JSON objects (the Collector ``file`` exporter's JSON
lines): :class:`_JsonEncoder` (spans, directly) and :func:`traces_data_to_json`."""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_replay.formats.coercion import big_int, dropped
from otel_replay.formats.json_text import _dumps
from otel_replay.formats.sdk_spans import _FLAG_HAS_IS_REMOTE, _FLAG_IS_REMOTE
from otel_replay.formats.trace_state import RecordedTraceState, trace_state_header

__all__ = ["traces_data_to_json"]

_logger = logging.getLogger("otel_replay")


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
        if ctx.trace_state or isinstance(ctx.trace_state, RecordedTraceState):
            o["traceState"] = trace_state_header(ctx.trace_state)
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
            if lctx.trace_state or isinstance(lctx.trace_state, RecordedTraceState):
                lo["traceState"] = trace_state_header(lctx.trace_state)
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
            out.append({"key": key, "value": _value_obj(value, key)})
        except (TypeError, ValueError) as exc:
            dropped(key, exc)
    return out


def _value_obj(value: Any, key: str = "") -> dict[str, Any]:
    t = type(value)
    if t is str:
        return {"stringValue": value}
    if t is bool:
        return {"boolValue": value}
    if t is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            return {"stringValue": big_int(key, value)}
        return {"intValue": str(value)}
    if t is float:
        return {"doubleValue": _json_double_out(value)}
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": bool(value)}
    if isinstance(value, int):
        return _value_obj(int(value), key)
    if isinstance(value, float):
        return {"doubleValue": _json_double_out(float(value))}
    if isinstance(value, str):
        return {"stringValue": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        kvs = [{"key": str(k), "value": _value_obj(v, key)} for k, v in value.items()]
        return {"kvlistValue": {"values": kvs} if kvs else {}}
    if isinstance(value, Sequence):
        values = [_value_obj(v, key) for v in value]
        return {"arrayValue": {"values": values} if values else {}}
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def traces_data_to_json(td: TracesData) -> str:
    """One line of OTLP/JSON (no trailing newline), as the Collector's ``file`` exporter writes."""
    return _dumps(_td_to_obj(td)).decode("utf-8")


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
