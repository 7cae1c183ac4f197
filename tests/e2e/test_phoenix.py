"""(e) Phoenix receives spans over OTLP/HTTP and shows the drift event via its REST API."""

from __future__ import annotations

import pytest

from . import telemetry as t
from .helpers import phoenix_spans, wait_for

pytestmark = pytest.mark.e2e


def test_phoenix_receives_drifting_span_over_otlp_http(phoenix):
    provider = t.tracer_provider(
        t.unique_service(), t.http_span_exporter(phoenix.otlp_http_traces_endpoint)
    )
    try:
        drifting = t.emit_drifting_trace(provider)
    finally:
        provider.shutdown()

    data = wait_for(
        lambda: (s := phoenix_spans(phoenix.url, drifting.trace_id)) and len(s) >= 2 and s,
        60.0,
        what=f"trace {drifting.trace_id} in Phoenix project 'default'",
    )
    by_id = {s["context"]["span_id"]: s for s in data}
    assert set(by_id) == {drifting.span_id, drifting.root_span_id}
    span = by_id[drifting.span_id]
    assert span["name"] == "execute_tool search"
    assert span["span_kind"] == "TOOL"  # Phoenix maps gen_ai.operation.name=execute_tool
    assert span["context"]["trace_id"] == drifting.trace_id
    assert span["parent_id"] == drifting.root_span_id
    assert span["attributes"]["gen_ai.tool.name"] == "search"
    assert span["attributes"]["agent_replay.step.sequence"] == t.STEP_SEQUENCE

    events = [e for e in span["events"] if e["name"] == t.DRIFT_EVENT]
    assert len(events) == 1, span["events"]
    attrs = events[0]["attributes"]
    assert attrs["agent_replay.drift.kind"] == t.DRIFT_KIND
    assert attrs["agent_replay.drift.severity"] == t.DRIFT_SEVERITY
    assert attrs["agent_replay.drift.description"] == t.DRIFT_DESCRIPTION
    assert attrs["agent_replay.drift.expected"] == t.DRIFT_EXPECTED
    assert attrs["agent_replay.drift.actual"] == t.DRIFT_ACTUAL
    assert attrs["agent_replay.drift.baseline.sequence"] == t.DRIFT_BASELINE_SEQUENCE
