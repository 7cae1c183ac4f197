"""``otel-replay serve`` in-process on free ports, fed by the real OTel SDK's OTLP exporters
(gRPC and HTTP) from a program that uses only the SDK and the documented attributes
(:mod:`tests.serve_producer`), exporting to a real OTLP/HTTP receiver (:mod:`tests.otlp_sink`).
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.core import conventions as c
from otel_replay.formats.files import load_recording
from otel_replay.formats.otlp_json_encode import traces_data_to_json
from otel_replay.serve import ServeConfig, Service
from tests.otlp_sink import Sink, attrs_of, otlp_sink, wait_until
from tests.serve_producer import Agent, Run, grpc_exporter, http_exporter

WORKER = "worker-test-1"


@contextmanager
def serving(tmp_path: Path, **overrides: Any) -> Iterator[tuple[Service, Sink]]:
    """A worker recording to and reading baselines from ``tmp_path/rec``."""
    rec = tmp_path / "rec"
    rec.mkdir(exist_ok=True)
    with otlp_sink() as sink:
        settings: dict[str, Any] = {
            "grpc_port": 0,
            "http_port": 0,
            "downstream": sink.url,
            "baselines": str(rec),
            "record_dir": str(rec),
            "worker_id": WORKER,
            "metric_interval": 0.2,
            "shutdown_timeout": 10.0,
        }
        settings.update(overrides)
        service = Service(ServeConfig(**settings))
        service.start()
        try:
            yield service, sink
        finally:
            service.stop()


def post(
    address: str, body: bytes, content_type: str = "application/x-protobuf", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        f"http://{address}/v1/traces",
        data=body,
        headers={"Content-Type": content_type, **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def healthz(service: Service) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{service.http_address}/healthz", timeout=10) as resp:
        return json.loads(resp.read())


def spans_of(sink: Sink, session: str) -> dict[str, Any]:
    """Span id (hex) -> span received downstream, of one session."""
    return {
        s.span_id.hex(): s for _res, s in sink.spans() if attrs_of(s).get(c.SESSION_ID) == session
    }


def drift_events(sink: Sink) -> list[tuple[str, str, str]]:
    """(session, span id, drift kind) of every ``agent_replay.drift`` span event received."""
    return [
        (attrs_of(s)[c.SESSION_ID], s.span_id.hex(), attrs_of(e)[c.DRIFT_KIND])
        for _res, s in sink.spans()
        for e in s.events
        if e.name == c.DRIFT_EVENT
    ]


def verdict(sink: Sink, run: Run) -> str | None:
    root = spans_of(sink, run.session)[run.span_ids["root"]]
    (event,) = [e for e in root.events if e.name == c.GEN_AI_EVALUATION_RESULT_EVENT]
    return attrs_of(event)[c.GEN_AI_EVALUATION_SCORE_LABEL]


def request_of(spans_from: Any) -> bytes:
    """A serialized ExportTraceServiceRequest of the SDK spans ``spans_from()`` records."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "raw-sender"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans_from(provider.get_tracer("raw"))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def restored_children(baseline: Run, session: str) -> Any:
    """Spans of a restored run whose root has not ended (two steps with the provenance)."""

    def emit(tracer: Any) -> None:
        from opentelemetry.trace import set_span_in_context

        root = tracer.start_span("invoke_agent support-agent")  # never ends
        for i, name in enumerate(("execute_tool lookup_order", "chat fake-model"), start=2):
            tracer.start_span(
                name,
                context=set_span_in_context(root),
                attributes={
                    c.SESSION_ID: session,
                    c.STEP_SEQUENCE: i,
                    c.REPLAY_CHECKPOINT_ID: baseline.checkpoint or "",
                    "gen_ai.operation.name": "execute_tool" if i == 2 else "chat",
                },
            ).end()

    return emit


# ---------------------------------------------------------------------------------------------


