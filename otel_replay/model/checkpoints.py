"""Checkpoints: typed JSON state, the envelope, checkpoint stores and :func:`checkpoint`.

State is canonical JSON only (never pickle or eval). Small state travels inline on the
checkpoint span (``agent_replay.checkpoint.state``); larger state goes to a
:class:`CheckpointStore` and the span carries the state's content digest.

State bound for a store is first redacted by every :class:`StateRedactor` among the span
processors of the provider that records the checkpoint span (a
:class:`~otel_replay.capture.redaction.RedactionProcessor`), with the same rules that redact inline
state; the digest is that of the redacted state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from opentelemetry import trace

from otel_replay._proto.otel_replay.v1 import checkpoint_pb2
from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.model.steps import Step

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointStateError",
    "CheckpointStateTooLargeError",
    "CheckpointStoreError",
    "CheckpointNotFoundError",
    "CheckpointRedactionError",
    "UnorderedHistoryError",
    "CheckpointStore",
    "StateRedactor",
    "InMemoryCheckpointStore",
    "DirectoryCheckpointStore",
    "checkpoint",
    "set_checkpoint_store",
    "get_checkpoint_store",
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
_ID_RE = re.compile(r"^[0-9A-Za-z_.-]{1,128}$")


class CheckpointError(Exception):
    """Base class of checkpoint errors."""


class CheckpointStateError(CheckpointError, TypeError):
    """State cannot be represented as JSON; the message names the path (``$.a.b``)."""


class CheckpointStateTooLargeError(CheckpointError, ValueError):
    """Serialized state exceeds a size cap."""

    def __init__(self, size: int, cap: int, what: str = "checkpoint state") -> None:
        super().__init__(f"{what} is {size} bytes, over the cap of {cap} bytes")
        self.size = size
        self.cap = cap


class CheckpointStoreError(CheckpointError, OSError):
    """A checkpoint store could not write or read."""


class UnorderedHistoryError(CheckpointError, ValueError):
    """Steps cannot be ordered after a checkpoint: they carry no step sequence number."""


class CheckpointNotFoundError(CheckpointError, LookupError):
    """No checkpoint with the requested id."""


class CheckpointRedactionError(CheckpointError, ValueError):
    """State bound for a checkpoint store could not be redacted; nothing was stored."""


@runtime_checkable
class StateRedactor(Protocol):
    """A span processor that also redacts checkpoint state bound for a store."""

    def redact_checkpoint_state(self, data: bytes) -> bytes:
        """Canonical JSON state ``data`` with secrets redacted (``data`` itself if none)."""


# --------------------------------------------------------------------------------------------
# JSON conversion and framework state shapes


def to_jsonable(value: Any, path: str = "$", _depth: int = 0) -> Any:
    """Convert ``value`` to plain JSON types or raise :class:`CheckpointStateError`.

    Accepts dict (str keys), list/tuple, str, int, finite float, bool, None, dataclasses,
    pydantic models (``model_dump``) and LangChain messages (``{"type", "data"}`` form).
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
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointStateError(
                    f"state has a non-string key {k!r} ({type(k).__name__}) at {path}"
                )
            out[k] = to_jsonable(v, _child(path, k), _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{path}[{i}]", _depth + 1) for i, v in enumerate(value)]
    if _is_langchain_message(value):
        data = value.model_dump(mode="json")
        return {"type": value.type, "data": to_jsonable(data, f"{path}.data", _depth + 1)}
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return to_jsonable(value.model_dump(mode="json"), path, _depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), path, _depth + 1)
    raise CheckpointStateError(
        f"state is not JSON-serializable at {path}: object of type {type(value).__qualname__}"
    )


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


# --------------------------------------------------------------------------------------------
# Checkpoint record


