"""The metric tables of docs/pipelines.md and docs/semantic-conventions.md list exactly the
``agent_replay.*`` metrics a real run exports (every condition that emits one is triggered)."""

from __future__ import annotations

import re
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_replay import (
    DriftProcessor,
    RecordingExporter,
    ReplayProcessor,
    agent_run,
    checkpoint,
    decision,
    restore,
    tool_call,
    traced_tool,
)
from otel_replay.capture.redaction import RedactionProcessor
from otel_replay.core import conventions as c
from otel_replay.formats.files import write_recording
from tests.conftest import points_by_attributes

ROOT = Path(__file__).resolve().parent.parent


def _pipelines_table() -> set[str]:
    text = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(agent_replay\.[\w.]+)` \(", text, re.MULTILINE))


def _conventions_table() -> set[str]:
    text = (ROOT / "docs" / "semantic-conventions.md").read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(agent_replay\.[\w.]+)` \| (?!sum)", section, re.MULTILINE))


def _run_everything(tmp_path: Path) -> InMemoryMetricReader:
    """A checkpointed run, its tracked and drifting re-execution, a redacted secret, buffer
    evictions and an exporter failure, through the real SDK."""
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    replay = ReplayProcessor(max_steps=64, meter_provider=mp)
    recorder = RecordingExporter(tmp_path / "rec.jsonl", meter_provider=mp)
    drift = DriftProcessor(SimpleSpanProcessor(recorder), meter_provider=mp)
    provider.add_span_processor(RedactionProcessor(meter_provider=mp))
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    tracer = provider.get_tracer("t")

    @traced_tool("lookup_order", tracer=tracer)
    def lookup_order(order: str, api_key: str) -> str:
        return "shipped"

    def agent(action: str) -> None:
        lookup_order("A-17", api_key="sk-proj-0123456789abcdefghijklmnopqrstuv")
        with decision("next", action=action, tracer=tracer):
            pass

    try:
        with agent_run("support", session_id="ticket-42", tracer=tracer):
            cid = checkpoint({"order": "A-17"}, label="planned", tracer=tracer)
            agent("refund")
        result = restore(cid, source=replay, track_drift=True, tracer=tracer)
        with result.run("support"), result.reexecute("hybrid", meter_provider=mp):
            agent("escalate")  # a changed decision: critical drift
        assert [f.kind.value for f in result.report.findings] == ["decision_changed"]
        with agent_run("busy", session_id="busy", tracer=tracer):  # evicts from the buffer
            checkpoint({}, label="start", tracer=tracer)
            for i in range(70):
                with tool_call("poll", {"i": i}, tracer=tracer):
                    pass
        recorder.shutdown()
        with tracer.start_as_current_span("after shutdown"):  # an exporter failure
            pass
        assert points_by_attributes(reader, c.METRIC_RUNS_CRITICAL) == {
            ((c.GEN_AI_AGENT_NAME, "support"),): 1
        }
        assert points_by_attributes(reader, c.METRIC_PROCESSOR_ERRORS) == {
            ((c.ATTR_COMPONENT, "recording_exporter"), (c.ATTR_ERROR_TYPE, "shutdown")): 1
        }
        evictions = points_by_attributes(reader, c.METRIC_BUFFER_EVICTIONS)
        assert evictions[((c.ATTR_REASON, "max_steps"),)] > 0
    finally:
        provider.shutdown()
    return reader


def _exported(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    return {
        m.name
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name.startswith("agent_replay.")
    }


def _serve_everything(tmp_path: Path) -> InMemoryMetricReader:
    """An ``otel-replay serve`` engine fed by the SDK's OTLP encoder: a plain run exported,
    a restored run compared after the run timeout, one without a baseline, one refused when
    full, one request that cannot be read, spans a downstream refuses."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay.serve.baselines import BaselineFinder
    from otel_replay.serve.decode import parse_request
    from otel_replay.serve.engine import Engine, Limits
    from otel_replay.serve.otlp_out import OtlpTraceSender
    from tests.otlp_sink import otlp_sink, wait_until
    from tests.serve_producer import Agent

    memory = InMemorySpanExporter()
    agent = Agent(memory)
    base = agent.baseline("base")
    agent.restored(base, "open", end_root=False)
    agent.restored(base, "full")
    agent.restored(type(base)("x", "f" * 32, "0" * 32, {}), "orphan")
    agent.flush()
    spans = memory.get_finished_spans()
    write_recording(
        tmp_path / "base.jsonl",
        [s for s in spans if s.attributes["agent_replay.session.id"] == "base"],
    )

    def body(session: str) -> bytes:
        return encode_spans(
            [s for s in spans if s.attributes["agent_replay.session.id"] == session]
        ).SerializeToString()

    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    with otlp_sink() as sink:
        engine = Engine(
            OtlpTraceSender("http", f"{sink.url}/v1/traces"),
            worker_id="w",
            baselines=BaselineFinder(tmp_path),
            limits=Limits(max_held_runs=1, run_timeout=3600),
            meter_provider=mp,
        )
        try:

            def admit(session: str) -> bool:
                return engine.admit(parse_request(body(session))[0], body(session)).accepted

            assert admit("base") and admit("orphan")
            wait_until(lambda: engine.counts["runs_not_compared"] == 1, what="the orphan run")
            assert admit("open")
            wait_until(lambda: engine.drift.holds("open"), what="the open run held")
            assert not admit("full")  # one held run is the limit
            engine.reject("invalid")
            assert engine.expire(float("inf")) == 1
        finally:
            engine.close(10)
    assert engine.refused == {"full": 3}
    # a downstream that refuses the connection: the spans are dropped (export_failed)
    lost = Engine(
        OtlpTraceSender("http", "http://127.0.0.1:1/v1/traces", timeout=0.2),
        worker_id="w",
        meter_provider=mp,
    )
    try:
        assert lost.admit(parse_request(body("base"))[0], body("base")).accepted
    finally:
        lost.close(5)
    assert lost.dropped == {"export_failed": 4}
    return reader


def test_documented_metrics_are_exactly_the_exported_ones(tmp_path):
    exported = _exported(_run_everything(tmp_path)) | _exported(_serve_everything(tmp_path))
    assert len(exported) == 18
    assert _pipelines_table() == exported
    assert _conventions_table() == exported


def test_the_retired_spans_metric_is_not_documented():
    assert not hasattr(c, "METRIC_SPANS_PROCESSED")
    for doc in ("pipelines.md", "semantic-conventions.md"):
        assert "agent_replay.processor.spans" not in (ROOT / "docs" / doc).read_text()
