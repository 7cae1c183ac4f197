"""The fleet topology for e2e tests: the real Collector with deploy/collector/fleet.yaml and
``otel-replay serve`` workers as subprocesses, all on free loopback ports.

:func:`worker_for_trace` is the Collector's own choice of worker (a port of the
``load_balancing`` exporter's consistent hash ring at contrib v0.161.0,
``exporter/loadbalancingexporter/consistent_hashing.go``), so a test can choose trace ids that
deterministically spread its runs over the workers, and then check that the Collector agreed.
"""

from __future__ import annotations

import json
import re
import struct
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import backends
from .backends import LOOPBACK, REPO_ROOT, ProcessGroup, free_port, http_ok
from .helpers import get_json

FLEET_CONFIG = REPO_ROOT / "deploy" / "collector" / "fleet.yaml"
PRODUCER = REPO_ROOT / "tests" / "apps" / "fleet_producer.py"

_MAX_POSITIONS = 131071  # maxPositions
_WEIGHT = 200  # defaultWeight
_PROBE_LIMIT = 10  # linearProbeLimit


def _ring(endpoints: Sequence[str]) -> list[tuple[int, str]]:
    candidates = []
    for endpoint in endpoints:
        for i in range(_WEIGHT):
            h = zlib.crc32(endpoint.encode() + struct.pack("<I", i))
            candidates.append((h % _MAX_POSITIONS, h, endpoint))
    candidates.sort()
    used: set[int] = set()
    items = []
    for pos, _h, endpoint in candidates:
        probed = 0
        while pos in used and probed < _PROBE_LIMIT:
            pos = (pos + 1) % _MAX_POSITIONS
            probed += 1
        if probed >= _PROBE_LIMIT:
            continue
        used.add(pos)
        items.append((pos, endpoint))
    items.sort()
    return items


def _find(items: list[tuple[int, str]], pos: int) -> str:
    """``bsearch`` of consistent_hashing.go: the first item at or after ``pos``, wrapping."""
    for item_pos, endpoint in items:
        if item_pos >= pos:
            return endpoint
    return items[0][1]


def worker_for_key(endpoints: Sequence[str], key: bytes) -> str:
    """The endpoint the ``load_balancing`` exporter sends routing key ``key`` to."""
    return _find(_ring(endpoints), zlib.crc32(key) % _MAX_POSITIONS)


def worker_for_trace(endpoints: Sequence[str], trace_id_hex: str) -> str:
    """``routing_key: traceID``: the key is the 16 raw bytes of the trace id."""
    return worker_for_key(endpoints, bytes.fromhex(trace_id_hex))


def worker_for_session(endpoints: Sequence[str], session_id: str) -> str:
    """``routing_key: attributes`` over ``[agent_replay.session.id]``."""
    return worker_for_key(endpoints, f"agent_replay.session.id={session_id}|".encode())


def trace_id_for(endpoints: Sequence[str], endpoint: str, seed: str) -> str:
    """The first trace id derived from ``seed`` (deterministic) that hashes to ``endpoint``."""
    for n in range(10_000):
        tid = format(zlib.crc32(f"{seed}/{n}".encode()), "08x") * 4
        if worker_for_trace(endpoints, tid) == endpoint:
            return tid
    raise AssertionError(f"no trace id for {endpoint}")


@dataclass
class FleetCollector:
    collector: backends.Collector
    return_grpc_endpoint: str  # 127.0.0.1:P: the workers' --downstream (grpc://...)
    return_http_endpoint: str
    workers: list[str]  # the static resolver's list


def start_fleet_collector(
    group: ProcessGroup,
    jaeger_otlp_grpc_endpoint: str,
    workers: Sequence[str],
    *,
    routing: str = "load_balancing/trace_id",
    name: str = "collector-fleet",
    env: dict[str, str] | None = None,
) -> FleetCollector:
    ret_grpc, ret_http = f"{LOOPBACK}:{free_port()}", f"{LOOPBACK}:{free_port()}"
    cfg = {
        "OTEL_REPLAY_FLEET_WORKERS": json.dumps(list(workers)),
        "OTEL_REPLAY_FLEET_ROUTING": routing,
        "OTEL_REPLAY_FLEET_RETURN_GRPC_ENDPOINT": ret_grpc,
        "OTEL_REPLAY_FLEET_RETURN_HTTP_ENDPOINT": ret_http,
        "OTEL_REPLAY_SAMPLING_PERCENTAGE": "100",
        "OTEL_REPLAY_DECISION_WAIT": "2s",
        **(env or {}),
    }
    col = backends.start_collector(
        group, jaeger_otlp_grpc_endpoint, name=name, env=cfg, config=FLEET_CONFIG
    )
    return FleetCollector(col, ret_grpc, ret_http, list(workers))


_READY = re.compile(r"otel-replay serve: ready grpc=(\S+) http=(\S+) worker=(\S+)")


@dataclass
class Worker:
    process: backends.Process
    worker_id: str
    grpc_endpoint: str  # 127.0.0.1:P (what the Collector's resolver lists)
    http_url: str  # http://127.0.0.1:P (POST /v1/traces, GET /healthz)

    def healthz(self) -> dict:
        return get_json(f"{self.http_url}/healthz", timeout=5)


def serve_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "otel_replay.cli", "serve", *args]


def start_worker(
    group: ProcessGroup,
    worker_id: str,
    downstream: str | None,
    *,
    grpc_port: int | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    name: str | None = None,
    timeout: float = 60.0,
) -> Worker:
    """``otel-replay serve`` (this checkout's code) on loopback; ready when it printed its ready
    line and /healthz answers. ``downstream`` ``None``: the ``OTEL_EXPORTER_OTLP_*`` variables
    of ``env``."""
    grpc_port = grpc_port or free_port()
    http_port = free_port()
    argv = serve_argv(
        "--host",
        LOOPBACK,
        "--grpc-port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        "--worker-id",
        worker_id,
        *(("--downstream", downstream) if downstream is not None else ()),
        *args,
    )
    full_env = {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = group.start(name or f"serve-{worker_id}", argv, env=full_env)
    url = f"http://{LOOPBACK}:{http_port}"

    def ready() -> bool:
        text = proc.log_path.read_text(errors="replace")
        return bool(_READY.search(text)) and http_ok(f"{url}/healthz")

    group.wait_ready(proc, ready, timeout, "ready line on stdout and /healthz")
    # the last ready line: a restarted worker appends to the same log
    match = list(_READY.finditer(proc.log_path.read_text(errors="replace")))[-1]
    assert match.group(1) == f"{LOOPBACK}:{grpc_port}", match.group(0)
    assert match.group(3) == worker_id, match.group(0)
    return Worker(proc, worker_id, f"{LOOPBACK}:{grpc_port}", url)


def run_producer(*args: str, timeout: float = 120.0) -> dict:
    """tests/apps/fleet_producer.py (OTel SDK only) in a subprocess; its JSON line."""
    import os
    import subprocess

    # the producer configures its exporter itself: none of the runner's OTEL_* settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(PRODUCER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def stop_gracefully(worker: Worker, timeout: float = 60.0) -> str:
    """SIGTERM; wait for exit 0; the summary line it printed (``otel-replay serve: stopped``)."""
    import os
    import signal

    os.killpg(worker.process.popen.pid, signal.SIGTERM)
    code = worker.process.popen.wait(timeout=timeout)
    log = worker.process.log_tail(40)
    assert code == 0, log
    (line,) = [ln for ln in log.splitlines() if ln.startswith("otel-replay serve: stopped")]
    return line


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
