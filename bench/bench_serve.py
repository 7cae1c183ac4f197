"""Cost of serving one recorded LangChain call in a cached re-execution, against the same
call run live, measured in the same process and run.

    .venv/bin/python bench/bench_serve.py                # 200 calls per kind, 15 rounds
    .venv/bin/python bench/bench_serve.py --calls 50 --rounds 3

A real ``@tool`` and a fake ``BaseChatModel`` (scripted answer, no network) are recorded
with ``tracing()`` into a ``ReplayProcessor`` (no instrumentation installed), then called
again ``--calls`` times per round: live (``tracing()``: the call runs and gets our span) and
served (inside ``Reexecution(baseline, "replay")``: matched, served, and given our span).
Reports the median wall time per call of each over the rounds; the target is a served call
under 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# this checkout's otel_replay, not an installed one
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from otel_replay.capture.checkpoint import checkpoint  # noqa: E402
from otel_replay.capture.processor import ReplayProcessor  # noqa: E402
from otel_replay.capture.spans import agent_run  # noqa: E402
from otel_replay.integrations.langchain_calls import tracing  # noqa: E402
from otel_replay.replay.reexecution import Reexecution  # noqa: E402

TARGET_MS = 1.0


class FakeModel(BaseChatModel):
    model_name: str = "bench-model"

    @property
    def _llm_type(self) -> str:
        return "bench-fake"

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = str(messages[-1].content)
        msg = AIMessage(
            content=f"answer to {text}",
            usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _calls(n: int, model: FakeModel) -> dict[str, Callable[[], None]]:
    def tools() -> None:
        for i in range(n):
            lookup.invoke({"key": f"k{i}"})

    def models() -> None:
        for i in range(n):
            model.invoke(f"question {i}")

    return {"tool": tools, "llm": models}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    provider = TracerProvider()
    processor = ReplayProcessor()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    model = FakeModel()
    calls = _calls(args.calls, model)
    with tracing(tracer), agent_run("bench", session_id="bench", tracer=tracer):
        cid = checkpoint({"at": "start"}, tracer=tracer)
        for run in calls.values():
            run()
    baseline = processor.steps_after(cid)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind, run in calls.items():
            with tracing(tracer), agent_run("bench", session_id="live", tracer=tracer):
                t = time.perf_counter()
                run()
                times.setdefault((kind, "live"), []).append(time.perf_counter() - t)
            rx = Reexecution(baseline, "replay", tracer=tracer)
            with rx, agent_run("bench", session_id="served", tracer=tracer):
                t = time.perf_counter()
                run()
                times.setdefault((kind, "served"), []).append(time.perf_counter() - t)
            assert rx.stats["served"] == args.calls, rx.stats
    provider.shutdown()
    rows = []
    print(f"{'call':<6} {'live ms/call':>13} {'served ms/call':>15} {'served/live':>12}  target")
    for kind in calls:
        live = statistics.median(times[(kind, "live")]) / args.calls * 1000
        served = statistics.median(times[(kind, "served")]) / args.calls * 1000
        met = served < TARGET_MS
        print(
            f"{kind:<6} {live:>13.3f} {served:>15.3f} {served / live:>11.2f}x  "
            f"< {TARGET_MS:.0f} ms {'yes' if met else 'NO'}"
        )
        rows.append(
            {
                "kind": kind,
                "live_ms": live,
                "served_ms": served,
                "target_ms": TARGET_MS,
                "met": met,
                "calls": args.calls,
                "rounds": args.rounds,
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(r["met"] for r in main()) else 1)
