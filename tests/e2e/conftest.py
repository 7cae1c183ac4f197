"""Session fixtures that run the real backends on free loopback ports.

Fixtures (all session scoped unless noted) and what a test gets from them:

``jaeger``      -> backends.Jaeger     .query_url ("http://127.0.0.1:P": UI, /api/v3, /api/traces)
                                       .otlp_grpc_endpoint ("127.0.0.1:P"), .otlp_http_endpoint
``collector``   -> backends.Collector  .otlp_grpc_endpoint ("127.0.0.1:P", use insecure=True)
                                       .otlp_http_endpoint ("http://127.0.0.1:P", + /v1/traces)
                                       .prometheus_exporter_endpoint, .metrics_url
                  runs collector-config.yaml exporting to ``jaeger``, with
                  OTEL_REPLAY_SAMPLING_PERCENTAGE=100 (keep every trace, so tests can find their
                  non-drifting traces too) and OTEL_REPLAY_DECISION_WAIT=2s.
``prometheus``  -> backends.Prometheus .url ("http://127.0.0.1:P"), scraping ``collector`` every 1s
``phoenix``     -> backends.Phoenix    .url, .otlp_http_traces_endpoint (url + "/v1/traces")
``e2e_stack``   -> E2EStack(collector, jaeger, prometheus) + ``.otel_env`` (OTEL_EXPORTER_* vars
                  pointing an SDK/the demo at the collector)
``collector_factory`` (function scope) -> start(env=..., name=...) an extra collector exporting to
                  the same Jaeger (e.g. sampling 0 % or redaction on); stopped after the test.

Binaries come from ${OTEL_REPLAY_CACHE:-~/.cache/otel-replay} (scripts/backends/setup-all.sh).
When one is missing the tests that need it are skipped, or FAIL when CI=true.
Backend logs are written under the session tmp dir and appended to every failing test's report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import backends
from .backends import MissingBackend, ProcessGroup

_GROUP_KEY = pytest.StashKey[ProcessGroup]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _missing(what: str) -> None:
    msg = f"e2e backend missing: {what}. Run scripts/backends/setup-all.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def e2e_process_group(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path_factory.mktemp("e2e-backends"))
    request.config.stash[_GROUP_KEY] = group
    try:
        yield group
    finally:
        group.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        group = item.config.stash.get(_GROUP_KEY, None)
        if group is not None and group.processes:
            report.sections.append(("e2e backend logs", group.logs_report()))
    return report


def _start(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except MissingBackend as exc:
        _missing(str(exc))
    except RuntimeError as exc:  # started but never became ready: always a failure
        pytest.fail(f"{what} failed to start:\n{exc}", pytrace=False)


@pytest.fixture(scope="session")
def jaeger(e2e_process_group: ProcessGroup) -> backends.Jaeger:
    return _start("jaeger", backends.start_jaeger, e2e_process_group)


SESSION_COLLECTOR_ENV = {
    "OTEL_REPLAY_SAMPLING_PERCENTAGE": "100",
    "OTEL_REPLAY_DECISION_WAIT": "2s",
}


@pytest.fixture(scope="session")
def collector(e2e_process_group: ProcessGroup, jaeger: backends.Jaeger) -> backends.Collector:
    return _start(
        "collector",
        backends.start_collector,
        e2e_process_group,
        jaeger.otlp_grpc_endpoint,
        env=SESSION_COLLECTOR_ENV,
    )


@pytest.fixture(scope="session")
def prometheus(
    e2e_process_group: ProcessGroup, collector: backends.Collector
) -> backends.Prometheus:
    return _start(
        "prometheus",
        backends.start_prometheus,
        e2e_process_group,
        e2e_process_group.log_dir / "prometheus",
        collector.prometheus_exporter_endpoint,
        collector.telemetry_endpoint,
    )


@pytest.fixture(scope="session")
def phoenix(e2e_process_group: ProcessGroup) -> backends.Phoenix:
    return _start(
        "phoenix", backends.start_phoenix, e2e_process_group, e2e_process_group.log_dir / "phoenix"
    )


@dataclass
class E2EStack:
    collector: backends.Collector
    jaeger: backends.Jaeger
    prometheus: backends.Prometheus

    @property
    def otel_env(self) -> dict[str, str]:
        """Environment that points an OTel SDK (e.g. the product's demo) at the collector."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{self.collector.otlp_grpc_endpoint}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }


@pytest.fixture(scope="session")
def e2e_stack(
    collector: backends.Collector, jaeger: backends.Jaeger, prometheus: backends.Prometheus
) -> E2EStack:
    return E2EStack(collector, jaeger, prometheus)


class CollectorFactory:
    def __init__(self, group: ProcessGroup, jaeger: backends.Jaeger) -> None:
        self._group, self._jaeger = group, jaeger
        self.started: list[backends.Collector] = []

    def start(self, env: dict[str, str] | None = None, name: str = "collector-extra"):
        name = f"{name}-{len(self._group.processes)}"
        col = _start(
            name,
            backends.start_collector,
            self._group,
            self._jaeger.otlp_grpc_endpoint,
            name=name,
            env=env,
        )
        self.started.append(col)
        return col

    def stop_all(self) -> None:
        for col in self.started:
            col.process.stop()


@pytest.fixture
def collector_factory(
    e2e_process_group: ProcessGroup, jaeger: backends.Jaeger
) -> Iterator[CollectorFactory]:
    factory = CollectorFactory(e2e_process_group, jaeger)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    try:
        return backends.collector_binary()
    except MissingBackend as exc:
        _missing(str(exc))
        raise  # unreachable
