"""PhoenixSource / JaegerSource against a real local HTTP server replaying captured answers.

The server (``http.server`` on 127.0.0.1, in a thread) answers with the bodies, statuses and
content types captured from a real Phoenix and a real Jaeger (``tests/data/backends/``, see
its README); error paths the backends cannot be made to produce on demand (a slow answer, a
redirect, a closed port) are produced by the server itself.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_replay.core import conventions as c
from otel_replay.model.errors import CheckpointNotFoundError, CheckpointStoreError
from otel_replay.model.state import encode_state
from otel_replay.model.steps import Step, normalize_span
from otel_replay.model.stores import InMemoryCheckpointStore, set_checkpoint_store
from otel_replay.restore.api import restore
from otel_replay.restore.http_client import (
    BackendAuthError,
    BackendNotFoundError,
    BackendResponseError,
    BackendUnreachableError,
    TraceNotFoundError,
)
from otel_replay.restore.jaeger import JaegerSource
from otel_replay.restore.phoenix import PhoenixSource, phoenix_span
from otel_replay.restore.resolve import source_from_url

DATA = Path(__file__).parent / "data" / "backends"
MANIFEST: dict[str, Any] = json.loads((DATA / "manifest.json").read_text())
PHOENIX = MANIFEST["phoenix_run"]
JAEGER = MANIFEST["jaeger_run"]
PAGE = MANIFEST["phoenix_page_size"]
TIME_KEYS = {"query.start_time_min", "query.start_time_max"}
UNKNOWN = "0" * 32

Handler = Callable[[BaseHTTPRequestHandler], bool]


def _key(path: str, query: list[tuple[str, str]] | list[list[str]]) -> tuple[Any, ...]:
    return (path, tuple((k, "*" if k in TIME_KEYS else v) for k, v in query))


class CannedServer:
    """Answers GETs with the captured response whose path and query match exactly (search
    times excepted). ``override`` handlers run first; unmatched requests get a 599."""

    def __init__(self) -> None:
        self.answers = {_key(e["path"], e["query"]): e for e in MANIFEST["responses"]}
        self.requests: list[tuple[str, list[tuple[str, str]], dict[str, str]]] = []
        self.misses: list[str] = []
        self.overrides: list[Handler] = []
        self.chunked = False
        self.stop = threading.Event()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                server.requests.append((parts.path, query, dict(self.headers)))
                for handler in server.overrides:
                    if handler(self):
                        return
                entry = server.answer(parts.path, query)
                if entry is None:
                    server.misses.append(self.path)
                    self.send_response(599)
                    self.end_headers()
                    return
                server.send(self, entry["status"], entry["content_type"], read(entry["file"]))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def answer(self, path: str, query: list[tuple[str, str]]) -> dict[str, Any] | None:
        entry = self.answers.get(_key(path, query))
        if entry is None and path == "/api/v3/traces":
            # a search of a service the captured run did not use: Jaeger's real empty answer
            empty = next(
                e for e in MANIFEST["responses"] if e["file"] == "jaeger/search-empty.json"
            )
            rest = [(k, v) for k, v in query if k != "query.service_name"]
            if _key(path, [(k, v) for k, v in empty["query"] if k != "query.service_name"]) == _key(
                path, rest
            ):
                entry = empty
        return entry

    def send(self, h: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        if self.chunked:  # no Content-Length: the body ends when the connection closes
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body)
            h.close_connection = True
            return
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def paths(self) -> list[tuple[str, dict[str, str]]]:
        return [(p, dict(q)) for p, q, _ in self.requests]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def read(file: str) -> bytes:
    return (DATA / file).read_bytes()


def entry(file: str) -> dict[str, Any]:
    return next(e for e in MANIFEST["responses"] if e["file"] == file)


@pytest.fixture
def server() -> Iterator[CannedServer]:
    srv = CannedServer()
    try:
        yield srv
    finally:
        srv.close()
    assert srv.misses == [], f"requests without a captured answer: {srv.misses}"


@pytest.fixture
def no_global_store() -> Iterator[None]:
    previous = set_checkpoint_store(None)
    try:
        yield
    finally:
        set_checkpoint_store(previous)


def expected_steps(run: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return run["baselines"][label]


def as_expected(steps: list[Step]) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind,
            "name": s.name,
            "sequence": s.sequence,
            "inputs": s.inputs,
            "outputs": s.outputs,
            "span_id": s.span_id,
            "status": s.status,
        }
        for s in steps
    ]


# --------------------------------------------------------------------------------------------
# Phoenix: the captured run


def test_phoenix_restores_checkpoint_and_follows_pagination(server, no_global_store):
    planned = PHOENIX["checkpoints"]["planned"]
    source = PhoenixSource(server.url, page_size=PAGE)
    ckpt = source.find_checkpoint(planned["id"])
    assert (ckpt.id, ckpt.session_id, ckpt.trace_id, ckpt.span_id) == (
        planned["id"],
        PHOENIX["session_id"],
        PHOENIX["trace_id"],
        planned["span_id"],
    )
    assert (ckpt.sequence, ckpt.step_sequence, ckpt.label) == (
        planned["sequence"],
        planned["step_sequence"],
        "planned",
    )
    assert type(ckpt.step_sequence) is int
    assert ckpt.load_state() == planned["state"]

    server.requests.clear()
    steps = source.steps_after(ckpt)
    assert as_expected(steps) == expected_steps(PHOENIX, "planned")
    page1 = json.loads(read("phoenix/session-page-1.json"))
    session_filter = f'{c.SESSION_ID}:"{PHOENIX["session_id"]}"'
    assert server.paths() == [
        (
            "/v1/projects/default/spans",
            {"limit": str(PAGE), "sort": "id", "order": "asc", "attribute": session_filter},
        ),
        (
            "/v1/projects/default/spans",
            {
                "limit": str(PAGE),
                "sort": "id",
                "order": "asc",
                "attribute": session_filter,
                "cursor": page1["next_cursor"],
            },
        ),
    ]
    assert (
        page1["next_cursor"]
        and json.loads(read("phoenix/session-page-2.json"))["next_cursor"] is None
    )


def test_phoenix_restore_end_to_end(server, no_global_store):
    planned = PHOENIX["checkpoints"]["planned"]
    result = restore(planned["id"], source=PhoenixSource(server.url, page_size=PAGE))
    assert result.state == planned["state"]
    assert as_expected(result.baseline) == expected_steps(PHOENIX, "planned")
    flaky = [s for s in result.baseline if s.name == "flaky"]
    assert [(s.status, s.status_message, s.importance) for s in flaky] == [
        ("error", "RuntimeError: backend down", 1.0)
    ]


def test_phoenix_min_importance(server):
    source = PhoenixSource(server.url, page_size=PAGE)
    ckpt = source.find_checkpoint(PHOENIX["checkpoints"]["planned"]["id"])
    every = source.steps_after(ckpt)
    important = source.steps_after(ckpt, min_importance=0.6)
    assert important == [s for s in every if s.importance >= 0.6]
    assert [s.kind for s in important] == [
        "llm",
        "checkpoint",
        "decision",
        "tool",
        "checkpoint",
        "decision",
    ]


def test_phoenix_state_in_store(server, no_global_store):
    large = PHOENIX["checkpoints"]["large"]
    assert large["location"] == "store"
    source = PhoenixSource(server.url, page_size=PAGE)
    ckpt = source.find_checkpoint(large["id"])
    assert ckpt.state_json is None and ckpt.state_location == "store"
    with pytest.raises(CheckpointStoreError) as info:
        ckpt.load_state(source.checkpoint_store)
    assert str(info.value) == (
        f"checkpoint {large['id']}: state ({ckpt.state_size} bytes) is in a checkpoint store, "
        f"but no store was given"
    )
    store = InMemoryCheckpointStore()
    store.put(ckpt.to_envelope(state_json=encode_state(large["state"])))  # digest is checked
    with_store = PhoenixSource(server.url, page_size=PAGE, checkpoint_store=store)
    assert with_store.checkpoint_store is store
    assert restore(large["id"], source=with_store).state == large["state"]


def test_phoenix_checkpoints_of_session(server):
    got = PhoenixSource(server.url, page_size=PAGE).checkpoints(PHOENIX["session_id"])
    want = sorted(PHOENIX["checkpoints"].items(), key=lambda kv: kv[1]["sequence"])
    assert [(ck.label, ck.id, ck.sequence) for ck in got] == [
        (label, ck["id"], ck["sequence"]) for label, ck in want
    ]


def test_phoenix_unknown_checkpoint(server):
    source = PhoenixSource(server.url, page_size=PAGE)
    with pytest.raises(CheckpointNotFoundError) as info:
        source.find_checkpoint(UNKNOWN)
    assert str(info.value) == (
        f"checkpoint {UNKNOWN} is not in Phoenix project 'default' at {server.url}/"
    )


def test_phoenix_sends_api_key(server):
    source = PhoenixSource(server.url, page_size=PAGE, api_key="secret-key")
    with pytest.raises(CheckpointNotFoundError):
        source.find_checkpoint(UNKNOWN)
    assert server.requests[0][2]["Authorization"] == "Bearer secret-key"


# --------------------------------------------------------------------------------------------
# Phoenix: error answers


def test_phoenix_unknown_project_is_404(server):
    source = PhoenixSource(server.url, project="no-such-project")
    url = source.page_url({c.CHECKPOINT_ID: UNKNOWN})
    with pytest.raises(BackendNotFoundError) as info:
        source.find_checkpoint(UNKNOWN)
    assert (info.value.status, info.value.url) == (404, url)
    assert str(info.value) == (
        f"Phoenix answered HTTP 404 Not Found for {url}: Project with name no-such-project not found"
    )


def test_phoenix_401(server):
    source = PhoenixSource(server.url)
    url = source.page_url({c.CHECKPOINT_ID: UNKNOWN})
    with pytest.raises(BackendAuthError) as info:
        source.find_checkpoint(UNKNOWN)
    assert info.value.status == 401
    assert str(info.value) == (
        f"Phoenix answered HTTP 401 Unauthorized for {url}: Invalid token; "
        f"pass api_key= (a Phoenix API key) or check the credentials"
    )


def test_phoenix_422(server):
    source = PhoenixSource(server.url, page_size=PAGE)
    url = source.page_url({c.CHECKPOINT_ID: UNKNOWN}, cursor="not-a-cursor")
    with pytest.raises(BackendResponseError) as info:
        source._http.get_json(url)
    assert info.value.status == 422
    assert str(info.value) == f"Phoenix answered HTTP 422 for {url}: Invalid cursor"


def test_phoenix_wrong_base_url_answers_html(server):
    source = PhoenixSource(f"{server.url}/not-the-api")
    url = source.page_url({c.CHECKPOINT_ID: UNKNOWN})
    assert url.startswith(f"{server.url}/not-the-api/v1/projects/default/spans?")
    html = read("phoenix/wrong-base-url.html")
    with pytest.raises(BackendResponseError) as info:
        source.find_checkpoint(UNKNOWN)
    excerpt = " ".join(html[:800].decode().split())[:200] + "..."
    assert str(info.value) == (
        f"Phoenix answered {url} with HTTP 200, content type text/html; charset=utf-8 but the "
        f"body is not JSON (JSONDecodeError: Expecting value: line 1 column 1 (char 0)): "
        f"{excerpt}; is {server.url}/not-the-api/ the Phoenix base URL?"
    )


def test_phoenix_truncated_json(server):
    body = read("phoenix/session-page-1.json")
    cut = body[: len(body) // 2]

    def truncated(h: BaseHTTPRequestHandler) -> bool:
        server.send(h, 200, "application/json", cut)
        return True

    server.overrides.append(truncated)
    source = PhoenixSource(server.url, page_size=PAGE)
    url = source.page_url({c.CHECKPOINT_ID: UNKNOWN})
    try:
        json.loads(cut)
    except ValueError as exc:
        error = str(exc)[:80]
    with pytest.raises(BackendResponseError) as info:
        source.find_checkpoint(UNKNOWN)
    assert str(info.value) == (
        f"Phoenix answered {url} with HTTP 200, content type application/json but the body is "
        f"not JSON (JSONDecodeError: {error}): "
        f"{' '.join(cut[:800].decode().split())[:200]}..."
    )


def test_phoenix_oversize_response(server):
    body = read("phoenix/session-page-1.json")
    source = PhoenixSource(server.url, page_size=PAGE, max_response_bytes=1000)
    url = source.page_url({c.SESSION_ID: PHOENIX["session_id"]})
    with pytest.raises(BackendResponseError) as info:
        source.spans({c.SESSION_ID: PHOENIX["session_id"]})
    assert str(info.value) == (
        f"Phoenix answered {url} with HTTP 200 and {len(body)} bytes, over the cap of 1000 bytes "
        f"(max_response_bytes)"
    )
    server.chunked = True  # no Content-Length: the cap applies while reading
    with pytest.raises(BackendResponseError) as info:
        source.spans({c.SESSION_ID: PHOENIX["session_id"]})
    assert str(info.value).startswith(
        f"Phoenix answered {url} with HTTP 200 and more than 1000 bytes (max_response_bytes): "
        '{"data":[{'
    )


def test_phoenix_max_spans(server):
    source = PhoenixSource(server.url, page_size=PAGE, max_spans=PAGE + 1)
    url = source.page_url(
        {c.SESSION_ID: PHOENIX["session_id"]},
        json.loads(read("phoenix/session-page-1.json"))["next_cursor"],
    )
    with pytest.raises(BackendResponseError) as info:
        source.spans({c.SESSION_ID: PHOENIX["session_id"]})
    assert info.value.url == url
    assert str(info.value) == (
        f"Phoenix returned more than max_spans={PAGE + 1} spans with "
        f"{{'{c.SESSION_ID}': '{PHOENIX['session_id']}'}} in Phoenix project 'default' at "
        f"{server.url}/; raise max_spans"
    )


def test_phoenix_cursor_that_does_not_advance(server):
    page1 = read("phoenix/session-page-1.json")

    def always_page1(h: BaseHTTPRequestHandler) -> bool:
        server.send(h, 200, "application/json", page1)
        return True

    server.overrides.append(always_page1)
    source = PhoenixSource(server.url, page_size=PAGE)
    cursor = json.loads(page1)["next_cursor"]
    url = source.page_url({c.SESSION_ID: PHOENIX["session_id"]}, cursor)
    with pytest.raises(BackendResponseError) as info:
        source.spans({c.SESSION_ID: PHOENIX["session_id"]})
    assert str(info.value) == (
        f"Phoenix answered {url} with a next_cursor it already returned ({cursor!r}): "
        f"pagination does not advance"
    )


# --------------------------------------------------------------------------------------------
# Transport errors


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = PhoenixSource(f"http://127.0.0.1:{port}", timeout=2)
    url = source.page_url({c.CHECKPOINT_ID: UNKNOWN})
    with pytest.raises(BackendUnreachableError) as info:
        source.find_checkpoint(UNKNOWN)
    assert (info.value.url, info.value.status) == (url, None)
    assert str(info.value) == f"Phoenix at {url} is unreachable: connection refused (timeout 2s)"


def test_slow_server_times_out(server):
    def sleepy(h: BaseHTTPRequestHandler) -> bool:
        server.stop.wait(10)
        return True

    server.overrides.append(sleepy)
    source = JaegerSource(server.url, timeout=0.5, trace_id=JAEGER["trace_id"])
    url = source.trace_url(JAEGER["trace_id"])
    start = time.monotonic()
    with pytest.raises(BackendUnreachableError) as info:
        source.find_checkpoint(UNKNOWN)
    assert time.monotonic() - start < 2.0
    assert str(info.value) == f"Jaeger at {url} did not answer within the timeout of 0.5s"


def test_slow_body_times_out(server):
    body = read("jaeger/trace.json")

    def trickle(h: BaseHTTPRequestHandler) -> bool:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(0, len(body), 100):
            if server.stop.wait(0.2):
                break
            h.wfile.write(body[i : i + 100])
            h.wfile.flush()
        return True

    server.overrides.append(trickle)
    source = JaegerSource(server.url, timeout=0.5, trace_id=JAEGER["trace_id"])
    start = time.monotonic()
    with pytest.raises(BackendUnreachableError, match="did not answer within the timeout of 0.5s"):
        source.trace(JAEGER["trace_id"])
    assert time.monotonic() - start < 2.0


def test_redirect_is_not_followed(server):
    def redirect(h: BaseHTTPRequestHandler) -> bool:
        h.send_response(302)
        h.send_header("Location", "http://127.0.0.1:1/elsewhere")
        h.send_header("Content-Length", "0")
        h.end_headers()
        return True

    server.overrides.append(redirect)
    source = JaegerSource(server.url)
    with pytest.raises(BackendResponseError) as info:
        source.services()
    assert str(info.value) == (
        f"Jaeger answered HTTP 302 for {server.url}/api/v3/services (redirect to "
        f"http://127.0.0.1:1/elsewhere); redirects are not followed: use the final URL as base_url"
    )


# --------------------------------------------------------------------------------------------
# Jaeger


def test_jaeger_restores_checkpoint_by_search(server, no_global_store):
    planned = JAEGER["checkpoints"]["planned"]
    source = JaegerSource(server.url, service=JAEGER["service"])
    ckpt = source.find_checkpoint(planned["id"])
    assert (ckpt.id, ckpt.session_id, ckpt.trace_id, ckpt.step_sequence) == (
        planned["id"],
        JAEGER["session_id"],
        JAEGER["trace_id"],
        planned["step_sequence"],
    )
    assert ckpt.load_state() == planned["state"]
    for label in ("planned", "drafted"):
        result = restore(JAEGER["checkpoints"][label]["id"], source=source)
        assert result.state == JAEGER["checkpoints"][label]["state"]
        assert as_expected(result.baseline) == expected_steps(JAEGER, label)
    search = [q for p, q in server.paths() if p == "/api/v3/traces"]
    assert search and all(
        q["query.service_name"] == JAEGER["service"]
        and q["query.num_traces"] == "100"
        and q["query.raw_traces"] == "true"
        for q in search
    )
    assert ("/api/v3/traces/" + JAEGER["trace_id"], {"raw_traces": "true"}) in server.paths()


def test_jaeger_searches_every_service(server):
    services = json.loads(read("jaeger/services.json"))["services"]
    assert JAEGER["service"] in services and len(services) == 2
    source = JaegerSource(server.url)
    assert source.services() == sorted(services)
    ckpt = source.find_checkpoint(JAEGER["checkpoints"]["drafted"]["id"])
    assert ckpt.label == "drafted"
    searched = [q["query.service_name"] for p, q in server.paths() if p == "/api/v3/traces"]
    assert searched == sorted(services)[: sorted(services).index(JAEGER["service"]) + 1]


def test_jaeger_trace_id_hint_reads_one_trace(server):
    source = JaegerSource(server.url, trace_id=JAEGER["trace_id"].upper())
    ckpt = source.find_checkpoint(JAEGER["checkpoints"]["planned"]["id"])
    assert as_expected(source.steps_after(ckpt)) == expected_steps(JAEGER, "planned")
    assert {p for p, _ in server.paths()} == {"/api/v3/traces/" + JAEGER["trace_id"]}
    got = source.checkpoints(JAEGER["session_id"])
    assert [ck.label for ck in got] == ["planned", "drafted", "large"]
    assert source.checkpoints("another-session") == []


def test_jaeger_steps_match_normalized_spans(server):
    source = JaegerSource(server.url, trace_id=JAEGER["trace_id"])
    spans = source.trace(JAEGER["trace_id"])
    assert len(spans) == JAEGER["session_spans"]
    steps = [normalize_span(s) for s in spans]
    assert all(type(s.sequence) is int for s in steps)
    large = next(s for s in steps if s.checkpoint_id == JAEGER["checkpoints"]["large"]["id"])
    assert large.attributes[c.CHECKPOINT_STATE_LOCATION] == "store"
    assert isinstance(large.attributes[c.CHECKPOINT_STATE_SIZE], int)


def test_jaeger_unknown_trace(server):
    wrong = "0" * 31 + "1"
    source = JaegerSource(server.url, trace_id=wrong)
    url = source.trace_url(wrong)
    with pytest.raises(TraceNotFoundError) as info:
        source.find_checkpoint(JAEGER["checkpoints"]["planned"]["id"])
    assert isinstance(info.value, BackendNotFoundError) and info.value.status == 404
    assert str(info.value) == (
        f"trace {wrong} is not in Jaeger at {server.url}/ (HTTP 404 for {url}: "
        '{"error":{"httpCode":404,"message":"No traces found"}})'
    )


def test_jaeger_unknown_checkpoint_after_empty_search(server):
    source = JaegerSource(server.url, service="no-such-service")
    with pytest.raises(CheckpointNotFoundError) as info:
        source.find_checkpoint(UNKNOWN)
    assert str(info.value) == (
        f"checkpoint {UNKNOWN} is not in Jaeger at {server.url}/: searched traces started in the "
        f"last 3600s with search_limit=100 per service ('no-such-service': 0 traces); pass "
        f"trace_id=, service= or a longer lookback="
    )


def test_jaeger_500(server):
    source = JaegerSource(server.url, service=JAEGER["service"], search_limit=10**9)
    with pytest.raises(BackendResponseError) as info:
        source.find_checkpoint(UNKNOWN)
    assert info.value.status == 500
    assert str(info.value) == (
        f"Jaeger answered HTTP 500 for {info.value.url}: "
        '{"error":{"httpCode":500,"message":"search depth must be greater than 0 and less than '
        'max traces"}}'
    )
    assert info.value.url.startswith(f"{server.url}/api/v3/traces?query.service_name=")


def test_jaeger_answer_without_result(server):
    services = read("jaeger/services.json")

    def wrong_document(h: BaseHTTPRequestHandler) -> bool:
        server.send(h, 200, "text/plain; charset=utf-8", services)
        return True

    server.overrides.append(wrong_document)
    source = JaegerSource(server.url)
    with pytest.raises(BackendResponseError) as info:
        source.trace(JAEGER["trace_id"])
    assert str(info.value) == (
        f"Jaeger answered {source.trace_url(JAEGER['trace_id'])} with JSON that has no "
        f'"result" object: {" ".join(json.dumps(json.loads(services)).split())}'
    )


# --------------------------------------------------------------------------------------------
# Phoenix span conversion


def _page_spans() -> list[dict[str, Any]]:
    spans = json.loads(read("phoenix/session-page-1.json"))["data"]
    return spans + json.loads(read("phoenix/session-page-2.json"))["data"]


def _nest(flat: dict[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                return None
        if last in node:
            return None
        node[last] = value
    return out


def test_phoenix_span_accepts_nested_attributes():
    nested_any = False
    for obj in _page_spans():
        nested = _nest(obj["attributes"])
        if nested is None:
            continue  # e.g. agent_replay.checkpoint.state next to ...state.digest
        nested_any = True
        flat_span = phoenix_span(obj)
        nested_span = phoenix_span({**obj, "attributes": nested})
        assert dict(nested_span.attributes or {}) == dict(flat_span.attributes or {})
        assert normalize_span(nested_span) == normalize_span(flat_span)
    assert nested_any


def test_phoenix_span_times():
    obj = _page_spans()[0]
    span = phoenix_span(obj)
    assert obj["start_time"].endswith("+00:00")
    z = phoenix_span({**obj, "start_time": obj["start_time"].replace("+00:00", "Z")})
    assert z.start_time == span.start_time
    assert span.start_time is not None and span.start_time % 1000 == 0
    shifted = obj["start_time"].replace("+00:00", "+02:00")
    assert phoenix_span({**obj, "start_time": shifted}).start_time == span.start_time - 7200 * 10**9


def test_phoenix_span_rejects_bad_ids():
    obj = _page_spans()[0]
    with pytest.raises(ValueError, match="context.trace_id 'xyz' is not 32 hex digits"):
        phoenix_span({**obj, "context": {**obj["context"], "trace_id": "xyz"}})
    with pytest.raises(ValueError, match="start_time 'yesterday' is not an ISO 8601 date-time"):
        phoenix_span({**obj, "start_time": "yesterday"})


# --------------------------------------------------------------------------------------------
# Construction and URLs


def test_source_from_url_phoenix(monkeypatch):
    monkeypatch.setenv("PHOENIX_API_KEY", "from-env")
    src = source_from_url("phoenix+http://127.0.0.1:6006/?project=agents&page_size=50")
    assert isinstance(src, PhoenixSource)
    assert (src.base_url, src.project, src.page_size) == ("http://127.0.0.1:6006/", "agents", 50)
    assert src._http.headers["Authorization"] == "Bearer from-env"
    assert repr(src) == "PhoenixSource('http://127.0.0.1:6006/', project='agents')"
    src = source_from_url("phoenix+https://example.invalid/phoenix", api_key="explicit")
    assert (src.base_url, src.project) == ("https://example.invalid/phoenix/", "default")
    assert src._http.headers["Authorization"] == "Bearer explicit"


def test_source_from_url_jaeger():
    trace_id = JAEGER["trace_id"]
    src = source_from_url(
        f"jaeger+http://127.0.0.1:16686/?service=agent&trace_id={trace_id}&lookback=60&search_limit=5",
        timeout=3,
    )
    assert isinstance(src, JaegerSource)
    assert (
        src.base_url,
        src.service,
        src.trace_id,
        src.lookback,
        src.search_limit,
        src.timeout,
    ) == (
        "http://127.0.0.1:16686/",
        "agent",
        trace_id,
        60.0,
        5,
        3.0,
    )
    assert source_from_url("jaeger+http://127.0.0.1:16686").base_url == "http://127.0.0.1:16686/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6006/", "not a trace backend URL"),
        ("zipkin+http://127.0.0.1:9411/", "not a trace backend URL"),
        ("phoenix+ftp://127.0.0.1/", "not a trace backend URL"),
        ("phoenix+http://127.0.0.1:6006/?projcet=x", "unknown query parameters ['projcet']"),
        (
            "jaeger+http://127.0.0.1:16686/?service=a&service=b",
            "query parameter 'service' is repeated",
        ),
        ("jaeger+http://127.0.0.1:16686/?lookback=soon", "query parameter lookback='soon'"),
        ("jaeger+http://127.0.0.1:16686/?trace_id=xyz", "trace_id must be 32 hex digits"),
        ("phoenix+http://127.0.0.1:6006/?page_size=5000", "page_size must be an int in 1..1000"),
    ],
)
def test_source_from_url_rejects(url, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        source_from_url(url)


def test_constructor_validation(monkeypatch):
    with pytest.raises(ValueError, match="must not carry credentials"):
        PhoenixSource("http://user:pw@127.0.0.1:6006/")
    with pytest.raises(ValueError, match="must not have a query"):
        JaegerSource("http://127.0.0.1:16686/?x=1")
    with pytest.raises(ValueError, match="http:// or https:// URL"):
        JaegerSource("file:///etc/passwd")
    with pytest.raises(ValueError, match="project must be a name without"):
        PhoenixSource("http://127.0.0.1:6006", project="a/b")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        PhoenixSource("http://127.0.0.1:6006", timeout=0)
    with pytest.raises(ValueError, match="lookback must be a positive number"):
        JaegerSource("http://127.0.0.1:16686", lookback=-1)
    monkeypatch.setenv(c.ENV_HTTP_TIMEOUT, "2.5")
    assert PhoenixSource("http://127.0.0.1:6006").timeout == 2.5
    assert JaegerSource("http://127.0.0.1:16686", timeout=1).timeout == 1.0


def test_urls_quote_user_input():
    src = PhoenixSource("http://127.0.0.1:6006/prefix", project="my project")
    url = src.page_url({c.SESSION_ID: 'a"b&c=d'})
    parts = urllib.parse.urlsplit(url)
    assert parts.path == "/prefix/v1/projects/my%20project/spans"
    assert dict(urllib.parse.parse_qsl(parts.query))["attribute"] == f'{c.SESSION_ID}:"a\\"b&c=d"'
