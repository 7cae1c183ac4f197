"""LangChain tools and chat models inside a cached re-execution, without code changes.

While a :class:`~otel_replay.replay.reexecution.Reexecution` is entered (``with
result.reexecute("hybrid"):``), ``BaseTool.run`` / ``arun`` and ``BaseChatModel``'s
generation (``invoke``, ``ainvoke``, ``batch`` ...) and streaming (``stream``, ``astream``)
are routed through it: a matched call is served from the recording, a miss runs live (hybrid)
or raises ``DivergenceError`` (replay). Served values keep their types: a tool's ``_run``
returns the recorded content, so LangChain still builds the ``ToolMessage`` with the new
tool-call id; a model returns an ``AIMessage`` with the recorded text, tool calls and usage.
LangChain's callbacks run as usual, so an installed instrumentation (OpenInference,
OpenLLMetry) still reports the call, on its own span, which gets the
``agent_replay.replay.*`` attributes; without an instrumentation the call gets our span.

The patches are installed on the classes while at least one scope is active (counted) and
removed when the last one ends; calls made outside every scope run unchanged.
:func:`tracing` gives LangChain calls our spans when no instrumentation is installed, to
record a baseline that a later re-execution can be served from.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

try:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool
except ImportError as exc:  # pragma: no cover - exercised with langchain-core hidden
    raise ImportError(
        "the serving of LangChain calls needs langchain-core: pip install otel-replay[langchain]"
    ) from exc
from opentelemetry import trace

from otel_replay.capture.spans import current_call_interceptor, llm_call, tool_call
from otel_replay.core import conventions as c
from otel_replay.core.selfmetrics import ErrorReporter, get_meter
from otel_replay.integrations.langchain_answers import (
    genai_messages,
    served_message,
    served_tool_value,
)

__all__ = ["serving", "tracing", "genai_messages"]

_lock = threading.Lock()
_depth = 0
_originals: dict[tuple[type, str], Any] = {}
# inside tracing(): (the tracer for our spans,), else None
_TRACING: contextvars.ContextVar[tuple[trace.Tracer | None] | None] = contextvars.ContextVar(
    "otel_replay_langchain_tracing", default=None
)
_INSTRUMENTATION_MODULES = ("openinference.", "opentelemetry.")


# ---------------------------------------------------------------------------- spans


def _instrumentation_span(run_manager: Any) -> tuple[bool, Any]:
    """(an instrumentation reports this run, its span if it can be found)."""
    if run_manager is None:
        return False, None
    instrumented = False
    run_id = getattr(run_manager, "run_id", None)
    for handler in getattr(run_manager, "handlers", None) or ():
        if not type(handler).__module__.startswith(_INSTRUMENTATION_MODULES):
            continue
        instrumented = True
        get_span = getattr(handler, "get_span", None)  # OpenInference
        if callable(get_span):
            span = get_span(run_id)
            if span is not None:
                return True, span
        spans = getattr(handler, "spans", None)  # OpenLLMetry
        if isinstance(spans, dict) and run_id in spans:
            return True, getattr(spans[run_id], "span", None)
    return instrumented, None


_errors: ErrorReporter | None = None


def _mark(span: Any, call: Any) -> None:
    """Put the call's ``agent_replay.replay.*`` attributes on the instrumentation's span; an
    instrumentation whose span cannot be found is logged once and counted."""
    global _errors
    if call is None:
        return
    if span is None:
        if _errors is None:
            _errors = ErrorReporter("langchain_serving", get_meter())
        _errors.report(
            "mark",
            LookupError(
                f"the instrumentation's span of {call.step_key} was not found: "
                f"the call is served but its span is not marked"
            ),
        )
        return
    if span.is_recording():
        span.set_attributes(call.attributes)


def _tracer(rx: Any) -> trace.Tracer | None:
    if rx is not None:
        return rx.tracer
    traced = _TRACING.get()
    return traced[0] if traced is not None else None


def _active() -> Any:
    """The active re-execution (a ``Reexecution``: anything with ``open_call``), if any."""
    rx = current_call_interceptor()
    return rx if callable(getattr(rx, "open_call", None)) else None


# ---------------------------------------------------------------------------- tools


def _tool_args(tool_input: Any) -> Any:
    if isinstance(tool_input, dict):
        return {k: v for k, v in tool_input.items() if k not in ("id", "type")}
    return tool_input


def _run_template(
    *args: Any, config: RunnableConfig, run_manager: Any = None, **kwargs: Any
) -> Any:
    """The signature LangChain inspects on a served or live tool's ``_run``/``_arun``."""


