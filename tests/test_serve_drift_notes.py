"""``otel-replay serve``'s DriftProcessor keeps the content notes of a baseline with its
profile: runs that agree with the baseline get the notes an in-process DriftProcessor gives
them, run after run, and the drift events on their roots are exported as bytes."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry
from otel_replay.serve.drift import ServeDrift
from otel_replay.serve.event_bytes import EventEncoder
from otel_replay.serve.split import RECEIVED


class _Kept(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def _chat(tracer: Any, output: str | None) -> None:
    attrs: dict[str, Any] = {c.GEN_AI_OPERATION_NAME: "chat", c.GEN_AI_REQUEST_MODEL: "m"}
    if output is not None:
        attrs[c.GEN_AI_OUTPUT_MESSAGES] = output
    with tracer.start_as_current_span("chat m", attributes=attrs):
        pass


def _runs() -> tuple[list[Any], list[ReadableSpan]]:
    """The steps of a baseline (one LLM step without its messages, one with) and the spans of
    three runs that agree with it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    replay = ReplayProcessor()
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")

    def run(sid: str) -> str:
        with agent_run("agent", session_id=sid, tracer=tracer):
            cid = checkpoint({"q": 1}, tracer=tracer)
            _chat(tracer, None)
            _chat(tracer, '[{"role":"assistant"}]')
        return cid

    cid = run("base")
    steps = replay.steps_after(cid)
    exporter.clear()
    for sid in ("a", "b", "c"):
        run(sid)
    provider.shutdown()
    return steps, list(exporter.get_finished_spans())


def _compare(drift: DriftProcessor, steps: list[Any], spans: list[ReadableSpan]) -> None:
    for sid in ("a", "b", "c"):
        drift.track(sid, steps)
    for s in spans:
        drift.on_end(s)


def test_agreeing_runs_get_the_baselines_content_notes_in_serve_as_in_process():
    steps, spans = _runs()
    local = DriftProcessor(_Kept(), registry=TrackingRegistry(), log_events=False)
    _compare(local, steps, spans)
    for s in spans:
        setattr(s, RECEIVED, (None, b"span"))
    kept = _Kept()
    served = ServeDrift(
        kept, registry=TrackingRegistry(), log_events=False, on_finished=lambda sid: None
    )
    _compare(served, steps, spans)
    notes = [served.reports[sid].notes for sid in ("a", "b", "c")]
    assert notes == [local.reports[sid].notes for sid in ("a", "b", "c")]
    assert notes[0] == [
        "message content was not captured on 2 of 4 LLM steps (baseline 1, candidate 1): "
        "their messages were not compared; enable content capture in the instrumentation "
        "to compare them"
    ]
    assert [served.reports[sid].findings for sid in ("a", "b", "c")] == [[], [], []]
    roots = [s for s in kept.spans if s.name == "invoke_agent agent"]
    assert [len(r.events) for r in roots] == [2, 2, 2]
    assert [e.name for e in roots[0].events] == [
        c.DRIFT_SUMMARY_EVENT,
        c.GEN_AI_EVALUATION_RESULT_EVENT,
    ]
    for r in roots:
        assert getattr(r, RECEIVED) == (None, b"span" + EventEncoder().encode(r.events))
