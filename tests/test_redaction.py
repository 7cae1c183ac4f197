"""RedactionProcessor: secrets never reach the buffer, a recording or an OTLP receiver."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.redaction import (
    ATTR_RULE,
    DEFAULT_RULES,
    METRIC_REDACTIONS,
    REDACTED,
    RedactionProcessor,
    RedactionRule,
    Redactor,
)
from otel_replay.capture.spans import agent_run, llm_call, tool_call
from otel_replay.core import conventions as c
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording
from otel_replay.model.stores import set_checkpoint_store
from tests.conftest import points_by_attributes

OPENAI = "sk-proj-A1b2C3d4E5f6G7h8I9j0KlMn"
AWS = "AKIAIOSFODNN7EXAMPLE"
BEARER = "eyZ0eXAiOiJKV1QiLCJhbGciOiJI.secretbearertoken"
URL_PASS = "hunter2-url-pass"
GENERIC = "gen3r1c-v4lue-xyz"
KEY_ATTR = "s3cr3t-in-a-key"
EXC_SECRET = "sk-live-ExceptionSecret123456"
STATE_SECRET = "sk-ant-StateSecret9876543210"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
SECRETS = [OPENAI, AWS, BEARER, URL_PASS, GENERIC, KEY_ATTR, EXC_SECRET, STATE_SECRET, PEM_BODY]
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"


def _emit_secrets(tracer) -> str:
    """Spans carrying every kind of secret in every place a span can hold one."""
    with agent_run("agent", session_id="sess-1", tracer=tracer):
        cid = checkpoint({"api_key": STATE_SECRET, "plan": "go"}, label="start", tracer=tracer)
        with llm_call("gpt-4o", messages=f"use key {OPENAI} and {AWS}", tracer=tracer) as call:
            call.set_output(f"connect to postgres://admin:{URL_PASS}@db:5432/app")
        with tool_call(
            "http_get",
            {"headers": {"Authorization": f"Bearer {BEARER}"}, "query": f"api_key={GENERIC}"},
            tracer=tracer,
        ) as tc:
            tc.set_attribute("db.password", KEY_ATTR)
            tc.set_attribute("llm.token_count.prompt", 42)
            tc.set_result({"pem": PEM})
        with pytest.raises(RuntimeError):
            with tool_call("flaky", tracer=tracer):
                raise RuntimeError(f"auth failed with {EXC_SECRET}")
        span = tracer.start_span(
            f"call with {OPENAI}",
            links=[Link(trace_ctx(tracer), {"note": f"token={GENERIC}"})],
        )
        span.add_event("retry", {"detail": f"Authorization: Bearer {BEARER}"})
        span.set_status(Status(StatusCode.ERROR, f"denied for {AWS}"))
        span.end()
    return cid


def trace_ctx(tracer):
    s = tracer.start_span("linked")
    s.end()
    return s.get_span_context()


def _assert_clean(blob: str | bytes) -> None:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secrets leaked: {leaked}"


# --------------------------------------------------------------------------------------------
# Rules


@pytest.mark.parametrize(
    ("text", "rule", "expected"),
    [
        (f"key {OPENAI} here", "openai_key", f"key {REDACTED} here"),
        (f"id {AWS}", "aws_access_key", f"id {REDACTED}"),
        (f"Authorization: Bearer {BEARER}", "bearer", f"Authorization: Bearer {REDACTED}"),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "basic_auth",
            f"Authorization: Basic {REDACTED}",
        ),
        (f"redis://:{URL_PASS}@cache:6379/0", "url_password", f"redis://:{REDACTED}@cache:6379/0"),
        (
            f"https://bob:{URL_PASS}@example.com/x",
            "url_password",
            f"https://bob:{REDACTED}@example.com/x",
        ),
        (f'{{"api_key": "{GENERIC}"}}', "key_value", f'{{"api_key": "{REDACTED}"}}'),
        (f"?x=1&access_token={GENERIC}&y=2", "key_value", f"?x=1&access_token={REDACTED}&y=2"),
        (f"PASSWORD={GENERIC}", "key_value", f"PASSWORD={REDACTED}"),
        (PEM, "private_key", "[REDACTED PRIVATE KEY]"),
        ("ghp_" + "a1B2" * 9, "github_token", REDACTED),
        ("xoxb-123456789012-abcdef", "slack_token", REDACTED),
        ("AIza" + "Q" * 35, "google_api_key", REDACTED),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "jwt",
            REDACTED,
        ),
    ],
)
def test_default_rules_redact(text, rule, expected):
    hits: list[str] = []
    out = Redactor().redact_text(text, hits)
    assert out == expected
    assert hits == [rule]
    assert Redactor().redact_text(out) == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com:8443/path?q=1",
        '"http://host:8080","email":"a@b.c"',
        "max_tokens=512 temperature=0.2",
        "the basic idea is simple",
        "a monkey with a key",
        '{"query": "weather in Paris", "k": 3}',
        "",
    ],
)
def test_ordinary_text_is_kept(text):
    hits: list[str] = []
    assert Redactor().redact_text(text, hits) == text
    assert hits == []


def test_key_rules_redact_string_values_only():
    r = Redactor()
    hits: list[str] = []
    assert r.redact_value("http.request.header.authorization", "anything", hits) == REDACTED
    assert r.redact_value("db.password", ("a", "b"), hits) == (REDACTED, REDACTED)
    assert r.redact_value("user_api_key", b"raw", hits) == REDACTED.encode()
    assert r.redact_value("llm.token_count.prompt", 42, hits) == 42
    assert r.redact_value("gen_ai.usage.input_tokens", 7, hits) == 7
    assert r.redact_value("gen_ai.request.model", "gpt-4o", hits) == "gpt-4o"
    assert hits == ["key", "key", "key", "key"]
    assert not r.is_secret_key("gen_ai.usage.output_tokens")
    assert not r.is_secret_key("agent_replay.session.id")


def test_redacted_json_stays_json():
    r = Redactor()
    doc = {
        "api_key": GENERIC,
        "url": f"postgres://u:{URL_PASS}@h/db",
        "nested": {"auth": f"Bearer {BEARER}", "list": [OPENAI, "ok"]},
        "pem": PEM,
    }
    for text in (json.dumps(doc), json.dumps(doc, separators=(",", ":"))):
        out = r.redact_text(text)
        _assert_clean(out)
        decoded = json.loads(out)
        assert decoded["nested"]["list"][1] == "ok"


def test_custom_rules_hook_and_rule_replacement():
    def hook(key, value):
        if key == "user.email" and isinstance(value, str):
            return "<email>"
        return value

    r = Redactor(
        extra_rules=[
            ("ticket", r"TICKET-\d+"),
            RedactionRule.of("ssn", r"\d{3}-\d{2}-\d{4}", "<ssn>"),
        ],
        secret_keys=r"(?i)internal",
        hook=hook,
    )
    hits: list[str] = []
    assert r.redact_value("msg", "see TICKET-42, ssn 123-45-6789", hits) == (
        f"see {REDACTED}, ssn <ssn>"
    )
    assert r.redact_value("x.internal.note", "anything", hits) == REDACTED
    assert r.redact_value("db.password", "kept: not a key rule any more", hits) == (
        "kept: not a key rule any more"
    )
    assert r.redact_value("user.email", "a@b.c", hits) == "<email>"
    assert sorted(hits) == ["hook", "key", "ssn", "ticket"]
    assert len(Redactor(rules=()).rules) == 0
    assert Redactor(rules=()).redact_text(OPENAI) == OPENAI
    assert len(DEFAULT_RULES) >= 10


def test_pathological_input_is_linear_enough():
    import time

    r = Redactor()
    blobs = [
        "a." * 50_000,
        "eyJ-" * 25_000,
        "password" + " " * 100_000,
        "x://" * 25_000,
        "-" * 100_000,
    ]
    for blob in blobs:
        t0 = time.perf_counter()
        r.redact_text(blob)
        assert time.perf_counter() - t0 < 5.0, blob[:20]


# --------------------------------------------------------------------------------------------
# End to end


@pytest.fixture
def rig(tmp_path) -> Iterator[tuple]:
    previous = set_checkpoint_store(None)
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    redaction = RedactionProcessor(meter_provider=mp)
    replay = ReplayProcessor(meter_provider=mp)
    memory = InMemorySpanExporter()
    path = tmp_path / "rec.jsonl"
    recording = RecordingExporter(path)
    provider.add_span_processor(redaction)
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(recording))
    yield provider, redaction, replay, memory, path, reader
    provider.shutdown()
    mp.shutdown()
    set_checkpoint_store(previous)


def test_no_secret_in_buffer_recording_or_exported_spans(rig):
    provider, redaction, replay, memory, path, reader = rig
    tracer = provider.get_tracer("t")
    cid = _emit_secrets(tracer)
    provider.force_flush()

    # exported spans: attributes, events (exception message and stacktrace), links, status, name
    spans = memory.get_finished_spans()
    assert len(spans) == 7
    for s in spans:
        _assert_clean(s.to_json())
    flaky = next(s for s in spans if s.name == "execute_tool flaky")
    (exc_event,) = [e for e in flaky.events if e.name == "exception"]
    assert REDACTED in exc_event.attributes["exception.message"]
    assert REDACTED in flaky.status.description
    http = next(s for s in spans if s.name == "execute_tool http_get")
    assert http.attributes["db.password"] == REDACTED
    assert http.attributes["llm.token_count.prompt"] == 42
    assert "[REDACTED PRIVATE KEY]" in http.attributes[c.GEN_AI_TOOL_CALL_RESULT]
    assert any(s.name == f"call with {REDACTED}" for s in spans)

    # the replay buffer, including the checkpoint state (whose digest still verifies)
    steps = replay.steps_after(cid)
    _assert_clean(json.dumps([st.to_dict() for st in steps], default=str))
    state = replay.get_checkpoint(cid).load_state()
    assert state == {"data": {"api_key": REDACTED, "plan": "go"}}

    # the recording file, raw and loaded back
    raw = path.read_bytes()
    assert raw
    _assert_clean(raw)
    rec = load_recording(path)
    assert len(rec.spans) == 7
    (ckpt_step,) = [s for s in rec.steps() if s.kind == c.KIND_CHECKPOINT]
    assert (
        ckpt_step.attributes[c.CHECKPOINT_STATE_DIGEST] == replay.get_checkpoint(cid).state_digest
    )

    counts = points_by_attributes(reader, METRIC_REDACTIONS)
    assert sum(counts.values()) == redaction.count >= 10
    by_rule = {dict(k)[ATTR_RULE]: v for k, v in counts.items()}
    assert {"openai_key", "aws_access_key", "bearer", "url_password", "key", "private_key"} <= set(
        by_rule
    )


def test_redaction_with_concurrent_multi_span_processor():
    provider = TracerProvider(active_span_processor=ConcurrentMultiSpanProcessor(num_threads=4))
    memory = InMemorySpanExporter()
    replay = ReplayProcessor()
    provider.add_span_processor(RedactionProcessor())
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    try:
        _emit_secrets(tracer)
        for s in memory.get_finished_spans():
            _assert_clean(s.to_json())
        for sid in replay.sessions():
            _assert_clean(json.dumps([st.to_dict() for st in replay.steps(sid)], default=str))
    finally:
        provider.shutdown()


def test_failing_hook_fails_closed_and_is_reported(caplog):
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])

    def hook(key, value):
        if key == "boom":
            raise ValueError("hook exploded")
        return value

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(RedactionProcessor(hook=hook, meter_provider=mp))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with caplog.at_level(logging.ERROR, logger="otel_replay"):
        for _ in range(3):
            with tracer.start_as_current_span(
                "s", attributes={"boom": "maybe-secret", "ok": "fine"}
            ):
                pass
    spans = memory.get_finished_spans()
    assert [dict(s.attributes) for s in spans] == [{"boom": REDACTED, "ok": "fine"}] * 3
    assert [r.message.split(":")[0] for r in caplog.records] == [
        "otel-replay redaction failed in hook"
    ]
    errors = points_by_attributes(reader, c.METRIC_PROCESSOR_ERRORS)
    assert errors == {
        ((c.ATTR_COMPONENT, "redaction"), (c.ATTR_ERROR_TYPE, "ValueError")): 6  # start + end
    }
    provider.shutdown()


def test_readable_span_without_on_ending_is_redacted_in_on_end():
    """A ReadableSpan handed straight to on_end (no _on_ending) is rewritten in place."""
    from opentelemetry.sdk.trace import ReadableSpan

    proc = RedactionProcessor()
    span = ReadableSpan(name="x", attributes={"q": f"Bearer {BEARER}", "n": 1})
    proc.on_end(span)
    assert dict(span.attributes) == {"q": f"Bearer {REDACTED}", "n": 1}


# --------------------------------------------------------------------------------------------
# Real OTLP/HTTP exporter to a local receiver


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_no_secret_reaches_an_otlp_http_receiver():
    handler = type("Handler", (_Receiver,), {"bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        provider = TracerProvider()
        provider.add_span_processor(RedactionProcessor())
        provider.add_span_processor(ReplayProcessor())
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5))
        )
        _emit_secrets(provider.get_tracer("t"))
        assert provider.force_flush(10_000)
        provider.shutdown()
        assert handler.bodies
        values: list[str] = []
        n_spans = 0
        for body in handler.bodies:
            _assert_clean(body)
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        n_spans += 1
                        values.append(sp.name)
                        values.extend(kv.value.string_value for kv in sp.attributes)
                        for ev in sp.events:
                            values.extend(kv.value.string_value for kv in ev.attributes)
        assert n_spans == 7
        _assert_clean("\n".join(values))
        assert any(REDACTED in v for v in values)
    finally:
        server.shutdown()
        server.server_close()
