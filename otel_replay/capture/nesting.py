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
from typing import Any

__all__ = ["NOT_CURRENT_SCOPES", "OpenSpans"]

#: Instrumentation scopes (prefixes) whose spans are never made current.
NOT_CURRENT_SCOPES = ("openinference.instrumentation",)

#: Open spans tracked at most (spans never ended beyond it are not tracked).
MAX_OPEN = 100_000
_MAX_DEPTH = 256


class _Open:
    __slots__ = ("stack", "parent", "session", "not_current")

    def __init__(
        self, stack: list[int], parent: int | None, session: str | None, not_current: bool
    ) -> None:
        self.stack = stack
        self.parent = parent
        self.session = session
        self.not_current = not_current


class OpenSpans:
    """Spans open per thread; :meth:`started` names the call a starting span runs inside."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._open: dict[int, _Open] = {}  # open span id -> where it is open

    def started(self, span: Any) -> tuple[int, str | None] | None:
        """Track ``span`` (an SDK span on start); ``(span id, session id)`` of the call it
        runs inside when that is certain and not its parent, else ``None``."""
        stack: list[int] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        sid = span.get_span_context().span_id
        parent = span.parent.span_id if span.parent is not None else None
        scope = getattr(span.instrumentation_scope, "name", "") or ""
        not_current = scope.startswith(NOT_CURRENT_SCOPES)
        enclosing = None
        if stack:
            top = stack[-1]
            info = self._open.get(top)
            if info is not None and top != parent:
                # a span without a parent under a span that is current was started as a
                # new trace on purpose; such an instrumentation names its spans' parents
                # itself: only one without a parent is taken as running inside the call
                if info.not_current and (
                    parent is None or (not not_current and self._inside(top, parent))
                ):
                    enclosing = (top, info.session)
        if len(self._open) < MAX_OPEN:
            self._open[sid] = _Open(stack, parent, None, not_current)
            stack.append(sid)
        return enclosing

    def session(self, span_id: int, session: str) -> None:
        """Note the session of the open span ``span_id``."""
        info = self._open.get(span_id)
        if info is not None:
            info.session = session

    def ended(self, span_id: int) -> None:
        info = self._open.pop(span_id, None)
        if info is not None:
            try:
                info.stack.remove(span_id)
            except ValueError:
                pass

    def _inside(self, span_id: int, ancestor: int) -> bool:
        """Whether the open span ``span_id`` descends from ``ancestor`` (open spans only)."""
        cur: int | None = span_id
        for _ in range(_MAX_DEPTH):
            info = self._open.get(cur) if cur is not None else None
            if info is None:
                return False
            cur = info.parent
            if cur == ancestor:
                return True
        return False

    def clear(self) -> None:
        self._open.clear()

    def after_fork(self) -> None:
        """In a forked child: forget the spans open on threads that did not survive."""
        mine = getattr(self._local, "stack", None)
        self._open = {k: v for k, v in self._open.items() if v.stack is mine}
