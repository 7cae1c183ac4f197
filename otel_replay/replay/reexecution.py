"""Event replay and cached re-execution of recorded steps.

**Event replay** (:func:`replay_events`) delivers recorded post-checkpoint steps, in step
sequence order, to a callback and re-emits each as a span under one ``replay ...`` span.

**Cached re-execution** (:class:`Reexecution`) answers tool and LLM calls from the recording
instead of running them. Calls are matched by *step key* ``{kind}:{name}#{n}``: the n-th
(1-based) recorded call of that kind and name after the checkpoint, e.g. ``tool:search#2``
is the second ``search`` call. A call takes the lowest-numbered recorded occurrence not yet
used whose argument digest (SHA-256 of the canonical JSON of the arguments) equals its own;
so parallel calls that start in a different order than they were recorded still meet their
own recorded results. Serving a recorded call also uses up the calls recorded inside it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, Status, StatusCode

from otel_replay.capture.spans import (
    llm_call,
    reset_call_interceptor,
    set_call_interceptor,
    to_attribute_json,
    tool_call,
)
from otel_replay.core import conventions as c
from otel_replay.core.aio import run_awaitable as _run_awaitable
from otel_replay.core.selfmetrics import get_meter
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.steps import Step

__all__ = [
    "CancelToken",
    "ReplayOutcome",
    "replay_events",
    "areplay_events",
    "select_replay_steps",
    "Reexecution",
    "ReexecMode",
    "CallRecord",
    "WentLive",
    "DivergenceError",
    "RecordedStepError",
    "argument_digest",
    "step_key",
]

ReexecMode = Literal["replay", "hybrid", "live"]
_MODES = ("replay", "hybrid", "live")
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


# --------------------------------------------------------------------------------------------
# Event replay


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


# --------------------------------------------------------------------------------------------
# Cached re-execution


class DivergenceError(RuntimeError):
    """A strict re-execution made a call the recording does not have."""

    def __init__(
        self,
        *,
        expected_key: str | None,
        actual_key: str,
        expected_arguments: Any,
        actual_arguments: Any,
        reason: str,
    ) -> None:
        self.expected_key = expected_key
        self.actual_key = actual_key
        self.expected_arguments = expected_arguments
        self.actual_arguments = actual_arguments
        self.reason = reason
        expected = (
            f"expected {expected_key} with arguments {_show(expected_arguments)}, got "
            if expected_key is not None
            else "got "
        )
        super().__init__(
            f"divergence at {actual_key}: {reason}; {expected}{actual_key} with arguments "
            f"{_show(actual_arguments)}"
        )


class RecordedStepError(RuntimeError):
    """A served step had failed when it was recorded; raised in place of its result."""

    def __init__(self, key: str, message: str | None) -> None:
        self.step_key = key
        super().__init__(f"recorded step {key} failed: {message or 'error'}")


class WentLive(NamedTuple):
    """Where a hybrid re-execution switched to running live, and why."""

    step_key: str
    reason: str


@dataclass(frozen=True)
class CallRecord:
    """One intercepted call: its step key and outcome (``served``, ``live`` or ``miss``)."""

    step_key: str
    kind: str
    name: str
    outcome: str


def _show(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except ValueError:
        return repr(value)


def _decode(raw: Any) -> Any:
    """Attribute value -> JSON value (non-JSON strings are plain text)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if isinstance(raw, tuple):
        return list(raw)
    return raw


def argument_digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, compact) of a JSON value."""
    data = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def step_key(kind: str, name: str, occurrence: int) -> str:
    """``{kind}:{name}#{occurrence}`` (occurrence counts from 1)."""
    return f"{kind}:{name}#{occurrence}"


def _live_tool_arguments(arguments: Any) -> Any:
    return None if arguments is None else _decode(to_attribute_json(arguments))


def _live_llm_messages(messages: Any) -> Any:
    if messages is None:
        return None
    if isinstance(messages, str):
        messages = [{"role": "user", "parts": [{"type": "text", "content": messages}]}]
    return _decode(to_attribute_json(list(messages)))


def _served_llm_value(value: Any) -> Any:
    """A single assistant text message (how ``set_output(str)`` records) becomes the str."""
    if (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and value[0].get("role") == "assistant"
        and set(value[0]) <= {"role", "parts", "finish_reason"}
    ):
        parts = value[0].get("parts")
        if (
            isinstance(parts, list)
            and len(parts) == 1
            and isinstance(parts[0], dict)
            and set(parts[0]) == {"type", "content"}
            and parts[0]["type"] == "text"
            and isinstance(parts[0]["content"], str)
        ):
            return parts[0]["content"]
    return value


@dataclass(frozen=True)
class _Recorded:
    key: str
    kind: str
    name: str
    index: int
    step: Step
    arguments: Any
    digest: str
    raw_output: Any


class _Decision(NamedTuple):
    key: str
    outcome: str  # served | live | miss
    recorded: _Recorded | None
    expected: _Recorded | None
    reason: str | None


