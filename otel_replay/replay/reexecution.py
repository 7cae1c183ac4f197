"""Cached re-execution: :class:`Reexecution` answers tool and LLM calls from the recording
instead of running them. Calls are matched by *step key* ``{kind}:{name}#{n}``: the n-th
(1-based) recorded call of that kind and name after the checkpoint, e.g. ``tool:search#2``
is the second ``search`` call. A call takes the lowest-numbered recorded occurrence not yet
used whose argument digest (SHA-256 of the canonical JSON of the arguments) equals its own;
so parallel calls that start in a different order than they were recorded still meet their
own recorded results. Serving a recorded call also uses up the calls recorded inside it.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider

from otel_replay.capture.spans import (
    llm_call,
    reset_call_interceptor,
    set_call_interceptor,
    to_attribute_json,
    tool_call,
)
from otel_replay.core import conventions as c
from otel_replay.core.selfmetrics import get_meter
from otel_replay.model.steps import Step
from otel_replay.replay.matching import (
    _decode,
    _live_llm_messages,
    _live_tool_arguments,
    _served_llm_value,
    argument_digest,
    stable_arguments,
    step_key,
)

__all__ = [
    "Reexecution",
    "ReexecMode",
    "CallRecord",
    "WentLive",
    "DivergenceError",
    "RecordedStepError",
    "OpenCall",
]

ReexecMode = Literal["replay", "hybrid", "live"]
_MODES = ("replay", "hybrid", "live")


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


@dataclass(frozen=True)
class OpenCall:
    """A call decided by :meth:`Reexecution.open_call`: serve ``recorded_output`` (the
    recorded step's output attribute, undecoded) when ``served``, else run the call live.
    ``attributes`` are the ``agent_replay.replay.*`` attributes for the call's span."""

    step_key: str
    outcome: str
    recorded: Step | None
    recorded_output: Any
    attributes: dict[str, Any]

    @property
    def served(self) -> bool:
        return self.outcome == "served"


def _framework_patches() -> Any:
    """LangChain's tools and chat models served in this scope, when LangChain is in use."""
    if "langchain_core" not in sys.modules:
        return None
    from otel_replay.integrations.langchain_calls import serving

    return serving()


def _show(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except ValueError:
        return repr(value)


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
            # the normalized step (any instrumentation's shape) first, raw attributes else
            arguments = step.inputs if step.inputs is not None else _decode(raw_in)
            if step.outputs is not None:
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
                digest=argument_digest(stable_arguments(step.kind, arguments)),
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
        patches = _framework_patches()
        if patches is not None:
            patches.__enter__()
        self._tokens.append((set_call_interceptor(self), patches))
        if self._on_mode is not None:
            self._on_mode(self.mode)
        return self

    def __exit__(self, *exc: object) -> None:
        token, patches = self._tokens.pop()
        reset_call_interceptor(token)
        if patches is not None:
            patches.__exit__(None, None, None)

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
        digest = argument_digest(stable_arguments(kind, arguments))
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

    def open_call(self, kind: str, name: str, arguments: Any) -> OpenCall:
        """Decide a call made by framework code (LangChain tools and chat models).

        ``arguments`` are JSON (tool arguments, or LLM messages in GenAI form). Raises
        :class:`DivergenceError` on a miss in ``replay`` mode and :class:`RecordedStepError`
        when the served step had failed; the caller emits or marks the call's span.
        """
        d = self._decide(kind, name, arguments)
        if d.outcome == "miss" and self.mode == "replay":
            raise self._divergence(d, arguments)
        rec = d.recorded
        if rec is not None and rec.step.status == "error":
            raise RecordedStepError(d.key, rec.step.status_message)
        return OpenCall(
            d.key,
            d.outcome,
            rec.step if rec else None,
            rec.raw_output if rec else None,
            self._attrs(d),
        )

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
