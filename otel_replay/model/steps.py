"""Normalized steps: the single place where span shapes are understood.

:func:`normalize_span` turns any ended span (ours, OTel GenAI, OpenInference, OpenLLMetry)
into a :class:`Step`. Everything downstream (buffer, recordings, restore, replay, drift)
works on steps, never on raw span attributes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode

from otel_replay.core import conventions as c

__all__ = [
    "Step",
    "normalize_span",
    "session_id_of",
    "default_importance",
    "DEFAULT_IMPORTANCE",
    "decode_json_value",
    "span_attributes",
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
}

# OpenInference (openinference.span.kind) -> our kinds
_OI_KIND = {
    "LLM": c.KIND_LLM,
    "EMBEDDING": c.KIND_LLM,
    "TOOL": c.KIND_TOOL,
    "AGENT": c.KIND_AGENT,
}
# OpenLLMetry (traceloop.span.kind) -> our kinds
_TL_KIND = {"tool": c.KIND_TOOL, "agent": c.KIND_AGENT, "workflow": c.KIND_AGENT}


def default_importance(kind: str, is_error: bool) -> float:
    """Importance of a step under the default policy (errors > checkpoints > decisions > ...)."""
    if is_error:
        return DEFAULT_IMPORTANCE["error"]
    return DEFAULT_IMPORTANCE.get(kind, DEFAULT_IMPORTANCE[c.KIND_OTHER])


_LAZY = "_lazy_span"  # instance key of a lazily normalized step: (span parts, session id)


class _Undecoded:
    """A JSON attribute string whose decoding is deferred until the field is read."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def __deepcopy__(self, memo: dict[int, Any]) -> _Undecoded:
        return self  # immutable


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
        return _first_int(
            self.attributes,
            (c.GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
        )

    @property
    def output_tokens(self) -> int | None:
        return _first_int(
            self.attributes,
            (
                c.GEN_AI_USAGE_OUTPUT_TOKENS,
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
            ),
        )

    @property
    def replay_step_key(self) -> str | None:
        v = self.attributes.get(c.REPLAY_STEP_KEY)
        return v if isinstance(v, str) else None

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


def decode_json_value(v: Any) -> Any:
    """Decode a JSON-encoded attribute value; non-JSON strings are returned unchanged."""
    if isinstance(v, str) and v[:1] in ("{", "[", '"'):
        try:
            return json.loads(v)
        except (ValueError, RecursionError):
            return v
    if isinstance(v, tuple):
        return list(v)
    return v


def _lazy_json(v: Any) -> Any:
    """``v`` itself, or an :class:`_Undecoded` marker when decoding it would parse JSON."""
    if type(v) is str and v[:1] in ("{", "[", '"'):
        return _Undecoded(v)
    return decode_json_value(v)


def span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a mapping, without copying.

    For SDK spans this is the plain ``dict`` inside their ``BoundedAttributes`` (C-speed
    lookups); anything else falls back to the public ``span.attributes``.
    """
    d = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(d) is dict:
        return d
    return span.attributes or {}


def session_id_of(attributes: Mapping[str, Any] | None, trace_id: int) -> str:
    """Session identity: ``agent_replay.session.id``, else ``gen_ai.conversation.id``,
    else OpenInference ``session.id``, else the trace id (32 hex digits)."""
    if attributes:
        for key in (c.SESSION_ID, c.GEN_AI_CONVERSATION_ID, "session.id"):
            v = attributes.get(key)
            if isinstance(v, str) and v:
                return v
    return format(trace_id, "032x")


def _classify(attrs: Mapping[str, Any], span_name: str) -> tuple[str, str]:
    """Return (kind, signature name) for a span's attributes."""
    kind = attrs.get(c.STEP_KIND)
    op = attrs.get(c.GEN_AI_OPERATION_NAME)
    if not isinstance(kind, str) or kind not in c.STEP_KINDS and kind != c.KIND_REPLAY:
        kind = None
        if op in c.LLM_OPERATIONS:
            kind = c.KIND_LLM
        elif op == c.OP_EXECUTE_TOOL:
            kind = c.KIND_TOOL
        elif op in c.AGENT_OPERATIONS:
            kind = c.KIND_AGENT
        elif c.CHECKPOINT_ID in attrs:
            kind = c.KIND_CHECKPOINT
        elif c.DECISION_ACTION in attrs:
            kind = c.KIND_DECISION
        else:
            oi = attrs.get("openinference.span.kind")
            tl = attrs.get("traceloop.span.kind")
            if isinstance(oi, str) and oi.upper() in _OI_KIND:
                kind = _OI_KIND[oi.upper()]
            elif isinstance(tl, str) and tl in _TL_KIND:
                kind = _TL_KIND[tl]
            elif "llm.request.type" in attrs:
                kind = c.KIND_LLM
            else:
                kind = c.KIND_OTHER
    name: Any = None
    if kind == c.KIND_TOOL:
        name = attrs.get(c.GEN_AI_TOOL_NAME) or attrs.get("tool.name")
        if not name and attrs.get("traceloop.span.kind") == "tool":
            name = attrs.get("traceloop.entity.name")
    elif kind == c.KIND_LLM:
        name = _model_name(attrs)
    elif kind == c.KIND_AGENT:
        name = attrs.get(c.GEN_AI_AGENT_NAME) or attrs.get("traceloop.entity.name")
    elif kind == c.KIND_DECISION:
        name = attrs.get(c.DECISION_NAME)
    elif kind == c.KIND_CHECKPOINT:
        name = attrs.get(c.CHECKPOINT_LABEL)
    if not isinstance(name, str) or not name:
        name = span_name
    return kind, name


def _io(kind: str, attrs: Mapping[str, Any]) -> tuple[Any, Any]:
    i: Any
    o: Any
    in_keys: tuple[str, ...]
    out_keys: tuple[str, ...]
    if kind == c.KIND_TOOL:
        if _TL_KIND_KEY in attrs or _OI_KIND_KEY in attrs:
            return _foreign_tool_io(
                attrs, attrs.get(c.GEN_AI_TOOL_CALL_ARGUMENTS), attrs.get(c.GEN_AI_TOOL_CALL_RESULT)
            )
        in_keys, out_keys = TOOL_INPUT_KEYS, TOOL_OUTPUT_KEYS
    elif kind == c.KIND_LLM:
        if (
            attrs.get(c.GEN_AI_INPUT_MESSAGES) is None
            and attrs.get(c.GEN_AI_OUTPUT_MESSAGES) is None
            and _OI_KIND_KEY in attrs
        ):
            i = _oi_messages(attrs, "llm.input_messages.")
            o = _oi_messages(attrs, "llm.output_messages.")
            if i is not None or o is not None:
                return i, o
        in_keys, out_keys = LLM_INPUT_KEYS, LLM_OUTPUT_KEYS
    elif kind == c.KIND_DECISION:
        i = attrs.get(c.STEP_INPUT)
        if i is None and c.DECISION_ALTERNATIVES in attrs:
            alts = attrs[c.DECISION_ALTERNATIVES]
            i = {"alternatives": list(alts) if isinstance(alts, (list, tuple)) else [alts]}
        o = attrs.get(c.STEP_OUTPUT)
        if o is None:
            o = {
                "action": attrs.get(c.DECISION_ACTION),
                "confidence": attrs.get(c.DECISION_CONFIDENCE),
            }
        return _lazy_json(i), _lazy_json(o)
    else:
        in_keys, out_keys = _INPUT_FALLBACK, _OUTPUT_FALLBACK
    return _lazy_json(first_present(attrs, in_keys)), _lazy_json(first_present(attrs, out_keys))


def first_present(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present in ``attrs``, else ``None``."""
    for key in keys:
        v = attrs.get(key)
        if v is not None:
            return v
    return None


_INPUT_FALLBACK = (c.STEP_INPUT, "input.value", "traceloop.entity.input")
_OUTPUT_FALLBACK = (c.STEP_OUTPUT, "output.value", "traceloop.entity.output")
#: The attributes a tool's or an LLM's inputs and outputs are read from, first present wins
#: (for tool spans not marked by another instrumentation, LLM spans not OpenInference's).
TOOL_INPUT_KEYS = (c.GEN_AI_TOOL_CALL_ARGUMENTS, *_INPUT_FALLBACK)
TOOL_OUTPUT_KEYS = (c.GEN_AI_TOOL_CALL_RESULT, *_OUTPUT_FALLBACK)
LLM_INPUT_KEYS = (c.GEN_AI_INPUT_MESSAGES, *_INPUT_FALLBACK)
LLM_OUTPUT_KEYS = (c.GEN_AI_OUTPUT_MESSAGES, *_OUTPUT_FALLBACK)


# --- Spans from other instrumentations (OpenInference, OpenLLMetry) -------------------------
# See docs/semantic-conventions.md, "Spans from other instrumentations".
_OI_KIND_KEY = "openinference.span.kind"
_TL_KIND_KEY = "traceloop.span.kind"
#: Model-name attributes, first usable one wins. OpenLLMetry's LangChain callback writes
#: ``gen_ai.request.model = "unknown"`` when the chat model has no ``model``/``model_id``
#: field; LangChain's ``ls_model_name`` (from ``model_name``) is then in its association
#: properties.
_MODEL_KEYS = (
    c.GEN_AI_REQUEST_MODEL,
    "llm.model_name",
    c.GEN_AI_RESPONSE_MODEL,
    "traceloop.association.properties.ls_model_name",
)
_UNKNOWN_MODEL = "unknown"


def _model_name(attrs: Mapping[str, Any]) -> str | None:
    for key in _MODEL_KEYS:
        v = attrs.get(key)
        if isinstance(v, str) and v and v != _UNKNOWN_MODEL:
            return v
    return None


def _foreign_tool_io(attrs: Mapping[str, Any], i: Any, o: Any) -> tuple[Any, Any]:
    """Tool arguments and result of an OpenLLMetry / OpenInference tool span.

    OpenLLMetry's LangChain callback stores the callback's keyword arguments
    (``{"input_str", "inputs", "tags", "metadata", "kwargs"}``) as the arguments and
    ``{"output": <serialized ToolMessage>, "kwargs"}`` as the result; OpenInference stores
    ``input.value`` (the arguments) and ``output.value`` (``{"type": "tool", "data":
    <ToolMessage fields>}``). Both are reduced to the arguments and the message content,
    so run-specific ids (tool call id, callback colors) do not make equal calls differ.
    """
    if i is None:
        i = attrs.get(c.STEP_INPUT)
    if o is None:
        o = attrs.get(c.STEP_OUTPUT)
    if i is None:
        i = attrs.get("input.value", attrs.get("traceloop.entity.input"))
    if o is None:
        o = attrs.get("output.value", attrs.get("traceloop.entity.output"))
    i = decode_json_value(i)
    if isinstance(i, dict) and "input_str" in i and "inputs" in i:
        i = i["inputs"] if i["inputs"] is not None else decode_json_value(i["input_str"])
    return i, _tool_result(decode_json_value(o))


def _tool_result(o: Any) -> Any:
    if isinstance(o, dict) and "output" in o and set(o) <= {"output", "kwargs"}:
        o = o["output"]  # OpenLLMetry callback envelope
    if isinstance(o, dict):
        lc_id = o.get("id")
        if o.get("lc") == 1 and isinstance(lc_id, list) and lc_id[-1:] == ["ToolMessage"]:
            kw = o.get("kwargs")
            if isinstance(kw, dict) and "content" in kw:
                return decode_json_value(kw["content"])  # serialized ToolMessage
        data = o.get("data")
        if o.get("type") == "tool" and isinstance(data, dict) and "content" in data:
            return decode_json_value(data["content"])  # ToolMessage.model_dump() form
    return o


def _unflatten(attrs: Mapping[str, Any], prefix: str) -> dict[Any, Any]:
    """Nested dict of the attributes under ``prefix`` (``a.0.b`` -> ``{"a": {0: {"b"}}}``)."""
    root: dict[Any, Any] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        node = root
        parts = [int(p) if p.isdigit() else p for p in key[len(prefix) :].split(".")]
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        node[parts[-1]] = value
    return root


def _indexed(d: Any) -> list[Any]:
    if not isinstance(d, dict):
        return []
    return [d[k] for k in sorted(k for k in d if isinstance(k, int))]


def _oi_messages(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """OpenInference flattened messages (``llm.input_messages.{i}.message.role/content/
    contents/tool_calls``) in the GenAI ``gen_ai.input.messages`` shape:
    ``[{"role", "parts": [{"type": "text", "content"}, {"type": "tool_call", ...}]}]``."""
    flat = _unflatten(attrs, prefix)
    if not flat:
        return None
    out: list[dict[str, Any]] = []
    for entry in _indexed(flat):
        m = entry.get("message") if isinstance(entry, dict) else None
        if not isinstance(m, dict):
            continue
        parts: list[dict[str, Any]] = []
        if "content" in m:
            parts.append({"type": "text", "content": m["content"]})
        for item in _indexed(m.get("contents")):
            mc = item.get("message_content") if isinstance(item, dict) else None
            if isinstance(mc, dict) and "text" in mc:
                parts.append({"type": "text", "content": mc["text"]})
        for item in _indexed(m.get("tool_calls")):
            tc = item.get("tool_call") if isinstance(item, dict) else None
            if not isinstance(tc, dict):
                continue
            fn = tc.get("function")
            fn = fn if isinstance(fn, dict) else {}
            call: dict[str, Any] = {"type": "tool_call"}
            if "id" in tc:
                call["id"] = tc["id"]
            call["name"] = fn.get("name")
            call["arguments"] = decode_json_value(fn.get("arguments"))
            parts.append(call)
        msg: dict[str, Any] = {"role": m.get("role"), "parts": parts}
        if "tool_call_id" in m:
            msg["tool_call_id"] = m["tool_call_id"]
        if "name" in m:
            msg["name"] = m["name"]
        out.append(msg)
    return out


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
        step.__dict__[_LAZY] = (_parts(span), session_id)
    else:
        step.__dict__.update(_fields(_parts(span), session_id))
    return step


def step_from_parts(parts: _Parts, session_id: str | None) -> Step:
    """The lazily normalized step of the span ``parts`` were taken from; equal to
    ``normalize_span(span, session_id, lazy=True)``."""
    step = _new_step(Step)
    step.__dict__[_LAZY] = (parts, session_id)
    return step


#: (attributes, trace id, span id, parent span id, name, status code value, status
#: description, start, end): all atomic but the attribute dict, so a lazily normalized step
#: adds few objects for the cyclic garbage collector to traverse.
_Parts = tuple[Mapping[str, Any], int, "int | None", "int | None", str, int, "str | None", int, Any]
_ERROR = StatusCode.ERROR.value
_OK = StatusCode.OK.value
_UNSET = StatusCode.UNSET.value
_UNSET_CODE = StatusCode.UNSET


def _parts(span: ReadableSpan) -> _Parts:
    """The parts of a span that :func:`_fields` needs."""
    if type(span) is ReadableSpan:
        # What the SDK hands to on_end: its instance fields instead of seven properties
        # (tests/test_steps.py checks this against the public API).
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
    return _public_parts(span)


def _public_parts(span: ReadableSpan) -> _Parts:
    """:func:`_parts` through the span's public API (any ``ReadableSpan``)."""
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


#: What a lazily normalized step keeps of a span (see :func:`step_from_parts`).
span_parts = _parts  # an alias, not a wrapper: one Python call less per buffered span


def _fields(parts: _Parts, session_id: str | None) -> dict[str, Any]:
    """The field values of :func:`normalize_span`'s step."""
    attrs, trace_id, span_id, parent_id, span_name, code, description, start, end = parts
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
    inputs, outputs = _io(kind, attrs)
    return {
        "session_id": session_id or session_id_of(attrs, trace_id),
        "sequence": seq
        if type(seq) is int or (isinstance(seq, int) and not isinstance(seq, bool))
        else None,
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
        "attributes": dict(attrs),
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
