"""docs/langgraph.md runs as written: its Python blocks, in order, in one namespace."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from otel_replay.restore.tracking import REGISTRY

DOC = Path(__file__).resolve().parent.parent / "docs" / "langgraph.md"


def test_walkthrough_runs_as_written() -> None:
    pytest.importorskip("langgraph")  # the langgraph extra
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 5
    namespace: dict[str, object] = {"__name__": "docs_langgraph"}
    tracked = set(REGISTRY._runs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for i, block in enumerate(blocks):
                exec(compile(block, f"{DOC.name} block {i + 1}", "exec"), namespace)
    finally:
        provider = namespace.get("provider")
        if provider is not None:
            provider.shutdown()  # type: ignore[attr-defined]
        for sid in set(REGISTRY._runs) - tracked:
            REGISTRY.unregister(sid)
    assert namespace["rx"].stats == {"served": 3, "live": 0, "miss": 0}  # type: ignore[attr-defined]
