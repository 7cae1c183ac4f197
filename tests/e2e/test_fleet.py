"""The fleet end to end: the real Collector (deploy/collector/fleet.yaml, `load_balancing`
exporter, trace-id routing) spreads an SDK-only producer's runs over two real
``otel-replay serve`` workers that share one recording store (``--record-dir`` = ``--baselines``);
the workers export back to the Collector, which sends spans to Jaeger and metrics to
Prometheus.

A baseline run with a checkpoint, an identical restored run and a changed restored run (the
tool's result differs) are sent with trace ids chosen so that the baseline and the identical
run hash to worker A and the changed run to worker B (B finds the baseline in A's recording
file). Asserted: each run handled by exactly the predicted worker; one `output_changed` finding
on the changed run's tool span (span event in Jaeger, log event and metrics in Prometheus);
zero findings and a `no_drift` verdict for the identical run; spans in == spans out at every hop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import backends
from .conftest import _start
from .fleet import (
    FleetCollector,
    Worker,
    run_producer,
    start_fleet_collector,
    start_worker,
    stop_gracefully,
    trace_id_for,
    wait_until,
    worker_for_session,
    worker_for_trace,
)
from .helpers import jaeger_trace, otlp_attrs, prom_query, wait_for

pytestmark = pytest.mark.e2e

WORKER = "agent_replay.serve.worker"
DRIFT_EVENT = "agent_replay.drift"
VERDICT_EVENT = "gen_ai.evaluation.result"


@dataclass
class Fleet:
    collector: FleetCollector
    workers: dict[str, Worker]  # grpc endpoint -> worker
    prometheus: backends.Prometheus
    store: Path

    def worker_at(self, endpoint: str) -> Worker:
        return self.workers[endpoint]


@pytest.fixture(scope="module")
def fleet(e2e_process_group, jaeger, tmp_path_factory) -> Iterator[Fleet]:
    group = e2e_process_group
    ports = [backends.free_port(), backends.free_port()]
    endpoints = [f"{backends.LOOPBACK}:{p}" for p in ports]
    col = _start(
        "fleet collector", start_fleet_collector, group, jaeger.otlp_grpc_endpoint, endpoints
    )
    store = tmp_path_factory.mktemp("fleet-store")
    suffix = uuid.uuid4().hex[:6]
    workers = {}
    for name, port, endpoint in zip("ab", ports, endpoints):
        workers[endpoint] = _start(
            f"worker {name}",
            start_worker,
            group,
            f"fleet-{name}-{suffix}",
            f"grpc://{col.return_grpc_endpoint}",
            grpc_port=port,
            args=[
                "--record-dir",
                str(store),
                "--baselines",
                str(store),
                "--metric-interval",
                "1",
            ],
        )
    prom = _start(
        "prometheus",
        backends.start_prometheus,
        group,
        group.log_dir / "prometheus-fleet",
        col.collector.prometheus_exporter_endpoint,
        col.collector.telemetry_endpoint,
        name="prometheus-fleet",
    )
    fleet = Fleet(col, workers, prom, store)
    yield fleet
    # stopped at the end of this module, not of the session (they would idle on)
    for proc in [w.process for w in fleet.workers.values()] + [col.collector.process]:
        proc.stop()
    prom.process.stop()


def _spans(fleet_jaeger_url: str, trace_id: str, n: int) -> list[dict]:
    return wait_for(
        lambda: (s := jaeger_trace(fleet_jaeger_url, trace_id)) and len(s) >= n and s,
        60,
        what=f"{n} spans of trace {trace_id} in Jaeger",
    )


def _events(span: dict, name: str) -> list[dict]:
    return [
        otlp_attrs(e.get("attributes", [])) for e in span.get("events", []) if e["name"] == name
    ]


def _by_name(spans: list[dict]) -> dict[str, dict]:
    return {s["name"]: s for s in spans}


def _span_id(span: dict) -> str:
    return span["spanId"]


def _prom(prom_url: str, promql: str, label: str) -> dict[str, float]:
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in prom_query(prom_url, promql)}


def _accepted_spans(telemetry_endpoint: str, receiver: str) -> float:
    """The Collector's own ``otelcol_receiver_accepted_spans`` for one receiver."""
    import urllib.request

    with urllib.request.urlopen(f"http://{telemetry_endpoint}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("otelcol_receiver_accepted_spans") and f'receiver="{receiver}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_fleet_routes_each_run_to_one_worker_and_reports_drift(fleet, jaeger):
    endpoints = fleet.collector.workers
    a, b = sorted(endpoints)
    worker_a, worker_b = fleet.worker_at(a), fleet.worker_at(b)
    service = f"fleet-agent-{uuid.uuid4().hex[:8]}"
    ingress = fleet.collector.collector.otlp_grpc_endpoint
    base_tid = trace_id_for(endpoints, a, f"{service}/base")
    same_tid = trace_id_for(endpoints, a, f"{service}/same")
    changed_tid = trace_id_for(endpoints, b, f"{service}/changed")
    assert [worker_for_trace(endpoints, t) for t in (base_tid, same_tid, changed_tid)] == [a, a, b]
    base_session = f"{service}-base"

    base = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", base_session,
        "--trace-id", base_tid, "--baseline",
    )  # fmt: skip
    assert base["exported"] == base["sent"] == 4 and base["failed"] == 0
    checkpoint_id = base["checkpoint"]
    _spans(jaeger.query_url, base_tid, 4)  # recorded by A and forwarded before the restores
    source = f"{base_session}:{base_tid}:{checkpoint_id}"
    runs = {}
    for role, tid, status in (("same", same_tid, "shipped"), ("changed", changed_tid, "lost")):
        runs[role] = run_producer(
            "run", "--endpoint", ingress, "--service", service, "--session",
            f"{service}-{role}", "--trace-id", tid, "--restore-from", source,
            "--status", status,
        )  # fmt: skip
        assert runs[role]["exported"] == runs[role]["sent"] == 3 and runs[role]["failed"] == 0

    # --- each run handled by exactly the predicted worker (every span carries its id)
    spans = {
        "base": _spans(jaeger.query_url, base_tid, 4),
        "same": _spans(jaeger.query_url, same_tid, 3),
        "changed": _spans(jaeger.query_url, changed_tid, 3),
    }
    handled = {
        role: {otlp_attrs(s["attributes"]).get(WORKER) for s in ss} for role, ss in spans.items()
    }
    assert handled == {
        "base": {worker_a.worker_id},
        "same": {worker_a.worker_id},
        "changed": {worker_b.worker_id},
    }

    # --- drift: one finding on the changed run's tool span, none on the identical run
    def verdict(role: str) -> str | None:
        got = jaeger_trace(jaeger.query_url, {"same": same_tid, "changed": changed_tid}[role])
        root = next(s for s in got or [] if s["name"] == "invoke_agent support-agent")
        (ev,) = _events(root, VERDICT_EVENT) or [None]
        return ev and ev["gen_ai.evaluation.score.label"]

    assert wait_until(lambda: verdict("same"), 60, "verdict of the identical run") == "no_drift"
    assert wait_until(lambda: verdict("changed"), 60, "verdict of the changed run") == "drift"
    changed = _by_name(jaeger_trace(jaeger.query_url, changed_tid))
    same = jaeger_trace(jaeger.query_url, same_tid)
    tool = changed["execute_tool lookup_order"]
    assert _span_id(tool) == runs["changed"]["spans"]["lookup_order"]
    findings = [
        (s["name"], ev["agent_replay.drift.kind"])
        for s in changed.values()
        for ev in _events(s, DRIFT_EVENT)
    ]
    assert findings == [("execute_tool lookup_order", "output_changed")]
    assert [ev for s in same for ev in _events(s, DRIFT_EVENT)] == []

    # --- metrics and log events through the Collector into Prometheus, per worker
    prom = fleet.prometheus.url
    ia, ib = worker_a.worker_id, worker_b.worker_id
    q = f'agent_replay_drift_findings_total{{instance="{ib}"}}'
    assert wait_for(lambda: _prom(prom, q, "agent_replay_drift_kind"), 60, what=q) == {
        "output_changed": 1.0
    }
    q = f'sum by (instance) (agent_replay_drift_runs_total{{instance=~"{ia}|{ib}"}})'
    assert wait_for(
        lambda: (v := _prom(prom, q, "instance")) and len(v) == 2 and v, 60, what=q
    ) == {ia: 1.0, ib: 1.0}
    q = f'agent_replay_drift_log_events_total{{instance="{ib}"}}'
    assert wait_for(lambda: _prom(prom, q, "agent_replay_drift_kind"), 60, what=q) == {
        "output_changed": 1.0
    }
    q = f'agent_replay_drift_log_events_total{{instance="{ia}"}}'
    assert _prom(prom, q, "agent_replay_drift_kind") == {}
    q = f'agent_replay_evaluation_results_total{{instance=~"{ia}|{ib}"}}'
    assert wait_for(
        lambda: (v := _prom(prom, q, "gen_ai_evaluation_score_label")) and len(v) == 2 and v,
        60,
        what=q,
    ) == {"no_drift": 1.0, "drift": 1.0}
    q = f'agent_replay_drift_span_events_total{{job="{service}"}}'
    assert wait_for(lambda: _prom(prom, q, "agent_replay_drift_kind"), 60, what=q) == {
        "output_changed": 1.0
    }

    # --- span counts: producer -> Collector -> workers -> Collector -> Jaeger
    sent = base["sent"] + runs["same"]["sent"] + runs["changed"]["sent"]
    assert sent == 10
    assert sum(len(s) for s in spans.values()) == sent
    tele = fleet.collector.collector.telemetry_endpoint
    wait_for(lambda: _accepted_spans(tele, "otlp/workers") >= sent, 30, what="returned spans")
    assert _accepted_spans(tele, "otlp") == sent
    assert _accepted_spans(tele, "otlp/workers") == sent
    counters = {w.worker_id: w.healthz()["counters"] for w in (worker_a, worker_b)}
    assert {w: c["received"] for w, c in counters.items()} == {ia: 4 + 3, ib: 3}
    assert {w: c["exported"] for w, c in counters.items()} == {ia: 4 + 3, ib: 3}
    assert {w: c["dropped"] for w, c in counters.items()} == {ia: 0, ib: 0}
    q = f'sum by (instance) (agent_replay_serve_spans_received_total{{instance=~"{ia}|{ib}"}})'
    assert wait_for(
        lambda: (v := _prom(prom, q, "instance")) and sum(v.values()) == sent and v, 60, what=q
    ) == {ia: 7.0, ib: 3.0}
    # both workers wrote their own file in the shared store
    files = sorted(p.name for p in fleet.store.iterdir())
    assert files == sorted([f"spans-{ia}.jsonl", f"spans-{ib}.jsonl"])


