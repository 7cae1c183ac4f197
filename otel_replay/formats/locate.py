"""Where the recording of a path given on the command line is: :func:`locate_recording`.

The rule (the ``otel-replay inspect`` and ``diff`` PATH arguments):

1. a file is read as it is;
2. a directory with recording files (``*.jsonl``, ``*.json``, ``*.binpb``) directly in it is
   read as it is (those files only; its subdirectories are not read, so a recording is never
   read twice and a ``checkpoints/`` store inside it is never taken for spans);
3. otherwise, the one subdirectory (one level down; hidden ones and ``checkpoints``, the
   checkpoint store of a recording directory, are skipped) with recording files directly in
   it is read, e.g. ``otel-replay-demo/recording`` for ``otel-replay-demo``;
4. several such subdirectories, or none, is an error that names them or says where it looked.
"""

from __future__ import annotations

import os

from otel_replay.formats.errors import RecordingError
from otel_replay.formats.files import JSONL_SUFFIXES, PROTOBUF_SUFFIX

__all__ = ["locate_recording"]

_SUFFIXES = (*JSONL_SUFFIXES, PROTOBUF_SUFFIX)
_PATTERNS = ", ".join(f"*{s}" for s in _SUFFIXES)
_CHECKPOINTS = "checkpoints"  # a recording directory's checkpoint store (RecordingSource)


def _has_recording_files(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(e.name.endswith(_SUFFIXES) and e.is_file() for e in entries)
    except OSError:
        return False


def locate_recording(path: str | os.PathLike[str]) -> str:
    """The file or directory to load for ``path`` (see the module docstring for the rule).

    Raises :class:`RecordingError` for a missing path, a directory without recording files
    at either level, and a directory whose recordings are in several subdirectories.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        if not os.path.exists(root):
            raise RecordingError(f"{root}: no such recording file or directory")
        return root
    if _has_recording_files(root):
        return root
    try:
        with os.scandir(root) as entries:
            subdirs = sorted(
                e.path
                for e in entries
                if not e.name.startswith(".") and e.name != _CHECKPOINTS and e.is_dir()
            )
    except OSError as exc:
        raise RecordingError(f"{root}: cannot list directory: {exc.strerror or exc}") from None
    found = [d for d in subdirs if _has_recording_files(d)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise RecordingError(
            f"{root}: no recording files ({_PATTERNS}) in the directory or in its subdirectories"
        )
    raise RecordingError(
        f"{root}: no recording files directly in the directory, but {len(found)} of its "
        f"subdirectories hold recordings: {', '.join(found)} (give one of them)"
    )
