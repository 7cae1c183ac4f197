"""Canonical span order for baseline files: calls that ran concurrently are written in an
order that does not depend on which thread or task got there first.

Spans form a tree (the parent span, else the call a parentless span was recorded running
inside, :mod:`.nesting`); the file lists it depth first. Siblings follow their start order,
except a run of concurrent siblings: tasks of one LangGraph superstep (a parallel tool
node's ``Send`` tasks; from LangGraph's metadata on the spans: OpenInference's
``metadata``, OpenLLMetry's association properties), calls answering different tool calls
(each span's result answers one tool call, a different one: a ``ToolNode`` running the
model's tool calls), and calls that overlapped in time on
different threads (a thread pool) or interleaved on one thread (asyncio tasks). Timing is
not used for spans of instrumentations whose span times come from callbacks that may run
later in another thread (OpenInference under async LangChain).

Concurrent siblings are ordered by a stable key: first the position of the tool call they
answer (when the span's result answers exactly one) among the tool call ids of the
recording (in order of first appearance: the order the model asked for them), then their inputs, then everything they did (name, attributes
with volatile ids masked, status, events) and, recursively, what their children did. A
changed call keeps its place when it answers a tool call id or only its output changed;
parallel calls without a tool call id whose inputs changed may move.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.pytest_plugin.nesting import NOT_CURRENT_SCOPES

__all__ = ["canonical_order", "MASKED_KEYS"]

#: Attributes left out of the stable key: they differ between runs of the same behaviour.
MASKED_KEYS = frozenset(
    {
        c.SESSION_ID,
        c.STEP_SEQUENCE,
        c.STEP_ENCLOSING_SPAN_ID,
        "thread.id",
        "thread.name",
        "process.pid",
        "code.lineno",
    }
)
_INPUT_KEYS = (
    c.GEN_AI_TOOL_CALL_ARGUMENTS,
    c.GEN_AI_INPUT_MESSAGES,
    c.STEP_INPUT,
    "input.value",
)
_CALL_ID = re.compile(r"\b(?:call|toolu|chatcmpl|run)[_-][A-Za-z0-9]{8,}\b")
_ANSWERS = re.compile(r'"tool_call_id"\s*:\s*"([^"\\]{4,})"')
_VOLATILE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\b(?:call|toolu|chatcmpl|run)[_-][A-Za-z0-9]{8,}\b"
    r"|\b[0-9a-f]{32}\b|\b[0-9a-f]{16}\b"
)


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _attr(sp: Mapping[str, Any], key: str) -> Any:
    for kv in sp.get("attributes") or ():
        if kv.get("key") == key:
            v = kv.get("value") or {}
            return v.get("stringValue", v.get("intValue"))
    return None


def canonical_order(
    spans: Sequence[Mapping[str, Any]],
    threads: Mapping[str, int] | None = None,
    scopes: Sequence[str] | None = None,
) -> list[int]:
    """Indices of ``spans`` (OTLP/JSON span objects) in canonical order; ``threads`` maps a
    span id (hex) to the thread it started on, where known; ``scopes`` are the spans'
    instrumentation scope names."""
    threads = threads or {}
    # spans timed by callbacks that may run later in other threads: no timing rules
    untimed = [str(n).startswith(NOT_CURRENT_SCOPES) for n in (scopes or [""] * len(spans))]
    index = {sp.get("spanId", ""): i for i, sp in enumerate(spans)}
    children: dict[int | None, list[int]] = {}
    for i, sp in enumerate(spans):
        parent = sp.get("parentSpanId") or None
        if parent not in index:
            parent = _attr(sp, c.STEP_ENCLOSING_SPAN_ID)
        p = index.get(parent) if parent else None
        children.setdefault(p if p != i else None, []).append(i)
    start = [_int(sp.get("startTimeUnixNano")) for sp in spans]
    end = [max(_int(sp.get("endTimeUnixNano")), s) for sp, s in zip(spans, start, strict=True)]
    seq = [_int(_attr(sp, c.STEP_SEQUENCE)) for sp in spans]
    thread = [threads.get(sp.get("spanId", "")) for sp in spans]
    graph = [_langgraph_task(sp) for sp in spans]

    first_seen: dict[str, int] = {}  # tool call id -> order of first appearance
    for i in sorted(range(len(spans)), key=lambda i: (start[i], seq[i], i)):
        for text in _strings(spans[i]):
            for m in _CALL_ID.findall(text):
                first_seen.setdefault(m, len(first_seen))
            for m in _ANSWERS.findall(text):
                first_seen.setdefault(m, len(first_seen))
    answered: list[int] = []
    for sp in spans:  # the one tool call a span answers (its result), by position
        ids = {first_seen[x] for x in _answered_ids(sp) if x in first_seen}
        answered.append(ids.pop() if len(ids) == 1 else _NONE)

    def answers(i: int) -> int:
        return answered[i]

    keys: dict[int, tuple[int, str, str]] = {}
    ordered_children: dict[int | None, list[int]] = {}

    def concurrent(a: int, b: int) -> bool:
        """``b`` (started after ``a``) ran alongside ``a``, not inside it or after it."""
        ga, gb = graph[a], graph[b]
        if ga is not None and gb is not None and ga[0] == gb[0] and ga[1] != gb[1]:
            return True  # two tasks of one LangGraph superstep
        if answers(a) != _NONE and answers(b) != _NONE and answers(a) != answers(b):
            return True  # answers to two tool calls of one model turn
        if untimed[a] or untimed[b] or start[b] >= end[a]:
            return False
        if thread[a] is not None and thread[b] is not None and thread[a] != thread[b]:
            return True  # overlapping on two threads
        return end[b] > end[a]  # interleaved on one thread (contained: nested, not parallel)

    def order(parent: int | None) -> list[int]:
        if parent in ordered_children:
            return ordered_children[parent]
        kids = sorted(children.get(parent, ()), key=lambda i: (start[i], seq[i], i))
        out: list[int] = []
        group: list[int] = []
        for i in kids:
            if group and not any(concurrent(g, i) for g in group):
                out += sorted(group, key=key) if len(group) > 1 else group
                group = []
            group.append(i)
        out += sorted(group, key=key) if len(group) > 1 else group
        ordered_children[parent] = out
        return out

    def key(i: int) -> tuple[int, str, str]:
        if i not in keys:
            keys[i] = (_NONE, "", "")  # a cycle (damaged parent ids) ends here
            full = [_own_key(spans[i]), [key(k)[2] for k in order(i)]]
            digest = hashlib.sha256(_dump(full).encode("utf-8")).hexdigest()
            keys[i] = (answers(i), _input_key(spans[i]), digest)
        return keys[i]

    result: list[int] = []
    seen: set[int] = set()
    stack = list(reversed(order(None)))
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        result.append(i)
        stack.extend(reversed(order(i)))
    # spans only reachable through a cycle of parent ids: in start order at the end
    result += sorted((i for i in range(len(spans)) if i not in seen), key=lambda i: start[i])
    return result


_NONE = 1 << 62


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strings(sp: Mapping[str, Any]) -> list[str]:
    """The span's string attribute values, by key."""
    out = []
    for kv in sorted(sp.get("attributes") or (), key=lambda kv: str(kv.get("key", ""))):
        v = (kv.get("value") or {}).get("stringValue")
        if isinstance(v, str):
            out.append(v)
    return out


