"""A tracked run's spans held until it ends, and the profile taken from them as they end.

:func:`_profile_entry` reads an ended span the way
:func:`~otel_replay.drift.fingerprint.profile` reads its normalized step, so a run that agrees
with its baseline is decided without normalizing a single span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_replay.core import conventions as c
from otel_replay.core.sdkspan import span_attributes
from otel_replay.drift.fingerprint import fingerprint
from otel_replay.drift.policy import DriftPolicy
from otel_replay.model.span_shapes import _classify as classify
from otel_replay.restore.tracking import TrackedRun

__all__ = [
    "RESUME_ROOT_KINDS",
    "Held",
    "is_run_root",
    "agent_name",
    "profile_entry",
    "response_id",
    "run_root",
    "SKIP",
    "SLOW",
]


#: Kinds a span marked ``agent_replay.replay.resume_root`` must have (judged when it ends,
#: as instrumentations set their kind attributes after start) to be left out as the resume's
#: own root; an LLM or tool call is always a step.
RESUME_ROOT_KINDS = frozenset({c.KIND_AGENT, c.KIND_OTHER, c.KIND_PLUMBING})


class Held:
    """A tracked run's spans until it ends, and its profile built as they end.

    ``entries`` holds ``(sequence key, signature, fingerprint, span)`` of each compared span,
    computed while the span is fresh; ``None`` once a span made the shortcut impossible
    (a step at or over the latency floor). What the end of the run reads of every span is
    kept as they are added (:meth:`add`): ``root``, the first run root (:func:`is_run_root`);
    ``agent``, the first string ``gen_ai.agent.name``; ``response``, ``(end time, id)`` of
    the latest-ending span with a ``gen_ai.response.id`` (the later one on a tie).
    """

    __slots__ = ("run", "spans", "overflowed", "policy", "entries", "root", "agent", "response")

    def __init__(self, run: TrackedRun, policy: DriftPolicy) -> None:
        self.run = run
        self.spans: list[ReadableSpan] = []
        self.overflowed = False
        self.policy = policy
        self.entries: list[tuple[int, tuple[str, str], tuple[Any, ...], ReadableSpan]] | None = []
        self.root: ReadableSpan | None = None
        self.agent: str | None = None
        self.response: tuple[int, str] | None = None

    def add(self, span: ReadableSpan, attrs: Mapping[str, Any], root: bool) -> None:
        """Hold ``span`` (its attributes ``attrs``; ``root``: whether it is a run root)."""
        self.spans.append(span)
        if root and self.root is None:
            self.root = span
        if self.agent is None:
            name = attrs.get(_AGENT_NAME)
            if isinstance(name, str):
                self.agent = name
        rid = attrs.get(_RESPONSE_ID)
        if isinstance(rid, str) and rid:
            end = span.end_time or 0
            best = self.response
            if best is None or end >= best[0]:
                self.response = (end, rid)


SKIP: Any = object()  # a span the comparison leaves out
SLOW: Any = object()  # at or over the latency floor (or unreadable): only compare() judges it
_UNSET = StatusCode.UNSET
_OK = StatusCode.OK
_NO_SEQUENCE = 1 << 62
_RUN_ID = c.REPLAY_RUN_ID
_AGENT_NAME = c.GEN_AI_AGENT_NAME
_RESPONSE_ID = c.GEN_AI_RESPONSE_ID
_REPLAYED = c.REPLAY_REPLAYED
_RESUME_ROOT = c.REPLAY_RESUME_ROOT
_AGENT = c.KIND_AGENT
_SEQUENCE = c.STEP_SEQUENCE


def is_run_root(span: ReadableSpan, attrs: Mapping[str, Any] | None = None) -> bool:
    """The root of a run: no parent, a parent in another process, or the span of
    ``RestoreResult.run()`` (it carries the restored run's id) under a local parent
    (``attrs``: the span's attributes, when at hand)."""
    parent = span.parent
    return (
        parent is None
        or parent.is_remote
        or _RUN_ID in (span_attributes(span) if attrs is None else attrs)
    )


def profile_entry(
    span: ReadableSpan,
    policy: DriftPolicy,
    mode: str = "align",
    attrs: Mapping[str, Any] | None = None,
    root: bool | None = None,
) -> Any:
    """``(sequence key, signature, fingerprint, span)`` of an ended span, exactly as
    :func:`~otel_replay.drift.fingerprint.profile` sees its normalized step; ``SKIP`` for spans the
    comparison leaves out, ``SLOW`` for a step at or over the latency floor. ``attrs`` (the
    span's attributes) and ``root`` (:func:`is_run_root`) save looking them up again."""
    if attrs is None:
        attrs = span_attributes(span)
    if attrs.get(_REPLAYED):
        return SKIP
    kind, name = classify(attrs, span.name)
    if attrs.get(_RESUME_ROOT) and kind in RESUME_ROOT_KINDS:
        return SKIP  # the resumed framework's own root (marked at start, judged at end)
    if kind == _AGENT and (is_run_root(span, attrs) if root is None else root):
        return SKIP  # the run's own root
    if kind in policy.skipped_kinds(mode):
        return SKIP
    start = span.start_time or 0
    end = span.end_time or start
    floor = policy.min_latency_ns
    if floor is not None and end - start >= floor:
        return SLOW
    seq = attrs.get(_SEQUENCE)
    if type(seq) is not int:
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else _NO_SEQUENCE
    code = span.status.status_code  # identity tests: hashing an Enum member runs Python code
    status = "unset" if code is _UNSET else ("ok" if code is _OK else "error")
    return (seq, (kind, name), fingerprint(kind, attrs, status), span)


def response_id(spans: list[ReadableSpan], held: Held | None = None) -> str | None:
    """``gen_ai.response.id`` of the run's last response (the latest-ending span with one;
    kept in ``held`` as the spans were held)."""
    if held is not None:
        return held.response[1] if held.response else None
    best: tuple[int, str] | None = None
    for s in spans:
        rid = (s.attributes or {}).get(_RESPONSE_ID)
        if isinstance(rid, str) and rid and (best is None or (s.end_time or 0) >= best[0]):
            best = (s.end_time or 0, rid)
    return best[1] if best else None


def agent_name(spans: list[ReadableSpan], held: Held | None = None) -> str | None:
    """The first string ``gen_ai.agent.name`` of the run's spans (kept in ``held``)."""
    if held is not None:
        return held.agent
    for s in spans:
        name = (s.attributes or {}).get(_AGENT_NAME)
        if isinstance(name, str):
            return name
    return None


def run_root(
    spans: list[ReadableSpan], held: Held | None = None, with_context: bool = False
) -> ReadableSpan | None:
    """The first run root of ``spans`` (kept in ``held``); ``with_context``: the first one
    with a span context."""
    root = held.root if held is not None else None
    if held is not None and (root is None or root.context is not None or not with_context):
        return root
    return next(
        (s for s in spans if is_run_root(s) and (s.context is not None or not with_context)),
        None,
    )
