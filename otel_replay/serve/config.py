"""``otel-replay serve`` settings: :class:`ServeConfig`, its defaults from the
serve variables of ``SETTINGS``, and the downstream endpoint (:func:`parse_downstream`)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from otel_replay.core import conventions as c
from otel_replay.core.env import env_float, env_int, env_str, warn_once

__all__ = ["ServeConfig", "Downstream", "parse_downstream", "env_port", "default_worker_id"]


def default_worker_id() -> str:
    """``<hostname>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


def env_port(name: str, default: int) -> int:
    """A port number 0-65535 in ``$name`` (0: a free port), else ``default``."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) <= 65535:
        return int(raw)
    warn_once((name, raw), "%s=%r is not a port number (0-65535); using %d", name, raw, default)
    return default


@dataclass(frozen=True)
class Downstream:
    """Where enriched spans, drift log events and metrics go: ``protocol`` ``http`` (base URL
    without the ``/v1/...`` path), ``grpc`` (``host:port``), or ``env`` (the standard
    ``OTEL_EXPORTER_OTLP_*`` variables)."""

    protocol: str
    endpoint: str = ""

    def describe(self) -> str:
        return self.endpoint if self.protocol != "env" else "OTEL_EXPORTER_OTLP_* endpoint"


def parse_downstream(url: str | None) -> Downstream:
    """``http(s)://host:port`` -> OTLP/HTTP protobuf, ``grpc://host:port`` -> OTLP gRPC
    (insecure); ``None``: the ``OTEL_EXPORTER_OTLP_*`` variables, which must then name an
    endpoint. :class:`ValueError` naming the problem otherwise."""
    if not url:
        if not (
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        ):
            raise ValueError(
                "no downstream: pass --downstream http://HOST:PORT or grpc://HOST:PORT (or set "
                f"{c.ENV_SERVE_DOWNSTREAM} or OTEL_EXPORTER_OTLP_ENDPOINT)"
            )
        return Downstream("env")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "grpc") or not parts.hostname:
        raise ValueError(f"downstream {url!r} is not http(s)://HOST:PORT or grpc://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"downstream {url!r} has an invalid port") from None
    if parts.scheme == "grpc":
        if port is None:
            raise ValueError(f"downstream {url!r} needs a port (grpc://HOST:PORT)")
        return Downstream("grpc", f"{parts.hostname}:{port}")
    return Downstream("http", url.rstrip("/"))


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``otel-replay serve`` is configured with (see ``otel-replay serve --help``)."""

    host: str = c.DEFAULT_SERVE_HOST
    grpc_port: int = c.DEFAULT_SERVE_GRPC_PORT
    http_port: int = c.DEFAULT_SERVE_HTTP_PORT
    downstream: str | None = None
    baselines: str | None = None
    baseline_source: str | None = None
    record_dir: str | None = None
    worker_id: str = ""
    max_held_runs: int = c.DEFAULT_SERVE_MAX_HELD_RUNS
    max_held_bytes: int = c.DEFAULT_SERVE_MAX_HELD_BYTES
    run_timeout: float = c.DEFAULT_SERVE_RUN_TIMEOUT_SECONDS
    metric_interval: float = c.DEFAULT_SERVE_METRIC_INTERVAL_SECONDS
    max_request_bytes: int = c.DEFAULT_SERVE_MAX_REQUEST_BYTES
    max_queued_spans: int = c.DEFAULT_SERVE_MAX_QUEUED_SPANS
    shutdown_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> ServeConfig:
        """The defaults, overridden by their environment variables."""
        return cls(
            host=env_str(c.ENV_SERVE_HOST) or c.DEFAULT_SERVE_HOST,
            grpc_port=env_port(c.ENV_SERVE_GRPC_PORT, c.DEFAULT_SERVE_GRPC_PORT),
            http_port=env_port(c.ENV_SERVE_HTTP_PORT, c.DEFAULT_SERVE_HTTP_PORT),
            downstream=env_str(c.ENV_SERVE_DOWNSTREAM),
            baselines=env_str(c.ENV_SERVE_BASELINES),
            baseline_source=env_str(c.ENV_SERVE_BASELINE_SOURCE),
            record_dir=env_str(c.ENV_SERVE_RECORD_DIR),
            worker_id=env_str(c.ENV_SERVE_WORKER_ID) or default_worker_id(),
            max_held_runs=env_int(c.ENV_SERVE_MAX_HELD_RUNS, c.DEFAULT_SERVE_MAX_HELD_RUNS),
            max_held_bytes=env_int(c.ENV_SERVE_MAX_HELD_BYTES, c.DEFAULT_SERVE_MAX_HELD_BYTES),
            run_timeout=env_float(c.ENV_SERVE_RUN_TIMEOUT, c.DEFAULT_SERVE_RUN_TIMEOUT_SECONDS),
            metric_interval=env_float(
                c.ENV_SERVE_METRIC_INTERVAL, c.DEFAULT_SERVE_METRIC_INTERVAL_SECONDS
            ),
            max_request_bytes=env_int(
                c.ENV_SERVE_MAX_REQUEST_BYTES, c.DEFAULT_SERVE_MAX_REQUEST_BYTES
            ),
            max_queued_spans=env_int(
                c.ENV_SERVE_MAX_QUEUED_SPANS, c.DEFAULT_SERVE_MAX_QUEUED_SPANS
            ),
        )
