"""Deprecated: the names of ``otel_replay.jsondiff`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.drift import jsondiff as _m0

__getattr__, __dir__ = moved(
    "otel_replay.jsondiff",
    {
        "ChangeOp": _m0,
        "JsonChange": _m0,
        "MAX_DEPTH": _m0,
        "format_path": _m0,
        "json_diff": _m0,
        "type_name": _m0,
    },
)
