"""An agent in another language (Node.js, the official @opentelemetry/sdk-node) marks
checkpoints and steps by docs/semantic-conventions.md, exports them over OTLP to the real
Collector's file exporter, and otel-replay inspects, restores (event replay) and diffs the
recording the Collector wrote."""

from __future__ import annotations

import io
import json
import warnings

import pytest

from otel_replay import restore
from otel_replay.cli.main import main
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording

from . import backends
from .helpers import wait_for
from .node import node_agent, run_agent
from .test_collector_file_export import CONFIG

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node_recording(e2e_process_group, tmp_path_factory):
    node_agent()  # install first: a missing toolchain fails/skips before anything starts
    tmp = tmp_path_factory.mktemp("node-agent")
    path = tmp / "traces.jsonl"
    collector = backends.start_collector(
        e2e_process_group,
        "127.0.0.1:1",  # the file config exports nowhere else
        name="collector-node-agent",
        config=CONFIG,
        env={"OTEL_REPLAY_FILE_JSON": str(path), "OTEL_REPLAY_FILE_PROTO": str(tmp / "t.binpb")},
    )
    endpoint = f"{collector.otlp_http_endpoint}/v1/traces"
    runs = {
        "base": run_agent(endpoint, "--session", "node-base"),
        "same": run_agent(endpoint, "--session", "node-same"),
        "changed": run_agent(endpoint, "--session", "node-changed", "--status", "lost"),
    }

    def loaded():
        if not path.exists():
            return None
        with warnings.catch_warnings():  # the Collector may be mid-write while we poll
            warnings.simplefilter("ignore", RecordingWarning)
            rec = load_recording(path)
        return rec if len(rec.spans) >= 12 and not rec.warnings else None

    wait_for(loaded, 30, what="12 spans of the Node.js agent in the collector's file")
    collector.process.stop()
    return path, runs


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_inspect_lists_the_node_agents_sessions_checkpoints_and_steps(node_recording):
    path, runs = node_recording
    code, text = _cli("inspect", str(path), "--format", "json")
    assert code == 0
    doc = json.loads(text)
    sessions = {s["session_id"]: s for s in doc["sessions"]}
    assert sorted(sessions) == ["node-base", "node-changed", "node-same"]
    base = sessions["node-base"]
    assert [
        (ck["checkpoint_id"], ck["label"], ck["step_sequence"]) for ck in base["checkpoints"]
    ] == [(runs["base"]["checkpoint"], "planned", 2)]
    assert base["checkpoints"][0]["state_location"] == "inline"
    assert [(s["sequence"], s["kind"], s["name"]) for s in base["steps"]] == [
        (1, "agent", "support-agent"),
        (2, "checkpoint", "planned"),
        (3, "tool", "lookup_order"),
        (4, "llm", "fake-model"),
    ]


def test_restore_replays_the_steps_after_the_node_checkpoint(node_recording):
    path, runs = node_recording
    replayed = []
    result = restore(
        runs["base"]["checkpoint"],
        source=path,
        target={},
        replay=True,
        on_replay_event=replayed.append,
    )
    assert result.ok
    assert result.target == {"intent": "refund", "order": "A-17"}
    assert [(s.kind, s.name, s.outputs) for s in replayed] == [
        ("tool", "lookup_order", {"status": "shipped"}),
        ("llm", "fake-model", replayed[1].outputs),
    ]
    assert replayed[1].outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "I have looked up order A-17."}],
        }
    ]


@pytest.mark.parametrize(("candidate", "findings"), [("same", []), ("changed", ["lookup_order"])])
def test_diff_of_node_runs(node_recording, candidate, findings):
    path, runs = node_recording
    code, text = _cli(
        "diff",
        str(path),
        str(path),
        "--session",
        "node-base",
        "--candidate-session",
        f"node-{candidate}",
        "--checkpoint",
        runs["base"]["checkpoint"],
        "--format",
        "json",
        "--fail-on",
        "info",
    )
    report = json.loads(text)
    assert (report["baseline_steps"], report["candidate_steps"]) == (2, 2)
    assert [f["candidate"]["name"] for f in report["findings"]] == findings
    assert [f["kind"] for f in report["findings"]] == ["output_changed"] * len(findings)
    assert code == (1 if findings else 0)