def _workers_of(jaeger_url: str, trace_id: str, n: int) -> set[str]:
    return {otlp_attrs(s["attributes"]).get(WORKER) for s in _spans(jaeger_url, trace_id, n)}


def test_session_routing_keeps_a_session_that_spans_two_traces_on_one_worker(
    fleet, jaeger, e2e_process_group
):
    """``load_balancing/session``: one session continued in a second trace reaches one worker;
    the same shape through trace-id routing is split over both (docs/fleet.md, "Routing key")."""
    endpoints = fleet.collector.workers
    a, b = sorted(endpoints)
    by_session = _start(
        "fleet collector (session routing)",
        start_fleet_collector,
        e2e_process_group,
        jaeger.otlp_grpc_endpoint,
        endpoints,
        routing="load_balancing/session",
        name="collector-fleet-session",
    )
    service = f"fleet-sessions-{uuid.uuid4().hex[:8]}"
    session = next(
        s for n in range(1000) if worker_for_session(endpoints, s := f"{service}-{n}") == a
    )
    # two trace ids that trace-id routing would send to different workers
    t1 = trace_id_for(endpoints, a, f"{session}/1")
    t2 = trace_id_for(endpoints, b, f"{session}/2")
    out = run_producer(
        "run", "--endpoint", by_session.collector.otlp_grpc_endpoint, "--service", service,
        "--session", session, "--trace-id", f"{t1},{t2}",
    )  # fmt: skip
    assert (out["sent"], out["exported"], out["failed"]) == (6, 6, 0)
    want = fleet.worker_at(a).worker_id
    assert (_workers_of(jaeger.query_url, t1, 3), _workers_of(jaeger.query_url, t2, 3)) == (
        {want},
        {want},
    )

    # the same through the trace-id routed Collector: split, one trace per worker
    t3 = trace_id_for(endpoints, a, f"{session}/3")
    t4 = trace_id_for(endpoints, b, f"{session}/4")
    out = run_producer(
        "run", "--endpoint", fleet.collector.collector.otlp_grpc_endpoint, "--service", service,
        "--session", f"{session}-by-trace", "--trace-id", f"{t3},{t4}",
    )  # fmt: skip
    assert (out["sent"], out["exported"], out["failed"]) == (6, 6, 0)
    assert (_workers_of(jaeger.query_url, t3, 3), _workers_of(jaeger.query_url, t4, 3)) == (
        {fleet.worker_at(a).worker_id},
        {fleet.worker_at(b).worker_id},
    )
    by_session.collector.process.stop()