_RUN_ANNOTATIONS = {"config": RunnableConfig, "run_manager": Any}
_RUN_SIGNATURE = inspect.signature(_run_template)


def _tool_clone(
    tool: BaseTool,
    rx: Any,
    call: Any,
    args: Any,
    tool_call_id: Any,
    is_async: bool,
) -> BaseTool:
    """``tool`` with ``_run``/``_arun`` serving ``call`` or running live, on its span."""
    real = tool._arun if is_async else tool._run
    name = tool.name

    def around(run_manager: Any, body: Any) -> Any:
        instrumented, span = _instrumentation_span(run_manager)
        if instrumented:
            _mark(span, call)
            return body()
        with tool_call(
            name, args, attributes=call.attributes if call else None, tracer=_tracer(rx)
        ) as handle:
            result = body()
            handle.set_result(result)
            return result

    def live_kwargs(kwargs: dict[str, Any], config: Any, run_manager: Any) -> dict[str, Any]:
        from langchain_core.tools.base import _get_runnable_config_param, _signature_parameters

        out = dict(kwargs)
        if _signature_parameters(real).get("run_manager"):
            out["run_manager"] = run_manager
        param = _get_runnable_config_param(real)
        if param:
            out[param] = config
        return out

    def served() -> Any:
        assert call is not None
        return served_tool_value(call, tool_call_id)

    def _run(*a: Any, config: RunnableConfig, run_manager: Any = None, **kw: Any) -> Any:
        if call is not None and call.served:
            return around(run_manager, served)
        return around(run_manager, lambda: real(*a, **live_kwargs(kw, config, run_manager)))

    async def _arun(*a: Any, config: RunnableConfig, run_manager: Any = None, **kw: Any) -> Any:
        instrumented, span = _instrumentation_span(run_manager)
        if call is not None and call.served:
            body_value = served()
            if instrumented:
                _mark(span, call)
                return body_value
            return around(run_manager, lambda: body_value)
        if instrumented:
            _mark(span, call)
            return await real(*a, **live_kwargs(kw, config, run_manager))
        with tool_call(
            name, args, attributes=call.attributes if call else None, tracer=_tracer(rx)
        ) as handle:
            result = await real(*a, **live_kwargs(kw, config, run_manager))
            handle.set_result(result)
            return result

    for fn in (_run, _arun):
        fn.__annotations__ = _RUN_ANNOTATIONS
        setattr(fn, "__signature__", _RUN_SIGNATURE)  # noqa: B010
    # computed once on the tool, so that copies do not compute it again on every call
    getattr(tool, "_injected_args_keys", None)
    clone = tool.model_copy()
    object.__setattr__(clone, "_arun" if is_async else "_run", _arun if is_async else _run)
    return clone


def _open(rx: Any, kind: str, name: str, arguments: Any) -> Any:
    return rx.open_call(kind, name, arguments) if rx is not None else None


