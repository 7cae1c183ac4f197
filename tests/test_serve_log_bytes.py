"""The worker's drift log events written as OTLP bytes: the very bytes the SDK Logs API and
its OTLP encoding give for the same records (drift findings, verdicts, ``not_compared``),
sent in batches from a bounded queue, every record counted as exported or dropped."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c
from otel_replay.core.version import __version__
from otel_replay.drift.events import LogEventEmitter, not_compared_attributes
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry
from otel_replay.serve import log_bytes
from otel_replay.serve.config import Downstream, parse_downstream
from otel_replay.serve.drift import ServeDrift
from otel_replay.serve.log_bytes import LogBytesEmitter, LogRecordEncoder, logs_request_prefix
from otel_replay.serve.log_export import LogExport, logs_request
from otel_replay.serve.otlp_out import sender_for
from tests.test_drift_log_events import BASE, _run

RESOURCE = {"service.name": "otel-replay-serve", "service.instance.id": "w-1"}
OBSERVED = 1_700_000_000_123_456_789


class FakeSender:
    """Records each request body; answers with ``error`` (``None``: exported)."""

    def __init__(self, error: str | None = None, gate: threading.Event | None = None) -> None:
        self.bodies: list[bytes] = []
        self.error = error
        self.gate = gate
        self.closed = False

    def send(self, body: bytes) -> str | None:
        if self.gate is not None:
            self.gate.wait(5)
        self.bodies.append(body)
        return self.error

    def close(self) -> None:
        self.closed = True

    def records(self) -> list[list[Any]]:
        out = []
        for body in self.bodies:
            req = ExportLogsServiceRequest.FromString(body)
            out.append(
                [lr for rl in req.resource_logs for sl in rl.scope_logs for lr in sl.log_records]
            )
        return out


def _export(sender: FakeSender, results: list[tuple[int, str | None]], **kw: Any) -> LogExport:
    resource, scope = logs_request_prefix(RESOURCE, c.METER_NAME, __version__)
    return LogExport(sender, resource, scope, lambda n, e: results.append((n, e)), **kw)  # type: ignore[arg-type]


def _sdk_logs() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    out = InMemoryLogRecordExporter()
    lp = LoggerProvider(resource=Resource(RESOURCE), shutdown_on_exit=False)
    lp.add_log_record_processor(SimpleLogRecordProcessor(out))
    return lp, out


@pytest.fixture
def fixed_observed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths stamp the same observed time (each reads the clock when it emits)."""
    import opentelemetry._logs._internal as api_logs

    monkeypatch.setattr(api_logs, "time_ns", lambda: OBSERVED)
    monkeypatch.setattr(log_bytes, "time_ns", lambda: OBSERVED)


def test_drift_findings_and_verdict_are_the_bytes_of_the_sdk_encoding(fixed_observed_time):
    lp, sdk_out = _sdk_logs()
    sender, results = FakeSender(), []
    export = _export(sender, results)
    provider = TracerProvider()
    replay = ReplayProcessor()
    sdk = DriftProcessor(
        SimpleSpanProcessor(InMemorySpanExporter()),
        registry=TrackingRegistry(),
        logger_provider=lp,
    )
    served = ServeDrift(
        SimpleSpanProcessor(InMemorySpanExporter()),
        registry=TrackingRegistry(),
        on_finished=lambda sid: None,
        log_export=export,
    )
    for p in (replay, sdk, served):
        provider.add_span_processor(p)
    tracer = provider.get_tracer("t")
    cid = _run(tracer, "base", BASE)
    for d in (sdk, served):
        d.track("cand", replay.steps_after(cid), agent_name="agent")
        d.track("same", replay.steps_after(cid), agent_name="agent")
    _run(tracer, "cand", [BASE[0], ("fetch", "CHANGED")])  # one changed, one missing
    _run(tracer, "same", BASE)
    assert isinstance(served.log_events, LogBytesEmitter)
    assert export.force_flush(5000) is True
    expected = encode_logs(sdk_out.get_finished_logs()).SerializeToString()
    assert sender.bodies == [expected]
    names = [lr.event_name for lr in sender.records()[0]]
    assert names == [c.DRIFT_EVENT, c.DRIFT_EVENT] + [c.GEN_AI_EVALUATION_RESULT_EVENT] * 2
    assert results == [(4, None)]
    # a run whose root was not seen: neither record is correlated, nor has a time
    report = sdk.reports["cand"]
    base = {c.GEN_AI_AGENT_NAME: "agent", c.SESSION_ID: "cand"}
    sdk_out.clear()
    from otel_replay.drift.events import finding_event_attributes

    LogEventEmitter("true", lp).emit(report, base, None, finding_event_attributes, "resp-1")
    served.log_events.emit(report, base, None, finding_event_attributes, "resp-1")
    assert export.force_flush(5000) is True
    assert sender.bodies[1] == encode_logs(sdk_out.get_finished_logs()).SerializeToString()
    export.shutdown(1000)
    provider.shutdown()
    lp.shutdown()


