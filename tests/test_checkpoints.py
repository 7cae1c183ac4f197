from __future__ import annotations

import dataclasses
import json

import pytest

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import (
    CheckpointNotFoundError,
    CheckpointStateError,
    CheckpointStateTooLargeError,
    CheckpointStoreError,
)
from otel_replay.model.state import normalize_state
from otel_replay.model.steps import normalize_span
from otel_replay.model.stores import (
    DirectoryCheckpointStore,
    InMemoryCheckpointStore,
    set_checkpoint_store,
)


def _checkpoint_spans(pipeline):
    return [s for s in pipeline.exporter.get_finished_spans() if c.CHECKPOINT_ID in s.attributes]


def test_checkpoint_span_carries_envelope_fields(pipeline):
    with agent_run("agent", session_id="sess-1", tracer=pipeline.tracer):
        first = checkpoint({"plan": ["a", "b"]}, label="planned", tracer=pipeline.tracer)
        second = checkpoint({"plan": ["b"]}, tracer=pipeline.tracer)
    spans = _checkpoint_spans(pipeline)
    assert [s.attributes[c.CHECKPOINT_ID] for s in spans] == [first, second]
    a = spans[0].attributes
    assert a[c.SESSION_ID] == "sess-1"
    assert a[c.CHECKPOINT_SEQUENCE] == 1
    assert a[c.CHECKPOINT_FRAMEWORK] == "custom"
    assert a[c.CHECKPOINT_LABEL] == "planned"
    assert a[c.CHECKPOINT_STATE] == '{"data":{"plan":["a","b"]}}'
    assert a[c.CHECKPOINT_STATE_LOCATION] == "inline"
    assert a[c.CHECKPOINT_STATE_SIZE] == len(a[c.CHECKPOINT_STATE])
    assert c.CHECKPOINT_PARENT_ID not in a
    b = spans[1].attributes
    assert b[c.CHECKPOINT_SEQUENCE] == 2
    assert b[c.CHECKPOINT_PARENT_ID] == first
    assert spans[0].name == "checkpoint planned"
    ckpt = Checkpoint.from_step(normalize_span(spans[0]))
    assert ckpt.load_state() == {"data": {"plan": ["a", "b"]}}


def test_langchain_shape_and_unknown_framework_fallback():
    fw, state = normalize_state(
        "langchain",
        {
            "messages": [{"type": "human", "data": {"content": "hi"}}],
            "intermediate_steps": [({"tool": "search", "tool_input": {"q": 1}, "log": ""}, "ok")],
            "run_name": "r",
        },
    )
    assert fw == "langchain"
    assert state == {
        "messages": [{"type": "human", "data": {"content": "hi"}}],
        "intermediate_steps": [[{"tool": "search", "tool_input": {"q": 1}, "log": ""}, "ok"]],
        "run_name": "r",
        "run_id": None,
        "metadata": {},
    }
    fw, state = normalize_state("my-framework", {"x": 1})
    assert (fw, state) == ("my-framework", {"data": {"x": 1}})
    with pytest.raises(CheckpointStateError, match=r"unknown keys \['bogus'\]"):
        normalize_state("langchain", {"bogus": 1})


def test_langchain_messages_and_dataclass_and_pydantic_are_converted():
    pytest.importorskip("langchain_core")  # the langchain extra; it brings pydantic
    from langchain_core.messages import AIMessage, HumanMessage
    from pydantic import BaseModel

    @dataclasses.dataclass
    class Memory:
        facts: list[str]

    class Settings(BaseModel):
        temperature: float

    fw, state = normalize_state(
        "langchain",
        {
            "messages": [HumanMessage("hi"), AIMessage("hello")],
            "metadata": {"s": Settings(temperature=0.5)},
        },
    )
    assert [m["type"] for m in state["messages"]] == ["human", "ai"]
    assert state["messages"][0]["data"]["content"] == "hi"
    assert state["metadata"] == {"s": {"temperature": 0.5}}
    assert normalize_state("custom", Memory(facts=["x"])) == ("custom", {"data": {"facts": ["x"]}})


@pytest.mark.parametrize(
    "state, message",
    [
        ({"f": object()}, r"not JSON-serializable at \$\.data\.f: object of type object"),
        ({"n": float("nan")}, r"non-finite number \(nan\) at \$\.data\.n"),
        ({"d": {1: "x"}}, r"non-string key 1 \(int\) at \$\.data\.d"),
        ({"l": [1, {"s": {1, 2}}]}, r"at \$\.data\.l\[1\]\.s: object of type set"),
    ],
)
def test_unserializable_state_raises_before_anything_is_written(pipeline, state, message):
    with pytest.raises(CheckpointStateError, match=message):
        checkpoint(state, tracer=pipeline.tracer)
    assert pipeline.exporter.get_finished_spans() == ()


