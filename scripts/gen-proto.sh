#!/usr/bin/env bash
# Regenerate otel_replay/_proto from proto/. Usage: scripts/gen-proto.sh [OUTDIR]
#
# The generated code's protobuf version is the oldest protobuf runtime it may run on, so it
# comes from one pinned protoc: grpcio-tools 1.63.0 bundles protoc 26.1, whose Python gencode
# (protobuf 5.26.1) runs on protobuf 5.26.1 up to at least 8.x (protobuf's cross-version
# runtime guarantee: older gencode on a newer runtime; Python gencode since 3.20 is supported
# until at least 8.x). That is the range opentelemetry-proto allows, and pyproject.toml's
# protobuf lower bound must stay equal to it (tests/test_packaging.py checks both).
#
# grpcio-tools 1.63.0 itself requires protobuf<6, so it is not installed into the project's
# venv (that would hold the tests back on protobuf 5): it goes, without dependencies (protoc
# needs none), into its own directory under the cache, once, and runs from there.
set -euo pipefail
cd "$(dirname "$0")/.."
GRPCIO_TOOLS_VERSION=1.63.0
PY="${PYTHON:-python3}"
OUT="${1:-otel_replay/_proto}"
# grpcio-tools 1.63.0 has wheels for CPython 3.8-3.12 only; protoc's output does not depend on
# the interpreter that runs it, so a newer one falls back to an older python3.X on PATH
ok() { "$1" -c 'import sys; sys.exit(not (3, 8) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null &&
  "$1" -m pip --version >/dev/null 2>&1; }
if ! ok "$PY"; then
  for candidate in python3.12 python3.11 python3.10 python3.9 python3.8; do
    if command -v "$candidate" >/dev/null && ok "$candidate"; then PY="$candidate"; break; fi
  done
fi
CACHE="${OTEL_REPLAY_CACHE:-$HOME/.cache/otel-replay}"
PYVER="$("$PY" -c 'import sys; print("%d%d" % sys.version_info[:2])')"
TOOLS="$CACHE/grpcio-tools-$GRPCIO_TOOLS_VERSION-py$PYVER"
if [[ ! -f "$TOOLS/grpc_tools/protoc.py" ]]; then
  echo "==> installing grpcio-tools==$GRPCIO_TOOLS_VERSION into $TOOLS" >&2
  mkdir -p "$CACHE"
  tmp="$(mktemp -d "$TOOLS.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  "$PY" -m pip install -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --target "$tmp" "grpcio-tools==$GRPCIO_TOOLS_VERSION" || {
    echo "cannot install grpcio-tools $GRPCIO_TOOLS_VERSION with $PY: it needs CPython" \
      "3.8-3.12 with pip (PYTHON=python3.12)" >&2
    exit 1
  }
  rm -rf "$TOOLS"
  mv "$tmp" "$TOOLS"
fi
mkdir -p "$OUT/otel_replay/v1"
touch "$OUT/__init__.py" "$OUT/otel_replay/__init__.py" "$OUT/otel_replay/v1/__init__.py"
PYTHONPATH="$TOOLS" "$PY" -s -m grpc_tools.protoc -I proto --python_out="$OUT" --pyi_out="$OUT" \
  proto/otel_replay/v1/*.proto
