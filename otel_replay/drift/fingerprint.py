"""Fingerprints and run profiles: what the field comparison reads of a step, from its raw
attribute values, so that agreeing runs are recognized without comparing them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from otel_replay.drift.policy import DriftPolicy
from otel_replay.model.compact_step import CompactStep
from otel_replay.model.step_print import fingerprint
from otel_replay.model.steps import Step

__all__ = ["fingerprint", "step_print", "RunProfile", "profile"]


def step_print(step: Step) -> tuple[Any, ...]:
    """The fingerprint of ``step``; for a :class:`CompactStep`, the compact print it keeps
    (:func:`~otel_replay.model.step_print.compact_print`)."""
    if type(step) is CompactStep:
        return step.print
    return fingerprint(step.kind, step.attributes, step.status)


@dataclass(frozen=True)
class RunProfile:
    """A run reduced to what decides "no drift": signatures and fingerprints in order.

    Two runs whose profiles have equal ``signatures`` and ``prints`` and whose candidate has
    no step at or over the latency floor compare without findings (in both modes), so
    :func:`~otel_replay.drift.compare.compare` need not run. Built by :func:`profile` (steps)
    or incrementally from spans by the drift processor. ``steps`` are the kept steps
    themselves, in order.
    """

    signatures: list[tuple[str, str]]
    prints: list[tuple[Any, ...]]
    steps: list[Step]


def profile(steps: Iterable[Step], policy: DriftPolicy, mode: str = "align") -> RunProfile:
    """The :class:`RunProfile` of ``steps`` under ``policy`` in ``mode`` (the kinds
    :meth:`~otel_replay.drift.policy.DriftPolicy.skipped_kinds` skips left out)."""
    skip = policy.skipped_kinds(mode)
    sigs: list[tuple[str, str]] = []
    prints: list[tuple[Any, ...]] = []
    kept: list[Step] = []
    for s in steps:
        kind = s.kind
        if kind in skip:
            continue
        sigs.append((kind, s.name))
        prints.append(fingerprint(kind, s.attributes, s.status))
        kept.append(s)
    return RunProfile(sigs, prints, kept)
