"""The outline of one OTLP JSON line decoded and type-checked in C (``msgspec``, extra
``fast``), for :func:`~otel_replay.formats.summary.summarize_recording`.

A typed schema of the common span shape (hex ids, integer flags, kind and status code,
string or integer times, attributes with string, integer, boolean, double or scalar-array
values; no events, links, trace state or dropped counts; no unknown fields) validates a whole
line in one call. :meth:`OutlineLines.read` then reads, per span, only what the outline needs
(the ids; the session attributes of the first spans of a trace); resources and scopes go
through the general decoder's code. A line the schema accepts is one the general decoder
accepts with the same outcome. A line it does not accept, or one that may hold a checkpoint
span, is left to the general decoder, so damage is reported exactly as by
:func:`~otel_replay.formats.files.load_recording` (``tests/test_outline_decode.py``).
Without ``msgspec`` :data:`AVAILABLE` is false and every line takes the general path.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from otel_replay.core import conventions as c
from otel_replay.formats.errors import _Invalid
from otel_replay.formats.json_text import _loads
from otel_replay.formats.otlp_json_decode import _cache_key
from otel_replay.formats.otlp_json_fields import _json_attrs, _json_int, _json_str, _obj
from otel_replay.model.span_shapes import session_id_of

__all__ = ["AVAILABLE", "OutlineLines", "line_spans", "spans_ok"]

try:  # optional (extra "fast"): without it every line takes the general path
    import msgspec
except ImportError:  # pragma: no cover - depends on the environment
    msgspec = None  # type: ignore[assignment]

#: Whether the typed decode is available (``msgspec`` installed).
AVAILABLE = msgspec is not None

#: A line that may hold a checkpoint span: its key, or a ``\\u00XX`` escape that could spell
#: one of its characters (``.``, ``_``, lower-case letters). Such lines take the general path.
_CHECKPOINT_KEY = c.CHECKPOINT_ID.encode()
_KEY_ESCAPE = re.compile(rb"\\u00(?:2[eE]|5[fF]|6[1-9a-fA-F]|7[0-9aA])")
_SESSION_KEYS = frozenset((c.SESSION_ID, c.GEN_AI_CONVERSATION_ID, "session.id"))
_ZERO_SPAN_ID = "0" * 16
#: Longest decimal time string taken here (``int()`` refuses more than
#: ``sys.get_int_max_str_digits()`` digits, at least 640).
_MAX_TIME_DIGITS = 600


class _IntValue:
    """An ``intValue`` the general decoder accepts (checked by :func:`_int_value`)."""


_INT_OK = _IntValue()
_NO_INT = _IntValue()


def _int_value(kind: type, obj: Any) -> Any:
    """``msgspec`` decode hook: an integer, or a string ``int()`` reads (else an error)."""
    if kind is _IntValue:
        t = type(obj)
        if t is str:
            int(obj)  # ValueError: not the fast path
            return _INT_OK
        if t is int:
            return _INT_OK
    raise ValueError("not an integer")


if msgspec is not None:
    from msgspec import UNSET, Meta, Raw, Struct, UnsetType

    _Times = Annotated[str, Meta(max_length=_MAX_TIME_DIGITS)] | int

    class _Scalar(Struct, forbid_unknown_fields=True, gc=False):
        stringValue: str | UnsetType = UNSET
        intValue: _IntValue = _NO_INT
        boolValue: bool | UnsetType = UNSET
        doubleValue: float | UnsetType = UNSET

    class _Array(Struct, forbid_unknown_fields=True, gc=False):
        values: list[_Scalar] = []

    class _Value(Struct, forbid_unknown_fields=True, gc=False):
        stringValue: str | UnsetType = UNSET
        intValue: _IntValue = _NO_INT
        boolValue: bool | UnsetType = UNSET
        doubleValue: float | UnsetType = UNSET
        arrayValue: _Array | UnsetType = UNSET

    class _KeyValue(Struct, forbid_unknown_fields=True, gc=False):
        key: str
        value: _Value | UnsetType = UNSET

    class _Status(Struct, forbid_unknown_fields=True, gc=False):
        code: int = 0
        message: str = ""

    class _Span(Struct, forbid_unknown_fields=True, gc=False):
        traceId: Annotated[str, Meta(min_length=32, max_length=32)]
        spanId: Annotated[str, Meta(min_length=16, max_length=16)]
        parentSpanId: Annotated[str, Meta(max_length=16)] = ""
        flags: int = 0
        name: str = ""
        kind: int = 0
        startTimeUnixNano: _Times = 0
        endTimeUnixNano: _Times = 0
        attributes: list[_KeyValue] = []
        status: _Status | UnsetType = UNSET

    class _ScopeSpans(Struct, forbid_unknown_fields=True, gc=False):
        scope: Raw | UnsetType = UNSET  # read by the general decoder's code
        spans: list[_Span] = []
        schemaUrl: str = ""

    class _ResourceSpans(Struct, forbid_unknown_fields=True, gc=False):
        resource: Raw | UnsetType = UNSET  # read by the general decoder's code
        scopeSpans: list[_ScopeSpans] = []
        schemaUrl: str = ""

    class _TracesData(Struct, forbid_unknown_fields=True, gc=False):
        resourceSpans: list[_ResourceSpans]

    _DECODE_ERRORS: tuple[type[BaseException], ...] = (
        msgspec.MsgspecError,
        ValueError,
        RecursionError,
    )


def _hex_ok(ids: list[str]) -> bool:
    """Whether ids (of the lengths the schema checked) all pass the general decoder's test,
    ``isalnum()`` and ``int(v, 16)``."""
    joined = "".join(ids)
    if joined.isascii():
        # int() also takes "_" between digits, a sign and spaces at the ends: alnum ends and
        # no "_" leave hex digits only (an isalnum() of the whole is slower)
        if "_" in joined or not (joined[:1].isalnum() and joined[-1:].isalnum()):
            return False
    elif not joined.isalnum():
        return False
    try:
        int(joined, 16)
    except ValueError:
        return False
    return True


def _times_ok(times: list[Any]) -> bool:
    """Whether every time is an int or a decimal string ``int()`` reads."""
    try:
        joined = "".join(times)
    except TypeError:  # some are JSON integers
        return all(type(t) is int or (t and t.isdecimal()) for t in times)
    if joined.isascii():
        return joined.encode().isdigit() and "" not in times  # bytes: 15x faster
    return joined.isdecimal() and "" not in times


def spans_ok(spans: list[Any], tids: list[str], sids: list[str]) -> bool:
    """Whether the ids and times of typed-decoded ``spans`` (their trace and span ids
    ``tids``, ``sids``) pass the general decoder's checks."""
    pids = [s.parentSpanId for s in spans]
    given = len(pids) - pids.count("")
    return (
        _hex_ok(tids)
        and _hex_ok(sids)
        and (given == 0 or (len("".join(pids)) == 16 * given and _hex_ok(pids)))
        and _times_ok([s.startTimeUnixNano for s in spans])
        and _times_ok([s.endTimeUnixNano for s in spans])
    )


