"""Process lifecycle faults: ``os.fork()`` with processors active, and interpreter exit
(normal, without ``shutdown()``, ``os._exit``, SIGKILL) with a recording still readable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording
from otel_replay.model.stores import set_checkpoint_store
from otel_replay.restore.tracking import TrackingRegistry

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]


def _run(tracer, sid: str, n_tools: int = 3) -> str:
    with agent_run("agent", session_id=sid, tracer=tracer):
        cid = checkpoint({"sid": sid}, label="start", tracer=tracer)
        for i in range(n_tools):
            with tool_call("search", {"i": i}, tracer=tracer) as tc:
                tc.set_result({"hits": i})
    return cid


def _wait_child(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not finish within {timeout} s (deadlock?)")


def test_fork_with_processors_active(tmp_path):
    from otel_replay.formats.exporter import RecordingExporter

    previous = set_checkpoint_store(None)
    rec_dir = tmp_path / "rec"
    provider = TracerProvider()
    replay = ReplayProcessor()
    registry = TrackingRegistry()
    drift = DriftProcessor(
        BatchSpanProcessor(
            RecordingExporter(f"{rec_dir}/"), max_queue_size=200_000, schedule_delay_millis=20
        ),
        registry=registry,
    )
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    tracer = provider.get_tracer("fork")
    base = _run(tracer, "parent-0")
    drift.track("parent-tracked", replay.steps_after(base), agent_name="agent")
    assert provider.force_flush(10_000)

    # A background thread keeps the processors busy (their locks taken) while we fork. It
    # buffers tool spans of one session with a checkpoint, but takes no new checkpoints:
    # see test_fork_while_other_locks_are_held for the checkpoint clock.
    with agent_run("agent", session_id="bg", tracer=tracer):
        checkpoint({"bg": True}, tracer=tracer)
    stop = threading.Event()
    bg_errors: list[BaseException] = []

    def busy() -> None:
        try:
            while not stop.is_set():
                with tracer.start_as_current_span("bg", attributes={c.SESSION_ID: "bg"}):
                    with tool_call("bg_tool", {"x": 1}, tracer=tracer):
                        pass
                time.sleep(0.0005)
        except BaseException as exc:  # pragma: no cover
            bg_errors.append(exc)

    bg = threading.Thread(target=busy, daemon=True)
    bg.start()
    children: list[tuple[int, int]] = []
    try:
        for attempt in range(5):
            time.sleep(0.05)
            r, w = os.pipe()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                pid = os.fork()
            if pid == 0:  # child: must never return into pytest
                code = 1
                try:
                    os.close(r)
                    sid = f"child-{attempt}"
                    cid = _run(tracer, sid, n_tools=4)
                    steps = [s.name for s in replay.steps_after(cid)]
                    ok = provider.force_flush(10_000)
                    out = {"pid": os.getpid(), "steps": steps, "flushed": ok}
                    os.write(w, json.dumps(out).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(w)
            code = _wait_child(pid, 60)
            with os.fdopen(r, "rb") as fh:
                data = fh.read()
            assert code == 0, f"child exited with {code}"
            out = json.loads(data)
            assert out["steps"] == ["search"] * 4 and out["flushed"] is True
            children.append((out["pid"], attempt))
    finally:
        stop.set()
        bg.join(30)
    assert not bg.is_alive() and bg_errors == []

    # the parent is unaffected: it still numbers, buffers, tracks and exports
    cid = _run(tracer, "parent-1")
    assert [s.sequence for s in replay.steps_after(cid)] == [3, 4, 5]
    _run(tracer, "parent-tracked")
    assert drift.reports["parent-tracked"].has_drift is False
    assert provider.force_flush(10_000)
    provider.shutdown()
    set_checkpoint_store(previous)

    by_pid: dict[int, set[str]] = {}
    for f in sorted(rec_dir.iterdir()):
        pid = int(f.name.split("-")[1])
        by_pid.setdefault(pid, set()).update(load_recording(f).sessions())
    parent_sessions = by_pid.pop(os.getpid())
    assert {"parent-0", "parent-1", "parent-tracked", "bg"} <= parent_sessions
    assert not any(s.startswith("child-") for s in parent_sessions)
    assert sorted(by_pid) == sorted(pid for pid, _ in children)
    for pid, attempt in children:
        # each child wrote its own file with its own session (plus bg spans it inherited)
        assert by_pid[pid] - {"bg"} == {f"child-{attempt}"}


_HELD_LOCK_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from opentelemetry.sdk.trace import TracerProvider
    from otel_replay.capture import checkpoint as checkpoints
    from otel_replay.capture.checkpoint import checkpoint
    from otel_replay.drift.processor import DriftProcessor
    from otel_replay.capture.processor import ReplayProcessor
    from otel_replay.capture.redaction import RedactionProcessor
    from otel_replay.capture.spans import agent_run, tool_call
    from otel_replay.restore.tracking import TrackingRegistry

    which = sys.argv[1]
    provider = TracerProvider()
    redaction = RedactionProcessor()
    replay = ReplayProcessor()
    registry = TrackingRegistry()
    drift = DriftProcessor([], registry=registry)
    for p in (redaction, replay, drift):
        provider.add_span_processor(p)
    t = provider.get_tracer("t")
    lock = {
        "replay": lambda: replay._lock,
        "replay.errors": lambda: replay.errors._lock,
        "drift": lambda: drift._lock,
        "drift.errors": lambda: drift.errors._lock,
        "redaction": lambda: redaction._count_lock,
        "session_clock": lambda: checkpoints.SESSION_CLOCK._lock,
        "tracking": lambda: registry._lock,
    }[which]()
    held = threading.Event()

    def hold():
        with lock:
            held.set()
            time.sleep(30)

    threading.Thread(target=hold, daemon=True).start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        drift.track("s", [])
        with agent_run("a", session_id="s", tracer=t):
            checkpoint({"k": 1}, tracer=t)
            with tool_call("api_key=abc", tracer=t):
                pass
        replay.errors.report("x", ValueError("boom"))
        drift.errors.report("x", ValueError("boom"))
        os._exit(0)
    deadline = time.time() + 6
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("EXIT", os.waitstatus_to_exitcode(status))
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        print("DEADLOCK")
    """
)


