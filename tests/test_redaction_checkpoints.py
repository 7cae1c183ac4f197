"""Checkpoint state bound for a store is redacted exactly like inline state."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.redaction import (
    ATTR_RULE,
    METRIC_REDACTIONS,
    REDACTED,
    RedactionProcessor,
    Redactor,
)
from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.model.errors import CheckpointRedactionError, CheckpointStateError
from otel_replay.model.state import encode_state, state_digest
from otel_replay.model.stores import DirectoryCheckpointStore, set_checkpoint_store
from otel_replay.restore.api import restore
from tests.conftest import points_by_attributes

OPENAI = "sk-ant-StateSecret9876543210"
KEY_IN_KEY = "sk-proj-A1b2C3d4E5f6G7h8I9j0KlMn"
PASSWORD = "correct horse battery staple"
URL_PASS = "hunter2-url-pass"
BEARER = "abcdef123456"
GENERIC = "gen3r1c"
USER = "bob-the-user"
SECRETS = [OPENAI, KEY_IN_KEY, "horse battery", URL_PASS, BEARER, GENERIC, USER]

STATE = {
    "api_key": OPENAI,
    "db": {"password": PASSWORD},
    "notes": f"connect to postgres://admin:{URL_PASS}@db:5432/app",
    "headers": [f"Authorization: Bearer {BEARER}", "Accept: */*"],
    "credentials": {"user": USER, "token_ttl": 3600},
    KEY_IN_KEY: {"calls": 3},
    "log": f'retry with api_key={GENERIC}"quoted',
    "plan": ["search", "answer"],
    "max_tokens": 512,
}
EXPECTED = {
    "data": {
        "api_key": REDACTED,
        "db": {"password": REDACTED},
        "notes": f"connect to postgres://admin:{REDACTED}@db:5432/app",
        "headers": [f"Authorization: Bearer {REDACTED}", "Accept: */*"],
        "credentials": {"user": REDACTED, "token_ttl": 3600},
        REDACTED: {"calls": 3},
        "log": f'retry with api_key={REDACTED}"quoted',
        "plan": ["search", "answer"],
        "max_tokens": 512,
    }
}
EXPECTED_HITS = {"key": 3, "openai_key": 1, "url_password": 1, "bearer": 1, "key_value": 1}


def _by_rule(reader: InMemoryMetricReader) -> dict[str, float]:
    return {
        dict(k)[ATTR_RULE]: v for k, v in points_by_attributes(reader, METRIC_REDACTIONS).items()
    }


def _assert_clean(blob: bytes) -> None:
    text = blob.decode("utf-8", "replace")
    assert [s for s in SECRETS if s in text] == []


@dataclass
class Stack:
    provider: TracerProvider
    redaction: RedactionProcessor
    replay: ReplayProcessor
    memory: InMemorySpanExporter
    reader: InMemoryMetricReader
    recording: Path
    store_dir: Path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """RedactionProcessor first, ReplayProcessor with a directory store, two exporters."""
    previous = set_checkpoint_store(None)
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    store_dir = tmp_path / "recordings" / "checkpoints"
    recording = tmp_path / "recordings" / "run.jsonl"
    provider = TracerProvider()
    redaction = RedactionProcessor(meter_provider=mp)
    replay = ReplayProcessor(
        checkpoint_store=DirectoryCheckpointStore(store_dir), meter_provider=mp
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(redaction)
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(recording)))
    try:
        yield Stack(provider, redaction, replay, memory, reader, recording, store_dir)
    finally:
        provider.shutdown()
        mp.shutdown()
        set_checkpoint_store(previous)


def _checkpoint_span(stack: Stack, cid: str):
    (span,) = [
        s for s in stack.memory.get_finished_spans() if s.attributes.get(c.CHECKPOINT_ID) == cid
    ]
    return span


# --------------------------------------------------------------------------------------------
# End to end: real provider, directory store, recording, restore()


def test_same_state_inline_and_stored_redacts_and_restores_identically(stack):
    tracer = stack.provider.get_tracer("t")
    with agent_run("agent", session_id="sess-1", tracer=tracer):
        inline_id = checkpoint(STATE, label="inline", tracer=tracer)
        stored_id = checkpoint(STATE, label="stored", inline_max_bytes=64, tracer=tracer)
    stack.provider.force_flush()

    redacted = encode_state(EXPECTED)
    inline = _checkpoint_span(stack, inline_id).attributes
    stored = _checkpoint_span(stack, stored_id).attributes
    assert inline[c.CHECKPOINT_STATE_LOCATION] == "inline"
    assert inline[c.CHECKPOINT_STATE] == redacted.decode("utf-8")
    assert stored[c.CHECKPOINT_STATE_LOCATION] == "store"
    assert c.CHECKPOINT_STATE not in stored
    # one redacted state, one digest: the digest on both spans is that of the redacted state
    assert inline[c.CHECKPOINT_STATE_DIGEST] == state_digest(redacted)
    assert stored[c.CHECKPOINT_STATE_DIGEST] == state_digest(redacted)
    assert inline[c.CHECKPOINT_STATE_SIZE] == len(redacted)
    assert stored[c.CHECKPOINT_STATE_SIZE] == len(redacted)

    # the envelope on disk holds the redacted state and nothing else leaks anywhere
    (blob,) = [p.read_bytes() for p in stack.store_dir.iterdir()]
    _assert_clean(blob)
    envelope = DirectoryCheckpointStore(stack.store_dir).get(stored_id)
    assert envelope.state_json == redacted
    assert envelope.state_digest == state_digest(redacted)
    _assert_clean(stack.recording.read_bytes())
    for span in stack.memory.get_finished_spans():
        _assert_clean(span.to_json().encode("utf-8"))

    # restore() verifies the digest and gets the same state from the recording + store
    # directory, and from the live processor
    for cid in (inline_id, stored_id):
        assert restore(cid, source=stack.recording).state == EXPECTED
        assert restore(cid, source=stack.replay).state == EXPECTED


def test_stored_state_redactions_are_counted(stack):
    checkpoint(
        STATE,
        session_id="sess-1",
        inline_max_bytes=64,
        tracer=stack.provider.get_tracer("t"),
    )
    assert _by_rule(stack.reader) == EXPECTED_HITS
    assert stack.redaction.count == 7
    assert stack.redaction.errors.count == 0


def test_state_without_secrets_is_stored_byte_for_byte(stack):
    state = {"plan": ["search", "answer"], "max_tokens": 512}
    cid = checkpoint(
        state, session_id="s", inline_max_bytes=8, tracer=stack.provider.get_tracer("t")
    )
    envelope = DirectoryCheckpointStore(stack.store_dir).get(cid)
    assert envelope.state_json == encode_state({"data": state})
    assert _by_rule(stack.reader) == {}


def _hook_raises(key: str, value: object) -> object:
    if key == c.CHECKPOINT_STATE:
        raise ValueError("hook exploded")
    return value


def _hook_breaks_json(key: str, value: object) -> object:
    return "not json" if key == c.CHECKPOINT_STATE else value


@pytest.mark.parametrize("hook", [_hook_raises, _hook_breaks_json])
def test_a_failing_redaction_raises_stores_nothing_and_is_reported(tmp_path, caplog, hook):
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(RedactionProcessor(hook=hook, meter_provider=mp))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    store = DirectoryCheckpointStore(tmp_path / "ckpts")
    tracer = provider.get_tracer("t")
    try:
        with caplog.at_level(logging.ERROR, logger="otel_replay"):
            for _ in range(2):
                with pytest.raises(
                    CheckpointRedactionError,
                    match=r"could not be redacted \(ValueError\); nothing was stored",
                ):
                    checkpoint(STATE, inline_max_bytes=64, store=store, tracer=tracer)
        assert not (tmp_path / "ckpts").exists()
        assert memory.get_finished_spans() == ()
        assert [r.message.split(":")[0] for r in caplog.records] == [
            "otel-replay redaction failed in checkpoint_state"
        ]
        assert points_by_attributes(reader, c.METRIC_PROCESSOR_ERRORS) == {
            ((c.ATTR_COMPONENT, "redaction"), (c.ATTR_ERROR_TYPE, "ValueError")): 2
        }
        assert points_by_attributes(reader, METRIC_REDACTIONS) == {}
    finally:
        provider.shutdown()
        mp.shutdown()


def test_a_failing_hook_on_inline_state_fails_closed_and_restore_says_so():
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    replay = ReplayProcessor()
    provider.add_span_processor(RedactionProcessor(hook=_hook_raises))
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        cid = checkpoint(STATE, session_id="s", tracer=provider.get_tracer("t"))
        (span,) = memory.get_finished_spans()
        assert span.attributes[c.CHECKPOINT_STATE] == REDACTED
        assert span.attributes[c.CHECKPOINT_STATE_DIGEST] == state_digest(REDACTED.encode())
        with pytest.raises(CheckpointStateError, match=f"checkpoint {cid} state is not valid JSON"):
            replay.get_checkpoint(cid).load_state()
    finally:
        provider.shutdown()


def test_the_hook_sees_the_whole_state_text_inline_and_stored(tmp_path):
    seen: list[str] = []

    def hook(key: str, value: object) -> object:
        if key == c.CHECKPOINT_STATE and isinstance(value, str):
            seen.append(value)
            return value.replace("search", "<tool>")
        return value

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(RedactionProcessor(hook=hook))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    store = DirectoryCheckpointStore(tmp_path)
    tracer = provider.get_tracer("t")
    try:
        inline_id = checkpoint(STATE, session_id="s", tracer=tracer)
        stored_id = checkpoint(
            STATE, session_id="s", inline_max_bytes=64, store=store, tracer=tracer
        )
        expected = json.loads(json.dumps(EXPECTED).replace("search", "<tool>"))
        inline = _checkpoint_span_of(memory, inline_id)
        assert json.loads(inline.attributes[c.CHECKPOINT_STATE]) == expected
        assert json.loads(store.get(stored_id).state_json) == expected
        # the hook ran after the rules, on the redacted canonical text, once per checkpoint
        assert seen == [encode_state(EXPECTED).decode("utf-8")] * 2
    finally:
        provider.shutdown()


def _checkpoint_span_of(memory: InMemorySpanExporter, cid: str):
    (span,) = [s for s in memory.get_finished_spans() if s.attributes.get(c.CHECKPOINT_ID) == cid]
    return span


@pytest.mark.parametrize(
    "make_provider",
    [
        lambda: TracerProvider(sampler=ALWAYS_OFF),
        lambda: TracerProvider(
            active_span_processor=ConcurrentMultiSpanProcessor(num_threads=2),
        ),
        lambda: TracerProvider(active_span_processor=SynchronousMultiSpanProcessor()),
    ],
    ids=["unsampled", "concurrent", "synchronous"],
)
def test_the_provider_redaction_processor_is_found(tmp_path, make_provider):
    provider = make_provider()
    provider.add_span_processor(RedactionProcessor())
    store = DirectoryCheckpointStore(tmp_path)
    try:
        cid = checkpoint(
            STATE,
            session_id="s",
            inline_max_bytes=64,
            store=store,
            tracer=provider.get_tracer("t"),
        )
        assert store.get(cid).state_json == encode_state(EXPECTED)
    finally:
        provider.shutdown()


def test_without_a_redaction_processor_stored_state_is_kept(tmp_path):
    provider = TracerProvider()
    store = DirectoryCheckpointStore(tmp_path)
    try:
        cid = checkpoint(
            STATE, session_id="s", inline_max_bytes=64, store=store, tracer=provider.get_tracer("t")
        )
        assert store.get(cid).state_json == encode_state({"data": STATE})
    finally:
        provider.shutdown()


# --------------------------------------------------------------------------------------------
# Redactor.redact_state


def test_redact_state_is_structural_and_stays_json():
    hits: list[str] = []
    text = encode_state({"data": STATE}).decode("utf-8")
    out = Redactor().redact_state(text, hits)
    assert out == encode_state(EXPECTED).decode("utf-8")
    assert sorted(hits) == sorted(k for k, n in EXPECTED_HITS.items() for _ in range(n))
    # plain text rules alone would keep most of the password and break the JSON
    as_text = Redactor().redact_text(text)
    assert f'"password":"{REDACTED} horse battery staple"' in as_text
    with pytest.raises(json.JSONDecodeError):
        json.loads(as_text)


def test_redact_state_keeps_unchanged_state_and_rejects_non_objects():
    r = Redactor()
    text = '{"b": 1, "a": ["x"]}'  # not canonical, nothing to redact: kept as is
    assert r.redact_state(text) is text
    assert r.redact_state(f'{{"b": 1, "token": "{GENERIC}"}}') == f'{{"b":1,"token":"{REDACTED}"}}'
    for bad in ("[1]", "not json", '{"a": NaN}'):
        with pytest.raises(ValueError):
            r.redact_state(bad)


def test_a_state_attribute_that_is_not_json_is_redacted_as_text():
    hits: list[str] = []
    value = f"legacy api_key={GENERIC}"
    out = Redactor().redact_value(c.CHECKPOINT_STATE, value, hits)
    assert out == f"legacy api_key={REDACTED}"
    assert hits == ["key_value"]


def test_key_rules_off_leave_values_under_secret_keys_to_the_text_rules():
    r = Redactor(secret_keys=None)
    out = r.redact_state(json.dumps({"password": PASSWORD, "note": f"Bearer {BEARER}"}))
    assert json.loads(out) == {"password": PASSWORD, "note": f"Bearer {REDACTED}"}


def test_redacted_keys_that_collide_keep_both_entries():
    a, b = "sk-proj-" + "A" * 20, "sk-proj-" + "B" * 20
    out = Redactor().redact_state(json.dumps({a: 1, b: 2}))
    assert json.loads(out) == {REDACTED: 1, f"{REDACTED}#2": 2}
