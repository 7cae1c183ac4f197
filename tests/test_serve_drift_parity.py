"""A restored run compared by ``otel-replay serve`` gives what a DriftProcessor in the agent's
own process gives: the same drift span events, log-based events and metric points, for the
same real SDK spans (a baseline with a checkpoint, a restored run that agrees with it, one
whose tool result changed)."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackedRun, TrackingRegistry
from otel_replay.serve.baselines import BaselineFinder, Provenance
from tests.otlp_sink import _value, attrs_of, wait_until
from tests.serve_producer import Agent
from tests.test_serve import healthz, post, serving

_METRICS = (c.METRIC_DRIFT_FINDINGS, c.METRIC_RUNS_COMPARED, c.METRIC_RUNS_CRITICAL)


def _recorded_runs() -> tuple[list[Any], list[Any], Any]:
    """SDK spans of a baseline run and of two runs restored from its checkpoint."""
    exporter = InMemorySpanExporter()
    agent = Agent(exporter)
    base = agent.baseline("base-1")
    agent.flush()
    baseline = list(exporter.get_finished_spans())
    exporter.clear()
    agent.restored(base, "same-1")
    agent.restored(base, "changed-1", status="lost")
    agent.shutdown()
    return baseline, list(exporter.get_finished_spans()), base


def _span_events(spans: list[Any]) -> list[tuple[str, str, str, int, dict[str, Any]]]:
    """(session, span id, event name, time, attributes) of the drift and verdict events."""
    names = {c.DRIFT_EVENT, c.DRIFT_SUMMARY_EVENT, c.GEN_AI_EVALUATION_RESULT_EVENT}
    return sorted(
        (attrs_of(s)[c.SESSION_ID], s.span_id.hex(), e.name, e.time_unix_nano, attrs_of(e))
        for s in spans
        for e in s.events
        if e.name in names
    )


def _pb_spans(request: Any) -> list[Any]:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def _logs(records: list[Any]) -> list[tuple[Any, ...]]:
    """(event name, span id, trace id, time, severity, body, attributes) of each log record."""
    return sorted(
        (
            lr.event_name,
            lr.span_id.hex(),
            lr.trace_id.hex(),
            lr.time_unix_nano,
            lr.severity_number,
            lr.severity_text,
            _value(lr.body),
            sorted(attrs_of(lr).items()),
        )
        for lr in records
    )


def _report(report: Any) -> tuple[Any, ...]:
    """A report without ids: its findings (kind, severity, description), sizes and notes."""
    return (
        [(f.kind.value, f.severity.value, f.description) for f in report.findings],
        report.baseline_steps,
        report.candidate_steps,
        report.notes,
    )


def _in_process(baseline_steps: list[Any], restored: list[Any], base: Any) -> dict[str, Any]:
    """The restored runs' spans through a DriftProcessor in this process."""
    spans_out = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    logs_out = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_out))
    registry = TrackingRegistry()
    drift = DriftProcessor(
        SimpleSpanProcessor(spans_out),
        registry=registry,
        meter_provider=MeterProvider(metric_readers=[reader]),
        logger_provider=logger_provider,
    )
    for session in ("same-1", "changed-1"):
        registry.register(
            TrackedRun(
                session_id=session,
                baseline=baseline_steps,
                checkpoint_id=base.checkpoint,
                source_session_id=base.session,
                source_trace_id=base.trace_id,
            )
        )
    for span in restored:
        drift.on_end(span)
    drift.shutdown()
    metrics: dict[tuple[str, tuple[Any, ...]], float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name in _METRICS:
                    for p in m.data.data_points:
                        metrics[(m.name, tuple(sorted(p.attributes.items())))] = p.value
    log_request = encode_logs(logs_out.get_finished_logs())
    return {
        "span_events": _span_events(_pb_spans(encode_spans(spans_out.get_finished_spans()))),
        "logs": _logs(
            [
                lr
                for rl in log_request.resource_logs
                for sl in rl.scope_logs
                for lr in sl.log_records
            ]
        ),
        "metrics": metrics,
        "reports": {s: _report(drift.reports[s]) for s in ("same-1", "changed-1")},
    }


def test_serve_and_an_in_process_drift_processor_give_the_same_drift_output(tmp_path):
    baseline, restored, base = _recorded_runs()
    with serving(tmp_path) as (service, sink):
        status, _h, _b = post(service.http_address, encode_spans(baseline).SerializeToString())
        assert status == 200
        status, _h, _b = post(service.http_address, encode_spans(restored).SerializeToString())
        assert status == 200
        wait_until(
            lambda: healthz(service)["counters"]["runs_compared"] == 2,
            what="both restored runs compared",
        )
        reports = {s: _report(service.engine.drift.reports[s]) for s in ("same-1", "changed-1")}
        service.stop()
        served: dict[str, Any] = {
            "span_events": _span_events([s for _res, s in sink.spans()]),
            "logs": _logs(sink.log_records()),
            "metrics": {
                (name, tuple(sorted(attrs.items()))): value
                for name in _METRICS
                for _res, attrs, value in sink.metric_points(name)
            },
            "reports": reports,
        }
        steps = BaselineFinder(str(tmp_path / "rec"), None, timeout=5).lookup(
            Provenance(session_id="same-1", checkpoint_id=base.checkpoint or "")
        )
    local = _in_process(steps, restored, base)
    assert served["reports"]["same-1"][0] == []
    assert [kind for kind, _sev, _text in served["reports"]["changed-1"][0]] == ["output_changed"]
    assert served == local
    verdicts = [
        (e[0], e[4][c.GEN_AI_EVALUATION_SCORE_LABEL])
        for e in served["span_events"]
        if e[2] == c.GEN_AI_EVALUATION_RESULT_EVENT
    ]
    assert verdicts == [("changed-1", "drift"), ("same-1", "no_drift")]
    assert [e[0] for e in served["span_events"] if e[2] == c.DRIFT_EVENT] == ["changed-1"]
    assert len(served["logs"]) == 3  # the finding and both verdicts
    assert (
        served["metrics"][(c.METRIC_RUNS_COMPARED, ((c.GEN_AI_AGENT_NAME, "support-agent"),))] == 2
    )


def test_the_worker_adds_the_drift_counts_of_a_request_at_once(tmp_path):
    from otel_replay.formats.files import write_recording
    from otel_replay.serve.drift import ServeDrift

    baseline, restored, base = _recorded_runs()
    write_recording(str(tmp_path / "base.jsonl"), baseline)
    steps = BaselineFinder(str(tmp_path), None, timeout=5).lookup(
        Provenance(session_id="same-1", checkpoint_id=base.checkpoint or "")
    )
    reader = InMemoryMetricReader()
    finished: list[str] = []
    registry = TrackingRegistry()
    drift = ServeDrift(
        SimpleSpanProcessor(InMemorySpanExporter()),
        registry=registry,
        meter_provider=MeterProvider(metric_readers=[reader]),
        log_events=False,
        on_finished=finished.append,
    )
    for session in ("same-1", "changed-1"):
        registry.register(TrackedRun(session_id=session, baseline=steps))

    def totals() -> dict[tuple[str, tuple[Any, ...]], Any]:
        data = reader.get_metrics_data()
        return {
            (m.name, tuple(sorted(p.attributes.items()))): p.value
            for rm in (data.resource_metrics if data else ())
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name in _METRICS
            for p in m.data.data_points
        }

    for span in restored:
        drift.on_end(span)
    assert sorted(finished) == ["changed-1", "same-1"]
    assert totals() == {}  # not added yet
    drift.flush_counts()
    agent = ((c.GEN_AI_AGENT_NAME, "support-agent"),)
    added = totals()
    assert added[(c.METRIC_RUNS_COMPARED, agent)] == 2
    assert sum(v for (name, _a), v in added.items() if name == c.METRIC_DRIFT_FINDINGS) == 1
    drift.flush_counts()  # nothing pending: the totals stay
    assert totals() == added
    drift.shutdown()
