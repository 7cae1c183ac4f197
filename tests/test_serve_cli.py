"""``otel-replay serve`` as a process: the ready line, SIGTERM's graceful shutdown (held runs
compared and forwarded, exporters flushed, a summary line, exit 0), environment variables,
and usage errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from otel_replay.cli.main import main
from otel_replay.core import conventions as c
from tests.otlp_sink import attrs_of, otlp_sink
from tests.serve_producer import Agent, http_exporter
from tests.test_serve import post, request_of, restored_children

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(
    r"^otel-replay serve: ready grpc=127\.0\.0\.1:(\d+) http=127\.0\.0\.1:(\d+) worker=(\S+)\n$"
)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "otel_replay.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
    )


def test_sigterm_compares_and_forwards_held_runs_then_exits_0(tmp_path):
    rec = tmp_path / "rec"
    with otlp_sink() as sink:
        proc = _start(
            {
                c.ENV_SERVE_GRPC_PORT: "0",
                c.ENV_SERVE_HTTP_PORT: "0",
                c.ENV_SERVE_DOWNSTREAM: sink.url,
                c.ENV_SERVE_RECORD_DIR: str(rec),
                c.ENV_SERVE_BASELINES: str(rec),  # the fleet's recording store
                c.ENV_SERVE_WORKER_ID: "w-env",
            },
            "--metric-interval",
            "60",  # only the final export at shutdown
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = READY.match(line)
            assert match, line
            assert match.group(3) == "w-env"
            http = f"127.0.0.1:{match.group(2)}"
            agent = Agent(http_exporter(http))
            base = agent.baseline("base-cli")
            agent.flush()
            agent.shutdown()
            status, _h, _b = post(http, request_of(restored_children(base, "open-cli")))
            assert status == 200
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        assert out == ""
        (summary,) = [ln for ln in err.splitlines() if ln.startswith("otel-replay serve: stopped")]
        assert summary == (
            "otel-replay serve: stopped worker=w-env received=6 exported=6 dropped=0 refused=0 "
            "runs_compared=1 runs_not_compared=0 runs_timed_out=0 requests_rejected=0"
        )
        held = [s for _r, s in sink.spans() if attrs_of(s).get(c.SESSION_ID) == "open-cli"]
        assert len(held) == 2
        assert sink.metric_total(c.METRIC_RUNS_COMPARED) == 1
        assert sink.metric_total(c.METRIC_SERVE_EXPORTED) == 6
    assert [p.name for p in rec.glob("*.jsonl")] == ["spans-w-env.jsonl"]


def test_settings_without_an_option_come_from_the_environment():
    from google.rpc import status_pb2

    with otlp_sink() as sink:
        proc = _start(
            {
                c.ENV_SERVE_GRPC_PORT: "0",
                c.ENV_SERVE_HTTP_PORT: "0",
                c.ENV_SERVE_DOWNSTREAM: sink.url,
                c.ENV_SERVE_MAX_REQUEST_BYTES: "4096",
            }
        )
        try:
            assert proc.stdout is not None
            match = READY.match(proc.stdout.readline())
            assert match
            status, _h, reply = post(f"127.0.0.1:{match.group(2)}", b"x" * 5000)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert status == 413
    assert status_pb2.Status.FromString(reply).message == (
        "request body of 5000 bytes exceeds the cap of 4096 bytes"
    )
    assert proc.returncode == 0


def test_no_downstream_is_a_usage_error(capsys, monkeypatch):
    for name in (c.ENV_SERVE_DOWNSTREAM, "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    code = main(["serve", "--grpc-port", "0", "--http-port", "0"])
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("otel-replay serve: error: no downstream: pass --downstream")


def test_a_tls_file_that_cannot_be_read_is_a_usage_error(capsys, monkeypatch, tmp_path):
    missing = tmp_path / "ca.pem"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(missing))
    code = main(
        ["serve", "--grpc-port", "0", "--http-port", "0", "--downstream", "https://127.0.0.1:9"]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        f"otel-replay serve: error: OTEL_EXPORTER_OTLP_CERTIFICATE={missing}: cannot read it: "
        "No such file or directory\n"
    )


def test_a_port_in_use_is_a_usage_error(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "serve",
                "--grpc-port",
                "0",
                "--http-port",
                str(port),
                "--downstream",
                "http://127.0.0.1:9",
            ]
        )
    assert code == 2
    assert "Address already in use" in capsys.readouterr().err


def test_bad_option_values(capsys):
    assert main(["serve", "--grpc-port", "70000"]) == 2
    assert "not a port number (0-65535): '70000'" in capsys.readouterr().err
    assert main(["serve", "--run-timeout", "0"]) == 2
    assert "not a positive number: '0'" in capsys.readouterr().err
