"""A small weather agent for the otel-replay CI gate example."""
