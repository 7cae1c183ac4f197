"""Deprecated: the names of ``otel_replay.drift_processor`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.drift import events as _m0
from otel_replay.drift import processor as _m1

__getattr__, __dir__ = moved(
    "otel_replay.drift_processor",
    {
        "DriftProcessor": _m1,
        "finding_event_attributes": _m0,
        "summary_event_attributes": _m0,
    },
)
