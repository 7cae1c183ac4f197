"""Normalized steps: the single place where span shapes are understood.

:func:`normalize_span` turns any ended span (ours, OTel GenAI, OpenInference, OpenLLMetry)
into a :class:`Step`. Everything downstream (buffer, recordings, restore, replay, drift)
works on steps, never on raw span attributes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_replay import conventions as c

__all__ = [
    "Step",
    "normalize_span",
    "session_id_of",
    "default_importance",
    "DEFAULT_IMPORTANCE",
    "decode_json_value",
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


@dataclass(frozen=True)
class Step:
    """A span reduced to what record/replay/drift need."""

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
    inputs: Any = None
    outputs: Any = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

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
        except ValueError:
            return v
    if isinstance(v, tuple):
        return list(v)
    return v


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
        name = (
            attrs.get(c.GEN_AI_REQUEST_MODEL)
            or attrs.get("llm.model_name")
            or attrs.get(c.GEN_AI_RESPONSE_MODEL)
        )
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
    if kind == c.KIND_TOOL:
        i = attrs.get(c.GEN_AI_TOOL_CALL_ARGUMENTS)
        o = attrs.get(c.GEN_AI_TOOL_CALL_RESULT)
    elif kind == c.KIND_LLM:
        i = attrs.get(c.GEN_AI_INPUT_MESSAGES)
        o = attrs.get(c.GEN_AI_OUTPUT_MESSAGES)
    elif kind == c.KIND_DECISION:
        i = attrs.get(c.STEP_INPUT)
        if i is None and c.DECISION_ALTERNATIVES in attrs:
            i = {"alternatives": list(attrs[c.DECISION_ALTERNATIVES])}
        o = attrs.get(c.STEP_OUTPUT)
        if o is None:
            o = {
                "action": attrs.get(c.DECISION_ACTION),
                "confidence": attrs.get(c.DECISION_CONFIDENCE),
            }
        return decode_json_value(i), decode_json_value(o)
    else:
        i = o = None
    if i is None:
        i = attrs.get(c.STEP_INPUT)
    if o is None:
        o = attrs.get(c.STEP_OUTPUT)
    if i is None:
        i = attrs.get("input.value", attrs.get("traceloop.entity.input"))
    if o is None:
        o = attrs.get("output.value", attrs.get("traceloop.entity.output"))
    return decode_json_value(i), decode_json_value(o)


def normalize_span(span: ReadableSpan, session_id: str | None = None) -> Step:
    """Turn an ended span into a :class:`Step`.

    ``session_id`` overrides the session derived from the span's attributes (the processor
    passes the session it resolved for the span's trace).
    """
    attrs: Mapping[str, Any] = span.attributes or {}
    ctx = span.context
    trace_id = ctx.trace_id if ctx is not None else 0
    kind, name = _classify(attrs, span.name)
    status_code = span.status.status_code
    is_error = status_code is StatusCode.ERROR
    status = "error" if is_error else ("ok" if status_code is StatusCode.OK else "unset")
    imp = attrs.get(c.STEP_IMPORTANCE)
    if isinstance(imp, (int, float)) and not isinstance(imp, bool) and 0.0 <= imp <= 1.0:
        importance = float(imp)
    else:
        importance = default_importance(kind, is_error)
    seq = attrs.get(c.STEP_SEQUENCE)
    inputs, outputs = _io(kind, attrs)
    parent = span.parent
    return Step(
        session_id=session_id or session_id_of(attrs, trace_id),
        sequence=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        kind=kind,
        name=name,
        span_name=span.name,
        trace_id=format(trace_id, "032x"),
        span_id=format(ctx.span_id, "016x") if ctx is not None else "0" * 16,
        parent_span_id=format(parent.span_id, "016x") if parent is not None else None,
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or span.start_time or 0,
        status=status,
        status_message=span.status.description,
        importance=importance,
        inputs=inputs,
        outputs=outputs,
        attributes=dict(attrs),
    )
