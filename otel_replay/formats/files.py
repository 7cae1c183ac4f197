"""Recording files: the two formats, :func:`load_recording` and :func:`write_recording`.

Two on-disk formats, both written by the OpenTelemetry Collector's ``file`` exporter:

* OTLP JSON lines (``.jsonl``, also ``.json``): one ``TracesData`` per line in the OTLP/JSON
  encoding (lowerCamelCase names, hex trace/span ids, enums as integers, 64-bit integers as
  decimal strings).
* Length-prefixed protobuf (``.binpb``): each serialized ``TracesData`` is preceded by its
  length as a 4-byte big-endian unsigned integer (the Collector's ``format: proto`` framing,
  ``exportMessageAsBuffer`` in ``exporter/fileexporter/file_writer.go``).

:func:`load_recording` reads files and directories (compression by magic bytes, format by
extension, else by content) back into real SDK :class:`~opentelemetry.sdk.trace.ReadableSpan`
objects, recovering from damage (:mod:`~otel_replay.formats.readers`, docs/recordings.md);
:func:`write_recording` and :class:`~otel_replay.formats.exporter.RecordingExporter` write them.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.core.sdkspan import span_parts
from otel_replay.formats.coercion import coercions_to
from otel_replay.formats.compression import (
    compress_record,
    compression_of_name,
    decompress,
    open_regular,
    sniff_compression,
    strip_compression_suffix,
)
from otel_replay.formats.errors import (
    RecordingError,
    RecordingFormatError,
    RecordingSizeError,
    RecordingWarning,
    SkippedRecord,
)
from otel_replay.formats.json_text import _dumps
from otel_replay.formats.otlp_json_decode import _JsonDecoder
from otel_replay.formats.otlp_json_encode import _JsonEncoder
from otel_replay.formats.otlp_proto import _ProtoDecoder, encode_spans
from otel_replay.formats.readers import FileLoad, load_binpb, load_jsonl
from otel_replay.formats.recording import Recording

__all__ = [
    "RecordingFormat",
    "JSONL_SUFFIXES",
    "PROTOBUF_SUFFIX",
    "load_recording",
    "write_recording",
    "LoadProgress",
]

#: ``progress(path, bytes_read, bytes_total)``: called as a file is read (at least once per
#: record and at its end); sizes are of the decompressed stream for compressed files.
LoadProgress = Callable[[str, int, int], None]

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
    strict: bool = False,
    keep_spans: bool = True,
    progress: LoadProgress | None = None,
) -> Recording:
    """Load a recording file, or every recording file at the top level of a directory
    (``*.jsonl``, ``*.json``, ``*.binpb``, each also ``.gz``/``.zst``; sorted by name).

    Compression (gzip, zstd) is detected by magic bytes. ``max_bytes`` caps one JSON line /
    protobuf frame (default: ``$OTEL_REPLAY_RECORDING_MAX_LINE_BYTES``, else 64 MiB),
    ``max_file_bytes`` one file (for compressed files also the decompressed size).

    Damage is recovered from: a corrupt line or frame is skipped with a
    :class:`RecordingWarning` naming file, line or byte offset and the spans lost (listed in
    :attr:`Recording.skipped`); the protobuf reader resynchronizes at the next valid frame; a
    torn last line or frame (a crashed writer) is skipped. In a directory, a file that cannot
    be read at all is reported (:attr:`Recording.errors`, a warning) and the others load.
    ``strict=True`` raises at the first damaged record or file instead.

    ``keep_spans=False`` loads a compact recording: the spans are decoded (and checked) as
    usual but only what their steps need is kept, not SDK span objects (``Recording.spans``
    is empty; steps, sessions, checkpoints and ``where()`` are the same; less memory and
    time for large recordings). ``progress`` is called as each file is read.

    Raises :class:`RecordingError` (missing path, not a regular file, no recording files, no
    file loadable), :class:`RecordingFormatError` (a file with no readable record, or any
    damage with ``strict``; with file and line or byte offset) or :class:`RecordingSizeError`
    (a cap is exceeded).
    """
    loaded, spans, notes, skipped, errors, origins = _read_files(
        os.fspath(path),
        max_bytes=max_bytes,
        max_file_bytes=max_file_bytes,
        strict=strict,
        keep_spans=keep_spans,
        progress=progress,
        sink=None,
    )
    if keep_spans:
        return Recording(loaded, spans, notes, skipped=skipped, errors=errors, origins=origins)
    return Recording(
        loaded, (), notes, skipped=skipped, errors=errors, origins=origins, parts=spans
    )


#: What :func:`_read_files` returns: the files loaded, the spans (or parts), the notes, the
#: skipped records, the files that failed and the origins of the records.
_Read = tuple[
    list[str],
    list[Any],
    list[str],
    list[SkippedRecord],
    dict[str, RecordingError],
    list[tuple[int, str, int | None, int | None]],
]


def _read_files(
    root: str,
    *,
    max_bytes: int | None,
    max_file_bytes: int | None,
    strict: bool,
    keep_spans: bool,
    progress: LoadProgress | None,
    sink: Any,
) -> _Read:
    """The work of :func:`load_recording`; ``sink`` streams the records (see ``FileLoad``)."""

    if max_bytes is None:
        max_bytes = env_int(c.ENV_RECORDING_MAX_LINE_BYTES, c.DEFAULT_RECORDING_MAX_LINE_BYTES)
    directory = os.path.isdir(root)
    if directory:
        try:
            names = sorted(os.listdir(root))
        except OSError as exc:
            raise RecordingError(f"{root}: cannot list directory: {exc.strerror or exc}") from None
        files = [
            os.path.join(root, n)
            for n in names
            if strip_compression_suffix(n).endswith((*JSONL_SUFFIXES, PROTOBUF_SUFFIX))
            and os.path.isfile(os.path.join(root, n))
        ]
        if not files:
            raise RecordingError(
                f"{root}: no recording files (*.jsonl, *.json, *.binpb, optionally .gz/.zst) "
                "in directory"
            )
    elif os.path.lexists(root):
        files = [root]
    else:
        raise RecordingError(f"{root}: no such recording file or directory")
    spans: list[Any] = []  # ReadableSpan, or Parts with keep_spans=False
    notes: list[str] = []
    skipped: list[SkippedRecord] = []
    errors: dict[str, RecordingError] = {}
    origins: list[tuple[int, str, int | None, int | None]] = []
    decoder = _Decoder()
    decoder.compact = not keep_spans
    decoder.share_strings = sink is None
    load = functools.partial(
        _load_file,
        decoder=decoder,
        spans=spans,
        notes=notes,
        skipped=skipped,
        origins=origins,
        max_bytes=max_bytes,
        max_file_bytes=max_file_bytes,
        strict=strict,
        progress=progress,
        sink=sink,
    )
    with _gc_paused():
        for file in files:
            if not directory or strict:
                load(file)
                continue
            try:
                load(file)
            except RecordingError as exc:
                errors[file] = exc
                message = f"skipped file: {exc}"
                notes.append(message)
                warnings.warn(message, RecordingWarning, stacklevel=3)
    if errors and len(errors) == len(files):
        first = next(iter(errors.values()))
        raise RecordingError(
            f"{root}: none of the {len(files)} recording files could be loaded; first: {first}"
        ) from first
    loaded = [f for f in files if f not in errors]
    return loaded, spans, notes, skipped, errors, origins


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
    *,
    decoder: _Decoder,
    spans: list[Any],
    notes: list[str],
    skipped: list[SkippedRecord],
    origins: list[tuple[int, str, int | None, int | None]],
    max_bytes: int,
    max_file_bytes: int | None,
    strict: bool,
    progress: LoadProgress | None,
    sink: Any,
) -> None:
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open_regular(path))
        size = os.fstat(f.fileno()).st_size
        if max_file_bytes is not None and size > max_file_bytes:
            raise RecordingSizeError(
                f"{path}: file is {size} bytes, larger than the cap of {max_file_bytes} bytes"
            )
        head = f.read(64)
        f.seek(0)
        name = path
        pre: list[str] = []
        kind = sniff_compression(head, path)
        if kind is not None:

            def note(message: str) -> None:
                if strict and "ends inside a member" not in message:  # not a torn tail
                    raise RecordingFormatError(path, message.split(": ", 1)[1])
                pre.append(message)

            f = stack.enter_context(decompress(f, kind, path, max_file_bytes, note))
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            head = f.read(64)
            f.seek(0)
            name = strip_compression_suffix(path)
        if name.endswith(JSONL_SUFFIXES):
            fmt = "jsonl"
        elif name.endswith(PROTOBUF_SUFFIX):
            fmt = "protobuf"
        else:
            fmt = "jsonl" if head.lstrip()[:1] in (b"{", b"") else "protobuf"
        load = FileLoad(path, decoder, spans, strict=strict, max_bytes=max_bytes, head=head)
        load.notes.extend(pre)
        if progress is not None:
            load.progress = lambda done: progress(path, done, size)
        load.sink = sink
        first = len(spans)
        if fmt == "jsonl":
            load_jsonl(load, f)
        else:
            load_binpb(load, f, size)
            if decoder.compact and sink is None:  # protobuf decodes to SDK spans: keep parts
                spans[first:] = [span_parts(span) for span in spans[first:]]
        if progress is not None:
            progress(path, size, size)
        load.finish(notes, skipped, origins, stacklevel=5)


def write_recording(
    path: str | os.PathLike[str],
    spans: Iterable[ReadableSpan],
    *,
    format: RecordingFormat = "jsonl",
) -> str:
    """Write ``spans`` to a new recording file (replacing it); return the path written.

    Spans are written in batches of 1000 per line (``jsonl``) or frame (``protobuf``). A
    path ending in ``.gz`` (``.zst``) is gzip- (zstd-) compressed, each batch as its own
    member/frame. Values written in the lossless fallback (docs/recordings.md) or dropped are
    reported with one :class:`RecordingWarning` per kind.
    """
    if format not in _SUFFIX:
        raise ValueError(f"unknown recording format {format!r} (expected 'jsonl' or 'protobuf')")
    target = os.fspath(path)
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    batch: list[ReadableSpan] = []
    encoder = _JsonEncoder()
    compression = compression_of_name(target)
    reported: set[str] = set()

    def coerced(kind: str, message: str) -> None:
        if kind not in reported:
            reported.add(kind)
            warnings.warn(f"{target}: {message}", RecordingWarning, stacklevel=4)

    with open(target, "wb") as f, _gc_paused(), coercions_to(coerced):

        def flush() -> None:
            if format == "jsonl":
                record = _dumps(encoder.traces_data(batch)) + b"\n"
            else:
                payload = encode_spans(batch).SerializeToString()
                record = len(payload).to_bytes(4, "big") + payload
            f.write(compress_record(record, compression))
            batch.clear()

        for span in spans:
            batch.append(span)
            if len(batch) >= _WRITE_BATCH:
                flush()
        if batch:
            flush()
    return target