def test_oversize_state_raises_and_writes_nothing(pipeline):
    with pytest.raises(CheckpointStateTooLargeError) as err:
        checkpoint({"blob": "x" * 2000}, max_bytes=1000, tracer=pipeline.tracer)
    assert err.value.cap == 1000
    assert err.value.size == len('{"data":{"blob":""}}') + 2000
    assert pipeline.exporter.get_finished_spans() == ()


def test_state_over_inline_cap_without_store_is_an_error(pipeline):
    with pytest.raises(CheckpointStateTooLargeError, match="configure a CheckpointStore"):
        checkpoint({"blob": "x" * 100}, inline_max_bytes=50, tracer=pipeline.tracer)
    assert pipeline.exporter.get_finished_spans() == ()


def test_large_state_goes_to_directory_store(pipeline, tmp_path):
    store = DirectoryCheckpointStore(tmp_path / "ckpts")
    cid = checkpoint({"blob": "y" * 100}, inline_max_bytes=50, store=store, tracer=pipeline.tracer)
    (span,) = _checkpoint_spans(pipeline)
    assert c.CHECKPOINT_STATE not in span.attributes
    assert span.attributes[c.CHECKPOINT_STATE_LOCATION] == "store"
    assert span.attributes[c.CHECKPOINT_STATE_DIGEST].startswith("sha256:")
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == [f"{cid}.binpb"]
    ckpt = Checkpoint.from_step(normalize_span(span))
    assert ckpt.state_location == "store"
    assert ckpt.load_state(store) == {"data": {"blob": "y" * 100}}
    # a store that has been tampered with is detected by the digest
    env = store.get(cid)
    env.state_json = b'{"data":{"blob":"z"}}'
    store.put(env)
    with pytest.raises(CheckpointStateError, match="digest mismatch"):
        ckpt.load_state(store)


def test_store_failure_raises_and_exports_no_span(pipeline, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    store = DirectoryCheckpointStore(blocker / "ckpts")
    with pytest.raises(CheckpointStoreError, match="could not write checkpoint"):
        checkpoint({"blob": "y" * 100}, inline_max_bytes=10, store=store, tracer=pipeline.tracer)
    assert pipeline.exporter.get_finished_spans() == ()


def test_in_memory_store_and_missing_checkpoint():
    store = InMemoryCheckpointStore()
    with pytest.raises(CheckpointNotFoundError, match="checkpoint nope is not in the store"):
        store.get("nope")


def test_directory_store_rejects_corrupt_and_mismatched_files(tmp_path):
    store = DirectoryCheckpointStore(tmp_path)
    (tmp_path / "abc.binpb").write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(CheckpointStoreError, match="abc.binpb is not a checkpoint envelope"):
        store.get("abc")
    with pytest.raises(CheckpointStoreError, match="invalid checkpoint id"):
        store.get("../etc/passwd")


def test_default_store_is_used_and_restorable(pipeline, tmp_path):
    store = InMemoryCheckpointStore()
    previous = set_checkpoint_store(store)
    try:
        cid = checkpoint({"k": "v" * 64}, inline_max_bytes=8, tracer=pipeline.tracer)
    finally:
        set_checkpoint_store(previous)
    assert Checkpoint.from_envelope(store.get(cid)).load_state() == {"data": {"k": "v" * 64}}


def test_inline_cap_env_var(pipeline, monkeypatch):
    monkeypatch.setenv(c.ENV_INLINE_STATE_MAX_BYTES, "10")
    with pytest.raises(CheckpointStateTooLargeError, match="over the cap of 10 bytes"):
        checkpoint({"a": "0123456789"}, tracer=pipeline.tracer)


def test_decode_state_rejects_non_json_constants():
    from otel_replay.model.state import decode_state

    with pytest.raises(CheckpointStateError, match="not valid JSON"):
        decode_state(b'{"a": NaN}')
    with pytest.raises(CheckpointStateError, match="must be a JSON object"):
        decode_state(b"[1]")
    with pytest.raises(CheckpointStateTooLargeError):
        decode_state(b'{"a": 1}', max_bytes=3)
    assert json.loads(b'{"a":1}') == decode_state(b'{"a":1}')