def test_worker_restart_forwards_held_runs_and_the_collector_retries_to_it(
    fleet, jaeger, e2e_process_group
):
    """SIGTERM on a worker that holds an open restored run: the run's spans are forwarded before
    it exits 0. A run sent while it is down is accepted by the Collector, retried, and handled by
    the worker restarted on the same address (docs/fleet.md, "What happens on worker restart")."""
    endpoints = fleet.collector.workers
    a, b = sorted(endpoints)
    old_b = fleet.worker_at(b)
    service = f"fleet-restart-{uuid.uuid4().hex[:8]}"
    ingress = fleet.collector.collector.otlp_grpc_endpoint
    base_tid = trace_id_for(endpoints, a, f"{service}/base")
    checkpoint_id = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-base",
        "--trace-id", base_tid, "--baseline",
    )["checkpoint"]  # fmt: skip
    _spans(jaeger.query_url, base_tid, 4)

    # a restored run on B whose root never ends: B holds it
    open_tid = trace_id_for(endpoints, b, f"{service}/open")
    held_before = old_b.healthz()["counters"]["runs_compared"]
    out = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-open",
        "--trace-id", open_tid, "--restore-from", f"{service}-base:{base_tid}:{checkpoint_id}",
        "--open-root",
    )  # fmt: skip
    assert (out["sent"], out["failed"]) == (2, 0)
    wait_until(lambda: old_b.healthz()["counters"]["runs_held"] == 1, 30, "B holds the open run")
    assert jaeger_trace(jaeger.query_url, open_tid) is None  # held, not yet forwarded

    summary = stop_gracefully(old_b)
    assert f"worker={old_b.worker_id} " in summary and " dropped=0 " in summary, summary
    assert f"runs_compared={held_before + 1} " in summary, summary
    held = _spans(jaeger.query_url, open_tid, 2)
    assert sorted(s["name"] for s in held) == ["chat fake-model", "execute_tool lookup_order"]
    assert {otlp_attrs(s["attributes"]).get(WORKER) for s in held} == {old_b.worker_id}

    # B is down: the Collector accepts a run for B and retries it
    down_tid = trace_id_for(endpoints, b, f"{service}/while-down")
    out = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-down",
        "--trace-id", down_tid,
    )  # fmt: skip
    assert (out["sent"], out["exported"], out["failed"]) == (3, 3, 0)
    assert jaeger_trace(jaeger.query_url, down_tid) is None
    new_b = _start(
        "worker b (restarted)",
        start_worker,
        e2e_process_group,
        old_b.worker_id,
        f"grpc://{fleet.collector.return_grpc_endpoint}",
        grpc_port=int(b.rsplit(":", 1)[1]),
        args=["--record-dir", str(fleet.store), "--baselines", str(fleet.store)],
        name=f"serve-{old_b.worker_id}-restarted",
    )
    fleet.workers[b] = new_b
    spans = wait_for(
        lambda: (s := jaeger_trace(jaeger.query_url, down_tid)) and len(s) >= 3 and s,
        90,  # the sub-exporter's retry backoff grows up to 30 s
        what="the run sent while B was down, in Jaeger",
    )
    assert len(spans) == 3
    assert {otlp_attrs(s["attributes"]).get(WORKER) for s in spans} == {old_b.worker_id}
    assert new_b.healthz()["counters"]["received"] == 3


