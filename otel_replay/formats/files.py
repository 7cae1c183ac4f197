"""Recording files: the two formats, :func:`load_recording` and :func:`write_recording`.

Two on-disk formats, both written by the OpenTelemetry Collector's ``file`` exporter:

* OTLP JSON lines (``.jsonl``, also ``.json``): one ``TracesData`` per line in the OTLP/JSON
  encoding (lowerCamelCase names, hex trace/span ids, enums as integers, 64-bit integers as
  decimal strings).
* Length-prefixed protobuf (``.binpb``): each serialized ``TracesData`` is preceded by its
  length as a 4-byte big-endian unsigned integer (the Collector's ``format: proto`` framing,
  ``exportMessageAsBuffer`` in ``exporter/fileexporter/file_writer.go``).

:func:`load_recording` reads files and directories (format by extension, else by content)
back into real SDK :class:`~opentelemetry.sdk.trace.ReadableSpan` objects;
:func:`write_recording` and :class:`~otel_replay.formats.exporter.RecordingExporter` write them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import IO, Any, Literal

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.formats import json_text
from otel_replay.formats.errors import (
    RecordingError,
    RecordingFormatError,
    RecordingSizeError,
    RecordingWarning,
    _Invalid,
)
from otel_replay.formats.json_text import _dumps, _json_error_text, _loads
from otel_replay.formats.otlp_json_decode import _JsonDecoder
from otel_replay.formats.otlp_json_encode import _JsonEncoder
from otel_replay.formats.otlp_proto import _ProtoDecoder, _RawTracesData, encode_spans
from otel_replay.formats.recording import Recording

__all__ = [
    "RecordingFormat",
    "JSONL_SUFFIXES",
    "PROTOBUF_SUFFIX",
    "load_recording",
    "write_recording",
]

RecordingFormat = Literal["jsonl", "protobuf"]
#: File name endings read as OTLP JSON lines.
JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".json")
#: File name ending of length-prefixed protobuf recordings.
PROTOBUF_SUFFIX = ".binpb"
_SUFFIX: dict[str, str] = {"jsonl": ".jsonl", "protobuf": PROTOBUF_SUFFIX}
_WRITE_BATCH = 1000  # spans per line/frame in write_recording


class _Decoder(_ProtoDecoder, _JsonDecoder):
    """Decodes both formats; one per load, so its caches serve every file of the load."""


def load_recording(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_file_bytes: int | None = None,
) -> Recording:
    """Load a recording file, or every ``*.jsonl``/``*.json``/``*.binpb`` file at the top
    level of a directory (sorted by name).

    ``max_bytes`` caps one JSON line / protobuf frame (default:
    ``$OTEL_REPLAY_RECORDING_MAX_LINE_BYTES``, else 64 MiB), ``max_file_bytes`` one file.
    Raises :class:`RecordingError` (missing path, no recording files),
    :class:`RecordingFormatError` (corrupt content, with file and line or byte offset) or
    :class:`RecordingSizeError` (a cap is exceeded). A truncated last line or frame (a
    crashed writer) is skipped with a :class:`RecordingWarning`.
    """
    if max_bytes is None:
        max_bytes = env_int(c.ENV_RECORDING_MAX_LINE_BYTES, c.DEFAULT_RECORDING_MAX_LINE_BYTES)
    root = os.fspath(path)
    if os.path.isdir(root):
        try:
            names = sorted(os.listdir(root))
        except OSError as exc:
            raise RecordingError(f"{root}: cannot list directory: {exc.strerror or exc}") from None
        files = [
            os.path.join(root, n)
            for n in names
            if n.endswith((*JSONL_SUFFIXES, PROTOBUF_SUFFIX))
            and os.path.isfile(os.path.join(root, n))
        ]
        if not files:
            raise RecordingError(
                f"{root}: no recording files (*.jsonl, *.json, *.binpb) in directory"
            )
    elif os.path.exists(root):
        files = [root]
    else:
        raise RecordingError(f"{root}: no such recording file or directory")
    spans: list[ReadableSpan] = []
    notes: list[str] = []
    decoder = _Decoder()
    with _gc_paused():
        for file in files:
            _load_file(file, decoder, spans, notes, max_bytes, max_file_bytes)
    return Recording(files, spans, notes)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: bulk loads/writes allocate many long-lived, acyclic objects and
    the collector would rescan them again and again (2-3x slower)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_file(
    path: str,
    decoder: _Decoder,
    spans: list[ReadableSpan],
    notes: list[str],
    max_bytes: int,
    max_file_bytes: int | None,
) -> None:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with f:
        if max_file_bytes is not None:
            size = os.fstat(f.fileno()).st_size
            if size > max_file_bytes:
                raise RecordingSizeError(
                    f"{path}: file is {size} bytes, larger than the cap of {max_file_bytes} bytes"
                )
        if path.endswith(JSONL_SUFFIXES):
            fmt = "jsonl"
        elif path.endswith(PROTOBUF_SUFFIX):
            fmt = "protobuf"
        else:
            head = f.peek(64)[:64] if hasattr(f, "peek") else b""  # type: ignore[union-attr]
            fmt = "jsonl" if head.lstrip()[:1] in (b"{", b"") else "protobuf"
        if fmt == "jsonl":
            _load_jsonl(path, f, decoder, spans, notes, max_bytes)
        else:
            _load_binpb(path, f, decoder, spans, notes, max_bytes)


def _warn(notes: list[str], message: str) -> None:
    notes.append(message)
    warnings.warn(message, RecordingWarning, stacklevel=5)


def _looks_binary(raw: bytes) -> bool:
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _looks_text(raw: bytes) -> bool:
    """Whether a file head is UTF-8 text (its end may cut a multi-byte character)."""
    for cut in range(4):
        try:
            text = raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return False


def _load_jsonl(
    path: str,
    f: IO[bytes],
    decoder: _Decoder,
    spans: list[ReadableSpan],
    notes: list[str],
    max_bytes: int,
) -> None:
    line = 0
    limit = max_bytes + 1
    readline = f.readline
    fast = json_text._orjson  # read at call time, so tests can switch the stdlib path on
    loads = fast.loads if fast is not None else None
    while True:
        raw = readline(limit)
        if not raw:
            return
        line += 1
        complete = raw.endswith(b"\n")
        if not complete and len(raw) >= limit:
            raise RecordingSizeError(
                f"{path}:{line}: line is longer than the cap of {max_bytes} bytes "
                f"(max_bytes / {c.ENV_RECORDING_MAX_LINE_BYTES})"
            )
        obj: Any
        try:
            if loads is None:
                raise ValueError
            obj = loads(raw)
        except ValueError:
            if not raw.strip():
                continue
            last = not complete
            if (line == 1 or not last) and _looks_binary(raw):
                raise RecordingFormatError(
                    path,
                    "expected OTLP JSON lines but found binary data "
                    f"(a protobuf recording must use the {PROTOBUF_SUFFIX} extension)",
                    line=line,
                ) from None
            try:
                obj = _loads(raw)
            except ValueError as exc:
                if last:
                    _warn(
                        notes,
                        f"{path}:{line}: skipped truncated last line ({len(raw)} bytes, "
                        "no trailing newline; the writer probably crashed)",
                    )
                    return
                raise RecordingFormatError(
                    path, f"invalid JSON: {_json_error_text(exc)}", line=line
                ) from None
        try:
            decoder.from_json(obj, spans)
        except _Invalid as exc:
            raise RecordingFormatError(path, str(exc), line=line) from None


def _load_binpb(
    path: str,
    f: IO[bytes],
    decoder: _Decoder,
    spans: list[ReadableSpan],
    notes: list[str],
    max_bytes: int,
) -> None:
    offset = 0
    read = f.read
    head = b""
    while True:
        header = read(4)
        if not header:
            return
        if offset == 0:
            head = header + (f.peek(60)[:60] if hasattr(f, "peek") else b"")  # type: ignore[union-attr]
        problem: str | None = None
        body = b""
        size = 0
        if len(header) < 4:
            problem = "truncated"
        else:
            size = int.from_bytes(header, "big")
            if size > max_bytes:
                problem = (
                    f"frame length {size} exceeds the cap of {max_bytes} bytes (corrupt frame?)"
                )
            else:
                body = read(size)
                if len(body) < size:
                    problem = "truncated"
        if problem is not None and offset == 0 and _looks_text(head):
            raise RecordingFormatError(
                path,
                "expected length-prefixed OTLP protobuf but found text "
                f"(a JSON lines recording must use the {JSONL_SUFFIXES[0]} extension)",
                offset=0,
            )
        if problem == "truncated":
            have = len(header) + len(body)
            want = f"{4 + size} bytes" if len(header) == 4 else "a 4-byte length prefix"
            _warn(
                notes,
                f"{path}: at byte offset {offset}: skipped truncated last frame ({have} bytes "
                f"left, expected {want}; the writer probably crashed)",
            )
            return
        if problem is not None:
            raise RecordingFormatError(path, problem, offset=offset)
        count = len(spans)
        try:
            decoder.from_pb(_RawTracesData.FromString(body), spans, decoder.raw_attrs)
        except (DecodeError, ValueError, TypeError, OverflowError):
            # The frame is redone through the full TracesData schema, which names the error.
            del spans[count:]
        else:
            offset += 4 + len(body)
            continue
        try:
            td = TracesData.FromString(body)
        except DecodeError as exc:
            if offset == 0 and _looks_text(head):
                raise RecordingFormatError(
                    path,
                    "expected length-prefixed OTLP protobuf but found text "
                    f"(a JSON lines recording must use the {JSONL_SUFFIXES[0]} extension)",
                    offset=0,
                ) from None
            raise RecordingFormatError(
                path, f"undecodable OTLP TracesData frame: {exc}", offset=offset
            ) from None
        try:
            decoder.from_pb(td, spans)
        except (ValueError, TypeError, OverflowError) as exc:
            raise RecordingFormatError(path, f"invalid span data: {exc}", offset=offset) from None
        offset += 4 + len(body)


def write_recording(
    path: str | os.PathLike[str],
    spans: Iterable[ReadableSpan],
    *,
    format: RecordingFormat = "jsonl",
) -> str:
    """Write ``spans`` to a new recording file (replacing it); return the path written.

    Spans are written in batches of 1000 per line (``jsonl``) or frame (``protobuf``).
    """
    if format not in _SUFFIX:
        raise ValueError(f"unknown recording format {format!r} (expected 'jsonl' or 'protobuf')")
    target = os.fspath(path)
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    batch: list[ReadableSpan] = []
    encoder = _JsonEncoder()
    with open(target, "wb") as f, _gc_paused():

        def flush() -> None:
            if format == "jsonl":
                f.write(_dumps(encoder.traces_data(batch)) + b"\n")
            else:
                payload = encode_spans(batch).SerializeToString()
                f.write(len(payload).to_bytes(4, "big") + payload)
            batch.clear()

        for span in spans:
            batch.append(span)
            if len(batch) >= _WRITE_BATCH:
                flush()
        if batch:
            flush()
    return target
