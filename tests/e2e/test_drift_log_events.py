"""Drift log-based events and the run's ``gen_ai.evaluation.result`` event, emitted by the
real ``DriftProcessor`` through the real Logs SDK and OTLP exporters, reach the real Collector's
logs pipeline (file exporter: the records; collector-config.yaml: counted into Prometheus);
Phoenix (no OTLP logs receiver) shows the same findings and verdict as span events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from otel_replay.capture.checkpoint import SESSION_CLOCK, checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry

from . import backends
from . import telemetry as t
from .helpers import phoenix_spans, prom_query, wait_for
from .test_collector_file_export import CONFIG

pytestmark = pytest.mark.e2e


@dataclass
class Drifted:
    service: str
    trace_id: str
    tool_span_id: str
    root_span_id: str
    session_id: str


def _run(tracer, sid, status):
    with agent_run("support-agent", session_id=sid, tracer=tracer):
        cid = checkpoint({"order": "A-17"}, tracer=tracer)
        with tool_call("lookup_order", {"order": "A-17"}, tracer=tracer) as call:
            call.set_result({"status": status})
    return cid


def drifting_run(span_exporter: SpanExporter, logger_provider: LoggerProvider | None) -> Drifted:
    """A baseline run and a tracked re-run whose tool result changed (one finding)."""
    service = t.unique_service("otel-replay-logs")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    replay = ReplayProcessor()
    drift = DriftProcessor(
        SimpleSpanProcessor(span_exporter),
        registry=TrackingRegistry(),
        logger_provider=logger_provider,
    )
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    tracer = provider.get_tracer("e2e")
    clock = SESSION_CLOCK.snapshot()
    try:
        sid = f"cand-{service}"
        cid = _run(tracer, f"base-{service}", "shipped")
        drift.track(sid, replay.steps_after(cid), agent_name="support-agent")
        _run(tracer, sid, "lost")
        (finding,) = drift.reports[sid].findings
        assert finding.candidate is not None
    finally:
        provider.shutdown()
        SESSION_CLOCK.restore(clock)
    return Drifted(service, finding.candidate.trace_id, finding.candidate.span_id, "", sid)


class _Capturing(SpanExporter):
    """Forwards to a real OTLP exporter and remembers the root span id it sent."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.root_span_id = ""

    def export(self, spans):
        for s in spans:
            if s.parent is None and s.attributes.get(c.SESSION_ID, "").startswith("cand-"):
                self.root_span_id = format(s.context.span_id, "016x")
        return self.inner.export(spans)

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _emit(span_exporter: SpanExporter, log_endpoint: str | None) -> Drifted:
    lp = None
    if log_endpoint is not None:
        lp = LoggerProvider(resource=Resource.create({"service.name": "otel-replay-logs"}))
        lp.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=log_endpoint, insecure=True))
        )
    capturing = _Capturing(span_exporter)
    try:
        drifted = drifting_run(capturing, lp)
    finally:
        if lp is not None:
            lp.shutdown()
    drifted.root_span_id = capturing.root_span_id
    assert len(drifted.root_span_id) == 16
    return drifted


def _attrs(kvs: list[dict]) -> dict:
    out = {}
    for kv in kvs:
        (value,) = kv["value"].values()
        out[kv["key"]] = value
    return out