def test_same_run_no_drift_changed_run_one_finding_counts_in_equal_out(tmp_path):
    with serving(tmp_path) as (service, sink):
        http = Agent(http_exporter(service.http_address))
        base = http.baseline("base-1")
        http.flush()  # recorded by the worker: the baseline of the next runs
        same = http.restored(base, "same-1")
        http.flush()
        grpc_agent = Agent(grpc_exporter(service.grpc_address))
        changed = grpc_agent.restored(base, "changed-1", status="lost")
        plain = grpc_agent.plain("plain-1")
        grpc_agent.flush()
        counters = wait_until(
            lambda: (h := healthz(service)["counters"])["runs_compared"] == 2 and h,
            what="both restored runs compared",
        )
        assert counters["runs_tracked"] == 2
        http.shutdown()
        grpc_agent.shutdown()
        final = service.stop()
    sent = 4 + 3 + 3 + 3
    assert (final["received"], final["exported"], final["dropped"]) == (sent, sent, 0)
    assert len(sink.spans()) == sent
    assert {attrs_of(s)[c.SERVE_WORKER] for _r, s in sink.spans()} == {WORKER}
    assert drift_events(sink) == [("changed-1", changed.span_ids["lookup_order"], "output_changed")]
    assert verdict(sink, same) == "no_drift"
    assert verdict(sink, changed) == "drift"
    assert all(not s.events for s in spans_of(sink, "plain-1").values())
    assert all(not s.events for s in spans_of(sink, "base-1").values())
    assert plain.session == "plain-1"
    # log-based events: the finding, correlated with its span, and both verdicts
    logs = [(lr.event_name, lr.span_id.hex()) for lr in sink.log_records()]
    assert sorted(n for n, _ in logs) == [
        c.DRIFT_EVENT,
        c.GEN_AI_EVALUATION_RESULT_EVENT,
        c.GEN_AI_EVALUATION_RESULT_EVENT,
    ]
    assert (c.DRIFT_EVENT, changed.span_ids["lookup_order"]) in logs
    # metrics, on the worker's own resource
    assert sink.metric_total(c.METRIC_DRIFT_FINDINGS) == 1
    assert sink.metric_total(c.METRIC_RUNS_COMPARED) == 2
    assert sink.metric_total(c.METRIC_SERVE_RECEIVED) == sent
    assert sink.metric_total(c.METRIC_SERVE_EXPORTED) == sent
    assert sink.metric_total(c.METRIC_SERVE_DROPPED) is None
    resources = {
        tuple(sorted((kv.key, kv.value.string_value) for kv in res.attributes))
        for res, _a, _v in sink.metric_points(c.METRIC_SERVE_RECEIVED)
    }
    assert (("service.instance.id", WORKER), ("service.name", "otel-replay-serve")) in {
        tuple(p for p in r if p[0] in ("service.name", "service.instance.id")) for r in resources
    }
    # the recording store: one file per worker, every span received
    (recorded,) = (tmp_path / "rec").glob("spans-*.jsonl")
    assert recorded.name == f"spans-{WORKER}.jsonl"
    rec = load_recording(recorded)
    assert len(rec.spans) == sent
    assert {s.attributes[c.SERVE_WORKER] for s in rec.spans} == {WORKER}
    assert not any(s.events for s in rec.spans)  # what was received, before the comparison
    # spans of restored runs go downstream with what was received (those the comparison leaves
    # unchanged are forwarded as their received bytes, the enriched ones with their new
    # events appended to those bytes)
    received = {format(s.context.span_id, "016x"): dict(s.attributes) for s in rec.spans}
    for session in ("same-1", "changed-1"):
        out = spans_of(sink, session)
        assert len(out) == 3
        assert {sid: attrs_of(s) for sid, s in out.items()} == {sid: received[sid] for sid in out}
    unchanged = set(spans_of(sink, "changed-1")) - {
        changed.span_ids["root"],
        changed.span_ids["lookup_order"],
    }
    assert len(unchanged) == 1
    assert all(not spans_of(sink, "changed-1")[sid].events for sid in unchanged)


