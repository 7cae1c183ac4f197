"""Restore a checkpoint: state into a target, the recorded baseline, replay and lineage.

:func:`restore` loads a checkpoint's state (JSON only, digest-verified, size-capped), runs
the framework's restore hook on a copy of ``target``, fetches the steps recorded after the
checkpoint (the *baseline*), optionally replays them as events, and forks a new session for
the restored run: :meth:`RestoreResult.run` starts it with provenance attributes so the
first checkpoint taken in it has the restored-from checkpoint as its parent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span

from otel_replay.capture.checkpoint import SESSION_CLOCK
from otel_replay.capture.spans import RESTORED_SESSIONS, AgentRun, agent_run, resumed_run
from otel_replay.core import conventions as c
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointNotFoundError
from otel_replay.model.steps import Step
from otel_replay.model.stores import CheckpointStore
from otel_replay.replay.events import (
    CancelToken,
    ReplayOutcome,
    areplay_events,
    replay_events,
    select_replay_steps,
)
from otel_replay.replay.reexecution import ReexecMode, Reexecution
from otel_replay.restore.errors import DriftTrackingError, RestoreError
from otel_replay.restore.hooks import HookError, arun_restore_hook, run_restore_hook
from otel_replay.restore.resolve import source_for
from otel_replay.restore.sources import StepSource, describe_source
from otel_replay.restore.tracking import REGISTRY, TrackedRun

__all__ = ["restore", "arestore", "RestoreResult", "RestoreError", "DriftTrackingError"]


@dataclass
class RestoreResult:
    """The outcome of :func:`restore`.

    ``target`` is the restored object (the caller's own, unchanged target when a hook
    failed: see ``hook_errors``). ``baseline`` holds the steps recorded after the
    checkpoint in step-sequence order. ``session_id``/``run_id`` identify the restored run
    (a fork: new ones on every restore).
    """

    target: Any
    checkpoint: Checkpoint
    state: dict[str, Any]
    baseline: list[Step]
    session_id: str
    run_id: str
    source: StepSource | None = None
    replayed: int = 0
    cancelled: bool = False
    hook_errors: list[HookError] = field(default_factory=list)
    tracking: TrackedRun | None = None
    tracer: trace.Tracer | None = None
    mode: str = "live"
    _run_span: Span | None = field(default=None, repr=False)

    @property
    def report(self) -> Any:
        """The :class:`~otel_replay.drift.report.DriftReport` once the tracked run ended
        (:meth:`run` exited); ``None`` before that, or without ``track_drift=True``. Raises
        :class:`DriftTrackingError` if the run ended without a report (no DriftProcessor saw
        its spans, or the comparison failed): never ``None`` after the run."""
        tracking = self.tracking
        if tracking is None:
            return None
        if tracking.report is None and tracking.error is not None:
            raise DriftTrackingError(tracking.error)
        return tracking.report

    @property
    def drift_detected(self) -> bool | None:
        """Whether the tracked run drifted; ``None`` until it has been compared (raises like
        :attr:`report`)."""
        report = self.report
        return None if report is None else bool(report.has_drift)

    @property
    def ok(self) -> bool:
        """True when every restore hook succeeded."""
        return not self.hook_errors

    def raise_for_hook_errors(self) -> None:
        """Raise :class:`RestoreError` (chained to the first hook exception) if a hook failed."""
        if self.hook_errors:
            raise RestoreError(list(self.hook_errors)) from self.hook_errors[0].exception

    def provenance(self, mode: str | None = None) -> dict[str, Any]:
        """The ``agent_replay.replay.*`` attributes of the restored run."""
        attrs: dict[str, Any] = {
            c.REPLAY_CHECKPOINT_ID: self.checkpoint.id,
            c.REPLAY_SOURCE_SESSION_ID: self.checkpoint.session_id,
            c.REPLAY_MODE: mode or self.mode,
            c.REPLAY_RUN_ID: self.run_id,
        }
        if self.checkpoint.trace_id:
            attrs[c.REPLAY_SOURCE_TRACE_ID] = self.checkpoint.trace_id
        return attrs

    @contextmanager
    def run(self, name: str, *, mode: str | None = None, **kwargs: Any) -> Iterator[AgentRun]:
        """:func:`~otel_replay.capture.spans.agent_run` for the restored run (its session and
        provenance attributes). ``mode`` defaults to the mode of the last
        :meth:`reexecute` (``live`` without one)."""
        if "session_id" in kwargs:
            raise TypeError("the restored run's session is result.session_id")
        attributes = dict(kwargs.pop("attributes", None) or {})
        attributes.update(self.provenance(mode))
        kwargs.setdefault("tracer", self.tracer)
        _, parent = SESSION_CLOCK.peek(self.session_id)
        if parent is None:  # evicted from the clock: lineage must still be right
            SESSION_CLOCK.seed(self.session_id, self.checkpoint.id)
        if self.tracking is not None and self.tracking.agent_name is None:
            self.tracking.agent_name = name
        with agent_run(name, session_id=self.session_id, attributes=attributes, **kwargs) as run:
            previous, self._run_span = self._run_span, run.span
            try:
                with resumed_run(run.span):
                    yield run
            finally:
                self._run_span = previous
        if previous is None and self.tracking is not None:
            # the run is over: compared now even if its root span had a local parent
            REGISTRY.end_run(self.session_id)

    def reexecute(
        self, mode: ReexecMode = "hybrid", *, meter_provider: MeterProvider | None = None
    ) -> Reexecution:
        """A :class:`~otel_replay.replay.reexecution.Reexecution` of this restore's baseline."""
        if self.source is None:
            raise ValueError("re-execution needs the recorded steps: restore(..., source=...)")
        self.mode = mode

        def on_mode(m: str) -> None:
            self.mode = m
            if self._run_span is not None and self._run_span.is_recording():
                self._run_span.set_attribute(c.REPLAY_MODE, m)

        return Reexecution(
            self.baseline, mode, tracer=self.tracer, meter_provider=meter_provider, on_mode=on_mode
        )

    def untrack(self) -> None:
        """Stop tracking drift for this run (remove it from the registry)."""
        if self.tracking is not None:
            REGISTRY.unregister(self.session_id)


