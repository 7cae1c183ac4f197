"""(b) SDK -> Collector -> Jaeger: the drifting span and its agent_replay.drift event arrive."""

from __future__ import annotations

import pytest

from . import telemetry as t
from .helpers import jaeger_search, otlp_attrs, wait_for_jaeger_trace

pytestmark = pytest.mark.e2e


def wait_for_trace(query_url: str, trace_id: str, min_spans: int = 1) -> list[dict]:
    return wait_for_jaeger_trace(query_url, trace_id, min_spans=min_spans)


def test_drifting_span_reaches_jaeger_with_drift_event(collector, jaeger):
    service = t.unique_service()
    provider = t.tracer_provider(service, t.grpc_span_exporter(collector.otlp_grpc_endpoint))
    try:
        drifting = t.emit_drifting_trace(
            provider, extra_span_attributes={"gen_ai.tool.call.arguments": '{"q": "otel"}'}
        )
    finally:
        provider.shutdown()

    spans = wait_for_trace(jaeger.query_url, drifting.trace_id, min_spans=2)
    by_id = {s["spanId"]: s for s in spans}
    assert set(by_id) == {drifting.span_id, drifting.root_span_id}
    assert {s["traceId"] for s in spans} == {drifting.trace_id}

    span = by_id[drifting.span_id]
    assert span["name"] == "execute_tool search"
    assert span["parentSpanId"] == drifting.root_span_id
    assert span["_resource"]["service.name"] == service
    assert span["_scope"]["name"] == t.SCOPE
    attrs = otlp_attrs(span["attributes"])
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "search"
    assert attrs["gen_ai.conversation.id"] == drifting.session_id
    assert attrs["agent_replay.step.sequence"] == t.STEP_SEQUENCE
    # redaction is off by default
    assert attrs["gen_ai.tool.call.arguments"] == '{"q": "otel"}'

    events = [e for e in span.get("events", []) if e["name"] == t.DRIFT_EVENT]
    assert len(events) == 1, span.get("events")
    assert otlp_attrs(events[0]["attributes"]) == {
        "agent_replay.drift.kind": t.DRIFT_KIND,
        "agent_replay.drift.severity": t.DRIFT_SEVERITY,
        "agent_replay.drift.description": t.DRIFT_DESCRIPTION,
        "agent_replay.drift.expected": t.DRIFT_EXPECTED,
        "agent_replay.drift.actual": t.DRIFT_ACTUAL,
        "agent_replay.drift.baseline.sequence": t.DRIFT_BASELINE_SEQUENCE,
    }


def test_jaeger_search_by_drift_event_attribute_finds_drifting_trace(collector, jaeger):
    """What the Grafana "Latest drifting traces" panel does (Jaeger datasource search by tag):
    Jaeger's tag search also matches span-event attributes."""
    service = t.unique_service()
    provider = t.tracer_provider(service, t.grpc_span_exporter(collector.otlp_grpc_endpoint))
    try:
        drifting = t.emit_drifting_trace(provider)
        plain = t.emit_plain_trace(provider)
    finally:
        provider.shutdown()
    wait_for_trace(jaeger.query_url, drifting.trace_id, min_spans=2)
    wait_for_trace(jaeger.query_url, plain, min_spans=2)

    found = jaeger_search(
        jaeger.query_url, service, {"agent_replay.drift.severity": t.DRIFT_SEVERITY}
    )
    assert found == {drifting.trace_id}


def test_redaction_flag_replaces_genai_content(collector_factory, jaeger):
    redacting = collector_factory.start(
        env={
            "OTEL_REPLAY_REDACT_GENAI_CONTENT": "true",
            "OTEL_REPLAY_SAMPLING_PERCENTAGE": "100",
            "OTEL_REPLAY_DECISION_WAIT": "1s",
        },
        name="collector-redact",
    )
    provider = t.tracer_provider(
        t.unique_service(), t.grpc_span_exporter(redacting.otlp_grpc_endpoint)
    )
    content = {
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "secret"}]}]',
        "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
        "gen_ai.tool.call.arguments": '{"q": "secret"}',
        "gen_ai.tool.call.result": '{"hits": 3}',
    }
    try:
        drifting = t.emit_drifting_trace(provider, extra_span_attributes=content)
    finally:
        provider.shutdown()
    spans = wait_for_trace(jaeger.query_url, drifting.trace_id, min_spans=2)
    span = next(s for s in spans if s["spanId"] == drifting.span_id)
    attrs = otlp_attrs(span["attributes"])
    for key in content:
        assert attrs[key] == "[REDACTED]", key
    # everything else untouched, drift event intact
    assert attrs["gen_ai.tool.name"] == "search"
    event = next(e for e in span["events"] if e["name"] == t.DRIFT_EVENT)
    assert otlp_attrs(event["attributes"])["agent_replay.drift.actual"] == t.DRIFT_ACTUAL
