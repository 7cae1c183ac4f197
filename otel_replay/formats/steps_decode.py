"""The compact steps of one OTLP JSON line decoded and type-checked in C (``msgspec``, extra
``fast``), for :func:`~otel_replay.formats.compact_load.load_compact_steps`.

The typed schema is the common span shape of :mod:`~otel_replay.formats.outline_decode`
(same checks, same resources and scopes), with attribute values kept: a string
``stringValue``, or exactly one of a decimal-string ``intValue``, a ``boolValue`` or a
double ``doubleValue``. Each span becomes a :class:`~otel_replay.model.compact_step.CompactStep`
with the fields :func:`~otel_replay.model.steps.normalize_span` computes. A line the schema
does not accept (array values, JSON-number integers, events, links, ...) or that may hold a
checkpoint span is left to the general decoder (:meth:`StepLines.read` returns ``None``), so
damage is reported as by :func:`~otel_replay.formats.files.load_recording`.
"""

from __future__ import annotations

from typing import Annotated, Any

from otel_replay.core import conventions as c
from otel_replay.formats.errors import _Invalid
from otel_replay.formats.outline_decode import (
    _CHECKPOINT_KEY,
    _KEY_ESCAPE,
    AVAILABLE,
    line_spans,
    spans_ok,
)
from otel_replay.model.compact_step import KEPT_ATTRIBUTES, CompactStep, StepReader
from otel_replay.model.span_shapes import session_id_of
from otel_replay.model.step_print import compact_print, fingerprint
from otel_replay.model.steps import step_head

__all__ = ["AVAILABLE", "StepLines"]

_MAX_TIME_DIGITS = 600
_ERROR = 2
_ESCAPE = b"\\u00"  # the start of every escape _KEY_ESCAPE finds (a faster test)
_MAX_SHARED = 100_000  # ids and names shared per load, at most

if AVAILABLE:
    import msgspec
    from msgspec import UNSET, Meta, Raw, Struct, UnsetType

    _Times = Annotated[str, Meta(max_length=_MAX_TIME_DIGITS)] | int

    class _Value(Struct, forbid_unknown_fields=True, gc=False):
        stringValue: str | UnsetType = UNSET
        intValue: str | UnsetType = UNSET
        boolValue: bool | UnsetType = UNSET
        doubleValue: float | UnsetType = UNSET

    class _KeyValue(Struct, forbid_unknown_fields=True, gc=False):
        key: str
        value: _Value

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
        scope: Raw | UnsetType = UNSET
        spans: list[_Span] = []
        schemaUrl: str = ""

    class _ResourceSpans(Struct, forbid_unknown_fields=True, gc=False):
        resource: Raw | UnsetType = UNSET
        scopeSpans: list[_ScopeSpans] = []
        schemaUrl: str = ""

    class _TracesData(Struct, forbid_unknown_fields=True, gc=False):
        resourceSpans: list[_ResourceSpans]

    _DECODE_ERRORS: tuple[type[BaseException], ...] = (
        msgspec.MsgspecError,
        ValueError,
        RecursionError,
    )


class _NotHere(Exception):
    """A span this path does not decode: the line goes to the general decoder."""


