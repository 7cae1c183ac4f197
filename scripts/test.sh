#!/usr/bin/env bash
# The whole test suite: installs what it needs (venv, package, real backends), then runs
# ruff, mypy and pytest (unit tests on the minimum dependency versions, then unit, end-to-end
# with real backends, short fuzzing).
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --fast     unit tests only (seconds), no backends
# Extra arguments after the options go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0
if [[ "${1:-}" == "--fast" ]]; then FAST=1; shift; fi

PY="${PYTHON:-python3}"
VENV="${OTEL_REPLAY_VENV:-.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.otel-replay-installed"
WANT="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  echo "==> installing otel-replay[dev,test] into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev,test]"
  echo "$WANT" > "$STAMP"
fi

echo "==> ruff"
"$VENV/bin/ruff" check otel_replay tests bench scripts
"$VENV/bin/ruff" format --check otel_replay tests bench scripts
echo "==> mypy"
"$VENV/bin/mypy"

if [[ "$FAST" == 1 ]]; then
  echo "==> pytest (fast: unit tests)"
  exec "$VENV/bin/python" -m pytest -m "not e2e and not slow" -q "$@"
fi

# the unit tests again on the oldest versions pyproject.toml allows (cached venv .venv-min)
bash scripts/test-min-versions.sh

if [[ -x scripts/backends/setup-all.sh ]]; then
  echo "==> real backends (cached under ${OTEL_REPLAY_CACHE:-$HOME/.cache/otel-replay})"
  bash scripts/backends/setup-all.sh
fi
echo "==> pytest (everything)"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests"; exit 1; fi
exit $rc
