"""A tool-calling agent loop on the real ``openai`` client against a local
OpenAI-compatible fake server (:class:`FakeOpenAIServer`, 127.0.0.1, scripted answers
with fresh response and tool-call ids per call, as the real API gives). Tool calls are
recorded with our :func:`~otel_replay.capture.spans.tool_call` helper, the run with
:func:`~otel_replay.capture.spans.agent_run`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry import context as otel_context

from otel_replay.capture.spans import agent_run, tool_call
from tests.agents.script import MODEL, PROMPT, TOOL_DOCS, TOOLS, Script

_MAX_BODY = 1 << 20


class FakeOpenAIServer:
    """``POST /v1/chat/completions`` answered from :attr:`script` (turn = number of
    assistant messages in the request). Binds 127.0.0.1 on a free port."""

    def __init__(self) -> None:
        self.script: Script | None = None
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions" or server.script is None:
                    self.send_error(404)
                    return
                data = json.dumps(server.answer(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.script is not None
        index = sum(m.get("role") == "assistant" for m in body.get("messages", []))
        turn = self.script.turn(index)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(turn, str):
            message["content"] = turn
            finish = "stop"
        else:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.args)},
                }
                for c in turn
            ]
            finish = "tool_calls"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10 + index, "completion_tokens": 5, "total_tokens": 15},
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    try:
        yield server
    finally:
        server.close()


_TOOL_SPECS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": TOOL_DOCS[name],
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    for name in TOOLS
]


def make_openai_runner(server: FakeOpenAIServer, tracer: Any, *, own_run: bool = True) -> Any:
    """A runner (script -> final answer) driving the ``openai`` client against ``server``;
    tool calls issued together run concurrently, as agents do. ``own_run=False``: no
    ``agent_run`` of its own (the caller's run, e.g. a restored one, is the session)."""
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)

    def run(script: Script) -> str:
        server.script = script
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        with agent_run("weather_agent", tracer=tracer) if own_run else nullcontext():
            for _ in range(8):  # bounded: a scripted run has a few turns
                resp = client.chat.completions.create(
                    model=MODEL, messages=messages, tools=_TOOL_SPECS, timeout=10
                )
                msg = resp.choices[0].message
                if not msg.tool_calls:
                    return msg.content or ""
                messages.append(msg.model_dump(exclude_none=True))
                ctx = otel_context.get_current()

                def call(tc: Any, ctx: Any = ctx) -> dict[str, Any]:
                    token = otel_context.attach(ctx)
                    try:
                        args = json.loads(tc.function.arguments)
                        with tool_call(
                            tc.function.name, args, call_id=tc.id, tracer=tracer
                        ) as span:
                            result = TOOLS[tc.function.name](script.world, **args)
                            span.set_result(result)
                        return {"role": "tool", "tool_call_id": tc.id, "content": result}
                    finally:
                        otel_context.detach(token)

                with ThreadPoolExecutor(max_workers=4) as pool:
                    messages.extend(pool.map(call, msg.tool_calls))
        raise AssertionError("the scripted run did not end")

    return run
