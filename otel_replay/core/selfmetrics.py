"""Self-observability: instruments for the processors' own health and the once-only error log."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from otel_replay.core import conventions as c
from otel_replay.core.version import __version__

__all__ = ["logger", "ErrorReporter", "get_meter"]

logger = logging.getLogger("otel_replay")


def get_meter(meter_provider: MeterProvider | None = None) -> Meter:
    """The ``otel_replay`` meter from ``meter_provider`` (default: the global provider)."""
    if meter_provider is not None:
        return meter_provider.get_meter(c.METER_NAME, __version__)
    return metrics.get_meter(c.METER_NAME, __version__)


class ErrorReporter:
    """Logs each (component, error type) once and counts every occurrence.

    Never raises: it is called from span processor callbacks.
    """

    def __init__(self, component: str, meter: Meter) -> None:
        self.component = component
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.count = 0
        self._counter = meter.create_counter(
            c.METRIC_PROCESSOR_ERRORS,
            unit="{error}",
            description="Failures inside otel-replay processors and exporters (never raised)",
        )
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                reporter = ref()
                if reporter is not None:  # the lock may have been held by another thread
                    reporter._lock = threading.Lock()

            os.register_at_fork(after_in_child=_after_fork_in_child)

    def report(self, where: str, exc: BaseException) -> None:
        try:
            key = (where, type(exc).__qualname__)
            with self._lock:
                self.count += 1
                first = key not in self._seen
                self._seen.add(key)
            if first:
                logger.error(
                    "otel-replay %s failed in %s: %s: %s (further %s errors here are counted "
                    "in %s, not logged)",
                    self.component,
                    where,
                    type(exc).__name__,
                    exc,
                    type(exc).__name__,
                    c.METRIC_PROCESSOR_ERRORS,
                    exc_info=exc,
                )
            self._counter.add(
                1,
                {c.ATTR_COMPONENT: self.component, c.ATTR_ERROR_TYPE: type(exc).__qualname__},
            )
        except Exception:  # pragma: no cover - last resort, must never raise
            pass

    def add(self, error_type: str) -> None:
        """Count a failure the caller has already made visible (returned and logged)."""
        try:
            with self._lock:
                self.count += 1
            self._counter.add(1, {c.ATTR_COMPONENT: self.component, c.ATTR_ERROR_TYPE: error_type})
        except Exception:  # pragma: no cover - last resort, must never raise
            pass


def observable(
    meter: Meter,
    name: str,
    unit: str,
    description: str,
    read: Callable[[], Iterable[tuple[float, dict[str, str]]]],
) -> None:
    """Register an observable up-down counter whose value is read at collection time."""

    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        try:
            return [Observation(v, attrs) for v, attrs in read()]
        except Exception:  # pragma: no cover
            return []

    meter.create_observable_up_down_counter(
        name, callbacks=[callback], unit=unit, description=description
    )
