"""A real instrumented agent through ``otel-replay serve``: a tool-calling loop on the real
``openai`` client against the local fake server, traced by the OpenTelemetry GenAI OpenAI
instrumentation, numbered by the ``ReplayProcessor`` and exported by the SDK's OTLP/HTTP
exporter to the worker in requests of two spans. The worker records the baseline run; the agent restores its
checkpoint from that recording store and runs again, and the worker compares each restored
run with the baseline: a run that behaves the same gives no finding, a planted change exactly
one, on the right span."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_replay import agent_run, checkpoint, restore
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c
from tests.otlp_sink import attrs_of, wait_until
from tests.test_serve import healthz, serving, spans_of

pytest.importorskip("openai")
pytest.importorskip("opentelemetry.instrumentation.genai.openai")

from tests.agents.instrument import instrumented  # noqa: E402
from tests.agents.openai_loop import fake_openai_server, make_openai_runner  # noqa: E402
from tests.agents.script import BASELINE, SCENARIOS  # noqa: E402


def test_restored_openai_agent_compared_by_the_worker(tmp_path: Any) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    with serving(tmp_path) as (service, sink), fake_openai_server() as server:
        provider = TracerProvider(resource=Resource({"service.name": "weather-agent"}))
        provider.add_span_processor(ReplayProcessor(meter_provider=NoOpMeterProvider()))
        # Requests of 2 spans: each run reaches the worker in several requests, its root
        # (which carries agent_replay.replay.run_id) last; the ReplayProcessor marks every
        # span of the restored session with its checkpoint, so the worker holds them all.
        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"http://{service.http_address}/v1/traces"),
                max_export_batch_size=2,
            )
        )
        tracer = provider.get_tracer("weather-agent")
        runs: dict[str, Any] = {}
        try:
            with (
                pytest.MonkeyPatch.context() as mp,
                instrumented("openai", provider, mp, meter_provider=NoOpMeterProvider()),
            ):
                runner = make_openai_runner(server, tracer, own_run=False)
                with agent_run("weather_agent", session_id="base", tracer=tracer):
                    cid = checkpoint({"city": "Paris"}, label="start", tracer=tracer)
                    runner(BASELINE)
                assert provider.force_flush(30_000)  # the worker has recorded it
                for name in ("same", "result_changed"):
                    result = restore(cid, source=str(tmp_path / "rec"), target={}, tracer=tracer)
                    assert result.target == {"city": "Paris"}
                    with result.run("weather_agent"):
                        runner(SCENARIOS[name])
                    assert provider.force_flush(30_000)
                    runs[name] = result.session_id
        finally:
            provider.shutdown()
        wait_until(lambda: healthz(service)["counters"]["runs_compared"] == 2, what="2 runs")
        final = service.stop()
    assert final["received"] == final["exported"] == len(sink.spans())
    assert final["dropped"] == 0
    findings = [
        (attrs_of(s)[c.SESSION_ID], s.name, attrs_of(e)[c.DRIFT_KIND])
        for _r, s in sink.spans()
        for e in s.events
        if e.name == c.DRIFT_EVENT and c.DRIFT_CAUSED_BY not in attrs_of(e)
    ]
    changed = spans_of(sink, runs["result_changed"])
    (tool,) = [s for s in changed.values() if attrs_of(s).get("gen_ai.tool.name") == "get_weather"]
    assert findings == [(runs["result_changed"], tool.name, "output_changed")]
    labels = {}
    for name, sid in runs.items():
        (root,) = [s for s in spans_of(sink, sid).values() if c.REPLAY_RUN_ID in attrs_of(s)]
        (ev,) = [e for e in root.events if e.name == c.GEN_AI_EVALUATION_RESULT_EVENT]
        labels[name] = attrs_of(ev)[c.GEN_AI_EVALUATION_SCORE_LABEL]
    assert labels == {"same": "no_drift", "result_changed": "drift"}
    assert sink.metric_total(c.METRIC_DRIFT_FINDINGS) == 1
