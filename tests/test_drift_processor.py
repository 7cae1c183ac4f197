from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, decision, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry


@pytest.fixture
def rig():
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    replay = ReplayProcessor(meter_provider=mp)
    exporter = InMemorySpanExporter()
    registry = TrackingRegistry()
    # These runs take microseconds: a pause of the (shared) machine must not read as a latency
    # regression, so only a change of a minute counts here.
    policy = DriftPolicy(min_latency_ns=60 * 10**9)
    drift = DriftProcessor(
        SimpleSpanProcessor(exporter), registry=registry, meter_provider=mp, policy=policy
    )
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    yield provider.get_tracer("t"), replay, drift, exporter, reader
    provider.shutdown()
    mp.shutdown()


def _agent(tracer, sid, tools, confidence=0.9):
    with agent_run("agent", session_id=sid, tracer=tracer):
        cid = checkpoint({"q": "x"}, label="start", tracer=tracer)
        for name, args, result in tools:
            with tool_call(name, args, tracer=tracer) as tc:
                tc.set_result(result)
        with decision("finish", action="answer", confidence=confidence, tracer=tracer):
            pass
    return cid


BASE = [("search", {"q": "a"}, ["d1"]), ("fetch", {"id": "d1"}, "text"), ("summarize", {}, "s")]


def _metric(reader, name):
    out = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        out[tuple(sorted(p.attributes.items()))] = p.value
    return out


def test_inserted_step_gets_exactly_one_event_and_summary_on_root(rig):
    tracer, replay, drift, exporter, reader = rig
    cid = _agent(tracer, "base", BASE)
    baseline = replay.steps_after(cid)
    drift.track("cand", baseline, agent_name="agent")
    inserted = [BASE[0], ("lookup", {"k": 1}, "v"), BASE[1], BASE[2]]
    _agent(tracer, "cand", inserted)
    spans = [s for s in exporter.get_finished_spans() if s.attributes[c.SESSION_ID] == "cand"]
    with_events = {s.name: [e for e in s.events if e.name == c.DRIFT_EVENT] for s in spans}
    assert {n: len(evs) for n, evs in with_events.items() if evs} == {"execute_tool lookup": 1}
    (event,) = with_events["execute_tool lookup"]
    lookup = next(s for s in spans if s.name == "execute_tool lookup")
    assert dict(event.attributes) == {
        c.DRIFT_KIND: "unexpected_step",
        c.DRIFT_SEVERITY: "warning",
        c.DRIFT_DESCRIPTION: event.attributes[c.DRIFT_DESCRIPTION],
        c.DRIFT_EXPECTED: "null",
        c.DRIFT_ACTUAL: event.attributes[c.DRIFT_ACTUAL],
        c.DRIFT_POSITION: 1,
        c.DRIFT_CANDIDATE_SPAN_ID: format(lookup.context.span_id, "016x"),
        c.DRIFT_CANDIDATE_SEQUENCE: lookup.attributes[c.STEP_SEQUENCE],
    }
    assert "lookup" in event.attributes[c.DRIFT_DESCRIPTION]
    root = next(s for s in spans if s.parent is None)
    (summary,) = [e for e in root.events if e.name == c.DRIFT_SUMMARY_EVENT]
    assert summary.attributes[c.DRIFT_HAS_DRIFT] is True
    assert summary.attributes[c.DRIFT_FINDINGS_TOTAL] == 1
    assert summary.attributes[c.DRIFT_WARNING_TOTAL] == 1
    assert summary.attributes[c.DRIFT_CRITICAL_TOTAL] == 0
    assert json.loads(summary.attributes[c.DRIFT_FIRST_DIVERGENCE])["position"] == 1
    assert _metric(reader, c.METRIC_DRIFT_FINDINGS) == {
        (
            (c.ATTR_KIND, "unexpected_step"),
            (c.ATTR_SEVERITY, "warning"),
            (c.GEN_AI_AGENT_NAME, "agent"),
        ): 1
    }
    assert _metric(reader, c.METRIC_RUNS_COMPARED) == {((c.GEN_AI_AGENT_NAME, "agent"),): 1}
    assert _metric(reader, c.METRIC_RUNS_CRITICAL) == {}
    assert drift.reports["cand"].counts_by_kind == {"unexpected_step": 1}