def test_run_recognized_from_its_root_alone_when_the_run_comes_in_one_request(tmp_path):
    with serving(tmp_path) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        base = agent.baseline("base-2")
        agent.flush()
        changed = agent.restored(base, "changed-2", status="lost", provenance_on_every_span=False)
        agent.flush()
        agent.shutdown()
        service.stop()
    assert drift_events(sink) == [("changed-2", changed.span_ids["lookup_order"], "output_changed")]


def test_json_and_gzip_requests(tmp_path):
    def emit(tracer: Any) -> None:
        tracer.start_span("json span", attributes={"k": "v"}).end()

    body = request_of(emit)
    as_json = traces_data_to_json(TracesData.FromString(body)).encode()
    with serving(tmp_path) as (service, sink):
        status, headers, reply = post(service.http_address, as_json, "application/json")
        assert (status, headers["Content-Type"], reply) == (200, "application/json", b"{}")
        status, _h, reply = post(
            service.http_address, gzip.compress(body), **{"Content-Encoding": "gzip"}
        )
        assert status == 200
        assert reply == b""  # an empty ExportTraceServiceResponse
        gz = Agent(http_exporter(service.http_address, compression=_gzip()))
        gz.plain("gzip-1")
        gz.flush()
        gz.shutdown()
        final = service.stop()
    assert final["received"] == final["exported"] == 2 + 3
    assert sorted(s.name for _r, s in sink.spans() if s.name == "json span") == ["json span"] * 2


def _gzip() -> Any:
    from opentelemetry.exporter.otlp.proto.http import Compression

    return Compression.Gzip


def test_bad_requests_get_a_clear_error_and_are_counted(tmp_path):
    with serving(tmp_path, max_request_bytes=4096) as (service, sink):
        addr = service.http_address
        status, _h, reply = post(addr, b"\xff\xfe garbage")
        assert status == 400
        message = status_pb2.Status.FromString(reply).message
        assert message.startswith("the body is not an OTLP ExportTraceServiceRequest (protobuf)")
        status, _h, reply = post(addr, b'{"resourceSpans": 3}', "application/json")
        assert status == 400
        assert json.loads(reply)["message"].startswith(
            "the body is not an OTLP/JSON ExportTraceServiceRequest"
        )
        status, _h, reply = post(addr, b"x" * 5000)
        assert status == 413
        assert status_pb2.Status.FromString(reply).message == (
            "request body of 5000 bytes exceeds the cap of 4096 bytes"
        )
        status, _h, reply = post(
            addr, gzip.compress(b"\0" * 100_000), **{"Content-Encoding": "gzip"}
        )
        assert status == 413
        assert status_pb2.Status.FromString(reply).message == (
            "request body decompresses to more than the cap of 4096 bytes"
        )
        status, _h, reply = post(addr, b"{}", "text/plain")
        assert status == 415
        with grpc.insecure_channel(service.grpc_address) as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=None,
            )
            with pytest.raises(grpc.RpcError) as err:
                export(b"\xff\xfe garbage", timeout=10)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("the body is not an OTLP ExportTraceServiceRequest")
        counters = healthz(service)["counters"]
        assert counters["requests_rejected"] == 6
        assert counters["received"] == 0
        service.stop()
    assert sink.metric_total(c.METRIC_SERVE_REJECTED, agent_replay__serve__reason="invalid") == 3
    assert sink.metric_total(c.METRIC_SERVE_REJECTED, agent_replay__serve__reason="too_large") == 2
    assert (
        sink.metric_total(c.METRIC_SERVE_REJECTED, agent_replay__serve__reason="unsupported") == 1
    )


