"""Recording a checkpoint: :func:`checkpoint` emits the checkpoint span, numbered per
session by :data:`SESSION_CLOCK`.

State above the inline cap goes to a checkpoint store; state bound for a store is first
redacted by every :class:`StateRedactor` among the span processors of the provider that
records the checkpoint span (a :class:`~otel_replay.capture.redaction.RedactionProcessor`),
with the same rules that redact inline state; the digest is that of the redacted state.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from opentelemetry import trace

from otel_replay.capture.spans import current_session_id
from otel_replay.core import conventions as c
from otel_replay.core.env import env_int, sdk_disabled, warn_sdk_disabled
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import (
    CheckpointError,
    CheckpointRedactionError,
    CheckpointStateError,
    CheckpointStateTooLargeError,
    CheckpointStoreError,
)
from otel_replay.model.state import encode_state, normalize_state, state_digest
from otel_replay.model.stores import CheckpointStore, get_checkpoint_store

__all__ = ["checkpoint", "PendingCheckpoint", "StateRedactor"]


@runtime_checkable
class StateRedactor(Protocol):
    """A span processor that also redacts checkpoint state bound for a store."""

    def redact_checkpoint_state(self, data: bytes) -> bytes:
        """Canonical JSON state ``data`` with secrets redacted (``data`` itself if none)."""


# --------------------------------------------------------------------------------------------
# Per-session checkpoint numbering


_STRIPES = 64


class _SessionClock:
    """Checkpoint sequence numbers and parent ids per session (bounded LRU)."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[int, str | None]] = OrderedDict()
        self._max = max_sessions
        self._stripes = [threading.RLock() for _ in range(_STRIPES)]

    def session_lock(self, session_id: str) -> threading.RLock:
        """The lock that orders the checkpoints of ``session_id`` (held from numbering to
        commit, so concurrent checkpoints of one session get unique, chained numbers)."""
        return self._stripes[hash(session_id) % _STRIPES]

    def peek(self, session_id: str) -> tuple[int, str | None]:
        with self._lock:
            seq, last = self._sessions.get(session_id, (0, None))
        return seq + 1, last

    def commit(self, session_id: str, sequence: int, checkpoint_id: str) -> None:
        with self._lock:
            seq, _ = self._sessions.get(session_id, (0, None))
            self._sessions[session_id] = (max(seq, sequence), checkpoint_id)
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)

    def snapshot(self) -> OrderedDict[str, tuple[int, str | None]]:
        """A copy of the numbering state (tests restore it afterwards)."""
        with self._lock:
            return OrderedDict(self._sessions)

    def restore(self, snapshot: OrderedDict[str, tuple[int, str | None]]) -> None:
        with self._lock:
            self._sessions = OrderedDict(snapshot)

    def seed(self, session_id: str, parent_id: str | None, sequence: int = 0) -> None:
        """Start numbering a (restored) session after ``sequence`` with ``parent_id``."""
        with self._lock:
            self._sessions[session_id] = (sequence, parent_id)
            self._sessions.move_to_end(session_id)


SESSION_CLOCK = _SessionClock()


def _reinit_clock_lock() -> None:
    SESSION_CLOCK._lock = threading.Lock()
    SESSION_CLOCK._stripes = [threading.RLock() for _ in range(_STRIPES)]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_clock_lock)


# --------------------------------------------------------------------------------------------
# checkpoint()


def checkpoint(
    state: Any,
    *,
    framework: str = "custom",
    label: str | None = None,
    session_id: str | None = None,
    store: CheckpointStore | None = None,
    inline_max_bytes: int | None = None,
    max_bytes: int | None = None,
    tracer: trace.Tracer | None = None,
) -> str:
    """Record a checkpoint span in the current session and return the checkpoint id.

    State is validated and serialized first; oversize or unserializable state raises
    (:class:`CheckpointStateTooLargeError`, :class:`~otel_replay.model.errors.CheckpointStateError`)
    before anything is written; every failure is a :class:`~otel_replay.model.errors.CheckpointError`
    subclass. Concurrent checkpoints of one session get unique sequence numbers, each the
    parent of the next. State above ``inline_max_bytes`` (default
    ``OTEL_REPLAY_INLINE_STATE_MAX_BYTES``, 16 KiB) goes to ``store`` (default:
    :func:`~otel_replay.model.stores.set_checkpoint_store`'s); without a store
    that is an error too. Store-bound state is redacted first by the provider's
    :class:`StateRedactor` processors; a redaction failure raises
    :class:`CheckpointRedactionError` and nothing is stored or exported.

    With ``OTEL_SDK_DISABLED=true`` nothing is validated or recorded: a fresh id is returned
    and one warning is logged per process.
    """
    if sdk_disabled():
        warn_sdk_disabled()
        return uuid.uuid4().hex
    prepared = _Prepared(framework, state, store, inline_max_bytes, max_bytes)
    try:
        pending = PendingCheckpoint(
            framework=prepared.framework, session_id=session_id, tracer=tracer
        )
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint could not be recorded: {type(exc).__name__}: {exc}"
        ) from exc
    return pending._commit(prepared, label, None)


