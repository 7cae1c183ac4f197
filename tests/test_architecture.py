"""The package layout: no import cycles, layers respected, the picture current, old paths kept."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import architecture  # noqa: E402

sys.path.remove(str(ROOT / "scripts"))

#: ``otel_replay.__all__`` of 0.1: the public API keeps every name.
PUBLIC_API_0_1 = {
    "__version__", "Checkpoint", "CheckpointError", "CheckpointNotFoundError",
    "CheckpointRedactionError", "CheckpointStateError", "CheckpointStateTooLargeError",
    "CheckpointStore", "CheckpointStoreError", "DirectoryCheckpointStore",
    "InMemoryCheckpointStore", "IncompleteHistoryError", "CancelToken", "DivergenceError",
    "DriftFinding", "DriftKind", "DriftPolicy", "DriftProcessor", "DriftReport",
    "RecordingExporter", "Reexecution", "RestoreResult", "Severity", "arestore", "compare",
    "load_recording", "register_restore_hook", "restore", "restore_hooks",
    "unregister_restore_hook", "ReplayProcessor", "Step", "agent_run", "checkpoint",
    "decision", "llm_call", "normalize_span", "session", "set_checkpoint_store", "tool_call",
    "traced_llm", "traced_tool",
}  # fmt: skip

#: The flat modules of 0.1 that became thin deprecated re-export modules.
DEPRECATED = [
    "conventions", "selfmetrics", "steps", "checkpoints", "record", "processor", "redaction",
    "recordings", "hooks", "hooks_langchain", "hooks_langgraph", "sources", "trace_backends",
    "tracking", "align", "jsondiff", "drift_processor", "diffcmd", "demo", "demo_agent",
]  # fmt: skip


def test_no_import_cycles():
    assert architecture.cycles(architecture.build()) == []


def test_layers_respected_and_modules_small():
    assert architecture.violations(architecture.build()) == []


def test_picture_in_docs_is_current():
    text = architecture.DOC.read_text(encoding="utf-8")
    assert architecture.render_doc(architecture.build(), text) == text, (
        "docs/architecture.md is stale: run python scripts/architecture.py --write"
    )


def _copy_package(tmp_path: Path) -> Path:
    root = tmp_path / "otel_replay"
    shutil.copytree(ROOT / "otel_replay", root, ignore=shutil.ignore_patterns("_proto"))
    return root


def test_checker_finds_an_injected_lazy_cycle(tmp_path):
    root = _copy_package(tmp_path)
    env = root / "core" / "env.py"
    env.write_text(env.read_text() + "\n\ndef _late():\n    from otel_replay.cli import main\n")
    graph = architecture.build(root)
    found = [c for c in architecture.cycles(graph) if "otel_replay.core.env" in c]
    assert len(found) == 1
    assert found[0][0] == found[0][-1]
    assert "otel_replay.cli.main" in found[0]
    assert any(
        v.startswith("otel_replay/core/env.py:")
        and "otel_replay.core.env (core) imports otel_replay.cli.main (cli)" in v
        for v in architecture.violations(graph)
    )


def test_checker_finds_a_layer_violation_and_an_eager_integration_import(tmp_path):
    root = _copy_package(tmp_path)
    steps = root / "model" / "steps.py"
    steps.write_text(steps.read_text() + "\nfrom otel_replay.drift import align  # noqa\n")
    api = root / "restore" / "api.py"
    api.write_text(api.read_text() + "\nimport otel_replay.integrations.langgraph  # noqa\n")
    problems = architecture.violations(architecture.build(root))
    assert [p for p in problems if "model.steps (model) imports otel_replay.drift.align" in p]
    assert [
        p
        for p in problems
        if "restore.api imports otel_replay.integrations.langgraph at module level" in p
    ]


def test_checker_finds_an_oversized_module(tmp_path):
    root = _copy_package(tmp_path)
    (root / "core" / "big.py").write_text("x = 1\n" * 601)
    assert "otel_replay/core/big.py: 601 lines (at most 600)" in architecture.violations(
        architecture.build(root)
    )


def test_public_api_keeps_every_name():
    import otel_replay

    assert PUBLIC_API_0_1 <= set(otel_replay.__all__)
    for name in otel_replay.__all__:
        assert getattr(otel_replay, name) is not None


def test_importing_the_package_loads_no_framework():
    code = (
        "import sys, otel_replay, otel_replay.cli, otel_replay.restore, otel_replay.drift\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'langgraph', 'otel_replay') and "
        "(m.startswith(('langchain', 'langgraph')) or '.integrations.' in m)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("old", DEPRECATED)
def test_old_module_paths_still_import_with_a_deprecation_warning(old):
    extra = {"hooks_langchain": "langchain_core", "hooks_langgraph": "langgraph"}.get(old)
    if extra:
        pytest.importorskip(extra)  # the langchain / langgraph extra
    module = importlib.import_module(f"otel_replay.{old}")
    names = dir(module)
    assert names, f"otel_replay.{old} re-exports nothing"
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(module, name)
        homes = [
            m
            for m in sys.modules.values()
            if getattr(m, "__name__", "").startswith("otel_replay.")
            and m.__name__.count(".") >= 2
            and getattr(m, name, None) is value
        ]
        assert homes, f"otel_replay.{old}.{name} is not defined in the new layout"
        [warning] = [w for w in caught if issubclass(w.category, DeprecationWarning)] or [None]
        assert warning is not None, f"otel_replay.{old}.{name} gave no DeprecationWarning"
        text = str(warning.message)
        assert text.startswith(f"otel_replay.{old} is deprecated: import {name} from otel_replay.")
        new = text.split(" from ", 1)[1].split(" ", 1)[0]
        assert getattr(importlib.import_module(new), name) is value
        assert warning.filename == __file__


def test_old_module_reports_an_unknown_name():
    from otel_replay import recordings

    with pytest.raises(AttributeError, match="'otel_replay.recordings' has no attribute 'nope'"):
        recordings.nope  # noqa: B018