def _attrs(kvs: list[Any]) -> dict[str, Any]:
    """The attributes the general decoder builds from ``kvs`` (``_NotHere`` for a value it
    reads through its general code)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        x = v.stringValue
        if x is not UNSET:
            out[kv.key] = x
            continue
        i, b, d = v.intValue, v.boolValue, v.doubleValue
        if i is not UNSET:
            if b is not UNSET or d is not UNSET:
                raise _NotHere
            out[kv.key] = int(i)  # ValueError: the general path
        elif b is not UNSET:
            if d is not UNSET:
                raise _NotHere
            out[kv.key] = b
        elif d is not UNSET and type(d) is float:
            out[kv.key] = d
        else:
            raise _NotHere
    return out


class StepLines:
    """Reads whole JSON lines into compact steps, or leaves them to the general decoder.

    ``trace_session`` is shared with the load: the session of each trace, from the first
    span (in file order) that names one, as :class:`~otel_replay.formats.recording.Recording`
    resolves it. Steps are made with an empty ``session_id``, set once the load is read.
    """

    def __init__(self, trace_session: dict[int, str]) -> None:
        self._trace_session = trace_session
        self._decode = msgspec.json.Decoder(_TracesData).decode
        self._strings: dict[str, str] = {}
        self._ids: dict[str, int | None] = {"": None}

    def read(
        self, load: Any, raw: bytes, reader: StepReader, line: Any
    ) -> list[CompactStep] | None:
        """The compact steps of ``raw`` (``line``: the shared reference to it that ``reader``
        reads back); ``None`` when the line is left to the general decoder (nothing read).
        Spans with an absent or all-zero id are counted into ``load.bad_ids``."""
        if _CHECKPOINT_KEY in raw or (_ESCAPE in raw and _KEY_ESCAPE.search(raw) is not None):
            return None
        try:
            td = self._decode(raw)
        except _DECODE_ERRORS:
            return None
        try:
            spans, made = line_spans(load.decoder, td)
            if spans and not spans_ok(spans, [s.traceId for s in spans], [s.spanId for s in spans]):
                return None
            if len(self._ids) > _MAX_SHARED:
                self._ids = {"": None}
            if len(self._strings) > _MAX_SHARED:
                self._strings = {}
            where = (reader, line)
            steps = [self._step(s, where, k) for k, s in enumerate(spans)]
        except (_NotHere, _Invalid, ValueError, TypeError, RecursionError):
            return None
        for make in made:  # the general decoder makes them before its spans: same effects
            make()
        trace_session = self._trace_session
        bad = 0
        for st, s in zip(steps, spans, strict=True):
            tid = st._tid
            if not tid or not st._sid:
                bad += 1
            if tid not in trace_session:
                session = session_id_of(_session_attrs(s.attributes), tid)
                if session != format(tid, "032x"):
                    trace_session[tid] = session
        load.bad_ids += bad
        return steps

    def _step(self, s: Any, where: tuple[StepReader, Any], index: int) -> CompactStep:
        attrs = _attrs(s.attributes)
        ids = self._ids
        tid = ids.get(s.traceId)
        if tid is None:
            tid = ids[s.traceId] = int(s.traceId, 16)
        pid_text = s.parentSpanId
        pid = ids.get(pid_text, 0)
        if pid == 0:
            pid = ids[pid_text] = int(pid_text, 16) or None
        sid = int(s.spanId, 16)
        st = s.status
        if st is UNSET:
            code, description = 0, None
        else:
            code = st.code
            if code == _ERROR:
                description = st.message or None
            else:
                code, description = (1 if code == 1 else 0), None
        start = s.startTimeUnixNano
        end = s.endTimeUnixNano
        start = int(start) if type(start) is str else start
        end = int(end) if type(end) is str else end
        strings = self._strings
        span_name = s.name
        span_name = strings.setdefault(span_name, span_name)
        kind, name, status, importance, seq = step_head(attrs, span_name, code)
        name = strings.setdefault(name, name)
        extra = None
        for key in KEPT_ATTRIBUTES:
            if key in attrs:
                extra = {k: attrs[k] for k in KEPT_ATTRIBUTES if k in attrs}
                break
        return CompactStep(
            "",
            seq,
            kind,
            name,
            span_name,
            tid,
            sid,
            pid,
            start,
            end or start,
            status,
            description,
            importance,
            compact_print(fingerprint(kind, attrs, status)),
            extra,
            where,
            index,
        )


_SESSION_KEYS = frozenset((c.SESSION_ID, c.GEN_AI_CONVERSATION_ID, "session.id"))


def _session_attrs(kvs: list[Any]) -> dict[str, Any]:
    """The session attributes among ``kvs`` as the general decoder builds them."""
    return {kv.key: _attrs([kv])[kv.key] for kv in kvs if kv.key in _SESSION_KEYS}