def test_a_request_with_more_new_runs_than_may_be_held_is_taken_when_none_is_held(tmp_path):
    """Refused, it could never be taken: the sender would retry it until it gives up."""
    with serving(tmp_path, max_held_runs=1) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        base = agent.baseline("base-9")
        agent.flush()

        def two_runs(tracer: Any) -> None:
            restored_children(base, "two-9a")(tracer)
            restored_children(base, "two-9b")(tracer)

        held = request_of(restored_children(base, "held-9"))
        assert post(service.http_address, held)[0] == 200
        wait_until(lambda: healthz(service)["counters"]["runs_held"] == 1, what="one held run")
        status, _headers, reply = post(service.http_address, request_of(two_runs))
        assert status == 503
        assert status_pb2.Status.FromString(reply).message == "1 restored run held (max 1)"
        service.engine.expire(float("inf"))  # the held run ends: nothing is held
        assert healthz(service)["counters"]["runs_held"] == 0
        assert post(service.http_address, request_of(two_runs))[0] == 200
        counters = wait_until(
            lambda: (h := healthz(service)["counters"])["runs_held"] == 2 and h,
            what="both runs held",
        )
        agent.shutdown()
        final = service.stop()
    assert counters["runs_tracked"] == 3
    assert (final["received"], final["exported"], final["dropped"]) == (4 + 2 + 4, 10, 0)
    assert final["refused_by_reason"] == {"full": 4}


def test_full_worker_answers_with_the_retryable_status(tmp_path):
    with serving(tmp_path, max_held_runs=1) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        base = agent.baseline("base-3")
        agent.flush()
        held = request_of(restored_children(base, "held-3"))
        assert post(service.http_address, held)[0] == 200
        wait_until(lambda: healthz(service)["counters"]["runs_held"] == 1, what="one held run")
        assert healthz(service)["status"] == "full"
        more = request_of(restored_children(base, "more-3"))
        status, headers, reply = post(service.http_address, more)
        assert (status, headers["Retry-After"]) == (503, "1")
        assert status_pb2.Status.FromString(reply).message == "1 restored run held (max 1)"
        with grpc.insecure_channel(service.grpc_address) as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=None,
            )
            with pytest.raises(grpc.RpcError) as err:
                export(more, timeout=10)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        # spans of runs that are not restored still pass
        plain = request_of(lambda t: t.start_span("plain", attributes={c.SESSION_ID: "p"}).end())
        assert post(service.http_address, plain)[0] == 200
        agent.shutdown()
        final = service.stop()
    # refused spans are counted apart, neither received nor dropped (the sender retries
    # them); the held run was compared at shutdown and forwarded
    assert (final["refused"], final["refused_by_reason"]) == (4, {"full": 4})
    assert (final["dropped"], final["dropped_by_reason"]) == (0, {})
    assert final["received"] == 4 + 2 + 1
    assert final["exported"] == 4 + 2 + 1
    assert final["in_flight"] == 0
    assert final["runs_compared"] == 1
    assert sink.metric_total(c.METRIC_SERVE_REFUSED, agent_replay__serve__reason="full") == 4
    assert sink.metric_total(c.METRIC_SERVE_DROPPED) is None
    assert sink.metric_total(c.METRIC_SERVE_RECEIVED) == 4 + 2 + 1
    assert sink.metric_total(c.METRIC_SERVE_REJECTED, agent_replay__serve__reason="full") == 2
    assert set(spans_of(sink, "held-3")) and not spans_of(sink, "more-3")


def test_a_run_whose_root_never_ends_is_compared_after_the_run_timeout(tmp_path):
    with serving(tmp_path, run_timeout=0.3) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        base = agent.baseline("base-4")
        agent.flush()
        assert post(service.http_address, request_of(restored_children(base, "open-4")))[0] == 200
        counters = wait_until(
            lambda: (h := healthz(service)["counters"])["runs_timed_out"] == 1 and h,
            what="the run timeout",
        )
        assert (counters["runs_held"], counters["runs_compared"]) == (0, 1)
        wait_until(lambda: len(spans_of(sink, "open-4")) == 2, what="the run's spans downstream")
        agent.shutdown()
        service.stop()
    assert sink.metric_total(c.METRIC_SERVE_TIMED_OUT) == 1
    assert sink.metric_total(c.METRIC_RUNS_COMPARED) == 1


