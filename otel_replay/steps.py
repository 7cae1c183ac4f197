"""Deprecated: the names of ``otel_replay.steps`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.model import span_shapes as _m1
from otel_replay.model import steps as _m0

__getattr__, __dir__ = moved(
    "otel_replay.steps",
    {
        "DEFAULT_IMPORTANCE": _m0,
        "Step": _m0,
        "decode_json_value": _m1,
        "default_importance": _m0,
        "normalize_span": _m0,
        "session_id_of": _m1,
        "span_attributes": _m0,
    },
)
