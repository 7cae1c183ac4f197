"""A ReplayProcessor is freed with its provider: its fork handler holds it weakly (the
pytest plugin makes one provider per test)."""

from __future__ import annotations

import gc
import weakref

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from otel_replay.capture.processor import ReplayProcessor


def test_replay_processor_is_freed_with_its_provider() -> None:
    meters = MeterProvider()  # observable-metric callbacks are held by the meter provider
    provider = TracerProvider()
    processor = ReplayProcessor(meter_provider=meters)
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("s").end()
    provider.shutdown()
    meters.shutdown()
    ref = weakref.ref(processor)
    del processor, provider, meters
    gc.collect()
    assert ref() is None
