"""Sending serialized OTLP requests of one signal downstream: OTLP/HTTP protobuf (``POST
URL/v1/traces``, ``URL/v1/logs``) or OTLP gRPC (``TraceService/Export``,
``LogsService/Export``), with the OTLP retry rules.

The worker forwards most spans as the protobuf bytes it received (plus its worker attribute)
and writes its drift log events as OTLP bytes, so it sends bytes rather than re-encoding SDK
objects; metrics still go through the SDK's OTLP exporter.
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

__all__ = ["OtlpSender", "OtlpTraceSender", "sender_for"]

_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
#: The gRPC method and the OTLP/HTTP path of each signal.
_EXPORT_METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
#: Bound of one export, retries included, unless OTEL_EXPORTER_OTLP[_SIGNAL]_TIMEOUT is set.
DEFAULT_TIMEOUT_S = 10.0


def _signal_env(signal: str) -> dict[str, str | None]:
    """The signal's own ``OTEL_EXPORTER_OTLP_<SIGNAL>_*`` variables."""
    if signal == "logs":
        return {
            "ENDPOINT": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            "PROTOCOL": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"),
            "HEADERS": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_HEADERS"),
            "TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"),
        }
    return {
        "ENDPOINT": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "PROTOCOL": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        "HEADERS": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
        "TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
    }


def _general_env() -> dict[str, str | None]:
    """The ``OTEL_EXPORTER_OTLP_*`` variables of every signal."""
    return {
        "ENDPOINT": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "PROTOCOL": os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "HEADERS": os.environ.get("OTEL_EXPORTER_OTLP_HEADERS"),
        "TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"),
    }


def _env(signal: str, name: str, own: bool = True) -> str:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>`` (unless not ``own``), else
    ``OTEL_EXPORTER_OTLP_<NAME>``, else ``""``."""
    first = _signal_env(signal)[name] if own else None
    return (first or _general_env()[name] or "").strip()


def _timeout(signal: str = "traces") -> float:
    raw = _env(signal, "TIMEOUT")
    try:
        value = float(raw) / 1000  # the spec's unit: milliseconds
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


def _headers(signal: str = "traces") -> dict[str, str]:
    raw = _env(signal, "HEADERS")
    out = {}
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return out


class OtlpSender:
    """Sends one serialized export request of ``signal`` (``traces``:
    ``ExportTraceServiceRequest``, ``logs``: ``ExportLogsServiceRequest``) at a time;
    :meth:`send` returns ``None`` on success, else what went wrong (after the retries the
    time bound allows)."""

    def __init__(
        self,
        protocol: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        secure: bool = False,
        signal: str = "traces",
    ) -> None:
        self.protocol = protocol
        self.target = target
        self.signal = signal
        self.headers = dict(headers or {})
        self.timeout = _timeout(signal) if timeout is None else timeout
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
                _EXPORT_METHODS[signal], request_serializer=None, response_deserializer=None
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


#: The sender of spans (the name it had when it sent only spans).
OtlpTraceSender = OtlpSender


def sender_for(down: Downstream, signal: str = "traces") -> OtlpSender:
    """The sender of ``signal`` (``traces`` or ``logs``) to ``down`` (``env``: the
    ``OTEL_EXPORTER_OTLP_[<SIGNAL>_]*`` variables, as the SDK's exporters read them: endpoint,
    protocol, headers, timeout, insecure)."""
    if signal not in _EXPORT_METHODS:
        raise ValueError(f"unknown OTLP signal {signal!r}")
    if down.protocol == "grpc":
        return OtlpSender("grpc", down.endpoint, signal=signal)
    if down.protocol == "http":
        return OtlpSender("http", f"{down.endpoint}/v1/{signal}", signal=signal)
    protocol = _env(signal, "PROTOCOL") or "grpc"
    own = (_signal_env(signal)["ENDPOINT"] or "").strip()
    base = _env(signal, "ENDPOINT", own=False)
    headers = _headers(signal)
    if protocol.startswith("http"):
        url = own or ((base or "http://localhost:4318").rstrip("/") + f"/v1/{signal}")
        return OtlpSender("http", url, headers=headers, signal=signal)
    endpoint = own or base or "http://localhost:4317"
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    insecure = os.environ.get("OTEL_EXPORTER_OTLP_INSECURE", "").strip().lower() == "true"
    secure = parts.scheme == "https" and not insecure
    return OtlpSender("grpc", parts.netloc, headers=headers, secure=secure, signal=signal)
