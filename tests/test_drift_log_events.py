"""Drift as log-based events (Logs API) correlated with the drifting spans, and each run's
verdict as a ``gen_ai.evaluation.result`` event, through the real Logs SDK."""

from __future__ import annotations

import pytest
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry
from tests.otel_globals import fresh_otel_globals

BASE = [("search", "a"), ("fetch", "b"), ("summarize", "c")]


def _run(tracer, sid, tools):
    with agent_run("agent", session_id=sid, tracer=tracer):
        cid = checkpoint({"q": 1}, tracer=tracer)
        for name, result in tools:
            with tool_call(name, {"q": 1}, tracer=tracer) as tc:
                tc.set_result(result)
    return cid


def _rig(**drift_kwargs):
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    replay = ReplayProcessor()
    drift = DriftProcessor(SimpleSpanProcessor(spans), registry=TrackingRegistry(), **drift_kwargs)
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    return provider, provider.get_tracer("t"), replay, drift, spans


def _logger_provider():
    logs = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    return lp, logs


def test_findings_are_log_events_on_the_drifting_span_and_verdict_on_the_root():
    lp, logs = _logger_provider()
    provider, tracer, replay, drift, spans = _rig(logger_provider=lp)
    cid = _run(tracer, "base", BASE)
    drift.track("cand", replay.steps_after(cid), agent_name="agent")
    _run(tracer, "cand", [BASE[0], ("fetch", "CHANGED")])  # one changed, one missing
    by_name = {
        s.name: s for s in spans.get_finished_spans() if s.attributes[c.SESSION_ID] == "cand"
    }
    records = [r.log_record for r in logs.get_finished_logs()]
    got = sorted(
        (r.event_name, r.attributes.get(c.DRIFT_KIND), r.span_id, r.trace_id) for r in records
    )
    fetch, root = by_name["execute_tool fetch"].context, by_name["invoke_agent agent"].context
    assert got == sorted(
        [
            (c.DRIFT_EVENT, "output_changed", fetch.span_id, fetch.trace_id),
            (c.DRIFT_EVENT, "missing_step", root.span_id, root.trace_id),
            (c.GEN_AI_EVALUATION_RESULT_EVENT, None, root.span_id, root.trace_id),
        ]
    )
    verdict = next(r for r in records if r.event_name == c.GEN_AI_EVALUATION_RESULT_EVENT)
    assert dict(verdict.attributes) == {
        c.GEN_AI_AGENT_NAME: "agent",
        c.SESSION_ID: "cand",
        c.GEN_AI_EVALUATION_NAME: "agent_replay.drift",
        c.GEN_AI_EVALUATION_SCORE_LABEL: "drift",
        c.GEN_AI_EVALUATION_SCORE_VALUE: pytest.approx(1 / 3),
        c.GEN_AI_EVALUATION_EXPLANATION: drift.reports["cand"].summary(),
        c.DRIFT_SEVERITY: drift.reports["cand"].max_severity.value,
        c.DRIFT_FINDINGS_TOTAL: 2,
    }
    # span events stay on by default, with the verdict on the root span
    assert [e.name for e in by_name["execute_tool fetch"].events] == [c.DRIFT_EVENT]
    assert [e.name for e in by_name["invoke_agent agent"].events] == [
        c.DRIFT_EVENT,
        c.DRIFT_SUMMARY_EVENT,
        c.GEN_AI_EVALUATION_RESULT_EVENT,
    ]
    provider.shutdown()
    lp.shutdown()


def test_auto_emits_only_once_a_global_logger_provider_is_set():
    with fresh_otel_globals():
        provider, tracer, replay, drift, _ = _rig()
        assert drift.log_events.mode == "auto"
        cid = _run(tracer, "base", BASE)
        drift.track("cand-1", replay.steps_after(cid))
        _run(tracer, "cand-1", BASE)  # no LoggerProvider yet: no log events, no error
        assert drift.errors.count == 0
        lp, logs = _logger_provider()
        _logs.set_logger_provider(lp)
        drift.track("cand-2", replay.steps_after(cid))
        _run(tracer, "cand-2", BASE)
        records = [r.log_record for r in logs.get_finished_logs()]
        assert [(r.event_name, r.attributes[c.SESSION_ID]) for r in records] == [
            (c.GEN_AI_EVALUATION_RESULT_EVENT, "cand-2")
        ]
        assert records[0].attributes[c.GEN_AI_EVALUATION_SCORE_LABEL] == "no_drift"
        provider.shutdown()


