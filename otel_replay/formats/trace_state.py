"""Recorded W3C ``tracestate`` strings -> SDK ``TraceState``, leniently and without logging.

OTLP carries a span's ``trace_state`` as an opaque string and the Collector passes it through
unchecked, so a recording may hold any string (the Collector's own test data has ``"state"``).
The SDK's ``TraceState.from_header`` logs ``Member doesn't match the w3c identifiers format``
and drops the whole header when one list member is not ``key=value``. Here the valid W3C list
members (https://www.w3.org/TR/trace-context/#tracestate-header-field-values: at most 32,
first of a duplicate key wins, optional whitespace around members) become the mapping, and a
string that is not exactly those members is kept as recorded (:class:`RecordedTraceState`),
so writing the span back writes the string unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from opentelemetry.trace.span import TraceState

__all__ = ["RecordedTraceState", "parse_trace_state", "trace_state_header"]

# key   = lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")
#       / (lcalpha / DIGIT) 0*240(...) "@" lcalpha 0*13(...)
# value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
_KEY = r"[a-z][_0-9a-z\-\*\/]{0,255}|[a-z0-9][_0-9a-z\-\*\/]{0,240}@[a-z][_0-9a-z\-\*\/]{0,13}"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(f"({_KEY})=({_VALUE})")
_MAX_MEMBERS = 32
_EMPTY = TraceState()


class RecordedTraceState(TraceState):
    """A ``TraceState`` whose recorded string is not exactly its W3C list members.

    The mapping holds the valid members; :attr:`recorded` is the string as recorded, which
    otel-replay's recording writers write back unchanged.
    """

    def __init__(self, entries: Sequence[tuple[str, str]], recorded: str) -> None:
        super().__init__(entries)
        self.recorded = recorded

    def __repr__(self) -> str:
        return f"RecordedTraceState({self.recorded!r})"


def parse_trace_state(header: str) -> TraceState:
    """The ``TraceState`` of a recorded ``tracestate`` string; never logs, never raises."""
    if not header:
        return _EMPTY
    pairs: dict[str, str] = {}
    for member in header.split(","):
        member = member.strip(" \t")
        match = _MEMBER.fullmatch(member) if member else None
        if match is None or len(pairs) >= _MAX_MEMBERS:
            continue
        key, value = match.groups()
        pairs.setdefault(key, value)
    entries = list(pairs.items())
    # Valid, unique and at most 32 pairs: the SDK constructor accepts them without logging.
    state = TraceState(entries)
    if state.to_header() == header:
        return state
    return RecordedTraceState(entries, header)


def trace_state_header(state: TraceState | None) -> str:
    """The string to write for ``state``: the recorded one when there is one."""
    if state is None:
        return ""
    if isinstance(state, RecordedTraceState):
        return state.recorded
    return state.to_header() if state else ""
