"""``otel-replay serve --baseline-source jaeger:URL`` / ``phoenix:URL`` against REAL Jaeger and
Phoenix: the baseline run goes to the backend (OTLP) from a program using only the OTel SDK,
the restored run to the worker, which fetches the baseline from the backend (Jaeger: the trace
the restored run names in ``agent_replay.replay.source.trace_id``; Phoenix: the checkpoint's
session in the project) and reports exactly the planted change."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)

from otel_replay.core import conventions as c
from otel_replay.restore.jaeger import JaegerSource
from otel_replay.restore.phoenix import PhoenixSource
from tests.otlp_sink import attrs_of, wait_until
from tests.serve_producer import Agent, Run, http_exporter
from tests.test_serve import drift_events, healthz, serving, verdict

pytestmark = pytest.mark.e2e


def test_worker_takes_the_baseline_from_jaeger(jaeger, tmp_path):
    direct = Agent(OTLPSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True))
    base = direct.baseline("jaeger-base")
    direct.flush()
    direct.shutdown()
    source = JaegerSource(jaeger.query_url, trace_id=base.trace_id)

    def ingested() -> bool:
        try:
            return len(source.steps_after(source.find_checkpoint(base.checkpoint or ""))) == 2
        except Exception:  # not there yet
            return False

    wait_until(ingested, 60, what="the baseline run in Jaeger")
    with serving(
        tmp_path, baselines=None, record_dir=None, baseline_source=f"jaeger:{jaeger.query_url}/"
    ) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        same = agent.restored(base, "jaeger-same")
        changed = agent.restored(base, "jaeger-changed", status="lost")
        agent.flush()
        agent.shutdown()
        wait_until(lambda: healthz(service)["counters"]["runs_compared"] == 2, what="2 runs")
        final = service.stop()
    assert (final["received"], final["exported"], final["runs_not_compared"]) == (6, 6, 0)
    assert drift_events(sink) == [
        ("jaeger-changed", changed.span_ids["lookup_order"], "output_changed")
    ]
    assert verdict(sink, same) == "no_drift"
    assert verdict(sink, changed) == "drift"
    assert sink.metric_total(c.METRIC_DRIFT_FINDINGS) == 1


def test_worker_takes_the_baseline_from_phoenix(phoenix, tmp_path):
    direct = Agent(HttpSpanExporter(endpoint=phoenix.otlp_http_traces_endpoint, timeout=10))
    base = direct.baseline(f"phoenix-base-{tmp_path.name}")
    direct.flush()
    direct.shutdown()
    source = PhoenixSource(phoenix.url)

    def ingested() -> bool:
        try:
            return len(source.steps_after(source.find_checkpoint(base.checkpoint or ""))) == 2
        except Exception:  # not there yet
            return False

    wait_until(ingested, 60, what="the baseline run in Phoenix")
    missing = Run("nowhere", "d" * 32, "0" * 32, {})
    with serving(
        tmp_path,
        baselines=None,
        record_dir=None,
        baseline_source=f"phoenix:{phoenix.url}/?project=default",
    ) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        same = agent.restored(base, "phoenix-same")
        changed = agent.restored(base, "phoenix-changed", status="lost")
        orphan = agent.restored(missing, "phoenix-orphan")
        agent.flush()
        agent.shutdown()
        wait_until(
            lambda: (
                (h := healthz(service)["counters"])["runs_compared"] == 2
                and h["runs_not_compared"] == 1
            ),
            what="2 runs compared, 1 not",
        )
        final = service.stop()
    assert (final["received"], final["exported"], final["dropped"]) == (9, 9, 0)
    assert drift_events(sink) == [
        ("phoenix-changed", changed.span_ids["lookup_order"], "output_changed")
    ]
    assert verdict(sink, same) == "no_drift"
    assert verdict(sink, changed) == "drift"
    assert sink.metric_total(c.METRIC_DRIFT_FINDINGS) == 1
    labels = {
        attrs_of(lr)[c.SESSION_ID]: attrs_of(lr)[c.GEN_AI_EVALUATION_SCORE_LABEL]
        for lr in sink.log_records()
        if lr.event_name == c.GEN_AI_EVALUATION_RESULT_EVENT
    }
    assert labels == {
        "phoenix-same": "no_drift",
        "phoenix-changed": "drift",
        "phoenix-orphan": "not_compared",
    }
    assert orphan.checkpoint == "d" * 32
