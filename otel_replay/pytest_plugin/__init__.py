"""The agent regression gate for pytest: the ``agent_baseline`` fixture compares an agent
run with a baseline recording kept in the repository (see ``docs/ci.md``).

The plugin is registered through the ``pytest11`` entry point ``otel_replay``
(:mod:`otel_replay.pytest_plugin.plugin`); disable it with ``-p no:otel_replay``.
"""

from otel_replay.pytest_plugin.config import AgentBaselineConfigError, GateConfig
from otel_replay.pytest_plugin.session import AgentBaseline, BaselineRun

__all__ = ["AgentBaseline", "BaselineRun", "GateConfig", "AgentBaselineConfigError"]