def _int_in(value: Any, low: int, high: int) -> int | None:
    """``value`` if it is an int (not bool) in ``[low, high)``, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value < high:
        return value
    return None


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as recorded: metadata plus (lazily decoded) JSON state."""

    id: str
    session_id: str
    sequence: int
    framework: str
    label: str | None
    created_time_unix_nano: int
    parent_id: str | None
    state_digest: str
    state_size: int
    step_sequence: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    state_json: bytes | None = None  # None when the state lives in a store

    @property
    def state_location(self) -> str:
        return "inline" if self.state_json is not None else "store"

    def load_state(
        self, store: CheckpointStore | None = None, *, max_bytes: int | None = None
    ) -> dict[str, Any]:
        """Return the decoded state, fetching it from ``store`` when it is not inline.

        The state's digest is verified against the one recorded on the checkpoint span.
        """
        raw = self.state_json
        if raw is None:
            store = store or get_checkpoint_store()
            if store is None:
                raise CheckpointStoreError(
                    f"checkpoint {self.id}: state ({self.state_size} bytes) is in a checkpoint "
                    f"store, but no store was given"
                )
            raw = store.get(self.id).state_json
        if state_digest(raw) != self.state_digest:
            raise CheckpointStateError(
                f"checkpoint {self.id}: state digest mismatch "
                f"(expected {self.state_digest}, got {state_digest(raw)})"
            )
        return decode_state(raw, max_bytes=max_bytes, where=f"checkpoint {self.id} state")

    def to_envelope(self, state_json: bytes | None = None) -> checkpoint_pb2.CheckpointEnvelope:
        return checkpoint_pb2.CheckpointEnvelope(
            checkpoint_id=self.id,
            session_id=self.session_id,
            sequence=self.sequence,
            framework=self.framework,
            label=self.label or "",
            created_time_unix_nano=self.created_time_unix_nano,
            parent_checkpoint_id=self.parent_id or "",
            state_json=state_json if state_json is not None else (self.state_json or b""),
            state_digest=self.state_digest,
            step_sequence=self.step_sequence or 0,
            trace_id=self.trace_id or "",
            span_id=self.span_id or "",
        )

    @classmethod
    def from_envelope(cls, env: checkpoint_pb2.CheckpointEnvelope) -> Checkpoint:
        return cls(
            id=env.checkpoint_id,
            session_id=env.session_id,
            sequence=env.sequence,
            framework=env.framework,
            label=env.label or None,
            created_time_unix_nano=env.created_time_unix_nano,
            parent_id=env.parent_checkpoint_id or None,
            state_digest=env.state_digest,
            state_size=len(env.state_json),
            step_sequence=env.step_sequence or None,
            trace_id=env.trace_id or None,
            span_id=env.span_id or None,
            state_json=bytes(env.state_json),
        )

    @classmethod
    def from_step(cls, step: Step) -> Checkpoint:
        """Rebuild a checkpoint from its (recorded) checkpoint span; raises on a malformed one."""
        a = step.attributes
        cid = a.get(c.CHECKPOINT_ID)
        if not isinstance(cid, str) or not cid:
            raise CheckpointError(f"span {step.span_id} is not a checkpoint span")
        inline = a.get(c.CHECKPOINT_STATE)
        digest = a.get(c.CHECKPOINT_STATE_DIGEST)
        state_json = inline.encode("utf-8") if isinstance(inline, str) else None
        if not isinstance(digest, str):
            if state_json is None:
                raise CheckpointError(f"checkpoint {cid}: span carries neither state nor digest")
            digest = state_digest(state_json)
        size = _int_in(a.get(c.CHECKPOINT_STATE_SIZE), 0, 1 << 63)
        seq = _int_in(a.get(c.CHECKPOINT_SEQUENCE), 0, 1 << 63)
        created = _int_in(a.get(c.CHECKPOINT_CREATED_TIME), 0, 1 << 64)
        return cls(
            id=cid,
            session_id=step.session_id,
            sequence=seq if isinstance(seq, int) else 0,
            framework=str(a.get(c.CHECKPOINT_FRAMEWORK) or "custom"),
            label=a.get(c.CHECKPOINT_LABEL) if isinstance(a.get(c.CHECKPOINT_LABEL), str) else None,
            created_time_unix_nano=created
            if isinstance(created, int)
            else step.start_time_unix_nano,
            parent_id=a.get(c.CHECKPOINT_PARENT_ID)
            if isinstance(a.get(c.CHECKPOINT_PARENT_ID), str)
            else None,
            state_digest=digest,
            state_size=size if isinstance(size, int) else len(state_json or b""),
            step_sequence=_int_in(step.sequence, 0, 1 << 63),
            trace_id=step.trace_id,
            span_id=step.span_id,
            state_json=state_json,
        )