def orphan_run(tmp_path: Path, session: str) -> tuple[Run, dict[str, Any], Sink, Service]:
    """A restored run of a checkpoint in no baseline sent to a worker, until its 3 spans were
    forwarded and the worker stopped: the run, the final counters, the sink, the worker."""
    missing = Run("nowhere", "f" * 32, "0" * 32, {})
    with serving(tmp_path) as (service, sink):
        agent = Agent(http_exporter(service.http_address))
        run = agent.restored(missing, session)
        agent.flush()
        wait_until(lambda: len(spans_of(sink, session)) == 3, what="the run forwarded")
        agent.shutdown()
        final = service.stop()
    return run, final, sink, service


def test_a_restored_run_without_baseline_is_forwarded_with_a_not_compared_verdict(tmp_path, caplog):
    run, final, sink, _service = orphan_run(tmp_path, "orphan-5")
    assert (final["runs_not_compared"], final["runs_compared"]) == (1, 0)
    assert (
        sink.metric_total(
            c.METRIC_SERVE_NOT_COMPARED, agent_replay__serve__reason="baseline_not_found"
        )
        == 1
    )
    warnings = [r.getMessage() for r in caplog.records if "without comparison" in r.getMessage()]
    assert len(warnings) == 1
    assert f"no baseline for checkpoint {'f' * 32}" in warnings[0]
    assert run.session == "orphan-5"
    # the backend sees the run's verdict: not compared, never an implied "no drift"
    (event,) = [lr for lr in sink.log_records() if lr.event_name != c.DRIFT_EVENT]
    explanation = not_compared_verdict(event, run, "baseline_not_found")
    assert explanation == f"not compared: {warnings[0].split(': ', 1)[1]}"
    # and the trace shows it: the same verdict on the run's root, nothing else on the spans
    assert not_compared_on_root(sink, run, "baseline_not_found") == explanation


def not_compared_on_root(sink: Sink, run: Run, reason: str) -> str:
    """Check that the spans of ``run`` went downstream as sent, but for the ``not_compared``
    verdict event on the root; that event's explanation."""
    spans = spans_of(sink, run.session)
    assert set(spans) == set(run.span_ids.values())
    root = spans.pop(run.span_ids["root"])
    assert [e for s in spans.values() for e in s.events] == []
    (event,) = root.events
    assert event.name == c.GEN_AI_EVALUATION_RESULT_EVENT
    assert event.time_unix_nano == root.end_time_unix_nano
    attrs = attrs_of(event)
    explanation = attrs.pop(c.GEN_AI_EVALUATION_EXPLANATION)
    assert attrs == not_compared_attributes(run, reason)  # the span has the session, agent
    return str(explanation)


def not_compared_attributes(run: Run, reason: str, **run_attrs: str) -> dict[str, Any]:
    """The attributes of the ``not_compared`` verdict of ``run`` but for its explanation."""
    return {
        c.GEN_AI_EVALUATION_NAME: c.EVALUATION_NAME,
        c.GEN_AI_EVALUATION_SCORE_LABEL: "not_compared",
        c.DRIFT_FINDINGS_TOTAL: 0,
        c.ATTR_SERVE_REASON: reason,
        c.REPLAY_CHECKPOINT_ID: run.checkpoint,
        **run_attrs,
    }


def test_the_not_compared_verdict_goes_to_the_span_with_the_run_id_among_several_roots(tmp_path):
    """A span without a parent that ends first (a call whose instrumentation left its parent
    unset) is a run root too; the verdict goes to the root that carries the run's id, on
    the span and in the log event's correlation."""
    ids: dict[str, str] = {}

    def emit(tracer: Any) -> None:
        prov = {c.SESSION_ID: "roots-8", c.REPLAY_CHECKPOINT_ID: "9" * 32}
        root = tracer.start_span(
            "invoke_agent support-agent",
            attributes={**prov, c.REPLAY_RUN_ID: "run-8", "gen_ai.agent.name": "support-agent"},
        )
        loose = tracer.start_span("execute_tool lookup_order", attributes=prov)
        loose.end()
        root.end()
        ids.update(root=format(root.get_span_context().span_id, "016x"))
        ids.update(loose=format(loose.get_span_context().span_id, "016x"))

    with serving(tmp_path) as (service, sink):
        assert post(service.http_address, request_of(emit))[0] == 200
        wait_until(lambda: len(spans_of(sink, "roots-8")) == 2, what="the run forwarded")
        final = service.stop()
    assert final["runs_not_compared"] == 1
    events = {sid: [e.name for e in s.events] for sid, s in spans_of(sink, "roots-8").items()}
    assert events == {ids["root"]: [c.GEN_AI_EVALUATION_RESULT_EVENT], ids["loose"]: []}
    (record,) = sink.log_records()
    assert record.span_id.hex() == ids["root"]


