"""Matching calls to recorded steps: step keys, argument digests, and decoding of the
recorded attribute values that calls are compared with and served from."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from otel_replay.capture.spans import to_attribute_json

__all__ = ["argument_digest", "step_key", "stable_arguments"]


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


def _message_texts(message: dict[str, Any]) -> tuple[str, list[Any]]:
    texts: list[str] = []
    calls: list[Any] = []
    content = message.get("content")
    if isinstance(content, str):
        texts.append(content)
    for part in message.get("parts") or ():
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind == "tool_call":
            calls.append([part.get("name"), _stable_value(part.get("arguments"))])
        elif kind == "tool_call_response":
            response = part.get("response")
            texts.append(response if isinstance(response, str) else to_attribute_json(response))
    return "".join(texts), calls


def _stable_value(value: Any) -> Any:
    if isinstance(value, str):
        decoded = _decode(value)
        return decoded if isinstance(decoded, (dict, list)) else value
    return value


def stable_arguments(kind: str, value: Any) -> Any:
    """What a call is matched on: its arguments without volatile values.

    LLM messages keep only role, text (tool results included) and tool calls (name and
    arguments): message and tool-call ids, which change on every run, and the way an
    instrumentation spells a tool result are left out. Tool arguments given as a one-key
    mapping match the bare value (some instrumentations record only the value).
    """
    if kind == "llm" and isinstance(value, list):
        out = []
        for message in value:
            if not isinstance(message, dict):
                out.append(message)
                continue
            text, calls = _message_texts(message)
            out.append({"role": message.get("role"), "text": text, "tool_calls": calls})
        return out
    if kind == "tool":
        value = _stable_value(value)
        if isinstance(value, dict) and len(value) == 1:
            return next(iter(value.values()))
    return value
