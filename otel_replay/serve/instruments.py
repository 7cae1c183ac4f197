"""The metric instruments of an ``otel-replay serve`` worker (``agent_replay.serve.*``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_replay.core import conventions as c

__all__ = ["ServeInstruments"]


class ServeInstruments:
    """The worker's counters, and the gauge of held runs (``held`` observes it)."""

    def __init__(
        self, meter: Meter, held: Callable[[CallbackOptions], Iterable[Observation]]
    ) -> None:
        self.received = meter.create_counter(
            c.METRIC_SERVE_RECEIVED,
            unit="{span}",
            description="Spans received by otel-replay serve",
        )
        self.exported = meter.create_counter(
            c.METRIC_SERVE_EXPORTED, unit="{span}", description="Spans exported downstream"
        )
        self.dropped = meter.create_counter(
            c.METRIC_SERVE_DROPPED, unit="{span}", description="Spans received and not exported"
        )
        self.refused = meter.create_counter(
            c.METRIC_SERVE_REFUSED,
            unit="{span}",
            description="Spans of requests refused with the retryable status (sent again)",
        )
        self.timed_out = meter.create_counter(
            c.METRIC_SERVE_TIMED_OUT, unit="{run}", description="Held runs ended by the run timeout"
        )
        self.not_compared = meter.create_counter(
            c.METRIC_SERVE_NOT_COMPARED,
            unit="{run}",
            description="Restored runs forwarded without a comparison",
        )
        self.rejected = meter.create_counter(
            c.METRIC_SERVE_REJECTED, unit="{request}", description="OTLP requests refused"
        )
        meter.create_observable_up_down_counter(
            c.METRIC_SERVE_HELD,
            callbacks=[held],
            unit="{run}",
            description="Restored runs held until they end",
        )
