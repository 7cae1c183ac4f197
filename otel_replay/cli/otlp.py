"""OTLP export for ``otel-replay demo``: the resource, exporters configured by the standard
``OTEL_*`` variables, a reachability check of the endpoint, bounded export timeouts, and the
exporters' own log lines collected so that a failing export is reported once."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_replay.cli.render import count

__all__ = [
    "DEMO_SERVICE_NAME",
    "PROBE_TIMEOUT_S",
    "EXPORT_TIMEOUT_S",
    "demo_resource",
    "unreachable",
    "otlp_exporters",
    "ExporterLog",
    "Breaker",
]

#: ``service.name`` of the demo when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES
#: names one.
DEMO_SERVICE_NAME = "otel-replay-demo"
#: Longest wait for a TCP connection to the OTLP endpoint before the demo starts.
PROBE_TIMEOUT_S = 2.0
#: Timeout of one OTLP export (retries included) unless OTEL_EXPORTER_OTLP_*TIMEOUT is set.
EXPORT_TIMEOUT_S = 5.0
_TIMEOUT_VARS = {
    "traces": ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
    "metrics": ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"),
    "logs": ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"),
}
_EXPORTER_LOGGER = "opentelemetry.exporter"


def demo_resource() -> Resource:
    """The SDK's detected resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the
    configured detectors), with ``service.name`` :data:`DEMO_SERVICE_NAME` when the user set
    none, and a fresh ``service.instance.id`` when nothing detected one."""
    detected = Resource.create()
    sdk_defaults = {"unknown_service"}
    if sys.executable:
        sdk_defaults.add(f"unknown_service:{os.path.basename(sys.executable)}")
    extra: dict[str, str] = {}
    if detected.attributes.get(SERVICE_NAME) in sdk_defaults:
        extra[SERVICE_NAME] = DEMO_SERVICE_NAME
    if SERVICE_INSTANCE_ID not in detected.attributes:
        extra[SERVICE_INSTANCE_ID] = uuid.uuid4().hex
    return detected.merge(Resource(extra)) if extra else detected


def _host_port(endpoint: str, protocol: str) -> tuple[str, int] | None:
    parts = urlsplit(endpoint if "://" in endpoint else "//" + endpoint)
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None and protocol.startswith("http"):
        port = {"http": 80, "https": 443}.get(parts.scheme)
    if not parts.hostname or port is None:
        return None
    return parts.hostname, port


def unreachable(endpoint: str, protocol: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why a TCP connection to ``endpoint`` fails (e.g. ``connection refused``), waiting at
    most ``timeout`` seconds; ``None`` when it succeeds or cannot be tried here (no port to
    infer, or a proxy in the way: the exporter's own timeout then bounds the export)."""
    where = _host_port(endpoint, protocol)
    if where is None:
        return None
    host, port = where
    if urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def _timeout(signal: str) -> float | None:
    """:data:`EXPORT_TIMEOUT_S`, or ``None`` (the SDK reads the variable) when it is set."""
    return None if any(os.environ.get(v) for v in _TIMEOUT_VARS[signal]) else EXPORT_TIMEOUT_S


class Breaker:
    """Shared by the demo's span and metric exporters: after the first failed export the
    endpoint is given up on, so later exports fail at once instead of each waiting out its
    timeout (a hanging endpoint costs one timeout, not one per export)."""

    def __init__(self) -> None:
        self.tripped = threading.Event()
        self.skipped = 0

    def span_exporter(self, inner: SpanExporter) -> SpanExporter:
        return _BreakerSpanExporter(inner, self)

    def metric_exporter(self, inner: MetricExporter) -> MetricExporter:
        return _BreakerMetricExporter(inner, self)

    def log_exporter(self, inner: Any) -> Any:
        return _BreakerLogExporter(inner, self)


