"""Reading the records of one recording file, recovering what can be recovered.

* JSON lines: a line that is not valid JSON, not valid UTF-8 or not an OTLP ``TracesData`` is
  skipped (:class:`~otel_replay.formats.errors.SkippedRecord`, with a
  :class:`~otel_replay.formats.errors.RecordingWarning`); lines are their own resynchronization
  points. A last line without its newline that does not parse is a torn write (a note).
* Length-prefixed protobuf: after a bad frame (a length over the cap or past the end of the
  file, a zero length, an undecodable body) the reader **resynchronizes**: it scans forward for
  the next offset where a 4-byte length is followed by that many bytes that parse as an OTLP
  ``TracesData`` starting with a ``resource_spans`` field (byte ``0x0a``) and are followed by
  the end of the file or by another such header. The bytes in between are parsed as one frame
  first (a frame whose length prefix alone is wrong is recovered whole); otherwise they are
  skipped. A frame that runs past the end of the file with no valid frame after it is a torn
  last frame (a note).

With ``strict`` the first damaged record raises :class:`RecordingFormatError` /
:class:`RecordingSizeError` instead. A file in which no record could be read raises the error
of its first damaged record either way.
"""

from __future__ import annotations

import warnings
from typing import IO, Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.core import conventions as c
from otel_replay.formats import json_text
from otel_replay.formats.errors import (
    RecordingError,
    RecordingFormatError,
    RecordingSizeError,
    RecordingWarning,
    SkippedRecord,
    _Invalid,
    _where,
    spans_lost_text,
)
from otel_replay.formats.json_text import _json_error_text, _loads
from otel_replay.formats.otlp_proto import _RawTracesData

__all__: list[str] = []

_JSONL_HINT = ".jsonl"
_PROTOBUF_HINT = ".binpb"
_SCAN_WINDOW = 1 << 20
#: Candidate frames parsed per resynchronization before the rest of the file is given up
#: (bounds the work a hostile file full of plausible-looking headers can cause).
MAX_RESYNC_CANDIDATES = 100_000


class FileLoad:
    """The state of loading one file: where spans go, what was skipped, the notes."""

    def __init__(
        self,
        path: str,
        decoder: Any,
        spans: list[ReadableSpan],
        *,
        strict: bool,
        max_bytes: int,
        head: bytes,
    ) -> None:
        self.path = path
        self.decoder = decoder
        self.spans = spans
        self.strict = strict
        self.max_bytes = max_bytes
        self.head = head
        self.records = 0
        #: (index of the record's first span, line, byte offset) per record read
        self.origins: list[tuple[int, int | None, int | None]] = []
        self.notes: list[str] = []
        self.skipped: list[SkippedRecord] = []
        self.first_error: RecordingError | None = None
        self._start = len(spans)
        #: called with the bytes read so far after each record (None: no progress)
        self.progress: Any = None
        #: streaming: called with each record's spans, line and byte offset, after which
        #: they are dropped from ``spans`` (None: spans are kept)
        self.sink: Any = None
        #: spans with an absent or all-zero id seen by the sink
        self.bad_ids = 0
        #: JSON lines: lines before the first one read (reading from a byte offset)
        self.first_line = 0

    def record(self, count: int, line: int | None, offset: int | None) -> None:
        """A record whose spans start at ``spans[count]`` was read at ``line``/``offset``."""
        if self.sink is None:
            self.origins.append((count, line, offset))
            return
        self.sink(self, self.spans[count:], line, offset)
        del self.spans[count:]

    def note(self, message: str) -> None:
        self.notes.append(message)

    def skip(
        self,
        error: RecordingError,
        *,
        size: int,
        spans: int | None,
        line: int | None = None,
        offset: int | None = None,
        approximate: bool = False,
        after: str = "",
        reason: str | None = None,
    ) -> None:
        """Skip a damaged record (``strict``: raise ``error``)."""
        if self.strict:
            raise error
        if self.first_error is None:
            self.first_error = error
        if reason is None:
            reason = error.reason if isinstance(error, RecordingFormatError) else str(error)
        if approximate and not spans:
            spans = None  # nothing countable in the damaged bytes
        what = "line" if line is not None else "bytes"
        message = (
            f"{_where(self.path, line, offset)}skipped corrupt {what} ({size} bytes, "
            f"{spans_lost_text(spans, approximate)}): {reason}{after}"
        )
        self.skipped.append(SkippedRecord(self.path, line, offset, size, spans, reason, message))
        self.notes.append(message)

    def finish(
        self,
        notes: list[str],
        skipped: list[SkippedRecord],
        origins: list[tuple[int, str, int | None, int | None]],
        stacklevel: int,
    ) -> None:
        """Raise the first error if nothing was read; else publish the notes as warnings."""
        if self.records == 0 and self.first_error is not None:
            del self.spans[self._start :]
            raise self.first_error
        skipped.extend(self.skipped)
        path = self.path
        origins.extend((i, path, line, offset) for i, line, offset in self.origins)
        bad_ids = self.bad_ids
        for span in self.spans[self._start :]:
            if type(span) is tuple:  # compact: Parts
                if not span[1] or not span[2]:
                    bad_ids += 1
                continue
            ctx = span.context
            if ctx is None or not ctx.trace_id or not ctx.span_id:
                bad_ids += 1
        if bad_ids:
            self.notes.append(
                f"{self.path}: {bad_ids} span{'' if bad_ids == 1 else 's'} with an absent or "
                "all-zero trace id or span id (invalid in OTLP; such spans cannot be linked to "
                "their parents or children)"
            )
        for message in self.notes:
            notes.append(message)
            warnings.warn(message, RecordingWarning, stacklevel=stacklevel)