def test_a_run_whose_root_comes_after_its_verdict_has_it_on_its_first_span(tmp_path):
    """The baseline lookup failed before the run's root arrived (an SDK exports children
    first): the first span received carries the verdict, on the trace and in the log event;
    the root, forwarded later, is left as it is."""
    from opentelemetry.trace import set_span_in_context

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "late-root"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("raw")
    prov = {c.SESSION_ID: "late-10", c.REPLAY_CHECKPOINT_ID: "a" * 32}
    root = tracer.start_span(
        "invoke_agent support-agent", attributes={**prov, c.REPLAY_RUN_ID: "r"}
    )
    for name in ("execute_tool lookup_order", "chat fake-model"):
        tracer.start_span(name, context=set_span_in_context(root), attributes=prov).end()
    children = [format(s.context.span_id, "016x") for s in exporter.get_finished_spans()]
    with serving(tmp_path) as (service, sink):
        body = encode_spans(exporter.get_finished_spans()).SerializeToString()
        assert post(service.http_address, body)[0] == 200
        wait_until(lambda: len(spans_of(sink, "late-10")) == 2, what="the children forwarded")
        exporter.clear()
        root.end()
        body = encode_spans(exporter.get_finished_spans()).SerializeToString()
        assert post(service.http_address, body)[0] == 200
        wait_until(lambda: len(spans_of(sink, "late-10")) == 3, what="the root forwarded")
        final = service.stop()
    provider.shutdown()
    assert final["runs_not_compared"] == 1
    events = {sid: [e.name for e in s.events] for sid, s in spans_of(sink, "late-10").items()}
    assert events == {
        children[0]: [c.GEN_AI_EVALUATION_RESULT_EVENT],
        children[1]: [],
        format(root.get_span_context().span_id, "016x"): [],
    }
    (record,) = sink.log_records()
    assert record.span_id.hex() == children[0]


@pytest.mark.parametrize("off", [c.ENV_DRIFT_SPAN_EVENTS, c.ENV_DRIFT_EVALUATION_EVENTS])
def test_no_not_compared_span_event_when_span_or_evaluation_events_are_off(
    tmp_path, monkeypatch, off
):
    monkeypatch.setenv(off, "false")
    run, final, sink, _service = orphan_run(tmp_path, "orphan-6")
    assert final["runs_not_compared"] == 1
    assert {sid: list(s.events) for sid, s in spans_of(sink, "orphan-6").items()} == {
        sid: [] for sid in run.span_ids.values()
    }


def test_a_failing_verdict_event_forwards_the_run_as_received_and_is_counted(
    tmp_path, monkeypatch, caplog
):
    from otel_replay.serve.drift import ServeDrift

    def broken(self: Any, span: Any, extra: Any) -> Any:
        raise RuntimeError("no events today")

    monkeypatch.setattr(ServeDrift, "with_events", broken)
    _run, final, sink, service = orphan_run(tmp_path, "orphan-7")
    errors = service.engine.errors.count
    assert (final["runs_not_compared"], final["exported"], final["dropped"]) == (1, 3, 0)
    assert all(not s.events for s in spans_of(sink, "orphan-7").values())
    assert errors == 1
    assert sink.metric_total(c.METRIC_PROCESSOR_ERRORS, agent_replay__component="serve") == 1
    (line,) = [r.getMessage() for r in caplog.records if "no events today" in r.getMessage()]
    assert "failed in verdict: RuntimeError" in line


