"""``python -m otel_replay.cli``."""

from otel_replay.cli.main import run_process

run_process()
