"""Restore from REAL Phoenix and REAL Jaeger with PhoenixSource / JaegerSource.

One scripted agent run (the demo ResearchAgent plus a few extra steps, one of them failing,
and a checkpoint whose state lives in a checkpoint store) is recorded with a ReplayProcessor
first in the pipeline and exported over OTLP: to Phoenix (OTLP/HTTP), to Jaeger (OTLP/gRPC,
directly) and to Jaeger through the collector. Restoring each checkpoint from the backend
must give the checkpointed state and the baseline the live ReplayProcessor returned.

``OTEL_REPLAY_CAPTURE_BACKEND_DATA=<dir>`` additionally writes the backends' real answers
(and what the live processor saw) to ``<dir>``: that is how ``tests/data/backends/`` used by
``tests/test_trace_backends.py`` was made.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, decision, tool_call, traced_tool
from otel_replay.cli.demo_agent import ResearchAgent
from otel_replay.core import conventions as c
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointNotFoundError, CheckpointStoreError
from otel_replay.model.steps import Step
from otel_replay.model.stores import DirectoryCheckpointStore, set_checkpoint_store
from otel_replay.restore.api import restore
from otel_replay.restore.http_client import BackendAuthError, TraceNotFoundError
from otel_replay.restore.jaeger import JaegerSource
from otel_replay.restore.phoenix import PhoenixSource
from otel_replay.restore.resolve import source_from_url

from . import backends

pytestmark = pytest.mark.e2e

QUESTION = "What does OpenTelemetry do?"
LARGE_STATE = {"blob": "x" * 2000, "numbers": [1, 2.5, -3], "unicode": "héllo ✓", "id": "00123"}
INGEST_TIMEOUT = 90.0
CAPTURE_DIR = os.environ.get("OTEL_REPLAY_CAPTURE_BACKEND_DATA")
DATA_BACKENDS = Path(__file__).resolve().parent.parent / "data" / "backends"
#: Phoenix adds OpenInference equivalents of gen_ai.* attributes on ingestion (e.g.
#: llm.model_name, llm.token_count.*, tool.name, tool.parameters.*, output.value, session.id).
PHOENIX_ADDED = ("llm.", "tool.", "input.", "output.", "session.id")


@dataclass
class RecordedRun:
    """An agent run as the live ReplayProcessor saw it."""

    service: str
    session_id: str
    checkpoints: dict[str, Checkpoint]  # label -> checkpoint
    states: dict[str, dict[str, Any]]  # label -> restored state
    baselines: dict[str, list[Step]]  # label -> processor.steps_after(checkpoint)
    session_spans: int  # spans carrying agent_replay.session.id == session_id
    store: DirectoryCheckpointStore

    @property
    def trace_id(self) -> str:
        trace_id = self.checkpoints["planned"].trace_id
        assert trace_id is not None
        return trace_id


def record_run(exporter: SpanExporter, store_dir: Path) -> RecordedRun:
    """Run the agent once with a ReplayProcessor first and ``exporter`` after it."""
    service = f"otel-replay-restore-e2e-{uuid.uuid4().hex[:8]}"
    sid = f"restore-e2e-{uuid.uuid4().hex[:12]}"
    store = DirectoryCheckpointStore(store_dir)
    processor = ReplayProcessor()
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("otel-replay-e2e-restore")
    try:
        agent = ResearchAgent(tracer=tracer)
        # demo_agent's tools are decorated without its tracer: record them with ours
        agent.search = traced_tool("search", tracer=tracer)(agent.search.__wrapped__)  # type: ignore[attr-defined]
        agent.fetch = traced_tool("fetch", tracer=tracer)(agent.fetch.__wrapped__)  # type: ignore[attr-defined]
        with agent_run("restore-e2e-harness", session_id=sid, tracer=tracer):
            agent.run(QUESTION, session_id=sid)
            with tool_call("lookup", {"id": "00123", "limit": 3}, tracer=tracer) as call:
                call.set_result({"text": "héllo ✓", "ok": True, "score": 1.0, "n": 12345})
            with contextlib.suppress(RuntimeError):
                with tool_call("flaky", {"attempt": 1}, tracer=tracer):
                    raise RuntimeError("backend down")
            checkpoint(LARGE_STATE, label="large", store=store, inline_max_bytes=256, tracer=tracer)
            with decision(
                "finish",
                action="stop",
                confidence=1.0,
                alternatives=["stop", "retry"],
                tracer=tracer,
            ):
                pass
        provider.force_flush()
        ckpts = {ck.label or ck.id: ck for ck in processor.checkpoints(sid)}
        assert set(ckpts) == {"planned", "drafted", "large"}
        assert ckpts["large"].state_location == "store"
        return RecordedRun(
            service=service,
            session_id=sid,
            checkpoints=ckpts,
            states={label: ck.load_state(store) for label, ck in ckpts.items()},
            baselines={label: processor.steps_after(ck.id) for label, ck in ckpts.items()},
            session_spans=sum(
                1
                for s in memory.get_finished_spans()
                if (s.attributes or {}).get(c.SESSION_ID) == sid
            ),
            store=store,
        )
    finally:
        provider.shutdown()


def wait_restorable(source: Any, run: RecordedRun) -> None:
    """Poll until ``source`` has every span of ``run``'s session (bounded)."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    last = "nothing tried"
    while True:
        try:
            if isinstance(source, PhoenixSource):
                have = len(source.spans({c.SESSION_ID: run.session_id}))
            else:
                have = len(source.trace(run.trace_id))
            if have >= run.session_spans:
                return
            last = f"{have}/{run.session_spans} spans"
        except TraceNotFoundError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{source!r} still incomplete after {INGEST_TIMEOUT:.0f}s: {last}")
        time.sleep(0.5)


