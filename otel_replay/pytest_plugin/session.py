"""The ``agent_baseline`` fixture's objects: :class:`AgentBaseline` (the fixture value,
called to open a block) and :class:`BaselineRun` (what ``with agent_baseline() as run``
gives: the block's own tracer provider, its spans and, after the block, the comparison)."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core.text import count
from otel_replay.drift.outputs import SessionComparison
from otel_replay.drift.processor import DriftProcessor
from otel_replay.formats.errors import RecordingError
from otel_replay.formats.files import load_recording
from otel_replay.formats.recording import Recording
from otel_replay.model.steps import Step
from otel_replay.pytest_plugin.baseline import normalized_lines, write_lines
from otel_replay.pytest_plugin.config import GateConfig
from otel_replay.pytest_plugin.gate import compare_recordings
from otel_replay.pytest_plugin.message import failure_message, record_command
from otel_replay.pytest_plugin.nesting import NestingProcessor, with_enclosing_parents
from otel_replay.pytest_plugin.routing import routed
from otel_replay.replay.reexecution import DivergenceError, Reexecution
from otel_replay.restore.tracking import TrackingRegistry

__all__ = [
    "AgentBaseline",
    "BaselineRun",
    "baseline_module_dir",
    "baseline_path_for",
    "baseline_stem",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
SERVICE_NAME = "agent-baseline"


def _fail(message: str) -> Any:
    """Fail the current test with ``message`` (no traceback: the message is the report)."""
    import pytest

    raise pytest.fail.Exception(message, pytrace=False) from None


def baseline_module_dir(rootdir: str, baseline_dir: str, module: str) -> str:
    """``<rootdir>/<baseline_dir>/<module>``: the directory of a test file's baselines;
    ``module`` is the test file relative to the root, written without ``.py`` and a
    leading ``tests/``, dotted."""
    rel = module.replace("\\", "/")
    if rel.endswith(".py"):
        rel = rel[:-3]
    if rel.startswith("tests/"):
        rel = rel[len("tests/") :]
    return os.path.join(rootdir, baseline_dir, _UNSAFE.sub("_", rel.replace("/", ".")))


def baseline_stem(test: str) -> str:
    """The file name (without ``.jsonl``) of the first block of ``test`` (``Class::test``,
    ``test[param]``)."""
    return _UNSAFE.sub("_", test.replace("::", ".")).strip("_") or "test"


def baseline_path_for(rootdir: str, baseline_dir: str, module: str, test: str, n: int) -> str:
    """``<rootdir>/<baseline_dir>/<module>/<test>.jsonl`` (``<test>-<n>`` for the n-th block
    of a test); ``module`` is the test file relative to the root without ``.py`` and a
    leading ``tests/``, dotted."""
    name = baseline_stem(test)
    if n > 1:
        name += f"-{n}"
    return os.path.join(baseline_module_dir(rootdir, baseline_dir, module), name + ".jsonl")


class _ReplayGate(Reexecution):
    """A strict re-execution that keeps every divergence, even ones the agent caught."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.divergences: list[DivergenceError] = []

    def _divergence(self, d: Any, actual: Any) -> DivergenceError:
        err = super()._divergence(d, actual)
        self.divergences.append(err)
        return err


