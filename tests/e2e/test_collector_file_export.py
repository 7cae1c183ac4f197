"""Files written by the real Collector's `file` exporter load as recordings, checkpoints and all."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_replay.capture.checkpoint import SESSION_CLOCK
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.cli.demo_agent import ResearchAgent
from otel_replay.cli.render import checkpoints_of
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording

from . import backends
from .helpers import wait_for

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).parent / "collector-file-config.yaml"


def _key(step):
    return (step.sequence, step.kind, step.name, step.inputs, step.outputs, step.span_id)


@pytest.mark.parametrize("which", ["json", "proto"])
def test_collector_file_exporter_output_loads(e2e_process_group, jaeger, tmp_path, which):
    files = {"json": tmp_path / "traces.jsonl", "proto": tmp_path / "traces.binpb"}
    collector = backends.start_collector(
        e2e_process_group,
        jaeger.otlp_grpc_endpoint,
        name=f"collector-file-{which}",
        config=CONFIG,
        env={
            "OTEL_REPLAY_FILE_JSON": str(files["json"]),
            "OTEL_REPLAY_FILE_PROTO": str(files["proto"]),
        },
    )
    saved = SESSION_CLOCK.snapshot()
    provider = TracerProvider(resource=Resource.create({"service.name": "file-export-test"}))
    replay = ReplayProcessor()
    provider.add_span_processor(replay)
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.otlp_grpc_endpoint, insecure=True))
    )
    try:
        agent = ResearchAgent(tracer=provider.get_tracer("t"))
        sid, _ = agent.run("What does OpenTelemetry do with traces?", session_id=f"file-{which}")
        live_ckpts = replay.checkpoints(sid)
        live_steps = {ck.id: [_key(s) for s in replay.steps_after(ck.id)] for ck in live_ckpts}
    finally:
        provider.shutdown()
        SESSION_CLOCK.restore(saved)

    path = files[which]

    def loaded():
        if not path.exists() or path.stat().st_size == 0:
            return None
        with warnings.catch_warnings():  # the Collector may be mid-write while we poll
            warnings.simplefilter("ignore", RecordingWarning)
            rec = load_recording(path)
        return rec if len(rec.spans) >= 9 and not rec.warnings else None

    rec = wait_for(loaded, 30, what=f"9 spans in the collector's {which} file")
    assert len(rec.spans) == 9
    assert rec.warnings == []
    assert rec.sessions() == [sid]
    ckpts = checkpoints_of(rec.steps())
    assert [(ck.id, ck.label, ck.sequence, ck.parent_id) for ck in ckpts] == [
        (ck.id, ck.label, ck.sequence, ck.parent_id) for ck in live_ckpts
    ]
    steps = rec.steps_for_session(sid)
    for ck in ckpts:
        after = [_key(s) for s in steps if s.sequence is not None and s.sequence > ck.step_sequence]
        assert after == live_steps[ck.id]
        assert ck.load_state() == replay.get_checkpoint(ck.id).load_state()
