"""Deprecated: the names of ``otel_replay.record`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.capture import spans as _m0

__getattr__, __dir__ = moved(
    "otel_replay.record",
    {
        "AgentRun": _m0,
        "CallInterceptor": _m0,
        "Decision": _m0,
        "LLMCall": _m0,
        "ToolCall": _m0,
        "agent_run": _m0,
        "current_call_interceptor": _m0,
        "current_session_id": _m0,
        "decision": _m0,
        "llm_call": _m0,
        "reset_call_interceptor": _m0,
        "session": _m0,
        "set_call_interceptor": _m0,
        "to_attribute_json": _m0,
        "tool_call": _m0,
        "traced_llm": _m0,
        "traced_tool": _m0,
    },
)
