"""The Node.js test agent (tests/node_agent): ``npm ci`` into its node_modules (gitignored)
with the npm cache under ${OTEL_REPLAY_CACHE:-~/.cache/otel-replay}/npm, redone only when
package-lock.json changes. Under CI=true a missing node/npm fails the test, never skips it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .backends import CACHE_DIR, REPO_ROOT

AGENT_DIR = REPO_ROOT / "tests" / "node_agent"
_STAMP = "node_modules/.otel-replay-lock.sha256"


def _missing(what: str) -> None:
    msg = f"{what} not found (Node.js 18+ and npm are needed for tests/node_agent)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def node_agent() -> Path:
    """The agent directory with its dependencies installed; the path of ``agent.js``."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _missing(tool)
    lock = (AGENT_DIR / "package-lock.json").read_bytes()
    want = hashlib.sha256(lock).hexdigest()
    stamp = AGENT_DIR / _STAMP
    if not stamp.exists() or stamp.read_text().strip() != want:
        proc = subprocess.run(  # noqa: S603
            [
                shutil.which("npm") or "npm",
                "ci",
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
                "--cache",
                str(CACHE_DIR / "npm"),
            ],
            cwd=AGENT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.fail(f"npm ci in {AGENT_DIR} failed:\n{proc.stdout}\n{proc.stderr}")
        stamp.write_text(want + "\n")
    return AGENT_DIR / "agent.js"


def run_agent(traces_endpoint: str, *args: str) -> dict[str, str]:
    """Run the agent once; its JSON line (session, checkpoint, trace_id)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = traces_endpoint
    proc = subprocess.run(  # noqa: S603
        [shutil.which("node") or "node", str(node_agent()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=AGENT_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out
