"""Span normalization reads SDK spans through their instance fields on the hot path; these
tests pin that shortcut to the public ``ReadableSpan`` API, so an SDK change that moves
those fields fails here instead of silently changing steps."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_replay.core import conventions as c
from otel_replay.model.steps import _parts, _public_parts, normalize_span


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


def test_fast_parts_equal_the_public_api() -> None:
    spans = _spans()
    assert [type(s) for s in spans] == [ReadableSpan] * 3
    for span in spans:
        fast = _parts(span)
        public = _public_parts(span)
        assert fast == public
        assert fast[0] is public[0]  # the span's own attribute dict, not a copy
    assert [p[5] for p in map(_parts, spans)] == [
        StatusCode.ERROR.value,
        StatusCode.OK.value,
        StatusCode.UNSET.value,
    ]
    assert [p[3] is None for p in map(_parts, spans)] == [False, False, True]


def test_lazy_and_eager_steps_are_equal() -> None:
    for span in _spans():
        assert normalize_span(span, "s", lazy=True) == normalize_span(span, "s")
