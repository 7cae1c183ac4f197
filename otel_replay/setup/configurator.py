"""The ``opentelemetry_configurator`` entry point ``otel_replay``: what
``opentelemetry-instrument`` runs to install the SDK (selected with
``OTEL_PYTHON_CONFIGURATOR=otel_replay``, or alone when no other configurator is installed).

It is the SDK's standard configurator (``_OTelSDKConfigurator``) with otel-replay's processors
added by :func:`~otel_replay.setup.configuration.configure`; everything is read from environment
variables.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from otel_replay.core.env import warn_once
from otel_replay.setup.configuration import configure

__all__ = ["OtelReplayConfigurator"]

_CONFIG_FILE = "OTEL_CONFIG_FILE"


class OtelReplayConfigurator(_OTelSDKConfigurator):
    """The SDK's standard configurator plus otel-replay's processors."""

    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get(_CONFIG_FILE):
            warn_once(
                (_CONFIG_FILE, "configurator"),
                "%s is set: the SDK is configured from that file and otel-replay's "
                "processors are not added; add them in code (docs/configuration.md)",
                _CONFIG_FILE,
            )
            super()._configure(**kwargs)
            return
        configure(**kwargs)
