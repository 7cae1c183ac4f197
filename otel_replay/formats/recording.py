"""Recording: spans loaded from recording files, with their normalized steps and sessions."""

from __future__ import annotations

import bisect
import gc
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.core.sdkspan import Parts
from otel_replay.formats.errors import RecordingError, RecordingWarning, SkippedRecord
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError
from otel_replay.model.span_shapes import session_id_of
from otel_replay.model.steps import Step, normalize_span, step_of_parts

__all__ = ["Recording"]

_CHUNK = 4096  # spans normalized between progress calls


class Recording:
    """Spans loaded from one or more recording files, with normalized steps.

    ``warnings`` are the messages of everything skipped while loading, ``skipped`` the
    damaged records (:class:`SkippedRecord`), ``errors`` the files of a directory that could
    not be loaded at all (path -> error); ``paths`` are the files loaded.

    A compact recording (``load_recording(..., keep_spans=False)``) keeps only what its steps
    need: its ``spans`` list is empty, ``span_count`` and ``len()`` count the spans read.
    """

    def __init__(
        self,
        paths: Sequence[str],
        spans: Sequence[ReadableSpan],
        warnings: Sequence[str] = (),
        *,
        skipped: Sequence[SkippedRecord] = (),
        errors: Mapping[str, RecordingError] | None = None,
        origins: Sequence[tuple[int, str, int | None, int | None]] = (),
        parts: list[Parts] | None = None,
    ) -> None:
        self.paths: list[str] = list(paths)
        self.spans: list[ReadableSpan] = list(spans)
        #: compact: the span parts, until the steps are made of them
        self._parts = parts
        self._count = len(parts) if parts is not None else len(self.spans)
        #: compact: (trace id, span id) per span, in file order (for ``where``)
        self._ids: list[tuple[int, int | None]] | None = None
        self.warnings: list[str] = list(warnings)
        self.skipped: list[SkippedRecord] = list(skipped)
        self.errors: dict[str, RecordingError] = dict(errors or {})
        self._origins = list(origins)
        self._steps: list[Step] | None = None
        #: steps made while loading (``of_steps``), in file order (for ``where``)
        self._file_steps: list[Step] | None = None
        #: ``of_steps``: the items read and how each becomes its step, until normalized
        self._pending: tuple[list[Any], Callable[[Any], Step]] | None = None
        self._by_session: dict[str, list[Step]] | None = None
        self._sessions: list[str] | None = None

    @classmethod
    def of_steps(
        cls,
        paths: Sequence[str],
        items: list[Any],
        make: Callable[[Any], Step],
        warnings: Sequence[str] = (),
        *,
        skipped: Sequence[SkippedRecord] = (),
        errors: Mapping[str, RecordingError] | None = None,
        origins: Sequence[tuple[int, str, int | None, int | None]] = (),
    ) -> Recording:
        """A compact recording of one item per span read, in file order (``origins`` index
        them); ``make(item)`` is its step, called when the recording is normalized."""
        rec = cls(paths, (), warnings, skipped=skipped, errors=errors, origins=origins)
        rec._count = len(items)
        rec._pending = (items, make)
        return rec

    def __len__(self) -> int:
        return self._count

    @property
    def span_count(self) -> int:
        """The number of spans loaded (also of a compact recording)."""
        return self._count

    @property
    def compact(self) -> bool:
        """Whether only steps are kept (``load_recording(..., keep_spans=False)``)."""
        return (
            self._parts is not None
            or self._ids is not None
            or self._file_steps is not None
            or self._pending is not None
        )

    def __repr__(self) -> str:
        return (
            f"Recording(paths={self.paths!r}, spans={self._count}, warnings={len(self.warnings)})"
        )

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Normalize the spans into steps now (else on first use); ``progress(done, total)``
        is called every few thousand spans and at the end."""
        if self._steps is None:
            self._normalize(progress)

    def steps(self) -> list[Step]:
        """All spans as steps, sorted by (session id, sequence, start time).

        A span without a session attribute takes the session of its trace (from the first
        span of the trace that names one), so child spans join their agent's session. Steps
        without a sequence sort after the sequenced steps of their session.
        """
        if self._steps is None:
            self._normalize()
        assert self._steps is not None
        return list(self._steps)

    def sessions(self) -> list[str]:
        """Session ids in first-seen (file) order."""
        if self._sessions is None:
            self._normalize()
        assert self._sessions is not None
        return list(self._sessions)

    def steps_for_session(self, session_id: str) -> list[Step]:
        """Steps of one session, in :meth:`steps` order (empty if unknown)."""
        if self._by_session is None:
            self._normalize()
        assert self._by_session is not None
        return list(self._by_session.get(session_id, ()))

    def checkpoints(
        self, session_id: str | None = None, *, strict: bool = False
    ) -> list[Checkpoint]:
        """The checkpoints recorded (of one session), in (session, sequence) order.

        A malformed checkpoint span (e.g. one with neither state nor digest) is skipped with
        a :class:`RecordingWarning` naming its file and line; ``strict=True`` raises
        :class:`~otel_replay.model.errors.CheckpointError` with the same message instead.
        """
        out: list[Checkpoint] = []
        for step in self.steps() if session_id is None else self.steps_for_session(session_id):
            if step.kind != "checkpoint" or not step.checkpoint_id:
                continue
            try:
                out.append(Checkpoint.from_step(step))
            except CheckpointError as exc:
                where = self.where(step.trace_id, step.span_id) or ", ".join(self.paths)
                if strict:
                    raise CheckpointError(f"{where}: {exc}") from exc
                warnings.warn(f"skipped checkpoint: {where}: {exc}", RecordingWarning, stacklevel=2)
        return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))

    def where(self, trace_id: str | None, span_id: str | None) -> str | None:
        """Where the span with these hex ids was read: ``file:line`` (JSON lines) or
        ``file: at byte offset N`` (protobuf); ``None`` if unknown."""
        if not self._origins or span_id is None:
            return None
        if self._pending is not None:
            self._normalize()
        starts = [o[0] for o in self._origins]
        for i, (tid, sid) in enumerate(self._span_ids()):
            if sid is None or format(sid, "016x") != span_id:
                continue
            if trace_id is not None and format(tid, "032x") != trace_id:
                continue
            _, path, line, offset = self._origins[bisect.bisect_right(starts, i) - 1]
            if line is not None:
                return f"{path}:{line}"
            return f"{path}: at byte offset {offset}"
        return None

    def _span_ids(self) -> list[tuple[int, int | None]]:
        if self._parts is not None:
            return [(p[1], p[2]) for p in self._parts]
        if self._ids is not None:
            return self._ids
        if self._file_steps is not None:
            return [_ids_of(s) for s in self._file_steps]
        out: list[tuple[int, int | None]] = []
        for span in self.spans:
            ctx = span.context
            out.append((ctx.trace_id, ctx.span_id) if ctx is not None else (0, None))
        return out

    def _normalize_parts(
        self, parts: list[Parts], progress: Callable[[int, int], None] | None
    ) -> list[Step]:
        trace_session: dict[int, str] = {}
        for p in parts:
            tid = p[1]
            if tid in trace_session:
                continue
            sid = session_id_of(p[0], tid)
            if sid != format(tid, "032x"):
                trace_session[tid] = sid
        self._ids = [(p[1], p[2]) for p in parts]
        get = trace_session.get
        total = len(parts)
        steps: list[Step] = []
        ids: dict[int, tuple[int]] = {}  # one (id,) per trace / parent: they repeat
        for at in range(0, total, _CHUNK):
            chunk = [step_of_parts(p, get(p[1])) for p in parts[at : at + _CHUNK]]
            for step in chunk:
                d = step.__dict__
                tid = d["trace_id"]
                d["trace_id"] = ids.setdefault(tid[0], tid)
                pid = d["parent_span_id"]
                if pid is not None:
                    d["parent_span_id"] = ids.setdefault(pid[0], pid)
            steps.extend(chunk)
            if progress is not None:
                progress(len(steps), total)
        self._parts = None  # the steps hold the attributes now
        return steps

    def _normalize_items(
        self,
        pending: tuple[list[Any], Callable[[Any], Step]],
        progress: Callable[[int, int], None] | None,
    ) -> list[Step]:
        items, make = pending
        total = len(items)
        steps: list[Step] = []
        for at in range(0, total, _CHUNK):
            steps.extend([make(x) for x in items[at : at + _CHUNK]])
            if progress is not None:
                progress(len(steps), total)
        self._pending = None
        self._file_steps = steps
        return steps

    def _normalize(self, progress: Callable[[int, int], None] | None = None) -> None:
        was_enabled = gc.isenabled()
        gc.disable()  # many long-lived acyclic objects: the collector would rescan them
        try:
            if self._pending is not None:
                self._finish_normalize(self._normalize_items(self._pending, progress))
            elif self._parts is not None:
                self._finish_normalize(self._normalize_parts(self._parts, progress))
            else:
                self._normalize_spans()
        finally:
            if was_enabled:
                gc.enable()
        if progress is not None:
            progress(self._count, self._count)

    def _normalize_spans(self) -> None:
        trace_session: dict[int, str] = {}
        for span in self.spans:
            ctx = span.context
            tid = ctx.trace_id if ctx is not None else 0
            if tid in trace_session:
                continue
            sid = session_id_of(span.attributes, tid)
            if sid != format(tid, "032x"):
                trace_session[tid] = sid
        unsorted: list[Step] = []
        for span in self.spans:
            ctx = span.context
            step = normalize_span(span, trace_session.get(ctx.trace_id if ctx is not None else 0))
            unsorted.append(step)
        self._finish_normalize(unsorted)

    def _finish_normalize(self, unsorted: list[Step]) -> None:
        sessions = dict.fromkeys(s.session_id for s in unsorted)
        steps = sorted(
            unsorted,
            key=lambda s: (
                s.session_id,
                s.sequence is None,
                s.sequence if s.sequence is not None else 0,
                s.start_time_unix_nano,
            ),
        )
        by_session: dict[str, list[Step]] = {}
        for step in steps:
            by_session.setdefault(step.session_id, []).append(step)
        self._steps = steps
        self._by_session = by_session
        self._sessions = list(sessions)


def _ids_of(step: Step) -> tuple[int, int | None]:
    """``(trace id, span id)`` of a step as integers."""
    ids = getattr(step, "ids", None)  # a CompactStep's
    if ids is not None:
        return ids  # type: ignore[no-any-return]
    return int(step.trace_id, 16), int(step.span_id, 16)
