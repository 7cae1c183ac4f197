"""Recording helpers for code without instrumentation.

Context managers (and decorators) that produce spans following the OTel GenAI conventions
plus the ``agent_replay.*`` namespace: :func:`agent_run`, :func:`llm_call`,
:func:`tool_call`, :func:`decision`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast, overload

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from otel_replay.core import conventions as c

__all__ = [
    "agent_run",
    "llm_call",
    "tool_call",
    "decision",
    "traced_tool",
    "traced_llm",
    "CallInterceptor",
    "current_call_interceptor",
    "set_call_interceptor",
    "reset_call_interceptor",
    "current_session_id",
    "session",
    "resumed_run",
    "to_attribute_json",
    "LLMCall",
    "ToolCall",
    "AgentRun",
    "Decision",
]

_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "otel_replay_session", default=None
)
_TRACER_NAME = "otel_replay"

F = TypeVar("F", bound=Callable[..., Any])


def current_session_id() -> str | None:
    """The session set by the innermost :func:`agent_run` / :func:`session`, if any."""
    return _SESSION.get()


@contextmanager
def session(session_id: str) -> Iterator[str]:
    """Attribute spans created inside to ``session_id`` (without creating a span)."""
    token = _SESSION.set(session_id)
    try:
        yield session_id
    finally:
        _SESSION.reset(token)


class _Resume:
    """The root span of a resumed run whose first framework child is still to be marked."""

    __slots__ = ("span_id", "pending", "marked_id", "marked_name")

    def __init__(self, span_id: int) -> None:
        self.span_id = span_id
        self.pending = True
        self.marked_id: int | None = None
        self.marked_name: str | None = None


_RESUME: contextvars.ContextVar[_Resume | None] = contextvars.ContextVar(
    "otel_replay_resume", default=None
)


class _RestoredSessions:
    """Sessions of restored runs and the provenance attributes the ``ReplayProcessor`` puts
    on each of their spans at start (``agent_replay.replay.checkpoint_id`` and the
    ``source.*`` ids), so that a service that sees the run's spans in several requests
    (``otel-replay serve``) recognizes every one. Bounded: the oldest are forgotten."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.marks: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._max = max_sessions
        self._lock = threading.Lock()

    def mark(self, session_id: str, attributes: dict[str, str]) -> None:
        with self._lock:
            self.marks[session_id] = dict(attributes)
            self.marks.move_to_end(session_id)
            while len(self.marks) > self._max:
                self.marks.popitem(last=False)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


RESTORED_SESSIONS = _RestoredSessions()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=RESTORED_SESSIONS._after_fork)


@contextmanager
def resumed_run(root: Span) -> Iterator[None]:
    """Inside, the first span started directly under ``root`` that is not one of ours (the
    resumed framework's own root, e.g. a re-invoked graph's span) gets
    ``agent_replay.replay.resume_root`` from the ``ReplayProcessor``: it encloses the
    resumed steps and was never part of the recorded ones, so drift leaves it out. A child
    of it that names the same step (an instrumentation reporting the graph twice, as
    OpenLLMetry's ``invoke_agent LangGraph`` > ``LangGraph.workflow``) is marked too."""
    token = _RESUME.set(_Resume(root.get_span_context().span_id))
    try:
        yield
    finally:
        _RESUME.reset(token)


def _resume_marker() -> _Resume | None:
    return _RESUME.get()


