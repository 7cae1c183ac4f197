"""The built-in example agent used by ``otel-replay demo``: deterministic, no network, no keys.

A small research agent: it plans with a (scripted) chat model, checkpoints the plan, searches
an embedded corpus, fetches documents, drafts an answer, checkpoints the draft and decides
whether to answer. Every call goes through the otel-replay recording helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run, decision, llm_call, traced_tool

__all__ = ["AgentState", "ResearchAgent", "CORPUS", "CHANGED_CORPUS", "ScriptedModel"]

AGENT_NAME = "research-agent"

CORPUS: dict[str, dict[str, str]] = {
    "otel-101": {
        "title": "What OpenTelemetry is",
        "text": "OpenTelemetry is a vendor-neutral framework for traces, metrics and logs.",
        "topic": "opentelemetry",
    },
    "otel-genai": {
        "title": "GenAI semantic conventions",
        "text": "gen_ai.* attributes describe model calls, tool calls and agents.",
        "topic": "opentelemetry",
    },
    "collector": {
        "title": "The Collector",
        "text": "The Collector receives, processes and exports telemetry.",
        "topic": "opentelemetry",
    },
    "jaeger": {
        "title": "Jaeger",
        "text": "Jaeger stores and visualises distributed traces.",
        "topic": "tracing",
    },
}

#: A changed world for re-execution: the search index now ranks another document first.
CHANGED_CORPUS: dict[str, dict[str, str]] = {
    "jaeger": CORPUS["jaeger"] | {"topic": "opentelemetry"},
    **{k: v for k, v in CORPUS.items() if k != "jaeger"},
}


@dataclass
class AgentState:
    """What the agent knows; checkpointed as ``custom`` state."""

    question: str = ""
    query: str = ""
    notes: list[str] = field(default_factory=list)
    draft: str = ""
    step: str = "start"


class ScriptedModel:
    """A deterministic stand-in for a chat model: answers are computed from the prompt."""

    def __init__(self, name: str = "scripted-model-1") -> None:
        self.name = name

    def plan(self, question: str) -> str:
        words = [w.strip("?.,").lower() for w in question.split()]
        keywords = [w for w in words if len(w) > 3 and w not in {"what", "does", "with", "about"}]
        return keywords[0] if keywords else "opentelemetry"

    def draft(self, question: str, notes: list[str]) -> tuple[str, float]:
        if not notes:
            return "I could not find anything relevant.", 0.2
        confidence = min(0.95, 0.45 + 0.25 * len(notes))
        return f"Answer to {question!r}: " + " ".join(notes), confidence


class ResearchAgent:
    """The example agent. ``corpus`` is the world its tools see."""

    def __init__(
        self,
        corpus: Mapping[str, Mapping[str, str]] | None = None,
        model: ScriptedModel | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.corpus = dict(corpus or CORPUS)
        self.model = model or ScriptedModel()
        self.tracer = tracer
        agent = self

        @traced_tool("search", tracer=tracer)
        def search(query: str, limit: int = 2) -> list[dict[str, str]]:
            hits = [
                {"id": doc_id, "title": doc["title"]}
                for doc_id, doc in sorted(agent.corpus.items())
                if doc["topic"] == query or query in doc["text"].lower()
            ]
            return hits[:limit]

        @traced_tool("fetch", tracer=tracer)
        def fetch(doc_id: str) -> str:
            return agent.corpus[doc_id]["text"]

        self.search = search
        self.fetch = fetch

    # -- phases ---------------------------------------------------------------------------

    def plan(self, question: str) -> AgentState:
        state = AgentState(question=question)
        with llm_call(self.model.name, messages=question, tracer=self.tracer) as call:
            state.query = self.model.plan(question)
            call.set_output(f"search for {state.query}")
            call.set_usage(input_tokens=12 + len(question.split()), output_tokens=4)
        state.step = "planned"
        return state

    def act(self, state: AgentState) -> str:
        """Research and answer, continuing from ``state`` (e.g. a restored checkpoint)."""
        hits = self.search(state.query)
        for hit in hits:
            state.notes.append(self.fetch(hit["id"]))
        with llm_call(self.model.name, messages=state.notes, tracer=self.tracer) as call:
            state.draft, confidence = self.model.draft(state.question, state.notes)
            call.set_output(state.draft)
            call.set_usage(input_tokens=40 + 10 * len(state.notes), output_tokens=30)
        state.step = "drafted"
        checkpoint(_as_state(state), label="drafted", tracer=self.tracer)
        action = "answer" if confidence >= 0.6 else "refine"
        with decision(
            "answer-or-refine",
            action=action,
            confidence=confidence,
            alternatives=["answer", "refine"],
            tracer=self.tracer,
        ):
            pass
        return state.draft if action == "answer" else "(needs refinement)"

    def run(self, question: str, *, session_id: str | None = None) -> tuple[str, str]:
        """A whole run; returns (session id, answer)."""
        with agent_run(AGENT_NAME, session_id=session_id, tracer=self.tracer) as run:
            state = self.plan(question)
            checkpoint(_as_state(state), label="planned", tracer=self.tracer)
            answer = self.act(state)
        return run.session_id, answer


def _as_state(state: AgentState) -> dict[str, Any]:
    return {
        "question": state.question,
        "query": state.query,
        "notes": list(state.notes),
        "draft": state.draft,
        "step": state.step,
    }
