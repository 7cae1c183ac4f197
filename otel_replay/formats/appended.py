"""Reading what was appended to a JSON-lines recording file since a byte offset: a file that a
:class:`~otel_replay.formats.exporter.RecordingExporter` is writing grows by whole lines, so a
reader that keeps up with it reads each line once. The complete lines read are one compact
:class:`~otel_replay.formats.recording.Recording`; the bytes after the last newline (a record
being written, or a last record without its newline) are read apart, as the tail, and read
again next time."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.formats.compression import open_regular
from otel_replay.formats.errors import RecordingError, RecordingWarning, SkippedRecord
from otel_replay.formats.files import _Decoder
from otel_replay.formats.readers import FileLoad, load_jsonl
from otel_replay.formats.recording import Recording

__all__ = ["Appended", "read_appended"]


@dataclass
class Appended:
    """The lines of a JSON-lines file from byte ``start``: ``lines`` (complete, ending at byte
    ``end``; ``None`` when there was none or none could be read) and ``tail`` (after the last
    newline), with the warnings of each and the file's line count at ``end``."""

    lines: Recording | None
    tail: Recording | None
    end: int
    line_count: int
    size_read: int
    warnings: list[str] = field(default_factory=list)
    tail_warnings: list[str] = field(default_factory=list)


def _parse(path: str, data: bytes, first_line: int) -> tuple[Recording | None, list[str]]:
    if not data.strip():
        return None, []
    decoder = _Decoder()
    decoder.compact = True
    decoder.share_strings = True
    max_bytes = env_int(c.ENV_RECORDING_MAX_LINE_BYTES, c.DEFAULT_RECORDING_MAX_LINE_BYTES)
    spans: list[Any] = []  # compact: span parts
    notes: list[str] = []
    skipped: list[SkippedRecord] = []
    origins: list[tuple[int, str, int | None, int | None]] = []
    load = FileLoad(path, decoder, spans, strict=False, max_bytes=max_bytes, head=data[:64])
    load.first_line = first_line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecordingWarning)
        try:
            load_jsonl(load, io.BytesIO(data))
            load.finish(notes, skipped, origins, stacklevel=2)
        except RecordingError as exc:  # no line of it could be read
            return None, [f"skipped lines: {exc}"]
    messages = [str(w.message) for w in caught]
    recording = Recording([path], (), notes, skipped=skipped, origins=origins, parts=spans)
    return recording, messages


def read_appended(path: str, start: int = 0, line_count: int = 0) -> Appended:
    """Read ``path`` from byte ``start`` (the ``end`` of an earlier read, after
    ``line_count`` lines) to its end. :class:`RecordingError` when it cannot be opened."""
    with open_regular(path) as f:
        f.seek(start)
        data = f.read()
    cut = data.rfind(b"\n") + 1
    lines, notes = _parse(path, data[:cut], line_count)
    count = line_count + data.count(b"\n", 0, cut)
    tail, tail_notes = _parse(path, data[cut:], count)
    return Appended(lines, tail, start + cut, count, len(data), notes, tail_notes)
