"""Deprecated: the names of ``otel_replay.redaction`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.capture import redaction as _m0
from otel_replay.capture import redaction_rules as _m1

__getattr__, __dir__ = moved(
    "otel_replay.redaction",
    {
        "ATTR_RULE": _m0,
        "DEFAULT_RULES": _m1,
        "DEFAULT_SECRET_KEYS": _m1,
        "METRIC_REDACTIONS": _m0,
        "REDACTED": _m1,
        "RedactionHook": _m0,
        "RedactionProcessor": _m0,
        "RedactionRule": _m1,
        "Redactor": _m0,
    },
)
