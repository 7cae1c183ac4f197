"""Reading the ``OTEL_REPLAY_*`` environment variables (names and defaults live in
``conventions``), and :data:`SETTINGS`, the one list of them that ``docs/configuration.md``'s
table is generated from (``python scripts/env_table.py --write``).

Every reader treats an unset or empty variable as "use the default" silently; any other value
it cannot use gives the default with a warning, logged once per variable and value.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from otel_replay.core import conventions as c

_logger = logging.getLogger("otel_replay")
_warned: set[tuple[str, str]] = set()

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def warn_once(key: tuple[str, str], message: str, *args: object) -> None:
    """Log ``message % args`` as a warning the first time ``key`` is seen."""
    if key in _warned:
        return
    _warned.add(key)
    _logger.warning(message, *args)


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def env_int(name: str, default: int) -> int:
    """The positive integer in ``$name``, else ``default``."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value > 0:
        return value
    warn_once(
        (name, raw), "%s=%r is not a positive integer; using the default %d", name, raw, default
    )
    return default


def env_int_or_none(name: str) -> int | None:
    """The positive integer in ``$name``, else ``None`` (no limit)."""
    raw = _raw(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value > 0:
        return value
    warn_once((name, raw), "%s=%r is not a positive integer; using no limit", name, raw)
    return None


def env_float(name: str, default: float) -> float:
    """The positive finite number in ``$name``, else ``default``."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and value > 0:
        return value
    warn_once(
        (name, raw), "%s=%r is not a positive number; using the default %s", name, raw, default
    )
    return default


def env_bool(name: str, default: bool) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``) in ``$name``."""
    raw = _raw(name)
    if not raw:
        return default
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    warn_once(
        (name, raw),
        "%s=%r is not true or false; using the default %s",
        name,
        raw,
        str(default).lower(),
    )
    return default


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive) in ``$name``, else ``default``."""
    raw = _raw(name)
    if not raw:
        return default
    if raw.lower() in choices:
        return raw.lower()
    warn_once(
        (name, raw),
        "%s=%r is not one of %s; using the default %s",
        name,
        raw,
        ", ".join(choices),
        default,
    )
    return default


def env_str(name: str) -> str | None:
    """The value of ``$name`` stripped, or ``None`` when unset or empty."""
    return _raw(name) or None


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED`` as the OpenTelemetry SDK reads it (only ``true`` disables)."""
    raw = _raw(c.ENV_SDK_DISABLED)
    low = raw.lower()
    if raw and low not in ("true", "false"):
        warn_once(
            (c.ENV_SDK_DISABLED, raw),
            "%s=%r is not true or false; the OpenTelemetry SDK treats it as false",
            c.ENV_SDK_DISABLED,
            raw,
        )
    return low == "true"


def warn_sdk_disabled() -> None:
    """Warn once per process that otel-replay records nothing because the SDK is disabled."""
    warn_once(
        (c.ENV_SDK_DISABLED, "true"),
        "%s=true: the OpenTelemetry SDK is disabled, so otel-replay records nothing "
        "(checkpoint() returns ids of checkpoints that are not recorded; the processors "
        "and configure() do nothing)",
        c.ENV_SDK_DISABLED,
    )


