"""Sending serialized OTLP trace requests downstream: OTLP/HTTP protobuf (``POST
URL/v1/traces``) or OTLP gRPC (``TraceService/Export``), with the OTLP retry rules.

The worker forwards most spans as the protobuf bytes it received (plus its worker attribute),
so it sends bytes rather than re-encoding SDK spans; metrics and log events still go through
the SDK's OTLP exporters.
"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
import urllib.parse
from typing import Any

from otel_replay.serve.config import Downstream

__all__ = ["OtlpTraceSender", "sender_for"]

_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#: Bound of one export, retries included, unless OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT is set.
DEFAULT_TIMEOUT_S = 10.0


def _timeout() -> float:
    raw = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT")
        or ""
    ).strip()
    try:
        value = float(raw) / 1000  # the spec's unit: milliseconds
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


def _headers() -> dict[str, str]:
    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    out = {}
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return out


class OtlpTraceSender:
    """Sends one serialized ``ExportTraceServiceRequest`` at a time; :meth:`send` returns
    ``None`` on success, else what went wrong (after the retries the time bound allows)."""

    def __init__(
        self,
        protocol: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        secure: bool = False,
    ) -> None:
        self.protocol = protocol
        self.target = target
        self.headers = dict(headers or {})
        self.timeout = _timeout() if timeout is None else timeout
        self.secure = secure
        self._local = threading.local()
        self._closed = threading.Event()
        self._channel: Any = None
        self._call: Any = None
        if protocol == "grpc":
            import grpc

            self._grpc = grpc
            self._channel = (
                grpc.secure_channel(target, grpc.ssl_channel_credentials())
                if secure
                else grpc.insecure_channel(target)
            )
            self._call = self._channel.unary_unary(
                _EXPORT_METHOD, request_serializer=None, response_deserializer=None
            )
        else:
            parts = urllib.parse.urlsplit(target)
            self._https = parts.scheme == "https"
            self._host = parts.hostname or "localhost"
            self._port = parts.port or (443 if self._https else 80)
            self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def describe(self) -> str:
        return f"{'OTLP gRPC' if self.protocol == 'grpc' else 'OTLP/HTTP'} {self.target}"

    def send(self, body: bytes) -> str | None:
        deadline = time.monotonic() + self.timeout
        delay = 0.5
        while True:
            left = deadline - time.monotonic()
            problem, retryable, wait = self._attempt(body, max(0.1, left))
            if problem is None:
                return None
            left = deadline - time.monotonic()
            wait = min(wait if wait is not None else delay * (0.5 + random.random()), left)
            if not retryable or self._closed.is_set() or wait <= 0 or left <= wait:
                return f"{self.describe()}: {problem}"
            time.sleep(wait)
            delay = min(delay * 2, 8.0)

    def _attempt(self, body: bytes, timeout: float) -> tuple[str | None, bool, float | None]:
        if self.protocol == "grpc":
            grpc = self._grpc
            try:
                self._call(body, timeout=timeout, metadata=tuple(self.headers.items()) or None)
                return None, False, None
            except grpc.RpcError as exc:
                code = exc.code()
                retryable = code in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.ABORTED,
                    grpc.StatusCode.CANCELLED,
                    grpc.StatusCode.OUT_OF_RANGE,
                    grpc.StatusCode.DATA_LOSS,
                )
                return f"{code.name}: {exc.details()}", retryable, None
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=timeout)
        conn.timeout = timeout
        try:
            conn.request(
                "POST",
                self._path,
                body,
                {"Content-Type": "application/x-protobuf", **self.headers},
            )
            resp = conn.getresponse()
            text = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._local.conn = None
            return f"{type(exc).__name__}: {exc}", True, None
        if 200 <= resp.status < 300:
            return None, False, None
        wait = None
        after = resp.getheader("Retry-After")
        if after and after.strip().isdigit():
            wait = float(after.strip())
        snippet = text[:200].decode("utf-8", "replace")
        return f"HTTP {resp.status} {snippet!r}", resp.status in _RETRYABLE_HTTP, wait

    def close(self) -> None:
        self._closed.set()
        if self._channel is not None:
            self._channel.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def sender_for(down: Downstream) -> OtlpTraceSender:
    """The trace sender of ``down`` (``env``: the ``OTEL_EXPORTER_OTLP_*`` variables, as the
    SDK's exporters read them: endpoint, protocol, headers, timeout)."""
    if down.protocol == "grpc":
        return OtlpTraceSender("grpc", down.endpoint)
    if down.protocol == "http":
        return OtlpTraceSender("http", f"{down.endpoint}/v1/traces")
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    headers = _headers()
    if protocol.startswith("http"):
        url = traces or (base.rstrip("/") + "/v1/traces")
        return OtlpTraceSender("http", url, headers=headers)
    endpoint = traces or base
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    insecure = os.environ.get("OTEL_EXPORTER_OTLP_INSECURE", "").strip().lower() == "true"
    secure = parts.scheme == "https" and not insecure
    return OtlpTraceSender("grpc", parts.netloc, headers=headers, secure=secure)
