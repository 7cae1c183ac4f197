"""Span normalization: lazily and eagerly normalized steps agree (the SDK fast path that
reads span parts is pinned to the public API in tests/test_sdkspan.py)."""

from __future__ import annotations

from otel_replay.model.steps import normalize_span
from tests.spanfactory import status_spans


def test_lazy_and_eager_steps_are_equal() -> None:
    for span in status_spans():
        assert normalize_span(span, "s", lazy=True) == normalize_span(span, "s")
