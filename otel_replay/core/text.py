"""Counts in words for messages and reports."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the right number: ``1 session``, ``2 sessions``, ``0 sessions``."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
