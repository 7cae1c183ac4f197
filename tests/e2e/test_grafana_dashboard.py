"""Every Prometheus query of the "Agent drift" Grafana dashboard returns data from the real
Prometheus after the otel-replay metrics (and a drifting trace) were sent."""

from __future__ import annotations

import json
import re

import pytest

from . import telemetry as t
from .backends import REPO_ROOT
from .helpers import prom_query, wait_for

pytestmark = pytest.mark.e2e

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "agent-drift.json"

EXPECTED_PROMETHEUS_PANELS = {
    "Drift findings by kind and severity",
    "Findings in range by severity",
    "Runs with critical drift",
    "Critical run ratio (range)",
    "Drift from span events (collector count connector)",
    "Replay step outcomes",
    "Buffer: steps and sessions",
    "Buffer: bytes",
    "Buffer evictions by reason",
    "Processor errors by component",
}


def _all_panels(panels):
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []))


def _is_prometheus(obj) -> bool:
    ds = obj.get("datasource") or {}
    return isinstance(ds, dict) and ds.get("type") == "prometheus"


def prometheus_queries(dashboard: dict) -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) for every Prometheus target of the dashboard."""
    out = []
    for panel in _all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            if (_is_prometheus(target) or _is_prometheus(panel)) and target.get("expr"):
                out.append((panel["title"], target["refId"], target["expr"]))
    return out


def substitute(expr: str, variables: dict[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"dashboard variable ${name} has no test value (in {expr!r})")
        return variables[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def test_dashboard_shape():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Agent drift"
    titles = {title for title, _, _ in prometheus_queries(dashboard)}
    assert titles == EXPECTED_PROMETHEUS_PANELS
    jaeger_panels = [
        p
        for p in _all_panels(dashboard["panels"])
        if (p.get("datasource") or {}).get("type") == "jaeger"
    ]
    assert [p["type"] for p in jaeger_panels] == ["table"]


def test_every_prometheus_panel_returns_data(collector, prometheus):
    emitted = t.emit_all(collector.otlp_grpc_endpoint)
    try:
        _check_panels(prometheus, emitted)
    finally:
        emitted.close()


def _check_panels(prometheus, emitted):
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {
        "job": emitted.service,
        "service": emitted.service,
        "severity": t.DRIFT_SEVERITY,
        "jaeger_ui": "http://127.0.0.1:16686",
        "__rate_interval": "1m",
        "__interval": "15s",
        "__range": "1h",
    }
    assert_every_query_has_data(prometheus.url, dashboard, variables)


def assert_every_query_has_data(prom_url: str, dashboard: dict, variables: dict[str, str]) -> None:
    """Every Prometheus query of ``dashboard`` (``variables`` substituted) returns data from
    the Prometheus at ``prom_url`` within 45 s; the failure lists those that do not."""
    queries = prometheus_queries(dashboard)
    assert queries
    empty = {}
    for title, ref, expr in queries:
        promql = substitute(expr, variables)
        try:
            wait_for(lambda q=promql: prom_query(prom_url, q), 45.0, what=promql)
        except AssertionError:
            empty[f"{title} [{ref}]"] = promql
    assert empty == {}, "panels without data:\n" + "\n".join(f"{k}: {v}" for k, v in empty.items())
