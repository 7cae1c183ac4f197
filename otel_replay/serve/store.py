"""The recording directory of ``otel-replay serve`` (``--baselines``) as an index kept up to
date incrementally: each :meth:`RecordingIndex.refresh` reads only what is new or changed
since the last one (by size and modification time): a new file, the lines appended to a
JSON-lines file (``.jsonl``, as a recording exporter writes it), a changed file of another
kind whole; it forgets the deleted files, and finds checkpoints by id in the index. It
answers like a :class:`~otel_replay.restore.sources.RecordingSource` of the directory, with
one difference: a span without a session attribute takes the session of its trace from the
lines read with it only."""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from otel_replay.capture.processor import select_after
from otel_replay.formats.appended import read_appended
from otel_replay.formats.compression import sniff_compression, strip_compression_suffix
from otel_replay.formats.errors import RecordingError, RecordingWarning
from otel_replay.formats.files import JSONL_SUFFIXES, PROTOBUF_SUFFIX, load_recording
from otel_replay.formats.recording import Recording
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError, CheckpointNotFoundError
from otel_replay.model.steps import Step
from otel_replay.model.stores import CheckpointStore, DirectoryCheckpointStore
from otel_replay.restore.sources import _checkpoint_after, _require_sequences

__all__ = ["RecordingIndex"]

#: Files read by their appended lines (others, compressed or protobuf, are read whole).
_APPENDABLE = ".jsonl"
_PROBE = 256


@dataclass
class _File:
    """One recording file as read so far."""

    signature: tuple[int, int]  # size, modification time (ns)
    identity: tuple[int, int] = (0, 0)  # device, inode
    #: the complete records read, in file order (one part per read of appended lines)
    parts: list[Recording] = field(default_factory=list)
    tail: Recording | None = None  # after the last newline: read again next time
    end: int | None = None  # JSON lines: byte offset after the last complete line read
    line_count: int = 0
    probe: bytes = b""  # the bytes before ``end``: an append keeps them, a rewrite not
    warnings: list[str] = field(default_factory=list)
    tail_warnings: list[str] = field(default_factory=list)
    checkpoints: dict[str, tuple[Recording, Step]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)

    def recordings(self) -> list[Recording]:
        return self.parts + [self.tail] if self.tail is not None else self.parts


def _step_order(s: Step) -> tuple[bool, int, int]:
    return (s.sequence is None, s.sequence if s.sequence is not None else 0, s.start_time_unix_nano)


def _contents(recording: Recording) -> tuple[dict[str, tuple[Recording, Step]], list[str]]:
    """The checkpoint steps and the sessions of ``recording``."""
    checkpoints = {}
    for step in recording.steps():
        if step.checkpoint_id is not None and step.kind == "checkpoint":
            checkpoints[step.checkpoint_id] = (recording, step)
    return checkpoints, recording.sessions()


def _probe(path: str, end: int) -> bytes:
    start = max(0, end - _PROBE)
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


