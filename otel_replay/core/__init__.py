"""Foundation: attribute/metric names, environment settings, self-telemetry, SDK access.

Imports nothing else of ``otel_replay``.
"""
