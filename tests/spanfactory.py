"""Build :class:`~otel_replay.model.steps.Step` objects from real spans.

Spans are created with a real ``TracerProvider`` and collected by an ``InMemorySpanExporter``;
attributes follow :mod:`otel_replay.core.conventions`. Each :class:`SpanFactory` is one run (one
trace under a root span) with its own step sequence numbers and clock.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_replay.core import conventions as c
from otel_replay.model.steps import Step, normalize_span

_MISSING = object()


class SpanFactory:
    """Emits step spans of one run and returns them normalized."""

    def __init__(self, session_id: str = "session-1") -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests.spanfactory")
        self.session_id = session_id
        self.clock = 1_700_000_000_000_000_000
        self.sequence = 0
        self.root = self.tracer.start_span(
            "invoke_agent", start_time=self.clock, attributes={c.SESSION_ID: session_id}
        )
        self.context = trace.set_span_in_context(self.root)

    def close(self) -> None:
        self.root.end(end_time=self.clock)
        self.provider.shutdown()

    def emit(
        self,
        span_name: str,
        attributes: dict[str, Any],
        *,
        status: str = "ok",
        message: str | None = None,
        duration_ms: float = 10.0,
    ) -> Step:
        """End a child span with ``attributes`` and return its normalized step."""
        self.sequence += 1
        attrs = {c.SESSION_ID: self.session_id, c.STEP_SEQUENCE: self.sequence, **attributes}
        start = self.clock
        end = start + int(duration_ms * 1_000_000)
        self.clock = end + 1_000
        span = self.tracer.start_span(
            span_name, context=self.context, start_time=start, attributes=attrs
        )
        if status == "error":
            span.set_status(Status(StatusCode.ERROR, message))
        elif status == "ok":
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=end)
        (finished,) = self.exporter.get_finished_spans()
        self.exporter.clear()
        return normalize_span(finished)

    def tool(
        self,
        name: str,
        arguments: Any = None,
        result: Any = None,
        **kw: Any,
    ) -> Step:
        attrs: dict[str, Any] = {
            c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL,
            c.GEN_AI_TOOL_NAME: name,
        }
        if arguments is not None:
            attrs[c.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(arguments)
        if result is not None:
            attrs[c.GEN_AI_TOOL_CALL_RESULT] = _json(result)
        return self.emit(f"execute_tool {name}", attrs, **kw)

    def llm(
        self,
        model: str,
        output: Any = None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        **kw: Any,
    ) -> Step:
        attrs: dict[str, Any] = {c.GEN_AI_OPERATION_NAME: c.OP_CHAT, c.GEN_AI_REQUEST_MODEL: model}
        if output is not None:
            attrs[c.GEN_AI_OUTPUT_MESSAGES] = _json(output)
        if input_tokens is not None:
            attrs[c.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attrs[c.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        return self.emit(f"chat {model}", attrs, **kw)

    def decision(self, name: str, action: str, confidence: Any = _MISSING, **kw: Any) -> Step:
        attrs: dict[str, Any] = {c.STEP_KIND: c.KIND_DECISION, c.DECISION_ACTION: action}
        if confidence is not _MISSING:
            attrs[c.DECISION_CONFIDENCE] = confidence
        return self.emit(name, attrs, **kw)

    def checkpoint(self, label: str = "checkpoint") -> Step:
        attrs = {
            c.STEP_KIND: c.KIND_CHECKPOINT,
            c.CHECKPOINT_ID: f"{self.sequence:032x}",
            c.CHECKPOINT_LABEL: label,
        }
        return self.emit("checkpoint", attrs)


def _json(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def status_spans() -> list[Any]:
    """Three ended SDK spans of one trace: a root, an ERROR tool span and an OK span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("steps")
    with tracer.start_as_current_span("root", attributes={c.SESSION_ID: "s"}):
        with tracer.start_as_current_span(
            "execute_tool t", attributes={c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL}
        ) as span:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        with tracer.start_as_current_span("ok") as span:
            span.set_status(Status(StatusCode.OK))
    provider.shutdown()
    return list(exporter.get_finished_spans())
