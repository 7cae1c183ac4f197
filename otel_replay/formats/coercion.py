"""The lossless fallback for attribute values an OTLP recording cannot hold as they are.

* An integer outside the signed 64-bit range of OTLP ``intValue`` is recorded as the string
  :data:`INT_PREFIX` + its decimal digits (``"otel_replay.int:1180591620717411303424"``).
* A string that is not valid Unicode (a lone surrogate such as ``"\\udcff"``, which protobuf
  cannot encode as UTF-8) is recorded, in protobuf recordings, as :data:`STR_PREFIX` + its
  JSON string literal with ASCII escapes (``'otel_replay.str:"a\\\\udcffb"'``). JSON lines
  keep such strings as JSON escapes (no fallback needed).

:func:`restore_value` gives back the original value. Each fallback is reported to the sink
set by :func:`coercions_to` (the :class:`~otel_replay.formats.exporter.RecordingExporter`
logs the first of each kind and counts every one in ``agent_replay.processor.errors``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["INT_PREFIX", "STR_PREFIX", "restore_value", "coercions_to"]

#: Prefix of an out-of-int64-range integer recorded as a string.
INT_PREFIX = "otel_replay.int:"
#: Prefix of a string with invalid Unicode recorded as its escaped JSON literal.
STR_PREFIX = "otel_replay.str:"

_sink: contextvars.ContextVar[Callable[[str, str], None] | None] = contextvars.ContextVar(
    "otel_replay_coercion_sink", default=None
)


@contextlib.contextmanager
def coercions_to(sink: Callable[[str, str], None]) -> Iterator[None]:
    """Report fallbacks made inside the block to ``sink(kind, message)``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def _report(kind: str, message: str) -> None:
    sink = _sink.get()
    if sink is not None:
        sink(kind, message)


def big_int(key: str, value: int) -> str:
    """The fallback string of an out-of-range integer (reported)."""
    _report(
        "int",
        f"recording: attribute {key!r} holds the integer {value}, outside the int64 range of "
        f"OTLP; recorded losslessly as the string {INT_PREFIX!r} + its digits",
    )
    return INT_PREFIX + str(value)


def bad_str(key: str, value: str) -> str:
    """The fallback string of a string that is not valid Unicode (reported)."""
    _report(
        "str",
        f"recording: attribute {key!r} holds a string with invalid Unicode (a lone "
        f"surrogate); recorded losslessly as {STR_PREFIX!r} + its escaped JSON literal",
    )
    return STR_PREFIX + json.dumps(value, ensure_ascii=True)


def dropped(key: str, exc: BaseException) -> None:
    """Report an attribute that could not be recorded at all (an unsupported type)."""
    _report("drop", f"recording: dropped attribute {key!r}: {exc}")


def restore_value(value: Any) -> Any:
    """The original value of a fallback string (other values are returned unchanged)."""
    if type(value) is str and value.startswith("otel_replay."):
        if value.startswith(INT_PREFIX):
            digits = value[len(INT_PREFIX) :]
            if digits.lstrip("-").isdigit():
                return int(digits)
        elif value.startswith(STR_PREFIX):
            try:
                out = json.loads(value[len(STR_PREFIX) :])
            except ValueError:
                return value
            if type(out) is str:
                return out
    return value
