"""Span normalization: lazily and eagerly normalized steps agree (the SDK fast path that
reads span parts is pinned to the public API in tests/test_sdkspan.py)."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_replay.core import conventions as c
from otel_replay.model.steps import normalize_span


def _spans() -> list[ReadableSpan]:
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


def test_lazy_and_eager_steps_are_equal() -> None:
    for span in _spans():
        assert normalize_span(span, "s", lazy=True) == normalize_span(span, "s")
