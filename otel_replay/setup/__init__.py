"""Setup: :func:`configure` (the SDK plus otel-replay's processors in one call) and the
``opentelemetry_configurator`` entry point for ``opentelemetry-instrument``.

May import: every layer but ``integrations`` and ``cli``.
"""

from otel_replay.setup.configuration import (
    Configuration,
    ConfigurationError,
    configure,
    current_configuration,
)

__all__ = ["Configuration", "ConfigurationError", "configure", "current_configuration"]