def test_worker_finds_the_baseline_in_jaeger_with_baseline_source(fleet, jaeger, e2e_process_group):
    """The other baseline source: a one-worker fleet whose worker has no recording store, only
    ``--baseline-source jaeger:URL``; it fetches the source trace the restored run names."""
    service = f"fleet-jaeger-{uuid.uuid4().hex[:8]}"
    port = backends.free_port()
    endpoint = f"{backends.LOOPBACK}:{port}"
    col = _start(
        "fleet collector (one worker)",
        start_fleet_collector,
        e2e_process_group,
        jaeger.otlp_grpc_endpoint,
        [endpoint],
        name="collector-fleet-jaeger",
    )
    worker = _start(
        "worker c",
        start_worker,
        e2e_process_group,
        f"fleet-c-{uuid.uuid4().hex[:6]}",
        f"grpc://{col.return_grpc_endpoint}",
        grpc_port=port,
        args=["--baseline-source", f"jaeger:{jaeger.query_url}/"],
    )
    ingress = col.collector.otlp_grpc_endpoint
    base_tid, changed_tid = uuid.uuid4().hex, uuid.uuid4().hex
    checkpoint_id = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-base",
        "--trace-id", base_tid, "--baseline",
    )["checkpoint"]  # fmt: skip
    _spans(jaeger.query_url, base_tid, 4)
    out = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-changed",
        "--trace-id", changed_tid, "--restore-from",
        f"{service}-base:{base_tid}:{checkpoint_id}", "--status", "lost",
    )  # fmt: skip

    def verdict() -> str | None:
        got = jaeger_trace(jaeger.query_url, changed_tid) or []
        roots = [s for s in got if s["name"] == "invoke_agent support-agent"]
        evs = [ev for s in roots for ev in _events(s, VERDICT_EVENT)]
        return evs[0]["gen_ai.evaluation.score.label"] if evs else None

    assert wait_until(verdict, 60, "verdict of the changed run") == "drift"
    spans = jaeger_trace(jaeger.query_url, changed_tid)
    assert len(spans) == out["sent"] == 3
    findings = [
        (s["spanId"], ev["agent_replay.drift.kind"])
        for s in spans
        for ev in _events(s, DRIFT_EVENT)
    ]
    assert findings == [(out["spans"]["lookup_order"], "output_changed")]
    assert {otlp_attrs(s["attributes"]).get(WORKER) for s in spans} == {worker.worker_id}
    assert worker.healthz()["counters"]["runs_compared"] == 1
    col.collector.process.stop()
    worker.process.stop()


