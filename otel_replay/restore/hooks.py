"""Restore hooks: put a checkpoint's JSON state back into a framework object.

A hook is ``(state, target) -> target`` (sync or async). Hooks are looked up by the
checkpoint's framework; frameworks without a hook use :func:`restore_generic`. The built-in
``langchain`` and ``langgraph`` hooks are imported lazily, on first use.

:func:`run_restore_hook` / :func:`arun_restore_hook` never let a hook's exception escape:
the exception is returned as a :class:`HookError` (and logged once), and the caller's target
is left unchanged because hooks always work on a deep copy of it.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
import threading
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from opentelemetry.metrics import MeterProvider

from otel_replay.core.aio import run_awaitable as _run_awaitable
from otel_replay.core.selfmetrics import ErrorReporter, get_meter
from otel_replay.restore.errors import HookError

__all__ = [
    "RestoreHook",
    "HookError",
    "register_restore_hook",
    "unregister_restore_hook",
    "registered_restore_hooks",
    "get_restore_hook",
    "restore_hooks",
    "restore_generic",
    "run_restore_hook",
    "arun_restore_hook",
    "hook_name",
]

logger = logging.getLogger("otel_replay")


@runtime_checkable
class RestoreHook(Protocol):
    """``hook(state, target) -> restored target`` (may also return an awaitable of it).

    ``state`` is the checkpoint's decoded JSON state; ``target`` is a private deep copy of
    the caller's target (or ``None``), so a hook may mutate it freely.
    """

    def __call__(self, state: dict[str, Any], target: Any) -> Any: ...


def hook_name(hook: Any) -> str:
    """A readable ``module.qualname`` for a hook (function, method or callable object)."""
    name = getattr(hook, "hook_name", None)
    if isinstance(name, str):
        return name
    target = hook if hasattr(hook, "__qualname__") else type(hook)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", repr(target))
    return f"{module}.{qualname}" if module else qualname


# --------------------------------------------------------------------------------------------
# Generic hook


def restore_generic(state: Mapping[str, Any], target: Any = None) -> Any:
    """Restore a custom state's ``data`` into ``target`` and return the restored object.

    * ``None``: a new dict (deep copy of ``data``).
    * mutable mapping: a copy updated with ``data``.
    * dataclass: ``dataclasses.replace`` for init fields, setattr for the others.
    * pydantic model: re-validated with the current field values updated by ``data``
      (nested models are rebuilt from their JSON form).
    * any other object: a shallow copy with each key set as an attribute.

    Dataclass and pydantic targets reject keys that are not fields (``TypeError``).
    """
    data = _custom_data(state)
    if target is None:
        return copy.deepcopy(data)
    if isinstance(target, type):
        raise TypeError(f"restore target must be an instance, got the class {target.__qualname__}")
    if isinstance(target, MutableMapping):
        out = copy.copy(target)
        out.update(copy.deepcopy(data))
        return out
    if isinstance(target, Mapping):
        raise TypeError(f"cannot restore into a read-only mapping ({type(target).__qualname__})")
    if _is_pydantic(target):
        return _restore_pydantic(target, data)
    if dataclasses.is_dataclass(target) and not isinstance(target, type):
        return _restore_dataclass(target, data)
    out = copy.copy(target)
    for key, value in data.items():
        setattr(out, key, _merge(getattr(out, key, None), value))
    return out


def _custom_data(state: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping, got {type(state).__qualname__}")
    data = state.get("data") if set(state) == {"data"} else state
    if not isinstance(data, Mapping):
        raise TypeError('custom state "data" must be a mapping')
    return dict(data)


def _is_pydantic(value: Any) -> bool:
    return hasattr(type(value), "model_fields") and hasattr(type(value), "model_validate")


def _merge(current: Any, value: Any) -> Any:
    """Rebuild nested dataclasses/pydantic models and tuples from their JSON form."""
    if isinstance(value, Mapping):
        if _is_pydantic(current) or (
            dataclasses.is_dataclass(current) and not isinstance(current, type)
        ):
            return restore_generic({"data": value}, current)
    if isinstance(current, tuple) and isinstance(value, list) and not hasattr(current, "_fields"):
        return tuple(value)
    return copy.deepcopy(value)


def _restore_dataclass(target: Any, data: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(target)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise TypeError(
            f"{type(target).__qualname__} has no fields {unknown} (fields: {sorted(fields)})"
        )
    merged = {k: _merge(getattr(target, k), v) for k, v in data.items()}
    init = {k: v for k, v in merged.items() if fields[k].init}
    out = dataclasses.replace(target, **init)
    for key, value in merged.items():
        if not fields[key].init:
            object.__setattr__(out, key, value)  # works for frozen dataclasses too
    return out


def _restore_pydantic(target: Any, data: dict[str, Any]) -> Any:
    cls = type(target)
    fields = cls.model_fields
    extra_allowed = getattr(cls, "model_config", {}).get("extra") == "allow"
    unknown = sorted(set(data) - set(fields))
    if unknown and not extra_allowed:
        raise TypeError(f"{cls.__qualname__} has no fields {unknown} (fields: {sorted(fields)})")
    merged: dict[str, Any] = {name: getattr(target, name) for name in fields}
    extra = getattr(target, "__pydantic_extra__", None)
    if extra:
        merged.update(extra)
    merged.update(copy.deepcopy(data))
    try:
        out = cls.model_validate(merged, by_name=True)
    except TypeError:  # pydantic < 2.11 has no by_name
        out = cls.model_validate(merged)
    private = getattr(target, "__pydantic_private__", None)
    if private:
        object.__setattr__(out, "__pydantic_private__", copy.deepcopy(private))
    return out


# --------------------------------------------------------------------------------------------
# Registry


class _BuiltinHook:
    """A built-in hook whose module (and optional dependency) is imported on first use."""

    def __init__(self, framework: str, name: str) -> None:
        self.framework = framework
        self.hook_name = name

    def __call__(self, state: dict[str, Any], target: Any) -> Any:
        if self.framework == "langchain":
            from otel_replay.integrations.langchain import restore_langchain

            return restore_langchain(state, target)
        if self.framework == "langgraph":
            from otel_replay.integrations.langgraph import restore_langgraph

            return restore_langgraph(state, target)
        raise LookupError(f"no built-in restore hook for framework {self.framework!r}")

    def __repr__(self) -> str:
        return f"<built-in restore hook {self.hook_name}>"


_BUILTINS: dict[str, RestoreHook] = {
    "langchain": _BuiltinHook("langchain", "otel_replay.integrations.langchain.restore_langchain"),
    "langgraph": _BuiltinHook("langgraph", "otel_replay.integrations.langgraph.restore_langgraph"),
}
_lock = threading.Lock()
_registry: dict[str, RestoreHook] = dict(_BUILTINS)


def register_restore_hook(framework: str, hook: RestoreHook) -> RestoreHook | None:
    """Use ``hook`` for checkpoints of ``framework``; returns the hook it replaced, if any."""
    if not isinstance(framework, str) or not framework:
        raise ValueError(f"framework must be a non-empty string, got {framework!r}")
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__qualname__}")
    with _lock:
        previous = _registry.get(framework)
        _registry[framework] = hook
    return previous


def unregister_restore_hook(framework: str) -> RestoreHook | None:
    """Remove the hook of ``framework`` (it falls back to the generic hook); returns it."""
    with _lock:
        return _registry.pop(framework, None)


def registered_restore_hooks() -> dict[str, RestoreHook]:
    """A copy of the registry (framework -> hook)."""
    with _lock:
        return dict(_registry)


def get_restore_hook(framework: str) -> RestoreHook:
    """The hook for ``framework``: its registered hook, else :func:`restore_generic`."""
    with _lock:
        hook = _registry.get(framework)
    return hook if hook is not None else restore_generic


@contextmanager
def restore_hooks(hooks: Mapping[str, RestoreHook | None]) -> Iterator[dict[str, RestoreHook]]:
    """Register ``hooks`` for the duration of the block (``None`` unregisters a framework).

    On exit the registry is put back exactly as it was, whatever happened inside.
    """
    global _registry
    with _lock:
        saved = dict(_registry)
    try:
        for framework, hook in hooks.items():
            if hook is None:
                unregister_restore_hook(framework)
            else:
                register_restore_hook(framework, hook)
        yield registered_restore_hooks()
    finally:
        with _lock:
            _registry = saved


# --------------------------------------------------------------------------------------------
# Dispatch


def _isolate(target: Any) -> Any:
    if target is None:
        return None
    try:
        return copy.deepcopy(target)
    except Exception as exc:
        raise TypeError(
            f"cannot deep-copy the restore target ({type(target).__qualname__}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


_reporters: weakref.WeakKeyDictionary[MeterProvider, ErrorReporter] = weakref.WeakKeyDictionary()
_global_reporter: ErrorReporter | None = None


def _reporter(meter_provider: MeterProvider | None) -> ErrorReporter:
    global _global_reporter
    with _lock:
        if meter_provider is None:
            if _global_reporter is None:
                _global_reporter = ErrorReporter("restore_hook", get_meter(None))
            return _global_reporter
        reporter = _reporters.get(meter_provider)
        if reporter is None:
            reporter = _reporters[meter_provider] = ErrorReporter(
                "restore_hook", get_meter(meter_provider)
            )
        return reporter


def _failed(
    framework: str,
    hook: Any,
    exc: BaseException,
    meter_provider: MeterProvider | None,
) -> HookError:
    err = HookError(framework=framework, hook=hook_name(hook), exception=exc)
    # logged once per (hook, error type), counted in agent_replay.processor.errors
    _reporter(meter_provider).report(f"{framework} hook {err.hook}", exc)
    return err


def run_restore_hook(
    framework: str,
    state: dict[str, Any],
    target: Any,
    *,
    meter_provider: MeterProvider | None = None,
) -> tuple[Any, HookError | None]:
    """Run the hook of ``framework`` on a deep copy of ``target``.

    Returns ``(restored, None)`` on success and ``(target, error)`` (the caller's own,
    untouched target) when the hook raised; the failure is logged once per hook and error
    type and counted in ``agent_replay.processor.errors`` (``meter_provider``, default the
    global one). An async hook is run to completion with
    :func:`asyncio.run`; inside a running event loop use :func:`arun_restore_hook`.
    """
    hook = get_restore_hook(framework)
    try:
        result = hook(state, _isolate(target))
        if inspect.isawaitable(result):
            result = _run_awaitable(result, what=f"restore hook {hook_name(hook)}")
    except Exception as exc:
        return target, _failed(framework, hook, exc, meter_provider)
    return result, None


async def arun_restore_hook(
    framework: str,
    state: dict[str, Any],
    target: Any,
    *,
    meter_provider: MeterProvider | None = None,
) -> tuple[Any, HookError | None]:
    """Async :func:`run_restore_hook`: awaits async hooks, calls sync ones directly."""
    hook = get_restore_hook(framework)
    try:
        result = hook(state, _isolate(target))
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return target, _failed(framework, hook, exc, meter_provider)
    return result, None
