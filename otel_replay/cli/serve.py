"""``otel-replay serve``: the drift and recording service behind the Collector (the service
itself is :mod:`otel_replay.serve`)."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from typing import Any, TextIO

from otel_replay.cli.render import EXIT_OK, EXIT_USAGE, error, exit_codes_epilog, paragraphs
from otel_replay.core import conventions as c
from otel_replay.serve.config import ServeConfig

__all__ = ["add_serve_parser", "cmd_serve"]


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
        return value

    return parse


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    # the options' defaults are the environment's; the settings without an option keep theirs
    config = dataclasses.replace(
        ServeConfig.from_env(),
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        downstream=args.downstream,
        baselines=args.baselines,
        baseline_source=args.baseline_source,
        record_dir=args.record_dir,
        worker_id=args.worker_id,
        max_held_runs=args.max_held_runs,
        max_held_bytes=args.max_held_bytes,
        run_timeout=args.run_timeout,
        metric_interval=args.metric_interval,
        shutdown_timeout=args.shutdown_timeout,
    )
    from otel_replay.serve.service import Service  # grpc: only when serving

    try:
        service = Service(config)
    except (ValueError, OSError) as exc:
        error("serve", str(exc))
        return EXIT_USAGE
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        service.start()
        print(service.ready_line(), file=out, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        counters = service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(service.summary_line(counters), file=sys.stderr, flush=True)
    return EXIT_OK


def add_serve_parser(sub: Any) -> None:
    env = ServeConfig.from_env()
    p = sub.add_parser(
        "serve",
        help="receive OTLP traces, compute drift of restored runs, export by OTLP",
        description=paragraphs(
            "Run a drift and recording service behind an OpenTelemetry Collector: it receives "
            "OTLP traces (gRPC and HTTP/protobuf or HTTP/JSON), recognizes restored runs by "
            "their agent_replay.replay.* attributes, compares each with its baseline like the "
            "DriftProcessor, and exports the enriched spans, drift log events and metrics by "
            "OTLP to --downstream. Every option defaults to its environment variable "
            "(docs/configuration.md lists them). Prints one 'ready' line when it listens; SIGTERM or SIGINT "
            "stop it gracefully (held runs are compared or forwarded, exporters flushed) with "
            "a summary line on stderr. See docs/fleet.md.",
        ),
        epilog=exit_codes_epilog("serve"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host",
        default=env.host,
        help=f"address to listen on (default {env.host}; ${c.ENV_SERVE_HOST})",
    )
    p.add_argument(
        "--grpc-port",
        type=_port,
        default=env.grpc_port,
        metavar="N",
        help=f"OTLP gRPC port, 0 = a free port (default {env.grpc_port}; ${c.ENV_SERVE_GRPC_PORT})",
    )
    p.add_argument(
        "--http-port",
        type=_port,
        default=env.http_port,
        metavar="N",
        help="OTLP/HTTP port: POST /v1/traces (protobuf or JSON, gzip accepted) and "
        f"GET /healthz; 0 = a free port (default {env.http_port}; ${c.ENV_SERVE_HTTP_PORT})",
    )
    p.add_argument(
        "--downstream",
        default=env.downstream,
        metavar="URL",
        help="where spans, drift log events and metrics go: http(s)://HOST:PORT (OTLP/HTTP "
        "protobuf to URL/v1/traces|logs|metrics) or grpc://HOST:PORT (OTLP gRPC, insecure); "
        f"default: the OTEL_EXPORTER_OTLP_* variables (${c.ENV_SERVE_DOWNSTREAM})",
    )
    p.add_argument(
        "--baselines",
        default=env.baselines,
        metavar="DIR",
        help=f"recording directory with the baseline runs, re-read when it changes (${c.ENV_SERVE_BASELINES})",
    )
    p.add_argument(
        "--baseline-source",
        default=env.baseline_source,
        metavar="SPEC",
        help="phoenix:URL or jaeger:URL: query that backend for a restored run's baseline "
        f"(${c.ENV_SERVE_BASELINE_SOURCE})",
    )
    p.add_argument(
        "--record-dir",
        default=env.record_dir,
        metavar="DIR",
        help="also record every received span there (crash-safe, one file per worker, "
        f"spans-<worker>.jsonl) (${c.ENV_SERVE_RECORD_DIR})",
    )
    p.add_argument(
        "--worker-id",
        default=env.worker_id,
        metavar="ID",
        help="this worker's id: attribute agent_replay.serve.worker on every forwarded span, "
        f"service.instance.id of its metrics (default <hostname>-<pid>; ${c.ENV_SERVE_WORKER_ID})",
    )
    p.add_argument(
        "--max-held-runs",
        type=_positive(int),
        default=env.max_held_runs,
        metavar="N",
        help=f"restored runs held at once; more get the retryable status (default {env.max_held_runs}; "
        f"${c.ENV_SERVE_MAX_HELD_RUNS})",
    )
    p.add_argument(
        "--max-held-bytes",
        type=_positive(int),
        default=env.max_held_bytes,
        metavar="B",
        help=f"bytes of held runs (default {env.max_held_bytes}; ${c.ENV_SERVE_MAX_HELD_BYTES})",
    )
    p.add_argument(
        "--run-timeout",
        type=_positive(float),
        default=env.run_timeout,
        metavar="SECONDS",
        help="a held run whose root never ends is compared (or forwarded) after this, counted "
        f"(default {env.run_timeout:g}; ${c.ENV_SERVE_RUN_TIMEOUT})",
    )
    p.add_argument(
        "--metric-interval",
        type=_positive(float),
        default=env.metric_interval,
        metavar="SECONDS",
        help=f"metric export interval (default {env.metric_interval:g}; ${c.ENV_SERVE_METRIC_INTERVAL})",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=_positive(float),
        default=env.shutdown_timeout,
        metavar="SECONDS",
        help=f"bound of the graceful shutdown (default {env.shutdown_timeout:g})",
    )
    p.set_defaults(func=cmd_serve)
