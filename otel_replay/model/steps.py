"""Normalized steps: the :class:`Step` record, its default importance, and
:func:`normalize_span`, eagerly or lazily (fields computed on first access).

:func:`normalize_span` turns any ended span (ours, OTel GenAI, OpenInference, OpenLLMetry)
into a :class:`Step`, reading its attributes through :mod:`otel_replay.model.span_shapes`.
Everything downstream (buffer, recordings, restore, replay, drift) works on steps, never on
raw span attributes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_replay.core import conventions as c
from otel_replay.core.sdkspan import Parts, span_parts
from otel_replay.model.span_shapes import (
    _classify,
    _io,
    _Undecoded,
    decode_json_value,
    session_id_of,
)

__all__ = [
    "Step",
    "normalize_span",
    "default_importance",
    "enclosing_parent",
    "DEFAULT_IMPORTANCE",
]

#: Default importance per kind; an error raises any step to ``DEFAULT_IMPORTANCE["error"]``.
DEFAULT_IMPORTANCE: Mapping[str, float] = {
    "error": 1.0,
    c.KIND_CHECKPOINT: 0.9,
    c.KIND_DECISION: 0.8,
    c.KIND_LLM: 0.6,
    c.KIND_TOOL: 0.5,
    c.KIND_AGENT: 0.4,
    c.KIND_REPLAY: 0.3,
    c.KIND_OTHER: 0.2,
    c.KIND_PLUMBING: 0.1,
}


def default_importance(kind: str, is_error: bool) -> float:
    """Importance of a step under the default policy (errors > checkpoints > decisions > ...)."""
    if is_error:
        return DEFAULT_IMPORTANCE["error"]
    return DEFAULT_IMPORTANCE.get(kind, DEFAULT_IMPORTANCE[c.KIND_OTHER])


#: The attributes ``Step.input_tokens`` / ``output_tokens`` read, first present wins.
INPUT_TOKEN_KEYS = (
    c.GEN_AI_USAGE_INPUT_TOKENS,
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
OUTPUT_TOKEN_KEYS = (
    c.GEN_AI_USAGE_OUTPUT_TOKENS,
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)

_LAZY = "_lazy_span"  # instance key of a lazily normalized step: (span parts, session id)


class _LazyJSONField:
    """Data descriptor for ``Step.inputs``/``Step.outputs``: decodes an :class:`_Undecoded`
    value on first read and caches the result in the instance (field names are unchanged)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return None  # the dataclass default
        d = obj.__dict__
        if _LAZY in d:
            _materialize(obj)
        v = d.get(self.name)
        if type(v) is _Undecoded:
            v = decode_json_value(v.raw)
            obj.__dict__[self.name] = v
        return v

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


class _HexField:
    """Data descriptor for ``Step.trace_id``/``span_id``/``parent_span_id``: a normalized
    span stores the id as ``(int,)`` and it is formatted as lowercase hex on first read."""

    def __init__(self, name: str, width: int) -> None:
        self.name = name
        self.spec = f"0{width}x"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self.name)  # no dataclass default
        d = obj.__dict__
        if _LAZY in d:
            _materialize(obj)
        v = d[self.name]
        if type(v) is tuple:
            v = d[self.name] = format(v[0], self.spec)
        return v

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