# --------------------------------------------------------------------------------------------
# Stores


@runtime_checkable
class CheckpointStore(Protocol):
    """Where checkpoint envelopes too large for a span attribute are kept (keyed by id)."""

    def put(self, envelope: checkpoint_pb2.CheckpointEnvelope) -> None:
        """Store ``envelope`` atomically; raise :class:`CheckpointStoreError` on failure."""

    def get(self, checkpoint_id: str) -> checkpoint_pb2.CheckpointEnvelope:
        """Return the envelope; raise :class:`CheckpointNotFoundError` if absent."""


class InMemoryCheckpointStore:
    """A process-local store (tests, short-lived runs)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, envelope: checkpoint_pb2.CheckpointEnvelope) -> None:
        blob = envelope.SerializeToString()
        with self._lock:
            self._data[envelope.checkpoint_id] = blob

    def get(self, checkpoint_id: str) -> checkpoint_pb2.CheckpointEnvelope:
        with self._lock:
            blob = self._data.get(checkpoint_id)
        if blob is None:
            raise CheckpointNotFoundError(f"checkpoint {checkpoint_id} is not in the store")
        env = checkpoint_pb2.CheckpointEnvelope()
        env.ParseFromString(blob)
        return env

    def __len__(self) -> int:
        return len(self._data)


class DirectoryCheckpointStore:
    """Envelopes as ``<dir>/<checkpoint_id>.binpb`` files, written atomically."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes

    def _file(self, checkpoint_id: str) -> Path:
        if not _ID_RE.match(checkpoint_id):
            raise CheckpointStoreError(f"invalid checkpoint id {checkpoint_id!r}")
        return self.path / f"{checkpoint_id}.binpb"

    def put(self, envelope: checkpoint_pb2.CheckpointEnvelope) -> None:
        target = self._file(envelope.checkpoint_id)
        blob = envelope.SerializeToString()
        tmp_name = None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, target)
            tmp_name = None
        except OSError as exc:
            raise CheckpointStoreError(
                f"could not write checkpoint {envelope.checkpoint_id} to {target}: {exc}"
            ) from exc
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass

    def get(self, checkpoint_id: str) -> checkpoint_pb2.CheckpointEnvelope:
        target = self._file(checkpoint_id)
        cap = self.max_bytes or env_int(c.ENV_STATE_MAX_BYTES, c.DEFAULT_STATE_MAX_BYTES) + 4096
        try:
            size = target.stat().st_size
            if size > cap:
                raise CheckpointStateTooLargeError(size, cap, f"checkpoint file {target}")
            blob = target.read_bytes()
        except FileNotFoundError as exc:
            raise CheckpointNotFoundError(
                f"checkpoint {checkpoint_id} is not in the store {self.path}"
            ) from exc
        except OSError as exc:
            raise CheckpointStoreError(f"could not read {target}: {exc}") from exc
        env = checkpoint_pb2.CheckpointEnvelope()
        try:
            env.ParseFromString(blob)
        except Exception as exc:  # protobuf raises DecodeError (a subclass of Exception)
            raise CheckpointStoreError(f"{target} is not a checkpoint envelope: {exc}") from exc
        if env.checkpoint_id != checkpoint_id:
            raise CheckpointStoreError(
                f"{target} holds checkpoint {env.checkpoint_id!r}, not {checkpoint_id!r}"
            )
        return env


_store_lock = threading.Lock()
_default_store: CheckpointStore | None = None


def set_checkpoint_store(store: CheckpointStore | None) -> CheckpointStore | None:
    """Set the store :func:`checkpoint` uses by default; returns the previous one."""
    global _default_store
    with _store_lock:
        previous, _default_store = _default_store, store
    return previous


def get_checkpoint_store() -> CheckpointStore | None:
    return _default_store


# --------------------------------------------------------------------------------------------
# Per-session checkpoint numbering


