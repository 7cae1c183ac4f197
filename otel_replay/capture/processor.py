"""``ReplayProcessor``: per-session step numbering and a bounded post-checkpoint buffer."""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay.capture.nesting import OpenSpans
from otel_replay.capture.spans import _RESUME, RESTORED_SESSIONS
from otel_replay.core import conventions as c
from otel_replay.core.env import env_int, sdk_disabled, warn_sdk_disabled
from otel_replay.core.sdkspan import span_attributes, span_parts, stamp_started, started_attributes
from otel_replay.core.selfmetrics import ErrorReporter, get_meter, observable
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError, CheckpointNotFoundError, UnorderedHistoryError
from otel_replay.model.steps import Step, _value_size, step_from_parts
from otel_replay.model.stores import CheckpointStore, set_checkpoint_store

__all__ = ["ReplayProcessor", "IncompleteHistoryError"]

_SESSION_ID = c.SESSION_ID
_CONVERSATION_ID = c.GEN_AI_CONVERSATION_ID
_STEP_SEQUENCE = c.STEP_SEQUENCE
_CHECKPOINT_ID = c.CHECKPOINT_ID
_ENCLOSING = c.STEP_ENCLOSING_SPAN_ID


def _base_name(name: str) -> str:
    """``invoke_agent LangGraph`` and ``LangGraph.workflow`` -> ``LangGraph``."""
    return name.rsplit(" ", 1)[-1].split(".", 1)[0]


def _mark_resume_root(span: Any, attrs: Mapping[str, Any], resume: Any) -> None:
    """Mark the first framework span directly under a resumed run's root, and a child of it
    naming the same runnable (see :func:`~otel_replay.capture.spans.resumed_run`)."""
    parent = span.parent
    if parent is None or c.STEP_KIND in attrs:
        return
    if resume.pending:
        if parent.span_id != resume.span_id:
            return
        resume.pending = False
        resume.marked_name = _base_name(span.name)
    elif parent.span_id != resume.marked_id or _base_name(span.name) != resume.marked_name:
        return
    resume.marked_id = span.get_span_context().span_id
    span.set_attribute(c.REPLAY_RESUME_ROOT, True)


_RESTORED_MARKS = RESTORED_SESSIONS.marks


def _mark_restored(span: Any, attrs: Mapping[str, Any], marks: Mapping[str, str]) -> None:
    """A span of a restored run's session gets the run's checkpoint and source ids (those it
    does not set itself): ``otel-replay serve`` recognizes the run by any of its spans."""
    missing = {k: v for k, v in marks.items() if k not in attrs}
    if missing:
        span.set_attributes(missing)


class IncompleteHistoryError(LookupError):
    """Steps after a checkpoint were evicted from the bounded buffer."""


class _Buffer:
    __slots__ = ("steps", "bytes", "checkpoints", "evicted_through", "evicted")

    def __init__(self) -> None:
        # (size, sequence, span parts): a step is made from its parts when it is read
        self.steps: deque[tuple[int, int | None, Any]] = deque()
        self.bytes = 0
        self.checkpoints: OrderedDict[str, Checkpoint] = OrderedDict()
        self.evicted_through = 0  # highest step sequence evicted
        self.evicted = 0


