"""Report files from ``otel-replay diff --output`` and the renderers: JSON, Markdown (PR
comment), JUnit XML (validated against the JUnit schema CI tools read) and the HTML
side-by-side view (rendered in headless Chromium; a Playwright click opens a step)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, llm_call, tool_call
from otel_replay.cli.diff import select_steps
from otel_replay.cli.main import main
from otel_replay.drift.compare import compare
from otel_replay.drift.outputs import SessionComparison, step_view
from otel_replay.drift.report_files import render_report
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording

SCHEMA = Path(__file__).parent / "data" / "schemas" / "junit-10.xsd"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

BASE = [
    ("search", {"q": "paris weather", "limit": 3}, ["doc-1", "doc-2"]),
    ("fetch", {"id": "doc-1"}, "sunny, 21 C"),
]


def _record(path: Path, sid: str, tools: list[tuple[str, object, object]]) -> None:
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(path)))
    t = provider.get_tracer("t")
    with agent_run("weather", session_id=sid, tracer=t):
        with llm_call("fake-model", messages="weather in Paris?", tracer=t) as call:
            call.set_output("I will search.")
        for name, args, result in tools:
            with tool_call(name, args, tracer=t) as tc:
                tc.set_result(result)
        with llm_call("fake-model", messages="summarize", tracer=t) as call:
            call.set_output("It is sunny.")
    provider.shutdown()


def _pair(tmp_path: Path) -> tuple[str, str]:
    """A baseline and a candidate whose search query changed and which calls one more tool."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _record(a, "s1", BASE)
    changed = [
        ("search", {"q": "lyon weather", "limit": 3}, ["doc-1", "doc-2"]),
        ("fetch", {"id": "doc-1"}, "sunny, 21 C"),
        ("translate", {"text": "sunny"}, "ensoleille"),
    ]
    _record(b, "s1", changed)
    return str(a), str(b)


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), out=buf)
    return code, buf.getvalue()