def _log_records(path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        if line.strip():
            for rl in json.loads(line)["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    records += sl["logRecords"]
    return records


def test_log_events_reach_the_collector_logs_pipeline(e2e_process_group, tmp_path):
    logs = tmp_path / "logs.jsonl"
    collector = backends.start_collector(
        e2e_process_group,
        "127.0.0.1:1",  # the file config exports nowhere else
        name="collector-logs",
        config=CONFIG,
        env={
            "OTEL_REPLAY_FILE_JSON": str(tmp_path / "traces.jsonl"),
            "OTEL_REPLAY_FILE_PROTO": str(tmp_path / "traces.binpb"),
            "OTEL_REPLAY_FILE_LOGS": str(logs),
        },
    )
    drifted = _emit(
        t.grpc_span_exporter(collector.otlp_grpc_endpoint), collector.otlp_grpc_endpoint
    )
    wait_for(lambda: len(_log_records(logs)) >= 2, 30, what="2 log records in the file")
    time.sleep(1.0)  # nothing more may arrive
    records = _log_records(logs)
    by_event = {}
    for r in records:
        by_event.setdefault(r.get("eventName"), []).append(r)
    # only the tracked re-run is compared: exactly one finding and one verdict
    assert sorted(by_event) == [c.DRIFT_EVENT, c.GEN_AI_EVALUATION_RESULT_EVENT]
    (finding,) = by_event[c.DRIFT_EVENT]
    assert (finding["traceId"], finding["spanId"]) == (drifted.trace_id, drifted.tool_span_id)
    fa = _attrs(finding["attributes"])
    assert (fa[c.DRIFT_KIND], fa[c.DRIFT_SEVERITY], fa[c.SESSION_ID]) == (
        "output_changed",
        "warning",  # a changed tool result is a warning (docs/drift.md)
        drifted.session_id,
    )
    assert finding["severityText"] == "WARNING"
    assert finding["body"] == {"stringValue": fa[c.DRIFT_DESCRIPTION]}
    (verdict,) = by_event[c.GEN_AI_EVALUATION_RESULT_EVENT]
    assert (verdict["traceId"], verdict["spanId"]) == (drifted.trace_id, drifted.root_span_id)
    va = _attrs(verdict["attributes"])
    assert va[c.GEN_AI_EVALUATION_NAME] == "agent_replay.drift"
    assert va[c.GEN_AI_EVALUATION_SCORE_LABEL] == "drift"
    assert va[c.GEN_AI_EVALUATION_SCORE_VALUE] == 0.0
    assert va[c.GEN_AI_EVALUATION_EXPLANATION].startswith("1 drift finding, max severity warning")
    collector.process.stop()


def test_collector_config_counts_drift_log_events_and_verdicts(collector, prometheus):
    drifted = _emit(
        t.grpc_span_exporter(collector.otlp_grpc_endpoint), collector.otlp_grpc_endpoint
    )
    job = "otel-replay-logs"  # the LoggerProvider's service.name
    q_logs = f'agent_replay_drift_log_events_total{{job="{job}"}}'
    q_eval = f'agent_replay_evaluation_results_total{{job="{job}"}}'

    def counted(promql, label):
        return {
            s["metric"].get(label, ""): float(s["value"][1])
            for s in prom_query(prometheus.url, promql)
        }

    got = wait_for(lambda: (v := counted(q_logs, "agent_replay_drift_kind")) and v, 45, what=q_logs)
    assert got == {"output_changed": 1.0}
    verdicts = wait_for(
        lambda: (v := counted(q_eval, "gen_ai_evaluation_score_label")) and v, 45, what=q_eval
    )
    assert verdicts == {"drift": 1.0}
    assert drifted.session_id.startswith("cand-")


def test_phoenix_shows_drift_and_verdict_span_events(phoenix):
    drifted = _emit(t.http_span_exporter(phoenix.otlp_http_traces_endpoint), None)
    data = wait_for(
        lambda: (s := phoenix_spans(phoenix.url, drifted.trace_id)) and len(s) >= 3 and s,
        60.0,
        what=f"trace {drifted.trace_id} in Phoenix",
    )
    by_id = {s["context"]["span_id"]: s for s in data}
    tool = by_id[drifted.tool_span_id]
    assert [e["name"] for e in tool["events"]] == [c.DRIFT_EVENT]
    assert tool["events"][0]["attributes"][c.DRIFT_KIND] == "output_changed"
    root = by_id[drifted.root_span_id]
    (verdict,) = [e for e in root["events"] if e["name"] == c.GEN_AI_EVALUATION_RESULT_EVENT]
    assert verdict["attributes"][c.GEN_AI_EVALUATION_NAME] == "agent_replay.drift"
    assert verdict["attributes"][c.GEN_AI_EVALUATION_SCORE_LABEL] == "drift"
    assert verdict["attributes"][c.GEN_AI_EVALUATION_SCORE_VALUE] == 0.0