def to_attribute_json(value: Any) -> str:
    """JSON for an attribute value; strings pass through, unknown objects use ``str()``."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _tracer(tracer: trace.Tracer | None) -> trace.Tracer:
    return tracer or trace.get_tracer(_TRACER_NAME)


def _base_attrs(kind: str, importance: float | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {c.STEP_KIND: kind}
    sid = _SESSION.get()
    if sid is not None:
        attrs[c.SESSION_ID] = sid
    if importance is not None:
        if not 0.0 <= importance <= 1.0:
            raise ValueError(f"importance must be within [0, 1], got {importance}")
        attrs[c.STEP_IMPORTANCE] = float(importance)
    return attrs


class _Handle:
    def __init__(self, span: Span) -> None:
        self.span = span

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    @property
    def span_context(self) -> trace.SpanContext:
        return self.span.get_span_context()


class AgentRun(_Handle):
    """Handle for an :func:`agent_run` span."""

    def __init__(self, span: Span, session_id: str) -> None:
        super().__init__(span)
        self.session_id = session_id


class LLMCall(_Handle):
    """Handle for an :func:`llm_call` span."""

    def set_output(self, output: Any) -> None:
        """Record the model's answer: message list, or a plain string (one assistant message)."""
        if isinstance(output, str):
            output = [{"role": "assistant", "parts": [{"type": "text", "content": output}]}]
        self.span.set_attribute(c.GEN_AI_OUTPUT_MESSAGES, to_attribute_json(output))

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        if input_tokens is not None:
            self.span.set_attribute(c.GEN_AI_USAGE_INPUT_TOKENS, int(input_tokens))
        if output_tokens is not None:
            self.span.set_attribute(c.GEN_AI_USAGE_OUTPUT_TOKENS, int(output_tokens))

    def set_response_model(self, model: str) -> None:
        self.span.set_attribute(c.GEN_AI_RESPONSE_MODEL, model)


class ToolCall(_Handle):
    """Handle for a :func:`tool_call` span."""

    def set_result(self, result: Any) -> None:
        self.span.set_attribute(c.GEN_AI_TOOL_CALL_RESULT, to_attribute_json(result))


class Decision(_Handle):
    """Handle for a :func:`decision` span."""

    def set_action(self, action: str, confidence: float | None = None) -> None:
        self.span.set_attribute(c.DECISION_ACTION, action)
        if confidence is not None:
            self.span.set_attribute(c.DECISION_CONFIDENCE, float(confidence))


@contextmanager
def _span(name: str, attrs: dict[str, Any], tracer: trace.Tracer | None) -> Iterator[Span]:
    with _tracer(tracer).start_as_current_span(
        name, attributes=attrs, record_exception=True, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.set_attribute("error.type", type(exc).__qualname__)
            raise


@contextmanager
def agent_run(
    name: str,
    *,
    session_id: str | None = None,
    agent_id: str | None = None,
    importance: float | None = None,
    attributes: dict[str, Any] | None = None,
    tracer: trace.Tracer | None = None,
) -> Iterator[AgentRun]:
    """An agent run (``invoke_agent {name}``) that defines the session of its spans.

    ``session_id`` becomes ``gen_ai.conversation.id``; a random one is made if omitted.
    """
    sid = session_id or uuid.uuid4().hex
    token = _SESSION.set(sid)
    try:
        attrs = _base_attrs(c.KIND_AGENT, importance)
        attrs.update(
            {
                c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT,
                c.GEN_AI_AGENT_NAME: name,
                c.GEN_AI_CONVERSATION_ID: sid,
            }
        )
        if agent_id:
            attrs[c.GEN_AI_AGENT_ID] = agent_id
        if attributes:
            attrs.update(attributes)
        with _span(f"{c.OP_INVOKE_AGENT} {name}", attrs, tracer) as span:
            yield AgentRun(span, sid)
    finally:
        _SESSION.reset(token)


@contextmanager
def llm_call(
    model: str,
    *,
    messages: Sequence[Any] | str | None = None,
    provider: str | None = None,
    operation: str = c.OP_CHAT,
    importance: float | None = None,
    attributes: dict[str, Any] | None = None,
    tracer: trace.Tracer | None = None,
) -> Iterator[LLMCall]:
    """An LLM call (``chat {model}``); set the answer with :meth:`LLMCall.set_output`."""
    attrs = _base_attrs(c.KIND_LLM, importance)
    attrs.update({c.GEN_AI_OPERATION_NAME: operation, c.GEN_AI_REQUEST_MODEL: model})
    if provider:
        attrs[c.GEN_AI_PROVIDER_NAME] = provider
    if messages is not None:
        if isinstance(messages, str):
            messages = [{"role": "user", "parts": [{"type": "text", "content": messages}]}]
        attrs[c.GEN_AI_INPUT_MESSAGES] = to_attribute_json(list(messages))
    if attributes:
        attrs.update(attributes)
    with _span(f"{operation} {model}", attrs, tracer) as span:
        yield LLMCall(span)


@contextmanager
def tool_call(
    name: str,
    arguments: Any = None,
    *,
    call_id: str | None = None,
    importance: float | None = None,
    attributes: dict[str, Any] | None = None,
    tracer: trace.Tracer | None = None,
) -> Iterator[ToolCall]:
    """A tool call (``execute_tool {name}``); set the result with :meth:`ToolCall.set_result`."""
    attrs = _base_attrs(c.KIND_TOOL, importance)
    attrs.update({c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL, c.GEN_AI_TOOL_NAME: name})
    if arguments is not None:
        attrs[c.GEN_AI_TOOL_CALL_ARGUMENTS] = to_attribute_json(arguments)
    if call_id:
        attrs[c.GEN_AI_TOOL_CALL_ID] = call_id
    if attributes:
        attrs.update(attributes)
    with _span(f"{c.OP_EXECUTE_TOOL} {name}", attrs, tracer) as span:
        yield ToolCall(span)


@contextmanager
def decision(
    name: str,
    *,
    action: str | None = None,
    confidence: float | None = None,
    alternatives: Sequence[str] | None = None,
    reasoning: str | None = None,
    importance: float | None = None,
    attributes: dict[str, Any] | None = None,
    tracer: trace.Tracer | None = None,
) -> Iterator[Decision]:
    """A decision (``decision {name}``) with its chosen action and confidence."""
    attrs = _base_attrs(c.KIND_DECISION, importance)
    attrs[c.DECISION_NAME] = name
    if action is not None:
        attrs[c.DECISION_ACTION] = action
    if confidence is not None:
        attrs[c.DECISION_CONFIDENCE] = float(confidence)
    if alternatives is not None:
        attrs[c.DECISION_ALTERNATIVES] = [str(a) for a in alternatives]
    if reasoning is not None:
        attrs[c.DECISION_REASONING] = reasoning
    if attributes:
        attrs.update(attributes)
    with _span(f"decision {name}", attrs, tracer) as span:
        yield Decision(span)


def _bound_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), "kwargs": kwargs}
    return dict(bound.arguments)


