"""RecordingExporter: the span exporter that appends spans to an OTLP recording file."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import IO

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_replay.core import conventions as c
from otel_replay.core.env import env_int
from otel_replay.core.selfmetrics import ErrorReporter, get_meter
from otel_replay.formats.coercion import coercions_to
from otel_replay.formats.compression import (
    compress_record,
    compression_of_name,
    sniff_compression,
)
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import _SUFFIX, JSONL_SUFFIXES, PROTOBUF_SUFFIX, RecordingFormat
from otel_replay.formats.json_text import _dumps
from otel_replay.formats.otlp_json_encode import _JsonEncoder
from otel_replay.formats.otlp_proto import encode_spans
from otel_replay.formats.tail_repair import repair_tail

__all__ = ["RecordingExporter"]

_logger = logging.getLogger("otel_replay")


class RecordingExporter(SpanExporter):
    """Span exporter that appends spans to an OTLP file (JSON lines or framed protobuf).

    Each :meth:`export` writes one ``TracesData`` as one whole line (or one length-prefixed
    frame; with ``compression`` one complete gzip member / zstd frame) with a single
    unbuffered ``write`` to a file opened for appending, so a crash loses at most the record
    being written. A file that already ends in a torn record (a writer that crashed) is
    repaired when it is opened: the torn bytes are moved to ``<file>.torn`` and a warning is
    logged (:mod:`~otel_replay.formats.tail_repair`); nothing is appended after garbage.

    Durability (fsync policy): with ``fsync=False`` (default) records reach the OS at once
    (they survive a process crash) and the disk at :meth:`force_flush` and :meth:`shutdown`;
    ``fsync=True`` also syncs after every export (survives power loss, slower).

    ``compression`` (``"gzip"``, ``"zstd"``; default: from a ``.gz``/``.zst`` file name)
    compresses each record. Values a recording cannot hold as they are (integers outside
    int64, strings that are not valid Unicode) are written in the documented lossless
    fallback (docs/recordings.md), logged once and counted in
    ``agent_replay.processor.errors`` (``error.type=coerced_value``).

    Safe to call from several threads; never raises into the caller (failures return
    ``SpanExportResult.FAILURE``, are logged once per error type on the ``otel_replay``
    logger and counted in :attr:`failures`). One exporter per file.

    ``path`` is a file or a directory by this rule:

    * ends with a path separator, or is an existing directory: a **directory**; each
      exporter (and each forked process) writes its own ``spans-<pid>-<time>.jsonl``
      (or ``.binpb``) file in it;
    * ends with ``.jsonl``, ``.json`` or ``.binpb`` (optionally followed by ``.gz`` or
      ``.zst``): a **file**, appended to;
    * anything else is a **directory**, except an existing file (or device, such as
      ``/dev/stdout``), which is appended to; for a regular file a :class:`RecordingWarning`
      says so.

    ``format`` defaults to the file's extension (``.binpb``: protobuf, else JSON lines);
    a ``format`` that contradicts the extension is a :class:`ValueError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: RecordingFormat | None = None,
        max_bytes: int | None = None,
        meter_provider: MeterProvider | None = None,
        compression: str | None = None,
        fsync: bool = False,
    ) -> None:
        if compression not in (None, "gzip", "zstd"):
            raise ValueError(
                f"unknown compression {compression!r} (expected None, 'gzip' or 'zstd')"
            )
        if format is not None and format not in _SUFFIX:
            raise ValueError(
                f"unknown recording format {format!r} (expected 'jsonl' or 'protobuf')"
            )
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        target = os.fspath(path)
        self._dir_mode = _is_directory_target(target)
        self._target = target
        self.compression = (
            compression
            if compression is not None
            else (None if self._dir_mode else compression_of_name(target))
        )
        self.fsync = fsync
        #: Messages of the torn tails repaired when files were opened.
        self.repairs: list[str] = []
        self.format: RecordingFormat = _format_for(target, self._dir_mode, format)
        self.max_bytes = max_bytes
        #: Number of :meth:`export` calls that returned FAILURE.
        self.failures = 0
        self._errors = ErrorReporter("recording_exporter", get_meter(meter_provider))
        self._file: IO[bytes] | None = None
        self._path: str | None = None
        self._size = 0
        self._pid = os.getpid()
        self._forked = False
        self._shutdown = False
        self._logged: set[str] = set()
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._json = _JsonEncoder()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                exporter = ref()
                if exporter is not None:
                    exporter._reset_after_fork()

            os.register_at_fork(after_in_child=_after_fork_in_child)

    @property
    def path(self) -> str | None:
        """The file being written (``None`` until the first export in directory mode)."""
        if self._path is None and not self._dir_mode:
            return self._target
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans`` as one record; FAILURE (never an exception) on any error."""
        if self._shutdown:
            return self._failed("shutdown", "recording exporter is shut down; dropping spans")
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            with coercions_to(self._coerced):
                record = compress_record(self._encode(spans), self.compression)
        except Exception as exc:  # noqa: BLE001 - an exporter must not raise
            return self._failed(
                f"encode:{type(exc).__name__}", f"cannot encode spans for the recording: {exc!r}"
            )
        with self._lock:
            if self._shutdown:
                return self._failed("shutdown", "recording exporter is shut down; dropping spans")
            if self._pid != os.getpid():
                self._reset_after_fork()
            try:
                f = self._file if self._file is not None else self._open()
            except Exception as exc:  # noqa: BLE001
                return self._failed(
                    f"open:{type(exc).__name__}",
                    f"cannot open recording file {self._describe_target()}: {exc}",
                )
            if self.max_bytes is not None and self._size + len(record) > self.max_bytes:
                return self._failed(
                    "max_bytes",
                    f"recording file {self._path} reached its size cap of {self.max_bytes} "
                    "bytes; dropping further spans",
                )
            try:
                _write_all(f, record)
                if self.fsync:
                    os.fsync(f.fileno())
            except Exception as exc:  # noqa: BLE001
                self._rollback(f)
                return self._failed(
                    f"write:{type(exc).__name__}",
                    f"cannot write recording file {self._path}: {exc}",
                )
            self._size += len(record)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Sync and close the file; later exports return FAILURE."""
        with self._lock:
            self._shutdown = True
            f, self._file = self._file, None
            if f is not None:
                try:
                    os.fsync(f.fileno())
                except OSError:
                    pass
                try:
                    f.close()
                except OSError:
                    pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered (every export is written before it returns); syncs the file
        to disk. ``False`` if the sync failed."""
        with self._lock:
            f = self._file
            if f is None or not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return True  # nothing to sync on a pipe or device
            try:
                os.fsync(f.fileno())
            except OSError as exc:
                self._failed(f"fsync:{type(exc).__name__}", f"cannot sync {self._path}: {exc}")
                return False
        return True

    def _coerced(self, kind: str, message: str) -> None:
        error_type = "dropped_value" if kind == "drop" else "coerced_value"
        key = f"coerced:{kind}"
        with self._stats_lock:
            first = key not in self._logged
            self._logged.add(key)
        if first:
            _logger.warning(
                "%s (further ones are counted in %s, error.type=%s, not logged)",
                message,
                c.METRIC_PROCESSOR_ERRORS,
                error_type,
            )
        self._errors.add(error_type)

    # -- internals -------------------------------------------------------------------------
    def _encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        if self.format == "jsonl":
            return _dumps(self._json.traces_data(spans)) + b"\n"
        payload = encode_spans(spans).SerializeToString()
        return len(payload).to_bytes(4, "big") + payload

    def _describe_target(self) -> str:
        return self._path or self._target

    def _open(self) -> IO[bytes]:
        pid = os.getpid()
        suffix = _SUFFIX[self.format] + {None: "", "gzip": ".gz", "zstd": ".zst"}[self.compression]
        if self._dir_mode:
            os.makedirs(self._target, exist_ok=True)
            now = time.time()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
            base = os.path.join(self._target, f"spans-{pid}-{stamp}")
            for attempt in range(1000):
                path = base + (f"-{attempt}" if attempt else "") + suffix
                try:
                    f = open(path, "xb", buffering=0)  # noqa: SIM115 - kept open
                    break
                except FileExistsError:
                    continue
            else:  # pragma: no cover - 1000 files created in the same microsecond
                raise FileExistsError(base + suffix)
        else:
            path = self._target
            if self._forked:
                root, ext = os.path.splitext(path)
                path = f"{root}-{pid}{ext}"
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._repair(path)
            f = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open
        self._size = os.fstat(f.fileno()).st_size
        self._file = f
        self._path = path
        self._pid = pid
        return f

    def _repair(self, path: str) -> None:
        """Refuse a non-regular file; cut a torn tail off an existing file (and warn)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode):
            return  # a device or pipe (/dev/stdout, a FIFO): nothing to repair
        fmt = self.format  # what this exporter appends decides where a record ends
        if st.st_size:
            with open(path, "rb") as f:
                found = sniff_compression(f.read(8), path)
            if found != self.compression:
                raise OSError(
                    f"{path} exists with {found or 'uncompressed'} content but this exporter "
                    f"writes {self.compression or 'uncompressed'} records; appending would mix "
                    "them (use another file)"
                )
        cap = env_int(c.ENV_RECORDING_MAX_LINE_BYTES, c.DEFAULT_RECORDING_MAX_LINE_BYTES)
        message = repair_tail(path, fmt, self.compression, cap)
        if message is not None:
            self.repairs.append(message)
            _logger.warning("%s", message)
            self._errors.add("torn_tail")

    def _rollback(self, f: IO[bytes]) -> None:
        """Remove a partially written record so the next one starts on a clean boundary."""
        try:
            if os.fstat(f.fileno()).st_size > self._size:
                os.ftruncate(f.fileno(), self._size)
        except OSError:
            pass

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
        self._path = None
        self._size = 0
        self._pid = os.getpid()
        self._forked = True

    def _failed(self, kind: str, message: str) -> SpanExportResult:
        with self._stats_lock:
            self.failures += 1
            first = kind not in self._logged
            self._logged.add(kind)
        if first:
            _logger.error(
                "%s (further failures of this kind are counted in %s, not logged)",
                message,
                c.METRIC_PROCESSOR_ERRORS,
            )
        self._errors.add(kind.rpartition(":")[2])
        return SpanExportResult.FAILURE


_RECORDING_SUFFIXES = (*JSONL_SUFFIXES, PROTOBUF_SUFFIX)
_COMPRESSED_SUFFIXES = (".gz", ".zst")


def _uncompressed_name(target: str) -> str:
    """``target`` without a ``.gz``/``.zst`` suffix (``a.jsonl.gz`` -> ``a.jsonl``)."""
    for suffix in _COMPRESSED_SUFFIXES:
        if target.endswith(suffix):
            return target[: -len(suffix)]
    return target


def _is_directory_target(target: str) -> bool:
    """The file-or-directory rule of :class:`RecordingExporter` (see its docstring)."""
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    if target.endswith(seps) or os.path.isdir(target):
        return True
    if _uncompressed_name(target).endswith(_RECORDING_SUFFIXES):
        return False
    if not os.path.exists(target):
        return True
    if os.path.isfile(target):
        warnings.warn(
            RecordingWarning(
                f"{target} exists as a file without a recording extension "
                f"({', '.join(_RECORDING_SUFFIXES)}): RecordingExporter appends to it as one "
                f"recording file (a new path without such an extension is a directory of "
                f"recording files); rename it to {target}.jsonl to silence this warning"
            ),
            stacklevel=3,
        )
    return False


def _format_for(target: str, dir_mode: bool, format: RecordingFormat | None) -> RecordingFormat:
    """``format``, or the one the file's extension names; a contradiction is a ValueError."""
    named: RecordingFormat | None = None
    if not dir_mode:
        name = _uncompressed_name(target)
        if name.endswith(PROTOBUF_SUFFIX):
            named = "protobuf"
        elif name.endswith(JSONL_SUFFIXES):
            named = "jsonl"
    if format is None:
        return named or "jsonl"
    if named is not None and named != format:
        raise ValueError(
            f"recording file {target} has the extension of {named!r} recordings but "
            f"format={format!r}: drop format= or name the file with {_SUFFIX[format]}"
        )
    return format


def _write_all(f: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = f.write(view)
        if n is None:  # pragma: no cover - non-blocking files only
            raise BlockingIOError("write would block")
        view = view[n:]