@pytest.mark.parametrize(
    "lock",
    [
        "replay",
        "replay.errors",
        "drift",
        "drift.errors",
        "redaction",
        "session_clock",
        "tracking",
    ],
)
def test_fork_while_other_locks_are_held(lock):
    """A lock held by another thread at fork time stays held in the child forever unless it
    is re-created after the fork: the child must still be able to trace."""
    proc = subprocess.run(
        [sys.executable, "-c", _HELD_LOCK_SCRIPT, lock],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip().splitlines()[-1:] == ["EXIT 0"], proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# Interpreter exit

_EXIT_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_replay.capture.checkpoint import checkpoint
    from otel_replay.capture.processor import ReplayProcessor
    from otel_replay.capture.spans import agent_run, tool_call
    from otel_replay.formats.exporter import RecordingExporter

    path, fmt, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    provider = TracerProvider(shutdown_on_exit=(mode != "no-atexit"))
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(
        BatchSpanProcessor(RecordingExporter(path, format=fmt), schedule_delay_millis=10,
                           max_export_batch_size=16)
    )
    t = provider.get_tracer("exit")
    for k in range(n):
        with agent_run("agent", session_id=f"s{k}", tracer=t):
            checkpoint({"k": k}, tracer=t)
            with tool_call("search", {"k": k, "pad": "p" * 200}, tracer=t):
                pass
        if mode == "kill" and k == 5:
            print("READY", flush=True)
        if mode == "os_exit" and k == n // 2:
            time.sleep(0.3)
            os._exit(0)
    if mode == "kill":
        time.sleep(60)
    # no provider.shutdown(): the interpreter just exits
    """
)


def _script(
    tmp_path: Path, fmt: str, mode: str, n: int
) -> tuple[subprocess.CompletedProcess | None, Path]:
    path = tmp_path / ("rec.jsonl" if fmt == "jsonl" else "rec.binpb")
    proc = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, str(path), fmt, mode, str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, path


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_exit_without_shutdown_flushes_everything(tmp_path, fmt):
    proc, path = _script(tmp_path, fmt, "atexit", 30)
    assert proc is not None and proc.returncode == 0, proc.stderr
    rec = load_recording(path)
    assert len(rec.spans) == 30 * 3
    assert rec.warnings == []
    assert len(rec.sessions()) == 30


@pytest.mark.parametrize("mode", ["no-atexit", "os_exit"])
def test_exit_losing_the_queue_leaves_a_readable_recording(tmp_path, mode):
    proc, path = _script(tmp_path, "jsonl", mode, 200)
    assert proc is not None and proc.returncode == 0, proc.stderr
    if not path.exists():  # nothing was exported before the exit: nothing to read
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        rec = load_recording(path)
    assert 0 <= len(rec.spans) <= 600
    for step in rec.steps():
        assert step.session_id.startswith("s")


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_sigkill_while_writing_leaves_a_readable_recording(tmp_path, fmt):
    path = tmp_path / ("rec.jsonl" if fmt == "jsonl" else "rec.binpb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _EXIT_SCRIPT.replace("time.sleep(60)", "pass"),
            str(path),
            fmt,
            "kill",
            "100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        deadline = time.monotonic() + 30
        # kill only once the writer has flushed at least one whole record
        while time.monotonic() < deadline and (
            not path.exists()
            or path.stat().st_size < 64
            or (fmt == "jsonl" and b"\n" not in path.read_bytes())
        ):
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", RecordingWarning)
        rec = load_recording(path)
    assert len(rec.spans) > 0
    assert all(s.attributes.get(c.SESSION_ID, "").startswith("s") for s in rec.spans)
