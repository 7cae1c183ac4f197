"""Deprecated: the names of ``otel_replay.processor`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.capture import processor as _m0

__getattr__, __dir__ = moved(
    "otel_replay.processor",
    {
        "IncompleteHistoryError": _m0,
        "ReplayProcessor": _m0,
    },
)
