"""Restore hook for LangChain checkpoints (framework ``langchain``).

Messages stored as ``{"type": ..., "data": {...}}`` (``messages_to_dict`` form) or as plain
``{"role": ..., "content": ...}`` dicts become ``langchain_core`` message objects. The class
is chosen through the explicit allow-list :data:`MESSAGE_TYPES`; nothing named in recorded
data is ever imported.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

try:
    from langchain_core.agents import AgentAction
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ChatMessage,
        ChatMessageChunk,
        FunctionMessage,
        FunctionMessageChunk,
        HumanMessage,
        HumanMessageChunk,
        RemoveMessage,
        SystemMessage,
        SystemMessageChunk,
        ToolMessage,
        ToolMessageChunk,
    )
except ImportError as exc:  # pragma: no cover - exercised with langchain-core hidden
    raise ImportError(
        "the LangChain restore hook needs langchain-core: pip install otel-replay[langchain]"
    ) from exc

__all__ = [
    "MESSAGE_TYPES",
    "ROLE_TYPES",
    "restore_langchain",
    "message_from_json",
    "messages_from_json",
    "is_message_dict",
]

#: ``messages_to_dict`` type name -> message class. The only classes ever instantiated.
MESSAGE_TYPES: Mapping[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
    "tool": ToolMessage,
    "function": FunctionMessage,
    "chat": ChatMessage,
    "remove": RemoveMessage,
    "HumanMessageChunk": HumanMessageChunk,
    "AIMessageChunk": AIMessageChunk,
    "SystemMessageChunk": SystemMessageChunk,
    "ToolMessageChunk": ToolMessageChunk,
    "FunctionMessageChunk": FunctionMessageChunk,
    "ChatMessageChunk": ChatMessageChunk,
}

#: Chat role (OpenAI / OTel GenAI style) -> ``messages_to_dict`` type name.
ROLE_TYPES: Mapping[str, str] = {
    "user": "human",
    "human": "human",
    "assistant": "ai",
    "ai": "ai",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "function",
}

_STATE_KEYS = ("messages", "intermediate_steps", "run_name", "run_id", "metadata")


def is_message_dict(value: Any) -> bool:
    """Whether ``value`` is a message in ``messages_to_dict`` form with an allowed type."""
    return (
        isinstance(value, Mapping)
        and set(value) == {"type", "data"}
        and isinstance(value["type"], str)
        and value["type"] in MESSAGE_TYPES
        and isinstance(value["data"], Mapping)
    )


def message_from_json(value: Any) -> BaseMessage:
    """One message from ``{"type", "data"}`` or ``{"role", "content", ...}`` form.

    Message objects pass through unchanged. Unknown types or roles raise ``ValueError``.
    """
    if isinstance(value, BaseMessage):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"a message must be a mapping, got {type(value).__qualname__}")
    if "data" in value and "type" in value:
        type_name = value["type"]
        cls = MESSAGE_TYPES.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            raise ValueError(
                f"unknown message type {type_name!r}; allowed: {sorted(MESSAGE_TYPES)}"
            )
        data = value["data"]
        if not isinstance(data, Mapping):
            raise TypeError(f"message {type_name!r}: data must be a mapping")
        return cls.model_validate(dict(data))
    role = value.get("role", value.get("type"))
    type_name = ROLE_TYPES.get(role) if isinstance(role, str) else None
    if type_name is None:
        raise ValueError(f"unknown message role {role!r}; allowed: {sorted(ROLE_TYPES)}")
    fields = {k: v for k, v in value.items() if k not in ("role", "type", "parts")}
    if "content" not in fields and isinstance(value.get("parts"), list):
        fields["content"] = "".join(
            str(p.get("content", ""))
            for p in value["parts"]
            if isinstance(p, Mapping) and p.get("type") == "text"
        )
    return MESSAGE_TYPES[type_name].model_validate(fields)


def messages_from_json(values: Sequence[Any]) -> list[BaseMessage]:
    """A list of messages (see :func:`message_from_json`); errors name the index."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"messages must be a list, got {type(values).__qualname__}")
    out = []
    for i, value in enumerate(values):
        try:
            out.append(message_from_json(value))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"messages[{i}]: {exc}") from exc
    return out


def _action(value: Any, index: int) -> AgentAction:
    if isinstance(value, AgentAction):
        return value
    if not isinstance(value, Mapping) or "tool" not in value:
        raise TypeError(f"intermediate_steps[{index}][0] must be an AgentAction mapping")
    return AgentAction(
        tool=value["tool"], tool_input=value.get("tool_input", ""), log=value.get("log", "")
    )


def _steps(values: Any) -> list[tuple[AgentAction, Any]]:
    out = []
    for i, pair in enumerate(values or []):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"intermediate_steps[{i}] must be an (action, observation) pair")
        out.append((_action(pair[0], i), copy.deepcopy(pair[1])))
    return out


def restore_langchain(state: Mapping[str, Any], target: Any = None) -> Any:
    """Restore a ``langchain`` checkpoint state into ``target``.

    Sets ``messages`` (message objects), ``intermediate_steps`` (``(AgentAction,
    observation)`` tuples), ``run_name``, ``run_id`` and ``metadata``: as keys of a mapping
    target (a new dict when ``target`` is ``None``) or as attributes of an object.
    """
    unknown = sorted(set(state) - set(_STATE_KEYS))
    if unknown:
        raise ValueError(f"langchain state has unknown keys {unknown}")
    restored: dict[str, Any] = {
        "messages": messages_from_json(state.get("messages") or []),
        "intermediate_steps": _steps(state.get("intermediate_steps")),
        "run_name": state.get("run_name"),
        "run_id": state.get("run_id"),
        "metadata": copy.deepcopy(dict(state.get("metadata") or {})),
    }
    if target is None:
        return restored
    if isinstance(target, MutableMapping):
        target.update(restored)
        return target
    if isinstance(target, Mapping):
        raise TypeError(f"cannot restore into a read-only mapping ({type(target).__qualname__})")
    for key, value in restored.items():
        setattr(target, key, value)
    return target
