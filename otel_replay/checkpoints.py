"""Deprecated: the names of ``otel_replay.checkpoints`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.capture import checkpoint as _m0
from otel_replay.model import checkpoint as _m1
from otel_replay.model import errors as _m2
from otel_replay.model import state as _m3
from otel_replay.model import stores as _m4

__getattr__, __dir__ = moved(
    "otel_replay.checkpoints",
    {
        "Checkpoint": _m1,
        "CheckpointError": _m2,
        "CheckpointNotFoundError": _m2,
        "CheckpointRedactionError": _m2,
        "CheckpointStateError": _m2,
        "CheckpointStateTooLargeError": _m2,
        "CheckpointStore": _m4,
        "CheckpointStoreError": _m2,
        "DirectoryCheckpointStore": _m4,
        "InMemoryCheckpointStore": _m4,
        "KNOWN_FRAMEWORKS": _m3,
        "LANGCHAIN_STATE_KEYS": _m3,
        "StateRedactor": _m0,
        "UnorderedHistoryError": _m2,
        "canonical_json": _m3,
        "checkpoint": _m0,
        "decode_state": _m3,
        "encode_state": _m3,
        "get_checkpoint_store": _m4,
        "normalize_state": _m3,
        "set_checkpoint_store": _m4,
        "state_digest": _m3,
        "to_jsonable": _m3,
    },
)