def test_missing_step_goes_on_root_and_critical_decision_counts(rig):
    tracer, replay, drift, exporter, reader = rig
    cid = _agent(tracer, "base", BASE, confidence=0.9)
    drift.track("cand", replay.steps_after(cid))
    _agent(tracer, "cand", [BASE[0], BASE[2]], confidence=0.3)
    spans = [s for s in exporter.get_finished_spans() if s.attributes[c.SESSION_ID] == "cand"]
    root = next(s for s in spans if s.parent is None)
    kinds_on_root = [e.attributes[c.DRIFT_KIND] for e in root.events if e.name == c.DRIFT_EVENT]
    assert kinds_on_root == ["missing_step"]
    dec = next(s for s in spans if s.name == "decision finish")
    assert [(e.attributes[c.DRIFT_KIND], e.attributes[c.DRIFT_SEVERITY]) for e in dec.events] == [
        ("confidence_changed", "critical")
    ]
    assert _metric(reader, c.METRIC_RUNS_CRITICAL) == {((c.GEN_AI_AGENT_NAME, "agent"),): 1}


def test_identical_run_has_summary_without_drift_and_untracked_pass_through(rig):
    tracer, replay, drift, exporter, reader = rig
    cid = _agent(tracer, "base", BASE)
    base_spans = list(exporter.get_finished_spans())
    assert all(len(s.events) == 0 for s in base_spans)  # untracked: untouched objects
    drift.track("cand", replay.steps_after(cid))
    _agent(tracer, "cand", BASE)
    spans = [s for s in exporter.get_finished_spans() if s.attributes[c.SESSION_ID] == "cand"]
    events = [(s.name, e.name) for s in spans for e in s.events]
    assert events == [
        ("invoke_agent agent", c.DRIFT_SUMMARY_EVENT),
        ("invoke_agent agent", c.GEN_AI_EVALUATION_RESULT_EVENT),
    ]
    root = next(s for s in spans if s.parent is None)
    assert root.events[0].attributes[c.DRIFT_HAS_DRIFT] is False
    verdict = dict(root.events[1].attributes)
    assert verdict[c.GEN_AI_EVALUATION_SCORE_LABEL] == c.EVALUATION_LABEL_NO_DRIFT
    assert verdict[c.GEN_AI_EVALUATION_SCORE_VALUE] == 1.0
    assert drift.reports["cand"].findings == []


def test_downstream_failure_is_reported_not_raised(rig, caplog):
    tracer, replay, drift, exporter, reader = rig

    class Broken(SimpleSpanProcessor):
        def on_end(self, span):
            raise RuntimeError("exporter pipeline down")

    drift._downstream = (Broken(InMemorySpanExporter()),)
    _agent(tracer, "x", BASE[:1])
    assert drift.errors.count == 4
    assert sum("exporter pipeline down" in r.getMessage() for r in caplog.records) == 1


def test_foreign_invoke_agent_root_is_not_a_drift_step(rig):
    """A root span from another instrumentation (gen_ai.operation.name=invoke_agent, without
    our step kind) is the run itself, not an unexpected step."""
    tracer, replay, drift, exporter, reader = rig
    cid = _agent(tracer, "base", BASE)
    drift.track("foreign", replay.steps_after(cid))
    with tracer.start_as_current_span(
        "invoke_agent other",
        attributes={c.GEN_AI_OPERATION_NAME: "invoke_agent", c.GEN_AI_CONVERSATION_ID: "foreign"},
    ):
        checkpoint({"q": "x"}, label="start", tracer=tracer)
        for name, args, result in BASE:
            with tool_call(name, args, tracer=tracer) as tc:
                tc.set_result(result)
        with decision("finish", action="answer", confidence=0.9, tracer=tracer):
            pass
    assert drift.reports["foreign"].findings == []
