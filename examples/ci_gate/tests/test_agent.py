"""The agent's behaviour is pinned by a baseline recording:
tests/agent_baselines/test_agent/test_weather_agent.jsonl (and ..._replayed.jsonl)."""

from weather_agent.agent import run


def test_weather_agent(agent_baseline):
    with agent_baseline():
        answer = run("What is the weather in Paris?")
    assert answer == "city: Paris, sky: sunny, temperature_c: 21"


def test_weather_agent_replayed(agent_baseline):
    # replay=True: the model and tool calls are served from the baseline (none runs live);
    # a call the baseline does not have fails the test with the expected and actual call
    with agent_baseline(replay=True):
        answer = run("What is the weather in Oslo?")
    assert answer == "city: Oslo, sky: snow, temperature_c: -3"
