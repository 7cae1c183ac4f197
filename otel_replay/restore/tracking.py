"""Registry of runs whose drift is tracked against a recorded baseline.

:func:`otel_replay.restore.api.restore` registers a :class:`TrackedRun` when called with
``track_drift=True``; :class:`otel_replay.drift.processor.DriftProcessor` consults the registry
when spans of that session end. Sessions can also be registered explicitly. Each live
``DriftProcessor`` attaches itself to its registry (:meth:`TrackingRegistry.attach`), so a
restore can tell whether anything will compare the run it tracks.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from otel_replay.model.steps import Step

__all__ = ["TrackedRun", "TrackingRegistry", "REGISTRY"]


@dataclass
class TrackedRun:
    """A candidate session compared with ``baseline`` (recorded steps after a checkpoint)."""

    session_id: str
    baseline: Sequence[Step]
    checkpoint_id: str | None = None
    source_session_id: str | None = None
    source_trace_id: str | None = None
    agent_name: str | None = None
    policy: Any = None  # otel_replay.drift.policy.DriftPolicy | None
    mode: str = "align"
    extra: dict[str, Any] = field(default_factory=dict)
    #: The drift report, set by the DriftProcessor when the run ends.
    report: Any = None  # otel_replay.drift.report.DriftReport | None
    finished: threading.Event = field(default_factory=threading.Event)
    #: Why the run ended without a report (``None`` while it has one or has not ended).
    error: str | None = None

    @property
    def drift_detected(self) -> bool | None:
        """Whether the finished run drifted; ``None`` while it has not been compared."""
        return None if self.report is None else bool(self.report.has_drift)


class Comparer(Protocol):
    """What the registry needs of a ``DriftProcessor``."""

    def holds(self, session_id: str) -> bool: ...

    def finish(self, session_id: str) -> Any: ...


class TrackingRegistry:
    """Thread-safe, bounded map session id -> :class:`TrackedRun`."""

    def __init__(self, max_runs: int = 10_000) -> None:
        self._runs: OrderedDict[str, TrackedRun] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_runs
        self._comparers: weakref.WeakSet[Any] = weakref.WeakSet()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def register(self, run: TrackedRun) -> TrackedRun:
        with self._lock:
            self._runs[run.session_id] = run
            self._runs.move_to_end(run.session_id)
            while len(self._runs) > self._max:
                self._runs.popitem(last=False)
        return run

    def unregister(self, session_id: str) -> TrackedRun | None:
        with self._lock:
            return self._runs.pop(session_id, None)

    def get(self, session_id: str) -> TrackedRun | None:
        return self._runs.get(session_id)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def attach(self, comparer: Comparer) -> None:
        """Record a live comparer (a ``DriftProcessor``) of this registry's runs."""
        self._comparers.add(comparer)

    def detach(self, comparer: Comparer) -> None:
        self._comparers.discard(comparer)

    @property
    def compared(self) -> bool:
        """Whether a live ``DriftProcessor`` compares this registry's runs."""
        return len(self._comparers) > 0

    def end_run(self, session_id: str) -> TrackedRun | None:
        """The run of ``session_id`` is over: the comparer holding its spans finishes it now
        (its root span may not have been a trace root). A run that no comparer saw is
        unregistered with :attr:`TrackedRun.error` saying so."""
        run = self.get(session_id)
        if run is None or run.finished.is_set():
            return run
        for comparer in list(self._comparers):
            if comparer.holds(session_id):
                comparer.finish(session_id)
        if not run.finished.is_set():
            self.unregister(session_id)
            run.error = (
                f"the tracked run (session {session_id}) ended but no DriftProcessor saw its "
                "spans: add provider.add_span_processor(DriftProcessor(...)) to the "
                "TracerProvider whose tracer runs the restored agent (restore(..., tracer=...) "
                "or the global one)"
            )
            run.finished.set()
        return run

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()


REGISTRY = TrackingRegistry()
