"""Opening recording files: refusing non-regular files, and compressed recordings (gzip,
zstd) detected by their magic bytes, not by their name.

A compressed file is decompressed member by member (gzip) or frame by frame (zstd) into an
anonymous temporary file, so the record readers can seek in it; a stream that ends in the
middle of a member (a writer that crashed) keeps what was decompressed with a note, and the
decompressed size is capped (``max_file_bytes``, else :data:`DEFAULT_MAX_DECOMPRESSED_BYTES`).
Writers compress each record as its own gzip member / zstd frame
(:func:`compress_record`), so every record on disk is complete on its own.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zlib
from collections.abc import Callable
from typing import IO, Any

from otel_replay.formats.errors import RecordingError, RecordingSizeError

__all__ = ["DEFAULT_MAX_DECOMPRESSED_BYTES", "GZIP_MAGIC", "ZSTD_MAGIC", "compression_of_name"]

#: Decompressed size cap of one compressed recording file when ``max_file_bytes`` is not set.
DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024**3
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_OTHER_MAGIC = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}
_CHUNK = 64 * 1024  # compressed bytes per step (at most ~64 MiB decompressed)

_zstd: Any
try:  # optional: zstd recordings need the ``zstandard`` package
    import zstandard

    _zstd = zstandard
except ImportError:  # pragma: no cover - depends on the environment
    _zstd = None


def compression_of_name(path: str) -> str | None:
    """``"gzip"`` for ``*.gz``, ``"zstd"`` for ``*.zst``, else ``None`` (writers)."""
    if path.endswith(".gz"):
        return "gzip"
    if path.endswith(".zst"):
        return "zstd"
    return None


def strip_compression_suffix(name: str) -> str:
    for suffix in (".gz", ".zst"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def compress_record(data: bytes, compression: str | None) -> bytes:
    """``data`` as one complete gzip member / zstd frame (unchanged without compression)."""
    if compression is None:
        return data
    if compression == "gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()
    if _zstd is None:
        raise RecordingError("zstd recordings need the zstandard package (pip install zstandard)")
    return bytes(_zstd.ZstdCompressor().compress(data))


def file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str) -> IO[bytes]:
    """``path`` opened for reading; :class:`RecordingError` unless it is a regular file
    (``/dev/zero``, FIFOs and sockets would never end or block). FIFOs are opened without
    blocking so the check cannot hang."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RecordingError(
            f"{path}: not a regular file ({file_kind(st.st_mode)}); recordings are read "
            "from regular files only"
        )
    try:
        f = open(path, "rb")  # noqa: SIM115 - returned
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # replaced between stat and open
        f.close()
        raise RecordingError(f"{path}: not a regular file; recordings are read from regular files")
    return f


def sniff_compression(head: bytes, path: str) -> str | None:
    """The compression named by the magic bytes of ``head`` (``None``: not compressed);
    :class:`RecordingError` for formats that are not supported."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        if _zstd is None:
            raise RecordingError(
                f"{path}: the file is zstd-compressed; install the zstandard package "
                "(pip install zstandard) to read it, or decompress it with `zstd -d`"
            )
        return "zstd"
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise RecordingError(
                f"{path}: the file is {name}-compressed, which recordings do not support "
                "(gzip and zstd are); decompress it first"
            )
    return None


def decompress(
    src: IO[bytes], kind: str, path: str, cap: int | None, note: Callable[[str], None]
) -> IO[bytes]:
    """Decompress ``src`` into a new anonymous temporary file (positioned at 0).

    Concatenated members/frames are all read; a stream cut inside a member keeps its
    decompressed part (``note`` says so) and corrupt or trailing non-compressed bytes end
    the stream with a note. More than ``cap`` decompressed bytes raise
    :class:`RecordingSizeError`.
    """
    limit = DEFAULT_MAX_DECOMPRESSED_BYTES if cap is None else cap
    name = "gzip" if kind == "gzip" else "zstd"

    def new() -> Any:
        if kind == "gzip":
            return zlib.decompressobj(31)
        return _zstd.ZstdDecompressor().decompressobj()

    dst = tempfile.TemporaryFile()  # noqa: SIM115 - returned
    try:
        total = 0
        consumed = 0  # compressed bytes fed to finished members
        d = new()
        fed = 0  # compressed bytes fed to the current member
        stopped = False
        while not stopped:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            data = chunk
            while data:
                try:
                    out = d.decompress(data)
                except Exception as exc:  # noqa: BLE001 - zlib.error, zstd.ZstdError
                    note(
                        f"{path}: corrupt {name} data in the member starting at compressed byte "
                        f"offset {consumed} ({exc}); the rest of the file was skipped"
                    )
                    stopped = True
                    break
                total += len(out)
                if total > limit:
                    raise RecordingSizeError(
                        f"{path}: decompresses to more than {limit} bytes "
                        "(max_file_bytes caps the decompressed size)"
                    )
                dst.write(out)
                if d.eof:
                    unused = d.unused_data
                    fed += len(data) - len(unused)
                    consumed += fed
                    fed = 0
                    d = new()
                    data = unused
                    if data and not _is_magic(data, kind):
                        more = len(data) + len(src.read())
                        note(
                            f"{path}: {more} bytes after the last complete {name} member at "
                            f"compressed byte offset {consumed} are not {name} data; skipped"
                        )
                        stopped = True
                        break
                else:
                    fed += len(data)
                    data = b""
        if not stopped and fed:
            tail = d.flush() if kind == "gzip" else b""
            dst.write(tail)
            note(
                f"{path}: the {name} stream ends inside a member at compressed byte offset "
                f"{consumed} ({fed} bytes; the writer probably crashed); its decompressed part "
                "was kept"
            )
        dst.seek(0)
        return dst
    except BaseException:
        dst.close()
        raise


def _is_magic(data: bytes, kind: str) -> bool:
    magic = GZIP_MAGIC if kind == "gzip" else ZSTD_MAGIC
    return data[: len(magic)] == magic[: len(data)]


def complete_members_end(f: IO[bytes], kind: str) -> tuple[int, int]:
    """(end offset of the last complete compressed member, file size) of ``f``: the writer
    repairs a torn tail by cutting the file there."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(0)
    good = 0
    pos = 0

    def new() -> Any:
        if kind == "gzip":
            return zlib.decompressobj(31)
        return _zstd.ZstdDecompressor().decompressobj()

    d = new()
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return good, size
        data = chunk
        while data:
            try:
                d.decompress(data)
            except Exception:  # noqa: BLE001 - corrupt member: cut here
                return good, size
            if d.eof:
                unused = d.unused_data
                pos += len(data) - len(unused)
                good = pos
                d = new()
                data = unused
                if data and not _is_magic(data, kind):
                    return good, size
            else:
                pos += len(data)
                data = b""
