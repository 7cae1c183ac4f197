"""Deprecated: the names of ``otel_replay.trace_backends`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.restore import http_client as _m0
from otel_replay.restore import jaeger as _m1
from otel_replay.restore import phoenix as _m2
from otel_replay.restore import resolve as _m3

__getattr__, __dir__ = moved(
    "otel_replay.trace_backends",
    {
        "BackendAuthError": _m0,
        "BackendError": _m0,
        "BackendNotFoundError": _m0,
        "BackendResponseError": _m0,
        "BackendUnreachableError": _m0,
        "DEFAULT_MAX_RESPONSE_BYTES": _m0,
        "JaegerSource": _m1,
        "PhoenixSource": _m2,
        "TraceNotFoundError": _m0,
        "phoenix_span": _m2,
        "source_from_url": _m3,
    },
)
