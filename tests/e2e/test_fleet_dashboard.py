"""Every Prometheus query of the "otel-replay fleet" Grafana dashboard returns data from the
real Prometheus, fed by real ``otel-replay serve`` workers behind the real Collector
(deploy/collector/fleet.yaml): one that compares runs (a held open run makes it refuse the
next one; the open run times out; a run without a baseline is not compared; a bad request is
rejected), and one whose span downstream is down, so that it drops what it receives (its
metrics still reach the Collector)."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from . import backends
from .conftest import _start
from .fleet import run_producer, start_fleet_collector, start_worker
from .helpers import prom_query, wait_for
from .test_grafana_dashboard import assert_every_query_has_data, prometheus_queries, substitute

pytestmark = pytest.mark.e2e

DASHBOARD = backends.REPO_ROOT / "deploy" / "grafana" / "dashboards" / "otel-replay-fleet.json"

EXPECTED_PANELS = {
    "Spans received and exported per worker",
    "Spans in flight per worker",
    "Spans dropped by reason (lost)",
    "Spans refused by reason (backpressure)",
    "Requests rejected by reason",
    "Restored runs held per worker",
    "Verdicts per worker",
    "Runs not compared by reason",
    "Runs ended by the run timeout",
    "Drift findings per worker",
}


def test_dashboard_shape() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "otel-replay fleet"
    assert {title for title, _, _ in prometheus_queries(dashboard)} == EXPECTED_PANELS
    (variable,) = dashboard["templating"]["list"]
    assert variable["name"] == "worker"


def _bad_request(http_url: str) -> int:
    req = urllib.request.Request(
        f"{http_url}/v1/traces", b"not protobuf", {"Content-Type": "application/x-protobuf"}
    )
    try:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 (loopback)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200


def test_every_fleet_panel_returns_data(e2e_process_group, jaeger, tmp_path) -> None:
    group = e2e_process_group
    port = backends.free_port()
    col = _start(
        "fleet collector (dashboard)",
        start_fleet_collector,
        group,
        jaeger.otlp_grpc_endpoint,
        [f"{backends.LOOPBACK}:{port}"],
        name="collector-fleet-dashboard",
    )
    prom = _start(
        "prometheus",
        backends.start_prometheus,
        group,
        group.log_dir / "prometheus-fleet-dashboard",
        col.collector.prometheus_exporter_endpoint,
        col.collector.telemetry_endpoint,
        name="prometheus-fleet-dashboard",
    )
    suffix = uuid.uuid4().hex[:6]
    store = str(tmp_path / "store")
    comparing = _start(
        "worker (dashboard)",
        start_worker,
        group,
        f"fleet-dash-{suffix}",
        f"grpc://{col.return_grpc_endpoint}",
        grpc_port=port,
        args=["--record-dir", store, "--baselines", store, "--max-held-runs", "1",
              "--run-timeout", "3", "--metric-interval", "1"],
    )  # fmt: skip
    # spans to a port nobody listens on, metrics and log events to the Collector
    dropping = _start(
        "worker (dashboard, downstream down)",
        start_worker,
        group,
        f"fleet-drop-{suffix}",
        None,
        args=["--metric-interval", "1"],
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{col.return_grpc_endpoint}",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{backends.LOOPBACK}:{backends.free_port()}",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1",
        },
    )
    service = f"fleet-dash-{suffix}"
    ingress = col.collector.otlp_grpc_endpoint

    def run(role: str, *args: str, endpoint: str = ingress) -> dict:
        return run_producer(
            "run", "--endpoint", endpoint, "--service", service, "--session",
            f"{service}-{role}", "--trace-id", uuid.uuid4().hex, *args,
        )  # fmt: skip

    base = run("base", "--baseline")
    wait_for(lambda: comparing.healthz()["counters"]["exported"] == 4, 30, what="the baseline")
    source = f"{service}-base:{base['trace_id']}:{base['checkpoint']}"
    run("open", "--restore-from", source, "--open-root")  # held: the worker is full
    wait_for(lambda: comparing.healthz()["counters"]["runs_held"] == 1, 30, what="the open run")
    run("changed", "--restore-from", source, "--status", "lost")  # refused, then retried
    run("orphan", "--restore-from", f"{service}-base:{base['trace_id']}:{'f' * 32}")
    assert _bad_request(comparing.http_url) == 400
    run("lost", endpoint=dropping.grpc_endpoint)
    seen: list[dict] = []

    def ended() -> bool:
        h = comparing.healthz()["counters"]
        seen[:] = [h]
        return (h["runs_not_compared"], h["runs_timed_out"], h["runs_held"], h["in_flight"]) == (
            1, 1, 0, 0,
        )  # fmt: skip

    try:
        wait_for(ended, 60, what="every run ended")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; counters: {seen}") from None
    lost = wait_for(
        lambda: (h := dropping.healthz()["counters"])["dropped"] == 3 and h,
        60,
        what="the spans of the worker whose downstream is down dropped",
    )
    assert lost["dropped_by_reason"] == {"export_failed": 3}
    counters = comparing.healthz()["counters"]
    assert counters["refused_by_reason"]["full"] >= 3
    assert counters["dropped"] == 0

    dashboard = json.loads(DASHBOARD.read_text())
    variables = {
        "worker": f"{comparing.worker_id}|{dropping.worker_id}",
        "__rate_interval": "1m",
    }
    assert_every_query_has_data(prom.url, dashboard, variables)

    # the derived panel counts a counter without a series as 0: once every span is scraped,
    # nothing is in flight on either worker, though the one whose downstream is down never
    # exported a span
    (expr,) = [e for t, _, e in prometheus_queries(dashboard) if t == "Spans in flight per worker"]
    received = f'sum by (instance) (agent_replay_serve_spans_received_total{{instance=~"{variables["worker"]}"}})'
    last: list[dict[str, float]] = []

    def settled() -> bool:
        by_worker = {
            r["metric"]["instance"]: float(r["value"][1]) for r in prom_query(prom.url, received)
        }
        got = prom_query(prom.url, substitute(expr, variables))
        last[:] = [by_worker, {r["metric"]["instance"]: float(r["value"][1]) for r in got}]
        return last == [
            {comparing.worker_id: 4 + 2 + 3 + 3, dropping.worker_id: 3},
            {comparing.worker_id: 0.0, dropping.worker_id: 0.0},
        ]

    try:
        wait_for(settled, 45.0, what="every span received, nothing in flight")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; received, in flight: {last}") from None
    for proc in (comparing.process, dropping.process, col.collector.process, prom.process):
        proc.stop()
