"""Deprecated: the names of ``otel_replay.demo`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.cli import demo as _m0

__getattr__, __dir__ = moved(
    "otel_replay.demo",
    {
        "QUESTION": _m0,
        "run_demo": _m0,
    },
)
