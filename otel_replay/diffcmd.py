"""Deprecated: the names of ``otel_replay.diffcmd`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.cli import diff as _m0

__getattr__, __dir__ = moved(
    "otel_replay.diffcmd",
    {
        "add_diff_parser": _m0,
        "cmd_diff": _m0,
        "select_steps": _m0,
    },
)
