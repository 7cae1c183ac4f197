"""Loading the recording a command line names: where it is (one level down for a directory)
and whether it holds any span."""

from __future__ import annotations

import argparse
import os
import time
import warnings

from otel_replay.cli.render import count
from otel_replay.formats.compact_load import load_compact_steps
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import LoadProgress, load_recording
from otel_replay.formats.locate import locate_recording
from otel_replay.formats.recording import Recording
from otel_replay.formats.summary import RecordingSummary, summarize_recording
from otel_replay.model.checkpoint import Checkpoint

__all__ = [
    "LOCATE_HELP",
    "STRICT_HELP",
    "add_progress_flags",
    "load_input",
    "load_steps_input",
    "summarize_input",
    "recorded_checkpoints",
]

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


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    """``--progress`` and ``--quiet`` (and the clock the progress bar reads, for tests)."""
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr also when it is not a terminal",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar (shown on a terminal by default)"
    )
    parser.set_defaults(clock=time.monotonic)


def load_input(
    path: str, *, strict: bool = False, progress: LoadProgress | None = None
) -> tuple[Recording, str | None]:
    """The compact recording at ``path`` (steps, no SDK spans) and, when it holds no span,
    the message saying so (naming the file or directory read and why). Raises
    ``RecordingError`` like ``load_recording`` (``strict``: also at the first damaged
    record); ``progress`` is called as each file is read."""
    located = locate_recording(path)
    rec = load_recording(located, strict=strict, keep_spans=False, progress=progress)
    return rec, _no_spans(located, rec)


def load_steps_input(
    path: str, *, strict: bool = False, progress: LoadProgress | None = None
) -> tuple[Recording, str | None]:
    """:func:`load_input` with compact steps (``load_compact_steps``: steps that read their
    attributes and inputs back from the file when needed; less memory and time)."""
    located = locate_recording(path)
    rec = load_compact_steps(located, strict=strict, progress=progress)
    return rec, _no_spans(located, rec)


def summarize_input(
    path: str, *, strict: bool = False, progress: LoadProgress | None = None
) -> tuple[RecordingSummary, str | None]:
    """:func:`load_input` as a streaming :class:`RecordingSummary` (flat memory)."""
    located = locate_recording(path)
    summary = summarize_recording(located, strict=strict, progress=progress)
    return summary, _no_spans(located, summary)


def _no_spans(located: str, rec: Recording | RecordingSummary) -> str | None:
    if rec.span_count:
        return None
    if os.path.isdir(located):
        names = ", ".join(os.path.basename(p) for p in rec.paths)
        return f"{located}: no spans in its {count(len(rec.paths), 'recording file')} ({names})"
    if os.path.getsize(located) == 0:
        why = "the file is empty"
    elif rec.warnings:
        why = "it holds only a truncated last record, which was skipped"
    else:
        why = "it holds no spans"
    return f"{located}: no spans ({why})"


def recorded_checkpoints(
    rec: Recording | RecordingSummary, *, strict: bool = False
) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints of ``rec`` and the warnings of the malformed checkpoint spans skipped
    (each naming file and line or byte offset); ``strict`` raises ``CheckpointError``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecordingWarning)
        ckpts = rec.checkpoints(strict=strict)
    notes = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    return ckpts, notes
