"""Tolerances of the agent regression gate: :class:`GateConfig`, read from
``[tool.otel-replay]`` in ``pyproject.toml`` and overridden per test by the
``agent_baseline`` marker and the fixture's arguments."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_replay.drift.policy import DEFAULT_IGNORE_PATHS, DriftKind, DriftPolicy, Severity

__all__ = ["GateConfig", "AgentBaselineConfigError", "load_project_config", "FAIL_ON_CHOICES"]

FAIL_ON_CHOICES = ("info", "warning", "critical", "never")
_LISTS = ("ignore_paths", "ignore_drift", "ignore_steps", "order_insensitive")


class AgentBaselineConfigError(ValueError):
    """A tolerance setting is invalid; the message names the setting and where it was set."""


@dataclass(frozen=True)
class GateConfig:
    """What makes an agent baseline comparison fail.

    ``fail_on``: lowest severity that fails (``never``: report only). ``fail_kinds``: only
    findings of these kinds fail (empty: every kind). ``ignore_drift``: drift kinds never reported.
    ``ignore_steps``: steps left out of the comparison, by step kind (``other``), name
    (``should_continue``) or both (``other:should_continue``).
    ``ignore_paths``: JSON paths left out of argument and output diffs (added to the
    defaults). ``numeric_tolerance`` / ``relative_tolerance``: numbers in arguments and
    outputs are equal when ``|a - b| <= numeric_tolerance + relative_tolerance * |b|``.
    ``order_insensitive``: groups of step names (tool names, models...) whose consecutive
    calls may come in any order. ``latency``: report latency regressions (off by default:
    baselines keep no durations). ``confidence_warning`` / ``confidence_critical``: decision
    confidence changes at least this large are warnings / critical (smaller ones are not
    reported); ``token_ratio``: token usage regresses at this multiple of the baseline's.
    ``mode``: ``align`` or ``strict``.
    """

    fail_on: str = "info"
    fail_kinds: tuple[str, ...] = ()
    ignore_drift: tuple[str, ...] = ()
    ignore_steps: tuple[str, ...] = ()
    ignore_paths: tuple[str, ...] = ()
    numeric_tolerance: float = 0.0
    relative_tolerance: float = 0.0
    order_insensitive: tuple[tuple[str, ...], ...] = ()
    latency: bool = False
    confidence_warning: float = 0.4
    confidence_critical: float = 0.5
    token_ratio: float = 1.5
    mode: str = "align"
    baseline_dir: str = "tests/agent_baselines"

    def merged(self, overrides: Mapping[str, Any], where: str) -> GateConfig:
        """This config with ``overrides`` applied (list settings are extended)."""
        names = {f.name for f in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for key, raw in overrides.items():
            name = key.replace("-", "_")
            if name not in names:
                raise AgentBaselineConfigError(
                    f"{where}: unknown setting {key!r} (known: {', '.join(sorted(names))})"
                )
            value = _coerce(name, raw, where)
            if name in _LISTS:
                value = tuple(getattr(self, name)) + tuple(value)
            values[name] = value
        return dataclasses.replace(self, **values)

    def policy(self) -> DriftPolicy:
        """The :class:`DriftPolicy` these settings compare with."""
        disabled = {DriftKind(k) for k in self.ignore_drift}
        if not self.latency:
            disabled.add(DriftKind.LATENCY_REGRESSION)
        return DriftPolicy(
            disabled=disabled,
            ignore_paths=DEFAULT_IGNORE_PATHS + tuple(self.ignore_paths),
            confidence_warning=self.confidence_warning,
            confidence_critical=self.confidence_critical,
            token_ratio=self.token_ratio,
        )

    def ignores_step(self, kind: str, name: str) -> bool:
        """Whether a step of ``kind`` and ``name`` is left out (``ignore_steps``)."""
        return bool(
            self.ignore_steps
            and (
                kind in self.ignore_steps
                or name in self.ignore_steps
                or f"{kind}:{name}" in self.ignore_steps
            )
        )

    def fails(self, kind: DriftKind, severity: Severity) -> bool:
        """Whether a finding of ``kind`` and ``severity`` fails the test."""
        if self.fail_on == "never":
            return False
        if self.fail_kinds and kind.value not in self.fail_kinds:
            return False
        return severity.rank >= Severity(self.fail_on).rank


def _coerce(name: str, raw: Any, where: str) -> Any:
    def bad(expected: str) -> AgentBaselineConfigError:
        return AgentBaselineConfigError(f"{where}: {name} must be {expected}, got {raw!r}")

    if name in ("fail_kinds", "ignore_drift", "ignore_paths", "ignore_steps"):
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise bad("a list of strings")
        items = tuple(str(x) for x in raw)
        if name == "ignore_steps":
            return items
        if name != "ignore_paths":
            known = {k.value for k in DriftKind}
            for item in items:
                if item not in known:
                    raise AgentBaselineConfigError(
                        f"{where}: {name}: unknown drift kind {item!r} "
                        f"(known: {', '.join(sorted(known))})"
                    )
        else:
            try:
                DriftPolicy(ignore_paths=items)
            except ValueError as exc:
                raise AgentBaselineConfigError(f"{where}: ignore_paths: {exc}") from None
        return items
    if name == "order_insensitive":
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise bad("a list of lists of step names")
        groups = []
        for g in raw:
            if isinstance(g, str) or not isinstance(g, Sequence):
                raise bad("a list of lists of step names")
            groups.append(tuple(str(x) for x in g))
        return tuple(groups)
    if name == "fail_on":
        if raw not in FAIL_ON_CHOICES:
            raise bad("one of " + ", ".join(FAIL_ON_CHOICES))
        return str(raw)
    if name == "mode":
        if raw not in ("align", "strict"):
            raise bad("'align' or 'strict'")
        return str(raw)
    if name in (
        "numeric_tolerance",
        "relative_tolerance",
        "confidence_warning",
        "confidence_critical",
        "token_ratio",
    ):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
            raise bad("a number >= 0")
        return float(raw)
    if name == "latency":
        if not isinstance(raw, bool):
            raise bad("true or false")
        return raw
    if not isinstance(raw, str) or not raw:
        raise bad("a non-empty string")
    return raw


def load_project_config(rootdir: str | os.PathLike[str]) -> GateConfig:
    """Settings from ``[tool.otel-replay]`` of ``pyproject.toml`` in ``rootdir`` (defaults
    when the file or table is absent)."""
    path = os.path.join(os.fspath(rootdir), "pyproject.toml")
    if not os.path.isfile(path):
        return GateConfig()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            with open(path, encoding="utf-8", errors="replace") as f:
                if "[tool.otel-replay" not in f.read():
                    return GateConfig()
            raise AgentBaselineConfigError(
                f"{path}: reading [tool.otel-replay] on Python 3.10 needs the 'tomli' package"
            ) from None
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise AgentBaselineConfigError(f"{path}: invalid TOML: {exc}") from None
    table = data.get("tool", {}).get("otel-replay")
    if table is None:
        return GateConfig()
    if not isinstance(table, dict):
        raise AgentBaselineConfigError(f"{path}: [tool.otel-replay] must be a table")
    return GateConfig().merged(table, f"{path} [tool.otel-replay]")