def test_a_full_worker_pushes_back_and_the_collector_retries_without_loss(
    fleet, jaeger, e2e_process_group
):
    """A worker that may hold one run (``--max-held-runs 1``) holds an open restored run and
    refuses the request with the next one (gRPC ``UNAVAILABLE``); the Collector retries it
    until the open run's timeout (``--run-timeout 4``) frees the worker. Nothing is lost."""
    service = f"fleet-full-{uuid.uuid4().hex[:8]}"
    port = backends.free_port()
    col = _start(
        "fleet collector (one small worker)",
        start_fleet_collector,
        e2e_process_group,
        jaeger.otlp_grpc_endpoint,
        [f"{backends.LOOPBACK}:{port}"],
        name="collector-fleet-full",
    )
    store = str(fleet.store)
    worker = _start(
        "worker d",
        start_worker,
        e2e_process_group,
        f"fleet-d-{uuid.uuid4().hex[:6]}",
        f"grpc://{col.return_grpc_endpoint}",
        grpc_port=port,
        args=["--record-dir", store, "--baselines", store, "--max-held-runs", "1",
              "--run-timeout", "4"],
    )  # fmt: skip
    ingress = col.collector.otlp_grpc_endpoint
    base_tid, open_tid, next_tid = (uuid.uuid4().hex for _ in range(3))
    checkpoint_id = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-base",
        "--trace-id", base_tid, "--baseline",
    )["checkpoint"]  # fmt: skip
    _spans(jaeger.query_url, base_tid, 4)
    source = f"{service}-base:{base_tid}:{checkpoint_id}"
    run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-open",
        "--trace-id", open_tid, "--restore-from", source, "--open-root",
    )  # fmt: skip
    wait_until(lambda: worker.healthz()["counters"]["runs_held"] == 1, 30, "the open run held")
    out = run_producer(
        "run", "--endpoint", ingress, "--service", service, "--session", f"{service}-next",
        "--trace-id", next_tid, "--restore-from", source,
    )  # fmt: skip
    assert (out["sent"], out["failed"]) == (3, 0)  # the Collector accepted it
    wait_until(
        lambda: worker.healthz()["counters"]["requests_rejected"] >= 1, 30, "a refused request"
    )
    nxt = _spans(jaeger.query_url, next_tid, 3)  # retried by the Collector after the timeout
    assert len(nxt) == 3
    held = _spans(jaeger.query_url, open_tid, 2)
    assert len(held) == 2
    counters = worker.healthz()["counters"]
    # A refused request's spans count as refused{reason=full}, neither received nor dropped
    # (the worker's invariant received = exported + dropped); the Collector sent them again,
    # so nothing was lost: 9 spans in, 9 exported, each refusal 3 spans refused.
    refusals = counters["requests_rejected"]
    assert refusals >= 1
    assert (counters["runs_timed_out"], counters["runs_held"]) == (1, 0), counters
    assert counters["refused_by_reason"] == {"full": 3 * refusals}, counters
    assert (counters["dropped"], counters["dropped_by_reason"]) == (0, {}), counters
    assert (counters["received"], counters["exported"]) == (9, 9), counters
    tele = col.collector.telemetry_endpoint
    wait_for(lambda: _accepted_spans(tele, "otlp/workers") == 9, 30, what="9 spans returned")
    assert _accepted_spans(tele, "otlp") == 9
    col.collector.process.stop()
    worker.process.stop()


