"""(a) the collector distribution accepts the repo's collector-config.yaml."""

from __future__ import annotations

import subprocess

import pytest

from .backends import COLLECTOR_CONFIG, REPO_ROOT

pytestmark = pytest.mark.e2e


def _validate(binary, env=None):
    return subprocess.run(
        [str(binary), "validate", "--config", str(COLLECTOR_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=env,
    )


def test_validate_accepts_collector_config(collector_binary):
    result = _validate(collector_binary)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_accepts_config_with_redaction_and_zero_sampling(collector_binary):
    import os

    env = dict(os.environ)
    env.update(OTEL_REPLAY_REDACT_GENAI_CONTENT="true", OTEL_REPLAY_SAMPLING_PERCENTAGE="0")
    result = _validate(collector_binary, env)
    assert result.returncode == 0, result.stdout + result.stderr


FLEET_CONFIG = REPO_ROOT / "deploy" / "collector" / "fleet.yaml"

MODULE_FOR = {
    "otlp": "receiver/otlpreceiver",
    "memory_limiter": "processor/memorylimiterprocessor",
    "batch": "processor/batchprocessor",
    "tail_sampling": "processor/tailsamplingprocessor",
    "transform": "processor/transformprocessor",
    "deltatocumulative": "processor/deltatocumulativeprocessor",
    "otlp_grpc": "exporter/otlpexporter",
    "prometheus": "exporter/prometheusexporter",
    "count": "connector/countconnector",
}


def _components(config: str) -> set[str]:
    """Component types a config defines (``name`` of ``name/id``)."""
    import re

    used = set()
    section = None
    for line in config.splitlines():
        top = re.match(r"^(receivers|processors|exporters|connectors|service):", line)
        if top:
            section = top.group(1)
            continue
        comp = re.match(r"^  ([a-z_]+)(?:/[\w.-]+)?:", line)
        if comp and section in {"receivers", "processors", "exporters", "connectors"}:
            used.add(comp.group(1))
    return used


def test_builder_manifest_lists_exactly_the_config_components():
    """deploy/collector/builder-config.yaml must list what collector-config.yaml and
    deploy/collector/fleet.yaml use (plus the test config's file exporter)."""
    import re

    manifest = (REPO_ROOT / "deploy" / "collector" / "builder-config.yaml").read_text()
    assert _components(COLLECTOR_CONFIG.read_text()) == set(MODULE_FOR)
    # the fleet config: the same components plus the load_balancing exporter
    assert _components(FLEET_CONFIG.read_text()) == set(MODULE_FOR) | {"load_balancing"}
    listed = set(
        re.findall(r"gomod: \S+/((?:receiver|processor|exporter|connector)/\w+) ", manifest)
    )
    # plus exactly what the test-only config (the Collector's own file exporter) adds
    test_config = (REPO_ROOT / "tests" / "e2e" / "collector-file-config.yaml").read_text()
    assert re.findall(r"^  (file)/\w+:", test_config, re.M) == ["file", "file", "file"]
    assert listed == set(MODULE_FOR.values()) | {
        "exporter/fileexporter",
        "exporter/loadbalancingexporter",
    }, listed
    versions = set(re.findall(r"gomod: \S+ (v\S+)", manifest))
    assert versions <= {"v0.161.0", "v1.67.0"}, versions
