"""Matching calls to recorded steps: step keys, argument digests, and decoding of the
recorded attribute values that calls are compared with and served from."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from otel_replay.capture.spans import to_attribute_json

__all__ = ["argument_digest", "step_key"]


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
