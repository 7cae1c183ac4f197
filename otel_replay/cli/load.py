"""Loading the recording a command line names: where it is (one level down for a directory)
and whether it holds any span."""

from __future__ import annotations

import os
import warnings

from otel_replay.cli.render import count
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording
from otel_replay.formats.locate import locate_recording
from otel_replay.formats.recording import Recording
from otel_replay.model.checkpoint import Checkpoint

__all__ = ["LOCATE_HELP", "STRICT_HELP", "load_input", "recorded_checkpoints"]

#: ``--help`` of ``--strict`` (the library's ``strict=True``).
STRICT_HELP = (
    "fail at the first damaged line, frame, file or checkpoint span (exit code 3) instead of "
    "skipping it with a warning"
)

#: How a directory argument is read (for ``--help``; the rule is ``locate_recording``'s).
LOCATE_HELP = (
    "A directory is read as follows: the recording files (*.jsonl, *.json, *.binpb) directly "
    "in it, sorted by name; if it has none, the recording files of its one subdirectory that "
    "has them (e.g. DIR/recording, which 'otel-replay demo --out DIR' writes). Recordings in "
    "several subdirectories are an error that lists them. Subdirectories of a directory with "
    "recording files, and checkpoints/ directories, are not read."
)


def load_input(path: str, *, strict: bool = False) -> tuple[Recording, str | None]:
    """The recording at ``path`` and, when it holds no span, the message saying so (naming
    the file or directory read and why). Raises ``RecordingError`` like ``load_recording``
    (``strict``: also at the first damaged record)."""
    located = locate_recording(path)
    rec = load_recording(located, strict=strict)
    if rec.spans:
        return rec, None
    if os.path.isdir(located):
        names = ", ".join(os.path.basename(p) for p in rec.paths)
        return (
            rec,
            f"{located}: no spans in its {count(len(rec.paths), 'recording file')} ({names})",
        )
    if os.path.getsize(located) == 0:
        why = "the file is empty"
    elif rec.warnings:
        why = "it holds only a truncated last record, which was skipped"
    else:
        why = "it holds no spans"
    return rec, f"{located}: no spans ({why})"


def recorded_checkpoints(
    rec: Recording, *, strict: bool = False
) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints of ``rec`` and the warnings of the malformed checkpoint spans skipped
    (each naming file and line or byte offset); ``strict`` raises ``CheckpointError``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecordingWarning)
        ckpts = rec.checkpoints(strict=strict)
    notes = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    return ckpts, notes
