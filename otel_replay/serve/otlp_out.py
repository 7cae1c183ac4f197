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
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from otel_replay.serve.config import Downstream

__all__ = ["OtlpSender", "OtlpTraceSender", "Tls", "sender_for"]

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
            "INSECURE": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_INSECURE"),
            "CERTIFICATE": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"),
            "CLIENT_KEY": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY"),
            "CLIENT_CERTIFICATE": os.environ.get("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE"),
        }
    return {
        "ENDPOINT": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "PROTOCOL": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        "HEADERS": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
        "TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
        "INSECURE": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_INSECURE"),
        "CERTIFICATE": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
        "CLIENT_KEY": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"),
        "CLIENT_CERTIFICATE": os.environ.get("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"),
    }


def _general_env() -> dict[str, str | None]:
    """The ``OTEL_EXPORTER_OTLP_*`` variables of every signal."""
    return {
        "ENDPOINT": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "PROTOCOL": os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "HEADERS": os.environ.get("OTEL_EXPORTER_OTLP_HEADERS"),
        "TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"),
        "INSECURE": os.environ.get("OTEL_EXPORTER_OTLP_INSECURE"),
        "CERTIFICATE": os.environ.get("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "CLIENT_KEY": os.environ.get("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        "CLIENT_CERTIFICATE": os.environ.get("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
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


@dataclass(frozen=True)
class Tls:
    """The TLS files of a connection (paths): ``ca``, the certificates the server's is
    verified with (``None``: the system's); ``client_key`` and ``client_cert``, the client's
    own for mutual TLS. ``names`` say where each came from, in errors."""

    ca: str | None = None
    client_key: str | None = None
    client_cert: str | None = None
    names: tuple[str, str, str] = ("CA certificate", "client key", "client certificate")

    @classmethod
    def from_env(cls, signal: str = "traces") -> Tls:
        """``OTEL_EXPORTER_OTLP_<SIGNAL>_CERTIFICATE``, ``_CLIENT_KEY`` and
        ``_CLIENT_CERTIFICATE``, each else the variable without the signal (as the SDK's
        exporters read them)."""
        own, general = _signal_env(signal), _general_env()
        values: list[str | None] = []
        names: list[str] = []
        for n in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
            first = (own[n] or "").strip()
            values.append(first or (general[n] or "").strip() or None)
            names.append(
                f"OTEL_EXPORTER_OTLP_{signal.upper()}_{n}" if first else f"OTEL_EXPORTER_OTLP_{n}"
            )
        return cls(values[0], values[1], values[2], (names[0], names[1], names[2]))

    def files(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """The contents of the CA certificate, client key and client certificate files;
        :class:`ValueError` naming the file and its setting when one cannot be read, or
        when only one of the client key and certificate is given."""
        if (self.client_key is None) != (self.client_cert is None):
            given, missing = (1, 2) if self.client_key is not None else (2, 1)
            raise ValueError(
                f"{self.names[given]} is set but {self.names[missing]} is not: mutual TLS "
                "needs both the client key and the client certificate"
            )
        out: list[bytes | None] = []
        for path, name in zip(
            (self.ca, self.client_key, self.client_cert), self.names, strict=True
        ):
            if path is None:
                out.append(None)
                continue
            try:
                with open(path, "rb") as fh:
                    out.append(fh.read())
            except OSError as exc:
                raise ValueError(f"{name}={path}: cannot read it: {exc.strerror}") from None
        return out[0], out[1], out[2]

    def context(self) -> ssl.SSLContext:
        """An ``ssl`` context for HTTPS with these files (:class:`ValueError` as
        :meth:`files`)."""
        self.files()
        try:
            ctx = ssl.create_default_context(cafile=self.ca)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"{self.names[0]}={self.ca}: not a certificate file: {exc}") from None
        if self.client_cert is not None:
            try:
                ctx.load_cert_chain(self.client_cert, self.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"{self.names[2]}={self.client_cert} with {self.names[1]}={self.client_key}: "
                    f"not a certificate and its key: {exc}"
                ) from None
        return ctx


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
        tls: Tls | None = None,
    ) -> None:
        self.protocol = protocol
        self.target = target
        self.signal = signal
        self.headers = dict(headers or {})
        self.timeout = _timeout(signal) if timeout is None else timeout
        self.secure = secure
        self.tls = tls or Tls()
        self._local = threading.local()
        self._closed = threading.Event()
        self._channel: Any = None
        self._call: Any = None
        if protocol == "grpc":
            import grpc

            self._grpc = grpc
            if secure:
                self.tls.context()  # the files are checked as HTTPS would use them
                ca, key, cert = self.tls.files()
                creds = grpc.ssl_channel_credentials(ca, key, cert)
                self._channel = grpc.secure_channel(target, creds)
            else:
                self._channel = grpc.insecure_channel(target)
            self._call = self._channel.unary_unary(
                _EXPORT_METHODS[signal], request_serializer=None, response_deserializer=None
            )
        else:
            parts = urllib.parse.urlsplit(target)
            self._https = parts.scheme == "https"
            self._host = parts.hostname or "localhost"
            self._port = parts.port or (443 if self._https else 80)
            self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            self._context = self.tls.context() if self._https else None

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
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._context
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = conn
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
    protocol, headers, timeout, insecure, certificate, client key and certificate; an
    ``https`` downstream takes the TLS files from them too). :class:`ValueError` names a TLS
    file that cannot be used."""
    if signal not in _EXPORT_METHODS:
        raise ValueError(f"unknown OTLP signal {signal!r}")
    if down.protocol == "grpc":
        return OtlpSender("grpc", down.endpoint, signal=signal)
    tls = Tls.from_env(signal)
    if down.protocol == "http":
        return OtlpSender("http", f"{down.endpoint}/v1/{signal}", signal=signal, tls=tls)
    protocol = _env(signal, "PROTOCOL") or "grpc"
    own = (_signal_env(signal)["ENDPOINT"] or "").strip()
    base = _env(signal, "ENDPOINT", own=False)
    headers = _headers(signal)
    if protocol.startswith("http"):
        url = own or ((base or "http://localhost:4318").rstrip("/") + f"/v1/{signal}")
        return OtlpSender("http", url, headers=headers, signal=signal, tls=tls)
    endpoint = own or base or "http://localhost:4317"
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    secure = _grpc_secure(signal, endpoint)
    return OtlpSender("grpc", parts.netloc, headers=headers, secure=secure, signal=signal, tls=tls)


def _grpc_secure(signal: str, endpoint: str) -> bool:
    """Whether OTLP gRPC to ``endpoint`` uses TLS, decided as the SDK's gRPC exporters do:
    ``OTEL_EXPORTER_OTLP_<SIGNAL>_INSECURE``, overruled by an ``https`` endpoint, else
    ``OTEL_EXPORTER_OTLP_INSECURE``, else TLS unless the endpoint is ``http``."""
    own = _signal_env(signal)["INSECURE"]
    insecure = own.lower() == "true" if own is not None else None
    scheme = urllib.parse.urlparse(endpoint).scheme
    if scheme == "https":
        insecure = False
    if insecure is None:
        general = _general_env()["INSECURE"]
        insecure = general.lower() == "true" if general is not None else scheme == "http"
    return not insecure
