"""OTLP/JSON -> ``TracesData`` (:func:`traces_data_from_json`) and OTLP/JSON -> SDK spans
(:class:`_JsonDecoder`, the reader of JSON lines recordings)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link

from otel_replay.core.sdkspan import Parts, new_event
from otel_replay.formats.errors import _Invalid
from otel_replay.formats.json_text import _json_error_text, _loads
from otel_replay.formats.otlp_json_fields import (
    _json_attrs,
    _json_enum,
    _json_id,
    _json_int,
    _json_kind,
    _json_str,
    _list,
    _obj,
    _resource_spans_of,
    _scope_of,
    _scope_spans_of,
    _span_dict,
)
from otel_replay.formats.otlp_proto import _set_any
from otel_replay.formats.sdk_spans import (
    _bounded_attributes,
    _bounded_list,
    _DecoderBase,
    _make_span,
)

__all__ = ["traces_data_from_json"]

_KIND_NAMES: dict[str, int] = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_MAX_SHARED_STRINGS = 1 << 16
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


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


class _JsonDecoder(_DecoderBase):
    """Builds ReadableSpans from OTLP/JSON ``TracesData`` objects; with ``compact`` the
    :data:`~otel_replay.core.sdkspan.Parts` a step is normalized from instead (validated the
    same way, equal to ``span_parts`` of the span that would have been built)."""

    compact: bool = False
    #: compact: one str object per distinct short attribute value / span name (session ids,
    #: operation, model and tool names repeat on every span of a large recording)
    _strings: dict[str, str] | None = None
    #: compact: whether to share repeated strings (not when the parts are dropped at once)
    share_strings: bool = True

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
        if self.compact:
            fast = _common_parts(s)
            if fast is not None:
                return self._shared(fast)  # type: ignore[return-value]
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
        if self.compact:  # the checks of the _make_span call below, in its order
            name = _json_str(g("name"), "name")
            trace_id = _json_id(g("traceId"), 16, "traceId")
            span_id = _json_id(g("spanId"), 8, "spanId")
            parent = _json_id(g("parentSpanId"), 8, "parentSpanId")
            self.trace_state(_json_str(g("traceState"), "traceState"))
            _json_int(g("flags"), "flags")
            if type(kind) is not int:
                _json_enum(kind, _KIND_NAMES, "kind")
            start = _json_int(g("startTimeUnixNano"), "startTimeUnixNano")
            end = _json_int(g("endTimeUnixNano"), "endTimeUnixNano")
            if code == 2:
                description = message or None
            else:
                code, description = (1 if code == 1 else 0), None
            attrs = attrs if type(attrs) is dict else dict(attrs)
            return self._shared(  # type: ignore[return-value]
                (
                    attrs,
                    trace_id,
                    span_id,
                    parent or None,
                    name,
                    code,
                    description,
                    start,
                    end or None,
                )
            )
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

    def _shared(self, parts: Parts) -> Parts:
        """``parts`` with repeated short strings shared (``share_strings``)."""
        if not self.share_strings:
            return parts
        strings = self._strings
        if strings is None:
            strings = self._strings = {}
        if len(strings) >= _MAX_SHARED_STRINGS:
            return parts
        attrs: dict[str, Any] = parts[0]  # type: ignore[assignment]  # decoded: a dict
        for k, v in attrs.items():
            if type(v) is str and len(v) <= 64:
                attrs[k] = strings.setdefault(v, v)
        name = parts[4]
        return (*parts[:4], strings.setdefault(name, name), *parts[5:])  # type: ignore[return-value]

    def _json_event(self, e: Any) -> Event:
        e = _obj(e, "event")
        attrs: Any = _json_attrs(e.get("attributes"))
        dropped = e.get("droppedAttributesCount")
        if dropped:
            attrs = _bounded_attributes(attrs, _json_int(dropped, "droppedAttributesCount"))
        return new_event(
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


_COMMON_KEYS = frozenset(
    (
        "traceId",
        "spanId",
        "parentSpanId",
        "flags",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "status",
    )
)


def _common_parts(s: Any) -> Parts | None:
    """The compact parts of a span of the common shape (hex ids, integer flags and kind,
    string or integer times, no events, links, trace state or dropped counts), exactly as
    the general path builds them; ``None`` for anything else, which the general path decodes
    and checks (its error messages included)."""
    if type(s) is not dict or not s.keys() <= _COMMON_KEYS:
        return None
    g = s.get
    tid = g("traceId")
    sid = g("spanId")
    pid = g("parentSpanId")
    name = g("name", "")
    flags = g("flags")
    kind = g("kind")
    if (
        type(tid) is not str
        or len(tid) != 32
        or type(sid) is not str
        or len(sid) != 16
        or not (tid.isalnum() and sid.isalnum())
        or type(name) is not str
        or (flags is not None and type(flags) is not int)
        or (kind is not None and type(kind) is not int)
    ):
        return None
    try:
        trace_id = int(tid, 16)
        span_id = int(sid, 16)
        if pid is None or pid == "":
            parent = None
        elif type(pid) is str and len(pid) == 16 and pid.isalnum():
            parent = int(pid, 16) or None
        else:
            return None
        start = g("startTimeUnixNano")
        end = g("endTimeUnixNano")
        start = 0 if start is None else int(start) if type(start) in (str, int) else None
        end = 0 if end is None else int(end) if type(end) in (str, int) else None
        if start is None or end is None:
            return None
        st = g("status")
        if not st:
            if st is not None and type(st) is not dict:
                return None
            code, description = 0, None
        elif type(st) is dict and st.keys() <= {"code", "message"}:
            code = st.get("code", 0)
            message = st.get("message", "")
            if type(code) is not int or type(message) is not str:
                return None
            if code == 2:
                description = message or None
            else:
                code, description = (1 if code == 1 else 0), None
        else:
            return None
        attrs = _json_attrs(g("attributes"))
    except (ValueError, _Invalid):
        return None
    return (attrs, trace_id, span_id, parent, name, code, description, start, end or None)


def _cache_key(attrs: dict[str, Any], *extra: Any) -> tuple[Any, ...] | None:
    """A cache key for decoded attributes that keeps types apart (``1``, ``1.0`` and
    ``True`` are equal as dict keys); ``None`` (no caching) for array or map values."""
    types = tuple(map(type, attrs.values()))
    if tuple in types or dict in types:
        return None
    return (extra, tuple(attrs.items()), types)