class ReplayProcessor(SpanProcessor):
    """Numbers every span's step within its session and buffers post-checkpoint steps.

    * ``on_start`` stamps ``agent_replay.session.id`` and ``agent_replay.step.sequence``
      (a per-session counter: ordering never depends on timestamps).
    * From a session's first checkpoint on, ended spans are kept as compact
      :class:`~otel_replay.model.steps.Step` objects, bounded by ``max_steps`` and ``max_bytes``
      per session and ``max_sessions`` overall (oldest first out, counted in
      ``agent_replay.buffer.evictions``; a session over ``max_steps`` sheds its oldest
      ``max_steps // 64`` steps at once, so eviction work is amortized).
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
        self.max_steps = max_steps or env_int(c.ENV_BUFFER_MAX_STEPS, c.DEFAULT_BUFFER_MAX_STEPS)
        self.max_bytes = max_bytes or env_int(c.ENV_BUFFER_MAX_BYTES, c.DEFAULT_BUFFER_MAX_BYTES)
        self.max_sessions = max_sessions or env_int(
            c.ENV_BUFFER_MAX_SESSIONS, c.DEFAULT_BUFFER_MAX_SESSIONS
        )
        self.checkpoint_store = checkpoint_store
        if checkpoint_store is not None:
            set_checkpoint_store(checkpoint_store)
        self._lock = threading.Lock()
        self._counters: OrderedDict[str, Iterator[int]] = OrderedDict()
        self._max_counters = max(100_000, self.max_sessions * 10)
        self._trace_sessions: dict[int, str] = {}
        self._max_traces = 100_000
        self._buffers: OrderedDict[str, _Buffer] = OrderedDict()
        # sessions evicted for max_sessions: their later steps are counted as evicted too
        self._evicted_sessions: OrderedDict[str, None] = OrderedDict()
        self._checkpoint_index: dict[str, str] = {}
        self._nesting = OpenSpans(on_full=self._nesting_full)
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
            # a weak reference: the fork hook must not keep every processor alive
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                proc = ref()
                if proc is not None:
                    proc._after_fork()

            os.register_at_fork(after_in_child=_after_fork_in_child)
        self.disabled = sdk_disabled()
        if self.disabled:  # the SDK hands us no spans: say so once, do nothing
            warn_sdk_disabled()
            self._shutdown = True

    # ---------------------------------------------------------------- SpanProcessor contract

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._shutdown:
            return
        try:
            view = started_attributes(span)  # the SDK's Span: its own dict (the hot path)
            if view is None:
                self._on_start_public(span)
                return
            attrs, bounded, trace_id = view
            nested = self._nesting.started(span)
            own = sid = attrs.get(_SESSION_ID)
            if type(sid) is not str or not sid:
                if _CONVERSATION_ID in attrs or "session.id" in attrs:
                    sid = self._resolve(attrs, trace_id)
                elif nested is not None and nested.enclosing_session and span.parent is None:
                    sid = nested.enclosing_session  # a new trace inside a call: its session
                    self._map_trace(trace_id, sid)
                else:  # the common child span: its trace's session
                    sid = self._trace_sessions.get(trace_id) or format(trace_id, "032x")
            elif self._trace_sessions.get(trace_id) != sid:
                self._map_trace(trace_id, sid)
            # _next(sid), inlined on this hot path
            counter = self._counters.get(sid)
            if counter is None:
                counter = self._new_counter(sid)
            seq = next(counter)
            if not seq & 63:
                self._touch_counter(sid)
            # Both values are valid attribute values already (a str and an int), and the
            # span is not yet visible to other code.
            stamp_started(span, attrs, bounded, sid if own is not sid else None, seq)
            if nested is not None:
                nested.session = sid
                if nested.enclosing is not None:
                    span.set_attribute(_ENCLOSING, format(nested.enclosing, "016x"))
            restored = _RESTORED_MARKS
            if restored:
                marks = restored.get(sid)
                if marks is not None:
                    _mark_restored(span, attrs, marks)
            if _CHECKPOINT_ID in attrs:
                self._open_buffer(sid)
            resume = _RESUME.get()
            if resume is not None:
                _mark_resume_root(span, attrs, resume)
        except Exception as exc:
            self.errors.report("on_start", exc)

    def _open_buffer(self, sid: str) -> None:
        """Keep the session's steps from a checkpoint span's *start* on: a checkpoint whose
        state is written later (``PendingCheckpoint``) must not lose the steps that end
        before it does."""
        with self._lock:
            if sid not in self._buffers:
                self._new_buffer(sid)

    def _on_start_public(self, span: Span) -> None:
        """``on_start`` through the public span API (spans other than the SDK's)."""
        attrs = span.attributes or {}
        trace_id = span.context.trace_id
        nested = self._nesting.started(span)
        own = sid = attrs.get(_SESSION_ID)
        if type(sid) is not str or not sid:
            if (
                nested is not None
                and nested.enclosing_session
                and span.parent is None
                and _CONVERSATION_ID not in attrs
                and "session.id" not in attrs
            ):
                sid = nested.enclosing_session  # a new trace inside a call: its session
                self._map_trace(trace_id, sid)
            else:
                sid = self._resolve(attrs, trace_id)
        elif self._trace_sessions.get(trace_id) != sid:
            self._map_trace(trace_id, sid)
        seq = self._next(sid)
        if own != sid:
            span.set_attributes({_SESSION_ID: sid, _STEP_SEQUENCE: seq})
        else:
            span.set_attribute(_STEP_SEQUENCE, seq)
        if nested is not None:
            nested.session = sid
            if nested.enclosing is not None:
                span.set_attribute(_ENCLOSING, format(nested.enclosing, "016x"))
        marks = _RESTORED_MARKS.get(sid)
        if marks is not None:
            _mark_restored(span, attrs, marks)
        if _CHECKPOINT_ID in attrs:
            self._open_buffer(sid)
        resume = _RESUME.get()
        if resume is not None:
            _mark_resume_root(span, attrs, resume)

    def _resolve(self, attrs: Mapping[str, Any], trace_id: int) -> str:
        """Session of a span without ``agent_replay.session.id``: a conversation or
        OpenInference session id, else its trace's session, else the trace id."""
        sid = attrs.get(_CONVERSATION_ID) or attrs.get("session.id")
        if not isinstance(sid, str) or not sid:
            return self._trace_sessions.get(trace_id) or format(trace_id, "032x")
        if self._trace_sessions.get(trace_id) != sid:
            self._map_trace(trace_id, sid)
        return sid

    def _next(self, sid: str) -> int:
        # Lock-free: dict lookups and next() on an itertools.count are atomic under the GIL.
        counter = self._counters.get(sid)
        if counter is None:
            counter = self._new_counter(sid)
        seq: int = next(counter)
        if not seq & 63:
            self._touch_counter(sid)
        return seq

    def _map_trace(self, trace_id: int, sid: str) -> None:
        with self._lock:
            ts = self._trace_sessions
            ts[trace_id] = sid
            while len(ts) > self._max_traces:
                del ts[next(iter(ts))]

    def _new_counter(self, sid: str) -> Iterator[int]:
        with self._lock:
            counters = self._counters
            counter = counters.get(sid)
            if counter is None:
                counter = counters[sid] = itertools.count(1)
                while len(counters) > self._max_counters:
                    counters.popitem(last=False)
            return counter

    def _touch_counter(self, sid: str) -> None:
        with self._lock:
            if sid in self._counters:
                self._counters.move_to_end(sid)

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown:
            return
        try:
            if self._nesting.open:  # spans of instrumentations that leave them not current
                self._nesting.ended(span.context.span_id)
            attrs = span_attributes(span)
            is_checkpoint = _CHECKPOINT_ID in attrs
            if not is_checkpoint and not self._buffers:
                return  # no session has a checkpoint: nothing to keep
            sid = attrs.get(_SESSION_ID)
            if not isinstance(sid, str):
                return
            if not is_checkpoint and sid not in self._buffers:
                if sid in self._evicted_sessions:  # a step the buffer would have kept
                    with self._lock:
                        self.evictions["max_sessions"] += 1
                return  # no checkpoint in this session yet: nothing to keep
            # Only the parts of the (ended, immutable) span are kept; steps are made from
            # them when read, and most buffered steps are evicted without ever being read.
            parts = span_parts(span)
            ckpt = None
            if is_checkpoint:
                try:
                    ckpt = Checkpoint.from_step(step_from_parts(parts, sid))
                except CheckpointError as exc:
                    # a malformed checkpoint span: reported, and kept as a plain step
                    self.errors.report("checkpoint", exc)
                    if sid not in self._buffers:
                        return
            seq = attrs.get(_STEP_SEQUENCE)
            size = _approx_size(parts[4], attrs, sid)
            entry = (size, seq if type(seq) is int else None, parts)
            with self._lock:
                buf = self._buffers.get(sid)
                if buf is None:
                    buf = self._new_buffer(sid)
                else:
                    self._buffers.move_to_end(sid)
                if ckpt is not None:
                    buf.checkpoints[ckpt.id] = ckpt
                    self._checkpoint_index[ckpt.id] = sid
                buf.steps.append(entry)
                buf.bytes += size
                if len(buf.steps) > self.max_steps or buf.bytes > self.max_bytes:
                    self._trim(buf)
        except Exception as exc:
            self.errors.report("on_end", exc)

    def shutdown(self) -> None:
        self._shutdown = True
        self._nesting.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # ---------------------------------------------------------------- bounds

    def _new_buffer(self, sid: str) -> _Buffer:
        buf = _Buffer()
        self._buffers[sid] = buf
        evicted = self._evicted_sessions
        evicted.pop(sid, None)
        while len(self._buffers) > self.max_sessions:
            old_sid, old = self._buffers.popitem(last=False)
            for cid in old.checkpoints:
                self._checkpoint_index.pop(cid, None)
            if old.steps:
                self.evictions["max_sessions"] += len(old.steps)
            evicted[old_sid] = None
            while len(evicted) > self._max_counters:
                evicted.popitem(last=False)
        return buf

    def _trim(self, buf: _Buffer) -> None:
        """Evict the oldest steps until the buffer is within its bounds; a full buffer
        sheds 1/64 of ``max_steps`` at once, so eviction work is amortized."""
        n_steps = n_bytes = 0
        steps = buf.steps
        limit = self.max_steps
        if len(steps) > limit:
            limit -= limit >> 6
        while steps and (len(steps) > limit or buf.bytes > self.max_bytes):
            over_steps = len(steps) > limit
            size, seq, _ = steps.popleft()
            buf.bytes -= size
            if seq is not None and seq > buf.evicted_through:
                buf.evicted_through = seq
            if over_steps:
                n_steps += 1
            else:
                n_bytes += 1
        buf.evicted += n_steps + n_bytes
        self.evictions["max_steps"] += n_steps
        self.evictions["max_bytes"] += n_bytes

    def _observe_evictions(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {c.ATTR_REASON: k}) for k, v in self.evictions.items()]

    def _nesting_full(self, open_spans: int) -> None:
        self.errors.report(
            "on_start",
            OverflowError(
                f"{open_spans} spans are open and tracked for their enclosing call; a span "
                "starting now is not tracked (no agent_replay.step.enclosing_span_id for it)"
            ),
        )

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._nesting.after_fork()
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
            items = [e[2] for e in buf.steps] if buf is not None else []
        return sorted((step_from_parts(p, session_id) for p in items), key=_seq_key)

    def steps_after(
        self,
        checkpoint_id: str,
        *,
        min_importance: float | None = None,
        allow_partial: bool = False,
    ) -> list[Step]:
        """Steps started after the checkpoint, in sequence order, optionally filtered.

        Raises :class:`IncompleteHistoryError` if some of them were evicted (unless
        ``allow_partial``) and :class:`~otel_replay.model.errors.UnorderedHistoryError` if the
        checkpoint span carries no step sequence number. With ``OTEL_SDK_DISABLED=true``
        nothing was recorded: an empty list.
        """
        if self.disabled:
            return []
        ckpt = self.get_checkpoint(checkpoint_id)
        with self._lock:
            buf = self._buffers[ckpt.session_id]
            items = [e[2] for e in buf.steps]
            evicted_through = buf.evicted_through
        sid = ckpt.session_id
        after = ckpt.step_sequence
        if after is None:
            raise UnorderedHistoryError(
                f"checkpoint {checkpoint_id} in the replay buffer has no step sequence number "
                f"({c.STEP_SEQUENCE} was not an integer on its span)"
            )
        if evicted_through > after and not allow_partial:
            raise IncompleteHistoryError(
                f"steps after checkpoint {checkpoint_id} (sequence > {after}) were evicted from "
                f"the replay buffer up to sequence {evicted_through}; raise max_steps/max_bytes "
                f"or restore from a recording"
            )
        return select_after((step_from_parts(p, sid) for p in items), after, min_importance)


def _approx_size(name: str, attrs: Mapping[str, Any], sid: str) -> int:
    """Approximate retained bytes of a buffered step: fixed costs plus its string data
    (attribute keys are shared between spans and counted at a flat rate)."""
    size = 200 + 2 * len(name) + len(sid) + 32 * len(attrs)
    for v in attrs.values():
        t = type(v)
        if t is str:
            size += len(v)
        elif t is not int and t is not float and t is not bool:
            size += _value_size(v)
    return size


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
