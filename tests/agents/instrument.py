"""Install and remove a real instrumentation package on a tracer provider.

Every context manager puts back what the package patched, including what its
``uninstrument()`` leaves (OpenLLMetry's LangChain instrumentor unwraps nothing: see
:func:`_record_wraps`), and restores the environment variables it set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.trace import TracerProvider

#: Conventions with their LangGraph/LangChain instrumentation.
LANGCHAIN_CONVENTIONS = ("openinference", "openllmetry", "genai", "genai_latest")
#: Conventions of the OpenTelemetry GenAI OpenAI instrumentation (``-genai-openai``;
#: ``-openai-v2`` 2.4b0 does not import with opentelemetry-util-genai 1.3b0).
OPENAI_CONVENTIONS = ("openai", "openai_latest")
#: The GenAI semantic-conventions opt-in for the latest spelling.
LATEST = "gen_ai_latest_experimental"


def _record_wraps(module: Any, mp: pytest.MonkeyPatch) -> list[tuple[Any, str, Any]]:
    """Record what ``module`` patches through ``wrap_function_wrapper`` (owner, attribute,
    original) so that the teardown can put back what ``uninstrument()`` leaves."""
    originals: list[tuple[Any, str, Any]] = []
    real = getattr(module, "wrap_function_wrapper", None)
    if real is None:
        return originals

    def recording(target: Any, name: str, wrapper: Any) -> Any:
        owner, attr, original = wrapt.resolve_path(target, name)
        originals.append((owner, attr, vars(owner).get(attr, original)))
        return real(target, name, wrapper)

    mp.setattr(module, "wrap_function_wrapper", recording)
    return originals


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _semconv_env(latest: bool, content: str) -> dict[str, str]:
    """Environment of the OTel GenAI instrumentations: the semantic-conventions spelling and
    where message content goes (``SPAN_ONLY``, ``EVENT_ONLY`` or ``NO_CONTENT``)."""
    return {
        "OTEL_SEMCONV_STABILITY_OPT_IN": LATEST if latest else "",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": content,
    }


def _reset_util_genai() -> None:
    """opentelemetry-util-genai caches the stability mode; forget it so the env applies."""
    try:
        from opentelemetry.instrumentation import _semconv
    except ImportError:  # pragma: no cover
        return
    init = getattr(_semconv, "_OpenTelemetrySemanticConventionStability", None)
    if init is not None and hasattr(init, "_initialized"):
        init._initialized = False
        mapping = getattr(init, "_OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING", None)
        if isinstance(mapping, dict):
            mapping.clear()


@contextmanager
def instrumented(
    convention: str,
    provider: TracerProvider,
    mp: pytest.MonkeyPatch,
    *,
    logger_provider: Any = None,
    meter_provider: Any = None,
    content: str = "SPAN_ONLY",
) -> Iterator[None]:
    """``convention``'s instrumentation installed on ``provider`` for the block."""
    kwargs: dict[str, Any] = {"tracer_provider": provider}
    env: dict[str, str] = {}
    if convention == "openinference":
        module = pytest.importorskip("openinference.instrumentation.langchain")
        inst = module.LangChainInstrumentor()
    elif convention == "openllmetry":
        module = pytest.importorskip("opentelemetry.instrumentation.langchain")
        inst = module.LangchainInstrumentor()
        env = {"TRACELOOP_TRACE_CONTENT": "true"}
    elif convention in ("genai", "genai_latest"):
        module = pytest.importorskip("opentelemetry.instrumentation.genai.langchain")
        inst = module.LangChainInstrumentor()
        kwargs["skip_dep_check"] = True  # it asks for `langchain`; the agent uses langchain-core
        env = _semconv_env(convention == "genai_latest", content)
    elif convention in ("openai", "openai_latest"):
        module = pytest.importorskip("opentelemetry.instrumentation.genai.openai")
        inst = module.OpenAIInstrumentor()
        env = _semconv_env(convention == "openai_latest", content)
    else:
        raise ValueError(f"unknown convention {convention!r}")
    if logger_provider is not None:
        kwargs["logger_provider"] = logger_provider
    if meter_provider is not None:
        kwargs["meter_provider"] = meter_provider
    with _env(env):
        _reset_util_genai()
        originals = _record_wraps(module, mp)
        try:
            inst.instrument(**kwargs)
            yield
        finally:
            inst.uninstrument()
            for owner, attr, original in reversed(originals):
                if vars(owner).get(attr) is not original:
                    setattr(owner, attr, original)
            _reset_util_genai()
