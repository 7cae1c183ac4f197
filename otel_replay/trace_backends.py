"""Deprecated: the names of ``otel_replay.trace_backends`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.restore import backends as _m0

__getattr__, __dir__ = moved(
    "otel_replay.trace_backends",
    {
        "BackendAuthError": _m0,
        "BackendError": _m0,
        "BackendNotFoundError": _m0,
        "BackendResponseError": _m0,
        "BackendUnreachableError": _m0,
        "DEFAULT_MAX_RESPONSE_BYTES": _m0,
        "JaegerSource": _m0,
        "PhoenixSource": _m0,
        "TraceNotFoundError": _m0,
        "phoenix_span": _m0,
        "source_from_url": _m0,
    },
)
