"""Fails when otel_replay/_proto is stale: regenerate with scripts/gen-proto.sh."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_matches_proto_sources(tmp_path):
    env_python = sys.executable
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen-proto.sh"), str(tmp_path)],
        check=True,
        cwd=ROOT,
        # gen-proto.sh installs its pinned grpcio-tools under the cache on first use: it needs
        # HOME (or OTEL_REPLAY_CACHE) and pip's settings from the environment
        env={**os.environ, "PYTHON": env_python},
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2.py*"))
    committed = sorted(
        p.relative_to(ROOT / "otel_replay" / "_proto")
        for p in (ROOT / "otel_replay" / "_proto").rglob("*_pb2.py*")
    )
    assert fresh == committed, "generated files differ: run scripts/gen-proto.sh"
    assert len(fresh) >= 2
    for rel in fresh:
        assert (tmp_path / rel).read_text() == (
            ROOT / "otel_replay" / "_proto" / rel
        ).read_text(), f"otel_replay/_proto/{rel} is stale: run scripts/gen-proto.sh"
