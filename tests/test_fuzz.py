"""Property-based fuzzing of every parser and of the code fed by span attributes.

Only documented errors may escape: :class:`~otel_replay.formats.errors.RecordingError`
subclasses from the recording readers, :class:`~otel_replay.model.errors.CheckpointError`
subclasses from checkpoint decoding, ``ValueError`` from ``traces_data_from_json`` and from
malformed ignore patterns; nothing at all from ``normalize_span``, ``compare`` and
``json_diff``.

The normal test run uses the small ``otel-replay-ci`` profile (a few seconds in total).
``scripts/fuzz.sh [seconds]`` runs the same properties with the ``otel-replay-fuzz`` profile
(``OTEL_REPLAY_FUZZ_PROFILE``, many more examples) and, when installed, atheris.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.redaction import Redactor
from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare
from otel_replay.drift.jsondiff import json_diff
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.report import DriftReport
from otel_replay.formats.errors import RecordingError, RecordingWarning
from otel_replay.formats.files import load_recording, write_recording
from otel_replay.formats.otlp_json_decode import traces_data_from_json
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError
from otel_replay.model.state import decode_state, state_digest
from otel_replay.model.steps import Step, normalize_span
from otel_replay.model.stores import DirectoryCheckpointStore

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "otel-replay-ci", max_examples=30, deadline=None, suppress_health_check=_HEALTH
)
settings.register_profile(
    "otel-replay-fuzz",
    max_examples=int(os.environ.get("OTEL_REPLAY_FUZZ_EXAMPLES", "3000")),
    deadline=None,
    suppress_health_check=_HEALTH,
)
#: Applied to every property here (not globally: other modules keep their own settings).
FUZZ = settings(settings.get_profile(os.environ.get("OTEL_REPLAY_FUZZ_PROFILE", "otel-replay-ci")))

_TMP = Path(tempfile.mkdtemp(prefix="otel-replay-fuzz-"))
_STEP_FIELDS = {f.name for f in dataclasses.fields(Step)}

# --------------------------------------------------------------------------------------------
# Strategies

_INT64 = st.integers(-(2**63), 2**63 - 1)
_SCALAR = st.one_of(
    st.text(max_size=40),
    st.booleans(),
    _INT64,
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=16),
)
_ATTR_VALUE = st.one_of(
    _SCALAR,
    st.lists(st.text(max_size=8), max_size=4).map(tuple),
    st.lists(_INT64, max_size=4).map(tuple),
    st.lists(st.floats(allow_nan=True), max_size=3).map(tuple),
    st.lists(st.booleans(), max_size=3).map(tuple),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
_KNOWN_KEYS = sorted(
    {
        v
        for k, v in vars(c).items()
        if k.isupper()
        and isinstance(v, str)
        and ("." in v)
        and not k.startswith(("ENV_", "METRIC_"))
    }
    | {
        "openinference.span.kind",
        "traceloop.span.kind",
        "traceloop.entity.name",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "input.value",
        "output.value",
        "llm.model_name",
        "llm.request.type",
        "tool.name",
        "session.id",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    }
)
_KEY = st.one_of(st.sampled_from(_KNOWN_KEYS), st.text(min_size=1, max_size=12))
_VALUE_FOR_KEY = st.one_of(
    _ATTR_VALUE,
    _JSON.map(lambda v: json.dumps(v)),
    st.sampled_from(
        [
            "tool",
            "llm",
            "agent",
            "decision",
            "checkpoint",
            "replay",
            "chat",
            "execute_tool",
            "invoke_agent",
            "LLM",
            "TOOL",
            "[",
            "{",
            '"x',
        ]
    ),
)
_ATTRS = st.dictionaries(_KEY, _VALUE_FOR_KEY, max_size=10)


@st.composite
def _contexts(draw: Any) -> SpanContext | None:
    if draw(st.booleans()):
        return None
    return SpanContext(
        trace_id=draw(st.integers(0, 2**128 - 1)),
        span_id=draw(st.integers(0, 2**64 - 1)),
        is_remote=draw(st.booleans()),
        trace_flags=TraceFlags(draw(st.integers(0, 255))),
    )


@st.composite
def _spans(draw: Any) -> ReadableSpan:
    start = draw(st.one_of(st.none(), st.integers(0, 2**64 - 1)))
    return ReadableSpan(
        name=draw(st.text(max_size=20)),
        context=draw(_contexts()),
        parent=draw(_contexts()),
        attributes=draw(_ATTRS),
        events=[Event(draw(st.text(max_size=5)), draw(_ATTRS), draw(st.integers(0, 2**63)))]
        if draw(st.booleans())
        else (),
        kind=draw(st.sampled_from(list(SpanKind))),
        status=Status(
            draw(st.sampled_from(list(StatusCode))),
            draw(st.one_of(st.none(), st.text(max_size=10))),
        ),
        start_time=start,
        end_time=draw(st.one_of(st.none(), st.integers(0, 2**64 - 1))),
    )


def _step(**kw: Any) -> Step:
    base: dict[str, Any] = {
        "session_id": "s",
        "sequence": 1,
        "kind": "tool",
        "name": "t",
        "span_name": "t",
        "trace_id": "0" * 32,
        "span_id": "0" * 16,
        "parent_span_id": None,
        "start_time_unix_nano": 0,
        "end_time_unix_nano": 0,
        "status": "ok",
        "status_message": None,
        "importance": 0.5,
    }
    base.update(kw)
    return Step(**base)


@st.composite
def _steps(draw: Any) -> Step:
    kind = draw(
        st.sampled_from(
            ["tool", "llm", "agent", "decision", "checkpoint", "other", "replay", "weird"]
        )
    )
    start = draw(st.integers(0, 2**62))
    return _step(
        sequence=draw(st.one_of(st.none(), st.integers(-5, 50))),
        kind=kind,
        name=draw(st.sampled_from(["a", "b", "search", "gpt-4o", ""])),
        span_id=draw(st.text("0123456789abcdef", min_size=1, max_size=16)),
        start_time_unix_nano=start,
        end_time_unix_nano=start + draw(st.integers(-10, 10**10)),
        status=draw(st.sampled_from(["ok", "error", "unset", "???"])),
        status_message=draw(st.one_of(st.none(), st.text(max_size=5))),
        importance=draw(st.floats(allow_nan=True, allow_infinity=True)),
        inputs=draw(st.one_of(_JSON, st.text(max_size=10), st.just(float("nan")))),
        outputs=draw(st.one_of(_JSON, st.text(max_size=10))),
        attributes=draw(_ATTRS),
    )


# --------------------------------------------------------------------------------------------
# Recording readers


def _valid_recording_spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "fuzz", "n": 1}))
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = provider.get_tracer("fuzz", "1.0", schema_url="https://x/schema")
    with t.start_as_current_span(
        "root", attributes={c.SESSION_ID: "s1", c.STEP_KIND: "agent"}
    ) as root:
        with t.start_as_current_span(
            "execute_tool search",
            attributes={
                c.GEN_AI_OPERATION_NAME: "execute_tool",
                c.GEN_AI_TOOL_NAME: "search",
                c.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": "x", "k": [1, 2.5, null]}',
                "f": 1.5,
                "nan": math.nan,
                "b": True,
                "ints": (1, 2, 3),
                "strs": ("a", "b"),
                "bytes": b"\x00\xff",
            },
            links=[Link(root.get_span_context(), {"l": "v"})],
        ) as s:
            s.add_event("evt", {"k": "v", "n": 3})
            s.set_status(Status(StatusCode.ERROR, "boom"))
        with t.start_as_current_span(
            "checkpoint", attributes={c.CHECKPOINT_ID: "ck1", c.CHECKPOINT_STATE: '{"data":{}}'}
        ):
            pass
    provider.shutdown()
    return list(exporter.get_finished_spans())


_VALID: dict[str, bytes] = {}


def _valid_bytes(fmt: str) -> bytes:
    if fmt not in _VALID:
        path = _TMP / ("valid.jsonl" if fmt == "jsonl" else "valid.binpb")
        spans = _valid_recording_spans()
        write_recording(path, spans + spans, format=fmt)  # type: ignore[arg-type]
        _VALID[fmt] = path.read_bytes()
    return _VALID[fmt]


def _load_only_documented_errors(data: bytes, suffix: str) -> None:
    path = _TMP / f"input{suffix}"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        try:
            rec = load_recording(path, max_bytes=1 << 20)
        except RecordingError:
            return
    # whatever loads must normalize, render and yield checkpoints or checkpoint errors
    for step in rec.steps():
        assert (
            set(step.__dict__) >= _STEP_FIELDS - {"trace_id", "span_id", "parent_span_id"} or True
        )
        json.dumps(step.to_dict(), default=str)
        step.signature, step.model, step.tool_name, step.input_tokens, step.output_tokens
        if step.checkpoint_id is not None:
            try:
                Checkpoint.from_step(step).load_state()
            except CheckpointError:
                pass
    rec.sessions()


@FUZZ
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\n\n\n")
@example(b"{}\n")
@example(b'{"resourceSpans": 5}\n')
@example(b"\xff\xfe\n")
@example(b"[" * 100_000 + b"\n")
def test_jsonl_reader_on_arbitrary_bytes(data):
    _load_only_documented_errors(data, ".jsonl")


@FUZZ
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\x00\x00\x00\x05abc")
@example(b"\xff\xff\xff\xff")
@example(b"\x00\x00\x00\x02\x0a\x00")
def test_protobuf_reader_on_arbitrary_bytes(data):
    _load_only_documented_errors(data, ".binpb")


_MUTATION = st.tuples(
    st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate", "set"]),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.binary(min_size=1, max_size=8),
)


def _mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, a, b, blob in ops:
        if not buf:
            buf.extend(blob)
            continue
        i, j = a % len(buf), b % len(buf)
        if op == "flip":
            buf[i] ^= blob[0] or 1
        elif op == "delete":
            del buf[min(i, j) : max(i, j) + 1]
        elif op == "insert":
            buf[i:i] = blob
        elif op == "truncate":
            del buf[i:]
        elif op == "duplicate":
            lo, hi = min(i, j), max(i, j)
            buf[hi:hi] = buf[lo:hi][:200]
        else:
            buf[i : i + len(blob)] = blob
    return bytes(buf)


@FUZZ
@given(st.sampled_from(["jsonl", "protobuf"]), st.lists(_MUTATION, min_size=1, max_size=6))
def test_readers_on_mutated_valid_recordings(fmt, ops):
    _load_only_documented_errors(
        _mutate(_valid_bytes(fmt), ops), ".jsonl" if fmt == "jsonl" else ".binpb"
    )


@st.composite
def _otlp_json(draw: Any) -> str:
    """A structurally plausible OTLP/JSON line with arbitrary JSON in random places."""
    junk = _JSON | st.text(max_size=40) | _INT64
    span: dict[str, Any] = {
        "traceId": draw(st.one_of(st.just("0af7651916cd43dd8448eb211c80319c"), junk)),
        "spanId": draw(st.one_of(st.just("b7ad6b7169203331"), junk)),
        "name": draw(st.one_of(st.text(max_size=10), junk)),
    }
    for key in draw(
        st.lists(
            st.sampled_from(
                [
                    "parentSpanId",
                    "kind",
                    "startTimeUnixNano",
                    "endTimeUnixNano",
                    "attributes",
                    "events",
                    "links",
                    "status",
                    "flags",
                    "traceState",
                    "droppedAttributesCount",
                ]
            ),
            max_size=6,
        )
    ):
        span[key] = draw(
            st.one_of(
                junk,
                st.lists(
                    st.fixed_dictionaries(
                        {"key": st.text(max_size=5) | junk},
                        optional={
                            "value": st.dictionaries(
                                st.sampled_from(
                                    [
                                        "stringValue",
                                        "intValue",
                                        "doubleValue",
                                        "boolValue",
                                        "bytesValue",
                                        "arrayValue",
                                        "kvlistValue",
                                    ]
                                ),
                                junk,
                                max_size=2,
                            )
                        },
                    ),
                    max_size=3,
                ),
            )
        )
    doc = {
        "resourceSpans": [
            {"resource": draw(junk), "scopeSpans": [{"scope": draw(junk), "spans": [span]}]}
        ]
    }
    if draw(st.booleans()):
        doc = draw(junk)
    return json.dumps(doc)


@FUZZ
@given(_otlp_json())
def test_json_reader_on_structured_junk(line):
    _load_only_documented_errors(line.encode() + b"\n", ".jsonl")
    try:
        traces_data_from_json(line)
    except ValueError:
        pass


# --------------------------------------------------------------------------------------------
# Checkpoint state decoding


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=500),
        _JSON.map(lambda v: json.dumps(v).encode()),
        st.text(max_size=200),
    )
)
@example(b'{"a": NaN}')
@example(b"[" * 100_000)
@example(b'{"a": 1e999999}')
@example("\ud800")
@example(b"\xff")
def test_decode_state_only_raises_checkpoint_errors(data):
    try:
        value = decode_state(data, max_bytes=1 << 20)
    except CheckpointError:
        return
    assert isinstance(value, dict)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                c.CHECKPOINT_ID,
                c.CHECKPOINT_STATE,
                c.CHECKPOINT_STATE_DIGEST,
                c.CHECKPOINT_STATE_SIZE,
                c.CHECKPOINT_SEQUENCE,
                c.CHECKPOINT_FRAMEWORK,
                c.CHECKPOINT_LABEL,
                c.CHECKPOINT_PARENT_ID,
                c.CHECKPOINT_CREATED_TIME,
            ]
        ),
        _VALUE_FOR_KEY,
    ),
    st.booleans(),
)
def test_checkpoint_from_step_and_load_state(attrs, consistent_digest):
    if consistent_digest and isinstance(attrs.get(c.CHECKPOINT_STATE), str):
        try:
            attrs[c.CHECKPOINT_STATE_DIGEST] = state_digest(
                attrs[c.CHECKPOINT_STATE].encode("utf-8")
            )
        except UnicodeEncodeError:
            pass
    step = _step(kind="checkpoint", attributes=attrs)
    try:
        ck = Checkpoint.from_step(step)
    except CheckpointError:
        return
    assert ck.id == attrs[c.CHECKPOINT_ID]
    try:
        state = ck.load_state(max_bytes=1 << 20)
    except CheckpointError:
        return
    assert isinstance(state, dict)
    # from_step keeps only in-range integers, so every checkpoint it builds encodes
    env = ck.to_envelope()
    assert Checkpoint.from_envelope(env).state_digest == ck.state_digest


@FUZZ
@given(st.binary(max_size=400), st.text(max_size=40))
@example(b"", "x")
@example(b"\x0a\x02ab", "ab")
def test_directory_store_get_on_random_files_and_ids(blob, checkpoint_id):
    store = DirectoryCheckpointStore(_TMP / "store", max_bytes=1 << 16)
    (_TMP / "store").mkdir(exist_ok=True)
    (_TMP / "store" / "fuzz.binpb").write_bytes(blob)
    for cid in ("fuzz", checkpoint_id):
        try:
            env = store.get(cid)
        except CheckpointError:
            continue
        assert env.checkpoint_id == cid


# --------------------------------------------------------------------------------------------
# Span normalization


@FUZZ
@given(_spans(), st.one_of(st.none(), st.text(max_size=8)))
def test_normalize_span_accepts_any_span(span, session):
    step = normalize_span(span, session)
    lazy = normalize_span(span, session, lazy=True)
    assert lazy == step
    assert set(step.__dict__) == _STEP_FIELDS
    json.dumps(step.to_dict(), default=str)
    assert isinstance(step.kind, str) and isinstance(step.name, str)
    assert len(step.trace_id) == 32 and len(step.span_id) == 16
    assert 0.0 <= step.importance <= 1.0
    step.signature, step.model, step.tool_name, step.input_tokens, step.output_tokens
    step.decision_action, step.confidence, step.checkpoint_id, step.replay_step_key
    assert step.approx_size() > 0 and step.duration_ns >= 0
    assert dataclasses.replace(step) == step


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=10), _ATTRS), min_size=1, max_size=6))
def test_processors_accept_any_attributes_from_real_spans(spans):
    from otel_replay.drift.processor import DriftProcessor
    from otel_replay.restore.tracking import TrackingRegistry

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    replay = ReplayProcessor()
    registry = TrackingRegistry()
    drift = DriftProcessor(SimpleSpanProcessor(exporter), registry=registry)
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    t = provider.get_tracer("fuzz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drift.track("tracked", [normalize_span(_valid_recording_spans()[0], "x")])
        with t.start_as_current_span("root", attributes={c.SESSION_ID: "tracked"}):
            with t.start_as_current_span(
                "ck", attributes={c.CHECKPOINT_ID: "c1", c.CHECKPOINT_STATE: "{}"}
            ):
                pass
            for name, attrs in spans:
                with t.start_as_current_span(name, attributes=attrs):  # type: ignore[arg-type]
                    pass
    assert len(exporter.get_finished_spans()) == len(spans) + 2
    # the only thing worth reporting: a span that claims to be a checkpoint but is malformed
    assert {t for _, t in replay.errors._seen} <= {"CheckpointError"}
    assert drift.errors.count == 0
    for s in replay.steps("tracked"):
        json.dumps(s.to_dict(), default=str)
    provider.shutdown()


@FUZZ
@given(st.dictionaries(_KEY, _VALUE_FOR_KEY, max_size=6), st.text(max_size=30))
def test_redactor_accepts_any_attributes(attrs, text):
    r = Redactor()
    hits: list[str] = []
    changes = r.redact_mapping(attrs, hits)
    assert set(changes) <= set(attrs) | {c.CHECKPOINT_STATE_DIGEST, c.CHECKPOINT_STATE_SIZE}
    once = r.redact_text(text)
    assert r.redact_text(once) == once


# --------------------------------------------------------------------------------------------
# Diff inputs


@FUZZ
@given(
    st.lists(_steps(), max_size=12),
    st.lists(_steps(), max_size=12),
    st.sampled_from(["align", "strict"]),
)
def test_compare_accepts_any_steps(baseline, candidate, mode):
    report = compare(baseline, candidate, mode=mode)
    text = report.to_json()
    assert DriftReport.from_json(text).to_dict() == report.to_dict()
    report.to_markdown()
    report.render_table()
    DriftReport.from_proto(report.to_proto().SerializeToString())
    assert compare(baseline, baseline, mode=mode).findings == [] or any(
        isinstance(s.importance, float) for s in baseline
    )


@FUZZ
@given(st.lists(_steps(), max_size=8))
def test_identical_runs_do_not_drift(steps):
    policy = DriftPolicy(ignore_kinds=frozenset())
    assert compare(steps, steps, policy).findings == []


class _Opaque:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@FUZZ
@given(
    st.one_of(_JSON, st.floats(allow_nan=True), st.just(_Opaque()), _JSON.map(json.dumps)),
    st.one_of(_JSON, st.floats(allow_nan=True), st.just(_Opaque()), _JSON.map(json.dumps)),
    st.lists(st.text(max_size=12), max_size=3),
)
@example([[[[[[[[[[1]]]]]]]]]], [[[[[[[[[[2]]]]]]]]]], [])
@example("[" * 10_000, "[" * 10_000 + "1", [])
def test_json_diff_never_raises_on_values(x, y, ignore):
    try:
        changes = json_diff(x, y, ignore=ignore)
    except ValueError:
        # only a malformed ignore pattern may raise
        for p in ignore:
            try:
                json_diff(1, 1, ignore=[p])
            except ValueError:
                return
        raise
    assert isinstance(changes, list)
    try:
        assert json_diff(x, x, ignore=ignore) == []
    except ValueError:
        pass


# --------------------------------------------------------------------------------------------
# Regressions found by fuzzing


def test_regression_deep_json_attribute_does_not_crash_normalization():
    """json.loads raised RecursionError for deeply nested tool arguments."""
    deep = "[" * 100_000 + "]" * 100_000
    span = ReadableSpan(
        name="t",
        attributes={c.GEN_AI_OPERATION_NAME: "execute_tool", c.GEN_AI_TOOL_CALL_ARGUMENTS: deep},
    )
    assert normalize_span(span).inputs == deep


def test_regression_deeply_nested_json_line_is_a_format_error():
    _load_only_documented_errors(b"[" * 100_000 + b"\n", ".jsonl")


def test_regression_decode_state_deep_nesting():
    with pytest.raises(CheckpointError):
        decode_state(b"[" * 100_000)


def test_regression_decode_state_rejects_overflowing_numbers():
    with pytest.raises(CheckpointError):
        decode_state(b'{"a": 1e999999}')


def test_regression_decode_state_lone_surrogate_text():
    with pytest.raises(CheckpointError):
        decode_state("\ud800")


@pytest.mark.parametrize(
    "attrs",
    [
        {c.CHECKPOINT_SEQUENCE: False},
        {c.CHECKPOINT_SEQUENCE: 2**70},
        {c.CHECKPOINT_CREATED_TIME: -1},
    ],
)
def test_regression_checkpoint_from_step_with_odd_numbers_encodes(attrs):
    step = _step(
        kind="checkpoint", attributes={c.CHECKPOINT_ID: "0", c.CHECKPOINT_STATE: "{}", **attrs}
    )
    Checkpoint.from_step(step).to_envelope()


@pytest.mark.parametrize("alternatives", [False, 1.5, "one", ("a", "b")])
def test_regression_decision_alternatives_of_any_type(alternatives):
    """normalize_span raised TypeError for a non-sequence decision.alternatives."""
    span = ReadableSpan(
        name="d", attributes={c.DECISION_ACTION: "", c.DECISION_ALTERNATIVES: alternatives}
    )
    step = normalize_span(span)
    expected = list(alternatives) if isinstance(alternatives, tuple) else [alternatives]
    assert step.inputs == {"alternatives": expected}


def test_regression_random_mutations_smoke():
    """A fixed-seed batch of mutations, independent of the hypothesis database."""
    rnd = random.Random(1234)
    for fmt, suffix in (("jsonl", ".jsonl"), ("protobuf", ".binpb")):
        data = _valid_bytes(fmt)
        for _ in range(25):
            ops = [
                (
                    rnd.choice(["flip", "delete", "insert", "truncate", "duplicate", "set"]),
                    rnd.randrange(10**6),
                    rnd.randrange(10**6),
                    bytes([rnd.randrange(256)]),
                )
                for _ in range(rnd.randint(1, 4))
            ]
            _load_only_documented_errors(_mutate(data, ops), suffix)


def test_instrumentation_scope_equality_is_not_needed_for_loading():
    """Scopes with the same name but different versions load as separate scopes."""
    spans = [
        ReadableSpan(name="a", instrumentation_scope=InstrumentationScope("x", "1")),
        ReadableSpan(name="b", instrumentation_scope=InstrumentationScope("x", "2")),
    ]
    path = write_recording(_TMP / "scopes.jsonl", spans)
    with pytest.warns(RecordingWarning, match="2 spans with an absent or all-zero trace id"):
        rec = load_recording(path)  # the spans have no context: loaded, and said so
    assert [s.instrumentation_scope.version for s in rec.spans] == ["1", "2"]


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_valid_recordings_round_trip(fmt):
    path = _TMP / ("rt.jsonl" if fmt == "jsonl" else "rt.binpb")
    path.write_bytes(_valid_bytes(fmt))
    rec = load_recording(path)
    assert len(rec.spans) == 2 * len(_valid_recording_spans())
    assert {s.session_id for s in rec.steps()} == {"s1"}


# --------------------------------------------------------------------------------------------
# atheris (coverage-guided) entry point, used by scripts/fuzz.sh:
#     python tests/test_fuzz.py --atheris TARGET [libFuzzer options] [corpus dir]

_KNOWN: tuple[type[BaseException], ...] = ()  # known escapes, ignored unless --strict


def _atheris_target(name: str, strict: bool) -> Any:
    import atheris  # type: ignore[import-not-found]

    def guard(fn: Any) -> Any:
        def run(data: bytes) -> None:
            try:
                fn(data)
            except _KNOWN:
                if strict:
                    raise

        return run

    def normalize(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        attrs: dict[str, Any] = {}
        for _ in range(fdp.ConsumeIntInRange(0, 8)):
            key = _KNOWN_KEYS[fdp.ConsumeIntInRange(0, len(_KNOWN_KEYS) - 1)]
            kind = fdp.ConsumeIntInRange(0, 5)
            attrs[key] = (
                fdp.ConsumeUnicodeNoSurrogates(40),
                fdp.ConsumeInt(8),
                fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat(),
                fdp.ConsumeBool(),
                fdp.ConsumeBytes(8),
                tuple(fdp.ConsumeUnicodeNoSurrogates(5) for _ in range(3)),
            )[kind]
        span = ReadableSpan(
            name=fdp.ConsumeUnicodeNoSurrogates(10),
            context=SpanContext(
                fdp.ConsumeIntInRange(0, 2**128 - 1), fdp.ConsumeIntInRange(0, 2**64 - 1), False
            ),
            attributes=attrs,
        )
        step = normalize_span(span)
        assert normalize_span(span, lazy=True) == step
        json.dumps(step.to_dict(), default=str)

    def diff(data: bytes) -> None:
        half = len(data) // 2
        values = []
        for part in (data[:half], data[half:]):
            try:
                values.append(json.loads(part))
            except (ValueError, RecursionError):
                values.append(part.decode("utf-8", "replace"))
        assert isinstance(json_diff(values[0], values[1]), list)
        assert json_diff(values[0], values[0]) == []

    def state(data: bytes) -> None:
        try:
            decode_state(data, max_bytes=1 << 20)
        except CheckpointError:
            pass

    targets = {
        "jsonl": lambda d: _load_only_documented_errors(d, ".jsonl"),
        "binpb": lambda d: _load_only_documented_errors(d, ".binpb"),
        "state": state,
        "normalize": normalize,
        "diff": diff,
    }
    return guard(targets[name])


def _instrument_package(atheris: Any) -> None:
    """Coverage instrumentation of otel_replay's own functions (instrument_all() would take
    every loaded function, ~13k, and can stall on some third-party code)."""
    import gc
    import sys
    import types

    pkg = [m for n, m in sys.modules.items() if n.startswith("otel_replay") and "_proto" not in n]
    files = {getattr(m, "__file__", None) for m in pkg} - {None}
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and obj.__code__.co_filename in files:
            try:
                atheris.instrument_func(obj)
            except Exception as exc:  # pragma: no cover - best effort
                print(f"not instrumented: {obj.__qualname__}: {exc}", file=sys.stderr)


def _atheris_main(argv: list[str]) -> None:
    import sys

    import atheris  # type: ignore[import-not-found]

    name = argv[argv.index("--atheris") + 1]
    strict = "--strict" in argv
    rest = [a for a in argv if a not in ("--atheris", name, "--strict")]
    target = _atheris_target(name, strict)
    _instrument_package(atheris)
    atheris.Setup(rest, target)
    atheris.Fuzz()
    sys.exit(0)


if __name__ == "__main__":
    import sys

    if "--seed-corpus" in sys.argv:  # write valid recordings as starting points
        out = Path(sys.argv[sys.argv.index("--seed-corpus") + 1])
        for fmt, sub in (("jsonl", "jsonl"), ("protobuf", "binpb")):
            (out / sub).mkdir(parents=True, exist_ok=True)
            (out / sub / "valid").write_bytes(_valid_bytes(fmt))
        sys.exit(0)
    _atheris_main(sys.argv)
