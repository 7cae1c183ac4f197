"""No hangs: a total deadline per HTTP request (headers dripped byte by byte), bounded paging
(Phoenix empty pages with fresh cursors, a page cap, Jaeger's service loop), and processor
shutdown that honours its timeout when the downstream exporter hangs.

The servers are small local HTTP servers on 127.0.0.1; every loop in them is bounded."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.http_client import BackendResponseError, BackendUnreachableError
from otel_replay.restore.jaeger import JaegerSource
from otel_replay.restore.phoenix import PhoenixSource
from tests.conftest import points_by_attributes


class DripServer:
    """Accepts connections and sends a valid status line one byte every 50 ms (at most
    ``limit`` bytes per connection), never finishing the headers."""

    def __init__(self, limit: int = 400) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.sent = 0
        self.limit = limit
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(65536)
                    for byte in (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * self.limit)[: self.limit]:
                        if self.stop.wait(0.05):
                            return
                        conn.sendall(bytes([byte]))
                        self.sent += 1
                except OSError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def drip() -> Iterator[DripServer]:
    srv = DripServer()
    try:
        yield srv
    finally:
        srv.close()


def test_headers_dripped_one_byte_at_a_time_hit_the_total_deadline(drip: DripServer) -> None:
    source = PhoenixSource(drip.url, timeout=0.5)
    url = source.page_url({c.CHECKPOINT_ID: "c" * 32})
    start = time.monotonic()
    with pytest.raises(BackendUnreachableError) as info:
        source.find_checkpoint("c" * 32)
    elapsed = time.monotonic() - start
    assert str(info.value) == f"Phoenix at {url} did not answer within the timeout of 0.5s"
    assert elapsed < 3.0  # before the fix: 400 bytes x 50 ms = 20 s, each byte in time
    assert drip.sent < 40


def test_restore_from_a_dripping_backend_ends_at_the_timeout(drip: DripServer) -> None:
    from otel_replay.restore.api import restore

    start = time.monotonic()
    with pytest.raises(
        BackendUnreachableError, match=r"did not answer within the timeout of 0\.5s"
    ):
        restore("c" * 32, source=PhoenixSource(drip.url, timeout=0.5))
    assert time.monotonic() - start < 3.0


class PagingServer:
    """A Phoenix-like spans endpoint answering with ``page(n)`` for the n-th request."""

    def __init__(self, page: Any) -> None:
        self.requests = 0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                if server.requests > 100:  # bounded: a client that never stops fails here
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps(page(server.requests)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _phoenix_span(n: int) -> dict[str, Any]:
    return {
        "name": f"s{n}",
        "context": {"trace_id": "ab" * 16, "span_id": f"{n:016x}"},
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:00:01Z",
        "attributes": {"other": "x"},
    }


def test_endless_empty_pages_with_new_cursors_stop(tmp_path: Any) -> None:
    srv = PagingServer(lambda n: {"data": [], "next_cursor": f"cursor-{n}"})
    try:
        source = PhoenixSource(srv.url)
        url = source.page_url({c.SESSION_ID: "s"}, "cursor-2")
        with pytest.raises(BackendResponseError) as info:
            source.spans({c.SESSION_ID: "s"})
        assert str(info.value) == (
            f"Phoenix answered {url} with the 3th empty page in a row that still names a "
            "next_cursor ('cursor-3'): pagination does not progress"
        )
        assert srv.requests == 3
    finally:
        srv.close()


def test_page_cap(tmp_path: Any) -> None:
    srv = PagingServer(lambda n: {"data": [_phoenix_span(n)], "next_cursor": f"cursor-{n}"})
    try:
        source = PhoenixSource(srv.url, page_size=1, max_pages=4)
        with pytest.raises(BackendResponseError) as info:
            source.spans({c.SESSION_ID: "s"})
        assert str(info.value) == (
            f"Phoenix paging for {{'{c.SESSION_ID}': 's'}} in Phoenix project 'default' at "
            f"{srv.url}/ did not end within max_pages=4 pages (4 spans so far); raise "
            "max_pages if the project really holds that many"
        )
        assert srv.requests == 4
        assert PhoenixSource(srv.url, page_size=10, max_spans=95).max_pages == 20
    finally:
        srv.close()


def test_jaeger_service_loop_is_bounded() -> None:
    srv = PagingServer(lambda n: {"services": ["a", "b", "a", "c", "d"]})
    try:
        source = JaegerSource(srv.url, max_services=3)
        with pytest.raises(BackendResponseError) as info:
            source.find_checkpoint("c" * 32)
        assert str(info.value) == (
            f"Jaeger at {srv.url}/ lists 4 services, more than max_services=3 to search one "
            "by one; pass service= (or trace_id=), or raise max_services"
        )
        assert srv.requests == 1
    finally:
        srv.close()


class HangingExporter(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.wait(60)


def test_drift_processor_shutdown_honours_its_timeout_when_the_exporter_hangs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    exporter = HangingExporter()
    drift = DriftProcessor(
        SimpleSpanProcessor(exporter), meter_provider=meters, shutdown_timeout_millis=300
    )
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor(meter_provider=meters))
    provider.add_span_processor(drift)
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    try:
        with caplog.at_level(logging.ERROR, logger="otel_replay"):
            start = time.monotonic()
            provider.shutdown()
            elapsed = time.monotonic() - start
            drift.shutdown(timeout_millis=100)  # a second timeout: counted, not logged again
        assert elapsed < 3.0  # before: blocked until the exporter returned
        assert exporter.exported == 1
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 1
        assert messages[0].startswith(
            "otel-replay drift_processor failed in downstream.shutdown: TimeoutError: shutdown "
            "of the downstream processors (SimpleSpanProcessor) did not finish within 0.30 s; "
            "left running in a daemon thread"
        )
        points = points_by_attributes(reader, c.METRIC_PROCESSOR_ERRORS)
        assert points == {
            ((c.ATTR_COMPONENT, "drift_processor"), (c.ATTR_ERROR_TYPE, "TimeoutError")): 2.0
        }
    finally:
        exporter.release.set()
        meters.shutdown()


def test_replay_processor_shutdown_does_not_wait_on_exporters() -> None:
    # ReplayProcessor exports nothing itself: its shutdown only stops buffering.
    proc = ReplayProcessor()
    start = time.monotonic()
    proc.shutdown()
    assert time.monotonic() - start < 1.0
    assert proc._shutdown is True
