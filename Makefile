# Convenience targets; each one is a documented script.
.PHONY: demo test test-fast test-min-versions bench fuzz proto stack stack-down

demo:
	python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/otel-replay demo

test:
	bash scripts/test.sh

test-fast:
	bash scripts/test.sh --fast

test-min-versions:
	bash scripts/test-min-versions.sh

proto:
	scripts/gen-proto.sh

# Local observability stack (see docs/pipelines.md). Backends: scripts/backends/setup-all.sh
stack:
	scripts/backends/setup-all.sh
	scripts/stack.sh

stack-down:
	scripts/stack-down.sh

bench:
	.venv/bin/python bench/run_all.py

fuzz:
	scripts/fuzz.sh
