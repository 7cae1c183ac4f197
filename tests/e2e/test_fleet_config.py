"""deploy/collector/fleet.yaml validates with the built Collector, in both routings, with a
worker list from the environment; a routing name that is no configured exporter is refused."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .backends import REPO_ROOT
from .fleet import FLEET_CONFIG

pytestmark = pytest.mark.e2e


def _validate(binary, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_REPLAY_FLEET_")}
    full.update(env)
    return subprocess.run(
        [str(binary), "validate", "--config", str(FLEET_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=full,
    )


def test_fleet_config_validates_with_its_defaults(collector_binary):
    result = _validate(collector_binary)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("routing", ["load_balancing/trace_id", "load_balancing/session"])
def test_fleet_config_validates_in_both_routings_with_workers_from_env(collector_binary, routing):
    workers = json.dumps(["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"])
    result = _validate(
        collector_binary, OTEL_REPLAY_FLEET_WORKERS=workers, OTEL_REPLAY_FLEET_ROUTING=routing
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_fleet_config_refuses_an_unknown_routing(collector_binary):
    result = _validate(collector_binary, OTEL_REPLAY_FLEET_ROUTING="load_balancing/nope")
    assert result.returncode != 0
    assert "load_balancing/nope" in result.stdout + result.stderr
