"""(d) tail sampling: with the base percentage at 0, drifting (and error) traces are kept,
plain traces are dropped."""

from __future__ import annotations

import time

import pytest

from . import telemetry as t
from .helpers import get_status
from .helpers import wait_for_jaeger_trace as wait_for_trace

pytestmark = pytest.mark.e2e

N_PLAIN = 10
DECISION_WAIT_S = 1


def test_drifting_trace_kept_plain_traces_dropped(collector_factory, jaeger):
    sampler = collector_factory.start(
        env={
            "OTEL_REPLAY_SAMPLING_PERCENTAGE": "0",
            "OTEL_REPLAY_DECISION_WAIT": f"{DECISION_WAIT_S}s",
        },
        name="collector-sampling0",
    )
    provider = t.tracer_provider(
        t.unique_service(), t.grpc_span_exporter(sampler.otlp_grpc_endpoint)
    )
    try:
        plain = [t.emit_plain_trace(provider) for _ in range(N_PLAIN)]
        drifting = t.emit_drifting_trace(provider)
        errored = t.emit_plain_trace(provider, error=True)
    finally:
        provider.shutdown()

    spans = wait_for_trace(jaeger.query_url, drifting.trace_id, min_spans=2)
    assert {s["spanId"] for s in spans} == {drifting.span_id, drifting.root_span_id}
    wait_for_trace(jaeger.query_url, errored, min_spans=2)

    # plain traces were sent first, so their (drop) decisions were due no later than the kept
    # ones; give the exporter/batch a few more seconds before asserting absence.
    time.sleep(DECISION_WAIT_S + 3)
    present = [tid for tid in plain if get_status(f"{jaeger.query_url}/api/v3/traces/{tid}") == 200]
    assert present == [], f"{len(present)}/{N_PLAIN} non-drifting traces were kept at 0%"