@dataclass
class _Prepared:
    checkpoint: Checkpoint
    state: dict[str, Any]
    baseline: list[Step]
    source: StepSource | None


def _prepare(
    checkpoint: Checkpoint | str,
    source: Any,
    store: CheckpointStore | None,
    replay: bool,
    track_drift: bool,
    importance_threshold: float | None,
    on_replay_event: Any,
    cancel: CancelToken | None,
) -> _Prepared:
    if not replay and (
        on_replay_event is not None or importance_threshold is not None or cancel is not None
    ):
        raise ValueError("on_replay_event, importance_threshold and cancel need replay=True")
    if importance_threshold is not None:
        select_replay_steps([], importance_threshold)  # validates the range
    src = source_for(source) if source is not None else None
    if isinstance(checkpoint, str):
        if src is None:
            raise ValueError(f"restoring checkpoint {checkpoint!r} by id needs source=...")
        try:
            ckpt = src.find_checkpoint(checkpoint)
        except CheckpointNotFoundError as exc:
            raise CheckpointNotFoundError(
                f"checkpoint {checkpoint!r} not found in {describe_source(src)}: {exc}"
            ) from exc
    elif isinstance(checkpoint, Checkpoint):
        ckpt = checkpoint
    else:
        raise TypeError(
            f"checkpoint must be a Checkpoint or an id string, got {type(checkpoint).__qualname__}"
        )
    if src is None and (replay or track_drift):
        raise ValueError("replay and track_drift need the recorded steps: pass source=...")
    if track_drift and not REGISTRY.compared:
        raise DriftTrackingError(
            "track_drift=True needs a DriftProcessor to compare the restored run with its "
            "baseline, and none is active: add one to the TracerProvider, wrapping your export "
            "processor(s): provider.add_span_processor(DriftProcessor(BatchSpanProcessor(exporter)))"
            " (from otel_replay import DriftProcessor)"
        )
    state = ckpt.load_state(store if store is not None else (src.checkpoint_store if src else None))
    baseline = src.steps_after(ckpt) if src is not None else []
    return _Prepared(ckpt, state, baseline, src)


def _result(
    prep: _Prepared, restored: Any, error: HookError | None, tracer: trace.Tracer | None
) -> RestoreResult:
    result = RestoreResult(
        target=restored,
        checkpoint=prep.checkpoint,
        state=prep.state,
        baseline=prep.baseline,
        session_id=uuid.uuid4().hex,
        run_id=uuid.uuid4().hex,
        source=prep.source,
        hook_errors=[error] if error is not None else [],
        tracer=tracer,
    )
    SESSION_CLOCK.seed(result.session_id, prep.checkpoint.id)
    ckpt = prep.checkpoint
    marks = {c.REPLAY_CHECKPOINT_ID: ckpt.id, c.REPLAY_SOURCE_SESSION_ID: ckpt.session_id}
    if ckpt.trace_id:
        marks[c.REPLAY_SOURCE_TRACE_ID] = ckpt.trace_id
    RESTORED_SESSIONS.mark(result.session_id, marks)
    return result