@dataclass(frozen=True)
class Step:
    """A span reduced to what record/replay/drift need.

    ``inputs``/``outputs`` hold decoded JSON; a normalized span's are decoded on first read.
    """

    session_id: str
    sequence: int | None
    kind: str
    name: str
    span_name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_time_unix_nano: int
    end_time_unix_nano: int
    status: str  # "unset" | "ok" | "error"
    status_message: str | None
    importance: float
    inputs: Any = _LazyJSONField()  # type: ignore[assignment]
    outputs: Any = _LazyJSONField()  # type: ignore[assignment]
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the fields of a lazily normalized step.
        if name in _STEP_FIELDS and _LAZY in self.__dict__:
            _materialize(self)
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        _materialize(self)
        return dict(self.__dict__)

    @property
    def signature(self) -> tuple[str, str]:
        """Alignment key: (kind, name) where name is the tool name, model, decision name ..."""
        return (self.kind, self.name)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_time_unix_nano - self.start_time_unix_nano)

    @property
    def checkpoint_id(self) -> str | None:
        v = self.attributes.get(c.CHECKPOINT_ID)
        return v if isinstance(v, str) else None

    @property
    def model(self) -> str | None:
        for key in (c.GEN_AI_RESPONSE_MODEL, c.GEN_AI_REQUEST_MODEL, "llm.model_name"):
            v = self.attributes.get(key)
            if isinstance(v, str) and v:
                return v
        return None

    @property
    def tool_name(self) -> str | None:
        for key in (c.GEN_AI_TOOL_NAME, "tool.name", "tool_name", "tool"):
            v = self.attributes.get(key)
            if isinstance(v, str) and v:
                return v
        return None

    @property
    def decision_action(self) -> Any:
        return self.attributes.get(c.DECISION_ACTION)

    @property
    def confidence(self) -> Any:
        return self.attributes.get(c.DECISION_CONFIDENCE)

    @property
    def input_tokens(self) -> int | None:
        return _first_int(self.attributes, INPUT_TOKEN_KEYS)

    @property
    def output_tokens(self) -> int | None:
        return _first_int(self.attributes, OUTPUT_TOKEN_KEYS)

    @property
    def replay_step_key(self) -> str | None:
        v = self.attributes.get(c.REPLAY_STEP_KEY)
        return v if isinstance(v, str) else None

    def attr(self, key: str) -> Any:
        """The value of attribute ``key`` (``None`` when absent)."""
        attrs = self.attributes
        return attrs.get(key) if attrs else None

    def approx_size(self) -> int:
        """Approximate retained bytes, used for buffer accounting."""
        size = 200 + len(self.name) + len(self.span_name) + len(self.session_id)
        for k, v in self.attributes.items():
            size += len(k) + _value_size(v)
        return size

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (used by ``inspect --format json`` and replay callbacks)."""
        return {
            "session_id": self.session_id,
            "sequence": self.sequence,
            "kind": self.kind,
            "name": self.name,
            "span_name": self.span_name,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "start_time_unix_nano": self.start_time_unix_nano,
            "end_time_unix_nano": self.end_time_unix_nano,
            "status": self.status,
            "status_message": self.status_message,
            "importance": self.importance,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "attributes": {k: _jsonable(v) for k, v in self.attributes.items()},
        }


def enclosing_parent(step: Step) -> str | None:
    """The span the step was recorded as running inside (``agent_replay.step.enclosing_span_id``,
    for a span whose trace does not show it), else its parent span."""
    value = step.attr(c.STEP_ENCLOSING_SPAN_ID)
    return value if isinstance(value, str) and value else step.parent_span_id


def _first_int(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, float) and math.isfinite(v):
            return int(v)
    return None


def _value_size(v: Any) -> int:
    if isinstance(v, str):
        return len(v)
    if isinstance(v, (bytes, bytearray)):
        return len(v)
    if isinstance(v, (tuple, list)):
        return sum(_value_size(x) for x in v) + 8
    return 8


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return v


def normalize_span(
    span: ReadableSpan, session_id: str | None = None, *, lazy: bool = False
) -> Step:
    """Turn an ended span into a :class:`Step`.

    ``session_id`` overrides the session derived from the span's attributes (the processor
    passes the session it resolved for the span's trace). With ``lazy=True`` the step keeps
    the parts of the (immutable, ended) span it needs and computes its fields on first
    access: the replay buffer uses it, as most buffered steps are evicted without being read.
    """
    # Built without the dataclass __init__ (a frozen dataclass sets each field through
    # object.__setattr__: ~10x slower); the fields are exactly Step's.
    step = _new_step(Step)
    if lazy:
        step.__dict__[_LAZY] = (span_parts(span), session_id)
    else:
        step.__dict__.update(_fields(span_parts(span), session_id))
    return step


def step_from_parts(parts: Parts, session_id: str | None) -> Step:
    """The lazily normalized step of the span ``parts`` were taken from; equal to
    ``normalize_span(span, session_id, lazy=True)``."""
    step = _new_step(Step)
    step.__dict__[_LAZY] = (parts, session_id)
    return step


def step_of_parts(parts: Parts, session_id: str | None) -> Step:
    """The step of the span ``parts`` were taken from, computed now; equal to
    ``normalize_span(span, session_id)``. The step keeps ``parts``' attribute dict itself
    (no copy): for parts nothing else holds, e.g. decoded from a recording."""
    step = _new_step(Step)
    step.__dict__.update(_fields(parts, session_id, copy=False))
    return step


_ERROR = StatusCode.ERROR.value
_OK = StatusCode.OK.value


def step_head(
    attrs: Mapping[str, Any], span_name: str, code: int
) -> tuple[str, str, str, float, int | None]:
    """``(kind, name, status, importance, sequence)`` of the step of a span with these
    attributes, name and status code (as :func:`normalize_span` computes them)."""
    kind, name = _classify(attrs, span_name)
    is_error = code == _ERROR
    status = "error" if is_error else ("ok" if code == _OK else "unset")
    imp = attrs.get(c.STEP_IMPORTANCE)
    if imp is None:
        importance = default_importance(kind, is_error)
    elif isinstance(imp, (int, float)) and not isinstance(imp, bool) and 0.0 <= imp <= 1.0:
        importance = float(imp)
    else:
        importance = default_importance(kind, is_error)
    seq = attrs.get(c.STEP_SEQUENCE)
    if not (type(seq) is int or (isinstance(seq, int) and not isinstance(seq, bool))):
        seq = None
    return kind, name, status, importance, seq


def _fields(parts: Parts, session_id: str | None, copy: bool = True) -> dict[str, Any]:
    """The field values of :func:`normalize_span`'s step."""
    attrs, trace_id, span_id, parent_id, span_name, code, description, start, end = parts
    kind, name, status, importance, seq = step_head(attrs, span_name, code)
    inputs, outputs = _io(kind, attrs)
    return {
        "session_id": session_id or session_id_of(attrs, trace_id),
        "sequence": seq,
        "kind": kind,
        "name": name,
        "span_name": span_name,
        "trace_id": (trace_id,),  # formatted on first read (_HexField)
        "span_id": (span_id,) if span_id is not None else "0" * 16,
        "parent_span_id": (parent_id,) if parent_id is not None else None,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end or start,
        "status": status,
        "status_message": description,
        "importance": importance,
        "inputs": inputs,
        "outputs": outputs,
        "attributes": dict(attrs) if copy else attrs,
    }


def _materialize(step: Step) -> None:
    """Compute the fields of a lazily normalized step (idempotent, thread-safe)."""
    d = step.__dict__
    pending = d.get(_LAZY)
    if pending is not None:
        d.update(_fields(*pending))
        d.pop(_LAZY, None)


# Installed after the dataclass is built: these fields have no default.
for _name, _width in (("trace_id", 32), ("span_id", 16), ("parent_span_id", 16)):
    setattr(Step, _name, _HexField(_name, _width))
del _name, _width
_new_step = object.__new__
_STEP_FIELDS = frozenset(f.name for f in fields(Step))
