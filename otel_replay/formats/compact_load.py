"""Loading a recording as compact steps, in one streaming pass (``otel-replay diff`` on
large recordings).

:func:`load_compact_steps` reads files exactly as :func:`~otel_replay.formats.files.load_recording`
does (same checks, warnings, skipped records and errors; ``strict``) and returns a
:class:`~otel_replay.formats.recording.Recording` with the same steps, sessions and
``where()``, but no spans: the lines of an uncompressed JSON lines file that
:class:`~otel_replay.formats.steps_decode.StepLines` reads become
:class:`~otel_replay.model.compact_step.CompactStep` objects, which read the rest of their
step back from the file (by byte offset) when it is needed; every other record (protobuf,
compressed files, lines of other shapes, checkpoint spans) becomes full
:class:`~otel_replay.model.steps.Step` objects as in a compact ``load_recording``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, cast

from otel_replay.core.sdkspan import Parts, span_parts
from otel_replay.formats.compression import open_regular, sniff_compression
from otel_replay.formats.errors import RecordingError, SkippedRecord, _Invalid
from otel_replay.formats.files import LoadProgress, _Decoder, _read_files
from otel_replay.formats.json_text import _loads
from otel_replay.formats.recording import Recording
from otel_replay.formats.steps_decode import AVAILABLE, StepLines
from otel_replay.model.compact_step import CompactStep
from otel_replay.model.span_shapes import session_id_of
from otel_replay.model.steps import Step, step_of_parts

__all__ = ["load_compact_steps"]

_CACHED_LINES = 4  # decoded lines a reader keeps (steps read back are often neighbours)


def load_compact_steps(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_file_bytes: int | None = None,
    strict: bool = False,
    progress: LoadProgress | None = None,
) -> Recording:
    """The recording at ``path`` with compact steps (arguments, checks, warnings and errors
    as :func:`~otel_replay.formats.files.load_recording`; see the module docstring)."""
    sink = _StepSink()
    loaded, _, notes, skipped, errors, _ = _read_files(
        os.fspath(path),
        max_bytes=max_bytes,
        max_file_bytes=max_file_bytes,
        strict=strict,
        keep_spans=False,
        progress=progress,
        sink=sink,
    )
    return sink.recording(loaded, notes, skipped, errors)


class LineReader:
    """Reads the full steps of one uncompressed JSON lines file back, by the byte offset
    and size of their line (the last few lines decoded are kept)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lines: OrderedDict[tuple[int, int], list[Any]] = OrderedDict()

    def step(self, line: Any, index: int, session_id: str) -> Step:
        """The step of span ``index`` of the line at ``line`` = (byte offset, size); raises
        :class:`RecordingError` when the file no longer holds that line."""
        parts = self._parts(line)
        if index >= len(parts):
            raise self._changed(line[0])
        return step_of_parts(parts[index], session_id)

    def _changed(self, offset: int) -> RecordingError:
        return RecordingError(f"{self.path}: changed while it was read (at byte offset {offset})")

    def _parts(self, line: tuple[int, int]) -> list[Any]:
        parts = self._lines.get(line)
        if parts is not None:
            self._lines.move_to_end(line)
            return parts
        offset, size = line
        with open_regular(self.path) as f:
            f.seek(offset)
            raw = f.read(size)
        decoder = _Decoder()
        decoder.compact = True
        decoder.share_strings = False
        parts = []
        try:
            if len(raw) != size:
                raise ValueError
            decoder.from_json(_loads(raw), parts)
        except (ValueError, _Invalid):
            raise self._changed(offset) from None
        self._lines[line] = parts
        if len(self._lines) > _CACHED_LINES:
            self._lines.popitem(last=False)
        return parts


class _StepSink:
    """``FileLoad.sink`` of a compact-step load: records decoded by the general decoder
    (their parts) and whole lines read by :class:`StepLines` (``fast_line``), in file order."""

    def __init__(self) -> None:
        self.items: list[CompactStep | Parts] = []
        self.trace_session: dict[int, str] = {}
        self.origins: list[tuple[int, str, int | None, int | None]] = []
        self._lines = StepLines(self.trace_session) if AVAILABLE else None
        self._readers: dict[str, LineReader | None] = {}

    def __call__(self, load: Any, spans: list[Any], line: int | None, offset: int | None) -> None:
        items = self.items
        trace_session = self.trace_session
        self.origins.append((len(items), load.path, line, offset))
        for span in spans:
            p = span if type(span) is tuple else span_parts(span)
            tid = p[1]
            if not tid or not p[2]:
                load.bad_ids += 1
            if tid not in trace_session:
                sid = session_id_of(p[0], tid)
                if sid != format(tid, "032x"):
                    trace_session[tid] = sid
            items.append(p)

    def fast_line(self, load: Any, raw: bytes, line: int | None = None, offset: int = 0) -> bool:
        """Whether one JSON line was read here as compact steps (not by the decoder)."""
        lines = self._lines
        if lines is None:
            return False
        reader = self._reader(load.path)
        if reader is None:
            return False
        steps = lines.read(load, raw, reader, (offset, len(raw)))
        if steps is None:
            return False
        self.origins.append((len(self.items), load.path, line, None))
        self.items.extend(steps)
        return True

    def _reader(self, path: str) -> LineReader | None:
        """The reader of ``path``; ``None`` for a compressed file (offsets are of the
        decompressed stream: its lines take the general path)."""
        if path not in self._readers:
            with open_regular(path) as f:
                plain = sniff_compression(f.read(64), path) is None
            self._readers[path] = LineReader(path) if plain else None
        return self._readers[path]

    def recording(
        self,
        loaded: list[str],
        notes: list[str],
        skipped: list[SkippedRecord],
        errors: dict[str, RecordingError],
    ) -> Recording:
        """The loaded recording: its steps are made when it is normalized, with sessions
        resolved as ``Recording`` resolves them."""
        items, self.items = self.items, []
        return Recording.of_steps(
            loaded,
            items,
            _StepMaker(self.trace_session),
            notes,
            skipped=skipped,
            errors=errors,
            origins=self.origins,
        )


class _StepMaker:
    """The step of an item read: a compact step with its session set, or the step of a
    span's parts."""

    def __init__(self, trace_session: dict[int, str]) -> None:
        self._trace_session = trace_session
        self._hexes: dict[int, str] = {}

    def __call__(self, item: Any) -> Step:
        if type(item) is tuple:
            return step_of_parts(item, self._trace_session.get(item[1]))
        st = cast(CompactStep, item)
        tid = st._tid
        sid = self._trace_session.get(tid)
        if sid is None:
            sid = self._hexes.get(tid)
            if sid is None:
                sid = self._hexes[tid] = format(tid, "032x")
        st.session_id = sid
        return cast(Step, st)
