"""HTTP/polling helpers for e2e tests (stdlib only, loopback only): PromQL, Jaeger, Phoenix.

from .helpers import wait_for, prom_query, wait_for_jaeger_trace, phoenix_spans
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def get_json(url: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def get_status(url: str, timeout: float = 10.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(
    probe: Callable[[], T | None], timeout: float, interval: float = 0.5, what: str = "condition"
) -> T:
    """Call ``probe`` until it returns something truthy; return it, or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}; last error: {last_exc!r}"
            )
        time.sleep(interval)


def prom_query(prom_url: str, promql: str) -> list[dict[str, Any]]:
    """Instant PromQL query; returns the result vector (list of {metric, value})."""
    body = get_json(f"{prom_url}/api/v1/query", {"query": promql})
    assert body["status"] == "success", body
    return body["data"]["result"]


def otlp_attrs(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP/JSON KeyValue list -> plain dict (intValue strings become int)."""
    out: dict[str, Any] = {}
    for kv in attributes or []:
        value = kv.get("value", {})
        if "stringValue" in value:
            out[kv["key"]] = value["stringValue"]
        elif "intValue" in value:
            out[kv["key"]] = int(value["intValue"])
        elif "boolValue" in value:
            out[kv["key"]] = value["boolValue"]
        elif "doubleValue" in value:
            out[kv["key"]] = value["doubleValue"]
        else:
            out[kv["key"]] = value
    return out


# ------------------------------------------------------------------------------ Jaeger
def jaeger_trace(query_url: str, trace_id: str) -> list[dict[str, Any]] | None:
    """All spans of a trace from Jaeger's /api/v3 (OTLP JSON, ids as hex), or None if absent.

    Each span dict gets ``_resource`` (resource attributes as a dict) and ``_scope``.
    """
    if get_status(f"{query_url}/api/v3/traces/{trace_id}") != 200:
        return None
    body = get_json(f"{query_url}/api/v3/traces/{trace_id}")
    spans = []
    for rs in body["result"]["resourceSpans"]:
        resource = otlp_attrs(rs.get("resource", {}).get("attributes", []))
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                spans.append({**span, "_resource": resource, "_scope": ss.get("scope", {})})
    return spans or None


def wait_for_jaeger_trace(
    query_url: str, trace_id: str, min_spans: int = 1, timeout: float = 45.0
) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (s := jaeger_trace(query_url, trace_id)) and len(s) >= min_spans and s,
        timeout,
        what=f"trace {trace_id} with >= {min_spans} spans in Jaeger",
    )


def jaeger_search(
    query_url: str, service: str, tags: dict[str, str], lookback: str = "1h"
) -> set[str]:
    """Trace ids from Jaeger's search API (what Grafana's Jaeger datasource uses)."""
    body = get_json(
        f"{query_url}/api/traces",
        {"service": service, "tags": json.dumps(tags), "limit": 100, "lookback": lookback},
    )
    return {tr["traceID"] for tr in body["data"]}


# ------------------------------------------------------------------------------ Phoenix
def phoenix_spans(
    phoenix_url: str, trace_id: str, project: str = "default"
) -> list[dict[str, Any]]:
    """Spans of one trace from Phoenix's REST API (``data`` of /v1/projects/{project}/spans)."""
    body = get_json(
        f"{phoenix_url}/v1/projects/{project}/spans", {"trace_id": trace_id, "limit": 1000}
    )
    return body["data"]
