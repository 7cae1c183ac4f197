"""Real agents for tests: real frameworks and real instrumentation packages, fake models.

Each module runs one kind of agent (:mod:`tests.agents.langgraph_react`: a LangGraph
``create_react_agent``; :mod:`tests.agents.openai_loop`: the ``openai`` client against a local
OpenAI-compatible fake server; :mod:`tests.agents.pydantic_agent`: PydanticAI with its
``FunctionModel``) from a :class:`~tests.agents.script.Script` (what the fake model answers,
turn by turn, and what the tools return). :mod:`tests.agents.instrument` installs and removes
an instrumentation; :func:`tests.agents.record.record_run` runs an agent under one and writes
the spans with our ``RecordingExporter``, returning the recording's path.
"""
