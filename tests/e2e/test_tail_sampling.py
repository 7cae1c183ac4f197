"""(d) tail sampling: with the base percentage at 0, drifting (and error) traces are kept,
plain traces are dropped; so is a compared run without drift, while a run a real
``otel-replay serve`` worker could not compare is kept."""

from __future__ import annotations

import time

import pytest

from otel_replay.serve.config import ServeConfig
from otel_replay.serve.service import Service
from tests.serve_producer import Agent, Run, http_exporter

from . import telemetry as t
from .helpers import get_status, otlp_attrs, wait_for
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


def test_a_run_not_compared_is_kept_and_a_compared_one_without_drift_is_not(
    collector_factory, jaeger, tmp_path
):
    sampler = collector_factory.start(
        env={
            "OTEL_REPLAY_SAMPLING_PERCENTAGE": "0",
            "OTEL_REPLAY_DECISION_WAIT": f"{DECISION_WAIT_S}s",
        },
        name="collector-sampling0-verdicts",
    )
    rec = tmp_path / "rec"
    rec.mkdir()
    worker = Service(
        ServeConfig(
            grpc_port=0,
            http_port=0,
            downstream=f"grpc://{sampler.otlp_grpc_endpoint}",
            baselines=str(rec),
            record_dir=str(rec),
            worker_id="sampling-worker",
            metric_interval=60.0,
        )
    )
    worker.start()
    agent = Agent(http_exporter(worker.http_address), service=t.unique_service())
    try:
        base = agent.baseline("sampling-base")
        agent.flush()  # recorded by the worker: the baseline of the identical run
        same = agent.restored(base, "sampling-same")
        orphan = agent.restored(Run("nowhere", "f" * 32, "0" * 32, {}), "sampling-orphan")
        agent.flush()
        wait_for(
            lambda: (
                (h := worker.engine.snapshot())["runs_compared"] == 1
                and h["runs_not_compared"] == 1
            ),
            30,
            what="one run compared, one not",
        )
    finally:
        agent.shutdown()
        final = worker.stop(10)
    assert (final["exported"], final["dropped"]) == (4 + 3 + 3, 0)

    spans = wait_for_trace(jaeger.query_url, orphan.trace_id, min_spans=3)
    assert {s["spanId"] for s in spans} == set(orphan.span_ids.values())
    events = {
        s["spanId"]: [(e["name"], otlp_attrs(e.get("attributes", []))) for e in s.get("events", [])]
        for s in spans
    }
    ((name, verdict),) = events.pop(orphan.span_ids["root"])
    assert name == "gen_ai.evaluation.result"
    assert verdict["gen_ai.evaluation.score.label"] == "not_compared"
    assert verdict["agent_replay.serve.reason"] == "baseline_not_found"
    assert events == {sid: [] for sid in events}

    time.sleep(DECISION_WAIT_S + 3)  # decided with (or before) the kept one
    for run in (base, same):
        assert get_status(f"{jaeger.query_url}/api/v3/traces/{run.trace_id}") == 404, run.session
