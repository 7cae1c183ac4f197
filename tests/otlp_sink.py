"""A small real OTLP/HTTP receiver for tests: keeps every decoded traces, logs and metrics
request it is sent (protobuf), answers 200, or 503 while ``fail`` is set."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_TYPES = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
}


class Sink:
    """What was received, per signal."""

    def __init__(self) -> None:
        self.traces: list[Any] = []
        self.logs: list[Any] = []
        self.metrics: list[Any] = []
        self.fail = False
        self.lock = threading.Lock()
        self.url = ""

    def spans(self) -> list[tuple[Any, Any]]:
        """``(resource, span)`` of every span received."""
        with self.lock:
            reqs = list(self.traces)
        return [
            (rs.resource, s)
            for r in reqs
            for rs in r.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def log_records(self) -> list[Any]:
        with self.lock:
            reqs = list(self.logs)
        return [
            lr
            for r in reqs
            for rl in r.resource_logs
            for sl in rl.scope_logs
            for lr in sl.log_records
        ]

    def metric_points(self, name: str) -> list[tuple[Any, dict[str, Any], float]]:
        """``(resource, attributes, value)`` of every data point of metric ``name``, in the
        order received (cumulative sums: the last one per attributes is the total)."""
        with self.lock:
            reqs = list(self.metrics)
        out = []
        for r in reqs:
            for rm in r.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name != name:
                            continue
                        data = m.sum if m.HasField("sum") else m.gauge
                        for p in data.data_points:
                            attrs = {kv.key: _value(kv.value) for kv in p.attributes}
                            value = p.as_int if p.HasField("as_int") else p.as_double
                            out.append((rm.resource, attrs, value))
        return out

    def metric_total(self, name: str, **attrs: Any) -> float | None:
        """The latest value of ``name`` whose attributes include ``attrs``, summed over the
        other attribute sets; ``None`` if never received."""
        latest: dict[tuple[Any, ...], float] = {}
        for _res, a, v in self.metric_points(name):
            if all(a.get(k.replace("__", ".")) == want for k, want in attrs.items()):
                latest[tuple(sorted(a.items()))] = v
        return sum(latest.values()) if latest else None


def _value(av: Any) -> Any:
    which = av.WhichOneof("value")
    return getattr(av, which) if which else None


def attrs_of(span_or_event: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in span_or_event.attributes}


@contextmanager
def otlp_sink() -> Iterator[Sink]:
    sink = Sink()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            kind = _TYPES.get(self.path)
            if kind is None or sink.fail:
                self.send_response(404 if kind is None else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            msg = kind.FromString(body)
            with sink.lock:
                {"/v1/traces": sink.traces, "/v1/logs": sink.logs, "/v1/metrics": sink.metrics}[
                    self.path
                ].append(msg)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value (returned); AssertionError after
    ``timeout`` naming ``what``. (A wait for an outcome, not a timing assertion.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
