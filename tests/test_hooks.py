from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

import pytest

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.restore import hooks as hooks
from otel_replay.restore.api import RestoreError, arestore, restore
from otel_replay.restore.hooks import (
    HookError,
    get_restore_hook,
    register_restore_hook,
    registered_restore_hooks,
    restore_generic,
    restore_hooks,
    unregister_restore_hook,
)


def _checkpoint(pipeline, state, framework="custom"):
    with agent_run("agent", session_id="hooks-sess", tracer=pipeline.tracer):
        return checkpoint(state, framework=framework, tracer=pipeline.tracer)


@dataclasses.dataclass
class Inner:
    level: int
    tags: tuple[str, ...] = ()


@dataclasses.dataclass
class Memory:
    facts: list[str]
    inner: Inner
    count: int = 0
    cache: dict = dataclasses.field(default_factory=dict, init=False)


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: int
    b: str


@pytest.fixture(scope="module")
def pydantic_models() -> tuple[type, type]:
    """(Settings, Config): pydantic models, one nested in the other."""
    pydantic = pytest.importorskip("pydantic")  # not a dependency: the generic hook supports it

    class Settings(pydantic.BaseModel):
        temperature: float
        name: str = "x"

    class Config(pydantic.BaseModel):
        settings: Settings
        steps: list[str] = []

    return Settings, Config


class Plain:
    def __init__(self) -> None:
        self.facts: list[str] = []
        self.untouched = "keep"


# ------------------------------------------------------------------ generic hook


def test_generic_into_none_returns_fresh_dict(pipeline):
    cid = _checkpoint(pipeline, {"facts": ["a"], "n": 1})
    result = restore(cid, source=pipeline.processor)
    assert result.ok
    assert result.target == {"facts": ["a"], "n": 1}
    assert result.state == {"data": {"facts": ["a"], "n": 1}}
    assert result.hook_errors == []


def test_generic_into_dict_copies_and_updates(pipeline):
    cid = _checkpoint(pipeline, {"facts": ["a"], "n": 1})
    target = {"n": 0, "other": [1]}
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.target == {"n": 1, "other": [1], "facts": ["a"]}
    assert result.target is not target
    assert target == {"n": 0, "other": [1]}


def test_generic_into_dataclass_rebuilds_nested_and_tuples(pipeline):
    cid = _checkpoint(
        pipeline,
        Memory(facts=["x", "y"], inner=Inner(level=3, tags=("t1",)), count=2),
    )
    target = Memory(facts=[], inner=Inner(level=0))
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.ok
    restored = result.target
    assert type(restored) is Memory
    assert restored == Memory(facts=["x", "y"], inner=Inner(level=3, tags=("t1",)), count=2)
    assert type(restored.inner) is Inner
    assert restored.inner.tags == ("t1",)
    assert target == Memory(facts=[], inner=Inner(level=0))


def test_generic_into_frozen_dataclass(pipeline):
    cid = _checkpoint(pipeline, {"a": 5})
    target = Frozen(a=1, b="keep")
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.target == Frozen(a=5, b="keep")
    assert target == Frozen(a=1, b="keep")


def test_generic_into_pydantic_validates_nested_models(pipeline, pydantic_models):
    Settings, Config = pydantic_models
    cid = _checkpoint(
        pipeline, Config(settings=Settings(temperature=0.5, name="s"), steps=["plan"])
    )
    target = Config(settings=Settings(temperature=0.0))
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.ok
    assert result.target == Config(settings=Settings(temperature=0.5, name="s"), steps=["plan"])
    assert type(result.target.settings) is Settings
    assert target == Config(settings=Settings(temperature=0.0))


def test_generic_into_plain_object_sets_attributes_on_a_copy(pipeline):
    cid = _checkpoint(pipeline, {"facts": ["f"], "added": 1})
    target = Plain()
    result = restore(cid, target=target, source=pipeline.processor)
    assert type(result.target) is Plain
    assert result.target is not target
    assert vars(result.target) == {"facts": ["f"], "untouched": "keep", "added": 1}
    assert vars(target) == {"facts": [], "untouched": "keep"}


def test_generic_rejects_unknown_dataclass_fields():
    with pytest.raises(TypeError, match=r"Frozen has no fields \['zzz'\]"):
        restore_generic({"data": {"zzz": 1}}, Frozen(a=1, b="b"))


def test_generic_rejects_unknown_pydantic_fields(pydantic_models):
    Settings, _ = pydantic_models
    with pytest.raises(TypeError, match=r"Settings has no fields \['zzz'\]"):
        restore_generic({"data": {"zzz": 1}}, Settings(temperature=1.0))


def test_unknown_framework_uses_generic_hook(pipeline):
    cid = _checkpoint(pipeline, {"k": "v"}, framework="my-framework")
    assert get_restore_hook("my-framework") is restore_generic
    result = restore(cid, target={"k": "old"}, source=pipeline.processor)
    assert result.checkpoint.framework == "my-framework"
    assert result.target == {"k": "v"}


# ------------------------------------------------------------------ registry


