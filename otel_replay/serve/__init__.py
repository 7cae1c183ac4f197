"""``otel-replay serve``: a long-running OTLP service that computes drift of restored runs
where the telemetry goes (behind the Collector), records what it receives, and exports the
enriched spans, drift log events and metrics by OTLP. See docs/fleet.md.

``Service`` (which imports grpc) is loaded on first use."""

from typing import Any

from otel_replay.serve.config import ServeConfig

__all__ = ["Service", "ServeConfig"]


def __getattr__(name: str) -> Any:
    if name == "Service":
        from otel_replay.serve.service import Service

        return Service
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