def not_compared_verdict(event: Any, run: Run, reason: str) -> str:
    """Check the ``not_compared`` verdict log event of ``run``; its explanation."""
    assert event.event_name == c.GEN_AI_EVALUATION_RESULT_EVENT
    attrs = attrs_of(event)
    explanation = attrs.pop(c.GEN_AI_EVALUATION_EXPLANATION)
    assert attrs == not_compared_attributes(
        run, reason, **{c.SESSION_ID: run.session, c.GEN_AI_AGENT_NAME: "support-agent"}
    )
    assert (event.trace_id.hex(), event.span_id.hex()) == (run.trace_id, run.span_ids["root"])
    assert event.severity_text == "WARN"
    assert event.body.string_value == explanation
    return str(explanation)


@contextmanager
def slow_backend() -> Iterator[str]:
    """A trace backend URL whose answers are held until the block ends."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            release.wait(30)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"jaeger:http://127.0.0.1:{server.server_address[1]}/"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("reason", ["timed_out", "shutdown"])
def test_a_restored_run_ended_before_its_baseline_was_found_has_a_not_compared_verdict(
    tmp_path, reason
):
    missing = Run("nowhere", "e" * 32, "0" * 32, {})
    timeout = 0.3 if reason == "timed_out" else 60.0
    with slow_backend() as source:
        with serving(tmp_path, baseline_source=source, run_timeout=timeout) as (service, sink):
            agent = Agent(http_exporter(service.http_address))
            run = agent.restored(missing, "late-7")
            agent.flush()
            agent.shutdown()
            if reason == "timed_out":
                wait_until(lambda: len(spans_of(sink, "late-7")) == 3, what="the run forwarded")
            final = service.stop(timeout=2.0)
    assert (final["runs_not_compared"], final["runs_compared"]) == (1, 0)
    assert sink.metric_total(c.METRIC_SERVE_NOT_COMPARED, agent_replay__serve__reason=reason) == 1
    assert len(spans_of(sink, "late-7")) == 3
    (event,) = sink.log_records()
    explanation = not_compared_verdict(event, run, reason)
    assert explanation == (
        f"not compared: run of session late-7 ({reason}) before its baseline was found"
    )
    assert not_compared_on_root(sink, run, reason) == explanation


def test_healthz_and_unknown_paths(tmp_path):
    with serving(tmp_path) as (service, _sink):
        doc = healthz(service)
        assert doc["status"] == "ok"
        assert doc["worker"] == WORKER
        assert doc["counters"]["received"] == 0
        req = urllib.request.Request(
            f"http://{service.http_address}/v1/logs", data=b"", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://{service.http_address}/nope", timeout=10)
        assert err.value.code == 404


def test_bad_settings_are_errors_naming_them(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="no downstream: pass --downstream"):
        Service(ServeConfig(grpc_port=0, http_port=0))
    with pytest.raises(ValueError, match="is not http"):
        Service(ServeConfig(grpc_port=0, http_port=0, downstream="ftp://x:1"))
    with pytest.raises(ValueError, match="is not phoenix:URL or jaeger:URL"):
        Service(
            ServeConfig(
                grpc_port=0, http_port=0, downstream="http://127.0.0.1:1", baseline_source="x:y"
            )
        )
    with pytest.raises(ValueError, match="is not a directory"):
        Service(
            ServeConfig(
                grpc_port=0,
                http_port=0,
                downstream="http://127.0.0.1:1",
                baselines=str(tmp_path / "missing"),
            )
        )


def test_request_of_helper_builds_a_real_request():
    body = request_of(lambda t: t.start_span("x").end())
    (rs,) = ExportTraceServiceRequest.FromString(body).resource_spans
    assert [s.name for s in rs.scope_spans[0].spans] == ["x"]


def test_connections_over_the_cap_get_the_retryable_status(tmp_path, monkeypatch):
    import socket

    from otel_replay.serve import receivers

    monkeypatch.setattr(receivers, "MAX_CONNECTIONS", 1)
    with serving(tmp_path) as (service, _sink):
        host, port = service.http_address.split(":")
        with socket.create_connection((host, int(port)), timeout=10):  # holds the one slot
            wait_until(lambda: healthz_refused(service), what="the second connection refused")
        service.stop()


def healthz_refused(service: Service) -> bool:
    """A request on a new connection is answered 503 with Retry-After (the slot is taken)."""
    try:
        urllib.request.urlopen(f"http://{service.http_address}/healthz", timeout=10)
    except urllib.error.HTTPError as exc:
        return exc.code == 503 and exc.headers["Retry-After"] == "1"
    except (ConnectionError, urllib.error.URLError):
        return False  # reset before the answer was read: try again
    return False


def test_held_bytes_over_the_cap_get_the_retryable_status(tmp_path):
    with serving(tmp_path, max_held_bytes=100) as (service, _sink):
        agent = Agent(http_exporter(service.http_address))
        base = agent.baseline("base-6")
        agent.flush()
        agent.shutdown()
        first = request_of(restored_children(base, "big-6"))
        assert post(service.http_address, first)[0] == 200  # nothing held: taken whatever its size
        wait_until(lambda: healthz(service)["counters"]["runs_held"] == 1, what="one held run")
        held = healthz(service)["counters"]["held_bytes"]
        assert held > 100
        assert healthz(service)["status"] == "full"
        status, headers, reply = post(
            service.http_address, request_of(restored_children(base, "more-6"))
        )
        assert (status, headers["Retry-After"]) == (503, "1")
        assert status_pb2.Status.FromString(reply).message == (
            f"{held} bytes of restored runs held (max 100)"
        )
        final = service.stop()
    assert (final["refused_by_reason"], final["dropped_by_reason"]) == ({"full": 2}, {})
    assert final["received"] == final["exported"] == 4 + 2
    assert final["runs_compared"] == 1


def test_with_the_sdk_disabled_the_worker_says_its_metrics_are_off_and_still_compares(
    tmp_path, monkeypatch, caplog
):
    from otel_replay.core import env

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with caplog.at_level("WARNING", logger="otel_replay"):
        with serving(tmp_path) as (service, sink):
            monkeypatch.delenv("OTEL_SDK_DISABLED")  # the agent's own SDK is on
            agent = Agent(http_exporter(service.http_address))
            base = agent.baseline("base-sdk-off")
            agent.flush()
            agent.restored(base, "run-sdk-off", status="lost")
            agent.flush()
            wait_until(lambda: len(spans_of(sink, "run-sdk-off")) == 3, what="the compared run")
            agent.shutdown()
            final = service.stop()
    assert final["runs_compared"] == 1
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_SDK_DISABLED=true: the worker's own metrics (agent_replay.serve.*, drift metrics) "
        "are off, as the SDK's MeterProvider is disabled; spans, drift comparisons and drift "
        "log events go downstream as usual"
    ]
    drift = [lr for lr in sink.log_records() if lr.event_name == c.DRIFT_EVENT]
    assert len(drift) == 1
    assert sink.metric_total(c.METRIC_SERVE_RECEIVED) is None  # no metric was exported


def test_held_spans_that_decode_to_another_count_are_reported(monkeypatch, caplog):
    from otel_replay.serve import engine as engine_module
    from otel_replay.serve.decode import parse_request
    from otel_replay.serve.engine import Engine

    real = engine_module.spans_of
    monkeypatch.setattr(engine_module, "spans_of", lambda body: real(body)[:-1])
    sink = _NullSender()
    engine = Engine(sink, worker_id="w")  # type: ignore[arg-type]
    try:
        run = Run("nowhere", "f" * 32, "0" * 32, {})
        td, wire = parse_request(request_of(restored_children(run, "odd-1")))
        with caplog.at_level("ERROR", logger="otel_replay"):
            assert engine.admit(td, wire).accepted is True
    finally:
        engine.close(2.0)
    assert engine.errors.count == 1
    (record,) = caplog.records
    assert (
        "RuntimeError: 2 spans taken out of a request were decoded as 1; the decoded ones are "
        "exported re-encoded, not as received" in record.getMessage()
    )


class _NullSender:
    """A downstream that takes everything."""

    def send(self, body: bytes) -> None:
        return None

    def close(self) -> None:
        pass
