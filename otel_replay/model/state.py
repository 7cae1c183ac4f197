"""Checkpoint state: conversion to JSON, the framework state shapes, canonical encoding,
digest and size-capped decoding.

State is canonical JSON only (never pickle or eval).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.model.errors import CheckpointStateError, CheckpointStateTooLargeError

__all__ = [
    "to_jsonable",
    "normalize_state",
    "encode_state",
    "canonical_json",
    "decode_state",
    "state_digest",
    "KNOWN_FRAMEWORKS",
    "LANGCHAIN_STATE_KEYS",
]

KNOWN_FRAMEWORKS = ("custom", "langchain", "langgraph")
LANGCHAIN_STATE_KEYS = ("messages", "intermediate_steps", "run_name", "run_id", "metadata")
_MAX_DEPTH = 100


def to_jsonable(
    value: Any, path: str = "$", _depth: int = 0, _active: dict[int, str] | None = None
) -> Any:
    """Convert ``value`` to plain JSON types or raise :class:`CheckpointStateError`.

    Accepts dict (str keys), list/tuple, str, int, finite float, bool, None, dataclasses,
    pydantic models (``model_dump``) and LangChain messages (``{"type", "data"}`` form). A
    value that contains itself raises, naming both paths.
    """
    if _depth > _MAX_DEPTH:
        raise CheckpointStateError(f"state nests deeper than {_MAX_DEPTH} levels at {path}")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CheckpointStateError(f"state has a non-finite number ({value}) at {path}")
        return value
    active = {} if _active is None else _active
    key = id(value)
    if key in active:
        raise CheckpointStateError(
            f"state contains a reference cycle: {path} is the object already at {active[key]}"
        )
    active[key] = path
    try:
        return _container(value, path, _depth, active)
    finally:
        del active[key]


def _container(value: Any, path: str, depth: int, active: dict[int, str]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointStateError(
                    f"state has a non-string key {k!r} ({type(k).__name__}) at {path}"
                )
            out[k] = to_jsonable(v, _child(path, k), depth + 1, active)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{path}[{i}]", depth + 1, active) for i, v in enumerate(value)]
    if _is_langchain_message(value):
        data = _model_dump(value, path)
        return {"type": value.type, "data": to_jsonable(data, f"{path}.data", depth + 1, active)}
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return to_jsonable(_model_dump(value, path), path, depth + 1, active)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name), _child(path, f.name), depth + 1, active)
            for f in dataclasses.fields(value)
        }
    raise CheckpointStateError(
        f"state is not JSON-serializable at {path}: object of type {type(value).__qualname__}"
    )


def _model_dump(value: Any, path: str) -> Any:
    try:
        return value.model_dump(mode="json")
    except RecursionError:
        raise CheckpointStateError(
            f"state at {path}: {type(value).__qualname__}.model_dump() recursed without end "
            "(a reference cycle?)"
        ) from None
    except Exception as exc:
        raise CheckpointStateError(
            f"state at {path}: {type(value).__qualname__}.model_dump() failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _child(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _is_langchain_message(value: Any) -> bool:
    mod = type(value).__module__
    return (
        mod.startswith("langchain_core.messages")
        and hasattr(value, "type")
        and hasattr(value, "content")
        and hasattr(value, "model_dump")
    )


def _langchain_action(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        return to_jsonable(value, path)
    if hasattr(value, "tool") and hasattr(value, "tool_input"):
        return {
            "tool": value.tool,
            "tool_input": to_jsonable(value.tool_input, f"{path}.tool_input"),
            "log": getattr(value, "log", ""),
        }
    return to_jsonable(value, path)


def normalize_state(framework: str, state: Any) -> tuple[str, dict[str, Any]]:
    """Validate ``state`` against the framework's shape; return (framework, JSON state).

    * ``custom`` (and unknown frameworks): ``{"data": {...}}``. A mapping that is not
      already exactly ``{"data": {...}}`` is wrapped as the ``data`` dict.
    * ``langchain``: ``messages``, ``intermediate_steps``, ``run_name``, ``run_id``,
      ``metadata``; missing keys get empty defaults, unknown keys are an error.
    * ``langgraph``: ``{"values": {...}, "next": [...], "metadata": {...}}``.
    """
    if not isinstance(framework, str) or not framework:
        raise CheckpointStateError(f"framework must be a non-empty string, got {framework!r}")
    if framework == "langchain":
        if not isinstance(state, Mapping):
            raise CheckpointStateError(
                f"langchain state must be a mapping, got {type(state).__qualname__}"
            )
        unknown = sorted(set(state) - set(LANGCHAIN_STATE_KEYS))
        if unknown:
            raise CheckpointStateError(
                f"langchain state has unknown keys {unknown}; allowed: {list(LANGCHAIN_STATE_KEYS)}"
            )
        steps = state.get("intermediate_steps") or []
        out = {
            "messages": to_jsonable(list(state.get("messages") or []), "$.messages"),
            "intermediate_steps": [
                [
                    _langchain_action(pair[0], f"$.intermediate_steps[{i}][0]"),
                    to_jsonable(pair[1], f"$.intermediate_steps[{i}][1]"),
                ]
                for i, pair in enumerate(_pairs(steps))
            ],
            "run_name": to_jsonable(state.get("run_name"), "$.run_name"),
            "run_id": to_jsonable(
                str(state["run_id"]) if state.get("run_id") is not None else None, "$.run_id"
            ),
            "metadata": to_jsonable(dict(state.get("metadata") or {}), "$.metadata"),
        }
        return framework, out
    if framework == "langgraph":
        if not isinstance(state, Mapping) or "values" not in state:
            raise CheckpointStateError(
                'langgraph state must be a mapping with a "values" key '
                '(e.g. {"values": graph.get_state(config).values})'
            )
        values = to_jsonable(state["values"], "$.values")
        if not isinstance(values, dict):
            raise CheckpointStateError("langgraph state $.values must be a mapping")
        return framework, {
            "values": values,
            "next": to_jsonable(list(state.get("next") or []), "$.next"),
            "metadata": to_jsonable(dict(state.get("metadata") or {}), "$.metadata"),
        }
    # custom and unknown frameworks share the custom shape
    if isinstance(state, Mapping) and set(state) == {"data"} and isinstance(state["data"], Mapping):
        data = state["data"]
    elif (
        isinstance(state, Mapping)
        or dataclasses.is_dataclass(state)
        or hasattr(state, "model_dump")
    ):
        data = state
    else:
        raise CheckpointStateError(
            f"custom state must be a mapping, dataclass or pydantic model, got "
            f"{type(state).__qualname__}"
        )
    converted = to_jsonable(data, "$.data")
    if not isinstance(converted, dict):
        raise CheckpointStateError("custom state $.data must be a mapping")
    return framework, {"data": converted}


def _pairs(steps: Any) -> list[tuple[Any, Any]]:
    out = []
    for i, pair in enumerate(steps):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise CheckpointStateError(
                f"langchain state $.intermediate_steps[{i}] must be an (action, observation) pair"
            )
        out.append((pair[0], pair[1]))
    return out


def encode_state(state: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, compact, UTF-8, no NaN)."""
    return canonical_json(state).encode("utf-8")


def canonical_json(state: Mapping[str, Any]) -> str:
    """Canonical JSON text (sorted keys, compact, non-ASCII kept, no NaN)."""
    return json.dumps(
        state, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def state_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decode_state(data: bytes | str, *, max_bytes: int | None = None, where: str = "state") -> Any:
    """Decode JSON state with a size cap; errors name ``where``."""
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError as exc:
        raise CheckpointStateError(f"{where} is not valid UTF-8 text: {exc}") from exc
    cap = (
        env_int(c.ENV_STATE_MAX_BYTES, c.DEFAULT_STATE_MAX_BYTES)
        if max_bytes is None
        else max_bytes
    )
    if len(raw) > cap:
        raise CheckpointStateTooLargeError(len(raw), cap, f"{where}")
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointStateError(f"{where} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise CheckpointStateError(f"{where} nests too deeply") from exc
    if not isinstance(value, dict):
        raise CheckpointStateError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} overflows a double")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")