def test_register_unregister_and_scoped_form_restore_registry_exactly():
    before = registered_restore_hooks()
    assert set(before) == {"langchain", "langgraph"}

    def mine(state, target):
        return "mine"

    with restore_hooks({"custom": mine, "langgraph": None}) as active:
        assert active["custom"] is mine
        assert "langgraph" not in active
        assert get_restore_hook("custom") is mine
        assert get_restore_hook("langgraph") is restore_generic
        assert unregister_restore_hook("custom") is mine
        assert register_restore_hook("other", mine) is None
    assert registered_restore_hooks() == before

    with pytest.raises(RuntimeError, match="boom"), restore_hooks({"custom": mine}):
        raise RuntimeError("boom")
    assert registered_restore_hooks() == before


def test_register_validates_arguments():
    with pytest.raises(ValueError, match="non-empty string"):
        register_restore_hook("", restore_generic)
    with pytest.raises(TypeError, match="must be callable"):
        register_restore_hook("x", "not callable")  # type: ignore[arg-type]
    assert "x" not in registered_restore_hooks()


def test_registered_hook_receives_state_and_a_copy_of_the_target(pipeline):
    cid = _checkpoint(pipeline, {"n": 2})
    seen = []

    def hook(state, target):
        seen.append((state, target))
        target["n"] = state["data"]["n"] * 10
        return target

    target = {"n": 0}
    with restore_hooks({"custom": hook}):
        result = restore(cid, target=target, source=pipeline.processor)
    assert seen == [({"data": {"n": 2}}, {"n": 20})]
    assert seen[0][1] is not target
    assert result.target == {"n": 20}
    assert target == {"n": 0}


# ------------------------------------------------------------------ failures


def test_failing_hook_reports_error_and_leaves_target_unchanged(pipeline, caplog):
    cid = _checkpoint(pipeline, {"n": 1})
    boom = ValueError("cannot restore this")

    def broken(state, target):
        target["n"] = "half-written"
        raise boom

    target = {"n": 0, "nested": {"a": [1]}}
    with restore_hooks({"custom": broken}), caplog.at_level(logging.ERROR, "otel_replay"):
        result = restore(
            cid, target=target, source=pipeline.processor, meter_provider=pipeline.meter_provider
        )
        again = restore(
            cid, target=target, source=pipeline.processor, meter_provider=pipeline.meter_provider
        )
    assert again.hook_errors == result.hook_errors
    assert pipeline.metric_points(c.METRIC_PROCESSOR_ERRORS) == [
        ({c.ATTR_COMPONENT: "restore_hook", c.ATTR_ERROR_TYPE: "ValueError"}, 2)
    ]
    assert result.target is target
    assert target == {"n": 0, "nested": {"a": [1]}}
    assert not result.ok
    (err,) = result.hook_errors
    assert err == HookError(
        framework="custom", hook=f"{__name__}.{broken.__qualname__}", exception=boom
    )
    records = [r for r in caplog.records if r.name == "otel_replay"]
    assert len(records) == 1
    assert "cannot restore this" in records[0].getMessage()
    assert records[0].exc_info[1] is boom
    with pytest.raises(RestoreError, match="cannot restore this") as raised:
        result.raise_for_hook_errors()
    assert raised.value.__cause__ is boom


def test_target_that_cannot_be_copied_is_reported_not_crashed(pipeline):
    cid = _checkpoint(pipeline, {"n": 1})

    class Holder:
        def __init__(self) -> None:
            self.lock = threading.Lock()

    target = Holder()
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.target is target
    (err,) = result.hook_errors
    assert isinstance(err.exception, TypeError)
    assert "cannot deep-copy the restore target (" in str(err.exception)


def test_async_hook_runs_in_sync_and_async_restore(pipeline):
    cid = _checkpoint(pipeline, {"n": 3})

    async def ahook(state, target):
        await asyncio.sleep(0)
        return {"async": state["data"]["n"]}

    with restore_hooks({"custom": ahook}):
        sync_result = restore(cid, source=pipeline.processor)
        async_result = asyncio.run(arestore(cid, source=pipeline.processor))
    assert sync_result.target == {"async": 3}
    assert async_result.target == {"async": 3}
    assert async_result.ok and sync_result.ok


def test_async_hook_failure_in_arestore_is_reported(pipeline):
    cid = _checkpoint(pipeline, {"n": 3})

    async def ahook(state, target):
        raise KeyError("missing")

    target = {"n": 0}
    with restore_hooks({"custom": ahook}):
        result = asyncio.run(arestore(cid, target=target, source=pipeline.processor))
    assert result.target is target
    (err,) = result.hook_errors
    assert isinstance(err.exception, KeyError)
    assert err.hook.endswith("ahook")


def test_hook_name_of_builtin_and_callable_object():
    class Callable_:
        def __call__(self, state, target):
            return target

    assert hooks.hook_name(registered_restore_hooks()["langchain"]) == (
        "otel_replay.integrations.langchain.restore_langchain"
    )
    assert hooks.hook_name(Callable_()) == f"{__name__}.{Callable_.__qualname__}"


def test_async_hook_under_sync_restore_in_a_running_loop_is_reported(pipeline):
    cid = _checkpoint(pipeline, {"n": 3})

    async def ahook(state, target):
        return {"never": "run"}

    async def main():
        with restore_hooks({"custom": ahook}):
            return restore(cid, target={"n": 0}, source=pipeline.processor)

    result = asyncio.run(main())
    assert result.target == {"n": 0}
    (err,) = result.hook_errors
    assert isinstance(err.exception, RuntimeError)
    assert str(err.exception) == (
        f"restore hook {__name__}.{ahook.__qualname__} is async and an event loop is running: "
        "use the async API"
    )
