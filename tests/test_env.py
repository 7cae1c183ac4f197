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


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "otel_replay"]


def test_http_timeout_invalid_value_warns_once_and_uses_default(monkeypatch, caplog):
    from otel_replay.core import env
    from otel_replay.restore.http_client import _timeout_seconds

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_HTTP_TIMEOUT, "soon")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        assert _timeout_seconds(None) == c.DEFAULT_HTTP_TIMEOUT_SECONDS
        assert _timeout_seconds(None) == c.DEFAULT_HTTP_TIMEOUT_SECONDS
    monkeypatch.setenv(c.ENV_HTTP_TIMEOUT, "-3")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        assert _timeout_seconds(None) == c.DEFAULT_HTTP_TIMEOUT_SECONDS
    assert _warnings(caplog) == [
        "OTEL_REPLAY_HTTP_TIMEOUT='soon' is not a positive number; using the default 10.0",
        "OTEL_REPLAY_HTTP_TIMEOUT='-3' is not a positive number; using the default 10.0",
    ]


def test_bool_and_choice_variables_warn_once_on_invalid_values(monkeypatch, caplog):
    from otel_replay.core import env
    from otel_replay.drift.processor import DriftProcessor

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_DRIFT_SPAN_EVENTS, "sometimes")
    monkeypatch.setenv(c.ENV_DRIFT_LOG_EVENTS, "always")
    monkeypatch.setenv(c.ENV_DRIFT_EVALUATION_EVENTS, "OFF")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        procs = [DriftProcessor([]), DriftProcessor([])]
    assert [(p.span_events, p.log_events.mode, p.evaluation_events) for p in procs] == [
        (True, "auto", False)
    ] * 2
    assert _warnings(caplog) == [
        "OTEL_REPLAY_DRIFT_SPAN_EVENTS='sometimes' is not true or false; using the default true",
        "OTEL_REPLAY_DRIFT_LOG_EVENTS='always' is not one of auto, true, false; using the "
        "default auto",
    ]


def test_optional_limit_warns_once_and_means_no_limit(monkeypatch, caplog):
    from otel_replay.core import env

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv(c.ENV_RECORDING_MAX_BYTES, "0")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        assert env.env_int_or_none(c.ENV_RECORDING_MAX_BYTES) is None
        assert env.env_int_or_none(c.ENV_RECORDING_MAX_BYTES) is None
    assert _warnings(caplog) == [
        "OTEL_REPLAY_RECORDING_MAX_BYTES='0' is not a positive integer; using no limit"
    ]
