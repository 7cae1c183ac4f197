"""Stale agent baselines: files in the baseline directory that no test uses any more.

A baseline is stale when

- its test file no longer exists (no file matching pytest's ``python_files`` under the
  rootdir maps to its directory), or
- its test file was collected and run in full (no ``-k``/``-m``/``--deselect``/``--lf``
  deselection, no ``file::test`` ids, every test of it ran: not stopped by ``-x``), and
  either no test of it owns the file (the test was deleted or renamed) or the owning test
  passed without opening it (it has fewer blocks now, or none).

Files of tests that failed or were skipped are kept: they may still be wanted.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from otel_replay.pytest_plugin.session import baseline_module_dir

__all__ = ["ModuleTests", "stale_baselines", "owner"]

_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".nox"})


@dataclasses.dataclass
class ModuleTests:
    """The tests a run collected from one test file (``path`` relative to the rootdir):
    node id -> baseline file stem; ``full`` when nothing of the file was deselected."""

    path: str
    tests: dict[str, str]
    full: bool = True

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "tests": dict(self.tests), "full": self.full}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ModuleTests:
        tests = d.get("tests")
        return cls(
            path=str(d.get("path", "")),
            tests={str(k): str(v) for k, v in tests.items()} if isinstance(tests, dict) else {},
            full=bool(d.get("full", False)),
        )


def owner(file_stem: str, stems: Iterable[str]) -> str | None:
    """The test stem a baseline file belongs to: ``<stem>``, ``<stem>-<n>`` (its n-th
    block) or ``<stem>.<name>`` (a named block); the longest such stem."""
    best: str | None = None
    for stem in stems:
        if file_stem == stem or file_stem.startswith(stem + "."):
            hit = True
        else:
            hit = re.fullmatch(re.escape(stem) + r"-[0-9]+", file_stem) is not None
        if hit and (best is None or len(stem) > len(best)):
            best = stem
    return best


def _jsonl(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(
        os.path.join(directory, n)
        for n in names
        if n.endswith(".jsonl") and os.path.isfile(os.path.join(directory, n))
    )


def _test_file_dirs(rootdir: str, baseline_dir: str, patterns: Sequence[str]) -> set[str]:
    """Baseline directories of every test file under ``rootdir`` (whether run or not)."""
    out: set[str] = set()
    skip = os.path.normpath(os.path.join(rootdir, baseline_dir))
    for here, dirs, files in os.walk(rootdir):
        dirs[:] = [
            d
            for d in dirs
            if d not in _SKIP_DIRS
            and os.path.normpath(os.path.join(here, d)) != skip
            and not os.path.isfile(os.path.join(here, d, "pyvenv.cfg"))
        ]
        for f in files:
            if f.endswith(".py") and any(fnmatch.fnmatch(f, p) for p in patterns):
                rel = os.path.relpath(os.path.join(here, f), rootdir)
                out.add(os.path.normpath(baseline_module_dir(rootdir, baseline_dir, rel)))
    return out


def stale_baselines(
    rootdir: str,
    baseline_dir: str,
    modules: Iterable[ModuleTests],
    *,
    ran: set[str],
    passed: set[str],
    used: set[str],
    python_files: Sequence[str],
) -> list[str]:
    """Paths of the stale baseline files (see the module docstring), sorted.

    ``ran``: node ids of the tests that ran to their teardown; ``passed``: the ones that
    passed; ``used``: the baseline files the run's blocks opened."""
    root = os.path.normpath(os.path.join(rootdir, baseline_dir))
    if not os.path.isdir(root):
        return []
    used_n = {os.path.normpath(p) for p in used}
    stale: set[str] = set()
    seen_dirs: set[str] = set()
    for m in modules:
        directory = os.path.normpath(baseline_module_dir(rootdir, baseline_dir, m.path))
        seen_dirs.add(directory)
        if not m.full or not m.tests or not set(m.tests) <= ran:
            continue
        by_stem: dict[str, list[str]] = {}
        for nodeid, stem in m.tests.items():
            by_stem.setdefault(stem, []).append(nodeid)
        for path in _jsonl(directory):
            if os.path.normpath(path) in used_n:
                continue
            found = owner(os.path.basename(path)[: -len(".jsonl")], by_stem)
            if found is None or all(n in passed for n in by_stem[found]):
                stale.add(path)
    try:
        dirs = sorted(os.path.join(root, d) for d in os.listdir(root))
    except OSError:
        dirs = []
    unknown = [d for d in dirs if os.path.isdir(d) and os.path.normpath(d) not in seen_dirs]
    if unknown:
        existing = _test_file_dirs(rootdir, baseline_dir, python_files)
        for d in unknown:
            if os.path.normpath(d) not in existing:
                stale.update(_jsonl(d))
    return sorted(stale)
