"""``otel-replay serve`` assembled: the downstream OTLP exporters (spans, drift log events,
metrics), the :class:`~otel_replay.serve.engine.Engine`, the receivers, and a graceful stop."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource

from otel_replay.core import conventions as c
from otel_replay.core.env import env_float, sdk_disabled, warn_once
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.serve.baselines import BaselineFinder, parse_baseline_source
from otel_replay.serve.config import Downstream, ServeConfig, default_worker_id, parse_downstream
from otel_replay.serve.engine import Engine, Limits
from otel_replay.serve.otlp_out import sender_for
from otel_replay.serve.receivers import GrpcReceiver, HttpReceiver

__all__ = ["Service", "downstream_exporters"]


def downstream_exporters(down: Downstream) -> MetricExporter:
    """The SDK's OTLP metric exporter for ``down`` (spans and drift log events go through
    :func:`~otel_replay.serve.otlp_out.sender_for`)."""
    if down.protocol == "grpc" or (
        down.protocol == "env"
        and not os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").startswith("http")
    ):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        if down.protocol == "env":
            return OTLPMetricExporter()
        return OTLPMetricExporter(endpoint=down.endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
        OTLPMetricExporter,
    )

    if down.protocol == "env":
        return OTLPMetricExporter()
    return OTLPMetricExporter(endpoint=f"{down.endpoint}/v1/metrics")


class Service:
    """One ``otel-replay serve`` worker. :meth:`start` binds and serves; :meth:`stop` shuts
    down gracefully and returns the final counters.

    Bad settings raise :class:`ValueError` (or :class:`OSError` for a port that cannot be
    bound) naming the setting, before anything listens.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.worker_id = config.worker_id or default_worker_id()
        down = parse_downstream(config.downstream)
        source = parse_baseline_source(config.baseline_source) if config.baseline_source else None
        if config.record_dir is not None:
            os.makedirs(config.record_dir, exist_ok=True)  # --baselines may be the same
        if config.baselines is not None and not os.path.isdir(config.baselines):
            raise ValueError(f"--baselines {config.baselines!r} is not a directory")
        for name, value in (
            ("--run-timeout", config.run_timeout),
            ("--metric-interval", config.metric_interval),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name, n in (
            ("--max-held-runs", config.max_held_runs),
            ("--max-held-bytes", config.max_held_bytes),
        ):
            if n <= 0:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        if sdk_disabled():
            warn_once(
                (c.ENV_SDK_DISABLED, "serve"),
                "%s=true: the worker's own metrics (agent_replay.serve.*, drift metrics) are "
                "off, as the SDK's MeterProvider is disabled; spans, drift comparisons and "
                "drift log events go downstream as usual",
                c.ENV_SDK_DISABLED,
            )
        metrics = downstream_exporters(down)
        sender = sender_for(down)
        log_sender = sender_for(down, "logs")
        self.downstream = down
        resource_attributes = {
            SERVICE_NAME: c.SERVE_SERVICE_NAME,
            SERVICE_INSTANCE_ID: self.worker_id,
        }
        resource = Resource(resource_attributes)
        self.meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[
                PeriodicExportingMetricReader(
                    metrics, export_interval_millis=config.metric_interval * 1000
                )
            ],
        )
        recorder = None
        if config.record_dir is not None:
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.worker_id)
            recorder = RecordingExporter(
                os.path.join(config.record_dir, f"spans-{safe}.jsonl"),
                meter_provider=self.meter_provider,
            )
        baselines = None
        if config.baselines is not None or source is not None:
            baselines = BaselineFinder(
                config.baselines,
                source,
                timeout=env_float(c.ENV_HTTP_TIMEOUT, c.DEFAULT_HTTP_TIMEOUT_SECONDS),
            )
        self.engine = Engine(
            sender,
            worker_id=self.worker_id,
            baselines=baselines,
            recorder=recorder,
            limits=Limits(
                max_held_runs=config.max_held_runs,
                max_held_bytes=config.max_held_bytes,
                run_timeout=config.run_timeout,
                max_queued_spans=config.max_queued_spans,
            ),
            meter_provider=self.meter_provider,
            log_sender=log_sender,
            log_resource=resource_attributes,
        )
        try:
            self.grpc = GrpcReceiver(
                self.engine, config.host, config.grpc_port, config.max_request_bytes
            )
            self.http = HttpReceiver(
                self.engine, config.host, config.http_port, config.max_request_bytes, self.health
            )
        except BaseException:
            if self.engine.log_export is not None:
                self.engine.log_export.shutdown(500)
            self._shutdown_exporters(1.0)
            raise
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._final: dict[str, Any] | None = None

    @property
    def grpc_address(self) -> str:
        return f"{self.config.host}:{self.grpc.port}"

    @property
    def http_address(self) -> str:
        return f"{self.config.host}:{self.http.port}"

    def ready_line(self) -> str:
        return (
            f"otel-replay serve: ready grpc={self.grpc_address} http={self.http_address} "
            f"worker={self.worker_id}"
        )

    def start(self) -> None:
        self.grpc.start()
        self.http.start()

    def health(self) -> dict[str, Any]:
        """The ``/healthz`` document: ``status`` (``ok``, ``full``, ``shutting_down``), the
        worker id and the counters."""
        if self.engine._closing:
            status = "shutting_down"
        elif self.engine.full:
            status = "full"
        else:
            status = "ok"
        return {"status": status, "worker": self.worker_id, "counters": self.engine.snapshot()}

    def stop(self, timeout: float | None = None) -> dict[str, Any]:
        """Refuse new requests, compare or forward every held run, flush every exporter (all
        within about ``timeout`` seconds, default the config's); the final counters."""
        with self._stop_lock:
            if self._final is not None:
                return self._final
            timeout = self.config.shutdown_timeout if timeout is None else timeout
            deadline = time.monotonic() + timeout
            with self.engine._lock:
                self.engine._closing = True  # from now on requests get the retryable status
            self.grpc.stop(min(1.0, timeout / 10))
            self.http.stop()
            self.engine.close(max(0.1, (deadline - time.monotonic()) * 0.8))
            self._shutdown_exporters(max(0.1, deadline - time.monotonic()))
            self._final = self.engine.snapshot()
            self._stopped.set()
            return self._final

    def _shutdown_exporters(self, timeout: float) -> None:
        ms = int(timeout * 1000)
        try:
            self.meter_provider.shutdown(timeout_millis=ms)
        except Exception as exc:
            self.engine.errors.report("metrics.shutdown", exc)

    def summary_line(self, counters: dict[str, Any]) -> str:
        """One line of final counters (printed to stderr at exit): received = exported +
        dropped; refused spans were sent again by their sender and count apart."""
        dropped = ",".join(f"{k}={v}" for k, v in sorted(counters["dropped_by_reason"].items()))
        refused = ",".join(f"{k}={v}" for k, v in sorted(counters["refused_by_reason"].items()))
        return (
            f"otel-replay serve: stopped worker={self.worker_id} "
            f"received={counters['received']} exported={counters['exported']} "
            f"dropped={counters['dropped']}" + (f" ({dropped})" if dropped else "") + " "
            f"refused={counters['refused']}" + (f" ({refused})" if refused else "") + " "
            f"runs_compared={counters['runs_compared']} "
            f"runs_not_compared={counters['runs_not_compared']} "
            f"runs_timed_out={counters['runs_timed_out']} "
            f"requests_rejected={counters['requests_rejected']}"
        )