class _BreakerSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, breaker: Breaker) -> None:
        self.inner = inner
        self.breaker = breaker

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.breaker.tripped.is_set():
            self.breaker.skipped += 1
            return SpanExportResult.FAILURE
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.breaker.tripped.set()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _BreakerLogExporter:
    """A ``LogExporter`` behind the breaker (the SDK's log export API is still private)."""

    def __init__(self, inner: Any, breaker: Breaker) -> None:
        self.inner = inner
        self.breaker = breaker

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs.export import LogExportResult

        if self.breaker.tripped.is_set():
            self.breaker.skipped += 1
            return LogExportResult.FAILURE
        result = self.inner.export(batch)
        if result is not LogExportResult.SUCCESS:
            self.breaker.tripped.set()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class _BreakerMetricExporter(MetricExporter):
    def __init__(self, inner: MetricExporter, breaker: Breaker) -> None:
        # the inner exporter's preferences, which PeriodicExportingMetricReader reads the same way
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.breaker = breaker

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self.breaker.tripped.is_set():
            self.breaker.skipped += 1
            return MetricExportResult.FAILURE
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        if result is not MetricExportResult.SUCCESS:
            self.breaker.tripped.set()
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def otlp_exporters(breaker: Breaker) -> tuple[SpanExporter, MetricReader | None]:
    """OTLP exporters configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables
    (``OTEL_METRICS_EXPORTER=none`` turns metrics off, e.g. for a traces-only backend), each
    export bounded by :data:`EXPORT_TIMEOUT_S` unless a timeout variable is set, all behind
    ``breaker``."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    spans = breaker.span_exporter(OTLPSpanExporter(timeout=_timeout("traces")))
    if os.environ.get("OTEL_METRICS_EXPORTER", "otlp") == "none":
        return spans, None
    metrics = breaker.metric_exporter(OTLPMetricExporter(timeout=_timeout("metrics")))
    return spans, PeriodicExportingMetricReader(metrics, export_interval_millis=1000)


def otlp_logger_provider(resource: Resource, breaker: Breaker) -> Any:
    """A LoggerProvider exporting over OTLP (drift log events and verdicts), each export
    bounded like the others; ``None`` with ``OTEL_LOGS_EXPORTER=none``."""
    if os.environ.get("OTEL_LOGS_EXPORTER", "otlp") == "none":
        return None
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").startswith("http"):
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (  # type: ignore[assignment]
            OTLPLogExporter,
        )
    provider = LoggerProvider(resource=resource)
    exporter = breaker.log_exporter(OTLPLogExporter(timeout=_timeout("logs")))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider


class ExporterLog(logging.Handler):
    """Collects what the SDK's OTLP exporters log (retries, failures) instead of letting it
    reach the terminal; :meth:`summary` is the one line to show for it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @contextmanager
    def installed(self) -> Iterator[ExporterLog]:
        """Collect the ``opentelemetry.exporter`` loggers' records while in the block."""
        logger = logging.getLogger(_EXPORTER_LOGGER)
        propagate = logger.propagate
        logger.addHandler(self)
        logger.propagate = False
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.propagate = propagate

    def summary(self, endpoint: str, skipped: int = 0) -> str | None:
        """``None`` when nothing was logged, else one line naming ``endpoint``: whether exports
        failed (an error was logged) or were only retried, how many messages there were, the
        last error (else warning) message and how many later exports were ``skipped``."""
        if not self.records:
            return (
                None
                if not skipped
                else f"OTLP export to {endpoint} failed ({count(skipped, 'export')} skipped)"
            )
        errors = [r for r in self.records if r.levelno >= logging.ERROR]
        last = (errors or self.records)[-1].getMessage()
        if len(last) > 300:
            last = last[:299] + "…"
        what = "failed" if errors else "was retried"
        n = count(len(self.records), "exporter message")
        later = f"; {count(skipped, 'later export')} skipped" if skipped else ""
        return f"OTLP export to {endpoint} {what} ({n}; last: {last}){later}"
