#!/usr/bin/env bash
# Regenerate otel_replay/_proto from proto/. Usage: scripts/gen-proto.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="${1:-otel_replay/_proto}"
mkdir -p "$OUT/otel_replay/v1"
touch "$OUT/__init__.py" "$OUT/otel_replay/__init__.py" "$OUT/otel_replay/v1/__init__.py"
"$PY" -m grpc_tools.protoc -I proto --python_out="$OUT" --pyi_out="$OUT" proto/otel_replay/v1/*.proto