class Reexecution:
    """Answer tool/LLM calls from ``baseline`` (recorded steps after a checkpoint).

    Modes: ``replay`` (strict: a call without a matching recorded step raises
    :class:`DivergenceError`), ``hybrid`` (serve until the first miss, then run everything
    live; see :attr:`went_live_at`), ``live`` (run everything, keys still assigned).

    Use as a (sync or async) context manager so that ``traced_tool``/``traced_llm``
    functions called in this context are routed through it, or call :meth:`call_tool` /
    :meth:`call_llm` directly. Threads must run with a copy of the caller's context
    (``contextvars.copy_context().run``), as OpenTelemetry context propagation needs too.
    """

    def __init__(
        self,
        baseline: Sequence[Step],
        mode: ReexecMode = "hybrid",
        *,
        tracer: trace.Tracer | None = None,
        meter_provider: MeterProvider | None = None,
        on_mode: Callable[[str], None] | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.mode: ReexecMode = mode
        self.tracer = tracer
        self.went_live_at: WentLive | None = None
        self._calls: list[CallRecord] = []
        self._lock = threading.Lock()
        self._stats = {"served": 0, "live": 0, "miss": 0}
        self._counter = get_meter(meter_provider).create_counter(
            c.METRIC_REPLAY_STEPS,
            unit="{step}",
            description="Calls in cached re-executions, by outcome (served, live, miss)",
        )
        self._tokens: list[Any] = []
        self._on_mode = on_mode
        self._by_sig: dict[tuple[str, str], list[_Recorded]] = defaultdict(list)
        self._by_span: dict[str, _Recorded] = {}
        self._children: dict[str, list[str]] = defaultdict(list)
        self._consumed: set[str] = set()
        self._extra: dict[tuple[str, str], int] = defaultdict(int)
        ordered = sorted(
            (s for s in baseline if s.sequence is not None), key=lambda s: s.sequence or 0
        )
        for step in ordered:
            if step.parent_span_id is not None:
                self._children[step.parent_span_id].append(step.span_id)
            if step.kind == c.KIND_TOOL:
                raw_in = step.attributes.get(c.GEN_AI_TOOL_CALL_ARGUMENTS)
                raw_out = step.attributes.get(c.GEN_AI_TOOL_CALL_RESULT)
            elif step.kind == c.KIND_LLM:
                raw_in = step.attributes.get(c.GEN_AI_INPUT_MESSAGES)
                raw_out = step.attributes.get(c.GEN_AI_OUTPUT_MESSAGES)
            else:
                continue
            arguments = _decode(raw_in) if raw_in is not None else step.inputs
            if raw_out is None and step.outputs is not None:
                raw_out = to_attribute_json(step.outputs)
            sig = (step.kind, step.name)
            index = len(self._by_sig[sig]) + 1
            rec = _Recorded(
                key=step_key(step.kind, step.name, index),
                kind=step.kind,
                name=step.name,
                index=index,
                step=step,
                arguments=arguments,
                digest=argument_digest(arguments),
                raw_output=raw_out,
            )
            self._by_sig[sig].append(rec)
            self._by_span[step.span_id] = rec

    # ------------------------------------------------------------------ introspection

    @property
    def stats(self) -> dict[str, int]:
        """Calls so far by outcome: ``served``, ``live`` and ``miss``."""
        with self._lock:
            return dict(self._stats)

    @property
    def calls(self) -> list[CallRecord]:
        """Every intercepted call so far, in the order keys were assigned."""
        with self._lock:
            return list(self._calls)

    @property
    def recorded_keys(self) -> list[str]:
        """Step keys of the recorded tool/LLM calls, in sequence order."""
        recs = [r for rs in self._by_sig.values() for r in rs]
        recs.sort(key=lambda r: r.step.sequence or 0)
        return [r.key for r in recs]

    @property
    def remaining(self) -> list[str]:
        """Recorded step keys not (yet) matched by a call, in sequence order."""
        with self._lock:
            consumed = set(self._consumed)
        return [k for k in self.recorded_keys if k not in consumed]

    # ------------------------------------------------------------------ context

    def __enter__(self) -> Reexecution:
        self._tokens.append(set_call_interceptor(self))
        if self._on_mode is not None:
            self._on_mode(self.mode)
        return self

    def __exit__(self, *exc: object) -> None:
        reset_call_interceptor(self._tokens.pop())

    async def __aenter__(self) -> Reexecution:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    # ------------------------------------------------------------------ matching

    def _consume(self, rec: _Recorded) -> None:
        self._consumed.add(rec.key)
        stack = list(self._children.get(rec.step.span_id, ()))
        while stack:
            span_id = stack.pop()
            inner = self._by_span.get(span_id)
            if inner is not None:
                self._consumed.add(inner.key)
            stack.extend(self._children.get(span_id, ()))

    def _decide(self, kind: str, name: str, arguments: Any) -> _Decision:
        digest = argument_digest(arguments)
        with self._lock:
            recorded = self._by_sig.get((kind, name), [])
            pending = [r for r in recorded if r.key not in self._consumed]
            expected = pending[0] if pending else None
            if expected is not None:
                key = expected.key
            else:
                self._extra[(kind, name)] += 1
                key = step_key(kind, name, len(recorded) + self._extra[(kind, name)])
            if self.mode == "live" or self.went_live_at is not None:
                if expected is not None:
                    self._consumed.add(expected.key)
                decision = _Decision(key, "live", None, expected, None)
            else:
                match = next((r for r in pending if r.digest == digest), None)
                if match is not None:
                    if expected is None or match is not expected:
                        key = match.key
                    self._consume(match)
                    decision = _Decision(key, "served", match, expected, None)
                else:
                    if expected is None:
                        reason = f"the recording has no further {kind} call {name!r}"
                    else:
                        reason = f"the arguments differ from the recorded step {expected.key}"
                        self._consumed.add(expected.key)
                    if self.mode == "hybrid":
                        self.went_live_at = WentLive(key, reason)
                    decision = _Decision(key, "miss", None, expected, reason)
            self._stats[decision.outcome] += 1
            self._calls.append(CallRecord(key, kind, name, decision.outcome))
        self._counter.add(1, {c.ATTR_OUTCOME: decision.outcome})
        return decision

    def _divergence(self, d: _Decision, actual: Any) -> DivergenceError:
        return DivergenceError(
            expected_key=d.expected.key if d.expected is not None else None,
            actual_key=d.key,
            expected_arguments=d.expected.arguments if d.expected is not None else None,
            actual_arguments=actual,
            reason=d.reason or "no matching recorded step",
        )

    def _attrs(self, d: _Decision) -> dict[str, Any]:
        return {c.REPLAY_SERVED_FROM_RECORDING: d.outcome == "served", c.REPLAY_STEP_KEY: d.key}

    def _served(self, d: _Decision) -> Any:
        assert d.recorded is not None
        step = d.recorded.step
        if step.status == "error":
            raise RecordedStepError(d.key, step.status_message)
        value = _decode(d.recorded.raw_output)
        return _served_llm_value(value) if d.recorded.kind == c.KIND_LLM else value

    # ------------------------------------------------------------------ calls

    @contextmanager
    def _step(
        self,
        kind: str,
        name: str,
        raw: Any,
        importance: float | None,
        tracer: trace.Tracer | None,
    ) -> Iterator[tuple[_Decision, Any]]:
        """Decide the call and open its span; yields (decision, span handle).

        A served call gets the recorded output on its span; a strict-mode miss raises
        :class:`DivergenceError` before anything runs.
        """
        if kind == c.KIND_TOOL:
            actual, output_key = _live_tool_arguments(raw), c.GEN_AI_TOOL_CALL_RESULT
        else:
            actual, output_key = _live_llm_messages(raw), c.GEN_AI_OUTPUT_MESSAGES
        d = self._decide(kind, name, actual)
        opts: dict[str, Any] = {
            "importance": importance,
            "attributes": self._attrs(d),
            "tracer": tracer or self.tracer,
        }
        cm = (
            tool_call(name, raw, **opts)
            if kind == c.KIND_TOOL
            else llm_call(name, messages=raw, **opts)
        )
        with cm as call:
            if d.outcome == "served":
                assert d.recorded is not None
                if d.recorded.raw_output is not None:
                    call.set_attribute(output_key, d.recorded.raw_output)
            elif d.outcome == "miss" and self.mode == "replay":
                raise self._divergence(d, actual)
            yield d, call

    def call_tool(
        self,
        name: str,
        arguments: Any,
        fn: Callable[[], Any],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any:
        """Serve the recorded result of tool ``name`` or run ``fn()`` (no arguments)."""
        with self._step(c.KIND_TOOL, name, arguments, importance, tracer) as (d, call):
            if d.outcome == "served":
                return self._served(d)
            result = fn()
            call.set_result(result)
            return result

    async def acall_tool(
        self,
        name: str,
        arguments: Any,
        fn: Callable[[], Awaitable[Any]],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any:
        """Async :meth:`call_tool`; the key is assigned before the first ``await``."""
        with self._step(c.KIND_TOOL, name, arguments, importance, tracer) as (d, call):
            if d.outcome == "served":
                return self._served(d)
            result = await fn()
            call.set_result(result)
            return result

    def call_llm(
        self,
        model: str,
        messages: Any,
        fn: Callable[[], Any],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any:
        """Serve the recorded answer of ``model`` to ``messages`` or run ``fn()``.

        A recorded single assistant text message is served as the plain string.
        """
        with self._step(c.KIND_LLM, model, messages, importance, tracer) as (d, call):
            if d.outcome == "served":
                return self._served(d)
            result = fn()
            call.set_output(result)
            return result

    async def acall_llm(
        self,
        model: str,
        messages: Any,
        fn: Callable[[], Awaitable[Any]],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any:
        """Async :meth:`call_llm`; the key is assigned before the first ``await``."""
        with self._step(c.KIND_LLM, model, messages, importance, tracer) as (d, call):
            if d.outcome == "served":
                return self._served(d)
            result = await fn()
            call.set_output(result)
            return result
