"""``OTEL_SDK_DISABLED=true``: nothing raises, nothing is recorded, one warning says so."""

from __future__ import annotations

import io
import logging
import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, tool_call
from otel_replay.cli.main import main
from otel_replay.core import conventions as c
from otel_replay.core import env
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry

WARNING = (
    "OTEL_SDK_DISABLED=true: the OpenTelemetry SDK is disabled, so otel-replay records nothing "
    "(checkpoint() returns ids of checkpoints that are not recorded; the processors and "
    "configure() do nothing)"
)


@pytest.fixture
def disabled(monkeypatch):
    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_SDK_DISABLED, "true")


def test_demo_says_the_sdk_is_disabled(disabled, tmp_path):
    out = io.StringIO()
    assert main(["demo", "--out", str(tmp_path / "demo")], out=out) == 0
    assert out.getvalue() == (
        "otel-replay demo: the OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED=true), so "
        "nothing can be recorded, restored or compared.\n"
        "Unset OTEL_SDK_DISABLED (or set it to false) to run the demo.\n"
    )
    assert not (tmp_path / "demo").exists()


def test_checkpoint_and_processors_are_noops_with_one_warning(disabled, caplog, monkeypatch):
    exporter = InMemorySpanExporter()
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        provider = TracerProvider()  # the SDK reads OTEL_SDK_DISABLED too: no-op tracers
        replay = ReplayProcessor()
        drift = DriftProcessor(SimpleSpanProcessor(exporter), registry=TrackingRegistry())
        provider.add_span_processor(replay)
        provider.add_span_processor(drift)
        tracer = provider.get_tracer("t")
        with agent_run("agent", session_id="s", tracer=tracer):
            first = checkpoint({"big": "x" * 100_000}, tracer=tracer)  # over every cap: no error
            second = checkpoint({"q": 1}, tracer=tracer)
            with tool_call("search", {"q": 1}, tracer=tracer) as call:
                call.set_result("r")
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second
    assert exporter.get_finished_spans() == ()
    assert replay.checkpoints("s") == []
    assert [r.getMessage() for r in caplog.records] == [WARNING]


def test_processors_given_spans_anyway_do_nothing(monkeypatch, caplog):
    monkeypatch.setattr(env, "_warned", set())
    provider = TracerProvider()  # created while the SDK is enabled: real spans
    monkeypatch.setenv(c.ENV_SDK_DISABLED, "true")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        replay = ReplayProcessor()
    provider.add_span_processor(replay)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("x", attributes={c.SESSION_ID: "s"}) as span:
        pass
    assert c.STEP_SEQUENCE not in span.attributes
    assert replay.buffered_steps == 0
    assert [r.getMessage() for r in caplog.records] == [WARNING]


def test_invalid_sdk_disabled_value_warns_once_and_means_enabled(monkeypatch, caplog):
    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_SDK_DISABLED, "yes")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        assert env.sdk_disabled() is False
        assert env.sdk_disabled() is False
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_SDK_DISABLED='yes' is not true or false; the OpenTelemetry SDK treats it as false"
    ]
