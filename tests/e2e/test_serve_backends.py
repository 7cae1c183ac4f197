"""``otel-replay serve --baseline-source jaeger:URL`` against REAL Jaeger: the baseline run
goes to Jaeger (OTLP gRPC) from a program using only the OTel SDK, the restored run to the
worker, which fetches the baseline's trace from Jaeger (by the restored run's
``agent_replay.replay.source.trace_id``) and reports exactly the planted change."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from otel_replay.core import conventions as c
from otel_replay.restore.jaeger import JaegerSource
from tests.otlp_sink import wait_until
from tests.serve_producer import Agent, http_exporter
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