def _answered_ids(sp: Mapping[str, Any]) -> list[str]:
    """Tool call ids the span answers: its ``gen_ai.tool.call.id``, the ``tool_call_id`` of
    tool messages in its output (LangChain)."""
    out = []
    own = _attr(sp, c.GEN_AI_TOOL_CALL_ID)
    if isinstance(own, str) and own:
        out.append(own)
    for key in (
        c.GEN_AI_TOOL_CALL_RESULT,
        c.GEN_AI_OUTPUT_MESSAGES,
        "output.value",
        "traceloop.entity.output",
    ):
        v = _attr(sp, key)
        if isinstance(v, str):
            out += _ANSWERS.findall(v)
    return out


def _input_key(sp: Mapping[str, Any]) -> str:
    return _dump([sp.get("name", ""), [_masked(_attr(sp, k)) for k in _INPUT_KEYS]])


def _own_key(sp: Mapping[str, Any]) -> Any:
    attrs = sorted(
        (kv.get("key", ""), _masked(kv.get("value")))
        for kv in sp.get("attributes") or ()
        if kv.get("key") not in MASKED_KEYS
    )
    events = [ev.get("name", "") for ev in sp.get("events") or ()]
    return [sp.get("name", ""), sp.get("kind", 0), attrs, sp.get("status") or {}, events]


def _masked(value: Any) -> Any:
    return _VOLATILE.sub("#", _dump(value))


def _langgraph_task(sp: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """(superstep, task namespace) of a span LangGraph ran, from the instrumentation's
    metadata; ``None`` for other spans."""
    step = _attr(sp, "traceloop.association.properties.langgraph_step")
    ns = _attr(sp, "traceloop.association.properties.langgraph_checkpoint_ns")
    if step is None:
        raw = _attr(sp, "metadata")
        if not isinstance(raw, str) or "langgraph_step" not in raw:
            return None
        try:
            meta = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(meta, dict) or meta.get("langgraph_step") is None:
            return None
        step, ns = meta.get("langgraph_step"), meta.get("langgraph_checkpoint_ns")
    return (str(step), str(ns))