class BaselineRun:
    """One ``agent_baseline`` block: spans of the code inside go to :attr:`tracer_provider`
    (also through the global tracer API while the block runs)."""

    def __init__(self, gate: AgentBaseline, path: str, cfg: GateConfig, replay: bool) -> None:
        self.path = path
        self.config = cfg
        self.replay = replay
        self._gate = gate
        self.exporter = InMemorySpanExporter()
        self._meters = MeterProvider()
        #: The block's own provider: pass it to instrumentations (``instrument(tracer_provider=...)``).
        self.tracer_provider = TracerProvider(resource=Resource({"service.name": SERVICE_NAME}))
        self._nesting = NestingProcessor()
        self.tracer_provider.add_span_processor(self._nesting)
        self._processors = (
            ReplayProcessor(meter_provider=self._meters),
            DriftProcessor(
                SimpleSpanProcessor(self.exporter),
                registry=TrackingRegistry(),
                meter_provider=self._meters,
            ),
        )
        for processor in self._processors:
            self.tracer_provider.add_span_processor(processor)
        #: A tracer of :attr:`tracer_provider`.
        self.tracer: Tracer = self.tracer_provider.get_tracer("otel_replay.pytest")
        #: The cached re-execution serving recorded calls (``replay=True`` only).
        self.reexecution: Reexecution | None = None
        #: The comparisons made when the block ended (one per session).
        self.comparisons: list[SessionComparison] = []
        self.spans: list[ReadableSpan] = []
        self._route: Any = None
        self._closed = False

    # -- context -----------------------------------------------------------------------------
    def __enter__(self) -> BaselineRun:
        if self.replay:
            if not os.path.isfile(self.path):
                self._close()
                _fail(self._missing())
            self.reexecution = _ReplayGate(_replay_steps(self._load_baseline()), "replay")
        self._route = routed(self.tracer_provider)
        try:
            self._route.__enter__()
        except BaseException:
            self._close()
            raise
        if self.reexecution is not None:
            self.reexecution.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self.reexecution is not None:
                self.reexecution.__exit__(exc_type, exc, tb)
        finally:
            self._route.__exit__(None, None, None)
            self._close()
        divergences = getattr(self.reexecution, "divergences", [])
        if divergences:
            _fail(self._divergence_text(divergences))
        if exc_type is None:
            self._finish()

    async def __aenter__(self) -> BaselineRun:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- work --------------------------------------------------------------------------------
    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.tracer_provider.force_flush()
        self.spans = list(self.exporter.get_finished_spans())
        self.tracer_provider.shutdown()
        self._meters.shutdown()

    def _missing(self) -> str:
        rel = os.path.relpath(self.path, self._gate.rootdir)
        return (
            f"no agent baseline at {rel}\n"
            f"record it (and commit the file) with:\n  {record_command(self._gate.nodeid)}"
        )

    def _divergence_text(self, errors: list[DivergenceError]) -> str:
        lines = [
            f"replay: the agent made {count(len(errors), 'call')} that {self._rel()} does not have"
        ]
        for e in errors:
            lines.append(f"  at {e.actual_key}: {e.reason}")
            if e.expected_key is not None:
                lines.append(
                    f"    - expected: {e.expected_key} with {_short(e.expected_arguments)}"
                )
            else:
                lines.append("    - expected: no further call of this tool or model")
            lines.append(f"    + actual:   {e.actual_key} with {_short(e.actual_arguments)}")
        lines += [
            "",
            "if the new behaviour is intended, update the baseline with:",
            f"  {record_command(self._gate.nodeid)}",
        ]
        return "\n".join(lines)

    def _load_baseline(self) -> Recording:
        try:
            return load_recording(self.path, strict=True)  # a damaged baseline proves nothing
        except RecordingError as exc:
            self._close()
            return _fail(  # type: ignore[no-any-return]
                f"the agent baseline {self._rel()} cannot be read: {exc}\n"
                f"record it again with:\n  {record_command(self._gate.nodeid)}"
            )

    def _rel(self) -> str:
        return os.path.relpath(self.path, self._gate.rootdir)

    def _finish(self) -> None:
        errors = sum(p.errors.count for p in self._processors)
        if errors:
            _fail(
                f"otel-replay's span processors failed {count(errors, 'time')} while recording this "
                "block (logged on the 'otel_replay' logger), so the recording may be incomplete"
            )
        lines = normalized_lines(
            self.spans,
            threads=self._nesting.threads,
            enclosing=self._nesting.enclosing(self.spans),
        )
        if not lines:
            what = "written to" if self._gate.record else "compared with"
            _fail(
                f"the agent_baseline block recorded no spans, so nothing was {what} "
                f"{self._rel()} (is the agent traced through the global tracer API or "
                "run.tracer_provider?)"
            )
        if self._gate.record:
            write_lines(self.path, lines)
            self._gate.recorded.append(self.path)
            return
        if not os.path.isfile(self.path):
            _fail(self._missing())
        fd, tmp = tempfile.mkstemp(prefix="otel-replay-candidate-", suffix=".jsonl")
        os.close(fd)
        try:
            write_lines(tmp, lines)
            candidate = load_recording(tmp)
        finally:
            os.unlink(tmp)
        baseline = self._load_baseline()
        self.comparisons = compare_recordings(
            baseline,
            candidate,
            self.config,
            prefix=f"{self._gate.nodeid} ",
            baseline_source=self._rel(),
            candidate_source=f"{self._gate.nodeid} (this run)",
        )
        hint = f"update the baseline with: {record_command(self._gate.nodeid)}"
        self.comparisons = [dataclasses.replace(s, hint=hint) for s in self.comparisons]
        self._gate.comparisons.extend(self.comparisons)
        if any(s.is_failure for s in self.comparisons):
            _fail(failure_message(self._rel(), self.comparisons, self._gate.nodeid))

    @property
    def report(self) -> Any:
        """The drift report of the first session (``None`` before the block ended)."""
        return self.comparisons[0].report if self.comparisons else None


