"""The errors and warning of reading and writing recordings, and the content error
(:class:`_Invalid`) the OTLP/JSON readers raise inside one ``TracesData``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RecordingError",
    "RecordingFormatError",
    "RecordingSizeError",
    "RecordingWarning",
    "SkippedRecord",
]


class RecordingError(Exception):
    """A recording cannot be read or written."""


class RecordingFormatError(RecordingError):
    """A recording file is not valid OTLP JSON lines / length-prefixed OTLP protobuf."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, offset: int | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.offset = offset
        self.reason = message
        super().__init__(_where(path, line, offset) + message)


class RecordingSizeError(RecordingError):
    """A recording, line or file exceeds a configured size cap."""


class RecordingWarning(UserWarning):
    """A recording was loaded but part of it was skipped (e.g. a truncated last line)."""


@dataclass(frozen=True)
class SkippedRecord:
    """A part of a recording file that :func:`~otel_replay.formats.files.load_recording`
    skipped: ``line`` (JSON lines) or byte ``offset`` (protobuf; in the decompressed stream
    of a compressed file), its ``size`` in bytes, the number of ``spans`` lost (``None`` when
    the bytes are too damaged to count them) and the ``reason``; ``str()`` is the warning."""

    path: str
    line: int | None
    offset: int | None
    size: int
    spans: int | None
    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


def spans_lost_text(spans: int | None, approximate: bool = False) -> str:
    if spans is None:
        return "number of spans lost unknown"
    about = "about " if approximate and spans else ""
    return f"{about}{spans} span{'' if spans == 1 else 's'} lost"


def _where(path: str, line: int | None, offset: int | None) -> str:
    if line is not None:
        return f"{path}:{line}: "
    if offset is not None:
        return f"{path}: at byte offset {offset}: "
    return f"{path}: "


class _Invalid(ValueError):
    """Content error inside one TracesData; ``where`` is filled while unwinding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []

    def at(self, part: str) -> _Invalid:
        self.where.append(part)
        return self

    def __str__(self) -> str:
        if not self.where:
            return self.message
        return ".".join(reversed(self.where)) + ": " + self.message
