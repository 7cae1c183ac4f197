"""Checkpoint stores: where envelopes too large for a span attribute are kept (the
:class:`CheckpointStore` protocol, in memory, in a directory) and the default store.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from otel_replay._proto.otel_replay.v1 import checkpoint_pb2
from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.model.errors import (
    CheckpointNotFoundError,
    CheckpointStateTooLargeError,
    CheckpointStoreError,
)

__all__ = [
    "CheckpointStore",
    "InMemoryCheckpointStore",
    "DirectoryCheckpointStore",
    "set_checkpoint_store",
    "get_checkpoint_store",
]

_ID_RE = re.compile(r"^[0-9A-Za-z_.-]{1,128}$")


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
    """Set the store :func:`~otel_replay.capture.checkpoint.checkpoint` uses by default; returns
    the previous one."""
    global _default_store
    with _store_lock:
        previous, _default_store = _default_store, store
    return previous


def get_checkpoint_store() -> CheckpointStore | None:
    return _default_store
