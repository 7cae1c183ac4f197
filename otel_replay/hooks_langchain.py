"""Deprecated: the names of ``otel_replay.hooks_langchain`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.integrations import langchain as _m0

__getattr__, __dir__ = moved(
    "otel_replay.hooks_langchain",
    {
        "MESSAGE_TYPES": _m0,
        "ROLE_TYPES": _m0,
        "is_message_dict": _m0,
        "message_from_json": _m0,
        "messages_from_json": _m0,
        "restore_langchain": _m0,
    },
)