class RecordingIndex:
    """The recording files at the top level of ``directory``, indexed by checkpoint id and
    session. Not thread-safe: refreshed and read by one thread."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory)
        self._files: dict[str, _File] = {}
        self._checkpoints: dict[str, tuple[str, Recording, Step]] = {}  # id -> where, step
        self._sessions: dict[str, list[str]] = {}  # session id -> files holding its steps
        #: Reads of files since the index was made (whole, or the lines appended).
        self.files_read = 0
        #: Bytes read from files since the index was made.
        self.bytes_read = 0

    def __repr__(self) -> str:
        return f"RecordingIndex({str(self.path)!r})"

    @property
    def warnings(self) -> list[str]:
        """The warnings of the files as read (torn tails of files being written, damaged
        records, files that could not be read), in file order."""
        out = []
        for name in sorted(self._files):
            f = self._files[name]
            out.extend(f.warnings + f.tail_warnings)
        return out

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        store = self.path / "checkpoints"
        return DirectoryCheckpointStore(store) if store.is_dir() else None

    def refresh(self) -> bool:
        """Read what is new or changed, forget the deleted files; whether anything changed.
        :class:`RecordingError` when the directory cannot be listed."""
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            raise RecordingError(
                f"{self.path}: cannot list directory: {exc.strerror or exc}"
            ) from None
        seen: dict[str, os.stat_result] = {}
        for name in names:
            if not strip_compression_suffix(name).endswith((*JSONL_SUFFIXES, PROTOBUF_SUFFIX)):
                continue
            path = os.path.join(self.path, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # deleted meanwhile
            if stat.S_ISREG(st.st_mode):
                seen[path] = st
        changed = [
            p
            for p, st in seen.items()
            if (f := self._files.get(p)) is None or f.signature != (st.st_size, st.st_mtime_ns)
        ]
        gone = [p for p in self._files if p not in seen]
        for path in gone:
            del self._files[path]
        for path in sorted(changed):
            st = seen[path]
            old = self._files.get(path)
            try:
                if old is not None and self._appended(old, path, st):
                    self._read_appended(old, path, st)
                else:
                    self._files[path] = self._read(path, st)
            except (OSError, RecordingError) as exc:  # e.g. deleted meanwhile
                self._files[path] = _File(
                    (st.st_size, st.st_mtime_ns), warnings=[f"skipped file: {path}: {exc}"]
                )
        if changed or gone:
            self._reindex()
        return bool(changed or gone)

    def _appended(self, old: _File, path: str, st: os.stat_result) -> bool:
        """Whether ``path`` is ``old`` with lines appended (same file, same bytes up to the
        end of the lines read)."""
        if old.end is None or st.st_size < old.end or old.identity != (st.st_dev, st.st_ino):
            return False
        return _probe(path, old.end) == old.probe

    def _read(self, path: str, st: os.stat_result) -> _File:
        """Read ``path`` from its start."""
        entry = _File((st.st_size, st.st_mtime_ns), (st.st_dev, st.st_ino))
        with open(path, "rb") as f:
            head = f.read(64)
        if path.endswith(_APPENDABLE) and sniff_compression(head, path) is None:
            entry.end = 0
            self._read_appended(entry, path, st)
            return entry
        self.files_read += 1
        self.bytes_read += st.st_size
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RecordingWarning)
            try:
                recording = load_recording(path, keep_spans=False)
            except RecordingError as exc:
                warnings.warn(f"skipped file: {exc}", RecordingWarning, stacklevel=1)
            else:
                entry.parts.append(recording)
                entry.checkpoints, sessions = _contents(recording)
                entry.sessions.update(sessions)
        entry.warnings = [str(w.message) for w in caught]
        return entry

    def _read_appended(self, entry: _File, path: str, st: os.stat_result) -> None:
        """Read the lines of ``path`` after those ``entry`` holds."""
        assert entry.end is not None
        self.files_read += 1
        got = read_appended(path, entry.end, entry.line_count)
        self.bytes_read += got.size_read
        if got.lines is not None:
            entry.parts.append(got.lines)
            checkpoints, sessions = _contents(got.lines)
            entry.checkpoints.update(checkpoints)
            entry.sessions.update(sessions)
        entry.warnings.extend(got.warnings)
        entry.tail = got.tail
        entry.tail_warnings = got.tail_warnings
        if got.end != entry.end:
            entry.probe = _probe(path, got.end)
        entry.end = got.end
        entry.line_count = got.line_count
        entry.signature = (st.st_size, st.st_mtime_ns)

    def _reindex(self) -> None:
        checkpoints: dict[str, tuple[str, Recording, Step]] = {}
        sessions: dict[str, list[str]] = {}
        for path in sorted(self._files):  # a checkpoint in two files: the later name wins
            entry = self._files[path]
            found = dict(entry.checkpoints)
            names = set(entry.sessions)
            if entry.tail is not None:
                tail_checkpoints, tail_sessions = _contents(entry.tail)
                found.update(tail_checkpoints)
                names.update(tail_sessions)
            for cid, (recording, step) in found.items():
                checkpoints[cid] = (path, recording, step)
            for sid in names:
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
        return _checkpoint_of(*found)

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
        for path, recording, step in self._checkpoints.values():
            if session_id is not None and step.session_id != session_id:
                continue
            try:
                out.append(_checkpoint_of(path, recording, step))
            except CheckpointError as exc:
                warnings.warn(f"skipped checkpoint: {exc}", RecordingWarning, stacklevel=2)
        return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))

    def _session_steps(self, session_id: str) -> list[Step]:
        """The session's steps from every part of every file holding some, in step order."""
        out: list[Step] = []
        parts = 0
        for path in self._sessions.get(session_id, ()):
            for recording in self._files[path].recordings():
                steps = recording.steps_for_session(session_id)
                if steps:
                    out.extend(steps)
                    parts += 1
        if parts > 1:
            out.sort(key=_step_order)
        return out


def _checkpoint_of(path: str, recording: Recording, step: Step) -> Checkpoint:
    """The checkpoint of a checkpoint span; a malformed one raises naming file and line."""
    try:
        return Checkpoint.from_step(step)
    except CheckpointError as exc:
        where = recording.where(step.trace_id, step.span_id) or path
        raise CheckpointError(f"{where}: {exc}") from exc
