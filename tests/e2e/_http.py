"""Tiny HTTP/polling helpers for the e2e tests (stdlib only, loopback only)."""

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
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last error: {last_exc!r}")
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
