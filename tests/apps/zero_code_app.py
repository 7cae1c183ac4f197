"""An agent app with no OpenTelemetry setup code at all: run under ``opentelemetry-instrument``
(tests/test_zero_code.py). It uses a real LangChain fake chat model (traced by whatever
instrumentations ``opentelemetry-instrument`` loads) and otel-replay's helpers.

    app.py record                      record a run (checkpoint, tool call, LLM call)
    app.py rerun RECORDING CHANGED     restore the recording's checkpoint and run again;
                                       CHANGED=1 plants a different tool result

Prints one JSON line: the span processors installed, and for ``rerun`` the drift report.
"""

from __future__ import annotations

import json
import sys

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from opentelemetry import trace

import otel_replay
from otel_replay import agent_run, checkpoint, load_recording, restore, tool_call
from otel_replay.cli.render import checkpoints_of


def _agent_body(changed: bool) -> None:
    with tool_call("lookup_order", {"order": "A-17"}) as call:
        call.set_result({"status": "lost" if changed else "shipped"})
    FakeListChatModel(responses=["Your order has shipped."]).invoke("Where is order A-17?")


def _processors() -> list[str]:
    provider = trace.get_tracer_provider()
    multi = getattr(provider, "_active_span_processor", None)
    return [type(p).__name__ for p in getattr(multi, "_span_processors", ())]


def main() -> None:
    out: dict[str, object] = {"processors": _processors()}
    conf = otel_replay.setup.current_configuration()
    out["configured"] = conf is not None
    out["drift_downstream"] = (
        [type(getattr(p, "span_exporter", p)).__name__ for p in conf.drift._downstream]
        if conf
        else []
    )
    if sys.argv[1] == "record":
        with agent_run("support-agent", session_id="ticket-42"):
            out["checkpoint"] = checkpoint({"intent": "refund", "order": "A-17"}, label="planned")
            _agent_body(changed=False)
    else:
        rec = load_recording(sys.argv[2])
        (ckpt,) = checkpoints_of(rec.steps())
        result = restore(ckpt.id, source=sys.argv[2], track_drift=True)
        with result.run("support-agent"):
            _agent_body(changed=sys.argv[3] == "1")
        report = result.report
        out["session"] = result.session_id
        out["report"] = report.to_dict() if report is not None else None
    print("ZERO-CODE-APP " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
