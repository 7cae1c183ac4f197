# Local observability stack (see docs/pipelines.md). Backends: scripts/backends/setup-all.sh
.PHONY: stack stack-down

stack:
	scripts/stack.sh

stack-down:
	scripts/stack-down.sh
