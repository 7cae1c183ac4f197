"""Deprecated: the names of ``otel_replay.checkpoints`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.model import checkpoints as _m0

__getattr__, __dir__ = moved(
    "otel_replay.checkpoints",
    {
        "Checkpoint": _m0,
        "CheckpointError": _m0,
        "CheckpointNotFoundError": _m0,
        "CheckpointRedactionError": _m0,
        "CheckpointStateError": _m0,
        "CheckpointStateTooLargeError": _m0,
        "CheckpointStore": _m0,
        "CheckpointStoreError": _m0,
        "DirectoryCheckpointStore": _m0,
        "InMemoryCheckpointStore": _m0,
        "KNOWN_FRAMEWORKS": _m0,
        "LANGCHAIN_STATE_KEYS": _m0,
        "StateRedactor": _m0,
        "UnorderedHistoryError": _m0,
        "canonical_json": _m0,
        "checkpoint": _m0,
        "decode_state": _m0,
        "encode_state": _m0,
        "get_checkpoint_store": _m0,
        "normalize_state": _m0,
        "set_checkpoint_store": _m0,
        "state_digest": _m0,
        "to_jsonable": _m0,
    },
)
