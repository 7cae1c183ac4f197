"""Nesting that the trace does not show: some instrumentations start a span without making
it current (OpenInference's LangChain tool span), so a ``@traced_tool`` called inside that
tool starts a trace of its own. :class:`NestingProcessor` notes, on a span that starts
without a parent, the innermost span of the block still open on the same thread
(``agent_replay.step.enclosing_span_id``), so a replay that serves the outer call does
not expect the calls made inside it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay.core import conventions as c
from otel_replay.model.steps import Step

__all__ = ["NestingProcessor", "enclosing_parent", "with_enclosing_parents"]


class NestingProcessor(SpanProcessor):
    """Marks spans started without a parent with the span open on their thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, list[int]] = {}  # thread -> span ids open there, in start order
        self._thread: dict[int, int] = {}  # open span id -> thread it started on
        #: Span id (16 hex digits) -> the thread it started on, for every span of the block.
        self.threads: dict[str, int] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        tid = threading.get_ident()
        with self._lock:
            stack = self._open.setdefault(tid, [])
            if span.parent is None and stack:
                span.set_attribute(c.STEP_ENCLOSING_SPAN_ID, format(stack[-1], "016x"))
            stack.append(ctx.span_id)
            self._thread[ctx.span_id] = tid
            self.threads[format(ctx.span_id, "016x")] = tid

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        with self._lock:
            tid = self._thread.pop(ctx.span_id, None)
            stack = self._open.get(tid) if tid is not None else None
            if stack is not None and ctx.span_id in stack:
                stack.remove(ctx.span_id)
                if not stack:
                    del self._open[tid]  # type: ignore[arg-type]

    def shutdown(self) -> None:
        with self._lock:
            self._open.clear()
            self._thread.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def enclosing_parent(step: Step) -> str | None:
    """The step's parent span, else the span it was recorded as running inside."""
    if step.parent_span_id is not None:
        return step.parent_span_id
    attrs: Mapping[str, Any] = step.attributes or {}
    value = attrs.get(c.STEP_ENCLOSING_SPAN_ID)
    return value if isinstance(value, str) and value else None


def with_enclosing_parents(steps: Sequence[Step]) -> list[Step]:
    """``steps`` with a parentless step that ran inside another one made its child (the
    re-execution then takes it as a call of the outer call)."""
    out = []
    for s in steps:
        parent = enclosing_parent(s)
        out.append(
            s if parent == s.parent_span_id else dataclasses.replace(s, parent_span_id=parent)
        )
    return out
