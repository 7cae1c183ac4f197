"""``otel_replay.configure()``: the SDK's standard setup plus otel-replay's processors in one
call, with real SDK providers (global state restored after each test)."""

from __future__ import annotations

import importlib.util
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_replay
from otel_replay import (
    ConfigurationError,
    DriftProcessor,
    RecordingExporter,
    ReplayProcessor,
    agent_run,
    checkpoint,
    configure,
    load_recording,
    restore,
    tool_call,
)
from otel_replay.capture.checkpoint import SESSION_CLOCK
from otel_replay.capture.redaction import RedactionProcessor
from otel_replay.core import conventions as c
from otel_replay.model.stores import DirectoryCheckpointStore, set_checkpoint_store
from tests.otel_globals import fresh_otel_globals


@pytest.fixture(autouse=True)
def _globals(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    for s in otel_replay.core.env.SETTINGS:
        monkeypatch.delenv(s.name, raising=False)
    clock = SESSION_CLOCK.snapshot()
    store = set_checkpoint_store(None)
    with fresh_otel_globals():
        yield
    set_checkpoint_store(store)
    SESSION_CLOCK.restore(clock)


def _agent(status: str) -> str:
    with agent_run("support-agent", session_id="ticket-42"):
        ckpt = checkpoint({"order": "A-17"}, label="planned")
        with tool_call("lookup_order", {"order": "A-17"}) as call:
            call.set_result({"status": status})
    return ckpt


def test_configure_installs_processors_records_and_reports_drift(tmp_path):
    spans = InMemorySpanExporter()
    logs = InMemoryLogRecordExporter()
    conf = configure(
        recording_dir=tmp_path / "rec",
        checkpoint_dir=tmp_path / "ckpts",
        export_processors=[SimpleSpanProcessor(spans)],
        log_record_processors=[SimpleLogRecordProcessor(logs)],  # to the SDK's setup
        resource_attributes={"service.name": "configured"},
    )
    assert trace.get_tracer_provider() is conf.tracer_provider
    installed = conf.tracer_provider._active_span_processor._span_processors
    assert installed == (conf.redaction, conf.replay, conf.drift)
    assert isinstance(conf.redaction, RedactionProcessor)
    assert isinstance(conf.checkpoint_store, DirectoryCheckpointStore)
    assert isinstance(conf.recording, RecordingExporter)
    assert [type(p) for p in conf.drift._downstream] == [BatchSpanProcessor, SimpleSpanProcessor]

    ckpt = _agent("shipped")
    assert [s.name for s in conf.replay.steps_after(ckpt)] == ["lookup_order"]
    conf.tracer_provider.force_flush()
    rec = load_recording(tmp_path / "rec")
    assert sorted(s.name for s in rec.spans) == [
        "checkpoint planned",
        "execute_tool lookup_order",
        "invoke_agent support-agent",
    ]
    assert rec.spans[0].resource.attributes["service.name"] == "configured"

    result = restore(ckpt, source=tmp_path / "rec", track_drift=True)
    with result.run("support-agent"), tool_call("lookup_order", {"order": "A-17"}) as call:
        call.set_result({"status": "lost"})
    (finding,) = result.report.findings
    assert finding.kind.value == "output_changed"
    tool = next(
        s
        for s in spans.get_finished_spans()
        if s.name == "execute_tool lookup_order" and s.attributes[c.SESSION_ID] == result.session_id
    )
    assert [e.name for e in tool.events] == [c.DRIFT_EVENT]
    (log,) = [
        r.log_record for r in logs.get_finished_logs() if r.log_record.event_name == c.DRIFT_EVENT
    ]
    assert (log.trace_id, log.span_id) == (tool.context.trace_id, tool.context.span_id)


def test_configure_is_idempotent_and_warns_about_ignored_arguments(caplog):
    first = configure(redact=False)
    assert first.redaction is None
    assert configure(redact=False) is first
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        assert configure(redact=True) is first
        assert configure(redact=True) is first
    assert [r.getMessage() for r in caplog.records] == [
        "otel_replay.configure() was already called in this process; the arguments of this "
        "call are ignored"
    ]


def test_configure_refuses_a_foreign_provider_and_says_how_to_add_processors():
    trace.set_tracer_provider(TracerProvider())
    with pytest.raises(ConfigurationError) as info:
        configure()
    msg = str(info.value)
    assert msg.startswith(
        "a global TracerProvider (opentelemetry.sdk.trace.TracerProvider) is already set "
        "without otel-replay's ReplayProcessor and DriftProcessor; add otel-replay's processors"
    )
    assert "provider.add_span_processor(ReplayProcessor())" in msg
    assert "DriftProcessor(BatchSpanProcessor(exporter))" in msg


def test_configure_adopts_a_provider_wired_by_hand():
    provider = TracerProvider()
    replay = ReplayProcessor()
    drift = DriftProcessor(SimpleSpanProcessor(InMemorySpanExporter()))
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    trace.set_tracer_provider(provider)
    conf = configure()
    assert (conf.tracer_provider, conf.replay, conf.drift) == (provider, replay, drift)
    assert conf.recording is None


def test_configure_reads_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv(c.ENV_RECORDING_DIR, str(tmp_path / "rec") + "/")
    monkeypatch.setenv(c.ENV_RECORDING_FORMAT, "protobuf")
    monkeypatch.setenv(c.ENV_RECORDING_MAX_BYTES, "1000000")
    monkeypatch.setenv(c.ENV_REDACT, "false")
    monkeypatch.setenv(c.ENV_DRIFT_SPAN_EVENTS, "false")
    monkeypatch.setenv(c.ENV_DRIFT_LOG_EVENTS, "true")
    monkeypatch.setenv(c.ENV_DRIFT_EVALUATION_EVENTS, "false")
    monkeypatch.setenv(c.ENV_DRIFT_MAX_HELD_SPANS, "77")
    monkeypatch.setenv(c.ENV_DRIFT_MAX_REPORTS, "5")
    conf = configure()
    assert conf.redaction is None
    assert conf.recording is not None and conf.recording.format == "protobuf"
    assert conf.recording.max_bytes == 1_000_000
    assert (conf.drift.span_events, conf.drift.evaluation_events) == (False, False)
    assert conf.drift.log_events.mode == "true"
    assert (conf.drift.max_held_spans, conf.drift._max_reports) == (77, 5)
    _agent("shipped")
    conf.tracer_provider.force_flush()
    assert [p.suffix for p in (tmp_path / "rec").iterdir()] == [".binpb"]


def test_bad_arguments_install_nothing(tmp_path):
    with pytest.raises(ValueError, match="unknown recording format 'xml'"):
        configure(recording_dir=tmp_path, recording_format="xml")  # type: ignore[arg-type]
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert otel_replay.setup.current_configuration() is None
    assert configure(redact=False).redaction is None  # a later call still works


def test_configurator_entry_point_class_configures_like_the_sdk(monkeypatch):
    from otel_replay.setup.configurator import OtelReplayConfigurator

    OtelReplayConfigurator().configure(auto_instrumentation_version="9.9")
    conf = otel_replay.setup.current_configuration()
    assert conf is not None and trace.get_tracer_provider() is conf.tracer_provider
    assert conf.tracer_provider.resource.attributes["telemetry.auto.version"] == "9.9"


def test_configurator_with_otel_config_file_defers_to_the_sdk_and_warns(monkeypatch, caplog):
    from otel_replay.core import env
    from otel_replay.setup.configurator import OtelReplayConfigurator

    if importlib.util.find_spec("opentelemetry.configuration") is not None:
        pytest.skip("opentelemetry-configuration is installed: the SDK would read the file")
    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv("OTEL_CONFIG_FILE", "otel.yaml")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        # the SDK's own path: it needs opentelemetry-configuration, which is not installed here
        with pytest.raises(RuntimeError, match="opentelemetry-configuration is not installed"):
            OtelReplayConfigurator().configure()
    assert [r.getMessage() for r in caplog.records if r.name == "otel_replay"] == [
        "OTEL_CONFIG_FILE is set: the SDK is configured from that file and otel-replay's "
        "processors are not added; add them in code (docs/configuration.md)"
    ]
    assert otel_replay.setup.current_configuration() is None


def test_ignore_paths_from_the_environment(monkeypatch, tmp_path, caplog):
    from otel_replay.core import env
    from otel_replay.drift.policy import DEFAULT_IGNORE_PATHS

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_DRIFT_IGNORE_PATHS, " $.eta , eta2 ")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        conf = configure(recording_dir=tmp_path / "rec", redact=False)
    assert conf.drift.policy.ignore_paths == DEFAULT_IGNORE_PATHS + ("$.eta",)
    assert [r.getMessage() for r in caplog.records if r.name == "otel_replay"] == [
        "OTEL_REPLAY_DRIFT_IGNORE_PATHS: 'eta2' not a JSON path (they start with $); ignoring it"
    ]

    def run(sid, eta):
        with agent_run("agent", session_id=sid):
            cid = checkpoint({"q": 1})
            with tool_call("lookup_order", {"order": "A-17"}) as call:
                call.set_result({"status": "shipped", "eta": eta})
        return cid

    cid = run("base", "monday")
    result = restore(cid, source=conf.replay, track_drift=True)
    with result.run("agent"), tool_call("lookup_order", {"order": "A-17"}) as call:
        call.set_result({"status": "shipped", "eta": "tuesday"})
    assert result.report.findings == []
    assert result.report.candidate_steps == 1
