"""The README's Python snippets run as written: extracted from README.md and executed in
order in one namespace, with only a fake agent (``continue_agent``) supplied."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

import pytest

from otel_replay import tool_call
from otel_replay.capture.checkpoint import SESSION_CLOCK
from otel_replay.core import conventions as c
from otel_replay.core import env
from otel_replay.model.stores import set_checkpoint_store
from otel_replay.restore.tracking import REGISTRY
from tests.otel_globals import fresh_otel_globals
from tests.test_sdk_disabled import WARNING

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def snippets() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def _fake_agent(status: str):
    def continue_agent(state):
        with tool_call("lookup_order", {"order": state["order"]}) as call:
            call.set_result({"status": status})

    return continue_agent


def _traced_agent(status: str):
    """The same agent with its tool as a ``@traced_tool`` (what the README's comment says)."""
    from otel_replay import traced_tool

    calls: list[str] = []

    @traced_tool("lookup_order")
    def lookup_order(order: str) -> dict:
        calls.append(order)
        return {"status": status}

    def continue_agent(state):
        lookup_order(order=state["order"])

    continue_agent.calls = calls  # type: ignore[attr-defined]
    return continue_agent


def _run(blocks: list[str], namespace: dict, tmp_path: Path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    clock, store = SESSION_CLOCK.snapshot(), set_checkpoint_store(None)
    try:
        with fresh_otel_globals(), contextlib.redirect_stdout(out):
            for i, code in enumerate(blocks):
                exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102
            provider = namespace.get("provider")
            if provider is not None:
                provider.shutdown()
    finally:
        set_checkpoint_store(store)
        SESSION_CLOCK.restore(clock)
        for sid in list(REGISTRY._runs):
            REGISTRY.unregister(sid)
    return out.getvalue()


def test_readme_has_the_two_snippets():
    assert len(snippets()) == 2


@pytest.mark.parametrize(("status", "drift"), [("shipped", False), ("lost", True)])
def test_readme_snippets_run_as_written(tmp_path, monkeypatch, status, drift):
    ns: dict = {"continue_agent": _fake_agent(status)}
    printed = _run(snippets(), ns, tmp_path, monkeypatch)
    lines = printed.splitlines()
    assert lines[0] == "3 tool lookup_order {'status': 'shipped'}"
    assert lines[1] == "replayed tool lookup_order"
    assert lines[2] == f"{drift} " + ns["result"].report.render_table().splitlines()[0]
    findings = ns["result"].report.findings
    assert [(f.kind.value, f.candidate.name) for f in findings] == (
        [("output_changed", "lookup_order")] if drift else []
    )
    assert ns["result"].report.candidate_steps == 1
    assert ns["result"].target == {"intent": "refund", "order": "A-17"}
    assert sorted(p.suffix for p in (tmp_path / "recordings").iterdir()) == [".jsonl"]


def test_readme_quickstart_under_sdk_disabled(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_SDK_DISABLED, "true")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        printed = _run(snippets()[:1], {}, tmp_path, monkeypatch)
    assert printed == ""  # no step was recorded, and nothing raised
    assert [r.getMessage() for r in caplog.records if r.name == "otel_replay"] == [WARNING]


def test_readme_hybrid_reexecution_serves_traced_tools_from_the_recording(tmp_path, monkeypatch):
    agent = _traced_agent("lost")  # the live tool would now answer differently
    ns: dict = {"continue_agent": agent}
    _run(snippets(), ns, tmp_path, monkeypatch)
    assert agent.calls == []  # served from the recording, not called
    assert ns["result"].report.findings == []
    assert ns["result"].drift_detected is False
