"""The print of a step: what the field comparison of drift detection reads of it, from its
raw attribute values (:func:`fingerprint`), and a fixed-size digest of it
(:func:`print_digest`) for steps that do not keep their attributes."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.model.span_shapes import (
    _OI_KIND_KEY,
    _TL_KIND_KEY,
    LLM_OUTPUT_KEYS,
    TOOL_INPUT_KEYS,
    TOOL_OUTPUT_KEYS,
)
from otel_replay.model.steps import INPUT_TOKEN_KEYS, OUTPUT_TOKEN_KEYS, _first_int

__all__ = ["fingerprint", "print_digest", "compact_print", "KEEP_CHARS"]

_ARGS = c.GEN_AI_TOOL_CALL_ARGUMENTS
_RESULT = c.GEN_AI_TOOL_CALL_RESULT
_OUTPUT = c.GEN_AI_OUTPUT_MESSAGES
_IN_TOKENS = c.GEN_AI_USAGE_INPUT_TOKENS
_OUT_TOKENS = c.GEN_AI_USAGE_OUTPUT_TOKENS
_ACTION = c.DECISION_ACTION
_CONFIDENCE = c.DECISION_CONFIDENCE


def fingerprint(kind: str, attrs: Mapping[str, Any], status: str) -> tuple[Any, ...]:
    """What :func:`~otel_replay.drift.fields._compare_same` compares of a step, from its raw
    attribute values.

    Two same-signature steps with equal fingerprints have no findings but possibly a latency
    regression. A field that cannot be fingerprinted exactly (spans of other
    instrumentations, whose inputs and outputs are assembled from several attributes) gets a
    fresh ``object()``, which never compares equal: those steps are always compared field
    by field. A token count that is not an int attribute of its GenAI key (absent, a float,
    another convention's key) is fingerprinted as the count the comparison reads.
    """
    if kind == "tool":
        if _TL_KIND_KEY in attrs or _OI_KIND_KEY in attrs:
            return (object(),)
        # the GenAI attribute's string itself when present (a str never equals the
        # (key, type, value) tuple of another source), else the source the step reads
        x = attrs.get(_ARGS)
        y = attrs.get(_RESULT)
        return (
            x if type(x) is str else _source(attrs, TOOL_INPUT_KEYS),
            y if type(y) is str else _source(attrs, TOOL_OUTPUT_KEYS),
            status,
        )
    if kind == "llm":
        x = attrs.get(_OUTPUT)
        y = attrs.get(_IN_TOKENS)
        z = attrs.get(_OUT_TOKENS)
        return (
            object()
            if _OI_KIND_KEY in attrs
            else (x if type(x) is str else _source(attrs, LLM_OUTPUT_KEYS)),
            # the count the comparison reads (``Step.input_tokens``: the first present of
            # the token attributes, floats truncated), tagged so it never equals an int
            y if type(y) is int else _token_print(attrs, INPUT_TOKEN_KEYS),
            z if type(z) is int else _token_print(attrs, OUTPUT_TOKEN_KEYS),
            status,
        )
    if kind == "decision":
        x = attrs.get(_ACTION)
        y = attrs.get(_CONFIDENCE)
        return (x, type(x), y, type(y), status)
    return (status,)


_NO_TOKENS = ("tokens", None)


def _token_print(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, int | None]:
    n = _first_int(attrs, keys)
    return _NO_TOKENS if n is None else ("tokens", n)


def _source(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The attribute a step's inputs or outputs are decoded from (the first present of
    ``keys``, the same key lists :func:`otel_replay.model.steps.normalize_span` reads), as
    (key, type, value); ``None`` when there is none."""
    for key in keys:
        v = attrs.get(key)
        if v is not None:
            return (key, type(v), v)
    return None


#: Characters of text up to which :func:`compact_print` keeps a fingerprint itself (about
#: the size of its digest).
KEEP_CHARS = 128


def compact_print(fp: tuple[Any, ...]) -> tuple[Any, ...]:
    """``fp`` itself when its text is short (at most :data:`KEEP_CHARS` characters), else
    its :func:`print_digest`. Either compares equal to another compact print exactly when
    the fingerprints are equal (a kept fingerprint never equals a digest: they differ in
    length), up to the rare unequal digests of equal fingerprints."""
    size = 0
    for x in fp:
        t = type(x)
        if t is str:
            size += len(x)
        elif t is tuple:
            for y in x:
                ty = type(y)
                if ty is str:
                    size += len(y)
                elif ty is tuple:
                    size += KEEP_CHARS + 1
    return fp if size <= KEEP_CHARS else print_digest(fp)


def print_digest(fp: tuple[Any, ...]) -> tuple[Any, ...]:
    """A compact stand-in for the fingerprint ``fp``: ``(None or 1, digest)``, the first item
    ``None`` exactly when ``fp[0]`` is ``None`` (an LLM step without output source).

    Equal digests imply equal fingerprints (a 128-bit BLAKE2b of ``repr(fp)``, which spells
    each value with its type); a fingerprint that never compares equal (it holds a fresh
    ``object()`` or a NaN) gets a fresh ``object()``. Unequal digests of equal fingerprints
    (e.g. ``0.0`` and ``-0.0``) only cost a field comparison, which then finds nothing.
    """
    head = None if fp[0] is None else 1  # no fingerprint has two items: never equal to one
    if not _exact(fp):
        return (head, object())
    text = repr(fp).encode("utf-8", "surrogatepass")
    return (head, _blake2b(text, digest_size=16).digest())


_blake2b = hashlib.blake2b


def _exact(xs: tuple[Any, ...]) -> bool:
    """Whether ``xs`` equals only tuples with the same ``repr`` (no ``object()``, no NaN)."""
    for x in xs:
        t = type(x)
        if t is str or t is int or x is None:
            continue
        if t is tuple:
            if not _exact(x):
                return False
        elif t is float:
            if math.isnan(x):
                return False
        elif t is object:
            return False
    return True
