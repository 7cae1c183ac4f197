"""Deprecated: the names of ``otel_replay.steps`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.model import span_shapes as _m0
from otel_replay.model import steps as _m1

__getattr__, __dir__ = moved(
    "otel_replay.steps",
    {
        "DEFAULT_IMPORTANCE": _m1,
        "Step": _m1,
        "decode_json_value": _m0,
        "default_importance": _m1,
        "normalize_span": _m1,
        "session_id_of": _m0,
        "span_attributes": _m1,
    },
)