class _SessionClock:
    """Checkpoint sequence numbers and parent ids per session (bounded LRU)."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[int, str | None]] = OrderedDict()
        self._max = max_sessions

    def peek(self, session_id: str) -> tuple[int, str | None]:
        with self._lock:
            seq, last = self._sessions.get(session_id, (0, None))
        return seq + 1, last

    def commit(self, session_id: str, sequence: int, checkpoint_id: str) -> None:
        with self._lock:
            seq, _ = self._sessions.get(session_id, (0, None))
            self._sessions[session_id] = (max(seq, sequence), checkpoint_id)
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)

    def snapshot(self) -> OrderedDict[str, tuple[int, str | None]]:
        """A copy of the numbering state (tests restore it afterwards)."""
        with self._lock:
            return OrderedDict(self._sessions)

    def restore(self, snapshot: OrderedDict[str, tuple[int, str | None]]) -> None:
        with self._lock:
            self._sessions = OrderedDict(snapshot)

    def seed(self, session_id: str, parent_id: str | None, sequence: int = 0) -> None:
        """Start numbering a (restored) session after ``sequence`` with ``parent_id``."""
        with self._lock:
            self._sessions[session_id] = (sequence, parent_id)
            self._sessions.move_to_end(session_id)


SESSION_CLOCK = _SessionClock()


def _reinit_clock_lock() -> None:
    SESSION_CLOCK._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_clock_lock)


# --------------------------------------------------------------------------------------------
# checkpoint()


def checkpoint(
    state: Any,
    *,
    framework: str = "custom",
    label: str | None = None,
    session_id: str | None = None,
    store: CheckpointStore | None = None,
    inline_max_bytes: int | None = None,
    max_bytes: int | None = None,
    tracer: trace.Tracer | None = None,
) -> str:
    """Record a checkpoint span in the current session and return the checkpoint id.

    State is validated and serialized first; oversize or unserializable state raises
    (:class:`CheckpointStateTooLargeError`, :class:`CheckpointStateError`) before anything is
    written. State above ``inline_max_bytes`` (default ``OTEL_REPLAY_INLINE_STATE_MAX_BYTES``,
    16 KiB) goes to ``store`` (default: :func:`set_checkpoint_store`'s); without a store
    that is an error too. Store-bound state is redacted first by the provider's
    :class:`StateRedactor` processors; a redaction failure raises
    :class:`CheckpointRedactionError` and nothing is stored or exported.
    """
    from otel_replay.capture.spans import current_session_id  # local: record imports checkpoints

    framework_eff, shaped = normalize_state(framework, state)
    if framework_eff not in KNOWN_FRAMEWORKS:
        # unknown frameworks keep their name but use the custom shape
        pass
    data = encode_state(shaped)
    cap = (
        env_int(c.ENV_STATE_MAX_BYTES, c.DEFAULT_STATE_MAX_BYTES)
        if max_bytes is None
        else max_bytes
    )
    if len(data) > cap:
        raise CheckpointStateTooLargeError(len(data), cap)
    inline_cap = (
        env_int(c.ENV_INLINE_STATE_MAX_BYTES, c.DEFAULT_INLINE_STATE_MAX_BYTES)
        if inline_max_bytes is None
        else inline_max_bytes
    )
    inline = len(data) <= inline_cap
    target_store = store if store is not None else get_checkpoint_store()
    if not inline and target_store is None:
        raise CheckpointStateTooLargeError(
            len(data),
            inline_cap,
            "checkpoint state (inline cap; configure a CheckpointStore via "
            "set_checkpoint_store() or ReplayProcessor(checkpoint_store=...) for larger state)",
        )

    current = trace.get_current_span()
    cur_ctx = current.get_span_context()
    sid = session_id or current_session_id()
    if sid is None and cur_ctx.is_valid:
        attrs = getattr(current, "attributes", None)
        if isinstance(attrs, Mapping):
            for key in (c.SESSION_ID, c.GEN_AI_CONVERSATION_ID, "session.id"):
                v = attrs.get(key)
                if isinstance(v, str) and v:
                    sid = v
                    break
        if sid is None:
            sid = format(cur_ctx.trace_id, "032x")

    checkpoint_id = uuid.uuid4().hex
    created = time.time_ns()
    tracer = tracer or trace.get_tracer("otel_replay")
    start_attrs: dict[str, Any] = {
        c.STEP_KIND: c.KIND_CHECKPOINT,
        c.CHECKPOINT_ID: checkpoint_id,
        c.CHECKPOINT_FRAMEWORK: framework_eff,
        c.CHECKPOINT_CREATED_TIME: created,
    }
    if label:
        start_attrs[c.CHECKPOINT_LABEL] = label
    if sid is not None:
        start_attrs[c.SESSION_ID] = sid
    span = tracer.start_span(
        f"checkpoint {label}" if label else "checkpoint", attributes=start_attrs
    )
    # From here on, failures must not export a half-written checkpoint: the span is only
    # ended (and so exported) once everything succeeded.
    if sid is None:
        sid = format(span.get_span_context().trace_id, "032x")
        span.set_attribute(c.SESSION_ID, sid)
    if not inline:
        data = _redact_for_store(tracer, span, data, checkpoint_id)
        if len(data) > cap:
            raise CheckpointStateTooLargeError(len(data), cap, "redacted checkpoint state")
    digest = state_digest(data)
    seq, parent = SESSION_CLOCK.peek(sid)
    ckpt = Checkpoint(
        id=checkpoint_id,
        session_id=sid,
        sequence=seq,
        framework=framework_eff,
        label=label,
        created_time_unix_nano=created,
        parent_id=parent,
        state_digest=digest,
        state_size=len(data),
        trace_id=format(span.get_span_context().trace_id, "032x"),
        span_id=format(span.get_span_context().span_id, "016x"),
        state_json=data if inline else None,
    )
    if not inline:
        assert target_store is not None
        try:
            target_store.put(ckpt.to_envelope(state_json=data))
        except CheckpointStoreError:
            raise
        except Exception as exc:
            raise CheckpointStoreError(
                f"could not store checkpoint {checkpoint_id}: {type(exc).__name__}: {exc}"
            ) from exc
    span.set_attributes(
        {
            c.CHECKPOINT_SEQUENCE: seq,
            c.CHECKPOINT_STATE_DIGEST: digest,
            c.CHECKPOINT_STATE_SIZE: len(data),
            c.CHECKPOINT_STATE_LOCATION: "inline" if inline else "store",
        }
    )
    if parent:
        span.set_attribute(c.CHECKPOINT_PARENT_ID, parent)
    if inline:
        span.set_attribute(c.CHECKPOINT_STATE, data.decode("utf-8"))
    SESSION_CLOCK.commit(sid, seq, checkpoint_id)
    span.end()
    return checkpoint_id


def _redact_for_store(tracer: Any, span: Any, data: bytes, checkpoint_id: str) -> bytes:
    """``data`` redacted by each :class:`StateRedactor` processor of the tracer's provider.

    The tracer's processors are used even when the span is not sampled (a non-recording span).
    """
    processors = (
        getattr(tracer, "span_processor", None)  # an SDK Tracer
        or getattr(getattr(tracer, "_real_tracer", None), "span_processor", None)  # ProxyTracer
        or getattr(span, "_span_processor", None)  # an SDK Span from a wrapping tracer
    )
    redactors: list[StateRedactor] = []
    _find_redactors(processors, redactors, 0)
    for redactor in redactors:
        try:
            data = redactor.redact_checkpoint_state(data)
        except Exception as exc:
            raise CheckpointRedactionError(
                f"checkpoint {checkpoint_id}: state bound for the checkpoint store could not be "
                f"redacted ({type(exc).__name__}); nothing was stored"
            ) from exc
        if not isinstance(data, bytes):
            raise CheckpointRedactionError(
                f"checkpoint {checkpoint_id}: {type(redactor).__qualname__} returned "
                f"{type(data).__qualname__}, not bytes; nothing was stored"
            )
    return data


def _find_redactors(processor: Any, found: list[StateRedactor], depth: int) -> None:
    """Append the :class:`StateRedactor` processors in ``processor`` (a multi-processor)."""
    if processor is None or depth > 8:
        return
    if isinstance(processor, StateRedactor):
        found.append(processor)
        return
    children = getattr(processor, "_span_processors", None)  # the SDK's multi-processors
    if isinstance(children, (tuple, list)):
        for child in children:
            _find_redactors(child, found, depth + 1)
