"""Repairing the torn tail of a recording file before a writer appends to it.

A writer that died mid-write (SIGKILL, power loss) leaves half a JSON line, half a protobuf
frame or half a compressed member at the end of the file. Appending after it would glue the
next record to the garbage. :func:`repair_tail` finds the end of the last complete record,
moves the bytes after it to ``<file>.torn`` (appended, so nothing is ever deleted) and
truncates the file there.

* JSON lines: the end of the last line ending in a newline (a last line that is valid JSON
  without its newline gets the newline instead).
* Length-prefixed protobuf: frames are walked by their length prefixes; at a bad prefix the
  reader's resynchronization (:func:`~otel_replay.formats.readers.find_frame`) decides
  whether damage is in the middle (left for the reader to skip) or the tail is torn.
* gzip / zstd: the end of the last complete member / frame.
"""

from __future__ import annotations

import json
import os
from typing import IO

from otel_replay.formats.compression import complete_members_end
from otel_replay.formats.readers import find_frame

__all__ = ["TORN_SUFFIX", "repair_tail"]

#: Suffix of the side file that receives a torn tail.
TORN_SUFFIX = ".torn"
_BACK = 64 * 1024


def repair_tail(path: str, fmt: str, compression: str | None, max_bytes: int) -> str | None:
    """Cut the torn tail of ``path`` (if any) into ``path + TORN_SUFFIX``; return a message
    describing what was done, or ``None`` when the file ends on a record boundary."""
    try:
        f = open(path, "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return None
        if compression is not None:
            good, size = complete_members_end(f, compression)
        elif fmt == "jsonl":
            good = _jsonl_end(f, size)
            if good == -1:  # a complete JSON line without its newline
                f.seek(size)
                f.write(b"\n")
                return None
        else:
            good = _protobuf_end(f, size, max_bytes)
        if good >= size:
            return None
        f.seek(good)
        torn = f.read(size - good)
        side = path + TORN_SUFFIX
        with open(side, "ab") as out:
            out.write(torn)
            out.flush()
            os.fsync(out.fileno())
        f.truncate(good)
        f.flush()
        os.fsync(f.fileno())
    return (
        f"recording file {path} ended in a torn record ({len(torn)} bytes at byte offset "
        f"{good}, left by a writer that stopped mid-write); moved them to {side} and "
        "appending after the last complete record"
    )


def _jsonl_end(f: IO[bytes], size: int) -> int:
    pos = size
    while pos > 0:
        start = max(0, pos - _BACK)
        f.seek(start)
        chunk = f.read(pos - start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            good = start + i + 1
            break
        pos = start
    else:
        good = 0
    if good < size:
        f.seek(good)
        tail = f.read(size - good)
        try:
            json.loads(tail)
        except (ValueError, RecursionError):
            return good
        return -1
    return good


def _protobuf_end(f: IO[bytes], size: int, max_bytes: int) -> int:
    pos = 0
    while True:
        while pos + 4 <= size:
            f.seek(pos)
            length = int.from_bytes(f.read(4), "big")
            if length == 0 or length > max_bytes or pos + 4 + length > size:
                break
            pos += 4 + length
        if pos >= size:
            return size
        nxt = find_frame(f, pos + 1, size, max_bytes)
        if nxt is None:
            return pos
        pos = nxt