def line_spans(decoder: Any, td: Any) -> tuple[list[Any], list[Callable[[], Any]]]:
    """The spans of a typed-decoded line ``td`` and the resources and scopes to make for
    them, read as the general ``decoder`` reads them (same checks; its caches)."""
    lists: list[list[Any]] = []
    made: list[Callable[[], Any]] = []
    resources = decoder.resources
    scopes = decoder.scopes
    for rs in td.resourceSpans:
        schema_url = rs.schemaUrl
        res = {} if rs.resource is UNSET else _loads(bytes(rs.resource))
        res = {} if res is None else _obj(res, "resource")
        attrs = _json_attrs(res.get("attributes"))
        dropped = _json_int(res.get("droppedAttributesCount"), "droppedAttributesCount")
        key = _cache_key(attrs, schema_url, dropped)
        made.append(
            functools.partial(_make, resources, decoder._resource, key, attrs, dropped, schema_url)
        )
        for ss in rs.scopeSpans:
            sc = {} if ss.scope is UNSET else _loads(bytes(ss.scope))
            sc = {} if sc is None else _obj(sc, "scope")
            name = _json_str(sc.get("name"), "name")
            version = _json_str(sc.get("version"), "version")
            sattrs = _json_attrs(sc.get("attributes"))
            sschema = ss.schemaUrl
            key = _cache_key(sattrs, name, version, sschema)
            made.append(
                functools.partial(
                    _make, scopes, decoder._scope, key, name, version, sattrs, sschema
                )
            )
            if ss.spans:
                lists.append(ss.spans)
    if len(lists) == 1:
        return lists[0], made  # one list per line, usually: not copied
    return [s for spans in lists for s in spans], made


