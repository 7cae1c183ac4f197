"""``otel-replay demo``: its resource honours OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, and
its OTLP export is bounded, quiet and reported in one line when the endpoint fails. The demo
runs in a subprocess (the real console script path, with a real terminal's stderr); the OTLP
endpoint is a tiny local HTTP server that stands in for a Collector."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME

from otel_replay.cli.otlp import DEMO_SERVICE_NAME, demo_resource, unreachable
from otel_replay.core import conventions as c
from otel_replay.formats.files import load_recording

ROOT = Path(__file__).resolve().parents[1]


def _demo(out: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "otel_replay.cli", "demo", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # the bound: an unreachable endpoint used to take 35 s of retries
        check=False,
    )


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _resource_names(out: Path) -> set[object]:
    return {
        span.resource.attributes[SERVICE_NAME] for span in load_recording(out / "recording").spans
    }


# --- the resource --------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_demo_resource_defaults_to_the_demo_name(clean_env: pytest.MonkeyPatch) -> None:
    attrs = demo_resource().attributes
    assert attrs[SERVICE_NAME] == DEMO_SERVICE_NAME == "otel-replay-demo"
    assert attrs[SERVICE_INSTANCE_ID]
    assert attrs["telemetry.sdk.name"] == "opentelemetry"


def test_demo_resource_honours_otel_service_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_SERVICE_NAME", "my-agent")
    assert demo_resource().attributes[SERVICE_NAME] == "my-agent"


def test_demo_resource_honours_otel_resource_attributes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=from-attrs,service.instance.id=i-1,deployment.environment=ci",
    )
    attrs = demo_resource().attributes
    assert (attrs[SERVICE_NAME], attrs[SERVICE_INSTANCE_ID], attrs["deployment.environment"]) == (
        "from-attrs",
        "i-1",
        "ci",
    )
    clean_env.setenv("OTEL_SERVICE_NAME", "wins")  # the SDK's rule: OTEL_SERVICE_NAME wins
    assert demo_resource().attributes[SERVICE_NAME] == "wins"


def test_demo_records_with_otel_service_name(tmp_path: Path) -> None:
    proc = _demo(tmp_path / "out", OTEL_SERVICE_NAME="my-agent")
    assert proc.returncode == 0, proc.stderr
    assert _resource_names(tmp_path / "out") == {"my-agent"}
    out = tmp_path / "out"
    lines = proc.stdout.splitlines()
    assert "; 6 steps replayed (0 hook errors)" in lines[16]
    assert [ln for ln in lines if ln.startswith("Recording ")][0] == (
        f"Recording {out / 'recording'}: 30 spans, 4 sessions, 4 checkpoints "
        f"(inspect it with: otel-replay inspect {out})"
    )


# --- an unreachable endpoint ---------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_unreachable_endpoint_is_one_line_and_bounded(tmp_path: Path, protocol: str) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    proc = _demo(
        tmp_path / "out", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_PROTOCOL=protocol
    )
    assert proc.returncode == 0
    assert proc.stderr == (
        f"otel-replay demo: warning: OTLP endpoint {endpoint} is unreachable (connection "
        "refused); recording locally only, nothing is exported\n"
    )
    assert "exporting spans and metrics over OTLP" not in proc.stdout
    assert len(load_recording(tmp_path / "out" / "recording").spans) == 30


def test_unreachable_tells_why_and_skips_what_it_cannot_probe() -> None:
    port = _free_port()
    assert unreachable(f"http://127.0.0.1:{port}", "grpc") == "connection refused"
    assert unreachable(f"127.0.0.1:{port}", "grpc") == "connection refused"
    assert unreachable("http://127.0.0.1", "grpc") is None  # no port to infer for gRPC
    assert unreachable("not a url:x", "grpc") is None


# --- a reachable OTLP/HTTP endpoint --------------------------------------------------------
class _OtlpHttp(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP protobuf POSTs on /v1/traces, /v1/metrics and /v1/logs."""

    timeout = 10  # seconds per connection: a stuck client cannot hold the server
    status = 200
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, body))
        self.send_response(
            self.status if self.path in ("/v1/traces", "/v1/metrics", "/v1/logs") else 404
        )
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def otlp_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    status = getattr(request, "param", 200)
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_OtlpHttp,), {"received": received, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()  # ends serve_forever's loop
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.mark.timeout(120)
def test_spans_and_metrics_arrive_at_a_reachable_endpoint(
    tmp_path: Path, otlp_server: tuple[str, list[tuple[str, bytes]]]
) -> None:
    endpoint, received = otlp_server
    proc = _demo(
        tmp_path / "out",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"exporting spans and metrics over OTLP to {endpoint}\n" in proc.stdout
    assert {path for path, _ in received} == {"/v1/traces", "/v1/metrics", "/v1/logs"}
    exported: list[tuple[int, str]] = []
    services: set[str] = set()
    metric_names: set[str] = set()
    event_names: set[str] = set()
    for path, body in received:
        if path == "/v1/traces":
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                services |= {
                    a.value.string_value for a in rs.resource.attributes if a.key == SERVICE_NAME
                }
                exported += [
                    (int.from_bytes(s.span_id, "big"), s.name)
                    for ss in rs.scope_spans
                    for s in ss.spans
                ]
        elif path == "/v1/metrics":
            for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                metric_names |= {m.name for sm in rm.scope_metrics for m in sm.metrics}
        else:
            for rl in ExportLogsServiceRequest.FromString(body).resource_logs:
                event_names |= {r.event_name for sl in rl.scope_logs for r in sl.log_records}
    recorded = load_recording(tmp_path / "out" / "recording").spans
    assert sorted(exported) == sorted((s.context.span_id, s.name) for s in recorded)
    assert len(exported) == 30
    assert services == {DEMO_SERVICE_NAME}
    assert {c.METRIC_DRIFT_FINDINGS, c.METRIC_RUNS_COMPARED} <= metric_names
    assert event_names == {c.DRIFT_EVENT, c.GEN_AI_EVALUATION_RESULT_EVENT}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("otlp_server", [404], indirect=True)
def test_a_failing_endpoint_is_reported_once(
    tmp_path: Path, otlp_server: tuple[str, list[tuple[str, bytes]]]
) -> None:
    endpoint, received = otlp_server
    proc = _demo(
        tmp_path / "out",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    assert proc.returncode == 0
    assert received != []
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"otel-replay demo: warning: OTLP export to {endpoint} failed (")
    assert "404" in line


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers (a hung Collector)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():  # bounded: the fixture sets stop when the test ends
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_silent_endpoint_costs_one_timeout_and_one_line(
    tmp_path: Path, silent_endpoint: str, protocol: str
) -> None:
    proc = _demo(
        tmp_path / "out",
        OTEL_EXPORTER_OTLP_ENDPOINT=silent_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
    )
    assert proc.returncode == 0
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"otel-replay demo: warning: OTLP export to {silent_endpoint} failed (")
    # after the first failed export the endpoint is given up on: the rest fail at once
    assert re.search(r"\); \d+ later exports? skipped$", line), line
    assert len(load_recording(tmp_path / "out" / "recording").spans) == 30