@pytest.mark.parametrize("span", [(0x1234 << 64 | 0x99, 0xABCDEF, 1_700_000_000_000_000_001), None])
def test_a_not_compared_verdict_is_the_bytes_of_the_sdk_encoding(
    fixed_observed_time, monkeypatch, span
):
    lp, sdk_out = _sdk_logs()
    sender, results = FakeSender(), []
    export = _export(sender, results)
    attrs = not_compared_attributes(
        "baseline_not_found", "ckpt-1", "not compared: no baseline", {c.SESSION_ID: "s-1"}
    )
    if span is None:  # its time is the clock's (read in drift.events): the same on both paths
        import time

        monkeypatch.setattr(time, "time_ns", lambda: OBSERVED - 1)
    assert LogEventEmitter("auto", lp).emit_not_compared(attrs, span) is True
    assert LogBytesEmitter("auto", export).emit_not_compared(attrs, span) is True
    assert LogBytesEmitter("true", export, evaluation=False).emit_not_compared(attrs, span) is False
    assert LogBytesEmitter("false", export).emit_not_compared(attrs, span) is False
    assert export.force_flush(5000) is True
    assert sender.bodies == [encode_logs(sdk_out.get_finished_logs()).SerializeToString()]
    export.shutdown(1000)
    lp.shutdown()


@pytest.mark.filterwarnings("ignore::opentelemetry.sdk._logs.LogRecordDroppedAttributesWarning")
@pytest.mark.parametrize(
    "env",
    [
        {},
        {
            "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "3",
            "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4",
        },
    ],
)
def test_every_attribute_type_and_the_sdk_limits_encode_as_the_sdk_does(
    fixed_observed_time, monkeypatch, env
):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    lp, sdk_out = _sdk_logs()
    plain: dict[str, Any] = {
        "s": "text",
        "empty": "",
        "ü": "ünïcode",
        "t": True,
        "f": False,
        "i": 7,
        "neg": -3,
        "zero": 0,
        "x": 0.25,
        "nz": -0.0,
    }
    listed: dict[str, Any] = {**plain, "paths": ["a", "bb"], "none": [], "tuple": ("c",)}
    mixed: dict[str, Any] = {**listed, "ints": (1, 2), "": "no key"}
    logger = lp.get_logger(c.METER_NAME, __version__)
    encoder = LogRecordEncoder.from_env()
    ours = []
    cases = [
        (a, b, t)
        for a in (plain, listed, mixed)
        for b, t in ((None, None), ("body", "WARN"), ("", ""))
    ]
    for attrs, body, sev_text in cases:
        from opentelemetry._logs import SeverityNumber

        logger.emit(
            timestamp=5,
            severity_number=SeverityNumber.WARN,
            severity_text=sev_text,
            body=body,
            attributes=attrs,
            event_name="e",
        )
        ours.append(
            encoder.encode(
                timestamp=5,
                observed_timestamp=OBSERVED,
                severity_number=SeverityNumber.WARN,
                severity_text=sev_text,
                body=body,
                attributes=attrs,
                event_name="e",
            )
        )
        # the encodings kept give the same bytes again
        assert (
            encoder.encode(
                timestamp=5,
                observed_timestamp=OBSERVED,
                severity_number=SeverityNumber.WARN,
                severity_text=sev_text,
                body=body,
                attributes=attrs,
                event_name="e",
            )
            == ours[-1]
        )
    resource, scope = logs_request_prefix(RESOURCE, c.METER_NAME, __version__)
    expected = encode_logs(sdk_out.get_finished_logs())
    assert logs_request(resource, scope, ours) == expected.SerializeToString()
    dropped = [
        lr.dropped_attributes_count for lr in expected.resource_logs[0].scope_logs[0].log_records
    ]
    # plain: 10 attributes, listed: 13, mixed: 15, the empty key dropped (the limit: 3 kept)
    assert dropped == ([7] * 3 + [10] * 3 + [12] * 3 if env else [0] * 6 + [1] * 3)
    lp.shutdown()