# --------------------------------------------------------------------------------------------
# JSON lines


def _looks_binary(raw: bytes) -> bool:
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def looks_protobuf(head: bytes, max_bytes: int) -> bool:
    """Whether a file head starts like a length-prefixed OTLP protobuf frame."""
    return len(head) >= 5 and head[4] == 0x0A and 0 < int.from_bytes(head[:4], "big") <= max_bytes


def _count_json_spans(obj: Any) -> int | None:
    try:
        return sum(
            len(ss.get("spans") or ())
            for rs in obj.get("resourceSpans") or ()
            for ss in rs.get("scopeSpans") or ()
        )
    except (AttributeError, TypeError):
        return None


def load_jsonl(load: FileLoad, f: IO[bytes]) -> None:
    path = load.path
    max_bytes = load.max_bytes
    decoder = load.decoder
    spans = load.spans
    line = load.first_line
    offset = 0
    limit = max_bytes + 1
    readline = f.readline
    fast = json_text._orjson  # read at call time, so tests can switch the stdlib path on
    loads = fast.loads if fast is not None else None
    progress = load.progress
    fast_line = getattr(load.sink, "fast_line", None)  # a sink may read whole lines itself
    while True:
        if progress is not None:
            progress(offset)
        raw = readline(limit)
        if not raw:
            return
        line += 1
        start = offset
        offset += len(raw)
        complete = raw.endswith(b"\n")
        if not complete and len(raw) >= limit:
            cap = (
                f"line is longer than the cap of {max_bytes} bytes "
                f"(max_bytes / {c.ENV_RECORDING_MAX_LINE_BYTES})"
            )
            error = RecordingSizeError(f"{path}:{line}: {cap}")
            if load.strict:
                raise error
            size = len(raw)
            while not raw.endswith(b"\n"):
                raw = readline(limit)
                if not raw:
                    break
                size += len(raw)
            offset = start + size
            load.skip(error, size=size, spans=None, line=line, reason=cap)
            continue
        if fast_line is not None and fast_line(load, raw, line, start):
            load.records += 1
            continue
        obj: Any
        try:
            if loads is None:
                raise ValueError
            obj = loads(raw)
        except ValueError:
            if not raw.strip():
                continue
            last = not complete
            if line == 1 and looks_protobuf(load.head, max_bytes):
                raise RecordingFormatError(
                    path,
                    "expected OTLP JSON lines but found binary data "
                    f"(a protobuf recording must use the {_PROTOBUF_HINT} extension)",
                    line=line,
                ) from None
            if not last and _looks_binary(raw):
                load.skip(
                    RecordingFormatError(path, _binary_reason(raw, start), line=line),
                    size=len(raw),
                    spans=raw.count(b'"spanId"'),
                    approximate=True,
                    line=line,
                )
                continue
            try:
                obj = _loads(raw)
            except ValueError as exc:
                if last:
                    load.note(
                        f"{path}:{line}: skipped truncated last line ({len(raw)} bytes, "
                        "no trailing newline; the writer probably crashed)"
                    )
                    return
                reason = (
                    _binary_reason(raw, start)
                    if _looks_binary(raw)
                    else f"invalid JSON: {_json_error_text(exc)}"
                )
                load.skip(
                    RecordingFormatError(path, reason, line=line),
                    size=len(raw),
                    spans=raw.count(b'"spanId"'),
                    approximate=True,
                    line=line,
                )
                continue
        count = len(spans)
        try:
            decoder.from_json(obj, spans)
            load.record(count, line, None)
        except _Invalid as exc:
            del spans[count:]
            load.skip(
                RecordingFormatError(path, str(exc), line=line),
                size=len(raw),
                spans=_count_json_spans(obj),
                line=line,
            )
            continue
        load.records += 1


