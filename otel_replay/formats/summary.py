"""A recording's outline read in one streaming pass: spans, sessions, steps per session and
checkpoints, at flat memory (``otel-replay inspect --no-steps`` on large recordings).

:func:`summarize_recording` reads files exactly as :func:`~otel_replay.formats.files.load_recording`
does (same checks, warnings, skipped records and errors; ``strict``) but keeps of each record
only counts per trace and the checkpoint spans: what it reports equals what the loaded
:class:`~otel_replay.formats.recording.Recording` reports (``sessions()``, step counts,
``checkpoints()``).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.core.sdkspan import Parts, span_parts
from otel_replay.formats.errors import RecordingError, RecordingWarning, SkippedRecord, _where
from otel_replay.formats.files import LoadProgress, _read_files
from otel_replay.formats.outline_decode import AVAILABLE, OutlineLines
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError
from otel_replay.model.span_shapes import session_id_of
from otel_replay.model.steps import step_of_parts

__all__ = ["RecordingSummary", "summarize_recording"]


class RecordingSummary:
    """What :func:`summarize_recording` read: ``paths``, ``warnings``, ``skipped``,
    ``errors`` and ``span_count`` as on a :class:`~otel_replay.formats.recording.Recording`."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.warnings: list[str] = []
        self.skipped: list[SkippedRecord] = []
        self.errors: dict[str, RecordingError] = {}
        self.span_count = 0
        self._traces: dict[int, int] = {}  # trace id -> spans, in first-seen order
        self._trace_session: dict[int, str] = {}
        #: checkpoint spans: (parts, where they were read)
        self._checkpoints: list[tuple[Parts, str]] = []
        self._lines = OutlineLines(self._traces, self._trace_session) if AVAILABLE else None

    def __len__(self) -> int:
        return self.span_count

    def add(self, load: Any, spans: list[Any], line: int | None, offset: int | None) -> None:
        """The sink of one record's spans (``FileLoad.sink``)."""
        traces = self._traces
        trace_session = self._trace_session
        where: str | None = None
        for span in spans:
            p = span if type(span) is tuple else span_parts(span)
            attrs, tid, sid = p[0], p[1], p[2]
            if not tid or not sid:
                load.bad_ids += 1
            n = traces.get(tid)
            traces[tid] = 1 if n is None else n + 1
            if tid not in trace_session:
                session = session_id_of(attrs, tid)
                if session != format(tid, "032x"):
                    trace_session[tid] = session
            if type(attrs.get(c.CHECKPOINT_ID)) is str:
                if where is None:
                    where = _where(load.path, line, offset if line is None else None)[:-2]
                self._checkpoints.append((p, where))
        self.span_count += len(spans)

    def fast_line(self, load: Any, raw: bytes, line: int | None = None, offset: int = 0) -> bool:
        """Whether one JSON line was read here (``OutlineLines``), not by the decoder."""
        lines = self._lines
        if lines is None:
            return False
        n = lines.read(load, raw)
        if n is None:
            return False
        self.span_count += n
        return True

    def _session(self, tid: int) -> str:
        return self._trace_session.get(tid) or format(tid, "032x")

    def sessions(self) -> list[str]:
        """Session ids in first-seen (file) order."""
        return list(dict.fromkeys(self._session(t) for t in self._traces))

    def step_counts(self) -> dict[str, int]:
        """Steps (spans) per session."""
        out: dict[str, int] = {}
        for tid, n in self._traces.items():
            sid = self._session(tid)
            out[sid] = out.get(sid, 0) + n
        return out

    def checkpoints(self, *, strict: bool = False) -> list[Checkpoint]:
        """The checkpoints, as :meth:`Recording.checkpoints` returns and warns them."""
        out: list[Checkpoint] = []
        steps = sorted(
            (
                (step_of_parts(p, self._trace_session.get(p[1])), where)
                for p, where in self._checkpoints
            ),
            key=lambda sw: (
                sw[0].session_id,
                sw[0].sequence is None,
                sw[0].sequence if sw[0].sequence is not None else 0,
                sw[0].start_time_unix_nano,
            ),
        )
        for step, where in steps:
            if step.kind != c.KIND_CHECKPOINT or not step.checkpoint_id:
                continue
            try:
                out.append(Checkpoint.from_step(step))
            except CheckpointError as exc:
                if strict:
                    raise CheckpointError(f"{where}: {exc}") from exc
                warnings.warn(f"skipped checkpoint: {where}: {exc}", RecordingWarning, stacklevel=2)
        return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))


def summarize_recording(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_file_bytes: int | None = None,
    strict: bool = False,
    progress: LoadProgress | None = None,
) -> RecordingSummary:
    """Read the recording at ``path`` in one streaming pass (arguments, checks, warnings and
    errors as :func:`~otel_replay.formats.files.load_recording`)."""
    summary = RecordingSummary()
    loaded, _, notes, skipped, errors, _ = _read_files(
        os.fspath(path),
        max_bytes=max_bytes,
        max_file_bytes=max_file_bytes,
        strict=strict,
        keep_spans=False,
        progress=progress,
        sink=_Sink(summary),
    )
    summary.paths, summary.warnings, summary.skipped, summary.errors = (
        loaded,
        notes,
        skipped,
        errors,
    )
    return summary


class _Sink:
    """``FileLoad.sink`` of a summary: its records' spans, and whole lines it reads itself
    (``fast_line``, see :func:`~otel_replay.formats.readers.load_jsonl`)."""

    def __init__(self, summary: RecordingSummary) -> None:
        self.add = summary.add
        self.fast_line = summary.fast_line

    def __call__(self, load: Any, spans: list[Any], line: int | None, offset: int | None) -> None:
        self.add(load, spans, line, offset)
