"""The test run has the environment it expects, so ``pytest.importorskip`` hides no test.

scripts/test.sh installs ``.[dev,test]``: every requirement of both extras must be installed,
or the tests that need a missing one would skip unnoticed. scripts/test-min-versions.sh sets
``OTEL_REPLAY_CORE_ONLY=1`` and installs no extra: then none of the extras' packages may be
installed (only the test runner's own tools), so that run really shows that the package works
with its core dependencies alone.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is installed there (test extra, min-versions)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "optional-dependencies"
]
CORE_ONLY = os.environ.get("OTEL_REPLAY_CORE_ONLY") == "1"
# what scripts/test-min-versions.sh installs beside the package and its core dependencies
RUNNER_TOOLS = {"pytest", "pytest-timeout", "hypothesis", "tomli"}


def _requirements(extra: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in EXTRAS[extra]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": extra})]


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@pytest.mark.skipif(CORE_ONLY, reason="the minimum-versions run installs no extra")
def test_dev_and_test_extras_are_installed():
    problems = set()
    for extra in ("dev", "test"):
        for req in _requirements(extra):
            got = _installed(req.name)
            if got is None or not req.specifier.contains(got, prereleases=True):
                problems.add(f"{req} ({got or 'not installed'})")
    if problems:
        message = "missing from the [dev,test] extras: " + ", ".join(sorted(problems))
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message + " (pip install -e '.[dev,test]')")


@pytest.mark.skipif(not CORE_ONLY, reason="only the minimum-versions run has no extras")
def test_core_only_run_has_no_optional_package():
    present = sorted(
        f"{req.name} {_installed(req.name)}"
        for extra in EXTRAS
        for req in _requirements(extra)
        if req.name not in RUNNER_TOOLS and _installed(req.name) is not None
    )
    assert present == [], "the core-only run must not have the extras' packages"