def projection(steps: list[Step]) -> list[tuple[Any, ...]]:
    return [(s.kind, s.name, s.sequence, s.inputs, s.outputs) for s in steps]


def identity(steps: list[Step]) -> list[tuple[Any, ...]]:
    return [
        (
            s.session_id,
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            s.span_name,
            s.status,
            s.status_message,
            s.importance,
        )
        for s in steps
    ]


@pytest.fixture
def no_global_store() -> Iterator[None]:
    previous = set_checkpoint_store(None)
    try:
        yield
    finally:
        set_checkpoint_store(previous)


# --------------------------------------------------------------------------------------------
# Phoenix


@pytest.fixture(scope="module")
def phoenix_run(phoenix: backends.Phoenix, tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    exporter = HttpSpanExporter(endpoint=phoenix.otlp_http_traces_endpoint, timeout=10)
    run = record_run(exporter, tmp_path_factory.mktemp("phoenix-store"))
    wait_restorable(PhoenixSource(phoenix.url, checkpoint_store=run.store), run)
    return run


def test_restore_from_phoenix_matches_live_processor(phoenix, phoenix_run, no_global_store):
    run = phoenix_run
    source = PhoenixSource(phoenix.url, checkpoint_store=run.store, page_size=4)  # paginates
    assert run.states["planned"] == {
        "data": {
            "question": QUESTION,
            "query": "opentelemetry",
            "notes": [],
            "draft": "",
            "step": "planned",
        }
    }
    assert run.states["large"] == {"data": LARGE_STATE}
    for label, live_ckpt in run.checkpoints.items():
        result = restore(live_ckpt.id, source=source)
        assert result.checkpoint == live_ckpt, label
        assert result.state == run.states[label], label
        live = run.baselines[label]
        assert projection(result.baseline) == projection(live), label
        assert identity(result.baseline) == identity(live), label
        # Phoenix keeps (rounded) microseconds
        for got, want in zip(result.baseline, live, strict=True):
            assert abs(got.start_time_unix_nano - want.start_time_unix_nano) <= 1000
            assert abs(got.end_time_unix_nano - want.end_time_unix_nano) <= 1000
        for got, want in zip(result.baseline, live, strict=True):
            assert {k: got.attributes.get(k) for k in want.attributes} == dict(want.attributes)
            added = set(got.attributes) - set(want.attributes)
            assert all(k.startswith(PHOENIX_ADDED) for k in added), (want.span_name, added)
    # the failing tool call came back as an error step with its message
    flaky = [s for s in run.baselines["planned"] if s.name == "flaky"]
    assert [(s.status, s.status_message) for s in flaky] == [
        ("error", "RuntimeError: backend down")
    ]
    # sequence ints stay ints, JSON strings stay strings
    lookup = next(
        s
        for s in restore(run.checkpoints["drafted"].id, source=source).baseline
        if s.name == "lookup"
    )
    assert type(lookup.sequence) is int
    assert lookup.attributes[c.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"id": "00123", "limit": 3}'
    assert lookup.outputs == {"n": 12345, "ok": True, "score": 1.0, "text": "héllo ✓"}


def test_phoenix_checkpoints_lists_the_session(phoenix, phoenix_run):
    got = PhoenixSource(phoenix.url, page_size=2).checkpoints(phoenix_run.session_id)
    assert got == sorted(phoenix_run.checkpoints.values(), key=lambda ck: ck.sequence)


def test_phoenix_unknown_checkpoint(phoenix, phoenix_run):
    source = PhoenixSource(phoenix.url)
    unknown = uuid.uuid4().hex
    with pytest.raises(CheckpointNotFoundError) as info:
        restore(unknown, source=source)
    assert str(info.value) == (
        f"checkpoint {unknown!r} not found in PhoenixSource('{phoenix.url}/', project='default'): "
        f"checkpoint {unknown} is not in Phoenix project 'default' at {phoenix.url}/"
    )


def test_phoenix_state_in_store_needs_the_store(phoenix, phoenix_run, no_global_store):
    large = phoenix_run.checkpoints["large"]
    with pytest.raises(CheckpointStoreError) as info:
        restore(large.id, source=PhoenixSource(phoenix.url))
    assert str(info.value) == (
        f"checkpoint {large.id}: state ({large.state_size} bytes) is in a checkpoint store, "
        f"but no store was given"
    )
    # restore(store=...) works as well as PhoenixSource(checkpoint_store=...)
    result = restore(large.id, source=PhoenixSource(phoenix.url), store=phoenix_run.store)
    assert result.state == {"data": LARGE_STATE}


def test_phoenix_source_from_url(phoenix, phoenix_run, no_global_store):
    source = source_from_url(
        f"phoenix+{phoenix.url}/?project=default&page_size=3", checkpoint_store=phoenix_run.store
    )
    assert isinstance(source, PhoenixSource) and source.page_size == 3
    ckpt = phoenix_run.checkpoints["drafted"]
    result = restore(ckpt.id, source=source)
    assert projection(result.baseline) == projection(phoenix_run.baselines["drafted"])


# --------------------------------------------------------------------------------------------
# Phoenix with authentication


@pytest.fixture(scope="module")
def phoenix_auth(
    phoenix: backends.Phoenix, e2e_process_group: backends.ProcessGroup
) -> Iterator[tuple[str, str]]:
    """A second Phoenix with PHOENIX_ENABLE_AUTH; yields (url, admin secret usable as key)."""
    port, grpc = backends.free_port(), backends.free_port()
    workdir = e2e_process_group.log_dir / "phoenix-auth"
    workdir.mkdir(parents=True, exist_ok=True)
    admin_secret = secrets.token_hex(20) + "a1"
    env = {
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": backends.LOOPBACK,
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ENABLE_AUTH": "true",
        "PHOENIX_SECRET": secrets.token_hex(20) + "b2",
        "PHOENIX_ADMIN_SECRET": admin_secret,
    }
    argv = [str(backends.phoenix_binary()), str(backends.PHOENIX_LAUNCHER), "serve"]
    proc = e2e_process_group.start("phoenix-auth", argv, env=env)
    url = f"http://{backends.LOOPBACK}:{port}"
    try:
        e2e_process_group.wait_ready(
            proc, lambda: backends.http_ok(f"{url}/healthz"), 180.0, "/healthz answers"
        )
    except RuntimeError as exc:
        pytest.fail(f"phoenix-auth failed to start:\n{exc}", pytrace=False)
    try:
        yield url, admin_secret
    finally:
        proc.stop()


def test_phoenix_auth_needs_api_key(phoenix_auth):
    url, key = phoenix_auth
    unknown = uuid.uuid4().hex
    source = PhoenixSource(url)
    with pytest.raises(BackendAuthError) as info:
        source.find_checkpoint(unknown)
    request = source.page_url({c.CHECKPOINT_ID: unknown})
    assert info.value.status == 401
    assert str(info.value) == (
        f"Phoenix answered HTTP 401 Unauthorized for {request}: Invalid token; "
        f"pass api_key= (a Phoenix API key) or check the credentials"
    )
    with pytest.raises(BackendAuthError):
        PhoenixSource(url, api_key="not-the-key").find_checkpoint(unknown)
    # with the key the request is answered: the checkpoint simply is not there
    with pytest.raises(CheckpointNotFoundError, match=f"checkpoint {unknown} is not in Phoenix"):
        PhoenixSource(url, api_key=key).find_checkpoint(unknown)


# --------------------------------------------------------------------------------------------
# Jaeger


@pytest.fixture(scope="module")
def jaeger_run(jaeger: backends.Jaeger, tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    exporter = GrpcSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True, timeout=10)
    run = record_run(exporter, tmp_path_factory.mktemp("jaeger-store"))
    wait_restorable(
        JaegerSource(jaeger.query_url, service=run.service, checkpoint_store=run.store), run
    )
    return run


def test_restore_from_jaeger_matches_live_processor(jaeger, jaeger_run, no_global_store):
    run = jaeger_run
    for source in (
        JaegerSource(jaeger.query_url, checkpoint_store=run.store),  # searches every service
        JaegerSource(jaeger.query_url, service=run.service, checkpoint_store=run.store),
        JaegerSource(jaeger.query_url, trace_id=run.trace_id, checkpoint_store=run.store),
    ):
        for label, live_ckpt in run.checkpoints.items():
            result = restore(live_ckpt.id, source=source)
            assert result.checkpoint == live_ckpt, (source, label)
            assert result.state == run.states[label], (source, label)
            assert projection(result.baseline) == projection(run.baselines[label]), (source, label)
            # OTLP end to end: the very same steps (times, attributes, status ...)
            assert result.baseline == run.baselines[label], (source, label)
    assert run.states["drafted"]["data"]["step"] == "drafted"


def test_jaeger_checkpoints_lists_the_session(jaeger, jaeger_run):
    source = JaegerSource(jaeger.query_url, trace_id=jaeger_run.trace_id)
    want = sorted(jaeger_run.checkpoints.values(), key=lambda ck: ck.sequence)
    assert source.checkpoints(jaeger_run.session_id) == want
    assert JaegerSource(jaeger.query_url, service=jaeger_run.service).checkpoints() == want


def test_jaeger_unknown_checkpoint(jaeger, jaeger_run):
    unknown = uuid.uuid4().hex
    source = JaegerSource(jaeger.query_url, service=jaeger_run.service)
    with pytest.raises(CheckpointNotFoundError) as info:
        restore(unknown, source=source)
    assert str(info.value) == (
        f"checkpoint {unknown!r} not found in JaegerSource('{jaeger.query_url}/', "
        f"service={jaeger_run.service!r}): checkpoint {unknown} is not in Jaeger at "
        f"{jaeger.query_url}/: searched traces started in the last 3600s with search_limit=100 "
        f"per service ({jaeger_run.service!r}: 1 trace); pass trace_id=, service= or a longer "
        f"lookback="
    )
    # in the run's own trace
    source = JaegerSource(jaeger.query_url, trace_id=jaeger_run.trace_id)
    with pytest.raises(CheckpointNotFoundError) as info:
        source.find_checkpoint(unknown)
    assert str(info.value) == (
        f"checkpoint {unknown} is not in trace {jaeger_run.trace_id} in Jaeger at "
        f"{jaeger.query_url}/ ({jaeger_run.session_spans} spans)"
    )


def test_jaeger_wrong_trace_id(jaeger, jaeger_run):
    wrong = uuid.uuid4().hex
    source = JaegerSource(jaeger.query_url, trace_id=wrong)
    with pytest.raises(TraceNotFoundError) as info:
        restore(jaeger_run.checkpoints["planned"].id, source=source)
    assert info.value.status == 404
    assert str(info.value) == (
        f"trace {wrong} is not in Jaeger at {jaeger.query_url}/ (HTTP 404 for "
        f"{jaeger.query_url}/api/v3/traces/{wrong}?raw_traces=true: "
        '{"error":{"httpCode":404,"message":"No traces found"}})'
    )
    with pytest.raises(ValueError, match="trace_id must be 32 hex digits"):
        JaegerSource(jaeger.query_url, trace_id="not-a-trace-id")


def test_jaeger_source_from_url(jaeger, jaeger_run, no_global_store):
    source = source_from_url(
        f"jaeger+{jaeger.query_url}/?service={jaeger_run.service}&lookback=600",
        checkpoint_store=jaeger_run.store,
    )
    assert isinstance(source, JaegerSource) and source.lookback == 600.0
    result = restore(jaeger_run.checkpoints["large"].id, source=source)
    assert result.state == {"data": LARGE_STATE}
    assert result.baseline == jaeger_run.baselines["large"]


def test_restore_from_jaeger_through_collector(collector, jaeger, tmp_path, no_global_store):
    exporter = GrpcSpanExporter(endpoint=collector.otlp_grpc_endpoint, insecure=True, timeout=10)
    run = record_run(exporter, tmp_path / "store")
    source = JaegerSource(jaeger.query_url, service=run.service, checkpoint_store=run.store)
    wait_restorable(source, run)
    for label, live_ckpt in run.checkpoints.items():
        result = restore(live_ckpt.id, source=source)
        assert result.state == run.states[label], label
        assert projection(result.baseline) == projection(run.baselines[label]), label
        assert identity(result.baseline) == identity(run.baselines[label]), label


# --------------------------------------------------------------------------------------------
# Capturing the real answers for tests/test_trace_backends.py


class Capture:
    """Saves the backends' raw answers and a manifest describing each request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: list[dict[str, Any]] = []

    def get(
        self, backend: str, url: str, file: str, headers: dict[str, str] | None = None
    ) -> bytes:
        req = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback)
                status, ctype, body = resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as exc:
            status, ctype, body = exc.code, exc.headers.get("Content-Type", ""), exc.read()
        path = self.root / backend / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        parts = urllib.parse.urlsplit(url)
        self.entries.append(
            {
                "backend": backend,
                "file": f"{backend}/{file}",
                "path": parts.path,
                "query": urllib.parse.parse_qsl(parts.query, keep_blank_values=True),
                "status": status,
                "content_type": ctype,
            }
        )
        return body


def _expected(run: RecordedRun) -> dict[str, Any]:
    return {
        "service": run.service,
        "session_id": run.session_id,
        "trace_id": run.trace_id,
        "session_spans": run.session_spans,
        "checkpoints": {
            label: {
                "id": ck.id,
                "sequence": ck.sequence,
                "step_sequence": ck.step_sequence,
                "span_id": ck.span_id,
                "location": ck.state_location,
                "state": run.states[label],
            }
            for label, ck in run.checkpoints.items()
        },
        "baselines": {
            label: [
                {
                    "kind": s.kind,
                    "name": s.name,
                    "sequence": s.sequence,
                    "inputs": s.inputs,
                    "outputs": s.outputs,
                    "span_id": s.span_id,
                    "status": s.status,
                }
                for s in steps
            ]
            for label, steps in run.baselines.items()
        },
    }


def test_capture_backend_answers(phoenix, phoenix_run, phoenix_auth, jaeger, jaeger_run, tmp_path):
    """Capture the backends' answers (into OTEL_REPLAY_CAPTURE_BACKEND_DATA to refresh
    tests/data/backends, else a temp dir) and check the live backends still answer every
    request the committed fixtures stand for."""
    capture_dir = Path(CAPTURE_DIR) if CAPTURE_DIR else tmp_path
    cap = Capture(capture_dir)
    # Phoenix: checkpoint lookup, the session in pages, checkpoints, error answers
    page_size = math.ceil(phoenix_run.session_spans / 2)
    src = PhoenixSource(phoenix.url, page_size=page_size)
    planned = phoenix_run.checkpoints["planned"]
    version = ""
    with urllib.request.urlopen(f"{phoenix.url}/v1/projects", timeout=10) as resp:  # noqa: S310
        version = resp.headers.get("x-phoenix-server-version", "")
    cap.get("phoenix", src.page_url({c.CHECKPOINT_ID: planned.id}), "checkpoint-planned.json")
    large = phoenix_run.checkpoints["large"]
    cap.get("phoenix", src.page_url({c.CHECKPOINT_ID: large.id}), "checkpoint-large.json")
    cursor: str | None = None
    for page in range(1, 10):
        body = cap.get(
            "phoenix",
            src.page_url({c.SESSION_ID: phoenix_run.session_id}, cursor),
            f"session-page-{page}.json",
        )
        cursor = json.loads(body)["next_cursor"]
        if cursor is None:
            break
    assert page >= 2, "the session fits in one page: no pagination captured"
    cap.get(
        "phoenix",
        src.page_url({c.STEP_KIND: c.KIND_CHECKPOINT, c.SESSION_ID: phoenix_run.session_id}),
        "checkpoints.json",
    )
    cap.get("phoenix", src.page_url({c.CHECKPOINT_ID: "0" * 32}), "checkpoint-unknown.json")
    cap.get(
        "phoenix",
        PhoenixSource(phoenix.url, project="no-such-project").page_url({c.CHECKPOINT_ID: "0" * 32}),
        "project-unknown.txt",
    )
    cap.get(
        "phoenix",
        PhoenixSource(f"{phoenix.url}/not-the-api/").page_url({c.CHECKPOINT_ID: "0" * 32}),
        "wrong-base-url.html",
    )
    cap.get(
        "phoenix",
        src.page_url({c.CHECKPOINT_ID: "0" * 32}, cursor="not-a-cursor"),
        "invalid-cursor.txt",
    )
    auth_url, _key = phoenix_auth
    cap.get(
        "phoenix",
        PhoenixSource(auth_url).page_url({c.CHECKPOINT_ID: "0" * 32}),
        "unauthorized.txt",
    )
    # Jaeger: services, the search, the trace, error answers
    jsrc = JaegerSource(jaeger.query_url, service=jaeger_run.service)
    cap.get("jaeger", jsrc.services_url(), "services.json")
    cap.get("jaeger", jsrc.search_url(jaeger_run.service), "search.json")
    cap.get("jaeger", jsrc.trace_url(jaeger_run.trace_id), "trace.json")
    cap.get("jaeger", jsrc.trace_url("0" * 31 + "1"), "trace-unknown.json")
    cap.get("jaeger", jsrc.search_url("no-such-service"), "search-empty.json")
    too_deep = JaegerSource(jaeger.query_url, search_limit=10**9)
    cap.get("jaeger", too_deep.search_url(jaeger_run.service), "search-limit-too-large.json")
    jaeger_version = (backends.BIN_DIR / "jaeger.version").read_text().strip()
    manifest = {
        "phoenix_version": version,
        "jaeger_version": jaeger_version,
        "captured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "phoenix_page_size": page_size,
        "responses": cap.entries,
        "phoenix_run": _expected(phoenix_run),
        "jaeger_run": _expected(jaeger_run),
    }
    (capture_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    )
    committed = json.loads((DATA_BACKENDS / "manifest.json").read_text())
    live = [(e["backend"], e["file"], e["status"]) for e in cap.entries]
    assert live == [(e["backend"], e["file"], e["status"]) for e in committed["responses"]]
