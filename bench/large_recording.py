"""Generate a large one-session agent recording (OTLP JSON lines), for bench_large.py.

Spans look like what the SDK exporters and ``RecordingExporter`` write for an agent: an
``invoke_agent`` root, then alternating ``chat`` LLM spans (input/output messages as JSON,
token usage) and ``execute_tool`` spans (JSON arguments and result), each with a session id
and step sequence; 1000 spans per line (one export batch). About 640 bytes per span.
``changed`` plants one different tool result at that step (one finding in ``diff``).
"""

from __future__ import annotations

import json
import os
from typing import Any

try:
    import orjson

    _dumps = orjson.dumps
except ImportError:  # the core-only test run: same bytes from the standard library

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


_BATCH = 1000
_RESOURCE = {
    "attributes": [
        {"key": "service.name", "value": {"stringValue": "bench-agent"}},
        {"key": "telemetry.sdk.language", "value": {"stringValue": "python"}},
        {"key": "telemetry.sdk.name", "value": {"stringValue": "opentelemetry"}},
    ]
}
_T0 = 1_796_000_000_000_000_000


def _s(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _i(key: str, value: int) -> dict[str, Any]:
    return {"key": key, "value": {"intValue": str(value)}}


def _span(i: int, trace_id: str, root_id: str, session: str, changed: int | None) -> dict[str, Any]:
    seq = i + 1
    start = _T0 + i * 2_000_000
    llm = i % 2 == 0
    city = ("Paris", "Berlin", "Lisbon", "Oslo", "Rome")[i % 5]
    attrs = [_s("agent_replay.session.id", session), _i("agent_replay.step.sequence", seq)]
    if llm:
        name = "chat gpt-4o"
        question = f"Weather in {city}, day {i // 10}?"
        messages_in = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
        messages_out = [
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "name": "get_weather", "arguments": {"city": city}}
                ],
            }
        ]
        attrs += [
            _s("gen_ai.operation.name", "chat"),
            _s("gen_ai.request.model", "gpt-4o"),
            _s("gen_ai.input.messages", _dumps(messages_in).decode()),
            _s("gen_ai.output.messages", _dumps(messages_out).decode()),
            _i("gen_ai.usage.input_tokens", 120 + i % 7),
        ]
    else:
        name = "execute_tool get_weather"
        result = {"forecast": "sunny", "high_c": 21 + i % 5}
        if changed == seq:
            result["forecast"] = "storm"
        attrs += [
            _s("gen_ai.operation.name", "execute_tool"),
            _s("gen_ai.tool.name", "get_weather"),
            _s(
                "gen_ai.tool.call.arguments",
                _dumps({"city": city, "day": (i - 1) // 10}).decode(),
            ),
            _s("gen_ai.tool.call.result", _dumps(result).decode()),
        ]
    return {
        "traceId": trace_id,
        "spanId": f"{0x1000_0000_0000_0000 + seq:016x}",
        "parentSpanId": root_id,
        "flags": 257,
        "name": name,
        "kind": 1 if not llm else 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_500_000),
        "attributes": attrs,
        "status": {"code": 1},
    }


def write_large(path: str, n: int, *, changed: int | None = None, session: str = "s-1") -> int:
    """Write ``n`` spans (a root and ``n - 1`` steps) to ``path``; return the file size.
    ``changed`` is the sequence number of a tool step (even)."""
    if changed is not None and changed % 2:
        raise ValueError(f"changed={changed}: odd sequence numbers are LLM steps")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    root_id = "00f067aa0ba902b7"
    root = {
        "traceId": trace_id,
        "spanId": root_id,
        "flags": 257,
        "name": "invoke_agent travel",
        "kind": 1,
        "startTimeUnixNano": str(_T0 - 1000),
        "endTimeUnixNano": str(_T0 + n * 2_000_000),
        "attributes": [
            _s("agent_replay.session.id", session),
            _s("gen_ai.operation.name", "invoke_agent"),
            _s("gen_ai.agent.name", "travel"),
        ],
        "status": {},
    }
    with open(path, "wb") as f:
        batch: list[dict[str, Any]] = [root]
        for i in range(n - 1):
            batch.append(_span(i, trace_id, root_id, session, changed))
            if len(batch) >= _BATCH:
                f.write(_line(batch))
                batch = []
        if batch:
            f.write(_line(batch))
    return os.path.getsize(path)


def _line(spans: list[dict[str, Any]]) -> bytes:
    doc = {
        "resourceSpans": [
            {
                "resource": _RESOURCE,
                "scopeSpans": [{"scope": {"name": "bench.agent"}, "spans": spans}],
            }
        ]
    }
    return _dumps(doc) + b"\n"
