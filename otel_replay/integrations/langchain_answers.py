"""LangChain values to and from the GenAI shapes spans record: live messages as GenAI
messages (what a call is matched on), and recorded answers as LangChain values (what a served
call returns)."""

from __future__ import annotations

import json
import uuid
from typing import Any

try:
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
except ImportError as exc:  # pragma: no cover - exercised with langchain-core hidden
    raise ImportError(
        "the served LangChain answers need langchain-core: pip install otel-replay[langchain]"
    ) from exc

__all__ = ["genai_messages", "served_message", "served_tool_value"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _decode(raw: Any) -> Any:
    """A recorded attribute value as JSON (text that is not JSON stays text)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def genai_messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages in GenAI form (``{"role", "parts"}``), as the spans record them."""
    out: list[dict[str, Any]] = []
    for m in messages:
        parts: list[dict[str, Any]] = []
        text = m.content if isinstance(m.content, str) else m.text
        if text:
            parts.append({"type": "text", "content": text})
        for call in getattr(m, "tool_calls", None) or ():
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": call["name"],
                    "arguments": call["args"],
                }
            )
        msg: dict[str, Any] = {"role": _ROLES.get(m.type, m.type), "parts": parts}
        call_id = getattr(m, "tool_call_id", None)
        if call_id:
            msg["tool_call_id"] = call_id
        out.append(msg)
    return out


def served_message(call: Any, chunk: bool = False) -> Any:
    """The recorded answer as an ``AIMessage`` (``AIMessageChunk``): text, tool calls, usage."""
    value = _decode(call.recorded_output)
    messages = value if isinstance(value, list) else [value]
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, str):
            text.append(m)
            continue
        if not isinstance(m, dict):
            continue
        if isinstance(m.get("content"), str):
            text.append(m["content"])
        for part in m.get("parts") or ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("content"), str):
                text.append(part["content"])
            elif part.get("type") == "tool_call":
                args = part.get("arguments")
                if isinstance(args, str):
                    args = _decode(args)
                calls.append(
                    {
                        "name": str(part.get("name")),
                        "args": args if isinstance(args, dict) else {},
                        "id": part.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                        "type": "tool_call",
                    }
                )
    step = call.recorded
    usage = None
    if step is not None and (step.input_tokens is not None or step.output_tokens is not None):
        i, o = step.input_tokens or 0, step.output_tokens or 0
        usage = {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}
    content = "".join(text)
    if chunk:
        return AIMessageChunk(
            content=content,
            tool_call_chunks=[
                {
                    "name": t["name"],
                    "args": json.dumps(t["args"]),
                    "id": t["id"],
                    "index": n,
                    "type": "tool_call_chunk",
                }
                for n, t in enumerate(calls)
            ],
            usage_metadata=usage,  # type: ignore[arg-type]
        )
    return AIMessage(content=content, tool_calls=calls, usage_metadata=usage)  # type: ignore[arg-type]


def served_tool_value(call: Any, tool_call_id: Any) -> Any:
    """The recorded result: text stays text (a ``ToolMessage``'s content always is); a tool
    called without a tool call gets a recorded JSON object or array back decoded."""
    raw = call.recorded_output
    if isinstance(raw, str) and tool_call_id is None:
        value = _decode(raw)
        if isinstance(value, (dict, list)):
            return value
    return raw
