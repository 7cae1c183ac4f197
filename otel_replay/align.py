"""Deprecated: the names of ``otel_replay.align`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.drift import align as _m0

__getattr__, __dir__ = moved(
    "otel_replay.align",
    {
        "Opcode": _m0,
        "align": _m0,
        "align_codes": _m0,
        "available_backends": _m0,
        "lcs_length": _m0,
        "strict_first_mismatch": _m0,
    },
)
