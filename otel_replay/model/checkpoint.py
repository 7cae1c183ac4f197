"""The :class:`Checkpoint` record: read from a checkpoint span (a step) or a store's
envelope, written as an envelope, its state loaded and verified against its digest.

Small state travels inline on the checkpoint span (``agent_replay.checkpoint.state``);
larger state is in a :class:`~otel_replay.model.stores.CheckpointStore` and the span carries
the state's content digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_replay._proto.otel_replay.v1 import checkpoint_pb2
from otel_replay.core import conventions as c
from otel_replay.model.errors import CheckpointError, CheckpointStateError, CheckpointStoreError
from otel_replay.model.state import decode_state, state_digest
from otel_replay.model.steps import Step
from otel_replay.model.stores import CheckpointStore, get_checkpoint_store

__all__ = ["Checkpoint"]


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
