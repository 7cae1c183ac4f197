"""The ``ReplayProcessor`` notes the call a span runs inside when the trace does not show it
(``agent_replay.step.enclosing_span_id``, :mod:`otel_replay.capture.nesting`), only when
that is certain."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c

OI = "openinference.instrumentation.langchain"


@pytest.fixture()
def rig() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def _noted(span: ReadableSpan) -> object:
    return (span.attributes or {}).get(c.STEP_ENCLOSING_SPAN_ID)


def test_parentless_span_inside_a_not_current_span_is_noted_in_its_session(
    rig: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = rig
    ours = provider.get_tracer("tests")
    tool = provider.get_tracer(OI).start_span("tool", attributes={c.SESSION_ID: "s1"})
    inner = ours.start_span("inner", context=Context())  # no parent: a trace of its own
    with trace.use_span(inner, end_on_exit=True):
        ours.start_span("child").end()
    tool.end()
    spans = _by_name(exporter)
    assert _noted(spans["inner"]) == format(tool.get_span_context().span_id, "016x")
    assert _noted(spans["child"]) is None  # its parent shows where it ran
    assert [(spans[n].attributes or {})[c.SESSION_ID] for n in ("inner", "child")] == [
        "s1",
        "s1",
    ]


def test_child_of_a_call_further_out_inside_a_not_current_span_is_noted(
    rig: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = rig
    ours = provider.get_tracer("tests")
    with ours.start_as_current_span("root") as root:
        tool = provider.get_tracer(OI).start_span("tool")  # a child of root, not current
        ours.start_span("inner").end()  # its parent is root, the current span
        # the instrumentation's own spans name their parent themselves
        provider.get_tracer(OI).start_span("sibling").end()
        tool.end()
    spans = _by_name(exporter)
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == root.get_span_context().span_id
    assert _noted(spans["inner"]) == format(tool.get_span_context().span_id, "016x")
    assert _noted(spans["sibling"]) is None
    assert _noted(spans["tool"]) is None


def test_nothing_is_noted_when_unsure(rig: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    """A new trace started on purpose under a current span, and a span started on another
    thread while a not-current span is open: nothing noted."""
    provider, exporter = rig
    ours = provider.get_tracer("tests")
    with ours.start_as_current_span("root"):
        ours.start_span("new_trace", context=Context()).end()
    tool = provider.get_tracer(OI).start_span("tool")
    worker = threading.Thread(target=lambda: ours.start_span("elsewhere", context=Context()).end())
    worker.start()
    worker.join()
    tool.end()
    ours.start_span("after", context=Context()).end()  # the tool span has ended
    spans = _by_name(exporter)
    assert [n for n, s in spans.items() if _noted(s) is not None] == []


def test_spans_beyond_the_open_bound_are_not_tracked_and_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_replay.capture import nesting

    monkeypatch.setattr(nesting, "MAX_OPEN", 2)
    provider = TracerProvider()
    processor = ReplayProcessor()
    provider.add_span_processor(processor)
    oi = provider.get_tracer(OI)
    with caplog.at_level("ERROR", logger="otel_replay"):
        spans = [oi.start_span(f"tool{i}") for i in range(4)]
    assert len(processor._nesting.open) == 2
    assert processor.errors.count == 2  # every span not tracked is counted
    logged = [r for r in caplog.records if "spans are open" in r.getMessage()]
    assert [r.getMessage().split(": ", 2)[1] for r in logged] == ["OverflowError"]
    for span in spans:
        span.end()
    assert processor._nesting.open == {}
    provider.shutdown()