def _short(v: Any) -> str:
    import json

    text = json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 240 else text[:240] + "..."


def _replay_steps(rec: Recording) -> list[Step]:
    """Steps of every session, renumbered so that sessions follow each other (a step
    recorded as running inside another call is taken as that call's child)."""
    out: list[Step] = []
    offset = 0
    for sid in rec.sessions():
        steps = with_enclosing_parents(rec.steps_for_session(sid))
        top = 0
        for s in steps:
            if s.sequence is not None:
                out.append(dataclasses.replace(s, sequence=s.sequence + offset))
                top = max(top, s.sequence)
        offset += top + 1
    return out


class AgentBaseline:
    """The ``agent_baseline`` fixture: call it to open a block.

    ``with agent_baseline() as run: my_agent(...)`` records the spans of the block and, when
    it ends, compares them with the test's baseline file. Keyword arguments are tolerance
    settings (see :class:`~otel_replay.pytest_plugin.config.GateConfig`); ``replay=True``
    serves recorded tool and model calls (``traced_tool`` / ``traced_llm``) from the
    baseline; ``name`` picks another baseline file for the block.
    """

    def __init__(
        self,
        *,
        rootdir: str,
        nodeid: str,
        module: str,
        test: str,
        config: GateConfig,
        record: bool,
    ) -> None:
        self.rootdir = rootdir
        self.nodeid = nodeid
        self.module = module
        self.test = test
        self.config = config
        self.record = record
        self.comparisons: list[SessionComparison] = []
        self.recorded: list[str] = []
        #: Every baseline file a block of the test opened (recorded, compared or missing).
        self.used: list[str] = []
        self._blocks = 0

    def path(self, name: str | None = None) -> str:
        """The baseline file of the next block (or of block ``name``)."""
        test = f"{self.test}.{name}" if name else self.test
        n = 1 if name else self._blocks + 1
        return baseline_path_for(self.rootdir, self.config.baseline_dir, self.module, test, n)

    def __call__(
        self, *, replay: bool = False, name: str | None = None, **settings: Any
    ) -> BaselineRun:
        path = self.path(name)
        if not name:
            self._blocks += 1
        self.used.append(path)
        cfg = (
            self.config.merged(settings, f"{self.nodeid}: agent_baseline(...)")
            if settings
            else self.config
        )
        return BaselineRun(self, path, cfg, replay and not self.record)
