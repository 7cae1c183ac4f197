"""``ReplayProcessor``: per-session step numbering and a bounded post-checkpoint buffer."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay import conventions as c
from otel_replay.checkpoints import (
    Checkpoint,
    CheckpointNotFoundError,
    CheckpointStore,
    set_checkpoint_store,
)
from otel_replay.selfmetrics import ErrorReporter, get_meter, observable
from otel_replay.steps import Step, normalize_span

__all__ = ["ReplayProcessor", "IncompleteHistoryError"]


class IncompleteHistoryError(LookupError):
    """Steps after a checkpoint were evicted from the bounded buffer."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        v = int(raw)
    except ValueError:
        return default
    return v if v > 0 else default


class _Buffer:
    __slots__ = ("steps", "bytes", "checkpoints", "evicted_through", "evicted")

    def __init__(self) -> None:
        self.steps: deque[tuple[int, Step]] = deque()  # (size, step)
        self.bytes = 0
        self.checkpoints: OrderedDict[str, Checkpoint] = OrderedDict()
        self.evicted_through = 0  # highest step sequence evicted
        self.evicted = 0


class ReplayProcessor(SpanProcessor):
    """Numbers every span's step within its session and buffers post-checkpoint steps.

    * ``on_start`` stamps ``agent_replay.session.id`` and ``agent_replay.step.sequence``
      (a per-session counter: ordering never depends on timestamps).
    * From a session's first checkpoint on, ended spans are kept as compact
      :class:`~otel_replay.steps.Step` objects, bounded by ``max_steps`` and ``max_bytes``
      per session and ``max_sessions`` overall (oldest first out, counted in
      ``agent_replay.buffer.evictions``).
    * Never raises into the application: failures are logged once and counted in
      ``agent_replay.processor.errors``.
    """

    def __init__(
        self,
        *,
        max_steps: int | None = None,
        max_bytes: int | None = None,
        max_sessions: int | None = None,
        checkpoint_store: CheckpointStore | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.max_steps = max_steps or _env_int(c.ENV_BUFFER_MAX_STEPS, c.DEFAULT_BUFFER_MAX_STEPS)
        self.max_bytes = max_bytes or _env_int(c.ENV_BUFFER_MAX_BYTES, c.DEFAULT_BUFFER_MAX_BYTES)
        self.max_sessions = max_sessions or _env_int(
            c.ENV_BUFFER_MAX_SESSIONS, c.DEFAULT_BUFFER_MAX_SESSIONS
        )
        self.checkpoint_store = checkpoint_store
        if checkpoint_store is not None:
            set_checkpoint_store(checkpoint_store)
        self._lock = threading.Lock()
        self._counters: OrderedDict[str, int] = OrderedDict()
        self._max_counters = max(100_000, self.max_sessions * 10)
        self._trace_sessions: dict[int, str] = {}
        self._max_traces = 100_000
        self._buffers: OrderedDict[str, _Buffer] = OrderedDict()
        self._checkpoint_index: dict[str, str] = {}
        self._shutdown = False
        meter = get_meter(meter_provider)
        self.errors = ErrorReporter("replay_processor", meter)
        self.evictions: dict[str, int] = {"max_steps": 0, "max_bytes": 0, "max_sessions": 0}
        meter.create_observable_counter(
            c.METRIC_BUFFER_EVICTIONS,
            callbacks=[self._observe_evictions],
            unit="{step}",
            description="Buffered steps evicted to stay within the buffer bounds",
        )
        observable(
            meter,
            c.METRIC_BUFFER_STEPS,
            "{step}",
            "Steps held in the replay buffer",
            lambda: [(self.buffered_steps, {})],
        )
        observable(
            meter,
            c.METRIC_BUFFER_BYTES,
            "By",
            "Approximate bytes held in the replay buffer",
            lambda: [(self.buffered_bytes, {})],
        )
        observable(
            meter,
            c.METRIC_BUFFER_SESSIONS,
            "{session}",
            "Sessions with buffered steps",
            lambda: [(len(self._buffers), {})],
        )
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    # ---------------------------------------------------------------- SpanProcessor contract

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._shutdown:
            return
        try:
            attrs = span.attributes or {}
            trace_id = span.context.trace_id
            sid = attrs.get(c.SESSION_ID)
            if not isinstance(sid, str) or not sid:
                sid = attrs.get(c.GEN_AI_CONVERSATION_ID) or attrs.get("session.id")
            with self._lock:
                if isinstance(sid, str) and sid:
                    ts = self._trace_sessions
                    if ts.get(trace_id) != sid:
                        ts[trace_id] = sid
                        if len(ts) > self._max_traces:
                            del ts[next(iter(ts))]
                else:
                    sid = self._trace_sessions.get(trace_id) or format(trace_id, "032x")
                counters = self._counters
                seq = counters.get(sid, 0) + 1
                counters[sid] = seq
                if seq == 1:
                    if len(counters) > self._max_counters:
                        counters.popitem(last=False)
                elif seq % 64 == 0:
                    counters.move_to_end(sid)
            if attrs.get(c.SESSION_ID) != sid:
                span.set_attribute(c.SESSION_ID, sid)
            span.set_attribute(c.STEP_SEQUENCE, seq)
        except Exception as exc:
            self.errors.report("on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown:
            return
        try:
            attrs = span.attributes or {}
            sid = attrs.get(c.SESSION_ID)
            if not isinstance(sid, str):
                return
            is_checkpoint = c.CHECKPOINT_ID in attrs
            if not is_checkpoint and sid not in self._buffers:
                return  # no checkpoint in this session yet: nothing to keep
            step = normalize_span(span, sid)
            ckpt = Checkpoint.from_step(step) if is_checkpoint else None
            size = step.approx_size()
            with self._lock:
                buf = self._buffers.get(sid)
                if buf is None:
                    buf = self._new_buffer(sid)
                else:
                    self._buffers.move_to_end(sid)
                if ckpt is not None:
                    buf.checkpoints[ckpt.id] = ckpt
                    self._checkpoint_index[ckpt.id] = sid
                buf.steps.append((size, step))
                buf.bytes += size
                if len(buf.steps) > self.max_steps or buf.bytes > self.max_bytes:
                    self._trim(buf)
        except Exception as exc:
            self.errors.report("on_end", exc)

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # ---------------------------------------------------------------- bounds

    def _new_buffer(self, sid: str) -> _Buffer:
        buf = _Buffer()
        self._buffers[sid] = buf
        while len(self._buffers) > self.max_sessions:
            old_sid, old = self._buffers.popitem(last=False)
            for cid in old.checkpoints:
                self._checkpoint_index.pop(cid, None)
            if old.steps:
                self.evictions["max_sessions"] += len(old.steps)
        return buf

    def _trim(self, buf: _Buffer) -> None:
        n_steps = n_bytes = 0
        while buf.steps and (len(buf.steps) > self.max_steps or buf.bytes > self.max_bytes):
            over_steps = len(buf.steps) > self.max_steps
            size, step = buf.steps.popleft()
            buf.bytes -= size
            buf.evicted += 1
            if step.sequence is not None and step.sequence > buf.evicted_through:
                buf.evicted_through = step.sequence
            if over_steps:
                n_steps += 1
            else:
                n_bytes += 1
        self.evictions["max_steps"] += n_steps
        self.evictions["max_bytes"] += n_bytes

    def _observe_evictions(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {c.ATTR_REASON: k}) for k, v in self.evictions.items()]

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self.errors._lock = threading.Lock()

    # ---------------------------------------------------------------- queries

    @property
    def buffered_steps(self) -> int:
        return sum(len(b.steps) for b in list(self._buffers.values()))

    @property
    def buffered_bytes(self) -> int:
        return sum(b.bytes for b in list(self._buffers.values()))

    def sessions(self) -> list[str]:
        """Sessions with at least one checkpoint still buffered, oldest activity first."""
        with self._lock:
            return list(self._buffers)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """Checkpoints of ``session_id`` (or of every session) in checkpoint order."""
        with self._lock:
            bufs = (
                [self._buffers[session_id]]
                if session_id is not None and session_id in self._buffers
                else ([] if session_id is not None else list(self._buffers.values()))
            )
            out = [ck for b in bufs for ck in b.checkpoints.values()]
        return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        with self._lock:
            sid = self._checkpoint_index.get(checkpoint_id)
            buf = self._buffers.get(sid) if sid is not None else None
            ckpt = buf.checkpoints.get(checkpoint_id) if buf is not None else None
        if ckpt is None:
            raise CheckpointNotFoundError(
                f"checkpoint {checkpoint_id} is not in the replay buffer "
                f"({len(self._checkpoint_index)} checkpoints buffered)"
            )
        return ckpt

    def steps(self, session_id: str) -> list[Step]:
        """All buffered steps of a session in step-sequence order."""
        with self._lock:
            buf = self._buffers.get(session_id)
            items = [s for _, s in buf.steps] if buf is not None else []
        return sorted(items, key=_seq_key)

    def steps_after(
        self,
        checkpoint_id: str,
        *,
        min_importance: float | None = None,
        allow_partial: bool = False,
    ) -> list[Step]:
        """Steps started after the checkpoint, in sequence order, optionally filtered.

        Raises :class:`IncompleteHistoryError` if some of them were evicted (unless
        ``allow_partial``).
        """
        ckpt = self.get_checkpoint(checkpoint_id)
        with self._lock:
            buf = self._buffers[ckpt.session_id]
            items = [s for _, s in buf.steps]
            evicted_through = buf.evicted_through
        after = ckpt.step_sequence or 0
        if evicted_through > after and not allow_partial:
            raise IncompleteHistoryError(
                f"steps after checkpoint {checkpoint_id} (sequence > {after}) were evicted from "
                f"the replay buffer up to sequence {evicted_through}; raise max_steps/max_bytes "
                f"or restore from a recording"
            )
        return select_after(items, after, min_importance)


def _seq_key(step: Step) -> tuple[int, int]:
    return (step.sequence if step.sequence is not None else 1 << 62, step.start_time_unix_nano)


def select_after(
    steps: Iterable[Step], after_sequence: int, min_importance: float | None = None
) -> list[Step]:
    """Steps with sequence > ``after_sequence`` and importance >= ``min_importance``, sorted."""
    out = [
        s
        for s in steps
        if s.sequence is not None
        and s.sequence > after_sequence
        and (min_importance is None or s.importance >= min_importance)
    ]
    out.sort(key=_seq_key)
    return out

