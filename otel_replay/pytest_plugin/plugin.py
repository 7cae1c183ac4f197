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
    test = _test_name(request.node)
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
        "used": list(gate.used),
    }


def _test_name(item: pytest.Item) -> str:
    cls = getattr(item, "cls", None)
    return f"{cls.__name__}::{item.name}" if cls is not None else item.name


class _Collector:
    """Collects the comparisons of every test (from xdist workers too), writes reports and
    finds stale baselines (:mod:`otel_replay.pytest_plugin.stale`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[dict[str, Any]] = []
        self.recorded: list[str] = []
        self.used: set[str] = set()
        self.modules: dict[str, Any] = {}  # test file -> ModuleTests
        self.partial: set[str] = set()  # test files not collected in full
        self.ran: set[str] = set()
        self.passed: set[str] = set()
        self.failed: set[str] = set()
        self.stale: list[str] = []
        self.deleted: list[str] = []
        self.delete_errors: list[str] = []

    def _module(self, item: pytest.Item) -> str:
        return os.path.relpath(str(item.path), str(self.config.rootpath))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.partial.update(self._module(i) for i in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from otel_replay.pytest_plugin.session import baseline_stem
        from otel_replay.pytest_plugin.stale import ModuleTests

        inv = str(self.config.invocation_params.dir)
        for arg in self.config.args:
            if "::" in arg:  # test ids: their files are not collected in full
                path = os.path.join(inv, arg.split("::", 1)[0])
                self.partial.add(os.path.relpath(path, str(self.config.rootpath)))
        for item in session.items:
            mod = self._module(item)
            m = self.modules.setdefault(mod, ModuleTests(mod, {}))
            m.tests[item.nodeid] = baseline_stem(_test_name(item))
        for mod in self.partial:
            if mod in self.modules:
                self.modules[mod].full = False
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: tell the controller
            workeroutput["otel_replay_modules"] = [m.to_dict() for m in self.modules.values()]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: merge what a worker collected (each collects the same tests)."""
        from otel_replay.pytest_plugin.stale import ModuleTests

        for d in (getattr(node, "workeroutput", None) or {}).get("otel_replay_modules") or ():
            m = ModuleTests.from_dict(d)
            known = self.modules.setdefault(m.path, m)
            known.tests.update(m.tests)
            known.full = known.full and m.full

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "otel_replay", None)
        if isinstance(data, dict):
            self.results.extend(data.get("comparisons") or ())
            self.recorded.extend(data.get("recorded") or ())
            self.used.update(data.get("used") or ())
        if not report.passed:
            self.failed.add(report.nodeid)
        elif report.when == "call":
            self.passed.add(report.nodeid)
        if report.when == "teardown":
            self.ran.add(report.nodeid)

    def _find_stale(self, session: pytest.Session) -> None:
        from otel_replay.pytest_plugin.stale import stale_baselines

        cfg = self.config.stash[_CONFIG_KEY]
        self.stale = stale_baselines(
            str(self.config.rootpath),
            cfg.baseline_dir,
            self.modules.values(),
            ran=self.ran,
            passed=self.passed - self.failed,
            used=self.used,
            python_files=self.config.getini("python_files") or ["test_*.py", "*_test.py"],
        )
        if self.stale and self.config.getoption("otel_replay_record"):
            for path in self.stale:
                try:
                    os.remove(path)
                    self.deleted.append(path)
                    parent = os.path.dirname(path)
                    if not os.listdir(parent):
                        os.rmdir(parent)
                except OSError as exc:
                    self.delete_errors.append(f"cannot delete {path}: {exc}")
            if self.delete_errors and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):  # a pytest-xdist worker: the controller writes
            return
        self._find_stale(session)
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
        if not (self.recorded or self.results or outputs or self.stale or self.delete_errors):
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
        for err in self.delete_errors:
            terminalreporter.write_line(err, red=True)
        if self.deleted:
            terminalreporter.write_line(
                f"deleted {count(len(self.deleted), 'stale agent baseline')} (no test uses them):"
            )
            for p in self.deleted:
                terminalreporter.write_line(f"  {os.path.relpath(p, root)}")
        elif self.stale:
            terminalreporter.write_line(
                f"{count(len(self.stale), 'stale agent baseline')} (no test uses them: the test "
                "was deleted or renamed, or has fewer blocks now):",
                yellow=True,
            )
            for p in self.stale:
                terminalreporter.write_line(f"  {os.path.relpath(p, root)}")
            terminalreporter.write_line(
                "delete them with a run of the same tests with --otel-replay-record"
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin(_COLLECTOR)
    if collector is not None:
        config.pluginmanager.unregister(collector)
