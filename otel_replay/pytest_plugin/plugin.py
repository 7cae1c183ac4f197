"""pytest plugin (entry point ``pytest11: otel_replay``): the ``agent_baseline`` fixture,
the ``agent_baseline`` marker, ``--otel-replay-record`` and ``--otel-replay-output``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from otel_replay.core.text import count

__all__ = ["agent_baseline"]

_CONFIG_KEY = pytest.StashKey[Any]()
_COLLECTOR = "otel_replay_collector"
_GATE_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("otel-replay", "agent regression gate (otel-replay)")
    group.addoption(
        "--otel-replay-record",
        action="store_true",
        default=False,
        help="write the agent baselines of the selected tests instead of comparing with them",
    )
    group.addoption(
        "--otel-replay-output",
        action="append",
        default=[],
        metavar="FILE",
        help="write a report of every agent baseline comparison to FILE; the suffix picks "
        "the format: .json, .md (pull-request comment), .xml (JUnit), .html (side by side). "
        "Repeatable.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "agent_baseline(**settings): tolerances of this test's agent baseline comparison "
        "(fail_on, fail_kinds, ignore_drift, ignore_steps, ignore_paths, numeric_tolerance, "
        "relative_tolerance, order_insensitive, latency, confidence_warning, "
        "confidence_critical, token_ratio, mode)",
    )
    from otel_replay.drift.outputs import format_for_path
    from otel_replay.pytest_plugin.config import AgentBaselineConfigError, load_project_config

    try:
        config.stash[_CONFIG_KEY] = load_project_config(config.rootpath)
        for out in config.getoption("otel_replay_output") or ():
            format_for_path(out)
    except (AgentBaselineConfigError, ValueError) as exc:
        raise pytest.UsageError(f"otel-replay: {exc}") from None
    config.pluginmanager.register(_Collector(config), _COLLECTOR)


@pytest.fixture
def agent_baseline(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Record the agent run of a ``with agent_baseline() as run:`` block and compare it with
    the test's baseline (``tests/agent_baselines/<module>/<test>.jsonl``)."""
    from otel_replay.pytest_plugin.config import AgentBaselineConfigError
    from otel_replay.pytest_plugin.session import AgentBaseline

    config = request.config
    cfg = config.stash[_CONFIG_KEY]
    where = f"{request.node.nodeid}: @pytest.mark.agent_baseline"
    try:
        for mark in reversed(list(request.node.iter_markers("agent_baseline"))):
            if mark.args:
                raise AgentBaselineConfigError(f"{where} takes keyword arguments only")
            cfg = cfg.merged(mark.kwargs, where)
    except AgentBaselineConfigError as exc:
        pytest.fail(str(exc), pytrace=False)
    module = os.path.relpath(str(request.node.path), str(config.rootpath))
    cls = request.node.cls
    test = f"{cls.__name__}::{request.node.name}" if cls is not None else request.node.name
    gate = AgentBaseline(
        rootdir=str(config.rootpath),
        nodeid=request.node.nodeid,
        module=module,
        test=test,
        config=cfg,
        record=bool(config.getoption("otel_replay_record")),
    )
    request.node.stash[_GATE_KEY] = gate
    yield gate


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    if call.when != "call":
        return
    gate = item.stash.get(_GATE_KEY, None)
    if gate is None:
        return
    report = outcome.get_result()
    # plain data, so that pytest-xdist carries it from the workers to the controller
    report.otel_replay = {
        "comparisons": [s.to_dict() for s in gate.comparisons],
        "recorded": list(gate.recorded),
    }


class _Collector:
    """Collects the comparisons of every test (from xdist workers too) and writes reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[dict[str, Any]] = []
        self.recorded: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "otel_replay", None)
        if isinstance(data, dict):
            self.results.extend(data.get("comparisons") or ())
            self.recorded.extend(data.get("recorded") or ())

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):  # a pytest-xdist worker: the controller writes
            return
        outputs = self.config.getoption("otel_replay_output") or ()
        if not outputs:
            return
        from otel_replay.drift.outputs import SessionComparison
        from otel_replay.drift.report_files import write_report

        comparisons = [SessionComparison.from_dict(d) for d in self.results]
        comparisons.sort(key=lambda s: s.name)
        for out in outputs:
            write_report(
                os.path.join(str(self.config.invocation_params.dir), out),
                comparisons,
                title="otel-replay agent baselines",
            )

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):
            return
        outputs = self.config.getoption("otel_replay_output") or ()
        if not (self.recorded or self.results or outputs):
            return
        terminalreporter.section("otel-replay")
        root = str(self.config.rootpath)
        if self.recorded:
            terminalreporter.write_line(f"wrote {count(len(self.recorded), 'agent baseline')}:")
            for p in sorted(self.recorded):
                terminalreporter.write_line(f"  {os.path.relpath(p, root)}")
        if self.results:
            failed = sum(1 for d in self.results if d.get("failed"))
            terminalreporter.write_line(
                f"compared {count(len(self.results), 'session')} with their baselines: {failed} failed"
            )
        for out in outputs:
            terminalreporter.write_line(f"report written to {out}")


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin(_COLLECTOR)
    if collector is not None:
        config.pluginmanager.unregister(collector)
