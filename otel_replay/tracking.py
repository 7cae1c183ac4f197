"""Deprecated: the names of ``otel_replay.tracking`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.restore import tracking as _m0

__getattr__, __dir__ = moved(
    "otel_replay.tracking",
    {
        "REGISTRY": _m0,
        "TrackedRun": _m0,
        "TrackingRegistry": _m0,
    },
)
