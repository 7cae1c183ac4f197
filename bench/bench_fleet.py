"""Throughput of one ``otel-replay serve`` worker against a bare OTLP receiver, measured in
the same run.

    .venv/bin/python bench/bench_fleet.py                  # 40,960 spans, 5 rounds
    .venv/bin/python bench/bench_fleet.py --spans 5120 --rounds 1

Realistic agent spans (an ``invoke_agent`` root, LLM calls with GenAI messages, tool calls;
session ids and step numbers as the documented attributes) are encoded by the SDK's OTLP
encoder into requests of 512 spans (the SDK ``BatchSpanProcessor``'s batch size). A load
generator in another process POSTs them over one keep-alive connection as OTLP/HTTP
protobuf, one request after the other, to:

* **bare**: the same ``ThreadingHTTPServer`` stack that only parses each request
  (``ExportTraceServiceRequest.FromString``) and answers 200: the floor;
* **worker**: an ``otel-replay serve`` worker (decode, admission, DriftProcessor, worker
  attribute, export by the SDK's OTLP/HTTP exporter to a sink in a third process); timed
  until every span has been exported; ``--restored`` of the runs are restored runs compared
  with a baseline.

Prints spans/s of each (median over the rounds, wall time) and the ratio worker/bare; the
target is a ratio of at least 0.5 for traffic without restored runs. Also the same ratio in
spans per CPU second of the receiving process (the load generator and the sink run in other
processes), which other load on the machine disturbs less.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import set_span_in_context  # noqa: E402

from otel_replay.serve.config import ServeConfig  # noqa: E402
from otel_replay.serve.service import Service  # noqa: E402

BATCH = 512
TARGET_RATIO = 0.5
_SPANS_PER_RUN = 5

# The load generator: POST each length-prefixed request of a file, in order, on one
# connection; exits non-zero on a non-200 answer.
_SENDER = r"""
import http.client, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
conn = http.client.HTTPConnection(host, port, timeout=60)
i = 0
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big"); body = data[i + 4:i + 4 + n]; i += 4 + n
    conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
    resp = conn.getresponse(); resp.read()
    if resp.status != 200:
        sys.exit(f"HTTP {resp.status}")
"""

# The downstream of the worker: answers every OTLP/HTTP export with 200, parses nothing.
_SINK = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def agent_spans(n: int, restored_share: float, checkpoint_id: str) -> list[Any]:
    """``n`` spans of agent runs (5 spans each), as the SDK ends them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "bench-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    runs = max(1, n // _SPANS_PER_RUN)
    every = round(1 / restored_share) if restored_share > 0 else 0
    for r in range(runs):
        sid = uuid.uuid4().hex
        restored = every and r % every == 0
        prov = {"agent_replay.replay.checkpoint_id": checkpoint_id} if restored else {}
        root = tracer.start_span(
            "invoke_agent support-agent",
            attributes={
                "agent_replay.session.id": sid,
                "agent_replay.step.sequence": 1,
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support-agent",
                **prov,
                **({"agent_replay.replay.run_id": uuid.uuid4().hex} if restored else {}),
            },
        )
        ctx = set_span_in_context(root)
        seq = 1
        for turn in range(2):
            seq += 1
            tracer.start_span(
                "chat gpt-4o",
                context=ctx,
                attributes={
                    "agent_replay.session.id": sid,
                    "agent_replay.step.sequence": seq,
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 412 + turn,
                    "gen_ai.usage.output_tokens": 37,
                    "gen_ai.input.messages": json.dumps(
                        [
                            {
                                "role": "user",
                                "parts": [
                                    {
                                        "type": "text",
                                        "content": "Where is my "
                                        "order A-17? It was due last week and " * 4,
                                    }
                                ],
                            }
                        ]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [
                                    {
                                        "type": "text",
                                        "content": "Let me look that order up for you. " * 3,
                                    }
                                ],
                            }
                        ]
                    ),
                    **prov,
                },
            ).end()
            seq += 1
            tracer.start_span(
                "execute_tool lookup_order",
                context=ctx,
                attributes={
                    "agent_replay.session.id": sid,
                    "agent_replay.step.sequence": seq,
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_order",
                    "gen_ai.tool.call.id": f"call_{uuid.uuid4().hex[:24]}",
                    "gen_ai.tool.call.arguments": json.dumps({"order": "A-17"}),
                    "gen_ai.tool.call.result": json.dumps({"status": "shipped", "eta": "2d"}),
                    **prov,
                },
            ).end()
        root.end()
    provider.shutdown()
    return list(exporter.get_finished_spans())


def requests_file(spans: list[Any], path: str, batch: int = BATCH) -> int:
    """Write the spans as length-prefixed OTLP requests of ``batch`` spans; the count."""
    with open(path, "wb") as fh:
        count = 0
        for i in range(0, len(spans), batch):
            body = encode_spans(spans[i : i + batch]).SerializeToString()
            fh.write(len(body).to_bytes(4, "big") + body)
            count += 1
    return count


