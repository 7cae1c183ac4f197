"""EventContentProcessor on a real TracerProvider and LoggerProvider: the content of a
GenAI operation-details log event lands on its open span; nothing else changes, and a
failure is counted, never raised."""

from __future__ import annotations

from opentelemetry._logs import LogRecord
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import set_span_in_context

from otel_replay.capture.event_content import (
    CONTENT_EVENT,
    CONTENT_FROM_EVENT,
    EventContentProcessor,
)
from otel_replay.core import conventions as c

OUT = '[{"role":"assistant","parts":[{"type":"text","content":"hi"}]}]'


def _rig() -> tuple[TracerProvider, LoggerProvider, EventContentProcessor, InMemorySpanExporter]:
    proc = EventContentProcessor(meter_provider=NoOpMeterProvider(), max_open_spans=2)
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(proc)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    lp = LoggerProvider()
    lp.add_log_record_processor(proc)
    return tp, lp, proc, exporter


def _event(lp: LoggerProvider, span: object, name: str = CONTENT_EVENT, **attrs: str) -> None:
    lp.get_logger("genai").emit(
        LogRecord(
            event_name=name,
            context=set_span_in_context(span),  # type: ignore[arg-type]
            attributes=attrs,
        )
    )


def test_event_content_lands_on_its_span() -> None:
    tp, lp, proc, exporter = _rig()
    span = tp.get_tracer("t").start_span("chat m")
    _event(lp, span, **{c.GEN_AI_OUTPUT_MESSAGES: OUT, "other": "x"})
    span.end()
    (done,) = exporter.get_finished_spans()
    assert dict(done.attributes or {}) == {c.GEN_AI_OUTPUT_MESSAGES: OUT, CONTENT_FROM_EVENT: True}
    assert (proc.copied, proc.errors.count) == (1, 0)


def test_span_content_and_other_events_are_left_alone() -> None:
    tp, lp, proc, exporter = _rig()
    span = tp.get_tracer("t").start_span("chat m", attributes={c.GEN_AI_OUTPUT_MESSAGES: "[]"})
    _event(lp, span, **{c.GEN_AI_OUTPUT_MESSAGES: OUT})
    _event(lp, span, name="gen_ai.choice", **{c.GEN_AI_INPUT_MESSAGES: OUT})
    span.end()
    (done,) = exporter.get_finished_spans()
    assert dict(done.attributes or {}) == {c.GEN_AI_OUTPUT_MESSAGES: "[]"}
    assert (proc.copied, proc.errors.count) == (0, 0)


def test_event_for_a_span_that_is_not_open_is_counted() -> None:
    tp, lp, proc, exporter = _rig()
    t = tp.get_tracer("t")
    span = t.start_span("chat m")
    span.end()
    _event(lp, span, **{c.GEN_AI_OUTPUT_MESSAGES: OUT})
    assert (proc.copied, proc.errors.count) == (0, 1)
    # bounded: the oldest open span is forgotten first
    spans = [t.start_span(f"s{i}") for i in range(3)]
    _event(lp, spans[0], **{c.GEN_AI_OUTPUT_MESSAGES: OUT})
    _event(lp, spans[2], **{c.GEN_AI_OUTPUT_MESSAGES: OUT})
    assert (proc.copied, proc.errors.count) == (1, 2)
    for s in spans:
        s.end()