def test_a_real_instrumented_agent_through_the_fleet(fleet, jaeger):
    """A real agent: the ``openai`` client against the local fake server, traced by the GenAI
    OpenAI instrumentation and numbered by the ``ReplayProcessor``, exports to the fleet
    Collector. Its baseline lands in the fleet's recording store (written by whichever worker
    its trace hashed to); the agent restores the checkpoint from that store and runs again,
    unchanged and with a planted tool result, and the workers compare each run."""
    pytest.importorskip("openai")
    pytest.importorskip("opentelemetry.instrumentation.genai.openai")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_replay import agent_run, checkpoint, restore
    from otel_replay.capture.processor import ReplayProcessor
    from tests.agents.instrument import instrumented
    from tests.agents.openai_loop import fake_openai_server, make_openai_runner
    from tests.agents.script import BASELINE, SCENARIOS

    service = f"fleet-openai-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource({"service.name": service}))
    provider.add_span_processor(ReplayProcessor(meter_provider=NoOpMeterProvider()))
    # each run flushed as one request (its provenance is on its root, which ends last)
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=fleet.collector.collector.otlp_grpc_endpoint, insecure=True),
            schedule_delay_millis=600_000,
        )
    )
    tracer = provider.get_tracer(service)
    traces: dict[str, str] = {}
    try:
        with (
            fake_openai_server() as server,
            pytest.MonkeyPatch.context() as mp,
            instrumented("openai", provider, mp, meter_provider=NoOpMeterProvider()),
        ):
            runner = make_openai_runner(server, tracer, own_run=False)
            with agent_run("weather_agent", session_id=f"{service}-base", tracer=tracer) as run:
                cid = checkpoint({"city": "Paris"}, label="start", tracer=tracer)
                runner(BASELINE)
            traces["base"] = format(run.span.get_span_context().trace_id, "032x")
            assert provider.force_flush(30_000)
            _spans(jaeger.query_url, traces["base"], 4)  # recorded and forwarded by a worker
            for name in ("same", "result_changed"):
                result = restore(cid, source=str(fleet.store), target={}, tracer=tracer)
                with result.run("weather_agent") as run:
                    runner(SCENARIOS[name])
                traces[name] = format(run.span.get_span_context().trace_id, "032x")
                assert provider.force_flush(30_000)
    finally:
        provider.shutdown()

    def labels() -> dict[str, str] | None:
        out = {}
        for name in ("same", "result_changed"):
            got = jaeger_trace(jaeger.query_url, traces[name]) or []
            evs = [ev for s in got for ev in _events(s, VERDICT_EVENT)]
            if not evs:
                return None
            (ev,) = evs
            out[name] = ev["gen_ai.evaluation.score.label"]
        return out

    assert wait_until(labels, 60, "both verdicts") == {
        "same": "no_drift",
        "result_changed": "drift",
    }
    spans = {name: jaeger_trace(jaeger.query_url, tid) for name, tid in traces.items()}
    ids = {w.worker_id for w in fleet.workers.values()}
    for name, ss in spans.items():
        (worker,) = {otlp_attrs(s["attributes"]).get(WORKER) for s in ss}  # one worker per run
        assert worker in ids, (name, worker)
    findings = [
        (name, otlp_attrs(s["attributes"]).get("gen_ai.tool.name"), ev["agent_replay.drift.kind"])
        for name, ss in spans.items()
        for s in ss
        for ev in _events(s, DRIFT_EVENT)
        if "agent_replay.drift.caused_by" not in ev
    ]
    assert findings == [("result_changed", "get_weather", "output_changed")]
