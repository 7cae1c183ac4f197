"""The call a span runs inside when the trace does not show it: some instrumentations start a
span without making it current (OpenInference's LangChain tool span), so a ``@traced_tool``
called inside that tool starts without a parent, or as a child of a call further out.

:class:`OpenSpans` tracks the spans open on each thread; for a starting span it names the
call it runs inside, noted as ``agent_replay.step.enclosing_span_id``
(docs/semantic-conventions.md), only when that is certain: the innermost span open on the
same thread, when it comes from an instrumentation that never makes its spans current
(:data:`NOT_CURRENT_SCOPES`) and the starting span has no parent, or has a call further out
as its parent and does not come from such an instrumentation (which names its spans'
parents itself). Otherwise (spans started on other threads, calls in
parallel) nothing is noted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["NOT_CURRENT_SCOPES", "OpenSpans"]

#: Instrumentation scopes (prefixes) whose spans are never made current.
NOT_CURRENT_SCOPES = ("openinference.instrumentation",)

#: Open spans tracked at most (spans never ended beyond it are not tracked).
MAX_OPEN = 100_000
_MAX_DEPTH = 256


class _Open:
    """An open span tracked on its thread; ``enclosing`` (and its session) is the call it
    runs inside when that is certain and not its parent."""

    __slots__ = ("stack", "parent", "session", "not_current", "enclosing", "enclosing_session")

    def __init__(self, stack: list[int], parent: int | None, not_current: bool) -> None:
        self.stack = stack
        self.parent = parent
        self.session: str | None = None
        self.not_current = not_current
        self.enclosing: int | None = None
        self.enclosing_session: str | None = None


class OpenSpans:
    """Spans open per thread; :meth:`started` names the call a starting span runs inside.

    Only what can matter is tracked: spans of :data:`NOT_CURRENT_SCOPES`, and the spans
    started on a thread while one of them is open there (elsewhere a span costs a lookup).
    ``on_full(open)`` is called for each span that could matter and is not tracked because
    :data:`MAX_OPEN` spans are open."""

    def __init__(self, on_full: Callable[[int], None] | None = None) -> None:
        self._on_full = on_full
        self._local = threading.local()
        self._last: tuple[Any, bool] = (object(), False)
        #: Open span id -> its record, for the tracked spans.
        self.open: dict[int, _Open] = {}

    def started(self, span: Any) -> _Open | None:
        """Track ``span`` (an SDK span on start) if it can matter; its record, else ``None``."""
        try:
            stack: list[int] = self._local.stack
        except AttributeError:
            stack = self._local.stack = []
        scope = span.instrumentation_scope
        last = self._last  # (scope, whether it is one of NOT_CURRENT_SCOPES), set at once
        if last[0] is scope:
            not_current = last[1]
        else:
            name = getattr(scope, "name", "") or ""
            not_current = isinstance(name, str) and name.startswith(NOT_CURRENT_SCOPES)
            self._last = (scope, not_current)
        if not stack and not not_current:
            return None
        if len(self.open) >= MAX_OPEN:
            if self._on_full is not None:
                self._on_full(len(self.open))
            return None
        parent = span.parent.span_id if span.parent is not None else None
        rec = _Open(stack, parent, not_current)
        if stack:
            top = stack[-1]
            info = self.open.get(top)
            # a span without a parent under a span that is current was started as a new
            # trace on purpose; such an instrumentation names its spans' parents itself:
            # only one without a parent is taken as running inside the call
            if (
                info is not None
                and info.not_current
                and top != parent
                and (parent is None or (not not_current and self._inside(top, parent)))
            ):
                rec.enclosing = top
                rec.enclosing_session = info.session
        sid = span.context.span_id
        self.open[sid] = rec
        stack.append(sid)
        return rec

    def ended(self, span_id: int) -> None:
        info = self.open.pop(span_id, None)
        if info is not None:
            try:
                info.stack.remove(span_id)
            except ValueError:
                pass

    def _inside(self, span_id: int, ancestor: int) -> bool:
        """Whether the open span ``span_id`` descends from ``ancestor`` (through tracked
        spans only)."""
        cur: int | None = span_id
        for _ in range(_MAX_DEPTH):
            info = self.open.get(cur) if cur is not None else None
            if info is None:
                return False
            cur = info.parent
            if cur == ancestor:
                return True
        return False

    def clear(self) -> None:
        self.open.clear()

    def after_fork(self) -> None:
        """In a forked child: forget the spans open on threads that did not survive."""
        mine = getattr(self._local, "stack", None)
        self.open = {k: v for k, v in self.open.items() if v.stack is mine}
