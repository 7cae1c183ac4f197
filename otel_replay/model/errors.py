"""Checkpoint errors: :class:`CheckpointError` and its subclasses, and
:class:`LangGraphRestoreError` (here rather than in the LangGraph integration, so that it can
be imported and caught without importing LangGraph)."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointStateError",
    "CheckpointStateTooLargeError",
    "CheckpointStoreError",
    "CheckpointNotFoundError",
    "CheckpointRedactionError",
    "UnorderedHistoryError",
    "LangGraphRestoreError",
]


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


class LangGraphRestoreError(RuntimeError):
    """A LangGraph checkpoint could not be written into the target thread."""
