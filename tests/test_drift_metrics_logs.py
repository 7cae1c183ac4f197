"""Drift metrics through a real Prometheus reader, and drift log events through the Logs SDK."""

from __future__ import annotations

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, decision, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry

pytest.importorskip("opentelemetry.exporter.prometheus")  # the prometheus extra

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import generate_latest
from prometheus_client.core import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.parser import text_string_to_metric_families


def _run(tracer, sid, tool, confidence):
    with agent_run("agent", session_id=sid, tracer=tracer):
        cid = checkpoint({}, tracer=tracer)
        with tool_call(tool, {"q": 1}, tracer=tracer) as tc:
            tc.set_result("r")
        with decision("d", action="go", confidence=confidence, tracer=tracer):
            pass
    return cid


def test_prometheus_reader_exposes_documented_names_and_logs_carry_findings():
    # The reader registers its collector in prometheus_client's global registry;
    # MeterProvider.shutdown() below unregisters it again.
    reader = PrometheusMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    provider = TracerProvider()
    replay = ReplayProcessor(meter_provider=mp)
    drift = DriftProcessor(
        SimpleSpanProcessor(InMemorySpanExporter()),
        registry=TrackingRegistry(),
        meter_provider=mp,
        log_events=True,
        logger_provider=logger_provider,
    )
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    tracer = provider.get_tracer("t")
    try:
        cid = _run(tracer, "base", "search", 0.9)
        drift.track("cand", replay.steps_after(cid), agent_name="agent")
        _run(tracer, "cand", "lookup", 0.2)
        text = generate_latest(DEFAULT_REGISTRY).decode()
    finally:
        provider.shutdown()
        mp.shutdown()
        logger_provider.shutdown()
    samples = {
        (
            smp.name,
            tuple(sorted((k, v) for k, v in smp.labels.items() if not k.startswith("otel_scope_"))),
        ): smp.value
        for fam in text_string_to_metric_families(text)
        for smp in fam.samples
        if smp.name.startswith("agent_replay_")
    }
    findings = {k: v for k, v in samples.items() if k[0] == "agent_replay_drift_findings_total"}
    kind, sev, agent = "agent_replay_drift_kind", "agent_replay_drift_severity", "gen_ai_agent_name"
    assert findings == {
        (
            "agent_replay_drift_findings_total",
            ((kind, "tool_changed"), (sev, "warning"), (agent, "agent")),
        ): 1.0,
        (
            "agent_replay_drift_findings_total",
            ((kind, "confidence_changed"), (sev, "critical"), (agent, "agent")),
        ): 1.0,
    }
    assert samples[("agent_replay_drift_runs_total", ((agent, "agent"),))] == 1.0
    assert samples[("agent_replay_drift_critical_runs_total", ((agent, "agent"),))] == 1.0
    assert samples[("agent_replay_buffer_steps", ())] == 8.0
    assert samples[("agent_replay_buffer_sessions", ())] == 2.0
    assert ("agent_replay_buffer_size_bytes", ()) in samples
    logs = [r.log_record for r in log_exporter.get_finished_logs()]
    drift_logs = [lr for lr in logs if lr.event_name == c.DRIFT_EVENT]
    assert sorted(lr.attributes[c.DRIFT_KIND] for lr in drift_logs) == [
        "confidence_changed",
        "tool_changed",
    ]
    assert [lr.event_name for lr in logs].count(c.GEN_AI_EVALUATION_RESULT_EVENT) == 1
    assert len(logs) == 3
    assert {lr.attributes[c.GEN_AI_AGENT_NAME] for lr in logs} == {"agent"}