def _binary_reason(raw: bytes, start: int) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"invalid UTF-8 at byte offset {start + exc.start} of the file "
            f"(column {exc.start + 1}: byte 0x{raw[exc.start]:02x})"
        )
    at = raw.index(b"\x00")
    return f"NUL byte at byte offset {start + at} of the file (binary data in a JSON line)"


# --------------------------------------------------------------------------------------------
# Length-prefixed protobuf


def _looks_text(raw: bytes) -> bool:
    """Whether a file head is UTF-8 text (its end may cut a multi-byte character)."""
    for cut in range(4):
        try:
            text = raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return False


def _pread(f: IO[bytes], offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def _plausible_header(header: bytes, max_bytes: int) -> bool:
    return (
        len(header) == 5
        and header[4] == 0x0A
        and 2 <= int.from_bytes(header[:4], "big") <= max_bytes
    )


def _valid_frame_at(f: IO[bytes], at: int, length: int, end: int, max_bytes: int) -> bool:
    body = _pread(f, at + 4, length)
    try:
        td = TracesData.FromString(body)
    except (DecodeError, ValueError):
        return False
    if not td.resource_spans:
        return False
    after = at + 4 + length
    return after == end or _plausible_header(_pread(f, after, 5), max_bytes)


def find_frame(f: IO[bytes], start: int, end: int, max_bytes: int) -> int | None:
    """The offset of the next valid frame at or after ``start`` (see the module docs)."""
    pos = start
    tried = 0
    while pos + 5 <= end:
        buf = _pread(f, pos, min(_SCAN_WINDOW + 4, end - pos))
        if len(buf) < 5:
            return None
        i = 4
        while True:
            i = buf.find(b"\x0a", i)
            if i < 0:
                break
            at = pos + i - 4
            length = int.from_bytes(buf[i - 4 : i], "big")
            if 2 <= length <= max_bytes and at + 4 + length <= end:
                tried += 1
                if tried > MAX_RESYNC_CANDIDATES:
                    return None
                if _valid_frame_at(f, at, length, end, max_bytes):
                    return at
            i += 1
        pos += len(buf) - 4
    return None


def load_binpb(load: FileLoad, f: IO[bytes], end: int) -> None:
    path = load.path
    max_bytes = load.max_bytes
    decoder = load.decoder
    spans = load.spans
    offset = 0
    read = f.read
    from_pb = decoder.from_pb
    raw_attrs = decoder.raw_attrs
    raw_class = _RawTracesData.FromString
    progress = load.progress
    while True:
        if progress is not None:
            progress(offset)
        header = read(4)
        if not header:
            return
        problem: str | None = None
        body = b""
        size = 0
        resync: int | None = -1  # -1: not searched yet
        if len(header) < 4:
            load.note(
                f"{path}: at byte offset {offset}: skipped truncated last frame "
                f"({len(header)} bytes left, expected a 4-byte length prefix; the writer "
                "probably crashed)"
            )
            return
        size = int.from_bytes(header, "big")
        if size > max_bytes:
            problem = f"frame length {size} exceeds the cap of {max_bytes} bytes (corrupt frame?)"
        elif size == 0:
            problem = "zero-length frame (zero bytes where a frame length was expected)"
        elif offset + 4 + size > end:
            resync = find_frame(f, offset + 1, end, max_bytes)
            if resync is None and not (offset == 0 and _looks_text(load.head)):
                load.note(
                    f"{path}: at byte offset {offset}: skipped truncated last frame "
                    f"({end - offset} bytes left, expected {4 + size} bytes; the writer "
                    "probably crashed)"
                )
                return
            problem = (
                f"frame length {size} runs past the end of the file (at {end - offset - 4} "
                "bytes) but a valid frame follows: corrupt length prefix"
            )
        else:
            body = read(size)
            count = len(spans)
            try:
                from_pb(raw_class(body), spans, raw_attrs)
            except (DecodeError, ValueError, TypeError, OverflowError):
                # The frame is redone through the full TracesData schema, which names the error.
                del spans[count:]
                problem = _decode_frame(decoder, body, spans)
            if problem is None:
                load.record(count, None, offset)
                load.records += 1
                offset += 4 + size
                continue
        if offset == 0 and _looks_text(load.head):
            raise RecordingFormatError(
                path,
                "expected length-prefixed OTLP protobuf but found text "
                f"(a JSON lines recording must use the {_JSONL_HINT} extension)",
                offset=0,
            )
        error = RecordingFormatError(path, problem, offset=offset)
        if load.strict:
            raise error
        if resync == -1:
            resync = find_frame(f, offset + 1, end, max_bytes)
        stop = end if resync is None else resync
        after = (
            f"; resumed at the next valid frame at byte offset {resync}"
            if resync is not None
            else "; no valid frame follows (the rest of the file was skipped)"
        )
        region = stop - offset - 4
        recovered = 0
        if 0 < region <= max_bytes:
            count = len(spans)
            if _decode_frame(decoder, _pread(f, offset + 4, region), spans, full=True) is None:
                recovered = len(spans) - count
                load.record(count, None, offset)
            else:
                del spans[count:]
        if recovered:
            load.records += 1
            load.note(
                f"{path}: at byte offset {offset}: the frame's length prefix ({size}) is wrong; "
                f"its {region} bytes up to the next valid frame decode as one frame: recovered "
                f"{recovered} span{'' if recovered == 1 else 's'}"
            )
        else:
            lost = _span_count(body) if problem.startswith("invalid span data") else None
            load.skip(error, size=stop - offset, spans=lost, offset=offset, after=after)
        if resync is None:
            return
        f.seek(resync)
        offset = resync


def _span_count(body: bytes) -> int | None:
    try:
        td = TracesData.FromString(body)
    except (DecodeError, ValueError):
        return None
    return sum(len(ss.spans) for rs in td.resource_spans for ss in rs.scope_spans)


def _decode_frame(
    decoder: Any, body: bytes, spans: list[ReadableSpan], full: bool = False
) -> str | None:
    """Append the spans of one frame body decoded through the full ``TracesData`` schema;
    the reason it cannot be decoded otherwise (``full``: also when it holds no spans)."""
    count = len(spans)
    try:
        td = TracesData.FromString(body)
    except DecodeError as exc:
        return f"undecodable OTLP TracesData frame: {exc}"
    if full and not td.resource_spans:
        return "no resource spans"
    try:
        decoder.from_pb(td, spans)
    except (ValueError, TypeError, OverflowError) as exc:
        del spans[count:]
        return f"invalid span data: {exc}"
    return None