class _Prepared:
    """Validated, serialized state and where it goes (raises before any span exists)."""

    def __init__(
        self,
        framework: str,
        state: Any,
        store: CheckpointStore | None,
        inline_max_bytes: int | None,
        max_bytes: int | None,
    ) -> None:
        try:
            self.framework, shaped = normalize_state(framework, state)
            data = encode_state(shaped)
        except CheckpointError:
            raise
        except RecursionError as exc:
            raise CheckpointStateError(
                "checkpoint state nests too deeply to serialize (or contains itself)"
            ) from exc
        except Exception as exc:
            raise CheckpointStateError(
                f"checkpoint state cannot be serialized: {type(exc).__name__}: {exc}"
            ) from exc
        self.cap = (
            env_int(c.ENV_STATE_MAX_BYTES, c.DEFAULT_STATE_MAX_BYTES)
            if max_bytes is None
            else max_bytes
        )
        if len(data) > self.cap:
            raise CheckpointStateTooLargeError(len(data), self.cap)
        inline_cap = (
            env_int(c.ENV_INLINE_STATE_MAX_BYTES, c.DEFAULT_INLINE_STATE_MAX_BYTES)
            if inline_max_bytes is None
            else inline_max_bytes
        )
        self.inline = len(data) <= inline_cap
        self.store = store if store is not None else get_checkpoint_store()
        if not self.inline and self.store is None:
            raise CheckpointStateTooLargeError(
                len(data),
                inline_cap,
                "checkpoint state (inline cap; configure a CheckpointStore via "
                "set_checkpoint_store() or ReplayProcessor(checkpoint_store=...) for larger state)",
            )
        self.data = data


def _session_of_current_span(session_id: str | None) -> str | None:
    if session_id is not None:
        return session_id
    sid = current_session_id()
    current = trace.get_current_span()
    cur_ctx = current.get_span_context()
    if sid is None and cur_ctx.is_valid:
        attrs = getattr(current, "attributes", None)
        if isinstance(attrs, Mapping):
            for key in (c.SESSION_ID, c.GEN_AI_CONVERSATION_ID, "session.id"):
                v = attrs.get(key)
                if isinstance(v, str) and v:
                    return v
        sid = format(cur_ctx.trace_id, "032x")
    return sid


