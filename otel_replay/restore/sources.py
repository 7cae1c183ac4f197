"""Where restore finds checkpoints and the steps recorded after them.

A :class:`StepSource` answers four questions: find a checkpoint by id, list the steps
after a checkpoint (in step-sequence order, only from the checkpoint's session, never
anything before it), list checkpoints, and name the store holding large checkpoint states.
Implementations here: :class:`ProcessorSource` (a live :class:`ReplayProcessor`),
:class:`RecordingSource` (a recording file or directory); the trace backends
(:mod:`~otel_replay.restore.phoenix`, :mod:`~otel_replay.restore.jaeger`) implement the same
protocol and share the step-order checks defined here.
:func:`~otel_replay.restore.resolve.source_for` turns a processor, a path, a URL or a source
into a source.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from otel_replay.capture.processor import ReplayProcessor, select_after
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    UnorderedHistoryError,
)
from otel_replay.model.steps import Step
from otel_replay.model.stores import CheckpointStore, DirectoryCheckpointStore

__all__ = [
    "StepSource",
    "ProcessorSource",
    "RecordingSource",
    "UnorderedHistoryError",
    "describe_source",
]


@runtime_checkable
class StepSource(Protocol):
    """Checkpoints and post-checkpoint steps of recorded sessions.

    Errors: a missing checkpoint raises :class:`~otel_replay.model.checkpoints.CheckpointNotFoundError`
    whose message names the id and the source; transport or format errors propagate as they
    are (never an empty answer in their place).
    """

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        """The store of checkpoint states too large to travel on their span (or ``None``)."""
        ...

    def find_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint with ``checkpoint_id``."""
        ...

    def steps_after(
        self, checkpoint: Checkpoint, min_importance: float | None = None
    ) -> list[Step]:
        """Steps of the checkpoint's session with a higher step sequence than the checkpoint's
        span, with importance >= ``min_importance`` when given, in sequence order."""
        ...

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """Checkpoints of ``session_id`` (or of all sessions), in (session, sequence) order."""
        ...


def describe_source(source: object) -> str:
    """A short description of a source for error messages."""
    r = repr(source)
    if r.startswith("<") and " object at 0x" in r:
        return type(source).__qualname__
    return r


def _checkpoint_after(checkpoint: Checkpoint, where: str) -> int:
    """The checkpoint's step sequence; :class:`UnorderedHistoryError` if it has none."""
    if checkpoint.step_sequence is None:
        raise UnorderedHistoryError(
            f"checkpoint {checkpoint.id} in {where} has no step sequence number "
            f"(agent_replay.step.sequence): record with a ReplayProcessor installed"
        )
    return checkpoint.step_sequence


def _require_sequences(steps: Iterable[Step], checkpoint: Checkpoint, where: str) -> None:
    """:class:`UnorderedHistoryError` if some of ``steps`` have no step sequence."""
    unordered = sum(1 for s in steps if s.sequence is None)
    if unordered:
        raise UnorderedHistoryError(
            f"{unordered} steps of session {checkpoint.session_id} in {where} have no step "
            f"sequence number, so they cannot be placed before or after checkpoint "
            f"{checkpoint.id}"
        )


class ProcessorSource:
    """The live post-checkpoint buffer of a :class:`ReplayProcessor`.

    ``steps_after`` raises :class:`~otel_replay.capture.processor.IncompleteHistoryError` when some
    of the steps were evicted from the buffer.
    """

    def __init__(self, processor: ReplayProcessor) -> None:
        self.processor = processor

    def __repr__(self) -> str:
        return f"ProcessorSource({self.processor.buffered_steps} buffered steps)"

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        return self.processor.checkpoint_store

    def find_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        return self.processor.get_checkpoint(checkpoint_id)

    def steps_after(
        self, checkpoint: Checkpoint, min_importance: float | None = None
    ) -> list[Step]:
        _checkpoint_after(checkpoint, repr(self))
        return self.processor.steps_after(checkpoint.id, min_importance=min_importance)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        return self.processor.checkpoints(session_id)


class RecordingSource:
    """A recording file or directory (read with :func:`otel_replay.formats.files.load_recording`).

    The checkpoint store is ``checkpoint_store`` when given, else the ``checkpoints``
    directory of the recording directory (or of the file's directory) when it exists.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, checkpoint_store: CheckpointStore | None = None
    ) -> None:
        self.path = Path(path)
        self.recording = load_recording(self.path)
        if checkpoint_store is None:
            base = self.path if self.path.is_dir() else self.path.parent
            if (base / "checkpoints").is_dir():
                checkpoint_store = DirectoryCheckpointStore(base / "checkpoints")
        self._store = checkpoint_store
        self._checkpoint_steps: dict[str, Step] = {}
        for step in self.recording.steps():
            if step.checkpoint_id is not None and step.kind == "checkpoint":
                self._checkpoint_steps[step.checkpoint_id] = step

    def __repr__(self) -> str:
        return f"RecordingSource({str(self.path)!r})"

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        return self._store

    def find_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        step = self._checkpoint_steps.get(checkpoint_id)
        if step is None:
            raise CheckpointNotFoundError(
                f"checkpoint {checkpoint_id} is not in the recording {self.path} "
                f"({len(self._checkpoint_steps)} checkpoints recorded)"
            )
        return self._checkpoint_of(step)

    def _checkpoint_of(self, step: Step) -> Checkpoint:
        """The checkpoint of a checkpoint span; a malformed one raises naming file and line."""
        try:
            return Checkpoint.from_step(step)
        except CheckpointError as exc:
            where = self.recording.where(step.trace_id, step.span_id) or str(self.path)
            raise CheckpointError(f"{where}: {exc}") from exc

    def steps_after(
        self, checkpoint: Checkpoint, min_importance: float | None = None
    ) -> list[Step]:
        after = _checkpoint_after(checkpoint, repr(self))
        steps = self.recording.steps_for_session(checkpoint.session_id)
        _require_sequences(steps, checkpoint, str(self.path))
        return select_after(steps, after, min_importance)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """The well-formed checkpoints (a malformed checkpoint span is skipped with a
        :class:`~otel_replay.formats.errors.RecordingWarning` naming file and line)."""
        out = []
        for step in self._checkpoint_steps.values():
            if session_id is not None and step.session_id != session_id:
                continue
            try:
                out.append(self._checkpoint_of(step))
            except CheckpointError as exc:
                warnings.warn(f"skipped checkpoint: {exc}", RecordingWarning, stacklevel=2)
        return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))