def test_diff_writes_every_report_format(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    outs = [str(tmp_path / f"r.{ext}") for ext in ("json", "md", "xml", "html")]
    args = ["diff", a, b, "--fail-on", "warning"]
    for o in outs:
        args += ["--output", o]
    code, _ = run_cli(*args)
    assert code == 1
    doc = json.loads(Path(outs[0]).read_text())
    assert doc["summary"] == {"sessions": 1, "failed": 1, "findings": 2}
    (sess,) = doc["sessions"]
    assert sess["name"] == "s1"
    assert sess["failing"] == [0, 1]
    assert [(f["kind"], f["paths"]) for f in sess["report"]["findings"]] == [
        ("arguments_changed", ["$.q"]),
        ("unexpected_step", []),
    ]
    md = Path(outs[1]).read_text()
    assert md.splitlines()[2] == (
        "**FAIL: 1 of 1 session failed (2 findings: 0 critical, 2 warning, 0 info)**"
    )
    assert (
        "| s1 | **FAIL** | 4 / 5 | 0 | 2 | 0 | first divergence at step 1: expected tool 'search', got tool 'search' ($.q) |"
        in md
    )
    assert md.count("<details>") == 1 and md.count("</details>") == 1
    assert (
        "| 1 | warning | `arguments_changed` | 1 | tool 'search' #3 | tool 'search' #3 | $.q "
        '| <code>{"$.q": "paris weather"}</code> | <code>{"$.q": "lyon weather"}</code> |'
    ) in md
    assert "| 2 | warning | `unexpected_step` | 3 | - | tool 'translate' #5 |" in md


def test_diff_unknown_output_suffix_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _pair(tmp_path)
    code, out = run_cli("diff", a, b, "--output", str(tmp_path / "r.pdf"))
    assert code == 2 and out == ""
    assert (
        "unknown report format (file suffix one of .json, .md, .markdown, .xml, .html, .htm)"
        in (capsys.readouterr().err)
    )
    assert not (tmp_path / "r.pdf").exists()


def _comparisons(tmp_path: Path) -> list[SessionComparison]:
    a, b = _pair(tmp_path)
    sa = select_steps(load_recording(a), "s1", None)
    sb = select_steps(load_recording(b), "s1", None)
    return [
        SessionComparison(
            "same run", compare(sa, sa), [step_view(s) for s in sa], [step_view(s) for s in sa], []
        ),
        SessionComparison(
            "changed run",
            compare(sa, sb),
            [step_view(s) for s in sa],
            [step_view(s) for s in sb],
            failing=[1],  # the inserted tool fails, the changed argument is tolerated
        ),
    ]


def test_junit_validates_against_the_ci_schema(tmp_path: Path) -> None:
    etree = _require("lxml.etree")
    xml = render_report(_comparisons(tmp_path), "junit")
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    doc = etree.fromstring(xml.encode("utf-8"))
    schema.assertValid(doc)
    cases = doc.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["same run", "changed run"]
    assert cases[0].findall("failure") == []
    (failure,) = cases[1].findall("failure")
    assert failure.get("type") == "unexpected_step"
    assert failure.get("message") == "[warning] unexpected step at 3: tool 'translate'"
    assert "actual:   " + json.dumps({"kind": "tool", "name": "translate", "sequence": 5}) in (
        failure.text
    )
    assert "tolerated: [warning] arguments_changed" in cases[1].find("system-out").text
    assert doc.get("tests") == "2" and doc.get("failures") == "1"


def test_junit_schema_is_the_one_jenkins_validates_with() -> None:
    """The schema is the Jenkins xUnit plugin's junit-10.xsd (source named in its header),
    and it rejects what CI tools reject: a test case without a name, a failure outside a
    test case, a suite without its counts."""
    etree = _require("lxml.etree")
    text = SCHEMA.read_text()
    assert "repository: https://github.com/jenkinsci/xunit-plugin" in text
    assert "commit:     8c515de2804b3fd591a3b0f1ff8908a1b1a41887" in text
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    ok = '<testsuites><testsuite name="s" tests="1" failures="1" errors="0">'
    assert schema.validate(
        etree.fromstring(
            ok + '<testcase name="t"><failure type="k"/>'
            '<failure type="k"/></testcase></testsuite></testsuites>'
        )
    )
    for bad in (
        ok + '<testcase><failure type="k"/></testcase></testsuite></testsuites>',
        ok + '<failure type="k"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s"><testcase name="t"/></testsuite></testsuites>',
    ):
        assert not schema.validate(etree.fromstring(bad)), bad


def test_junit_with_control_characters_stays_valid(tmp_path: Path) -> None:
    etree = _require("lxml.etree")
    comps = _comparisons(tmp_path)
    comps[1].name = "bad\x01name <&>"
    xml = render_report(comps, "junit")
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    doc = etree.fromstring(xml.encode("utf-8"))
    schema.assertValid(doc)
    assert doc.findall("testsuite/testcase")[1].get("name") == "bad\ufffdname <&>"


def _require(module: str):  # type: ignore[no-untyped-def]
    """Import ``module``; under CI=true a missing module fails the test instead of skipping
    (except in the minimum-versions run, which installs no extra on purpose; the full run
    checks that every test-extra package is installed: tests/test_environment.py)."""
    if (
        os.environ.get("CI", "").lower() == "true"
        and os.environ.get("OTEL_REPLAY_CORE_ONLY") != "1"
    ):
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as exc:
            pytest.fail(f"{module} is required under CI=true (the test extra): {exc}")
    return pytest.importorskip(module)


def chromium() -> str:
    """Path of the Chromium binary; a failure (never a skip) under CI=true when missing."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required under CI=true (Debian package 'chromium')")
        pytest.skip("chromium not installed")
    return path


def _dump_dom(html_file: Path, tmp_path: Path) -> str:
    proc = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            html_file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return proc.stdout


def test_html_renders_in_chromium_with_divergence_highlighted(tmp_path: Path) -> None:
    lxml_html = _require("lxml.html")
    page = tmp_path / "report.html"
    page.write_text(render_report(_comparisons(tmp_path), "html"), encoding="utf-8")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    dom = lxml_html.fromstring(_dump_dom(page, tmp_path))
    sessions = dom.cssselect("section.session")
    assert [s.get("id") for s in sessions] == ["s1", "s2"]
    same, changed = sessions
    assert same.cssselect(".row.finding") == []
    (fold,) = same.cssselect("details.fold")
    assert fold.cssselect("summary")[0].text_content() == "4 unchanged steps"
    rows = changed.cssselect(".row.finding")
    assert [r.get("data-kinds") for r in rows] == ["arguments_changed", "unexpected_step"]
    first, inserted = rows
    assert "first-divergence" in first.get("class").split()
    assert first.cssselect(".marker")[0].text_content() == "first divergence"
    assert first.cssselect(".side.candidate summary")[0].text_content() == "toolsearch #3"
    assert inserted.cssselect(".side.baseline .absent")[0].text_content() == "(no step)"
    assert inserted.cssselect(".side.candidate summary")[0].text_content() == "tooltranslate #5"
    # the changed JSON path is marked in the tool's arguments, on both sides
    for side in ("baseline", "candidate"):
        (li,) = first.cssselect(f".side.{side} .inputs li.changed")
        assert li.get("data-path") == "$.q"
    # unchanged steps are folded: the model calls and the fetch between the changes
    folds = changed.cssselect("details.fold")
    assert [f.cssselect("summary")[0].text_content() for f in folds] == ["1 unchanged step"] * 3
    assert [f.cssselect(".side.candidate summary")[0].text_content() for f in folds] == [
        "llmfake-model #2",
        "toolfetch #4",
        "llmfake-model #6",
    ]
    assert [li.get("class") for li in changed.cssselect("ol.findings li")] == [
        "tolerated sev-warning",
        "failing sev-warning",
    ]


def test_html_step_opens_on_click(tmp_path: Path) -> None:
    sync_api = _require("playwright.sync_api")
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(_comparisons(tmp_path), "html"), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS[1:])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.as_uri())
            step = page.locator("#s2 .row.first-divergence .side.candidate details.step")
            changed = step.locator(".inputs li.changed")
            assert step.get_attribute("open") is None
            assert not changed.is_visible()
            step.locator("summary").click()
            assert step.get_attribute("open") == ""
            assert changed.is_visible()
            assert changed.inner_text().startswith("q: ")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_missing_chromium_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is required under CI=true"):
        chromium()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="chromium not installed"):
        chromium()


def test_html_escapes_recorded_values(tmp_path: Path) -> None:
    comps = _comparisons(tmp_path)
    evil = "<script>alert(1)</script>"
    comps[1].candidate[1]["name"] = evil
    comps[1].candidate[1]["inputs"] = {evil: evil}
    comps[1].name = evil
    page = render_report(comps, "html")
    assert "<script" not in page
    # session heading, step summary, JSON key, its data-path and the value
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 5
