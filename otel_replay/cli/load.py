"""Loading the recording a command line names: where it is (one level down for a directory)
and whether it holds any span."""

from __future__ import annotations

import os

from otel_replay.cli.render import count
from otel_replay.formats.files import load_recording
from otel_replay.formats.locate import locate_recording
from otel_replay.formats.recording import Recording

__all__ = ["LOCATE_HELP", "load_input"]

#: How a directory argument is read (for ``--help``; the rule is ``locate_recording``'s).
LOCATE_HELP = (
    "A directory is read as follows: the recording files (*.jsonl, *.json, *.binpb) directly "
    "in it, sorted by name; if it has none, the recording files of its one subdirectory that "
    "has them (e.g. DIR/recording, which 'otel-replay demo --out DIR' writes). Recordings in "
    "several subdirectories are an error that lists them. Subdirectories of a directory with "
    "recording files, and checkpoints/ directories, are not read."
)


def load_input(path: str) -> tuple[Recording, str | None]:
    """The recording at ``path`` and, when it holds no span, the message saying so (naming
    the file or directory read and why). Raises ``RecordingError`` like ``load_recording``."""
    located = locate_recording(path)
    rec = load_recording(located)
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
