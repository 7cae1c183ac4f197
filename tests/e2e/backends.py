"""Start and stop the real backends (Collector, Jaeger, Prometheus, Phoenix) on loopback.

Used by ``tests/e2e/conftest.py``. Nothing here touches the network beyond 127.0.0.1.
Binaries come from the cache filled by ``scripts/backends/setup-all.sh``:
``${OTEL_REPLAY_CACHE:-~/.cache/otel-replay}/bin/{otelcol-replay,jaeger}``,
``${OTEL_REPLAY_CACHE}/phoenix-venv/bin/phoenix`` and Debian's ``prometheus``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = REPO_ROOT / "collector-config.yaml"
JAEGER_CONFIG = REPO_ROOT / "deploy" / "jaeger" / "config.yaml"
CACHE_DIR = Path(os.environ.get("OTEL_REPLAY_CACHE", Path.home() / ".cache" / "otel-replay"))
BIN_DIR = CACHE_DIR / "bin"
LOOPBACK = "127.0.0.1"


class MissingBackend(Exception):
    """A backend binary is not installed; the message says what and how to get it."""


def collector_binary() -> Path:
    path = BIN_DIR / "otelcol-replay"
    if not os.access(path, os.X_OK):
        raise MissingBackend(f"{path} (build it: scripts/backends/build-collector.sh)")
    return path


def jaeger_binary() -> Path:
    path = BIN_DIR / "jaeger"
    if not os.access(path, os.X_OK):
        raise MissingBackend(f"{path} (build it: scripts/backends/build-jaeger.sh)")
    return path


def prometheus_binary() -> Path:
    found = os.environ.get("OTEL_REPLAY_PROMETHEUS_BIN") or shutil.which("prometheus")
    if not found:
        raise MissingBackend(
            "prometheus (apt-get install -y prometheus, or scripts/backends/setup-all.sh)"
        )
    return Path(found)


PHOENIX_LAUNCHER = REPO_ROOT / "scripts" / "backends" / "phoenix_serve.py"


def phoenix_binary() -> Path:
    """The Phoenix venv's python (Phoenix is started via scripts/backends/phoenix_serve.py,
    which is ``phoenix serve`` with its gRPC listener on loopback instead of [::])."""
    venv = CACHE_DIR / "phoenix-venv"
    if not os.access(venv / "bin" / "phoenix", os.X_OK):
        raise MissingBackend(
            f"{venv}/bin/phoenix (install it: scripts/backends/install-phoenix.sh)"
        )
    return venv / "bin" / "python"


_handed_out: set[int] = set()


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1, never the same one twice in this process."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Process:
    """A backend process in its own process group, logging to ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=5)


@dataclass
class ProcessGroup:
    """Every process started by the e2e fixtures, so they can be stopped and their logs shown."""

    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        full_env = dict(os.environ)
        # never let a backend pick up the test runner's OTel SDK settings
        for key in list(full_env):
            if key.startswith("OTEL_EXPORTER_") or key.startswith("OTEL_SERVICE"):
                del full_env[key]
        full_env.update(env or {})
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(  # noqa: S603
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(cwd or REPO_ROOT),
                start_new_session=True,
            )
        proc = Process(name=name, argv=argv, log_path=log_path, popen=popen)
        self.processes.append(proc)
        return proc

    def wait_ready(
        self, proc: Process, check: Callable[[], bool], timeout: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(
                    f"{proc.name} exited with {proc.popen.returncode} before {what}\n"
                    f"--- {proc.log_path} ---\n{proc.log_tail()}"
                )
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"{proc.name} not ready after {timeout:.0f}s ({what})\n"
            f"--- {proc.log_path} ---\n{proc.log_tail()}"
        )

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def logs_report(self, lines: int = 60) -> str:
        parts = []
        for proc in self.processes:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"--- {proc.name} ({state}) {proc.log_path} ---\n{proc.log_tail(lines)}")
        return "\n".join(parts)


# --------------------------------------------------------------------------------------------
@dataclass
class Jaeger:
    process: Process
    query_url: str  # http://127.0.0.1:<port> — UI, /api/v3/..., /api/traces
    otlp_grpc_endpoint: str  # 127.0.0.1:<port> (what the collector exports to)
    otlp_http_endpoint: str  # http://127.0.0.1:<port>


def start_jaeger(group: ProcessGroup, name: str = "jaeger", timeout: float = 60.0) -> Jaeger:
    binary = jaeger_binary()
    grpc, http, query, query_grpc = free_port(), free_port(), free_port(), free_port()
    env = {
        "JAEGER_LISTEN_HOST": LOOPBACK,
        "JAEGER_OTLP_GRPC_PORT": str(grpc),
        "JAEGER_OTLP_HTTP_PORT": str(http),
        "JAEGER_QUERY_HTTP_PORT": str(query),
        "JAEGER_QUERY_GRPC_PORT": str(query_grpc),
    }
    proc = group.start(name, [str(binary), "--config", str(JAEGER_CONFIG)], env=env)
    query_url = f"http://{LOOPBACK}:{query}"
    group.wait_ready(
        proc,
        lambda: http_ok(f"{query_url}/api/services") and port_open(LOOPBACK, grpc),
        timeout,
        "query API /api/services answers and OTLP/gRPC port is open",
    )
    return Jaeger(proc, query_url, f"{LOOPBACK}:{grpc}", f"http://{LOOPBACK}:{http}")


