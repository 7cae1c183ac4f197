"""Deprecated: the names of ``otel_replay.steps`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.core import sdkspan as _m0
from otel_replay.model import span_shapes as _m1
from otel_replay.model import steps as _m2

__getattr__, __dir__ = moved(
    "otel_replay.steps",
    {
        "DEFAULT_IMPORTANCE": _m2,
        "Step": _m2,
        "decode_json_value": _m1,
        "default_importance": _m2,
        "normalize_span": _m2,
        "session_id_of": _m1,
        "span_attributes": _m0,
    },
)
