"""Protobuf wire format pieces for writing serialized messages by hand (and skipping in them):
varints and length-delimited fields."""

from __future__ import annotations

__all__ = ["varint", "delimited", "skip_varint"]


def varint(n: int) -> bytes:
    """``n`` (``>= 0``) as a protobuf varint."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def delimited(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: its ``tag`` byte(s), the length of ``data``, ``data``."""
    return tag + varint(len(data)) + data


def skip_varint(blob: bytes, i: int) -> int:
    """The position after the varint at ``blob[i]``."""
    while blob[i] & 0x80:
        i += 1
    return i + 1