def _tool_run(orig: Any) -> Any:
    def run(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        rx = _active()
        if rx is None and _TRACING.get() is None:
            return orig(self, tool_input, *args, **kwargs)
        args_json = _tool_args(tool_input)
        call = _open(rx, c.KIND_TOOL, self.name, _json(args_json))
        clone = _tool_clone(self, rx, call, args_json, kwargs.get("tool_call_id"), False)
        return orig(clone, tool_input, *args, **kwargs)

    return run


def _tool_arun(orig: Any) -> Any:
    async def arun(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        rx = _active()
        if rx is None and _TRACING.get() is None:
            return await orig(self, tool_input, *args, **kwargs)
        args_json = _tool_args(tool_input)
        call = _open(rx, c.KIND_TOOL, self.name, _json(args_json))
        clone = _tool_clone(self, rx, call, args_json, kwargs.get("tool_call_id"), True)
        return await orig(clone, tool_input, *args, **kwargs)

    return arun


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------- chat models


def _model_name(model: BaseChatModel, stop: Any, kwargs: dict[str, Any]) -> str:
    try:
        name = model._get_ls_params(stop=stop, **kwargs).get("ls_model_name")
    except Exception:
        name = None
    return str(name or getattr(model, "model_name", None) or type(model).__name__)


def _emit_llm(rx: Any, name: str, inputs: Any, call: Any, message: Any) -> None:
    with llm_call(
        name, messages=inputs, attributes=call.attributes if call else None, tracer=_tracer(rx)
    ) as handle:
        handle.set_output(
            genai_messages([message]) if isinstance(message, BaseMessage) else message
        )
        usage = getattr(message, "usage_metadata", None) or {}
        if usage:
            handle.set_usage(usage.get("input_tokens"), usage.get("output_tokens"))


def _generate(orig: Any, is_async: bool) -> Any:
    def prepare(
        self: BaseChatModel,
        messages: list[BaseMessage],
        stop: Any,
        run_manager: Any,
        kwargs: dict[str, Any],
    ) -> tuple[Any, ...]:
        rx = _active()
        name = _model_name(self, stop, kwargs)
        inputs = genai_messages(messages)
        call = _open(rx, c.KIND_LLM, name, _json(inputs))
        instrumented, span = _instrumentation_span(run_manager)
        if instrumented:
            _mark(span, call)
        return rx, name, inputs, call, instrumented

    def finish(
        result: ChatResult, rx: Any, name: str, inputs: Any, call: Any, instrumented: bool
    ) -> ChatResult:
        if not instrumented and result.generations:
            _emit_llm(rx, name, inputs, call, result.generations[0].message)
        return result

    if is_async:

        async def agen(
            self: BaseChatModel,
            messages: list[BaseMessage],
            stop: Any = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            if _active() is None and _TRACING.get() is None:
                return await orig(self, messages, stop, run_manager, **kwargs)  # type: ignore[no-any-return]
            rx, name, inputs, call, inst = prepare(self, messages, stop, run_manager, kwargs)
            if call is not None and call.served:
                result = ChatResult(generations=[ChatGeneration(message=served_message(call))])
            else:
                result = await orig(self, messages, stop, run_manager, **kwargs)
            return finish(result, rx, name, inputs, call, inst)

        return agen

    def gen(
        self: BaseChatModel,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if _active() is None and _TRACING.get() is None:
            return orig(self, messages, stop, run_manager, **kwargs)  # type: ignore[no-any-return]
        rx, name, inputs, call, inst = prepare(self, messages, stop, run_manager, kwargs)
        if call is not None and call.served:
            result = ChatResult(generations=[ChatGeneration(message=served_message(call))])
        else:
            result = orig(self, messages, stop, run_manager, **kwargs)
        return finish(result, rx, name, inputs, call, inst)

    return gen


def _stream_clone(
    model: BaseChatModel, input: Any, stop: Any, kwargs: dict[str, Any], is_async: bool
) -> BaseChatModel:
    rx = _active()
    messages = model._convert_input(input).to_messages()
    name = _model_name(model, stop, kwargs)
    inputs = genai_messages(messages)
    call = _open(rx, c.KIND_LLM, name, _json(inputs))
    real: Any = model._astream if is_async else model._stream

    def collect(chunks: list[Any], run_manager: Any) -> None:
        instrumented, span = _instrumentation_span(run_manager)
        if instrumented:
            _mark(span, call)
        elif chunks:
            total = chunks[0].message
            for ch in chunks[1:]:
                total = total + ch.message
            _emit_llm(rx, name, inputs, call, total)

    def _stream(*a: Any, run_manager: Any = None, **kw: Any) -> Iterator[ChatGenerationChunk]:
        chunks: list[Any] = []
        if call is not None and call.served:
            chunks = [ChatGenerationChunk(message=served_message(call, chunk=True))]
            collect(chunks, run_manager)
            yield from chunks
            return
        for ch in real(*a, run_manager=run_manager, **kw):
            chunks.append(ch)
            yield ch
        collect(chunks, run_manager)

    async def _astream(
        *a: Any, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks: list[Any] = []
        if call is not None and call.served:
            chunks = [ChatGenerationChunk(message=served_message(call, chunk=True))]
            collect(chunks, run_manager)
            for ch in chunks:
                yield ch
            return
        async for ch in real(*a, run_manager=run_manager, **kw):
            chunks.append(ch)
            yield ch
        collect(chunks, run_manager)

    clone = model.model_copy()
    object.__setattr__(
        clone, "_astream" if is_async else "_stream", _astream if is_async else _stream
    )
    return clone


def _stream(orig: Any) -> Any:
    def stream(
        self: BaseChatModel, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
    ) -> Iterator[Any]:
        if (_active() is None and _TRACING.get() is None) or not self._should_stream(
            async_api=False, **{**kwargs, "stream": True}
        ):
            yield from orig(self, input, config, stop=stop, **kwargs)
            return
        clone = _stream_clone(self, input, stop, kwargs, False)
        yield from orig(clone, input, config, stop=stop, **kwargs)

    return stream


def _astream(orig: Any) -> Any:
    async def astream(
        self: BaseChatModel, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if (_active() is None and _TRACING.get() is None) or not self._should_stream(
            async_api=True, **{**kwargs, "stream": True}
        ):
            async for ch in orig(self, input, config, stop=stop, **kwargs):
                yield ch
            return
        clone = _stream_clone(self, input, stop, kwargs, True)
        async for ch in orig(clone, input, config, stop=stop, **kwargs):
            yield ch

    return astream


# ---------------------------------------------------------------------------- scope

_PATCHES: tuple[tuple[type, str, Any], ...] = (
    (BaseTool, "run", _tool_run),
    (BaseTool, "arun", _tool_arun),
    (BaseChatModel, "_generate_with_cache", lambda o: _generate(o, False)),
    (BaseChatModel, "_agenerate_with_cache", lambda o: _generate(o, True)),
    (BaseChatModel, "stream", _stream),
    (BaseChatModel, "astream", _astream),
)


def _install() -> None:
    global _depth
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        for cls, attr, make in _PATCHES:
            original = vars(cls)[attr]
            _originals[(cls, attr)] = original
            setattr(cls, attr, make(original))


def _uninstall() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth > 0:
            return
        for (cls, attr), original in _originals.items():
            setattr(cls, attr, original)
        _originals.clear()


def patched() -> bool:
    """Whether LangChain's classes are patched now (some scope is active)."""
    with _lock:
        return _depth > 0


@contextmanager
def serving() -> Iterator[None]:
    """LangChain tools and chat models routed through the active re-execution."""
    _install()
    try:
        yield
    finally:
        _uninstall()


@contextmanager
def tracing(tracer: trace.Tracer | None = None) -> Iterator[None]:
    """Our tool and LLM spans for LangChain calls that no instrumentation reports.

    Record a run with it (``with tracing(): graph.invoke(...)``) when no LangChain
    instrumentation is installed, so that a re-execution can be served from the recording."""
    token = _TRACING.set((tracer,))
    _install()
    try:
        yield
    finally:
        _uninstall()
        _TRACING.reset(token)