def test_records_are_sent_in_batches_of_the_batch_size():
    sender, results = FakeSender(), []
    export = _export(sender, results, batch_size=3, schedule_delay=30.0)
    export.put([b"\x62\x01" + bytes([65 + i]) for i in range(7)])  # event names A..G
    assert export.force_flush(5000) is True
    assert [[lr.event_name for lr in batch] for batch in sender.records()] == [
        ["A", "B", "C"],
        ["D", "E", "F"],
        ["G"],
    ]
    assert results == [(3, None), (3, None), (1, None)]
    export.shutdown(1000)
    assert sender.closed is True


def test_a_partial_batch_is_sent_after_the_schedule_delay():
    sender, results = FakeSender(), []
    export = _export(sender, results, batch_size=512, schedule_delay=0.05)
    export.put([b"\x62\x01A"])
    from tests.otlp_sink import wait_until

    wait_until(lambda: results == [(1, None)], what="the record sent without a flush")
    export.shutdown(1000)


def test_records_that_do_not_fit_the_queue_are_dropped_and_counted():
    gate = threading.Event()
    sender, results = FakeSender(gate=gate), []
    export = _export(sender, results, batch_size=2, schedule_delay=30.0, max_queue_size=2)
    assert export.put([b"\x62\x01A", b"\x62\x01B"]) == 0  # taken by the export thread
    from tests.otlp_sink import wait_until

    wait_until(lambda: export.queued == 2 and not export._queue, what="the batch in flight")
    assert export.put([b"\x62\x01C", b"\x62\x01D", b"\x62\x01E"]) == 1
    assert results == [(1, "log export queue full (2 records)")]
    gate.set()
    assert export.force_flush(5000) is True
    assert [[lr.event_name for lr in b] for b in sender.records()] == [["A", "B"], ["C", "D"]]
    assert results[1:] == [(2, None), (2, None)]
    export.shutdown(1000)
    assert export.put([b"\x62\x01F"]) == 1
    assert results[-1] == (1, "log export shut down (2 records)")


def test_a_failed_export_counts_its_records_as_dropped():
    sender, results = FakeSender(error="OTLP/HTTP x: HTTP 500 'no'"), []
    export = _export(sender, results, batch_size=2, schedule_delay=30.0)
    export.put([b"\x62\x01A", b"\x62\x01B", b"\x62\x01C"])
    assert export.force_flush(5000) is True
    assert results == [(2, "OTLP/HTTP x: HTTP 500 'no'"), (1, "OTLP/HTTP x: HTTP 500 'no'")]
    assert export.counts() == (0, 3)
    export.shutdown(1000)


def test_shutdown_sends_what_is_queued_and_counts_what_it_could_not():
    sender, results = FakeSender(), []
    export = _export(sender, results, schedule_delay=30.0)
    export.put([b"\x62\x01A", b"\x62\x01B"])
    export.shutdown(5000)
    assert results == [(2, None)]
    assert [[lr.event_name for lr in b] for b in sender.records()] == [["A", "B"]]
    blocked = threading.Event()
    slow, slow_results = FakeSender(gate=blocked), []
    export = _export(slow, slow_results, batch_size=1, schedule_delay=30.0)
    export.put([b"\x62\x01A", b"\x62\x01B"])
    export.shutdown(200)  # the first is being sent, the second never is
    assert slow_results == [(1, "log export shut down before the records were sent")]
    blocked.set()
    from tests.otlp_sink import wait_until

    wait_until(lambda: len(slow_results) == 2, what="the export in flight answered")
    assert slow_results[1] == (1, None)


