"""ReplayCheckpointer and restore with LangGraph's PostgresSaver (sync and async) against a
real PostgreSQL server: a throwaway cluster from the system's PostgreSQL binaries (Debian's
``postgresql`` package), started for this module on 127.0.0.1 and removed afterwards."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph")  # the langgraph extra

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from otel_replay.integrations.langgraph import LangGraphTarget
from otel_replay.restore.api import restore
from tests.lgagent import DriftPipeline, drift_pipeline, react_graph
from tests.test_langgraph_checkpointer import react

PORT = 55433


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="otel-replay-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    subprocess.run(
        _as_postgres([initdb, "-D", data, "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    opts = f"'-k {root} -p {PORT} -c listen_addresses=127.0.0.1'"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(root, "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{PORT}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def p() -> Iterator[DriftPipeline]:
    with drift_pipeline() as pipeline:
        yield pipeline


def test_postgres_saver_records_and_forks(p: DriftPipeline, postgres_url: str) -> None:
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.postgres import PostgresSaver

    from otel_replay.capture.spans import agent_run

    with PostgresSaver.from_conn_string(postgres_url) as saver:
        saver.setup()
        graph, cp = react(saver, tracer=p.tracer)
        with agent_run("agent", session_id="pg", tracer=p.tracer):
            graph.invoke(
                {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "pg-1"}}
            )
        assert len(cp.recorded) == 5
        # the saver still has the LangGraph checkpoint: fork there, in the same thread
        result = restore(
            cp.recorded[2],
            target=LangGraphTarget(graph, {"configurable": {"thread_id": "pg-1"}}),
            source=p.processor,
        )
        result.raise_for_hook_errors()
        assert "checkpoint_id" in result.target.config["configurable"]
        assert graph.get_state(result.target.config).next == ("tools",)
        # PostgresSaver cannot copy a thread: another thread gets the recorded state written
        result = restore(
            cp.recorded[2],
            target=LangGraphTarget(graph, {"configurable": {"thread_id": "pg-2"}}),
            source=p.processor,
        )
        result.raise_for_hook_errors()
        conf = result.target.config["configurable"]
        assert conf == {"thread_id": "pg-2"}
        assert graph.get_state(result.target.config).next == ("tools",)


def test_async_postgres_saver_records(p: DriftPipeline, postgres_url: str) -> None:
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from otel_replay.capture.spans import agent_run

    async def main() -> int:
        async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
            await saver.setup()
            graph, cp = react(saver, tracer=p.tracer)
            with agent_run("agent", session_id="apg", tracer=p.tracer):
                await graph.ainvoke(
                    {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "apg-1"}}
                )
            return len(cp.recorded)

    assert asyncio.run(main()) == 5
    # and a fresh graph without the saver resumes from the recorded state
    graph, _ = react_graph(script=[("Done.", [])])
    result = restore(
        p.processor.checkpoints("apg")[2].id,
        target=LangGraphTarget(graph, {"configurable": {"thread_id": "x"}}),
        source=p.processor,
    )
    result.raise_for_hook_errors()
    assert graph.invoke(None, result.target.config)["messages"][-1].content == "Done."
