"""Baseline files: spans as reviewable OTLP JSON lines.

:func:`normalized_lines` turns spans into one OTLP/JSON ``TracesData`` line per span, in a
stable order (session, then the span tree depth first, calls that ran concurrently
ordered by what they did: :mod:`.ordering`), with the values that change on every run
replaced by stable placeholders: trace and span ids are renumbered, timestamps rewritten
(durations are not kept), session ids become ``session-1``..., tool call ids ``call-1``...,
UUIDs ``uuid-1``..., and instrumentation scope versions are dropped. Spans that name no
session of their own (only their trace: plumbing and tool spans of instrumentations, which
may start traces of their own) share one session; steps are renumbered in that order
within each session. Two runs that behave the same give identical files, so a baseline's diff in a pull request shows only behaviour.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.core import conventions as c
from otel_replay.formats.otlp_json_encode import _JsonEncoder
from otel_replay.pytest_plugin.ordering import canonical_order

__all__ = ["normalized_lines", "write_lines", "BASE_TIME_NS", "VOLATILE_KEYS"]

#: Start time of the first span of a normalized recording (2020-01-01T00:00:00Z).
BASE_TIME_NS = 1_577_836_800_000_000_000
_STEP_NS = 1_000_000  # 1 ms between consecutive span starts
#: Attributes dropped from baselines: they differ between runs and describe no behaviour.
VOLATILE_KEYS = frozenset({"thread.id", "thread.name", "process.pid", "code.lineno"})

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CALL_ID = re.compile(r"\b(?:call|toolu|chatcmpl|run)[_-][A-Za-z0-9]{8,}\b")
_CALL_ID_FIELD = re.compile(r'"(?:tool_call_id|call_id)"\s*:\s*"([^"\\]{4,})"')


class _Tokens:
    """Stable placeholders for volatile strings, numbered in order of first sight."""

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str, prefix: str) -> str:
        if value in self.exact:
            return self.exact[value]
        n = self._counts.get(prefix, 0) + 1
        self._counts[prefix] = n
        self.exact[value] = f"{prefix}-{n}"
        self._pattern = None
        return self.exact[value]

    def replace(self, text: str) -> str:
        hit = self.exact.get(text)
        if hit is not None:
            return hit
        for m in _UUID.findall(text):
            self.add(m, "uuid")
        for m in _CALL_ID.findall(text):
            self.add(m, "call")
        if self._pattern is None:
            keys = sorted((k for k in self.exact if len(k) >= 8), key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, keys))) if keys else None
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.exact[m.group(0)], text)


def _attr(o: dict[str, Any], key: str) -> Any:
    for kv in o.get("attributes") or ():
        if kv.get("key") == key:
            v = kv.get("value") or {}
            for field in ("stringValue", "intValue", "doubleValue", "boolValue"):
                if field in v:
                    return v[field]
    return None


_BLOCK = "\x00block"  # the session of spans that name no session but their trace


def _session(sp: dict[str, Any], traces: set[str]) -> str:
    """The span's session; :data:`_BLOCK` for a session that is only a trace of the block
    (its own, or the trace of the call it ran inside)."""
    sid = _attr(sp, c.SESSION_ID)
    if not sid or sid == sp.get("traceId") or sid in traces:
        return _BLOCK
    return str(sid)


def normalized_lines(
    spans: Iterable[ReadableSpan],
    threads: Mapping[str, int] | None = None,
    enclosing: Mapping[str, str] | None = None,
) -> list[str]:
    """One OTLP/JSON line per span, stably ordered, volatile values normalized out;
    ``threads`` (span id in hex -> thread it started on) tells parallel calls apart
    (:func:`~otel_replay.pytest_plugin.ordering.canonical_order`); ``enclosing`` (span id
    -> the call it ran inside, :mod:`.nesting`) is kept as
    ``agent_replay.step.enclosing_span_id`` on spans without a parent."""
    td = _JsonEncoder().traces_data(spans)
    flat: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for rs in td["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                inside = (enclosing or {}).get(sp.get("spanId", ""))
                if (
                    inside
                    and not sp.get("parentSpanId")
                    and not _attr(sp, c.STEP_ENCLOSING_SPAN_ID)
                ):
                    sp["attributes"] = [
                        *(sp.get("attributes") or ()),
                        {"key": c.STEP_ENCLOSING_SPAN_ID, "value": {"stringValue": inside}},
                    ]
                flat.append((rs.get("resource") or {}, ss.get("scope") or {}, sp))
    # canonical order: the span tree depth first, concurrent siblings by what they did
    rank = [0] * len(flat)
    scopes = [str(sc.get("name", "")) for _, sc, _ in flat]
    for r, i in enumerate(canonical_order([sp for _, _, sp in flat], threads, scopes)):
        rank[i] = r
    # sessions: explicit ones (an agent_run's id) and one for every span whose session is
    # only its trace (plumbing and tool spans of instrumentations, which may start traces
    # of their own); ordered by their first span
    first: dict[str, int] = {}
    session_of: list[str] = []
    traces = {str(sp.get("traceId")) for _, _, sp in flat}
    for i, (_, _, sp) in enumerate(flat):
        sid = _session(sp, traces)
        session_of.append(sid)
        first[sid] = min(first.get(sid, rank[i]), rank[i])
    order = {sid: i for i, sid in enumerate(sorted(first, key=lambda s: (first[s], s)))}
    names = {sid: f"session-{order[sid] + 1}" for sid in order}
    keyed = [
        (session_of[i], flat[i])
        for i in sorted(range(len(flat)), key=lambda i: (order[session_of[i]], rank[i]))
    ]
    flat = [it[1] for it in keyed]
    tokens = _Tokens()
    sequences: dict[str, int] = {}
    stamp: dict[str, tuple[str, int]] = {}  # span id -> (session, sequence)
    for sid, (_, _, sp) in keyed:
        sequences[sid] = sequences.get(sid, 0) + 1
        stamp[sp.get("spanId", "")] = (names[sid], sequences[sid])
        if sid != _BLOCK:
            tokens.exact.setdefault(sid, names[sid])
        else:
            tokens.exact.setdefault(sp.get("traceId", ""), names[sid])
    trace_ids: dict[str, str] = {}
    span_ids: dict[str, str] = {}
    for _, _, sp in flat:
        trace_ids.setdefault(sp.get("traceId", ""), f"{len(trace_ids) + 1:032x}")
        span_ids.setdefault(sp.get("spanId", ""), f"{len(span_ids) + 1:016x}")
        for kv in sp.get("attributes") or ():
            v = (kv.get("value") or {}).get("stringValue")
            if kv.get("key") in (c.GEN_AI_TOOL_CALL_ID, "tool_call.id") and v:
                tokens.add(v, "call")
            elif isinstance(v, str):
                for m in _CALL_ID_FIELD.findall(v):
                    tokens.add(m, "call")
    for old, new in trace_ids.items():
        if old:
            tokens.exact.setdefault(old, new)
    for old, new in span_ids.items():
        if old:
            tokens.exact.setdefault(old, new)
    starts = {
        sp.get("spanId", ""): BASE_TIME_NS + i * _STEP_NS for i, (_, _, sp) in enumerate(flat)
    }
    ends = {sid: t + 1000 for sid, t in starts.items()}
    for _, _, sp in reversed(flat):  # a parent ends after each of its children
        parent = sp.get("parentSpanId")
        if parent in ends:
            ends[parent] = max(ends[parent], ends[sp.get("spanId", "")] + 1000)
    lines = []
    for resource, scope, sp in flat:
        old_id = sp.get("spanId", "")
        out = dict(sp)
        out["traceId"] = trace_ids.get(sp.get("traceId", ""), "")
        out["spanId"] = span_ids.get(old_id, "")
        if "parentSpanId" in sp:
            parent = sp["parentSpanId"]
            out["parentSpanId"] = span_ids.get(parent) or tokens.add(parent, "span")
        out["startTimeUnixNano"] = str(starts[old_id])
        out["endTimeUnixNano"] = str(ends[old_id])
        session, sequence = stamp[old_id]
        attrs = [
            kv
            for kv in sp.get("attributes") or ()
            if kv.get("key") not in (c.SESSION_ID, c.STEP_SEQUENCE)
        ]
        attrs.append({"key": c.SESSION_ID, "value": {"stringValue": session}})
        attrs.append({"key": c.STEP_SEQUENCE, "value": {"intValue": str(sequence)}})
        out["attributes"] = _norm_attrs(attrs, tokens)
        if sp.get("events"):
            out["events"] = [
                {
                    **ev,
                    "timeUnixNano": str(starts[old_id] + i + 1),
                    **(
                        {"attributes": _norm_attrs(ev["attributes"], tokens)}
                        if "attributes" in ev
                        else {}
                    ),
                }
                for i, ev in enumerate(sp["events"])
            ]
        if sp.get("links"):
            out["links"] = [
                {
                    **ln,
                    "traceId": trace_ids.get(ln.get("traceId", ""), "0" * 32),
                    "spanId": span_ids.get(ln.get("spanId", ""))
                    or tokens.add(ln.get("spanId", ""), "span"),
                }
                for ln in sp["links"]
            ]
        sc = {k: v for k, v in scope.items() if k != "version"}
        res = dict(resource)
        if "attributes" in res:
            res["attributes"] = _norm_attrs(res["attributes"], tokens)
        line = {"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": sc, "spans": [out]}]}]}
        lines.append(json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return lines


def _norm_attrs(attrs: Sequence[dict[str, Any]], tokens: _Tokens) -> list[dict[str, Any]]:
    out = []
    for kv in sorted(attrs, key=lambda kv: str(kv.get("key", ""))):
        if kv.get("key") in VOLATILE_KEYS:
            continue
        out.append({"key": kv.get("key"), "value": _norm_value(kv.get("value") or {}, tokens)})
    return out


def _norm_value(v: dict[str, Any], tokens: _Tokens) -> dict[str, Any]:
    if "stringValue" in v and isinstance(v["stringValue"], str):
        return {"stringValue": tokens.replace(v["stringValue"])}
    if "arrayValue" in v:
        values = (v["arrayValue"] or {}).get("values") or []
        return {"arrayValue": {"values": [_norm_value(x, tokens) for x in values]}}
    if "kvlistValue" in v:
        values = (v["kvlistValue"] or {}).get("values") or []
        return {"kvlistValue": {"values": _norm_attrs(values, tokens)}}
    return v


def write_lines(path: str | os.PathLike[str], lines: Sequence[str]) -> str:
    """Write ``lines`` to ``path`` (replacing it, parents created); return the path."""
    target = os.fspath(path)
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = target + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, target)
    return target
