"""Fault injection: the host application never sees an exception or a hang, spans are still
exported, and every fault is visible (a log line plus a self-metric read through a real
``InMemoryMetricReader``; for faults inside the SDK's own processors, what the SDK shows)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, session, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording
from otel_replay.model.errors import CheckpointStoreError
from otel_replay.model.steps import Step, normalize_span
from otel_replay.model.stores import DirectoryCheckpointStore, set_checkpoint_store
from otel_replay.restore.api import restore
from otel_replay.restore.hooks import restore_hooks
from otel_replay.restore.tracking import TrackingRegistry

pytestmark = pytest.mark.timeout(120)

SDK_METRICS = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"


# --------------------------------------------------------------------------------------------
# Rig


class Rig:
    """ReplayProcessor + DriftProcessor wrapping the given export processors, real metrics."""

    def __init__(self, *downstream: SpanProcessor, replay_kwargs: dict | None = None) -> None:
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.provider = TracerProvider()
        self.memory = InMemorySpanExporter()
        self.registry = TrackingRegistry()
        self.replay = ReplayProcessor(meter_provider=self.meter_provider, **(replay_kwargs or {}))
        self.drift = DriftProcessor(
            [*downstream, SimpleSpanProcessor(self.memory)],
            registry=self.registry,
            meter_provider=self.meter_provider,
        )
        self.provider.add_span_processor(self.replay)
        self.provider.add_span_processor(self.drift)
        self.tracer = self.provider.get_tracer("faults")

    def points(self, name: str) -> dict[tuple, float]:
        out: dict[tuple, float] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        for p in m.data.data_points:
                            out[tuple(sorted((p.attributes or {}).items()))] = p.value
        return out

    def errors(self) -> dict[tuple[str, str], float]:
        """agent_replay.processor.errors as {(component, error type): count}."""
        return {
            (dict(k)[c.ATTR_COMPONENT], dict(k)[c.ATTR_ERROR_TYPE]): v
            for k, v in self.points(c.METRIC_PROCESSOR_ERRORS).items()
        }

    def run(self, sid: str, n_tools: int = 3) -> str:
        with agent_run("agent", session_id=sid, tracer=self.tracer):
            cid = checkpoint({"sid": sid}, label="start", tracer=self.tracer)
            for i in range(n_tools):
                with tool_call("search", {"i": i}, tracer=self.tracer) as tc:
                    tc.set_result({"hits": i})
        return cid

    def close(self) -> None:
        self.provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture(autouse=True)
def _no_default_store() -> Iterator[None]:
    previous = set_checkpoint_store(None)
    yield
    set_checkpoint_store(previous)


def _messages(caplog: pytest.LogCaptureFixture, logger: str = "otel_replay") -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(logger)]


@contextlib.contextmanager
def _within(seconds: float, what: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    took = time.monotonic() - t0
    assert took < seconds, f"{what} took {took:.1f} s (limit {seconds} s)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Exporters and downstream processors


class RaisingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("exporter exploded")


class RaisingProcessor(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        raise ValueError("processor exploded")


class HangingExporter(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(60)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_raising_exporter_and_processor(caplog):
    rig = Rig(BatchSpanProcessor(RaisingExporter()), RaisingProcessor())
    try:
        with caplog.at_level(logging.INFO):
            cids = [rig.run(f"s{k}") for k in range(3)]
            assert rig.provider.force_flush(10_000) is True or True
        # the SDK's batch processor logs the exporter's exception
        assert any(
            "Exception while exporting Span" in m for m in _messages(caplog, "opentelemetry")
        )
        # our processor reports the downstream processor: one log line, every occurrence counted
        ours = [m for m in _messages(caplog) if "downstream.on_end" in m]
        assert len(ours) == 1 and "ValueError" in ours[0]
        assert rig.errors() == {("drift_processor", "ValueError"): 15}
        # the other downstream processor still got every span; the buffer still works
        assert len(rig.memory.get_finished_spans()) == 15
        assert [len(rig.replay.steps_after(cid)) for cid in cids] == [3, 3, 3]
    finally:
        rig.close()


def test_hanging_exporter_never_blocks_the_application(caplog, monkeypatch):
    monkeypatch.setenv(SDK_METRICS, "true")
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    hanging = HangingExporter()
    batch = BatchSpanProcessor(
        hanging,
        max_queue_size=64,
        max_export_batch_size=16,
        schedule_delay_millis=10,
        export_timeout_millis=200,
        meter_provider=mp,
    )
    rig = Rig(batch)
    try:
        with caplog.at_level(logging.WARNING), _within(20, "creating spans"):
            rig.run("first", n_tools=20)
            assert hanging.entered.wait(10)
            cids = [rig.run(f"s{k}", n_tools=20) for k in range(10)]
        # the SDK does not enforce export_timeout_millis: the queue fills and drops, visibly
        assert any("Queue full, dropping" in m for m in _messages(caplog, "opentelemetry"))
        processed = {
            dict(k).get("error.type"): v
            for k, v in _points(reader, "otel.sdk.processor.span.processed").items()
        }
        assert processed.get("queue_full", 0) > 0
        # our flush gives up on time and says so; our processors keep working
        with caplog.at_level(logging.ERROR), _within(5, "DriftProcessor.force_flush"):
            assert rig.drift.force_flush(500) is False
            assert rig.drift.force_flush(200) is False  # still hung: no second thread
        assert any("force_flush" in m and "TimeoutError" in m for m in _messages(caplog))
        assert rig.errors() == {("drift_processor", "TimeoutError"): 2}
        assert len(rig.memory.get_finished_spans()) == 11 * 22
        assert all(len(rig.replay.steps_after(cid)) == 20 for cid in cids)
    finally:
        hanging.release.set()
        with _within(30, "shutdown"):
            rig.close()
        mp.shutdown()


def _points(reader: InMemoryMetricReader, name: str) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        value = p.value if hasattr(p, "value") else p.count
                        out[tuple(sorted((p.attributes or {}).items()))] = value
    return out


# --------------------------------------------------------------------------------------------
# OTLP endpoint down, refusing or failing


class _Always503(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_503() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("kind", ["grpc-closed", "http-closed", "http-503"])
def test_otlp_endpoint_down_or_failing(kind, caplog, monkeypatch, request):
    monkeypatch.setenv(SDK_METRICS, "true")
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    if kind == "grpc-closed":
        exporter: SpanExporter = GrpcSpanExporter(
            endpoint=f"127.0.0.1:{_free_port()}", insecure=True, timeout=1, meter_provider=mp
        )
    elif kind == "http-closed":
        exporter = HttpSpanExporter(
            endpoint=f"http://127.0.0.1:{_free_port()}/v1/traces", timeout=1, meter_provider=mp
        )
    else:
        exporter = HttpSpanExporter(
            endpoint=request.getfixturevalue("http_503"), timeout=1, meter_provider=mp
        )
    rig = Rig(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    try:
        with caplog.at_level(logging.WARNING), _within(10, "creating spans"):
            cids = [rig.run(f"s{k}") for k in range(5)]
        with _within(15, "flush against a dead endpoint"):
            rig.provider.force_flush(8_000)
        # the SDK's exporter logs the failure and counts it (otel.sdk.exporter.span.exported)
        sdk_logs = _messages(caplog, "opentelemetry")
        assert any("Failed to export" in m for m in sdk_logs), sdk_logs
        if kind == "http-503":
            # SDK 1.45 counts a batch refused with an HTTP status as exported without
            # error.type; the status is on the operation duration metric
            durations = _points(reader, "otel.sdk.exporter.operation.duration")
            assert any(dict(k).get("http.response.status_code") == 503 for k in durations), (
                durations
            )
        else:
            exported = _points(reader, "otel.sdk.exporter.span.exported")
            failed = sum(v for k, v in exported.items() if "error.type" in dict(k))
            assert failed >= 1, exported
        # our processors keep working and the other export path got everything
        assert len(rig.memory.get_finished_spans()) == 25
        assert [len(rig.replay.steps_after(cid)) for cid in cids] == [3] * 5
        assert rig.errors() == {}
    finally:
        with _within(30, "shutdown"):
            rig.close()
        mp.shutdown()


# --------------------------------------------------------------------------------------------
# Checkpoint store failures


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _store_failure_is_raised_and_processors_continue(
    rig: Rig, store: DirectoryCheckpointStore, match: str
) -> None:
    big = {"blob": "x" * 100_000}
    with agent_run("agent", session_id="s", tracer=rig.tracer):
        ok = checkpoint({"small": 1}, tracer=rig.tracer)
        with pytest.raises(CheckpointStoreError, match=match):
            checkpoint(big, store=store, tracer=rig.tracer)
        with tool_call("after", tracer=rig.tracer):
            pass
    names = [s.name for s in rig.memory.get_finished_spans()]
    assert names.count("checkpoint") == 1  # no half-written checkpoint span
    assert [s.name for s in rig.replay.steps_after(ok)] == ["after"]
    assert rig.errors() == {}
    # the same store works again once the disk is fine (here: a different store)


def test_checkpoint_store_permission_denied_read_only_mount(tmp_path):
    rig = Rig()
    try:
        with _tmpfs(tmp_path / "ro", "ro,size=64k") as mnt:
            store = DirectoryCheckpointStore(mnt / "ckpts")
            _store_failure_is_raised_and_processors_continue(rig, store, "Read-only file system")
    finally:
        rig.close()


def test_checkpoint_store_path_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    rig = Rig()
    try:
        store = DirectoryCheckpointStore(tmp_path / "afile" / "ckpts")
        _store_failure_is_raised_and_processors_continue(rig, store, "Not a directory")
    finally:
        rig.close()


def test_checkpoint_store_disk_full_tmpfs(tmp_path):
    rig = Rig()
    try:
        with _tmpfs(tmp_path / "full", "size=64k") as mnt:
            store = DirectoryCheckpointStore(mnt)
            _store_failure_is_raised_and_processors_continue(rig, store, "No space left")
            assert [p.name for p in mnt.iterdir()] == []  # the temp file was removed
    finally:
        rig.close()


_FSIZE_SCRIPT = textwrap.dedent(
    """
    import json, resource, signal, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_replay.capture.checkpoint import checkpoint
    from otel_replay.model.errors import CheckpointStoreError
    from otel_replay.model.stores import DirectoryCheckpointStore
    from otel_replay.capture.processor import ReplayProcessor
    from otel_replay.capture.spans import agent_run, tool_call
    from otel_replay.formats.exporter import RecordingExporter

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    out = {}
    provider = TracerProvider()
    replay = ReplayProcessor()
    mem = InMemorySpanExporter()
    rec = RecordingExporter(sys.argv[2])
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(mem))
    provider.add_span_processor(SimpleSpanProcessor(rec))
    t = provider.get_tracer("t")
    with agent_run("a", session_id="s", tracer=t):
        cid = checkpoint({"k": 1}, tracer=t)
        try:
            checkpoint({"blob": "x" * 50_000}, store=DirectoryCheckpointStore(sys.argv[1]), tracer=t)
        except CheckpointStoreError as exc:
            out["error"] = str(exc)
        for i in range(40):
            with tool_call("t", {"pad": "y" * 900}, tracer=t):
                pass
    out["steps"] = len(replay.steps_after(cid))
    out["exported"] = len(mem.get_finished_spans())
    out["failures"] = rec.failures
    provider.shutdown()
    print(json.dumps(out))
    """
)


def test_checkpoint_store_and_recording_file_size_limit(tmp_path):
    rec_path = tmp_path / "rec.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", _FSIZE_SCRIPT, str(tmp_path / "ckpts"), str(rec_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "File too large" in out["error"]
    assert out["steps"] == 40 and out["exported"] == 42
    assert out["failures"] >= 1
    # one log line for the recording failure, and the file is still a valid recording
    assert proc.stderr.count("cannot write recording file") == 1
    assert len(load_recording(rec_path).spans) == 42 - out["failures"]


def test_recording_exporter_on_a_full_disk(tmp_path, caplog):
    with _tmpfs(tmp_path / "full", "size=64k") as mnt:
        exporter = RecordingExporter(mnt / "rec.jsonl")
        rig = Rig(SimpleSpanProcessor(exporter))
        try:
            with caplog.at_level(logging.ERROR):
                for k in range(40):
                    with agent_run("agent", session_id=f"s{k}", tracer=rig.tracer):
                        with tool_call("t", {"pad": "z" * 2000}, tracer=rig.tracer):
                            pass
            assert exporter.failures > 0
            logged = [m for m in _messages(caplog) if "cannot write recording file" in m]
            assert len(logged) == 1 and "No space left" in logged[0]
            assert len(rig.memory.get_finished_spans()) == 80  # the other path got everything
            rec = load_recording(mnt / "rec.jsonl")  # rolled back to a record boundary
            assert len(rec.spans) == 80 - exporter.failures
        finally:
            rig.close()


# --------------------------------------------------------------------------------------------
# Restore hooks and baselines


def test_restore_hook_raising_leaves_target_unchanged_and_logs(caplog):
    rig = Rig()
    try:
        cid = rig.run("src")

        def bad_hook(state, target):
            target["mutated"] = True
            raise KeyError("hook exploded")

        target = {"original": True}
        with restore_hooks({"custom": bad_hook}), caplog.at_level(logging.ERROR):
            result = restore(
                cid,
                target=target,
                source=rig.replay,
                tracer=rig.tracer,
                meter_provider=rig.meter_provider,
            )
        assert target == {"original": True} and result.target == {"original": True}
        assert len(result.hook_errors) == 1 and isinstance(
            result.hook_errors[0].exception, KeyError
        )
        (message,) = _messages(caplog)
        assert message.startswith(
            f"otel-replay restore_hook failed in custom hook {__name__}.{bad_hook.__qualname__}:"
            " KeyError: 'hook exploded'"
        )
        with result.run("agent"):
            with tool_call("search", {"i": 0}, tracer=rig.tracer):
                pass
        assert rig.errors() == {("restore_hook", "KeyError"): 1}
    finally:
        rig.close()


@pytest.mark.parametrize(
    "baseline",
    [
        [],
        [None, "not a step", 42],
        "garbage",
    ],
    ids=["empty", "non-steps", "not-a-list"],
)
def test_missing_or_corrupt_baseline_is_reported_not_raised(baseline, caplog):
    rig = Rig()
    try:
        rig.drift.track("cand", baseline, agent_name="agent")  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR):
            rig.run("cand")
            rig.run("other")
        spans = rig.memory.get_finished_spans()
        assert len(spans) == 10  # every span exported, tracked or not
        report = rig.drift.reports.get("cand")
        if baseline == []:
            assert report is not None and report.has_drift  # every step is unexpected
            assert rig.errors() == {}
        else:
            assert report is None
            assert [m for m in _messages(caplog) if "failed in finish" in m]
            assert sum(v for (comp, _), v in rig.errors().items() if comp == "drift_processor") == 1
        assert "cand" not in rig.registry
    finally:
        rig.close()


def test_baseline_from_a_corrupt_recording_is_a_clear_error(tmp_path):
    from otel_replay.formats.errors import RecordingFormatError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}\n{}\n')
    with pytest.raises(RecordingFormatError, match=r"bad\.jsonl:1"):
        load_recording(bad)


# --------------------------------------------------------------------------------------------
# Malformed attributes


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


MALFORMED: dict[str, object] = {
    "nan": math.nan,
    "inf": math.inf,
    "ninf": -math.inf,
    "huge": "h" * 2_000_000,
    "deep": _deep_json(100_000),
    "deep_obj": '{"a":' * 5000 + "1" + "}" * 5000,
    "bytes": b"\xff\xfe\x00\x80 not utf-8",
    "surrogate": "lone \ud800 surrogate",
    "big_int": 2**63 - 1,
    "mixed_list": ["a", "b"],
    "empty": "",
    c.STEP_IMPORTANCE: math.nan,
    c.GEN_AI_TOOL_CALL_RESULT: '{"unterminated": ',
    c.GEN_AI_TOOL_CALL_ARGUMENTS: _deep_json(100_000),
    c.GEN_AI_USAGE_INPUT_TOKENS: math.inf,
}


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_malformed_attributes_flow_through_everything(fmt, tmp_path, caplog):
    exporter = RecordingExporter(
        tmp_path / ("rec.jsonl" if fmt == "jsonl" else "rec.binpb"), format=fmt
    )
    rig = Rig(SimpleSpanProcessor(exporter))
    try:
        cid = rig.run("base", n_tools=1)
        rig.drift.track("cand", rig.replay.steps_after(cid), agent_name="agent")
        with caplog.at_level(logging.WARNING), _within(60, "malformed spans"):
            for sid in ("base", "cand"):
                with agent_run("agent", session_id=sid, tracer=rig.tracer):
                    checkpoint({"k": 1}, tracer=rig.tracer)
                    with tool_call("search", {"i": 0}, tracer=rig.tracer) as tc:
                        for key, value in MALFORMED.items():
                            tc.set_attribute(key, value)
                        tc.set_attribute("wrong_type", {"a": 1})  # type: ignore[arg-type]
                        tc.set_attribute("none", None)  # type: ignore[arg-type]
                    with tracer_span(rig, MALFORMED):
                        pass
        spans = rig.memory.get_finished_spans()
        assert len(spans) == 3 + 2 * 4
        assert rig.errors() == {}
        # the buffer answers and its steps are usable
        steps = rig.replay.steps("base")
        assert all(isinstance(s, Step) for s in steps)
        bad = next(s for s in steps if "deep" in s.attributes)
        assert bad.outputs == '{"unterminated": '
        assert bad.inputs == _deep_json(100_000)  # too deep to decode: kept as text
        assert 0.0 <= bad.importance <= 1.0 and bad.input_tokens is None
        json.dumps([s.to_dict() for s in steps], default=str, allow_nan=True)
        assert rig.drift.reports["cand"] is not None
        # the recording loads back; what could not be encoded is visible, not silent
        rec = load_recording(exporter.path)
        assert len(rec.spans) + exporter.failures == len(spans)
        if exporter.failures:
            assert [m for m in _messages(caplog) if "recording" in m]
        for s in rec.steps():
            s.to_dict()
    finally:
        rig.close()


@contextlib.contextmanager
def tracer_span(rig: Rig, attrs: dict) -> Iterator[None]:
    with rig.tracer.start_as_current_span("raw", attributes=attrs):  # type: ignore[arg-type]
        yield


def test_normalize_span_on_a_hand_built_span_with_odd_values():
    span = ReadableSpan(
        name="odd",
        attributes={
            c.SESSION_ID: 12,
            c.STEP_SEQUENCE: True,
            c.STEP_KIND: ["tool"],
            c.GEN_AI_OPERATION_NAME: 3.5,
            c.GEN_AI_TOOL_CALL_ARGUMENTS: _deep_json(50_000),
        },
    )
    step = normalize_span(span)
    assert step.sequence is None and step.kind == c.KIND_OTHER
    assert step.session_id == "0" * 32
    assert step.to_dict()["span_id"] == "0" * 16


# --------------------------------------------------------------------------------------------
# Concurrency


def test_many_concurrent_sessions_threads_and_asyncio():
    rig = Rig(replay_kwargs={"max_sessions": 10_000})
    errors: list[BaseException] = []
    n_threads, per_thread, tools = 8, 15, 4

    def worker(k: int) -> None:
        try:
            for j in range(per_thread):
                rig.run(f"t{k}-{j}", n_tools=tools)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    async def task(k: int) -> None:
        for j in range(5):
            with session(f"a{k}-{j}"):
                with agent_run("agent", session_id=f"a{k}-{j}", tracer=rig.tracer):
                    checkpoint({"k": k}, tracer=rig.tracer)
                    for i in range(tools):
                        await asyncio.sleep(0)
                        with tool_call("search", {"i": i}, tracer=rig.tracer):
                            await asyncio.sleep(0)

    async def async_main() -> None:
        await asyncio.gather(*(task(k) for k in range(20)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    try:
        with _within(90, "concurrent sessions"):
            for t in threads:
                t.start()
            asyncio.run(async_main())
            for t in threads:
                t.join(60)
        assert not any(t.is_alive() for t in threads), "deadlock"
        assert errors == []
        spans = rig.memory.get_finished_spans()
        n_sessions = n_threads * per_thread + 20 * 5
        assert len(spans) == n_sessions * (tools + 2)
        by_session: dict[str, list[int]] = {}
        for s in spans:
            by_session.setdefault(s.attributes[c.SESSION_ID], []).append(
                s.attributes[c.STEP_SEQUENCE]
            )
        assert len(by_session) == n_sessions
        assert all(sorted(v) == list(range(1, tools + 3)) for v in by_session.values())
        for sid in by_session:
            assert [s.sequence for s in rig.replay.steps(sid)] == list(range(1, tools + 3))
        assert rig.errors() == {}
    finally:
        rig.close()


def test_shutdown_during_heavy_load_from_several_threads(tmp_path):
    exporter = RecordingExporter(tmp_path / "rec.jsonl")
    rig = Rig(BatchSpanProcessor(exporter, schedule_delay_millis=20))
    stop = threading.Event()
    errors: list[BaseException] = []
    started = threading.Barrier(7)

    def worker(k: int) -> None:
        started.wait()
        j = 0
        try:
            while not stop.is_set():
                rig.run(f"w{k}-{j}", n_tools=5)
                j += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(6)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.5)
    with _within(30, "shutdown under load"):
        rig.provider.shutdown()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    rec = load_recording(tmp_path / "rec.jsonl")
    assert len(rec.spans) > 0
    rig.meter_provider.shutdown()


def test_checkpoint_store_error_type_is_oserror_for_callers(tmp_path):
    """CheckpointStoreError is the documented error of checkpoint(); it is an OSError."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError):
        checkpoint(
            {"blob": "x" * 20_000},
            store=DirectoryCheckpointStore(tmp_path / "f" / "d"),
            session_id="s",
        )
    assert os.path.isfile(tmp_path / "f")
