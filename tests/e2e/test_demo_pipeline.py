"""The demo end to end: SDK -> Collector -> Jaeger / Prometheus, and SDK -> Phoenix."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from otel_replay.core import conventions as c
from otel_replay.formats.files import load_recording

from .helpers import otlp_attrs, phoenix_spans, prom_query, wait_for, wait_for_jaeger_trace

pytestmark = pytest.mark.e2e


def _run_demo(out: Path, env_extra: dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    proc = subprocess.run(
        [sys.executable, "-m", "otel_replay.cli", "demo", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _recorded_drift(out: Path) -> dict[str, list[dict[str, Any]]]:
    """span id -> drift event attributes, as recorded locally by the same demo run."""
    rec = load_recording(out / "recording")
    found: dict[str, list[dict[str, Any]]] = {}
    for span in rec.spans:
        events = [dict(e.attributes) for e in span.events if e.name == c.DRIFT_EVENT]
        if events:
            found[format(span.context.span_id, "016x")] = events
    return found


def _trace_of(out: Path, span_id: str) -> str:
    rec = load_recording(out / "recording")
    span = next(s for s in rec.spans if format(s.context.span_id, "016x") == span_id)
    return format(span.context.trace_id, "032x")


@pytest.fixture(scope="module")
def demo_run(e2e_stack, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    instance = uuid.uuid4().hex
    env = {
        **e2e_stack.otel_env,
        "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={instance}",
    }
    stdout = _run_demo(out, env)
    return out, instance, stdout


def test_jaeger_shows_drift_events_on_the_drifting_spans(demo_run, e2e_stack):
    out, _, stdout = demo_run
    recorded = _recorded_drift(out)
    # the demo's changed run: fetch arguments/output, search output and LLM output drifted;
    # two findings (search output, fetch arguments) with the other two as related changes
    kinds = sorted(e[c.DRIFT_KIND] for events in recorded.values() for e in events)
    assert kinds == ["arguments_changed", "output_changed", "output_changed", "output_changed"]
    causes = [e for events in recorded.values() for e in events if c.DRIFT_CAUSED_BY not in e]
    assert sorted(e[c.DRIFT_KIND] for e in causes) == ["arguments_changed", "output_changed"]
    trace_ids = {_trace_of(out, sid) for sid in recorded}
    assert len(trace_ids) == 1
    (trace_id,) = trace_ids
    spans = wait_for_jaeger_trace(e2e_stack.jaeger.query_url, trace_id, min_spans=7)
    by_id = {s["spanId"]: s for s in spans}
    for span_id, events in recorded.items():
        jaeger_span = by_id[span_id]
        jaeger_events = [
            otlp_attrs(e.get("attributes", []))
            for e in jaeger_span.get("events", [])
            if e["name"] == c.DRIFT_EVENT
        ]
        assert jaeger_events == [
            {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in ev.items()
                if k != c.DRIFT_PATHS
            }
            | (
                {
                    c.DRIFT_PATHS: {
                        "arrayValue": {"values": [{"stringValue": p} for p in ev[c.DRIFT_PATHS]]}
                    }
                }
                if c.DRIFT_PATHS in ev
                else {}
            )
            for ev in events
        ]
    fetch = next(
        s
        for s in by_id.values()
        if any(
            otlp_attrs(e.get("attributes", [])).get(c.DRIFT_KIND) == "arguments_changed"
            for e in s.get("events", [])
        )
    )
    assert fetch["name"] == "execute_tool fetch"
    root = next(s for s in spans if not s.get("parentSpanId"))
    (summary,) = [e for e in root["events"] if e["name"] == c.DRIFT_SUMMARY_EVENT]
    attrs = otlp_attrs(summary["attributes"])
    assert (
        attrs[c.DRIFT_HAS_DRIFT],
        attrs[c.DRIFT_FINDINGS_TOTAL],
        attrs[c.DRIFT_WARNING_TOTAL],
    ) == (
        True,
        2,
        2,
    )


def test_prometheus_has_the_demo_drift_metrics(demo_run, e2e_stack):
    _, instance, _ = demo_run
    prom = e2e_stack.prometheus.url
    sel = f'job="otel-replay-demo",instance="{instance}"'

    def findings() -> dict[tuple[str, str], float] | None:
        rows = prom_query(
            prom,
            f"sum by (agent_replay_drift_kind, agent_replay_drift_severity) "
            f"(agent_replay_drift_findings_total{{{sel}}})",
        )
        got = {
            (
                r["metric"]["agent_replay_drift_kind"],
                r["metric"]["agent_replay_drift_severity"],
            ): float(r["value"][1])
            for r in rows
        }
        return got if sum(got.values()) >= 2 else None

    # causes only: the related changes (fetch output, LLM output) are part of their findings
    assert wait_for(findings, 60, what="demo drift findings in Prometheus") == {
        ("arguments_changed", "warning"): 1.0,
        ("output_changed", "warning"): 1.0,
    }
    runs = prom_query(prom, f"sum(agent_replay_drift_runs_total{{{sel}}})")
    assert float(runs[0]["value"][1]) == 2.0
    critical = prom_query(prom, f"sum(agent_replay_drift_critical_runs_total{{{sel}}})")
    assert critical == []
    outcomes = prom_query(
        prom, f"sum by (agent_replay_replay_outcome) (agent_replay_replay_steps_total{{{sel}}})"
    )
    assert {r["metric"]["agent_replay_replay_outcome"]: float(r["value"][1]) for r in outcomes} == {
        "served": 3.0,
        "live": 3.0,
    }
    agent = prom_query(prom, f"agent_replay_drift_findings_total{{{sel}}}")
    assert {r["metric"]["gen_ai_agent_name"] for r in agent} == {"research-agent"}


def test_prometheus_counts_the_demo_drift_log_events(demo_run, e2e_stack):
    """The demo's drift log events and verdicts reach the Collector's logs pipeline, whose
    count connector turns them into Prometheus counters."""
    _, instance, _ = demo_run
    prom = e2e_stack.prometheus.url
    sel = f'job="otel-replay-demo",instance="{instance}"'

    def counted(promql: str, label: str, total: float):
        rows = prom_query(prom, promql)
        got = {r["metric"][label]: float(r["value"][1]) for r in rows}
        return got if sum(got.values()) >= total else None

    logs = wait_for(
        lambda: counted(
            f"sum by (agent_replay_drift_kind) (agent_replay_drift_log_events_total{{{sel}}})",
            "agent_replay_drift_kind",
            2,
        ),
        60,
        what="demo drift log events counted in Prometheus",
    )
    # one log event per cause, as the metrics count them (consequences ride on the cause)
    assert logs == {"arguments_changed": 1.0, "output_changed": 1.0}
    verdicts = wait_for(
        lambda: counted(
            "sum by (gen_ai_evaluation_score_label) "
            f"(agent_replay_evaluation_results_total{{{sel}}})",
            "gen_ai_evaluation_score_label",
            2,
        ),
        60,
        what="demo verdicts counted in Prometheus",
    )
    assert verdicts == {"drift": 1.0, "no_drift": 1.0}


def test_phoenix_shows_drift_events(phoenix, tmp_path):
    out = tmp_path / "demo"
    _run_demo(
        out,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",  # Phoenix has no OTLP logs receiver
        },
    )
    recorded = _recorded_drift(out)
    trace_id = _trace_of(out, next(iter(recorded)))

    def spans() -> list[dict[str, Any]] | None:
        got = phoenix_spans(phoenix.url, trace_id)
        return got if len(got) >= 7 else None

    got = wait_for(spans, 60, what="demo trace in Phoenix")
    by_id = {s["context"]["span_id"]: s for s in got}
    for span_id, events in recorded.items():
        ph_events = [e for e in by_id[span_id]["events"] if e["name"] == c.DRIFT_EVENT]
        assert [e["attributes"][c.DRIFT_KIND] for e in ph_events] == [
            ev[c.DRIFT_KIND] for ev in events
        ]
        assert [e["attributes"][c.DRIFT_DESCRIPTION] for e in ph_events] == [
            ev[c.DRIFT_DESCRIPTION] for ev in events
        ]
