"""Save and restore OpenTelemetry's global providers (and otel-replay's configure() state)
around a test that installs them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import opentelemetry._logs._internal as logs_api
import opentelemetry.metrics._internal as metrics_api
import opentelemetry.trace as trace_api
from opentelemetry.util._once import Once

import otel_replay.setup.configuration as configure_mod

_SLOTS = (
    (trace_api, "_TRACER_PROVIDER", "_TRACER_PROVIDER_SET_ONCE"),
    (metrics_api, "_METER_PROVIDER", "_METER_PROVIDER_SET_ONCE"),
    (logs_api, "_LOGGER_PROVIDER", "_LOGGER_PROVIDER_SET_ONCE"),
)


@contextmanager
def fresh_otel_globals() -> Iterator[None]:
    """No global provider inside; the previous ones (and shut-down new ones) after."""
    saved = [(m, getattr(m, p), getattr(m, o)) for m, p, o in _SLOTS]
    saved_conf = (configure_mod._CURRENT, configure_mod._CURRENT_ARGS)
    proxy = metrics_api._PROXY_METER_PROVIDER  # remembers the provider once one is set
    saved_proxy = (proxy._real_meter_provider, proxy._meters)
    proxy._real_meter_provider, proxy._meters = None, []
    for m, p, o in _SLOTS:
        setattr(m, p, None)
        setattr(m, o, Once())
    configure_mod._CURRENT = configure_mod._CURRENT_ARGS = None
    try:
        yield
    finally:
        for (m, p, o), (_, prev, prev_once) in zip(_SLOTS, saved):
            new = getattr(m, p)
            if new is not None and new is not prev and hasattr(new, "shutdown"):
                new.shutdown()
            setattr(m, p, prev)
            setattr(m, o, prev_once)
        configure_mod._CURRENT, configure_mod._CURRENT_ARGS = saved_conf
        proxy._real_meter_provider, proxy._meters = saved_proxy
