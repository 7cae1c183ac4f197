"""The OTLP receivers of ``otel-replay serve``: gRPC (``TraceService/Export``) and HTTP
(``POST /v1/traces`` with protobuf or JSON, gzip accepted; ``GET /healthz``).

A full worker answers with OTLP's retryable status (gRPC ``UNAVAILABLE``, HTTP 503 with
``Retry-After``); a request that cannot be read gets ``INVALID_ARGUMENT`` / 400 (413 when too
large) with a message naming the problem. Both are counted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_replay.serve.decode import (
    JSON,
    PROTOBUF,
    _BadRequest,
    gunzip_capped,
    parse_request,
)
from otel_replay.serve.engine import Admission, Engine

__all__ = ["HttpReceiver", "GrpcReceiver", "RETRY_AFTER_S"]

#: Seconds a refused sender is asked to wait (HTTP ``Retry-After``).
RETRY_AFTER_S = 1
#: Concurrent HTTP connections (threads), and concurrent gRPC calls, per worker.
MAX_CONNECTIONS = 64
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
_EMPTY_RESPONSE = ExportTraceServiceResponse().SerializeToString()
_HTTP_CODES = {"invalid": 400, "unsupported": 415, "too_large": 413}
_GRPC_CODES = {"invalid": 3, "unsupported": 3, "too_large": 8, "full": 14, "shutting_down": 14}


def _handle(
    engine: Engine, body: bytes, content_type: str, deferred: list[Any] | None = None
) -> Admission:
    """Decode and admit one request body (``_BadRequest`` when it cannot be read)."""
    try:
        td, wire = parse_request(body, content_type)
        return engine.admit(td, wire, deferred)
    except _BadRequest as exc:
        engine.reject(exc.reason)
        raise
    except Exception as exc:  # a bug of ours: answered, logged once, counted
        engine.errors.report("admit", exc)
        engine.reject("internal")
        return Admission(False, "internal", f"otel-replay serve failed on the request: {exc!r}")


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:  # no line per request
        pass

    def _send(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _status(self, code: int, grpc_code: int, message: str, content_type: str) -> None:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if code == 503 else None
        if content_type == JSON:
            body = json.dumps({"code": grpc_code, "message": message}).encode()
        else:
            content_type = PROTOBUF
            body = status_pb2.Status(code=grpc_code, message=message).SerializeToString()
        self._send(code, body, content_type, headers)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/healthz":
            self._send(404, b'{"error": "not found: GET /healthz"}', JSON)
            return
        self._send(200, json.dumps(self.server.health()).encode(), JSON)

    def setup(self) -> None:
        super().setup()
        #: Spans of restored runs taken in by the last request, compared once it is answered.
        self.deferred: list[Any] = []

    def do_POST(self) -> None:
        try:
            self._post()
        finally:  # answered: compared while the sender prepares its next request
            self.server.engine.feed(self.deferred)

    def _post(self) -> None:
        engine = self.server.engine
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if self.path.split("?", 1)[0] != "/v1/traces":
            self.close_connection = True
            self._status(
                404, 5, f"not found: POST {self.path} (OTLP traces go to /v1/traces)", ctype
            )
            return
        length = self.headers.get("Content-Length")
        cap = self.server.max_request_bytes
        if length is None or not length.isdigit():
            self.close_connection = True
            engine.reject("invalid")
            self._status(411, 3, "a Content-Length header is required", ctype)
            return
        size = int(length)
        if size > cap:
            self.close_connection = True
            engine.reject("too_large")
            self._status(
                413, 8, f"request body of {size} bytes exceeds the cap of {cap} bytes", ctype
            )
            return
        body = self.rfile.read(size)
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        try:
            try:
                if encoding == "gzip":
                    body = gunzip_capped(body, cap)
                elif encoding not in ("identity", ""):
                    raise _BadRequest(
                        f"unsupported Content-Encoding {encoding!r} (expected gzip or none)",
                        reason="unsupported",
                    )
            except _BadRequest as exc:
                engine.reject(exc.reason)
                raise
            admission = _handle(engine, body, ctype, self.deferred)
        except _BadRequest as exc:
            code = _HTTP_CODES[exc.reason]
            self._status(code, _GRPC_CODES[exc.reason], str(exc), ctype)
            return
        if not admission.accepted:
            internal = admission.reason == "internal"
            self._status(500 if internal else 503, 13 if internal else 14, admission.message, ctype)
            return
        if ctype == JSON:
            self._send(200, b"{}", JSON)
        else:
            self._send(200, _EMPTY_RESPONSE, PROTOBUF)


class _HttpServer(ThreadingHTTPServer):
    """One thread per connection, at most :data:`MAX_CONNECTIONS`: more are answered 503."""

    daemon_threads = True
    engine: Engine
    max_request_bytes: int
    health: Callable[[], dict[str, Any]]

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(_BUSY)
            except OSError:
                pass  # the client is gone; the refusal is counted below
            self.shutdown_request(request)
            self.engine.reject("full")
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class HttpReceiver:
    """``POST /v1/traces`` and ``GET /healthz`` on ``host:port`` (0: a free port)."""

    def __init__(
        self,
        engine: Engine,
        host: str,
        port: int,
        max_request_bytes: int,
        health: Callable[[], dict[str, Any]],
    ) -> None:
        self.server = _HttpServer((host, port), _HttpHandler)
        self.server.engine = engine
        self.server.max_request_bytes = max_request_bytes
        self.server.health = health
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="otel-replay-serve-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GrpcReceiver:
    """``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on ``host:port``."""

    def __init__(self, engine: Engine, host: str, port: int, max_request_bytes: int) -> None:
        self.engine = engine
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="otel-replay-serve-grpc"),
            maximum_concurrent_rpcs=MAX_CONNECTIONS,
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export,
                    request_deserializer=None,  # raw bytes: decoded by our fast decoder
                    response_serializer=lambda _: _EMPTY_RESPONSE,
                )
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = self.server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen for OTLP gRPC on {address}: {exc}") from None
        if not bound:
            raise OSError(f"cannot listen for OTLP gRPC on {address}")
        self.port: int = bound

    def _export(self, request: bytes, context: grpc.ServicerContext) -> None:
        try:
            admission = _handle(self.engine, request, PROTOBUF)
        except _BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not admission.accepted:
            code = (
                grpc.StatusCode.INTERNAL
                if admission.reason == "internal"
                else grpc.StatusCode.UNAVAILABLE
            )
            context.abort(code, admission.message)

    def start(self) -> None:
        self.server.start()

    def stop(self, grace: float) -> None:
        self.server.stop(grace).wait(grace + 1)