def _session(kvs: list[Any], trace_id: int) -> str:
    """``session_id_of`` the attributes the general decoder builds from ``kvs`` (the last
    of repeated keys; a value is a string only as a string ``stringValue``)."""
    found: dict[str, Any] = {}
    for kv in kvs:
        key = kv.key
        if key in _SESSION_KEYS:
            value = kv.value
            found[key] = None if value is UNSET else value.stringValue
    return session_id_of(found, trace_id)


def _make(cache: dict[Any, Any], make: Callable[..., Any], key: Any, *args: Any) -> None:
    """The general decoder's step for a resource or scope: made unless cached."""
    if key is None or key not in cache:
        make(key, *args)


class OutlineLines:
    """Reads whole JSON lines for a :class:`~otel_replay.formats.summary.RecordingSummary`
    (its ``fast_line``), or leaves them to the general decoder."""

    def __init__(self, traces: dict[int, int], trace_session: dict[int, str]) -> None:
        self._traces = traces
        self._trace_session = trace_session
        self._decode = msgspec.json.Decoder(_TracesData, dec_hook=_int_value).decode

    def read(self, load: Any, raw: bytes) -> int | None:
        """The number of spans of ``raw`` counted into the summary's traces (``load``: the
        file's ``FileLoad``, for its decoder's caches and ``bad_ids``); ``None`` when the
        line is left to the general decoder (nothing was counted)."""
        if _CHECKPOINT_KEY in raw or _KEY_ESCAPE.search(raw) is not None:
            return None
        try:
            td = self._decode(raw)
        except _DECODE_ERRORS:
            return None
        try:
            spans, made = self._spans(load.decoder, td)
        except (_Invalid, ValueError, TypeError, RecursionError):
            return None
        if spans:
            tids = [s.traceId for s in spans]
            sids = [s.spanId for s in spans]
            if not spans_ok(spans, tids, sids):
                return None
        for make in made:  # the general decoder makes them before its spans: same effects
            make()
        if spans:
            self._count(load, spans, tids, sids)
        return len(spans)

    def _spans(self, decoder: Any, td: Any) -> tuple[list[Any], list[Callable[[], Any]]]:
        return line_spans(decoder, td)

    def _count(self, load: Any, spans: list[Any], tids: list[str], sids: list[str]) -> None:
        traces = self._traces
        trace_session = self._trace_session
        by_trace: dict[int, int] = {}
        zero_traces = 0
        for tid, n in Counter(tids).items():
            t = int(tid, 16)
            by_trace[t] = by_trace.get(t, 0) + n
            if not t:
                zero_traces += n
        if "".join(sids).isascii():
            zero_spans = sids.count(_ZERO_SPAN_ID)
        else:  # other zero digits
            zero_spans = sum(1 for s in sids if not int(s, 16))
        if zero_traces and zero_spans:  # a span with both counts once
            load.bad_ids += sum(
                1 for s, t in zip(sids, tids, strict=True) if not (int(s, 16) and int(t, 16))
            )
        else:
            load.bad_ids += zero_traces + zero_spans
        pending = set()
        for t, n in by_trace.items():
            m = traces.get(t)
            traces[t] = n if m is None else m + n
            if t not in trace_session:
                pending.add(t)
        if not pending:
            return
        for span in spans:  # the first spans of the traces without a session yet
            t = int(span.traceId, 16)
            if t in pending:
                session = _session(span.attributes, t)
                if session != format(t, "032x"):
                    trace_session[t] = session
                    pending.discard(t)
                    if not pending:
                        return
