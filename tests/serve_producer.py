"""An agent that uses only the OpenTelemetry SDK and the attributes of
docs/semantic-conventions.md (no otel_replay import on purpose): it records a baseline run with
a checkpoint, and "restored" runs that carry the replay provenance attributes, exported by
the SDK's own OTLP exporters (gRPC or HTTP) to ``otel-replay serve``."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Tracer, set_span_in_context


def http_exporter(address: str, **kwargs: Any) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"http://{address}/v1/traces", **kwargs)


def grpc_exporter(address: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=address, insecure=True)


@dataclass
class Run:
    session: str
    checkpoint: str | None
    trace_id: str
    span_ids: dict[str, str]  # step name -> span id (hex)


class Agent:
    """A support agent: looks an order up (a tool), answers (an LLM call)."""

    def __init__(self, exporter: SpanExporter, service: str = "sdk-support-agent") -> None:
        self.provider = TracerProvider(resource=Resource({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer: Tracer = self.provider.get_tracer("sdk-agent")

    def _steps(
        self, session: str, seq: list[int], status: str, extra: dict[str, Any], ids: dict[str, str]
    ) -> None:
        def start(name: str, attrs: dict[str, Any]) -> Any:
            seq[0] += 1
            span = self.tracer.start_span(
                name,
                attributes={
                    "agent_replay.session.id": session,
                    "agent_replay.step.sequence": seq[0],
                    **extra,
                    **attrs,
                },
            )
            return span

        tool = start(
            "execute_tool lookup_order",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.arguments": json.dumps({"order": "A-17"}),
                "gen_ai.tool.call.result": json.dumps({"status": status}),
            },
        )
        ids["lookup_order"] = format(tool.get_span_context().span_id, "016x")
        tool.end()
        llm = start(
            "chat fake-model",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "fake-model",
                "gen_ai.response.model": "fake-model",
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Done."}]}]
                ),
            },
        )
        ids["chat"] = format(llm.get_span_context().span_id, "016x")
        llm.end()

    def baseline(self, session: str) -> Run:
        """A run with a checkpoint after which the tool and the LLM call are its steps."""
        ids: dict[str, str] = {}
        seq = [1]
        root = self.tracer.start_span(
            "invoke_agent support-agent",
            attributes={
                "agent_replay.session.id": session,
                "agent_replay.step.sequence": 1,
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support-agent",
            },
        )
        ctx = set_span_in_context(root)
        text = json.dumps({"data": {"order": "A-17"}}, sort_keys=True, separators=(",", ":"))
        ckpt = uuid.uuid4().hex
        seq[0] += 1
        self.tracer.start_span(
            "checkpoint planned",
            context=ctx,
            attributes={
                "agent_replay.session.id": session,
                "agent_replay.step.sequence": seq[0],
                "agent_replay.step.kind": "checkpoint",
                "agent_replay.checkpoint.id": ckpt,
                "agent_replay.checkpoint.sequence": 1,
                "agent_replay.checkpoint.label": "planned",
                "agent_replay.checkpoint.state": text,
                "agent_replay.checkpoint.state.digest": "sha256:"
                + hashlib.sha256(text.encode()).hexdigest(),
            },
        ).end()
        from opentelemetry import context as otel_context

        token = otel_context.attach(ctx)
        try:
            self._steps(session, seq, "shipped", {}, ids)
        finally:
            otel_context.detach(token)
        ids["root"] = format(root.get_span_context().span_id, "016x")
        root.end()
        return Run(session, ckpt, format(root.get_span_context().trace_id, "032x"), ids)

    def restored(
        self,
        baseline: Run,
        session: str,
        *,
        status: str = "shipped",
        provenance_on_every_span: bool = True,
        end_root: bool = True,
    ) -> Run:
        """A run restored from ``baseline``'s checkpoint: its root carries the replay
        provenance; with ``provenance_on_every_span`` its steps carry the checkpoint and source
        attributes too (not ``run_id``, which marks the run's root)."""
        prov = {
            "agent_replay.replay.run_id": uuid.uuid4().hex,
            "agent_replay.replay.checkpoint_id": baseline.checkpoint,
            "agent_replay.replay.source.session_id": baseline.session,
            "agent_replay.replay.source.trace_id": baseline.trace_id,
        }
        ids: dict[str, str] = {}
        seq = [1]
        root = self.tracer.start_span(
            "invoke_agent support-agent",
            attributes={
                "agent_replay.session.id": session,
                "agent_replay.step.sequence": 1,
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support-agent",
                **prov,
            },
        )
        from opentelemetry import context as otel_context

        token = otel_context.attach(set_span_in_context(root))
        try:
            # run_id marks the run's root (docs/semantic-conventions.md): not on its steps
            marks = {k: v for k, v in prov.items() if k != "agent_replay.replay.run_id"}
            self._steps(session, seq, status, marks if provenance_on_every_span else {}, ids)
        finally:
            otel_context.detach(token)
        ids["root"] = format(root.get_span_context().span_id, "016x")
        if end_root:
            root.end()
        return Run(
            session, baseline.checkpoint, format(root.get_span_context().trace_id, "032x"), ids
        )

    def plain(self, session: str) -> Run:
        """A run that is not restored (forwarded as it is)."""
        ids: dict[str, str] = {}
        root = self.tracer.start_span(
            "invoke_agent other-agent",
            attributes={"agent_replay.session.id": session, "agent_replay.step.sequence": 1},
        )
        from opentelemetry import context as otel_context

        token = otel_context.attach(set_span_in_context(root))
        try:
            self._steps(session, [1], "shipped", {}, ids)
        finally:
            otel_context.detach(token)
        ids["root"] = format(root.get_span_context().span_id, "016x")
        root.end()
        return Run(session, None, format(root.get_span_context().trace_id, "032x"), ids)

    def flush(self) -> None:
        assert self.provider.force_flush(30_000)

    def shutdown(self) -> None:
        self.provider.shutdown()
