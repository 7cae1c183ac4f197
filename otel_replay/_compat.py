"""Deprecated module paths of otel-replay 0.1 that re-export names from their new homes.

Each old module (``otel_replay.recordings``, ``otel_replay.hooks_langgraph``, ...) is a thin
module whose ``__getattr__`` comes from :func:`moved`: reading a name returns it from where it
lives now and warns with a :class:`DeprecationWarning` that says where (shown once per place by
Python's default warning filters).
They are removed in the next release.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

__all__ = ["moved"]


def moved(
    old: str, names: Mapping[str, ModuleType]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the deprecated module ``old``; ``names`` maps each
    name it had to the module that defines it now."""

    def __getattr__(name: str) -> Any:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old} is deprecated: import {name} from {new.__name__} (the old path is removed "
            "in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(new, name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
