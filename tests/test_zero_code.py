"""Zero-code: an app with no OpenTelemetry setup code, run under the real
``opentelemetry-instrument`` with environment variables only, gets otel-replay's processors
from the ``otel_replay`` configurator, writes a recording, and reports drift of a changed
re-run as span events and log events (the SDK's console exporters print what is exported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from otel_replay.cli.render import checkpoints_of
from otel_replay.core import conventions as c
from otel_replay.formats.files import load_recording

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

pytestmark = pytest.mark.slow  # five runs of a Python process under opentelemetry-instrument

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "tests" / "apps" / "zero_code_app.py"
MARK = "ZERO-CODE-APP "
CONFIGURATOR = "otel_replay.setup.configurator:OtelReplayConfigurator"


def _instrument_bin() -> Path:
    path = Path(sys.executable).with_name("opentelemetry-instrument")
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: pip install -e '.[test]' installs it")
        pytest.skip("opentelemetry-instrument is not installed (pip install -e '.[test]')")
    return path


def _entry_point_path(tmp: Path) -> list[str]:
    """Extra sys.path entries so the configurator entry point declared in pyproject.toml is
    visible (an editable install of another checkout may not declare it yet)."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
        "opentelemetry_configurator"
    ]
    assert declared == {"otel_replay": CONFIGURATOR}
    installed = {e.name: e.value for e in entry_points(group="opentelemetry_configurator")}
    if installed.get("otel_replay") == CONFIGURATOR:
        return []
    dist = tmp / "ep" / "otel_replay_entry_points-0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: otel-replay-entry-points\nVersion: 0.0\n"
    )
    lines = ["[opentelemetry_configurator]"] + [f"{k} = {v}" for k, v in declared.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return [str(tmp / "ep")]


def _run(tmp: Path, recording: Path, *args: str, extra_env: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(REPO), *_entry_point_path(tmp)]),
            "OTEL_PYTHON_CONFIGURATOR": "otel_replay",
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_LOGS_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_REPLAY_RECORDING_DIR": str(recording) + os.sep,
            **(extra_env or {}),
        }
    )
    proc = subprocess.run(  # noqa: S603
        [str(_instrument_bin()), sys.executable, str(APP), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    head, *rest = proc.stdout.split(MARK, 1)[1].split("\n", 1)
    return json.loads(head), _json_objects(head + "\n" + (rest[0] if rest else "")), proc


def _json_objects(text: str) -> list[dict]:
    """Every JSON object printed by the console exporters (after the app's own line)."""
    dec = json.JSONDecoder()
    out, i = [], text.index("\n")
    while True:
        i = text.find("{", i)
        if i < 0:
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zero_code")
    first = _run(tmp, tmp / "rec-first", "record")
    same = _run(tmp, tmp / "rec-same", "rerun", str(tmp / "rec-first"), "0")
    changed = _run(tmp, tmp / "rec-changed", "rerun", str(tmp / "rec-first"), "1")
    return tmp, first, same, changed


def test_instrument_installs_processors_and_writes_a_recording(runs):
    tmp, (info, exported, _), _, _ = runs
    assert info["configured"] is True
    assert info["processors"] == [
        "RedactionProcessor",
        "ReplayProcessor",
        "_Deferred",
        "DriftProcessor",
    ]
    assert info["drift_downstream"] == ["ConsoleSpanExporter", "RecordingExporter"]
    rec = load_recording(tmp / "rec-first")
    names = sorted(s.name for s in rec.spans)
    # our helpers' spans and the instrumentation's, in the recording and on the configured
    # (console) exporter alike
    assert names == [
        "FakeListChatModel",  # the LangChain instrumentation opentelemetry-instrument loaded
        "checkpoint planned",
        "execute_tool lookup_order",
        "invoke_agent support-agent",
    ]
    assert sorted(o["name"] for o in exported if "context" in o) == names
    (ckpt,) = checkpoints_of(rec.steps())
    assert ckpt.id == info["checkpoint"]
    assert ckpt.load_state() == {"data": {"intent": "refund", "order": "A-17"}}


def test_identical_rerun_reports_no_drift(runs):
    _, _, (info, exported, _), _ = runs
    report = info["report"]
    assert report["findings"] == []
    assert report["baseline_steps"] == report["candidate_steps"] == 2
    drift_logs = [o for o in exported if o.get("event_name") == c.DRIFT_EVENT]
    assert drift_logs == []
    (verdict,) = [o for o in exported if o.get("event_name") == c.GEN_AI_EVALUATION_RESULT_EVENT]
    assert verdict["attributes"][c.GEN_AI_EVALUATION_SCORE_LABEL] == c.EVALUATION_LABEL_NO_DRIFT


def test_changed_rerun_reports_one_finding_as_span_event_and_log_event(runs):
    tmp, _, _, (info, exported, _) = runs
    (finding,) = info["report"]["findings"]
    assert (finding["kind"], finding["candidate"]["name"]) == ("output_changed", "lookup_order")
    spans = {o["context"]["span_id"]: o for o in exported if "context" in o}
    tool_span = spans["0x" + finding["candidate"]["span_id"]]
    assert tool_span["name"] == "execute_tool lookup_order"
    (event,) = [e for e in tool_span["events"] if e["name"] == c.DRIFT_EVENT]
    assert event["attributes"][c.DRIFT_PATHS] == ["$.status"]
    (log,) = [o for o in exported if o.get("event_name") == c.DRIFT_EVENT]
    assert log["span_id"] == "0x" + finding["candidate"]["span_id"]
    assert log["trace_id"] == "0x" + finding["candidate"]["trace_id"]
    assert log["attributes"][c.DRIFT_KIND] == "output_changed"
    (verdict,) = [o for o in exported if o.get("event_name") == c.GEN_AI_EVALUATION_RESULT_EVENT]
    root = next(s for s in spans.values() if s["name"] == "invoke_agent support-agent")
    assert verdict["span_id"] == root["context"]["span_id"]
    assert verdict["attributes"][c.GEN_AI_EVALUATION_SCORE_LABEL] == c.EVALUATION_LABEL_DRIFT
    assert verdict["attributes"][c.GEN_AI_EVALUATION_SCORE_VALUE] == 0.5
    # the re-run is recorded too, drift span event included
    rec = load_recording(tmp / "rec-changed")
    tool = next(s for s in rec.spans if s.name == "execute_tool lookup_order")
    assert [e.name for e in tool.events] == [c.DRIFT_EVENT]


def test_switches_turn_span_events_and_log_events_off(runs, tmp_path):
    tmp = runs[0]
    info, exported, _ = _run(
        tmp_path,
        tmp_path / "rec",
        "rerun",
        str(tmp / "rec-first"),
        "1",
        extra_env={
            c.ENV_DRIFT_SPAN_EVENTS: "false",
            c.ENV_DRIFT_LOG_EVENTS: "false",
            c.ENV_REDACT: "false",
        },
    )
    assert info["processors"] == ["ReplayProcessor", "_Deferred", "DriftProcessor"]
    assert len(info["report"]["findings"]) == 1
    assert [o for o in exported if "event_name" in o] == []
    assert [e for o in exported if "context" in o for e in o["events"]] == []


def test_sdk_disabled_runs_without_exception_and_warns_once(tmp_path):
    info, exported, proc = _run(
        tmp_path, tmp_path / "rec", "record", extra_env={c.ENV_SDK_DISABLED: "true"}
    )
    assert exported == []
    assert not (tmp_path / "rec").exists() or list((tmp_path / "rec").iterdir()) == []
    assert proc.stderr.count("OTEL_SDK_DISABLED=true") == 1
