"""Nesting that the trace does not show: some instrumentations start a span without making
it current (OpenInference's LangChain tool span), so a ``@traced_tool`` called inside that
tool starts a trace of its own. :class:`NestingProcessor` notes, for a span that starts
without a parent, the call it runs inside; the baseline file keeps it as
``agent_replay.step.enclosing_span_id``, so a replay that serves the outer call does not
expect the calls made inside it.

The call a span runs inside is the innermost span of the block still open on the same
thread; else (LangChain runs the callbacks of async code in background threads) the
innermost open span of the block, when the open spans form one chain, that span comes from
an instrumentation known to leave its spans not current (:data:`NOT_CURRENT_SCOPES`; a span
that was current would have been the parent), and it ran alone (no sibling of it
overlapped it in time: with calls in parallel, which one a span ran inside is unknown).
Otherwise nothing is noted."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay.capture.nesting import NOT_CURRENT_SCOPES
from otel_replay.model.steps import Step, enclosing_parent

__all__ = ["NestingProcessor", "NOT_CURRENT_SCOPES", "enclosing_parent", "with_enclosing_parents"]


def _hex(span_id: int) -> str:
    return format(span_id, "016x")


class NestingProcessor(SpanProcessor):
    """Notes the call each span started without a parent runs inside (:meth:`enclosing`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, list[int]] = {}  # thread -> span ids open there, in start order
        self._thread: dict[int, int] = {}  # open span id -> thread it started on
        self._parent: dict[int, int | None] = {}  # open span id -> the span it runs inside
        self._not_current: set[int] = set()  # open spans of NOT_CURRENT_SCOPES
        self._same_thread: dict[str, str] = {}  # span -> enclosing span, open on its thread
        self._guessed: dict[str, str] = {}  # span -> the only open span elsewhere
        #: Span id (16 hex digits) -> the thread it started on, for every span of the block.
        self.threads: dict[str, int] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        tid = threading.get_ident()
        with self._lock:
            stack = self._open.setdefault(tid, [])
            parent = span.parent.span_id if span.parent is not None else None
            if parent is None and stack:
                parent = stack[-1]
                self._same_thread[_hex(ctx.span_id)] = _hex(parent)
            elif parent is None:
                parent = self._only_leaf()
                if parent is not None:
                    self._guessed[_hex(ctx.span_id)] = _hex(parent)
            stack.append(ctx.span_id)
            self._thread[ctx.span_id] = tid
            self._parent[ctx.span_id] = parent
            scope = getattr(span.instrumentation_scope, "name", "") or ""
            if scope.startswith(NOT_CURRENT_SCOPES):
                self._not_current.add(ctx.span_id)
            self.threads[_hex(ctx.span_id)] = tid

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        with self._lock:
            self._parent.pop(ctx.span_id, None)
            self._not_current.discard(ctx.span_id)
            tid = self._thread.pop(ctx.span_id, None)
            stack = self._open.get(tid) if tid is not None else None
            if stack is not None and ctx.span_id in stack:
                stack.remove(ctx.span_id)
                if not stack:
                    del self._open[tid]  # type: ignore[arg-type]

    def _only_leaf(self) -> int | None:
        """The innermost open span when the open spans form one chain and it is never
        current, else ``None``."""
        if not self._parent:
            return None
        parents = {p for p in self._parent.values() if p is not None}
        leaves = [s for s in self._parent if s not in parents]
        if len(leaves) == 1 and leaves[0] in self._not_current:
            return leaves[0]
        return None

    def enclosing(self, spans: Iterable[ReadableSpan]) -> dict[str, str]:
        """Span id -> id of the call it ran inside (16 hex digits each), for the spans of
        the block that started without a parent and ran inside one."""
        with self._lock:
            out = dict(self._same_thread)
            guessed = dict(self._guessed)
        if guessed:
            alone = _ran_alone(spans)
            out.update({k: v for k, v in guessed.items() if v in alone})
        return out

    def shutdown(self) -> None:
        with self._lock:
            self._open.clear()
            self._thread.clear()
            self._parent.clear()
            self._not_current.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _ran_alone(spans: Iterable[ReadableSpan]) -> set[str]:
    """Ids of the spans no sibling (same parent) overlapped in time."""
    by_parent: dict[int | None, list[tuple[int, int, int]]] = {}
    for s in spans:
        ctx = s.get_span_context()
        if ctx is None or s.start_time is None:
            continue
        parent = s.parent.span_id if s.parent is not None else None
        end = s.end_time if s.end_time is not None else s.start_time
        by_parent.setdefault(parent, []).append((s.start_time, end, ctx.span_id))
    alone: set[str] = set()
    for siblings in by_parent.values():
        siblings.sort()
        ended = 0  # the latest end of the siblings started before
        for i, (start, end, sid) in enumerate(siblings):
            after = siblings[i + 1] if i + 1 < len(siblings) else None
            if (i == 0 or ended <= start) and (after is None or after[0] >= end):
                alone.add(_hex(sid))
            ended = max(ended, end)
    return alone


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
