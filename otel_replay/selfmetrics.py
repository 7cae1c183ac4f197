"""Deprecated: the names of ``otel_replay.selfmetrics`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.core import selfmetrics as _m0

__getattr__, __dir__ = moved(
    "otel_replay.selfmetrics",
    {
        "ErrorReporter": _m0,
        "get_meter": _m0,
        "logger": _m0,
    },
)
