"""Event replay: :func:`replay_events` delivers recorded post-checkpoint steps, in step
sequence order, to a callback and re-emits each as a span under one ``replay ...`` span."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from otel_replay.core import conventions as c
from otel_replay.core.aio import run_awaitable as _run_awaitable
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.steps import Step

__all__ = [
    "CancelToken",
    "ReplayOutcome",
    "replay_events",
    "areplay_events",
    "select_replay_steps",
]

_TRACER_NAME = "otel_replay"
# Attributes never copied onto replayed step spans: our own numbering/session, and checkpoint
# identity (a replayed checkpoint span must not register as a second copy of the checkpoint).
_DROPPED_ON_REPLAY = frozenset(
    {
        c.STEP_SEQUENCE,
        c.SESSION_ID,
        c.CHECKPOINT_ID,
        c.CHECKPOINT_SEQUENCE,
        c.CHECKPOINT_PARENT_ID,
        c.CHECKPOINT_STATE,
        c.CHECKPOINT_STATE_DIGEST,
        c.CHECKPOINT_STATE_SIZE,
        c.CHECKPOINT_STATE_LOCATION,
        c.CHECKPOINT_CREATED_TIME,
    }
)


class CancelToken:
    """Thread-safe cancellation flag for a replay."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Stop the replay before its next step."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class ReplayOutcome:
    """How an event replay ended: steps delivered and whether it was cancelled."""

    replayed: int
    cancelled: bool
    delivered: tuple[Step, ...] = ()


def select_replay_steps(
    steps: Sequence[Step], importance_threshold: float | None = None
) -> list[Step]:
    """Steps with importance >= ``importance_threshold`` (all when ``None``), by sequence.

    Every step must carry a step sequence number (``ValueError`` otherwise).
    """
    if importance_threshold is not None and not 0.0 <= importance_threshold <= 1.0:
        raise ValueError(f"importance_threshold must be within [0, 1], got {importance_threshold}")
    unordered = [s.span_id for s in steps if s.sequence is None]
    if unordered:
        raise ValueError(f"{len(unordered)} steps have no step sequence number: {unordered[:5]}")
    out = [s for s in steps if importance_threshold is None or s.importance >= importance_threshold]
    out.sort(key=lambda s: s.sequence if s.sequence is not None else 0)
    return out


def _replay_span_name(checkpoint: Checkpoint) -> str:
    return f"replay {checkpoint.label or checkpoint.id}"


def _replayed_attributes(step: Step, session_id: str) -> dict[str, Any]:
    attrs = {k: v for k, v in step.attributes.items() if k not in _DROPPED_ON_REPLAY}
    attrs[c.SESSION_ID] = session_id
    attrs[c.REPLAY_REPLAYED] = True
    if step.sequence is not None:
        attrs[c.REPLAY_ORIGINAL_SEQUENCE] = step.sequence
    attrs[c.REPLAY_ORIGINAL_SPAN_ID] = step.span_id
    return attrs


@contextmanager
def _step_span(tracer: trace.Tracer, step: Step, session_id: str) -> Iterator[Span]:
    with tracer.start_as_current_span(
        step.span_name, attributes=_replayed_attributes(step, session_id)
    ) as span:
        if step.status == "error":
            span.set_status(Status(StatusCode.ERROR, step.status_message))
        elif step.status == "ok":
            span.set_status(Status(StatusCode.OK))
        yield span


@contextmanager
def _replay_span(
    tracer: trace.Tracer, checkpoint: Checkpoint, session_id: str, provenance: Mapping[str, Any]
) -> Iterator[Span]:
    attrs: dict[str, Any] = {c.STEP_KIND: c.KIND_REPLAY, c.SESSION_ID: session_id}
    attrs.update(provenance)
    attrs[c.REPLAY_MODE] = "events"
    with tracer.start_as_current_span(_replay_span_name(checkpoint), attributes=attrs) as span:
        yield span


def replay_events(
    steps: Sequence[Step],
    *,
    checkpoint: Checkpoint,
    session_id: str,
    provenance: Mapping[str, Any] | None = None,
    on_event: Callable[[Step], Any] | None = None,
    importance_threshold: float | None = None,
    cancel: CancelToken | None = None,
    tracer: trace.Tracer | None = None,
) -> ReplayOutcome:
    """Deliver ``steps`` (filtered by importance, in sequence order) to ``on_event``.

    Each delivered step is re-emitted as a child span of a ``replay {label or id}`` span
    (in session ``session_id``) and ``on_event`` runs inside it. The replay stops after a
    step whose callback returned exactly ``False``, or before the next step once ``cancel``
    is cancelled. Exceptions from ``on_event`` propagate.
    """
    selected = select_replay_steps(steps, importance_threshold)
    tr = tracer or trace.get_tracer(_TRACER_NAME)
    delivered: list[Step] = []
    cancelled = False
    with _replay_span(tr, checkpoint, session_id, provenance or {}):
        for step in selected:
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            with _step_span(tr, step, session_id):
                answer = on_event(step) if on_event is not None else None
                if inspect.isawaitable(answer):
                    answer = _run_awaitable(answer, what="on_replay_event")
            delivered.append(step)
            if answer is False:
                cancelled = True
                break
    return ReplayOutcome(len(delivered), cancelled, tuple(delivered))


async def areplay_events(
    steps: Sequence[Step],
    *,
    checkpoint: Checkpoint,
    session_id: str,
    provenance: Mapping[str, Any] | None = None,
    on_event: Callable[[Step], Any] | None = None,
    importance_threshold: float | None = None,
    cancel: CancelToken | None = None,
    tracer: trace.Tracer | None = None,
) -> ReplayOutcome:
    """Async :func:`replay_events`: an async ``on_event`` is awaited."""
    selected = select_replay_steps(steps, importance_threshold)
    tr = tracer or trace.get_tracer(_TRACER_NAME)
    delivered: list[Step] = []
    cancelled = False
    with _replay_span(tr, checkpoint, session_id, provenance or {}):
        for step in selected:
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            with _step_span(tr, step, session_id):
                answer = on_event(step) if on_event is not None else None
                if inspect.isawaitable(answer):
                    answer = await answer
            delivered.append(step)
            if answer is False:
                cancelled = True
                break
    return ReplayOutcome(len(delivered), cancelled, tuple(delivered))
