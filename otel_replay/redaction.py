"""Deprecated: the names of ``otel_replay.redaction`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.capture import redaction as _m0

__getattr__, __dir__ = moved(
    "otel_replay.redaction",
    {
        "ATTR_RULE": _m0,
        "DEFAULT_RULES": _m0,
        "DEFAULT_SECRET_KEYS": _m0,
        "METRIC_REDACTIONS": _m0,
        "REDACTED": _m0,
        "RedactionHook": _m0,
        "RedactionProcessor": _m0,
        "RedactionRule": _m0,
        "Redactor": _m0,
    },
)
