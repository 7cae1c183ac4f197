"""(c) SDK metrics and the count-connector metric, as Prometheus names them.

Names produced by the collector's prometheus exporter (v0.161.0,
translation_strategy UnderscoreEscapingWithSuffixes), scraped by Prometheus:

  agent_replay.drift.findings      {finding}  counter  -> agent_replay_drift_findings_total
  agent_replay.drift.runs          {run}      counter  -> agent_replay_drift_runs_total
  agent_replay.drift.critical_runs {run}      counter  -> agent_replay_drift_critical_runs_total
  agent_replay.replay.steps        {step}     counter  -> agent_replay_replay_steps_total
  agent_replay.buffer.steps        {step}     updown   -> agent_replay_buffer_steps
  agent_replay.buffer.size         By         updown   -> agent_replay_buffer_size_bytes
  agent_replay.buffer.sessions     {session}  updown   -> agent_replay_buffer_sessions
  agent_replay.buffer.evictions    {step}     counter  -> agent_replay_buffer_evictions_total
  agent_replay.processor.errors    {error}    counter  -> agent_replay_processor_errors_total
  agent_replay.drift.span_events   (count connector)   -> agent_replay_drift_span_events_total

``{...}`` annotation units add no suffix; ``By`` becomes ``_bytes``; monotonic sums get
``_total``; dots in names and attribute keys become ``_``; service.name -> ``job``.
"""

from __future__ import annotations

import pytest

from . import telemetry as t
from .helpers import get_json, prom_query, wait_for

pytestmark = pytest.mark.e2e

TIMEOUT = 45.0


def _values(prom_url: str, promql: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prom_query(prom_url, promql)}


def _wait_values(prom_url: str, promql: str, label: str, expected: dict[str, float]):
    def probe():
        got = _values(prom_url, promql, label)
        return got if got == expected else None

    try:
        return wait_for(probe, TIMEOUT, what=f"{promql} == {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last value: {_values(prom_url, promql, label)}") from None


@pytest.fixture(scope="module")
def emitted(collector, prometheus):
    telemetry = t.emit_all(collector.otlp_grpc_endpoint)
    try:
        yield telemetry
    finally:
        telemetry.close()


def test_drift_findings_counter(prometheus, emitted):
    job = emitted.service
    series = wait_for(
        lambda: prom_query(prometheus.url, f'agent_replay_drift_findings_total{{job="{job}"}}'),
        TIMEOUT,
        what="agent_replay_drift_findings_total",
    )
    got = {
        (s["metric"]["agent_replay_drift_kind"], s["metric"]["agent_replay_drift_severity"]): (
            s["metric"]["gen_ai_agent_name"],
            float(s["value"][1]),
        )
        for s in series
    }
    assert got == {key: (t.AGENT, float(n)) for key, n in t.FINDINGS.items()}
    labels = series[0]["metric"]
    assert labels["otel_scope_name"] == t.SCOPE
    assert labels["job"] == job


def test_run_counters(prometheus, emitted):
    job = emitted.service
    _wait_values(
        prometheus.url,
        f'agent_replay_drift_runs_total{{job="{job}"}}',
        "gen_ai_agent_name",
        {t.AGENT: t.RUNS},
    )
    _wait_values(
        prometheus.url,
        f'agent_replay_drift_critical_runs_total{{job="{job}"}}',
        "gen_ai_agent_name",
        {t.AGENT: t.CRITICAL_RUNS},
    )


def test_replay_step_outcomes(prometheus, emitted):
    _wait_values(
        prometheus.url,
        f'agent_replay_replay_steps_total{{job="{emitted.service}"}}',
        "agent_replay_replay_outcome",
        {k: float(v) for k, v in t.REPLAY_STEPS.items()},
    )


def test_buffer_gauges_and_evictions(prometheus, emitted):
    job = emitted.service
    for name, value in [
        ("agent_replay_buffer_steps", t.BUFFER_STEPS),
        ("agent_replay_buffer_size_bytes", t.BUFFER_BYTES),
        ("agent_replay_buffer_sessions", t.BUFFER_SESSIONS),
    ]:
        _wait_values(prometheus.url, f'{name}{{job="{job}"}}', "job", {job: float(value)})
    _wait_values(
        prometheus.url,
        f'agent_replay_buffer_evictions_total{{job="{job}"}}',
        "agent_replay_eviction_reason",
        {k: float(v) for k, v in t.EVICTIONS.items()},
    )


def test_processor_errors(prometheus, emitted):
    _wait_values(
        prometheus.url,
        f'agent_replay_processor_errors_total{{job="{emitted.service}"}}',
        "agent_replay_component",
        {k: float(v) for k, v in t.PROCESSOR_ERRORS.items()},
    )


def test_count_connector_drift_span_events(collector, prometheus, emitted):
    promql = f'agent_replay_drift_span_events_total{{job="{emitted.service}"}}'
    series = wait_for(lambda: prom_query(prometheus.url, promql), TIMEOUT, what=promql)
    got = {
        (s["metric"]["agent_replay_drift_kind"], s["metric"]["agent_replay_drift_severity"]): float(
            s["value"][1]
        )
        for s in series
    }
    assert got == {(t.DRIFT_KIND, t.DRIFT_SEVERITY): 1.0}
    assert series[0]["metric"]["otel_scope_name"].endswith("/connector/countconnector")

    # a later drift event from the same service adds up (the connector emits deltas; the
    # collector config turns them into a running total)
    provider = t.tracer_provider(
        emitted.service, t.grpc_span_exporter(collector.otlp_grpc_endpoint)
    )
    try:
        t.emit_drifting_trace(provider)
    finally:
        provider.shutdown()
    _wait_values(prometheus.url, promql, "agent_replay_drift_kind", {t.DRIFT_KIND: 2.0})


def test_findings_exemplar_carries_drifting_trace_id(prometheus, emitted):
    """Findings are recorded inside the drifting span, so the counter carries an exemplar with
    its trace id (OpenMetrics exposition + Prometheus exemplar storage) -> Grafana links it
    to Jaeger without a trace-id label."""

    def probe():
        body = get_json(
            f"{prometheus.url}/api/v1/query_exemplars",
            {
                "query": f'agent_replay_drift_findings_total{{job="{emitted.service}"}}',
                "start": "0",
                "end": "9999999999",
            },
        )
        return {
            ex["labels"].get("trace_id")
            for series in body["data"]
            for ex in series.get("exemplars", [])
        }

    trace_ids = wait_for(probe, TIMEOUT, what="exemplars on agent_replay_drift_findings_total")
    assert trace_ids == {emitted.drifting.trace_id}
