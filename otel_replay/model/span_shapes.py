"""Span shapes per instrumentation: how the attributes of a span (ours, OTel GenAI,
OpenInference, OpenLLMetry) give a step's kind, signature name, inputs, outputs and session,
and how JSON attribute values are decoded.

The attribute lists (``TOOL_INPUT_KEYS``, ...) are also the ones drift comparison reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from otel_replay.core import conventions as c

__all__ = ["session_id_of", "decode_json_value", "is_plumbing"]

# OpenInference (openinference.span.kind) -> our kinds
_OI_KIND = {
    "LLM": c.KIND_LLM,
    "EMBEDDING": c.KIND_LLM,
    "TOOL": c.KIND_TOOL,
    "AGENT": c.KIND_AGENT,
}
# OpenLLMetry (traceloop.span.kind) -> our kinds
_TL_KIND = {"tool": c.KIND_TOOL, "agent": c.KIND_AGENT, "workflow": c.KIND_AGENT}


class _Undecoded:
    """A JSON attribute string whose decoding is deferred until the field is read."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def __deepcopy__(self, memo: dict[int, Any]) -> _Undecoded:
        return self  # immutable


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


def session_id_of(attributes: Mapping[str, Any] | None, trace_id: int) -> str:
    """Session identity: ``agent_replay.session.id``, else ``gen_ai.conversation.id``,
    else OpenInference ``session.id``, else the trace id (32 hex digits)."""
    if attributes:
        for key in (c.SESSION_ID, c.GEN_AI_CONVERSATION_ID, "session.id"):
            v = attributes.get(key)
            if isinstance(v, str) and v:
                return v
    return format(trace_id, "032x")


def is_plumbing(attrs: Mapping[str, Any]) -> bool:
    """Whether a span of another instrumentation is framework plumbing rather than a step.

    OpenInference: ``CHAIN`` spans (LangChain chains, prompts, routers, LangGraph nodes) and
    ``AGENT`` spans of a LangGraph node (``metadata`` names a ``langgraph_node``: the node
    that wraps the model call). OpenLLMetry: ``traceloop.span.kind`` ``task`` or ``workflow``
    (graph nodes and the graph wrapper inside the ``invoke_agent`` span) and
    ``gen_ai.operation.name = execute_task``. Any convention: ``create_agent`` (the agent's
    definition, not a step of its run). See docs/semantic-conventions.md, "Plumbing spans".
    """
    op = attrs.get(c.GEN_AI_OPERATION_NAME)
    if op == c.OP_CREATE_AGENT or op == _OP_EXECUTE_TASK:
        return True
    tl = attrs.get(_TL_KIND_KEY)
    if tl is not None:
        return tl in _TL_PLUMBING
    oi = attrs.get(_OI_KIND_KEY)
    if oi is None:
        return False
    if oi == "CHAIN":
        return True
    if oi == "AGENT":
        meta = attrs.get("metadata")
        return isinstance(meta, str) and '"langgraph_node"' in meta
    return False


_OP_EXECUTE_TASK = "execute_task"
_PLUMBING_OPS = frozenset({c.OP_CREATE_AGENT, _OP_EXECUTE_TASK})
_TL_PLUMBING = frozenset({"task", "workflow"})


def _classify(attrs: Mapping[str, Any], span_name: str) -> tuple[str, str]:
    """Return (kind, signature name) for a span's attributes."""
    kind = attrs.get(c.STEP_KIND)
    op = attrs.get(c.GEN_AI_OPERATION_NAME)
    if not isinstance(kind, str) or kind not in c.STEP_KINDS and kind != c.KIND_REPLAY:
        kind = None
        if (_OI_KIND_KEY in attrs or _TL_KIND_KEY in attrs or op in _PLUMBING_OPS) and is_plumbing(
            attrs
        ):
            kind = c.KIND_PLUMBING
        elif op in c.LLM_OPERATIONS:
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
