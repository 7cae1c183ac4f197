"""The documented rule list matches the code, the new token formats are redacted, and the
resource is redacted before recording and export."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.redaction import (
    ATTR_RULE,
    DEFAULT_RULES,
    METRIC_REDACTIONS,
    RedactionProcessor,
    Redactor,
)
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording
from tests.conftest import points_by_attributes

DOC = Path(__file__).resolve().parents[1] / "docs" / "redaction.md"


def _doc_rows() -> list[tuple[str, str, str]]:
    text = DOC.read_text()
    block = text.split("<!-- BEGIN rules")[1].split("<!-- END rules -->")[0]
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[2].strip("`"), cells[3].strip("`")))
    return rows


def test_documented_rules_are_the_code_rules_in_order() -> None:
    assert [name for name, _, _ in _doc_rows()] == [r.name for r in DEFAULT_RULES]


@pytest.mark.parametrize(("name", "example", "redacted"), _doc_rows())
def test_every_documented_example_is_redacted_by_its_rule(
    name: str, example: str, redacted: str
) -> None:
    hits: list[str] = []
    out = Redactor(secret_keys=None).redact_text(f"x {example} y", hits)
    assert out == f"x {redacted} y"
    assert hits == [name]


@pytest.mark.parametrize(
    ("token", "rule"),
    [
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("rk_live_" + "51HaBcDeFgHiJkLmNoPqRsTu", "stripe_key"),
        ("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "huggingface_token"),
        ("glpat-" + "xYz12_ABCdefGHIjkl-mno", "gitlab_token"),
        ("npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "npm_token"),
    ],
)
def test_new_token_formats(token: str, rule: str) -> None:
    hits: list[str] = []
    assert Redactor(secret_keys=None).redact_text(f"token is {token}.", hits) == (
        "token is [REDACTED]."
    )
    assert hits == [rule]


def test_ordinary_words_with_the_prefixes_are_kept() -> None:
    text = "the npm_install step, hf_home dir, sk_live_mode flag"
    assert Redactor(secret_keys=None).redact_text(text) is text


def test_resource_attributes_are_redacted_before_recording(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    key = "sk-" + "EXAMPLEEXAMPLEEXAMPLE00"
    resource = Resource(
        {
            "service.name": "svc",
            "deployment.api_key": key,
            "deployment.note": f"uses {key}",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(RedactionProcessor(meter_provider=meters))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(tmp_path / "r.jsonl")))
    tracer = provider.get_tracer("t")
    for i in range(3):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    provider.shutdown()
    expected = {
        "service.name": "svc",
        "deployment.api_key": "[REDACTED]",
        "deployment.note": "uses [REDACTED]",
    }
    assert [dict(s.resource.attributes) for s in memory.get_finished_spans()] == [expected] * 3
    loaded = load_recording(tmp_path / "r.jsonl")
    assert [dict(s.resource.attributes) for s in loaded.spans] == [expected] * 3
    assert key not in (tmp_path / "r.jsonl").read_text()
    assert dict(resource.attributes)["deployment.api_key"] == key  # the original is untouched
    points = points_by_attributes(reader, METRIC_REDACTIONS)
    assert points == {((ATTR_RULE, "key"),): 1.0, ((ATTR_RULE, "openai_key"),): 1.0}
    assert re.search(r"resource", DOC.read_text())