class CallInterceptor(Protocol):
    """Answers decorated tool/LLM calls instead of running them (see :mod:`otel_replay.replay.reexecution`).

    ``fn`` runs the real call (no arguments); the interceptor emits the call's span.
    """

    def call_tool(
        self,
        name: str,
        arguments: Any,
        fn: Callable[[], Any],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any: ...

    async def acall_tool(
        self,
        name: str,
        arguments: Any,
        fn: Callable[[], Awaitable[Any]],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any: ...

    def call_llm(
        self,
        model: str,
        messages: Any,
        fn: Callable[[], Any],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any: ...

    async def acall_llm(
        self,
        model: str,
        messages: Any,
        fn: Callable[[], Awaitable[Any]],
        *,
        importance: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> Any: ...


_INTERCEPTOR: contextvars.ContextVar[CallInterceptor | None] = contextvars.ContextVar(
    "otel_replay_interceptor", default=None
)


def current_call_interceptor() -> CallInterceptor | None:
    """The interceptor active in this context, if any."""
    return _INTERCEPTOR.get()


def set_call_interceptor(
    interceptor: CallInterceptor | None,
) -> contextvars.Token[CallInterceptor | None]:
    """Route decorated calls in this context through ``interceptor``; reset with the token."""
    return _INTERCEPTOR.set(interceptor)


def reset_call_interceptor(token: contextvars.Token[CallInterceptor | None]) -> None:
    """Undo :func:`set_call_interceptor`."""
    _INTERCEPTOR.reset(token)


def _decorator(what: str, arg: Any, make: Callable[[F, str], F]) -> F | Callable[[F], F]:
    """``@what`` (``arg`` is the function) or ``@what(label)`` (``arg`` a str or None)."""
    if arg is not None and not isinstance(arg, str):
        if not callable(arg):
            raise TypeError(
                f"{what}() takes a name (str) or the function to decorate, "
                f"got {type(arg).__qualname__}"
            )
        return make(arg, _name_of(arg))

    def deco(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@{what}(...) decorates a function, got {type(fn).__qualname__}")
        return make(fn, arg or _name_of(fn))

    return deco


def _name_of(fn: Any) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


@overload
def traced_tool(name: F, /) -> F: ...
@overload
def traced_tool(
    name: str | None = None, *, importance: float | None = None, tracer: trace.Tracer | None = None
) -> Callable[[F], F]: ...
def traced_tool(
    name: str | F | None = None,
    *,
    importance: float | None = None,
    tracer: trace.Tracer | None = None,
) -> F | Callable[[F], F]:
    """Decorator: run the function inside :func:`tool_call`, recording arguments and result.

    Use as ``@traced_tool`` (the tool is named after the function), ``@traced_tool()`` or
    ``@traced_tool("name", importance=..., tracer=...)``. Works for sync and async
    functions; the wrapper keeps the function's name, docstring and signature. Inside a
    cached re-execution (see :mod:`otel_replay.replay.reexecution`) the recorded result may be
    served instead of calling it. Raises :class:`TypeError` for anything but a str or a
    function.
    """

    def make(fn: F, tool_name: str) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                arguments = _bound_arguments(fn, args, kwargs)
                interceptor = _INTERCEPTOR.get()
                if interceptor is not None:
                    return await interceptor.acall_tool(
                        tool_name,
                        arguments,
                        lambda: fn(*args, **kwargs),
                        importance=importance,
                        tracer=tracer,
                    )
                with tool_call(tool_name, arguments, importance=importance, tracer=tracer) as call:
                    result = await fn(*args, **kwargs)
                    call.set_result(result)
                    return result

            return cast(F, awrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            arguments = _bound_arguments(fn, args, kwargs)
            interceptor = _INTERCEPTOR.get()
            if interceptor is not None:
                return interceptor.call_tool(
                    tool_name,
                    arguments,
                    lambda: fn(*args, **kwargs),
                    importance=importance,
                    tracer=tracer,
                )
            with tool_call(tool_name, arguments, importance=importance, tracer=tracer) as call:
                result = fn(*args, **kwargs)
                call.set_result(result)
                return result

        return cast(F, wrapper)

    return _decorator("traced_tool", name, make)


@overload
def traced_llm(model: F, /) -> F: ...
@overload
def traced_llm(
    model: str | None = None, *, importance: float | None = None, tracer: trace.Tracer | None = None
) -> Callable[[F], F]: ...
def traced_llm(
    model: str | F | None = None,
    *,
    importance: float | None = None,
    tracer: trace.Tracer | None = None,
) -> F | Callable[[F], F]:
    """Decorator for a function ``(messages, ...) -> answer`` calling a model.

    Use as ``@traced_llm("gpt-4o")``, ``@traced_llm(model=...)``, or bare ``@traced_llm`` /
    ``@traced_llm()`` (the model is then named after the function). Sync and async; the
    wrapper keeps the function's name, docstring and signature. Inside a cached re-execution
    the recorded answer may be served instead of calling it. Raises :class:`TypeError` for
    anything but a str or a function.
    """

    def make(fn: F, model_name: str) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(messages: Any, *args: Any, **kwargs: Any) -> Any:
                interceptor = _INTERCEPTOR.get()
                if interceptor is not None:
                    return await interceptor.acall_llm(
                        model_name,
                        messages,
                        lambda: fn(messages, *args, **kwargs),
                        importance=importance,
                        tracer=tracer,
                    )
                with llm_call(
                    model_name, messages=messages, importance=importance, tracer=tracer
                ) as call:
                    result = await fn(messages, *args, **kwargs)
                    call.set_output(result)
                    return result

            return cast(F, awrapper)

        @functools.wraps(fn)
        def wrapper(messages: Any, *args: Any, **kwargs: Any) -> Any:
            interceptor = _INTERCEPTOR.get()
            if interceptor is not None:
                return interceptor.call_llm(
                    model_name,
                    messages,
                    lambda: fn(messages, *args, **kwargs),
                    importance=importance,
                    tracer=tracer,
                )
            with llm_call(
                model_name, messages=messages, importance=importance, tracer=tracer
            ) as call:
                result = fn(messages, *args, **kwargs)
                call.set_output(result)
                return result

        return cast(F, wrapper)

    return _decorator("traced_llm", model, make)
