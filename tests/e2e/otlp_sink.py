"""A small real OTLP/HTTP receiver for e2e tests: decodes every protobuf request with
opentelemetry-proto and counts spans, log records and metric data points (loopback only)."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class SinkCounts:
    spans: int = 0
    log_records: int = 0
    events: dict[str, int] = field(default_factory=dict)  # log records by event name
    metric_requests: int = 0
    trace_requests: int = 0
    span_ids: set[bytes] = field(default_factory=set)
    workers: dict[str, int] = field(default_factory=dict)  # agent_replay.serve.worker -> spans


class OtlpSink:
    """``with OtlpSink() as sink: ... sink.url`` (``http://127.0.0.1:P``), ``sink.counts``."""

    def __init__(self) -> None:
        self.counts = SinkCounts()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    resp = sink._traces(body)
                elif self.path == "/v1/logs":
                    req = ExportLogsServiceRequest.FromString(body)
                    with sink.lock:
                        for rl in req.resource_logs:
                            for sl in rl.scope_logs:
                                for rec in sl.log_records:
                                    sink.counts.log_records += 1
                                    ev = sink.counts.events
                                    ev[rec.event_name] = ev.get(rec.event_name, 0) + 1
                    resp = ExportLogsServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    ExportMetricsServiceRequest.FromString(body)
                    with sink.lock:
                        sink.counts.metric_requests += 1
                    resp = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(resp)))
                self.end_headers()
                self.wfile.write(resp)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _traces(self, body: bytes) -> bytes:
        req = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.counts.trace_requests += 1
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.counts.spans += 1
                        self.counts.span_ids.add(span.span_id)
                        for kv in span.attributes:
                            if kv.key == "agent_replay.serve.worker":
                                w = kv.value.string_value
                                self.counts.workers[w] = self.counts.workers.get(w, 0) + 1
        return ExportTraceServiceResponse().SerializeToString()

    def __enter__(self) -> OtlpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
