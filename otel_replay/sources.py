"""Deprecated: the names of ``otel_replay.sources`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.model import errors as _m0
from otel_replay.restore import sources as _m1

__getattr__, __dir__ = moved(
    "otel_replay.sources",
    {
        "ProcessorSource": _m1,
        "RecordingSource": _m1,
        "StepSource": _m1,
        "UnorderedHistoryError": _m0,
        "describe_source": _m1,
        "source_for": _m1,
    },
)