def test_log_events_and_span_events_switch_off():
    lp, logs = _logger_provider()
    provider, tracer, replay, drift, spans = _rig(
        logger_provider=lp, log_events=False, span_events=False
    )
    cid = _run(tracer, "base", BASE)
    drift.track("cand", replay.steps_after(cid))
    _run(tracer, "cand", [("search", "CHANGED")] + BASE[1:])
    assert len(drift.reports["cand"].findings) == 1
    assert logs.get_finished_logs() == ()
    assert [e for s in spans.get_finished_spans() for e in s.events] == []
    provider.shutdown()
    lp.shutdown()


def test_verdict_carries_the_runs_last_response_id():
    lp, logs = _logger_provider()
    provider, tracer, replay, drift, spans = _rig(logger_provider=lp)

    def run(sid, response_ids):
        with agent_run("agent", session_id=sid, tracer=tracer):
            cid = checkpoint({"q": 1}, tracer=tracer)
            for rid in response_ids:
                attrs = {
                    c.GEN_AI_OPERATION_NAME: "chat",
                    c.GEN_AI_REQUEST_MODEL: "m",
                    c.GEN_AI_RESPONSE_ID: rid,
                }
                with tracer.start_as_current_span("chat m", attributes=attrs):
                    pass
        return cid

    cid = run("base", ["resp-b1", "resp-b2"])
    drift.track("cand", replay.steps_after(cid))
    run("cand", ["resp-c1", "resp-c2"])
    assert drift.reports["cand"].findings == []
    (verdict,) = [r.log_record for r in logs.get_finished_logs()]
    assert verdict.attributes[c.GEN_AI_RESPONSE_ID] == "resp-c2"
    assert verdict.attributes[c.GEN_AI_EVALUATION_SCORE_LABEL] == "no_drift"
    root = next(
        s
        for s in spans.get_finished_spans()
        if s.name == "invoke_agent agent" and s.attributes[c.SESSION_ID] == "cand"
    )
    (event,) = [e for e in root.events if e.name == c.GEN_AI_EVALUATION_RESULT_EVENT]
    assert event.attributes[c.GEN_AI_RESPONSE_ID] == "resp-c2"
    provider.shutdown()
    lp.shutdown()


def test_a_not_compared_verdict_is_uncorrelated_without_a_span_and_follows_the_switches():
    from otel_replay.drift.events import LogEventEmitter, not_compared_attributes

    lp, logs = _logger_provider()
    attrs = not_compared_attributes("baseline_not_found", "c" * 32, "not compared: no baseline")
    assert LogEventEmitter("true", lp).emit_not_compared(attrs, None) is True
    (record,) = [d.log_record for d in logs.get_finished_logs()]
    assert record.event_name == c.GEN_AI_EVALUATION_RESULT_EVENT
    assert dict(record.attributes) == {
        c.GEN_AI_EVALUATION_NAME: c.EVALUATION_NAME,
        c.GEN_AI_EVALUATION_EXPLANATION: "not compared: no baseline",
        c.GEN_AI_EVALUATION_SCORE_LABEL: "not_compared",
        c.DRIFT_FINDINGS_TOTAL: 0,
        c.ATTR_SERVE_REASON: "baseline_not_found",
        c.REPLAY_CHECKPOINT_ID: "c" * 32,
    }
    assert (record.trace_id, record.span_id) == (0, 0)
    assert record.timestamp > 0
    assert LogEventEmitter("true", lp, evaluation=False).emit_not_compared(attrs, None) is False
    assert LogEventEmitter("false", lp).emit_not_compared(attrs, None) is False
    assert len(logs.get_finished_logs()) == 1
