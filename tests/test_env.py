from __future__ import annotations

import logging

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c


def test_invalid_env_value_falls_back_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv(c.ENV_BUFFER_MAX_STEPS, "lots")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        first = ReplayProcessor()
        second = ReplayProcessor()
    assert (first.max_steps, second.max_steps) == (c.DEFAULT_BUFFER_MAX_STEPS,) * 2
    assert [r.getMessage() for r in caplog.records] == [
        f"{c.ENV_BUFFER_MAX_STEPS}='lots' is not a positive integer; using the default "
        f"{c.DEFAULT_BUFFER_MAX_STEPS}"
    ]


def test_valid_env_value_is_used(monkeypatch):
    monkeypatch.setenv(c.ENV_BUFFER_MAX_SESSIONS, " 7 ")
    assert ReplayProcessor().max_sessions == 7
