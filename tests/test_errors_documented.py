"""The public exception hierarchy: every exception class that can reach users is exported from
``otel_replay`` and documented, with its real base classes, in docs/errors.md."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import otel_replay

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"
ROW = re.compile(r"^\| `(\w+)` \| ([^|]+) \|", re.MULTILINE)


def _documented() -> dict[str, list[str]]:
    """Documented class name -> base class names, from the tables of docs/errors.md."""
    rows = {}
    for name, bases in ROW.findall(DOC.read_text(encoding="utf-8")):
        if name != "exception":
            rows[name] = [b.strip().strip("`") for b in bases.split(",")]
    return rows


def _exported_exceptions() -> dict[str, type]:
    out = {}
    for name in otel_replay.__all__:
        value = getattr(otel_replay, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            out[name] = value
    return out


def _defined_exceptions() -> dict[str, type]:
    """Public exception classes defined anywhere in the package (generated code aside)."""
    out = {}
    for info in pkgutil.walk_packages(otel_replay.__path__, "otel_replay."):
        if "._proto" in info.name or info.name.endswith(".__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError as exc:
            # the minimum-versions run has no frameworks: their modules (and old paths to
            # them) say which extra they need; their errors live in model
            assert "pip install otel-replay[" in str(exc), exc
            assert importlib.util.find_spec("langgraph") is None, exc
            continue
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                out[f"{module.__name__}.{name}"] = value
    return out


def test_every_exported_exception_is_documented_with_its_bases():
    documented = _documented()
    exported = _exported_exceptions()
    assert sorted(exported) == sorted(documented)
    for name, cls in exported.items():
        assert documented[name] == [b.__name__ for b in cls.__bases__], name


def test_every_exception_defined_in_the_package_is_exported():
    exported = set(_exported_exceptions().values())
    defined = _defined_exceptions()
    assert len(defined) == 26  # the walk found them all (an empty walk would pass below)
    missing = sorted(path for path, cls in defined.items() if cls not in exported)
    assert missing == []


def test_the_named_errors_import_from_the_top():
    from otel_replay import (  # noqa: F401
        BackendError,
        DriftTrackingError,
        LangGraphRestoreError,
        RecordedStepError,
        RecordingFormatError,
        RestoreError,
        UnorderedHistoryError,
    )
    from otel_replay.capture.processor import IncompleteHistoryError
    from otel_replay.restore.api import RestoreError as FromApi

    if importlib.util.find_spec("langgraph") is not None:
        from otel_replay.integrations.langgraph import LangGraphRestoreError as FromIntegration

        assert FromIntegration is LangGraphRestoreError
    assert FromApi is RestoreError
    assert issubclass(UnorderedHistoryError, otel_replay.CheckpointError)
    assert otel_replay.IncompleteHistoryError is IncompleteHistoryError


def test_readme_links_the_error_reference():
    assert "(docs/errors.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