def test_the_engine_counts_log_records_exported_and_dropped():
    from otel_replay.serve.engine import Engine

    spans, logs = FakeSender(), FakeSender(error="OTLP gRPC x: UNAVAILABLE: down")
    engine = Engine(spans, worker_id="w", log_sender=logs, log_resource=RESOURCE)  # type: ignore[arg-type]
    assert engine.drift.log_events.emit_not_compared(
        not_compared_attributes("shutdown", "ck", "not compared: x"), None
    )
    engine.close(2.0)
    snap = engine.snapshot()
    assert (snap["log_records_exported"], snap["log_records_dropped"]) == (0, 1)
    assert engine.errors.count == 1
    assert logs.closed is True


def test_log_senders_follow_the_sdk_log_exporters_endpoint_rules(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("OTEL_EXPORTER_OTLP"):
            monkeypatch.delenv(name)
    http = sender_for(parse_downstream("http://collector:4318"), "logs")
    assert (http.protocol, http.target, http.signal) == (
        "http",
        "http://collector:4318/v1/logs",
        "logs",
    )
    grpc = sender_for(parse_downstream("grpc://collector:4317"), "logs")
    assert (grpc.protocol, grpc.target) == ("grpc", "collector:4317")
    grpc.close()
    env = Downstream("env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert sender_for(env, "logs").target == "http://localhost:4318/v1/logs"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "b=2")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2500")
    logs, traces = sender_for(env, "logs"), sender_for(env)
    assert (logs.target, logs.headers, logs.timeout) == ("http://c:4318/v1/logs", {"b": "2"}, 2.5)
    assert (traces.target, traces.headers, traces.timeout) == (
        "http://c:4318/v1/traces",
        {"a": "1"},
        10.0,
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:9/custom")
    assert sender_for(env, "logs").target == "http://l:9/custom"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://l:4317")
    secure = sender_for(env, "logs")
    assert (secure.protocol, secure.target, secure.secure) == ("grpc", "l:4317", True)
    secure.close()
    with pytest.raises(ValueError, match="unknown OTLP signal 'metrics'"):
        sender_for(env, "metrics")


def test_log_records_go_to_a_real_grpc_logs_service_and_its_refusal_is_counted():
    from concurrent import futures

    import grpc

    got: list[bytes] = []
    refuse = threading.Event()

    def export(request: bytes, context: Any) -> bytes:
        if refuse.is_set():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad logs")
        got.append(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.logs.v1.LogsService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    results: list[tuple[int, str | None]] = []
    sender = sender_for(parse_downstream(f"grpc://127.0.0.1:{port}"), "logs")
    export_ = LogExport(
        sender,
        *logs_request_prefix({"service.name": "w"}, c.METER_NAME, __version__),
        lambda n, err: results.append((n, err)),
        schedule_delay=30.0,
    )
    try:
        export_.put([b"\x62\x01A", b"\x62\x01B"])
        assert export_.force_flush(5000) is True
        refuse.set()
        export_.put([b"\x62\x01C"])
        assert export_.force_flush(5000) is True
    finally:
        export_.shutdown(1000)
        server.stop(None)
    (request,) = [ExportLogsServiceRequest.FromString(b) for b in got]
    assert [lr.event_name for lr in request.resource_logs[0].scope_logs[0].log_records] == [
        "A",
        "B",
    ]
    assert request.resource_logs[0].scope_logs[0].scope.name == c.METER_NAME
    assert results == [
        (2, None),
        (1, f"OTLP gRPC 127.0.0.1:{port}: INVALID_ARGUMENT: bad logs"),
    ]
    assert export_.counts() == (2, 1)