class _Bare(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ExportTraceServiceRequest.FromString(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def _send(port: int, path: str) -> None:
    subprocess.run(
        [sys.executable, "-c", _SENDER, "127.0.0.1", str(port), path], check=True, timeout=600
    )


def bare_rate(path: str, n: int) -> tuple[float, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        _send(server.server_address[1], path)
        return n / (time.perf_counter() - t0), n / (time.process_time() - c0)
    finally:
        server.shutdown()
        server.server_close()


def worker_rate(
    path: str, n: int, sink_url: str, baselines: str | None
) -> tuple[float, float, dict[str, Any]]:
    service = Service(
        ServeConfig(
            grpc_port=0,
            http_port=0,
            downstream=sink_url,
            baselines=baselines,
            worker_id="bench",
            metric_interval=60.0,
        )
    )
    service.start()
    try:
        engine = service.engine
        t0, c0 = time.perf_counter(), time.process_time()
        _send(service.http.port, path)
        while engine.counts["exported"] + engine.counts["dropped"] < n or engine.held_runs:
            time.sleep(0.002)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return n / wall, n / cpu, engine.snapshot()
    finally:
        service.stop(10)


def _baseline_dir(tmp: str, checkpoint_id: str) -> str:
    """A recording with the checkpoint the restored runs come from, and the steps after it."""
    from otel_replay.formats.files import write_recording

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    base = agent_spans(_SPANS_PER_RUN, 0.0, checkpoint_id)
    sid = base[0].attributes["agent_replay.session.id"]
    tracer.start_span(
        "checkpoint planned",
        attributes={
            "agent_replay.session.id": sid,
            "agent_replay.step.sequence": 1,
            "agent_replay.step.kind": "checkpoint",
            "agent_replay.checkpoint.id": checkpoint_id,
            "agent_replay.checkpoint.sequence": 1,
            "agent_replay.checkpoint.state": '{"data":{}}',
        },
    ).end()
    provider.shutdown()
    directory = os.path.join(tmp, "baselines")
    os.makedirs(directory)
    write_recording(os.path.join(directory, "base.jsonl"), [*exporter.get_finished_spans(), *base])
    return directory


def measure(spans_n: int, rounds: int, restored: float, sink_url: str) -> dict[str, Any]:
    """One traffic mix: bare and worker rates (median over ``rounds``) and their ratio."""
    checkpoint_id = uuid.uuid4().hex
    spans = agent_spans(spans_n, restored, checkpoint_id)
    n = len(spans)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "requests.bin")
        requests = requests_file(spans, path)
        size = os.path.getsize(path)
        # The load's own span objects are not the worker's: freed, so that the garbage
        # collector does not walk them while the worker is timed.
        del spans
        gc.collect()
        baselines = _baseline_dir(tmp, checkpoint_id) if restored > 0 else None
        bare: list[float] = []
        worker: list[float] = []
        bare_cpu: list[float] = []
        worker_cpu: list[float] = []
        last: dict[str, Any] = {}
        for _ in range(rounds):
            rate, cpu = bare_rate(path, n)
            bare.append(rate)
            bare_cpu.append(cpu)
            rate, cpu, last = worker_rate(path, n, sink_url, baselines)
            worker.append(rate)
            worker_cpu.append(cpu)
    b, w = statistics.median(bare), statistics.median(worker)
    return {
        "cpu_ratio": statistics.median(worker_cpu) / statistics.median(bare_cpu),
        "restored_share": restored,
        "spans": n,
        "requests": requests,
        "bytes_per_span": size / n,
        "bare_spans_per_s": b,
        "worker_spans_per_s": w,
        "ratio": w / b,
        "target_ratio": TARGET_RATIO,
        "met": w / b >= TARGET_RATIO,
        "exported": last["exported"],
        "dropped": last["dropped"],
        "runs_compared": last["runs_compared"],
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=40_960, help="spans per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--restored",
        default="0,0.01,0.1",
        help="comma-separated shares of the runs that are restored, one mix each",
    )
    args = parser.parse_args(argv)
    mixes = [float(x) for x in args.restored.split(",")]
    sink = subprocess.Popen([sys.executable, "-c", _SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        sink_url = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        rows = [measure(args.spans, args.rounds, mix, sink_url) for mix in mixes]
    finally:
        sink.terminate()
        sink.wait(10)
    first = rows[0]
    print(
        f"{first['spans']:,} spans per round in {first['requests']} OTLP/HTTP requests of "
        f"{BATCH} ({first['bytes_per_span']:.0f} B/span), {args.rounds} rounds, median"
    )
    print(
        f"{'restored runs':<14} {'bare spans/s':>13} {'worker spans/s':>15} {'ratio':>6} "
        f"{'CPU ratio':>9}  target (ratio)"
    )
    for r in rows:
        print(
            f"{r['restored_share']:<14.0%} {r['bare_spans_per_s']:>13,.0f} "
            f"{r['worker_spans_per_s']:>15,.0f} {r['ratio']:>6.2f} {r['cpu_ratio']:>9.2f}  "
            f">= {TARGET_RATIO} "
            f"{'met' if r['met'] else 'NOT met'}  ({r['exported']:,} exported, "
            f"{r['dropped']} dropped, {r['runs_compared']} runs compared)"
        )
    return rows


if __name__ == "__main__":
    main()
