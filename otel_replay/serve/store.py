"""The recording directory of ``otel-replay serve`` (``--baselines``) as an index kept up to
date incrementally: each :meth:`RecordingIndex.refresh` reads only the files that are new or
changed since the last one (by size and modification time) and forgets the deleted ones, and
checkpoints are found by id in the index. It answers like a
:class:`~otel_replay.restore.sources.RecordingSource` of the directory, with one difference:
a span without a session attribute takes the session of its trace from its own file only."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from otel_replay.capture.processor import select_after
from otel_replay.formats.compression import strip_compression_suffix
from otel_replay.formats.errors import RecordingError, RecordingWarning
from otel_replay.formats.files import JSONL_SUFFIXES, PROTOBUF_SUFFIX, load_recording
from otel_replay.formats.recording import Recording
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError, CheckpointNotFoundError
from otel_replay.model.steps import Step
from otel_replay.model.stores import CheckpointStore, DirectoryCheckpointStore
from otel_replay.restore.sources import _checkpoint_after, _require_sequences

__all__ = ["RecordingIndex"]


@dataclass
class _File:
    """One recording file as last read."""

    signature: tuple[int, int]  # size, modification time (ns)
    recording: Recording | None  # None: it could not be read
    warnings: list[str] = field(default_factory=list)
    checkpoints: dict[str, Step] = field(default_factory=dict)


def _step_order(s: Step) -> tuple[bool, int, int]:
    return (s.sequence is None, s.sequence if s.sequence is not None else 0, s.start_time_unix_nano)


class RecordingIndex:
    """The recording files at the top level of ``directory``, indexed by checkpoint id and
    session. Not thread-safe: refreshed and read by one thread."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory)
        self._files: dict[str, _File] = {}
        self._checkpoints: dict[str, tuple[str, Step]] = {}  # id -> (file, checkpoint step)
        self._sessions: dict[str, list[str]] = {}  # session id -> files holding its steps
        #: Files read since the index was made (a changed file counts again).
        self.files_read = 0

    def __repr__(self) -> str:
        return f"RecordingIndex({str(self.path)!r})"

    @property
    def warnings(self) -> list[str]:
        """The warnings of the files as last read (torn tails of files being written, damaged
        records, files that could not be read), in file order."""
        return [w for name in sorted(self._files) for w in self._files[name].warnings]

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        store = self.path / "checkpoints"
        return DirectoryCheckpointStore(store) if store.is_dir() else None

    def refresh(self) -> bool:
        """Read the new and changed files, forget the deleted ones; whether anything changed.
        :class:`RecordingError` when the directory cannot be listed."""
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            raise RecordingError(
                f"{self.path}: cannot list directory: {exc.strerror or exc}"
            ) from None
        seen: dict[str, tuple[int, int]] = {}
        for name in names:
            if not strip_compression_suffix(name).endswith((*JSONL_SUFFIXES, PROTOBUF_SUFFIX)):
                continue
            path = os.path.join(self.path, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # deleted meanwhile
            if os.path.isfile(path):
                seen[path] = (st.st_size, st.st_mtime_ns)
        changed = [
            p for p, sig in seen.items() if (f := self._files.get(p)) is None or f.signature != sig
        ]
        gone = [p for p in self._files if p not in seen]
        for path in gone:
            del self._files[path]
        for path in sorted(changed):
            self._files[path] = self._read(path, seen[path])
        if changed or gone:
            self._reindex()
        return bool(changed or gone)

    def _read(self, path: str, signature: tuple[int, int]) -> _File:
        self.files_read += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RecordingWarning)
            try:
                recording: Recording | None = load_recording(path, keep_spans=False)
            except RecordingError as exc:  # e.g. a file just created, still empty
                recording = None
                warnings.warn(f"skipped file: {exc}", RecordingWarning, stacklevel=1)
        entry = _File(signature, recording, [str(w.message) for w in caught])
        if recording is not None:
            for step in recording.steps():
                if step.checkpoint_id is not None and step.kind == "checkpoint":
                    entry.checkpoints[step.checkpoint_id] = step
        return entry

    def _reindex(self) -> None:
        checkpoints: dict[str, tuple[str, Step]] = {}
        sessions: dict[str, list[str]] = {}
        for path in sorted(self._files):  # a checkpoint in two files: the later name wins
            entry = self._files[path]
            for cid, step in entry.checkpoints.items():
                checkpoints[cid] = (path, step)
            if entry.recording is not None:
                for sid in entry.recording.sessions():
                    sessions.setdefault(sid, []).append(path)
        self._checkpoints = checkpoints
        self._sessions = sessions

    # ------------------------------------------------------------------ StepSource

    def find_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        found = self._checkpoints.get(checkpoint_id)
        if found is None:
            raise CheckpointNotFoundError(
                f"checkpoint {checkpoint_id} is not in the recording {self.path} "
                f"({len(self._checkpoints)} checkpoints recorded)"
            )
        path, step = found
        try:
            return Checkpoint.from_step(step)
        except CheckpointError as exc:
            recording = self._files[path].recording
            where = (recording.where(step.trace_id, step.span_id) if recording else None) or path
            raise CheckpointError(f"{where}: {exc}") from exc

    def steps_after(
        self, checkpoint: Checkpoint, min_importance: float | None = None
    ) -> list[Step]:
        after = _checkpoint_after(checkpoint, repr(self))
        steps = self._session_steps(checkpoint.session_id)
        _require_sequences(steps, checkpoint, str(self.path))
        return select_after(steps, after, min_importance)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """The well-formed checkpoints (a malformed one is skipped with a warning)."""
        out = []
        for _path, step in self._checkpoints.values():
            if session_id is not None and step.session_id != session_id:
                continue
            try:
                out.append(Checkpoint.from_step(step))
            except CheckpointError as exc:
                warnings.warn(f"skipped checkpoint: {exc}", RecordingWarning, stacklevel=2)
        return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))

    def _session_steps(self, session_id: str) -> list[Step]:
        """The session's steps from every file holding some, in step order."""
        out: list[Step] = []
        for path in self._sessions.get(session_id, ()):
            recording = self._files[path].recording
            if recording is not None:
                out.extend(recording.steps_for_session(session_id))
        if len(self._sessions.get(session_id, ())) > 1:
            out.sort(key=_step_order)
        return out