class PendingCheckpoint:
    """A checkpoint span started now (so its step sequence is *this* point of the run) whose
    state is written later with :meth:`commit`, or dropped with :meth:`discard`.

    Used where the state of a point of the run only becomes available after the run moved
    on (LangGraph saves checkpoints in the background). Until committed, the span is not
    ended and so never exported.
    """

    def __init__(
        self,
        *,
        framework: str = "custom",
        session_id: str | None = None,
        tracer: trace.Tracer | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        sid = _session_of_current_span(session_id)
        self.id = uuid.uuid4().hex
        self.created = time.time_ns()
        self.tracer = tracer or trace.get_tracer("otel_replay")
        start_attrs: dict[str, Any] = {
            c.STEP_KIND: c.KIND_CHECKPOINT,
            c.CHECKPOINT_ID: self.id,
            c.CHECKPOINT_FRAMEWORK: framework,
            c.CHECKPOINT_CREATED_TIME: self.created,
        }
        if attributes:
            start_attrs.update(attributes)
        if sid is not None:
            start_attrs[c.SESSION_ID] = sid
        self.span = self.tracer.start_span("checkpoint", attributes=start_attrs)
        if sid is None:
            sid = format(self.span.get_span_context().trace_id, "032x")
            self.span.set_attribute(c.SESSION_ID, sid)
        self.session_id = sid
        self.framework = framework
        self.done = False

    def commit(
        self,
        state: Any,
        *,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        store: CheckpointStore | None = None,
        inline_max_bytes: int | None = None,
        max_bytes: int | None = None,
    ) -> str:
        """Write ``state`` (as :func:`checkpoint` does), end the span, return the id.

        On an error nothing is exported and the checkpoint stays uncommitted."""
        if self.done:
            raise RuntimeError(f"checkpoint {self.id} was already committed or discarded")
        prepared = _Prepared(self.framework, state, store, inline_max_bytes, max_bytes)
        return self._commit(prepared, label, attributes)

    def discard(self) -> None:
        """Drop the checkpoint: its span is never ended, so never exported."""
        self.done = True

    def _commit(
        self, prepared: _Prepared, label: str | None, attributes: Mapping[str, Any] | None
    ) -> str:
        try:
            # numbering to commit under the session's lock: concurrent checkpoints of one
            # session get unique numbers, each the parent of the next
            with SESSION_CLOCK.session_lock(self.session_id):
                self._write(prepared, label, attributes)
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"checkpoint could not be recorded: {type(exc).__name__}: {exc}"
            ) from exc
        self.done = True
        self.span.end()
        return self.id

    def _write(
        self, prepared: _Prepared, label: str | None, attributes: Mapping[str, Any] | None
    ) -> None:
        span, checkpoint_id, sid = self.span, self.id, self.session_id
        # From here on, failures must not export a half-written checkpoint: the span is only
        # ended (and so exported) once everything succeeded.
        data = prepared.data
        if label:
            span.update_name(f"checkpoint {label}")
            span.set_attribute(c.CHECKPOINT_LABEL, label)
        if attributes:
            span.set_attributes(dict(attributes))
        if not prepared.inline:
            data = _redact_for_store(self.tracer, span, data, checkpoint_id)
            if len(data) > prepared.cap:
                raise CheckpointStateTooLargeError(
                    len(data), prepared.cap, "redacted checkpoint state"
                )
        digest = state_digest(data)
        seq, parent = SESSION_CLOCK.peek(sid)
        ckpt = Checkpoint(
            id=checkpoint_id,
            session_id=sid,
            sequence=seq,
            framework=prepared.framework,
            label=label,
            created_time_unix_nano=self.created,
            parent_id=parent,
            state_digest=digest,
            state_size=len(data),
            trace_id=format(span.get_span_context().trace_id, "032x"),
            span_id=format(span.get_span_context().span_id, "016x"),
            state_json=data if prepared.inline else None,
        )
        if not prepared.inline:
            assert prepared.store is not None
            try:
                prepared.store.put(ckpt.to_envelope(state_json=data))
            except CheckpointStoreError:
                raise
            except Exception as exc:
                raise CheckpointStoreError(
                    f"could not store checkpoint {checkpoint_id}: {type(exc).__name__}: {exc}"
                ) from exc
        span.set_attributes(
            {
                c.CHECKPOINT_SEQUENCE: seq,
                c.CHECKPOINT_STATE_DIGEST: digest,
                c.CHECKPOINT_STATE_SIZE: len(data),
                c.CHECKPOINT_STATE_LOCATION: "inline" if prepared.inline else "store",
            }
        )
        if parent:
            span.set_attribute(c.CHECKPOINT_PARENT_ID, parent)
        if prepared.inline:
            span.set_attribute(c.CHECKPOINT_STATE, data.decode("utf-8"))
        SESSION_CLOCK.commit(sid, seq, checkpoint_id)


def _redact_for_store(tracer: Any, span: Any, data: bytes, checkpoint_id: str) -> bytes:
    """``data`` redacted by each :class:`StateRedactor` processor of the tracer's provider.

    The tracer's processors are used even when the span is not sampled (a non-recording span).
    """
    processors = (
        getattr(tracer, "span_processor", None)  # an SDK Tracer
        or getattr(getattr(tracer, "_real_tracer", None), "span_processor", None)  # ProxyTracer
        or getattr(span, "_span_processor", None)  # an SDK Span from a wrapping tracer
    )
    redactors: list[StateRedactor] = []
    _find_redactors(processors, redactors, 0)
    for redactor in redactors:
        try:
            data = redactor.redact_checkpoint_state(data)
        except Exception as exc:
            raise CheckpointRedactionError(
                f"checkpoint {checkpoint_id}: state bound for the checkpoint store could not be "
                f"redacted ({type(exc).__name__}); nothing was stored"
            ) from exc
        if not isinstance(data, bytes):
            raise CheckpointRedactionError(
                f"checkpoint {checkpoint_id}: {type(redactor).__qualname__} returned "
                f"{type(data).__qualname__}, not bytes; nothing was stored"
            )
    return data


def _find_redactors(processor: Any, found: list[StateRedactor], depth: int) -> None:
    """Append the :class:`StateRedactor` processors in ``processor`` (a multi-processor)."""
    if processor is None or depth > 8:
        return
    if isinstance(processor, StateRedactor):
        found.append(processor)
        return
    children = getattr(processor, "_span_processors", None)  # the SDK's multi-processors
    if isinstance(children, (tuple, list)):
        for child in children:
            _find_redactors(child, found, depth + 1)
