"""``configure()``: the OpenTelemetry SDK as its standard configurator installs it (exporters,
sampler, resource and propagation from the ``OTEL_*`` variables) plus otel-replay's
processors, in one call.

What is added to the ``TracerProvider``, in this order:

1. a :class:`~otel_replay.capture.redaction.RedactionProcessor` (``redact``, default
   ``$OTEL_REPLAY_REDACT``, true);
2. the :class:`~otel_replay.capture.processor.ReplayProcessor` (with a
   :class:`~otel_replay.model.stores.DirectoryCheckpointStore` when ``checkpoint_dir`` /
   ``$OTEL_REPLAY_CHECKPOINT_DIR`` is set);
3. one :class:`~otel_replay.drift.processor.DriftProcessor` in front of every export
   processor: those the SDK builds for ``OTEL_TRACES_EXPORTER``, a
   :class:`~otel_replay.formats.exporter.RecordingExporter` when ``recording_dir`` /
   ``$OTEL_REPLAY_RECORDING_DIR`` is set, and the caller's ``span_exporters`` /
   ``export_processors``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.redaction import RedactionProcessor
from otel_replay.core import conventions as c
from otel_replay.core.env import env_bool, env_choice, env_int_or_none, env_str, warn_once
from otel_replay.drift.policy import DEFAULT_IGNORE_PATHS, DriftPolicy
from otel_replay.drift.processor import DriftProcessor
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.model.stores import CheckpointStore, DirectoryCheckpointStore

__all__ = ["Configuration", "ConfigurationError", "configure", "current_configuration"]


class ConfigurationError(RuntimeError):
    """``configure()`` cannot install otel-replay (e.g. another provider is already global)."""


@dataclass(frozen=True)
class Configuration:
    """What :func:`configure` installed (or found installed)."""

    tracer_provider: SdkTracerProvider
    replay: ReplayProcessor
    drift: DriftProcessor
    recording: RecordingExporter | None = None
    redaction: RedactionProcessor | None = None
    checkpoint_store: CheckpointStore | None = None


_LOCK = threading.Lock()
_CURRENT: Configuration | None = None
_CURRENT_ARGS: dict[str, Any] | None = None


class _Deferred(SpanProcessor):
    """Stands where the SDK would add an export processor: that one runs behind the
    ``DriftProcessor`` instead. Does nothing."""

    def __repr__(self) -> str:
        return "<otel_replay export processor moved behind the DriftProcessor>"


_DEFERRED = _Deferred()

_HOW_TO_ADD = (
    "add otel-replay's processors to it yourself:\n"
    "    provider.add_span_processor(ReplayProcessor())\n"
    "    provider.add_span_processor(DriftProcessor(BatchSpanProcessor(exporter)))\n"
    "(instead of adding BatchSpanProcessor(exporter) directly), or call "
    "otel_replay.configure() before anything sets a TracerProvider"
)


def current_configuration() -> Configuration | None:
    """The configuration :func:`configure` installed in this process, if any."""
    return _CURRENT


def configure(
    *,
    recording_dir: str | os.PathLike[str] | None = None,
    recording_format: Literal["jsonl", "protobuf"] | None = None,
    recording_max_bytes: int | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    redact: bool | None = None,
    policy: DriftPolicy | None = None,
    span_events: bool | None = None,
    log_events: bool | Literal["auto"] | None = None,
    evaluation_events: bool | None = None,
    span_exporters: Sequence[SpanExporter] = (),
    export_processors: Sequence[SpanProcessor] = (),
    **sdk_options: Any,
) -> Configuration:
    """Install the OpenTelemetry SDK from the ``OTEL_*`` variables plus otel-replay; returns
    what was installed.

    Every argument left ``None`` is read from its ``OTEL_REPLAY_*`` variable
    (docs/configuration.md). ``sdk_options`` go to the SDK's standard configuration
    (``opentelemetry.sdk._configuration._initialize_components``: ``resource_attributes``,
    ``sampler``, ``trace_exporter_names``, ...).

    Idempotent: a second call returns the first call's :class:`Configuration` (different
    arguments are ignored with a warning). When a ``TracerProvider`` that otel-replay did not
    install is already global, its ``ReplayProcessor`` and ``DriftProcessor`` are returned if
    it has them; otherwise :class:`ConfigurationError` says how to add them.
    """
    global _CURRENT, _CURRENT_ARGS
    args = {
        "recording_dir": recording_dir,
        "recording_format": recording_format,
        "recording_max_bytes": recording_max_bytes,
        "checkpoint_dir": checkpoint_dir,
        "redact": redact,
        "policy": policy,
        "span_events": span_events,
        "log_events": log_events,
        "evaluation_events": evaluation_events,
        "span_exporters": tuple(span_exporters),
        "export_processors": tuple(export_processors),
        **{k: v for k, v in sdk_options.items() if k != "auto_instrumentation_version"},
    }
    with _LOCK:
        if _CURRENT is not None:
            if args != _CURRENT_ARGS:
                warn_once(
                    ("configure", "again"),
                    "otel_replay.configure() was already called in this process; the "
                    "arguments of this call are ignored",
                )
            return _CURRENT
        existing = trace.get_tracer_provider()
        if not isinstance(existing, trace.ProxyTracerProvider):
            return _adopt(existing)
        _CURRENT = _install(args, sdk_options)
        _CURRENT_ARGS = args
        return _CURRENT


def _adopt(provider: Any) -> Configuration:
    """A :class:`Configuration` of a global provider that already has our processors."""
    found = _processors_of(provider)
    replay = next((p for p in found if isinstance(p, ReplayProcessor)), None)
    drift = next((p for p in found if isinstance(p, DriftProcessor)), None)
    if replay is None or drift is None or not isinstance(provider, SdkTracerProvider):
        missing = [
            name
            for name, p in (("ReplayProcessor", replay), ("DriftProcessor", drift))
            if p is None
        ]
        raise ConfigurationError(
            f"a global TracerProvider ({type(provider).__module__}.{type(provider).__qualname__}) "
            f"is already set without otel-replay's {' and '.join(missing) or 'processors'}; "
            + _HOW_TO_ADD
        )
    redaction = next((p for p in found if isinstance(p, RedactionProcessor)), None)
    recording = None
    for p in drift._downstream:
        exporter = getattr(p, "span_exporter", None)
        if isinstance(exporter, RecordingExporter):
            recording = exporter
    return Configuration(provider, replay, drift, recording, redaction, replay.checkpoint_store)


def _processors_of(provider: Any) -> list[SpanProcessor]:
    multi = getattr(provider, "_active_span_processor", None)
    return list(getattr(multi, "_span_processors", ()) or ())


def _policy_from_env() -> DriftPolicy | None:
    """A policy ignoring ``$OTEL_REPLAY_DRIFT_IGNORE_PATHS`` besides the defaults, if set."""
    raw = env_str(c.ENV_DRIFT_IGNORE_PATHS)
    if raw is None:
        return None
    paths = [p.strip() for p in raw.split(",") if p.strip()]
    bad = [p for p in paths if not p.startswith("$")]
    if bad:
        warn_once(
            (c.ENV_DRIFT_IGNORE_PATHS, raw),
            "%s: %s not a JSON path (they start with $); ignoring %s",
            c.ENV_DRIFT_IGNORE_PATHS,
            ", ".join(repr(p) for p in bad),
            "it" if len(bad) == 1 else "them",
        )
    good = tuple(p for p in paths if p.startswith("$"))
    return DriftPolicy(ignore_paths=DEFAULT_IGNORE_PATHS + good) if good else None


def _install(args: dict[str, Any], sdk_options: dict[str, Any]) -> Configuration:
    from opentelemetry.sdk._configuration import _initialize_components

    rec_dir = args["recording_dir"] or env_str(c.ENV_RECORDING_DIR)
    rec_format: Any = args["recording_format"] or env_choice(
        c.ENV_RECORDING_FORMAT, c.DEFAULT_RECORDING_FORMAT, ("jsonl", "protobuf")
    )
    ckpt_dir = args["checkpoint_dir"] or env_str(c.ENV_CHECKPOINT_DIR)
    redact = env_bool(c.ENV_REDACT, c.DEFAULT_REDACT) if args["redact"] is None else args["redact"]

    # Everything that can fail on bad arguments is built before the SDK is installed, so a
    # failure leaves no global state behind.
    store = DirectoryCheckpointStore(ckpt_dir) if ckpt_dir else None
    rec_max = args["recording_max_bytes"] or env_int_or_none(c.ENV_RECORDING_MAX_BYTES)
    recording = (
        RecordingExporter(rec_dir, format=rec_format, max_bytes=rec_max) if rec_dir else None
    )
    redaction = RedactionProcessor() if redact else None
    replay = ReplayProcessor(checkpoint_store=store)
    ours: list[SpanProcessor] = [p for p in (redaction, replay) if p is not None]

    export_factory = sdk_options.pop("export_span_processor", None) or BatchSpanProcessor
    downstream: list[SpanProcessor] = []

    def behind_drift(exporter: SpanExporter, *a: Any, **kw: Any) -> SpanProcessor:
        downstream.append(export_factory(exporter, *a, **kw))
        return _DEFERRED

    user_processors = list(sdk_options.pop("span_processors", None) or ())
    _initialize_components(
        span_processors=ours + user_processors,
        export_span_processor=behind_drift,  # type: ignore[arg-type]
        **sdk_options,
    )
    if recording is not None:
        downstream.append(BatchSpanProcessor(recording))
    downstream += [BatchSpanProcessor(e) for e in args["span_exporters"]]
    downstream += list(args["export_processors"])
    provider = trace.get_tracer_provider()
    if not isinstance(provider, SdkTracerProvider):  # pragma: no cover - SDK contract
        raise ConfigurationError(
            f"the SDK's configuration left {type(provider).__qualname__} as the global "
            "TracerProvider, not the SDK's"
        )
    try:
        drift = DriftProcessor(
            downstream,
            policy=args["policy"] or _policy_from_env(),
            span_events=args["span_events"],
            log_events=args["log_events"],
            evaluation_events=args["evaluation_events"],
        )
    except Exception:
        for p in downstream:  # the spans are still exported, without drift
            provider.add_span_processor(p)
        raise
    provider.add_span_processor(drift)
    return Configuration(provider, replay, drift, recording, redaction, store)
