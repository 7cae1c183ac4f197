"""Routing of the global tracer to the active ``agent_baseline`` block.

While a block runs, the global tracer provider of the OpenTelemetry API is replaced by
:data:`ROUTER`, whose tracers send spans to the block's own provider; when the block ends,
the previous global provider (set or not) is put back exactly. A tracer handed out during a
block keeps working afterwards like the API's proxy tracer: it follows whatever the global
provider is at each call, so nothing the block leaves behind captures spans.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracer, Tracer
from opentelemetry.util._decorator import _agnosticcontextmanager

__all__ = ["RoutingTracerProvider", "ROUTER", "routed"]

_NOOP = NoOpTracer()


class _RoutingTracer(Tracer):
    """A tracer that starts spans on the active block's provider, else on the global one."""

    def __init__(self, router: RoutingTracerProvider, args: tuple[Any, ...]) -> None:
        self._router = router
        self._args = args

    def _target(self) -> Tracer:
        active = self._router.active
        if active is not None:
            return active.get_tracer(*self._args)
        current = getattr(trace, "_TRACER_PROVIDER", None)
        if current is None or current is self._router:
            current = self._router.fallback
        return current.get_tracer(*self._args) if current is not None else _NOOP

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._target().start_span(*args, **kwargs)

    @_agnosticcontextmanager
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[Any]:  # type: ignore[override]
        with self._target().start_as_current_span(*args, **kwargs) as span:
            yield span


class RoutingTracerProvider(trace.TracerProvider):
    """Global provider during ``agent_baseline`` blocks (one per process, :data:`ROUTER`)."""

    def __init__(self) -> None:
        self.active: TracerProvider | None = None
        self.fallback: trace.TracerProvider | None = None
        self._lock = threading.Lock()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> Tracer:
        return _RoutingTracer(
            self, (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        )


ROUTER = RoutingTracerProvider()


@contextmanager
def routed(provider: TracerProvider) -> Iterator[None]:
    """Send spans of the global tracer API to ``provider`` inside the block; restore the
    global provider state (provider and its set-once flag) exactly afterwards."""
    with ROUTER._lock:
        if ROUTER.active is not None:
            raise RuntimeError("agent_baseline blocks cannot be nested or run concurrently")
        saved_provider = trace._TRACER_PROVIDER
        saved_once = trace._TRACER_PROVIDER_SET_ONCE
        saved_done = saved_once._done
        ROUTER.active = provider
        ROUTER.fallback = saved_provider
        trace._TRACER_PROVIDER = ROUTER
    try:
        yield
    finally:
        with ROUTER._lock:
            ROUTER.active = None
            ROUTER.fallback = None
            trace._TRACER_PROVIDER = saved_provider
            trace._TRACER_PROVIDER_SET_ONCE = saved_once
            saved_once._done = saved_done