@dataclass
class Collector:
    process: Process
    otlp_grpc_endpoint: str  # 127.0.0.1:<port>   (OTLPSpanExporter(endpoint=..., insecure=True))
    otlp_http_endpoint: str  # http://127.0.0.1:<port>   (append /v1/traces, /v1/metrics)
    prometheus_exporter_endpoint: str  # 127.0.0.1:<port>  (scrape target, path /metrics)
    telemetry_endpoint: str  # 127.0.0.1:<port>  (collector's own metrics, path /metrics)
    env: dict[str, str]  # the config env vars it was started with

    @property
    def metrics_url(self) -> str:
        return f"http://{self.prometheus_exporter_endpoint}/metrics"


def start_collector(
    group: ProcessGroup,
    jaeger_otlp_grpc_endpoint: str,
    *,
    name: str = "collector",
    env: Mapping[str, str] | None = None,
    config: Path = COLLECTOR_CONFIG,
    timeout: float = 60.0,
) -> Collector:
    """Start ``otelcol-replay --config collector-config.yaml`` on free loopback ports.

    ``env`` may override any of the config's env vars (e.g. ``OTEL_REPLAY_SAMPLING_PERCENTAGE``,
    ``OTEL_REPLAY_DECISION_WAIT``, ``OTEL_REPLAY_REDACT_GENAI_CONTENT``).
    """
    binary = collector_binary()
    grpc, http, prom, telemetry = free_port(), free_port(), free_port(), free_port()
    cfg_env = {
        "OTEL_REPLAY_COLLECTOR_OTLP_GRPC_ENDPOINT": f"{LOOPBACK}:{grpc}",
        "OTEL_REPLAY_COLLECTOR_OTLP_HTTP_ENDPOINT": f"{LOOPBACK}:{http}",
        "JAEGER_OTLP_ENDPOINT": jaeger_otlp_grpc_endpoint,
        "OTEL_REPLAY_PROMETHEUS_EXPORTER_ENDPOINT": f"{LOOPBACK}:{prom}",
        "OTEL_REPLAY_COLLECTOR_TELEMETRY_PORT": str(telemetry),
    }
    cfg_env.update(env or {})
    proc = group.start(name, [str(binary), "--config", str(config)], env=cfg_env)
    group.wait_ready(
        proc,
        lambda: (
            port_open(LOOPBACK, grpc)
            and port_open(LOOPBACK, http)
            and http_ok(f"http://{LOOPBACK}:{prom}/metrics")
        ),
        timeout,
        "OTLP ports open and prometheus exporter /metrics answers",
    )
    return Collector(
        proc,
        f"{LOOPBACK}:{grpc}",
        f"http://{LOOPBACK}:{http}",
        f"{LOOPBACK}:{prom}",
        f"{LOOPBACK}:{telemetry}",
        cfg_env,
    )


@dataclass
class Prometheus:
    process: Process
    url: str  # http://127.0.0.1:<port>  (/api/v1/query, /api/v1/query_exemplars, UI)
    config_path: Path
    scrape_interval: str


PROMETHEUS_CONFIG_TEMPLATE = """\
# generated by tests/e2e (otel-replay); scrapes the otel-replay collector
global:
  scrape_interval: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: otel-replay-collector
    # keep job/instance from the metrics (service.name / service.instance.id)
    honor_labels: true
    static_configs:
      - targets: ['{exporter}']
  - job_name: otelcol-telemetry
    static_configs:
      - targets: ['{telemetry}']
"""


def start_prometheus(
    group: ProcessGroup,
    workdir: Path,
    exporter_endpoint: str,
    telemetry_endpoint: str,
    *,
    name: str = "prometheus",
    scrape_interval: str = "1s",
    timeout: float = 60.0,
) -> Prometheus:
    binary = prometheus_binary()
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(
        PROMETHEUS_CONFIG_TEMPLATE.format(
            interval=scrape_interval, exporter=exporter_endpoint, telemetry=telemetry_endpoint
        )
    )
    argv = [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--storage.tsdb.retention.time=1d",
        "--enable-feature=exemplar-storage",
        "--web.enable-lifecycle",
    ]
    proc = group.start(name, argv)
    url = f"http://{LOOPBACK}:{port}"
    group.wait_ready(proc, lambda: http_ok(f"{url}/-/ready"), timeout, "/-/ready")
    return Prometheus(proc, url, config, scrape_interval)


@dataclass
class Phoenix:
    process: Process
    url: str  # http://127.0.0.1:<port>  (UI, REST /v1/projects/{project}/spans)
    otlp_http_traces_endpoint: str  # http://127.0.0.1:<port>/v1/traces
    otlp_grpc_endpoint: str  # 127.0.0.1:<grpc port>
    working_dir: Path


def start_phoenix(
    group: ProcessGroup, workdir: Path, *, name: str = "phoenix", timeout: float = 180.0
) -> Phoenix:
    binary = phoenix_binary()
    port, grpc = free_port(), free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": LOOPBACK,
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        # no product analytics / outbound calls from the sandbox
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_DB_LOGGING_LEVEL": "warning",
    }
    proc = group.start(name, [str(binary), str(PHOENIX_LAUNCHER), "serve"], env=env)
    url = f"http://{LOOPBACK}:{port}"
    group.wait_ready(
        proc,
        lambda: http_ok(f"{url}/healthz") and http_ok(f"{url}/v1/projects"),
        timeout,
        "/healthz and /v1/projects answer",
    )
    return Phoenix(proc, url, f"{url}/v1/traces", f"{LOOPBACK}:{grpc}", workdir)