# --------------------------------------------------------------------------------------------
# The documented list


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default as documented, and what it does."""

    name: str
    default: str
    meaning: str


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        c.ENV_RECORDING_DIR,
        "unset",
        "`configure()` / the configurator also write every span to a recording here",
    ),
    Setting(
        c.ENV_RECORDING_FORMAT,
        c.DEFAULT_RECORDING_FORMAT,
        "format of that recording: `jsonl` (OTLP JSON lines) or `protobuf`",
    ),
    Setting(
        c.ENV_RECORDING_MAX_BYTES,
        "no limit",
        "size cap of each file of that recording (exports over it fail and are counted)",
    ),
    Setting(
        c.ENV_CHECKPOINT_DIR,
        "unset",
        "`configure()` / the configurator store checkpoint state over the inline cap here",
    ),
    Setting(
        c.ENV_REDACT,
        str(c.DEFAULT_REDACT).lower(),
        "`configure()` / the configurator put a `RedactionProcessor` first",
    ),
    Setting(
        c.ENV_DRIFT_SPAN_EVENTS,
        str(c.DEFAULT_DRIFT_SPAN_EVENTS).lower(),
        "drift as `agent_replay.drift` span events on the drifting spans",
    ),
    Setting(
        c.ENV_DRIFT_LOG_EVENTS,
        c.DEFAULT_DRIFT_LOG_EVENTS,
        "drift as `agent_replay.drift` log-based events: `auto` (whenever a LoggerProvider "
        "is configured), `true`, `false`",
    ),
    Setting(
        c.ENV_DRIFT_EVALUATION_EVENTS,
        str(c.DEFAULT_DRIFT_EVALUATION_EVENTS).lower(),
        "each compared run's verdict as a `gen_ai.evaluation.result` event (on the enabled "
        "channels)",
    ),
    Setting(
        c.ENV_DRIFT_IGNORE_PATHS,
        "unset",
        "`configure()` / the configurator: comma-separated JSON paths (`$.eta,$..trace`) the "
        "drift comparison ignores, besides the default ones",
    ),
    Setting(
        c.ENV_DRIFT_MAX_HELD_SPANS,
        str(c.DEFAULT_DRIFT_MAX_HELD_SPANS),
        "spans of one tracked run held by the `DriftProcessor` before it compares early",
    ),
    Setting(
        c.ENV_DRIFT_MAX_REPORTS,
        str(c.DEFAULT_DRIFT_MAX_REPORTS),
        "drift reports the `DriftProcessor` keeps (oldest dropped first)",
    ),
    Setting(
        c.ENV_BUFFER_MAX_STEPS,
        str(c.DEFAULT_BUFFER_MAX_STEPS),
        "buffered steps per session (`ReplayProcessor`)",
    ),
    Setting(
        c.ENV_BUFFER_MAX_BYTES,
        _mib(c.DEFAULT_BUFFER_MAX_BYTES),
        "buffered bytes per session (`ReplayProcessor`)",
    ),
    Setting(
        c.ENV_BUFFER_MAX_SESSIONS,
        str(c.DEFAULT_BUFFER_MAX_SESSIONS),
        "sessions with a buffer (`ReplayProcessor`)",
    ),
    Setting(
        c.ENV_INLINE_STATE_MAX_BYTES,
        _mib(c.DEFAULT_INLINE_STATE_MAX_BYTES),
        "largest checkpoint state carried on the checkpoint span",
    ),
    Setting(
        c.ENV_STATE_MAX_BYTES,
        _mib(c.DEFAULT_STATE_MAX_BYTES),
        "largest checkpoint state at all",
    ),
    Setting(
        c.ENV_RECORDING_MAX_LINE_BYTES,
        _mib(c.DEFAULT_RECORDING_MAX_LINE_BYTES),
        "largest line/frame read from a recording",
    ),
    Setting(
        c.ENV_SERVE_HOST, c.DEFAULT_SERVE_HOST, "`otel-replay serve --host`: address to listen on"
    ),
    Setting(
        c.ENV_SERVE_GRPC_PORT,
        str(c.DEFAULT_SERVE_GRPC_PORT),
        "`otel-replay serve --grpc-port`: OTLP gRPC port (`0`: a free port)",
    ),
    Setting(
        c.ENV_SERVE_HTTP_PORT,
        str(c.DEFAULT_SERVE_HTTP_PORT),
        "`otel-replay serve --http-port`: OTLP/HTTP port (`POST /v1/traces`, `GET /healthz`; "
        "`0`: a free port)",
    ),
    Setting(
        c.ENV_SERVE_DOWNSTREAM,
        "the `OTEL_EXPORTER_OTLP_*` variables",
        "`otel-replay serve --downstream`: `http(s)://HOST:PORT` (OTLP/HTTP protobuf) or "
        "`grpc://HOST:PORT` (OTLP gRPC, insecure) for spans, drift log events and metrics",
    ),
    Setting(
        c.ENV_SERVE_BASELINES,
        "unset",
        "`otel-replay serve --baselines`: recording directory with the baseline runs",
    ),
    Setting(
        c.ENV_SERVE_BASELINE_SOURCE,
        "unset",
        "`otel-replay serve --baseline-source`: `phoenix:URL` or `jaeger:URL` to query for "
        "baselines",
    ),
    Setting(
        c.ENV_SERVE_RECORD_DIR,
        "unset",
        "`otel-replay serve --record-dir`: also record every received span there "
        "(`spans-<worker>.jsonl`)",
    ),
    Setting(
        c.ENV_SERVE_WORKER_ID,
        "`<hostname>-<pid>`",
        "`otel-replay serve --worker-id`: `agent_replay.serve.worker` on forwarded spans, "
        "`service.instance.id` of the worker's metrics",
    ),
    Setting(
        c.ENV_SERVE_MAX_HELD_RUNS,
        str(c.DEFAULT_SERVE_MAX_HELD_RUNS),
        "`otel-replay serve --max-held-runs`: restored runs held at once (more: retryable status)",
    ),
    Setting(
        c.ENV_SERVE_MAX_HELD_BYTES,
        _mib(c.DEFAULT_SERVE_MAX_HELD_BYTES),
        "`otel-replay serve --max-held-bytes`: bytes of held runs (more: retryable status)",
    ),
    Setting(
        c.ENV_SERVE_RUN_TIMEOUT,
        f"{c.DEFAULT_SERVE_RUN_TIMEOUT_SECONDS:g} s",
        "`otel-replay serve --run-timeout`: a held run whose root never ends is compared (or "
        "forwarded) after this",
    ),
    Setting(
        c.ENV_SERVE_METRIC_INTERVAL,
        f"{c.DEFAULT_SERVE_METRIC_INTERVAL_SECONDS:g} s",
        "`otel-replay serve --metric-interval`: metric export interval",
    ),
    Setting(
        c.ENV_SERVE_MAX_REQUEST_BYTES,
        _mib(c.DEFAULT_SERVE_MAX_REQUEST_BYTES),
        "`otel-replay serve`: largest OTLP request accepted (after gzip decompression)",
    ),
    Setting(
        c.ENV_SERVE_MAX_QUEUED_SPANS,
        str(c.DEFAULT_SERVE_MAX_QUEUED_SPANS),
        "`otel-replay serve`: spans waiting for export before requests get the retryable status",
    ),
    Setting(
        c.ENV_HTTP_TIMEOUT,
        f"{c.DEFAULT_HTTP_TIMEOUT_SECONDS:g} s",
        "timeout of each HTTP request to a trace backend (Phoenix, Jaeger) in seconds",
    ),
)

#: Standard OpenTelemetry variables otel-replay reads (documented in the same table).
STANDARD_SETTINGS: tuple[Setting, ...] = (
    Setting(
        c.ENV_SDK_DISABLED,
        "false",
        "`true`: the SDK records nothing; `checkpoint()`, the processors and `configure()` "
        "become no-ops with one warning, `otel-replay demo` says so; `otel-replay serve` "
        "still forwards and compares what it receives, without its own metrics (one warning)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "unset",
        "`otel-replay demo` also exports spans, metrics and drift log events here",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "grpc",
        "protocol of that export (`grpc`, `http/protobuf`)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "unset",
        "`otel-replay serve` without `--downstream`: where spans go (else "
        "`OTEL_EXPORTER_OTLP_ENDPOINT`)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "unset",
        "`otel-replay serve` without `--downstream`: protocol of the span export (else "
        "`OTEL_EXPORTER_OTLP_PROTOCOL`)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "unset",
        "`otel-replay serve` without `--downstream`: `key=value,...` headers of the span export "
        "(`OTEL_EXPORTER_OTLP_TRACES_HEADERS` first)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "unset",
        "as `OTEL_EXPORTER_OTLP_HEADERS`, for spans only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_INSECURE",
        "unset",
        "`otel-replay serve` without `--downstream`, OTLP gRPC: `true` plain, `false` TLS; "
        "unset: plain only to an `http://` endpoint; an `https://` endpoint is always TLS (as "
        "the SDK's gRPC exporters decide; `OTEL_EXPORTER_OTLP_TRACES_INSECURE` first)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
        "unset",
        "as `OTEL_EXPORTER_OTLP_INSECURE`, for spans only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "unset",
        "`otel-replay serve`, TLS to the downstream (`https://`, or gRPC with TLS): the CA "
        "certificate file (PEM) the downstream's certificate is verified with; unset: the "
        "system's CAs (`OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` first). A file that cannot be "
        "used stops the start with an error naming the variable",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "unset",
        "as `OTEL_EXPORTER_OTLP_CERTIFICATE`, for spans only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        "unset",
        "`otel-replay serve`, mutual TLS to the downstream: the worker's private key file "
        "(PEM), with `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` (both or neither; "
        "`OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY` first)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        "unset",
        "as `OTEL_EXPORTER_OTLP_CLIENT_KEY`, for spans only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "unset",
        "`otel-replay serve`, mutual TLS: the worker's certificate chain file (PEM), with "
        "`OTEL_EXPORTER_OTLP_CLIENT_KEY` (`OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE` first)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "unset",
        "as `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, for spans only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "10000 (ms)",
        "`otel-replay serve`: bound of one span export, retries included "
        "(`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` first)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "unset",
        "as `OTEL_EXPORTER_OTLP_TIMEOUT`, for spans only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "unset",
        "`otel-replay serve` without `--downstream`: where drift log events go (else "
        "`OTEL_EXPORTER_OTLP_ENDPOINT`, with `/v1/logs` over HTTP)",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "unset",
        "as `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, for drift log events",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "unset",
        "as `OTEL_EXPORTER_OTLP_HEADERS`, for drift log events only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        "unset",
        "as `OTEL_EXPORTER_OTLP_TIMEOUT`, for drift log events only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
        "unset",
        "as `OTEL_EXPORTER_OTLP_INSECURE`, for drift log events only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
        "unset",
        "as `OTEL_EXPORTER_OTLP_CERTIFICATE`, for drift log events only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
        "unset",
        "as `OTEL_EXPORTER_OTLP_CLIENT_KEY`, for drift log events only",
    ),
    Setting(
        "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
        "unset",
        "as `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, for drift log events only",
    ),
    Setting(
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        "512",
        "`otel-replay serve`: drift log records per export request",
    ),
    Setting(
        "OTEL_BLRP_SCHEDULE_DELAY",
        "1000 (ms)",
        "`otel-replay serve`: longest wait before queued drift log records are exported",
    ),
    Setting(
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "2048",
        "`otel-replay serve`: drift log records queued at most (more are dropped, counted in "
        "`log_records_dropped`)",
    ),
    Setting(
        "OTEL_METRICS_EXPORTER",
        "otlp",
        "`none`: `otel-replay demo` exports no metrics (e.g. for a traces-only backend)",
    ),
    Setting(
        "OTEL_LOGS_EXPORTER",
        "otlp",
        "`none`: `otel-replay demo` exports no drift log events",
    ),
    Setting(
        "PHOENIX_API_KEY",
        "unset",
        'API key sent to Phoenix by `restore(source="phoenix+http://...")`',
    ),
)


def settings_table() -> str:
    """The Markdown table of :data:`SETTINGS` and :data:`STANDARD_SETTINGS`."""
    rows = ["| environment variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS + STANDARD_SETTINGS:
        rows.append(f"| `{s.name}` | {s.default} | {s.meaning} |")
    return "\n".join(rows) + "\n"