def _finish(result: RestoreResult, outcome: ReplayOutcome | None, track_drift: bool) -> None:
    if outcome is not None:
        result.replayed = outcome.replayed
        result.cancelled = outcome.cancelled
    if track_drift:
        ckpt = result.checkpoint
        result.tracking = REGISTRY.register(
            TrackedRun(
                session_id=result.session_id,
                baseline=list(result.baseline),
                checkpoint_id=ckpt.id,
                source_session_id=ckpt.session_id,
                source_trace_id=ckpt.trace_id,
            )
        )


def restore(
    checkpoint: Checkpoint | str,
    *,
    target: Any = None,
    source: Any = None,
    replay: bool = False,
    track_drift: bool = False,
    importance_threshold: float | None = None,
    on_replay_event: Callable[[Step], Any] | None = None,
    cancel: CancelToken | None = None,
    store: CheckpointStore | None = None,
    tracer: trace.Tracer | None = None,
    meter_provider: MeterProvider | None = None,
) -> RestoreResult:
    """Restore ``checkpoint`` (a :class:`Checkpoint` or an id that ``source`` resolves).

    ``source``: a :class:`~otel_replay.capture.processor.ReplayProcessor`, a recording path or a
    :class:`~otel_replay.restore.sources.StepSource`; it supplies the checkpoint, the baseline and
    the checkpoint store (``store`` overrides it). A hook failure does not raise: it is in
    ``hook_errors`` and ``target`` is returned unchanged. With ``replay=True`` the baseline
    is replayed as events (see :func:`~otel_replay.replay.events.replay_events`). With
    ``track_drift=True`` the restored session is registered in
    :data:`otel_replay.restore.tracking.REGISTRY` (after the replay, so replayed spans are not
    compared) and a :class:`~otel_replay.drift.processor.DriftProcessor` compares it when
    :meth:`RestoreResult.run` exits (:attr:`RestoreResult.report`); without an active
    ``DriftProcessor`` this raises :class:`DriftTrackingError` before anything is restored. Hook failures are counted in ``agent_replay.processor.errors`` of
    ``meter_provider`` (default: the global one). Raises
    :class:`~otel_replay.model.checkpoints.CheckpointNotFoundError` for an
    unknown id and checkpoint state errors for a corrupt or oversize state.
    """
    prep = _prepare(
        checkpoint,
        source,
        store,
        replay,
        track_drift,
        importance_threshold,
        on_replay_event,
        cancel,
    )
    restored, error = run_restore_hook(
        prep.checkpoint.framework,
        prep.state,
        target,
        meter_provider=meter_provider,
    )
    result = _result(prep, restored, error, tracer)
    outcome = None
    if replay:
        outcome = replay_events(
            prep.baseline,
            checkpoint=prep.checkpoint,
            session_id=result.session_id,
            provenance=result.provenance("events"),
            on_event=on_replay_event,
            importance_threshold=importance_threshold,
            cancel=cancel,
            tracer=tracer,
        )
    _finish(result, outcome, track_drift)
    return result


async def arestore(
    checkpoint: Checkpoint | str,
    *,
    target: Any = None,
    source: Any = None,
    replay: bool = False,
    track_drift: bool = False,
    importance_threshold: float | None = None,
    on_replay_event: Callable[[Step], Any] | None = None,
    cancel: CancelToken | None = None,
    store: CheckpointStore | None = None,
    tracer: trace.Tracer | None = None,
    meter_provider: MeterProvider | None = None,
) -> RestoreResult:
    """Async :func:`restore`: the source is read in a worker thread, async hooks and
    async ``on_replay_event`` callbacks are awaited."""
    prep = await asyncio.to_thread(
        _prepare,
        checkpoint,
        source,
        store,
        replay,
        track_drift,
        importance_threshold,
        on_replay_event,
        cancel,
    )
    restored, error = await arun_restore_hook(
        prep.checkpoint.framework,
        prep.state,
        target,
        meter_provider=meter_provider,
    )
    result = _result(prep, restored, error, tracer)
    outcome = None
    if replay:
        outcome = await areplay_events(
            prep.baseline,
            checkpoint=prep.checkpoint,
            session_id=result.session_id,
            provenance=result.provenance("events"),
            on_event=on_replay_event,
            importance_threshold=importance_threshold,
            cancel=cancel,
            tracer=tracer,
        )
    _finish(result, outcome, track_drift)
    return result
