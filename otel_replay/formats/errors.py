"""The errors and warning of reading and writing recordings, and the content error
(:class:`_Invalid`) the OTLP/JSON readers raise inside one ``TracesData``."""

from __future__ import annotations

__all__ = ["RecordingError", "RecordingFormatError", "RecordingSizeError", "RecordingWarning"]


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
