"""JSON text <-> Python objects for OTLP/JSON: ``orjson`` when installed, else the stdlib
(the fallback and the reference for error messages)."""

from __future__ import annotations

import json
from typing import Any

_orjson: Any
try:  # optional fast JSON codec; the stdlib is the fallback and the reference for messages
    import orjson

    _orjson = orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def _dumps(obj: Any) -> bytes:
    if _orjson is not None:
        try:
            return bytes(_orjson.dumps(obj))
        except TypeError:  # e.g. lone surrogates; the stdlib escapes them
            pass
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8", "backslashreplace"
    )


def _loads(raw: str | bytes) -> Any:
    if _orjson is not None:
        try:
            return _orjson.loads(raw)
        except ValueError:
            pass  # the stdlib gives the reference message (and accepts NaN, big ints)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"invalid UTF-8 at column {exc.start + 1}") from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nests too deeply") from None


def _json_error_text(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return str(exc)
